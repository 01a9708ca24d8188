"""an extreme event's investigation: who investigates, the group, the school's account (issue 28)

``incidents.investigation`` (sealed JSON, ``models.incident.Investigation``): the education authority forms the
investigation group with the police and experts and writes the review; the school gives its account of the
facts. Events recorded before have none.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('investigation', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_column('investigation')
