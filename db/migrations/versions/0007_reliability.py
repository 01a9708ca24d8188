"""reliability and casework: action counts and failed effects on cases; idempotent answers of actions;
an obligation may recur (follow-up reviews), so a case's deadlines are keyed by their position

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""
import sqlalchemy as sa
import sqlmodel
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
        batch_op.add_column(sa.Column('features', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('has_plan', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('closure_proposal', sa.Text(), nullable=True))
    op.execute("UPDATE cases SET has_plan = (SELECT count(*) > 0 FROM case_events e WHERE e.case_id = cases.case_id "
               "AND e.action = 'intervene')")
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.alter_column('features', server_default=None, existing_type=sa.JSON(), existing_nullable=False)
        batch_op.alter_column('has_plan', server_default=None, existing_type=sa.Boolean(), existing_nullable=False)
        batch_op.alter_column('counts', server_default=None, existing_type=sa.JSON(), existing_nullable=False)
        batch_op.alter_column('failed_effects', server_default=None, existing_type=sa.JSON(), existing_nullable=False)
        batch_op.alter_column('failed_effect_count', server_default=None, existing_type=sa.Integer(),
                              existing_nullable=False)
        batch_op.create_index('ix_cases_school_failed_effects', ['school_id', 'failed_effect_count'], unique=False)
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_code', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('response', sa.Text(), nullable=True))
    _rekey_deadlines(('case_id', 'position'))


def _rekey_deadlines(key: tuple[str, str]) -> None:
    """Rebuild case_deadlines with another primary key (a copy, the same on SQLite and PostgreSQL)."""
    op.create_table('case_deadlines_rekeyed',
    sa.Column('case_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('obligation', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('school_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('open_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('responsible_role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('met_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('escalated_at', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.case_id'], ),
    sa.PrimaryKeyConstraint(*key)
    )
    columns = ("case_id, obligation, school_id, open_due_at, position, responsible_role, due_at, met_at, "
               "escalation_level, escalated_at")
    op.execute(f"INSERT INTO case_deadlines_rekeyed ({columns}) SELECT {columns} FROM case_deadlines")
    op.drop_index('ix_deadlines_school_open_due', table_name='case_deadlines')
    op.drop_table('case_deadlines')
    op.rename_table('case_deadlines_rekeyed', 'case_deadlines')
    op.create_index('ix_deadlines_school_open_due', 'case_deadlines', ['school_id', 'open_due_at'], unique=False)


def downgrade() -> None:
    # a case with a recurring obligation has several rows of it: keep the latest of each
    op.execute("DELETE FROM case_deadlines WHERE position NOT IN (SELECT max(d.position) FROM case_deadlines d "
               "WHERE d.case_id = case_deadlines.case_id AND d.obligation = case_deadlines.obligation)")
    _rekey_deadlines(('case_id', 'obligation'))
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_column('response')
        batch_op.drop_column('status_code')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_school_failed_effects')
        batch_op.drop_column('closure_proposal')
        batch_op.drop_column('has_plan')
        batch_op.drop_column('features')
        batch_op.drop_column('failed_effect_count')
        batch_op.drop_column('failed_effects')
        batch_op.drop_column('counts')
