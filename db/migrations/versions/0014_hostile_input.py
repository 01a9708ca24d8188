"""hostile input, round 3 (issue 26): a screening job's sign of life, and the request behind an event

``screening_jobs.heartbeat_at``: the process running an import marks it alive every few seconds; a
running job that has gone silent (its process died mid-import) is failed, saying so, instead of staying
``running`` for ever.

``case_events.request``: the request (under an ``Idempotency-Key``) that caused the event. A retry whose
first answer was lost (the API died after the case took the action) finds its action here and is answered
with the case, not taken a second time.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('screening_jobs') as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('case_events') as batch_op:
        batch_op.add_column(sa.Column('request', sa.String(length=64), nullable=True))
    op.create_index('ix_case_events_request', 'case_events', ['case_id', 'request'])


def downgrade() -> None:
    op.drop_index('ix_case_events_request', 'case_events')
    with op.batch_alter_table('case_events') as batch_op:
        batch_op.drop_column('request')
    with op.batch_alter_table('screening_jobs') as batch_op:
        batch_op.drop_column('heartbeat_at')
