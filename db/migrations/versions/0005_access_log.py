"""access log: append-only, hash-chained

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'access_log',
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('staff_id', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.Column('school_id', sa.String(length=64), nullable=True),
        sa.Column('what', sa.String(length=64), nullable=False),
        sa.Column('method', sa.String(length=8), nullable=False),
        sa.Column('path', sa.String(length=300), nullable=False),
        sa.Column('case_id', sa.String(length=64), nullable=True),
        sa.Column('client', sa.String(length=64), nullable=True),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('prev_sha256', sa.String(length=64), nullable=False),
        sa.Column('entry_sha256', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('seq'),
    )
    op.create_index('ix_access_log_case', 'access_log', ['case_id', 'seq'], unique=False)
    op.create_table(
        'access_log_head',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('last_seq', sa.Integer(), nullable=False),
        sa.Column('head_sha256', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('access_log_head')
    op.drop_index('ix_access_log_case', table_name='access_log')
    op.drop_table('access_log')
