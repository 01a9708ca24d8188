"""screening intake: every result in the student archive, and the import jobs

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_s = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table('screening_results',
    sa.Column('result_id', _s(length=64), nullable=False),
    sa.Column('school_id', _s(length=64), nullable=False),
    sa.Column('batch', _s(length=100), nullable=False),
    sa.Column('student_ref', _s(length=64), nullable=False),
    sa.Column('class_id', _s(length=64), nullable=True),
    sa.Column('instrument', _s(length=8), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('band', _s(length=24), nullable=False),
    sa.Column('rules_version', _s(length=64), nullable=False),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('items', sa.Text(), nullable=False),
    sa.Column('case_id', _s(length=64), nullable=True),
    sa.Column('outcome', _s(length=16), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('result_id')
    )
    op.create_index('ix_screening_results_student', 'screening_results', ['school_id', 'student_ref', 'recorded_at'],
                    unique=False)
    op.create_index('ix_screening_results_batch', 'screening_results', ['school_id', 'batch'], unique=False)
    op.create_table('screening_jobs',
    sa.Column('job_id', _s(length=64), nullable=False),
    sa.Column('school_id', _s(length=64), nullable=False),
    sa.Column('batch', _s(length=100), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('status', _s(length=16), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('flagged', sa.Integer(), nullable=False),
    sa.Column('opened', sa.Integer(), nullable=False),
    sa.Column('annotated', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.Column('failure', _s(length=300), nullable=True),
    sa.Column('started_by', _s(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('job_id')
    )


def downgrade() -> None:
    op.drop_table('screening_jobs')
    op.drop_index('ix_screening_results_batch', table_name='screening_results')
    op.drop_index('ix_screening_results_student', table_name='screening_results')
    op.drop_table('screening_results')
