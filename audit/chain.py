"""Hash chains over append-only tables (the archive, the access log).

Every row stores the previous row's ``entry_sha256`` and its own, computed
over its fields and that previous hash; a head row keeps the last sequence
number and hash. Walking the chain names every removed, altered or
re-ordered row, the newest included.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

GENESIS = "0" * 64


def sha256(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def locked_head(session, head_model):
    """The chain's head row, locked for this transaction (row lock on PostgreSQL), or a new one at genesis."""
    return session.get(head_model, 1, with_for_update=True) or head_model(id=1, last_seq=0, head_sha256=GENESIS)


@dataclass
class Problem:
    table: str
    seq: int
    case_id: str | None
    what: str

    def __str__(self) -> str:
        who = f" (case {self.case_id})" if self.case_id else ""
        return f"{self.table} row {self.seq}{who}: {self.what}"


def verify(
    engine,
    table: str,
    row_model,
    head_model,
    entry: Callable[[Any], str],
    content: Callable[[Any], str | None] = lambda _row: None,
) -> tuple[int, list[Problem]]:
    """Read a chained table and its head and walk it; returns the rows checked and every problem."""
    with Session(engine) as session:
        head = session.get(head_model, 1) or head_model(id=1, last_seq=0, head_sha256=GENESIS)
        rows = session.exec(select(row_model).order_by(col(row_model.seq))).all()
        return len(rows), walk(table, rows, head.last_seq, head.head_sha256, entry, content)


def walk(
    table: str,
    rows: Sequence[Any],
    head_seq: int,
    head_sha256: str,
    entry: Callable[[Any], str],
    content: Callable[[Any], str | None] = lambda _row: None,
) -> list[Problem]:
    """Check ``rows`` (ordered by ``seq``); ``entry`` recomputes a row's hash, ``content`` flags a row's own damage."""
    problems: list[Problem] = []
    prev, expected = GENESIS, 1
    for row in rows:
        while expected < row.seq:
            problems.append(Problem(table, expected, None, "missing (removed)"))
            expected += 1
        if (damage := content(row)) is not None:
            problems.append(Problem(table, row.seq, row.case_id, damage))
        if row.prev_sha256 != prev:
            problems.append(Problem(table, row.seq, row.case_id, "chain broken (does not follow the previous row)"))
        if entry(row) != row.entry_sha256:
            problems.append(Problem(table, row.seq, row.case_id, "entry altered (its chain hash no longer matches)"))
        prev, expected = row.entry_sha256, row.seq + 1
    while expected <= head_seq:
        problems.append(Problem(table, expected, None, "missing (removed)"))
        expected += 1
    if rows and rows[-1].seq == head_seq and head_sha256 != rows[-1].entry_sha256:
        problems.append(Problem(table, rows[-1].seq, rows[-1].case_id, "does not match the chain head"))
    return problems
