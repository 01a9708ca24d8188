"""hostile input, round 3 (issue 26): a screening job's sign of life, the request behind an event, and
the second factor's escalating pauses

``screening_jobs.heartbeat_at``: the process running an import marks it alive every few seconds; a
running job that has gone silent (its process died mid-import) is failed, saying so, instead of staying
``running`` for ever.

``case_events.request``: the request (under an ``Idempotency-Key``) that caused the event. A retry whose
first answer was lost (the API died after the case took the action) finds its action here and is answered
with the case, not taken a second time.

``signin_failures.kind`` tells a wrong password from a wrong TOTP code. ``staff_accounts.code_failures``
counts wrong codes in a row: every few pause the account, longer each time (``code_paused_until``), and
past a bound the password is void (``password_voided_at``) until a new invitation; the person is told of
them (``code_failures_untold``, ``last_code_failure_at``).

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
    with op.batch_alter_table('signin_failures') as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=False, server_default='password'))
    with op.batch_alter_table('staff_accounts') as batch_op:
        batch_op.add_column(sa.Column('code_failures', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('code_paused_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('password_voided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('code_failures_untold', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_code_failure_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('staff_accounts') as batch_op:
        for column in ('last_code_failure_at', 'code_failures_untold', 'password_voided_at', 'code_paused_until',
                       'code_failures'):
            batch_op.drop_column(column)
    with op.batch_alter_table('signin_failures') as batch_op:
        batch_op.drop_column('kind')
    op.drop_index('ix_case_events_request', 'case_events')
    with op.batch_alter_table('case_events') as batch_op:
        batch_op.drop_column('request')
    with op.batch_alter_table('screening_jobs') as batch_op:
        batch_op.drop_column('heartbeat_at')
