"""seal the student, the narrative and action details at rest

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""
import json

import sqlalchemy as sa
from alembic import op

from crypto.sealed import PREFIX, SealError, seal, unseal

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

COLUMNS = [("cases", "student", ("case_id",)), ("cases", "summary", ("case_id",)),
           ("case_events", "detail", ("case_id", "seq"))]


def _rows(bind, keyring, want_sealed: bool) -> dict:
    """Values to convert, read before any change: without a keyring, fail before changing anything."""
    rows = {}
    for table, column, key in COLUMNS:
        found = bind.execute(sa.text(f"SELECT {', '.join(key)}, CAST({column} AS TEXT) FROM {table}")).all()
        rows[table, column] = [r for r in found if r[-1] is not None and r[-1].startswith(PREFIX) == want_sealed]
        if rows[table, column] and keyring is None:
            raise SealError(f"{len(rows[table, column])} {table}.{column} value(s) to "
                            f"{'unseal' if want_sealed else 'seal'} and no keyring: run the migration through "
                            "crisisflow (setup, api, worker or dev) with CRISISFLOW_KEYRING set")
    return rows


def _write(bind, rows: dict, convert) -> None:
    for table, column, key in COLUMNS:
        where = " AND ".join(f"{k} = :{k}" for k in key)
        for *ids, value in rows[table, column]:
            bind.execute(sa.text(f"UPDATE {table} SET {column} = :v WHERE {where}"),
                         {"v": convert(f"{table}.{column}", column, value), **dict(zip(key, ids, strict=True))})


def _retype(sealed: bool) -> None:
    for table, column, _key in COLUMNS:
        plain_type = sa.String() if column == "summary" else sa.JSON()
        with op.batch_alter_table(table, schema=None) as batch_op:
            if sealed:
                batch_op.alter_column(column, existing_type=plain_type, type_=sa.Text(), existing_nullable=False,
                                      postgresql_using=f"{column}::text")
            else:
                batch_op.alter_column(column, existing_type=sa.Text(), type_=plain_type, existing_nullable=False,
                                      postgresql_using=f"{column}::json" if column != "summary" else None)


def upgrade() -> None:
    bind = op.get_bind()
    keyring = getattr(bind.dialect, "crisisflow_keyring", None)
    rows = _rows(bind, keyring, want_sealed=False)
    _retype(sealed=True)

    def sealed(context: str, column: str, value: str) -> str:
        text = value if column == "summary" else json.dumps(json.loads(value), ensure_ascii=False, separators=(",", ":"))
        return seal(keyring, text.encode(), context)

    _write(bind, rows, sealed)


def downgrade() -> None:
    """Back to plain columns: every sealed value is opened with the keyring first."""
    bind = op.get_bind()
    keyring = getattr(bind.dialect, "crisisflow_keyring", None)
    rows = _rows(bind, keyring, want_sealed=True)
    _write(bind, rows, lambda context, _column, value: unseal(keyring, value, context).decode())
    _retype(sealed=False)
