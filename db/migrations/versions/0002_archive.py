"""archive of closed histories, hash-chained

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('archive_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('head_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('archived_histories',
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('case_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('workflow_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('run_index', sa.Integer(), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('history', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('history_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('prev_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('entry_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('archived_histories', schema=None) as batch_op:
        batch_op.create_index('ix_archive_case_run', ['case_id', 'run_id'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('archived_histories', schema=None) as batch_op:
        batch_op.drop_index('ix_archive_case_run')

    op.drop_table('archived_histories')
    op.drop_table('archive_head')
