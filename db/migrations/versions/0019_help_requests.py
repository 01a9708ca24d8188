"""a student's or parent's help request (issue 29)

``help_requests``: what the asker wrote (sealed JSON), a keyed fingerprint of their address for the rate limits,
and the state the HelpRequestWorkflow projects (looked at, a case opened from it, closed with a reason).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'help_requests',
        sa.Column('help_id', sa.String(length=64), primary_key=True),
        sa.Column('school_id', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('address', sa.String(length=16), nullable=False),
        sa.Column('asked', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('escalation_level', sa.Integer(), nullable=False),
        sa.Column('looked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('looked_by', sa.String(length=64), nullable=True),
        sa.Column('case_id', sa.String(length=64), nullable=True),
        sa.Column('resolved_by', sa.String(length=64), nullable=True),
        sa.Column('closed_reason', sa.Text(), nullable=True),
        sa.Column('seq', sa.Integer(), nullable=False),
    )
    op.create_index('ix_help_requests_school', 'help_requests', ['school_id', 'created_at'])
    op.create_index('ix_help_requests_address', 'help_requests', ['address', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_help_requests_address', table_name='help_requests')
    op.drop_index('ix_help_requests_school', table_name='help_requests')
    op.drop_table('help_requests')
