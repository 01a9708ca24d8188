"""hostile input, round 3 (issue 26): a screening job's sign of life

``screening_jobs.heartbeat_at``: the process running an import marks it alive every few seconds; a
running job that has gone silent (its process died mid-import) is failed, saying so, instead of staying
``running`` for ever.

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


def downgrade() -> None:
    with op.batch_alter_table('screening_jobs') as batch_op:
        batch_op.drop_column('heartbeat_at')
