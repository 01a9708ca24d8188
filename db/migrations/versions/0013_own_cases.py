"""a person's own cases: who opened, first assessed and owns each case (issue 25)

``cases.opener``, ``cases.assessor`` and ``cases.owner`` let a person see the cases they opened, assessed
or own whatever their class, and list their own. Filled here for the cases already recorded: the opener
from ``opened_by``, the assessor from the first assessment event, and the owner as the assessor (the
named owner the workflow keeps from now on).

``cases.screening_flags`` holds what a screening raised (筛查：PHQ-9 第9题阳性, 筛查：ASQ 阳性): a reason of its
own, no longer recorded as warning signal 1 (something a person heard or saw).

``staff.title`` names what a reporter (role ``staff``: a subject teacher, care or boarding staff, the school
doctor) does at the school.

``watch_entries`` is the watch list (重点关注, workflows/watch_workflow.py): students kept in sight without
an open case, with their owner and review date.

``screening_jobs.warnings`` lists the rows an import took with a caveat: a flagged student whose class the
directory does not list still opens a case (a flagged student is never dropped).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""
import json

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_s = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        'watch_entries',
        sa.Column('watch_id', _s(length=64), nullable=False),
        sa.Column('school_id', _s(length=64), nullable=False),
        sa.Column('student_ref', _s(length=64), nullable=False),
        sa.Column('class_id', _s(length=64), nullable=True),
        sa.Column('student', sa.Text(), nullable=False),
        sa.Column('reasons', sa.JSON(), nullable=False),
        sa.Column('owner', _s(length=64), nullable=True),
        sa.Column('state', _s(length=16), nullable=False),
        sa.Column('review_due_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('escalation_level', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seq', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('watch_id'),
    )
    op.create_index('ix_watch_school_class', 'watch_entries', ['school_id', 'state', 'class_id'])
    with op.batch_alter_table('staff') as batch_op:
        batch_op.add_column(sa.Column('title', _s(length=100), nullable=True))
    with op.batch_alter_table('cases') as batch_op:
        batch_op.add_column(sa.Column('screening_flags', sa.JSON(), nullable=False, server_default='[]'))
    with op.batch_alter_table('screening_jobs') as batch_op:
        batch_op.add_column(sa.Column('warnings', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('watched', sa.Integer(), nullable=False, server_default='0'))
    for column in ('opener', 'assessor', 'owner'):
        op.add_column('cases', sa.Column(column, _s(length=64), nullable=True))
        op.create_index(f'ix_cases_school_{column}', 'cases', ['school_id', column])
    conn = op.get_bind()
    for case_id, opened_by in conn.execute(sa.text("SELECT case_id, opened_by FROM cases")).all():
        by = opened_by if isinstance(opened_by, dict) else json.loads(opened_by or '{}')
        assessor = conn.execute(sa.text(
            "SELECT actor FROM case_events WHERE case_id = :c AND action = 'assess' ORDER BY seq LIMIT 1"),
            {"c": case_id}).scalar()
        conn.execute(sa.text("UPDATE cases SET opener = :o, assessor = :a, owner = :a WHERE case_id = :c"),
                     {"o": by.get('staff_id'), "a": assessor, "c": case_id})


def downgrade() -> None:
    op.drop_index('ix_watch_school_class', 'watch_entries')
    op.drop_table('watch_entries')
    with op.batch_alter_table('staff') as batch_op:
        batch_op.drop_column('title')
    with op.batch_alter_table('cases') as batch_op:
        batch_op.drop_column('screening_flags')
    with op.batch_alter_table('screening_jobs') as batch_op:
        batch_op.drop_column('warnings')
        batch_op.drop_column('watched')
    with op.batch_alter_table('cases') as batch_op:
        for column in ('owner', 'assessor', 'opener'):
            batch_op.drop_index(f'ix_cases_school_{column}')
            batch_op.drop_column(column)
