"""dashboard measures on cases

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assessed_after_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('intervened_after_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('on_time', sa.Boolean(), nullable=True))
        batch_op.create_index('ix_cases_school_assessed_after', ['school_id', 'assessed_after_s'], unique=False)
        batch_op.create_index('ix_cases_school_intervened_after', ['school_id', 'intervened_after_s'], unique=False)
        batch_op.create_index('ix_cases_school_risk_on_time', ['school_id', 'risk_level', 'on_time'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_school_risk_on_time')
        batch_op.drop_index('ix_cases_school_intervened_after')
        batch_op.drop_index('ix_cases_school_assessed_after')
        batch_op.drop_column('on_time')
        batch_op.drop_column('intervened_after_s')
        batch_op.drop_column('assessed_after_s')

