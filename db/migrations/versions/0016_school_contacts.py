"""a school's contact person and telephone, and its hotlines by name (issue 28)

The paper a school sends names who to call back (``contact_name``, ``contact_phone``) and prints each hotline
under its own name (``hotlines``: [{name, number}]). The single ``hotline`` column printed a public line
(12356, the national psychological-assistance line) as the school's own number: a school's value moves into
``hotlines`` under the name 心理援助热线, and the column goes.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_s = sqlmodel.sql.sqltypes.AutoString
_schools = sa.table('schools', sa.column('school_id', _s()), sa.column('hotline', _s()),
                    sa.column('hotlines', sa.JSON()))


def upgrade() -> None:
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contact_name', _s(length=200), nullable=True))
        batch_op.add_column(sa.Column('contact_phone', _s(length=32), nullable=True))
        batch_op.add_column(sa.Column('hotlines', sa.JSON(), nullable=True))
    bind = op.get_bind()
    for school_id, hotline in bind.execute(sa.select(_schools.c.school_id, _schools.c.hotline)).all():
        lines = [{"name": "心理援助热线", "number": hotline}] if hotline else []
        bind.execute(_schools.update().where(_schools.c.school_id == school_id).values(hotlines=lines))
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.alter_column('hotlines', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('hotline')


def downgrade() -> None:
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hotline', _s(length=32), nullable=True))
    bind = op.get_bind()
    for school_id, lines in bind.execute(sa.select(_schools.c.school_id, _schools.c.hotlines)).all():
        bind.execute(_schools.update().where(_schools.c.school_id == school_id)
                     .values(hotline=(lines or [{}])[0].get("number")))
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.drop_column('hotlines')
        batch_op.drop_column('contact_phone')
        batch_op.drop_column('contact_name')
