"""who has read which report, and the cases with a given action (issue 27)

``document_reads``: a person's first opening of a document (the staff app's PDF, or the API's), so the
education authority's people and leadership see which reports are new to them.

``ix_case_events_action``: the cases that have an event of one action (a closure sent back, for "my
tasks"), found without reading every event.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

_s = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table('document_reads',
    sa.Column('staff_id', _s(length=64), nullable=False),
    sa.Column('document_id', _s(length=160), nullable=False),
    sa.Column('first_read_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('staff_id', 'document_id')
    )
    op.create_index('ix_case_events_action', 'case_events', ['action', 'case_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_case_events_action', table_name='case_events')
    op.drop_table('document_reads')
