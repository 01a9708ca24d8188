"""seal the student, the narrative and action details at rest

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""
import json

import sqlalchemy as sa
from alembic import op

from models.sealed import PREFIX, SealError, seal

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

COLUMNS = [("cases", "student", ("case_id",)), ("cases", "summary", ("case_id",)),
           ("case_events", "detail", ("case_id", "seq"))]


def upgrade() -> None:
    bind = op.get_bind()
    keyring = getattr(bind.dialect, "crisisflow_keyring", None)
    rows = {}
    for table, column, key in COLUMNS:  # read first: without a keyring, fail before changing anything
        found = bind.execute(sa.text(f"SELECT {', '.join(key)}, CAST({column} AS TEXT) FROM {table}")).all()
        rows[table, column] = [r for r in found if r[-1] is not None and not r[-1].startswith(PREFIX)]
        if rows[table, column] and keyring is None:
            raise SealError(f"{len(rows[table, column])} {table}.{column} value(s) to seal and no keyring: run the "
                            "migration through crisisflow (setup, api, worker or dev) with CRISISFLOW_KEYRING set")
    for table, column, _key in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.String() if column == "summary" else sa.JSON(),
                                  type_=sa.Text(), existing_nullable=False, postgresql_using=f"{column}::text")
    for table, column, key in COLUMNS:
        where = " AND ".join(f"{k} = :{k}" for k in key)
        for *ids, value in rows[table, column]:
            text = value if column == "summary" else json.dumps(json.loads(value), ensure_ascii=False, separators=(",", ":"))
            bind.execute(sa.text(f"UPDATE {table} SET {column} = :v WHERE {where}"),
                         {"v": seal(keyring, text.encode(), f"{table}.{column}"), **dict(zip(key, ids))})


def downgrade() -> None:
    raise NotImplementedError("sealed values are not unsealed by a downgrade; restore from a backup instead")
