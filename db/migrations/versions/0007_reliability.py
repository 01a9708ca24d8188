"""reliability: action counts and failed effects on cases; idempotent answers of actions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('counts', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('failed_effects', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('failed_effect_count', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.alter_column('counts', server_default=None, existing_type=sa.JSON(), existing_nullable=False)
        batch_op.alter_column('failed_effects', server_default=None, existing_type=sa.JSON(), existing_nullable=False)
        batch_op.alter_column('failed_effect_count', server_default=None, existing_type=sa.Integer(),
                              existing_nullable=False)
        batch_op.create_index('ix_cases_school_failed_effects', ['school_id', 'failed_effect_count'], unique=False)
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_code', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('response', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_column('response')
        batch_op.drop_column('status_code')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_school_failed_effects')
        batch_op.drop_column('failed_effect_count')
        batch_op.drop_column('failed_effects')
        batch_op.drop_column('counts')
