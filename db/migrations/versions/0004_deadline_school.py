"""dashboard from indexes alone: overdue obligations by school, one covering index for the counts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_deadlines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('school_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('open_due_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE case_deadlines SET "
        "school_id = (SELECT cases.school_id FROM cases WHERE cases.case_id = case_deadlines.case_id), "
        "open_due_at = CASE WHEN met_at IS NULL AND "
        "(SELECT cases.closed_at FROM cases WHERE cases.case_id = case_deadlines.case_id) IS NULL "
        "THEN due_at END"
    )
    with op.batch_alter_table('case_deadlines', schema=None) as batch_op:
        batch_op.alter_column('school_id', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index('ix_deadlines_school_open_due', ['school_id', 'open_due_at'], unique=False)
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_school_state')
        batch_op.drop_index('ix_cases_school_risk_on_time')
        batch_op.create_index('ix_cases_school_summary', ['school_id', 'state', 'risk_level', 'on_time',
                                                          'assessed_after_s', 'intervened_after_s'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_school_summary')
        batch_op.create_index('ix_cases_school_risk_on_time', ['school_id', 'risk_level', 'on_time'], unique=False)
        batch_op.create_index('ix_cases_school_state', ['school_id', 'state'], unique=False)
    with op.batch_alter_table('case_deadlines', schema=None) as batch_op:
        batch_op.drop_index('ix_deadlines_school_open_due')
        batch_op.drop_column('open_due_at')
        batch_op.drop_column('school_id')
