"""The archive of closed histories: append-only, SHA-256 chained, verifiable.

Temporal deletes a closed workflow's history after the namespace's retention
period; the archiver copies every closed case's runs here first. Each row's
``entry_sha256`` = SHA-256 over (seq, case, run, history digest, previous
entry); ``archive_head`` holds the last seq and hash, so a removed last row
shows too.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from audit import chain
from audit.chain import Problem
from db.tables import ArchivedHistoryRow, ArchiveHeadRow, CaseRow

__all__ = ["Problem", "append", "verify"]


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_digest(seq: int, case_id: str, run_id: str, history_sha256: str, prev_sha256: str) -> str:
    return hashlib.sha256(f"{seq}|{case_id}|{run_id}|{history_sha256}|{prev_sha256}".encode()).hexdigest()


def closed_not_archived(engine: Engine, limit: int = 500) -> list[tuple[str, datetime | None]]:
    """Closed cases of the read model with no run in the archive yet, oldest first."""
    archived = select(ArchivedHistoryRow.case_id)
    with Session(engine) as session:
        rows = session.exec(
            select(CaseRow.case_id, CaseRow.closed_at)
            .where(col(CaseRow.closed_at).is_not(None), col(CaseRow.case_id).not_in(archived))
            .order_by(col(CaseRow.closed_at))
            .limit(limit)
        ).all()
    return list(rows)


def append(
    engine: Engine,
    *,
    case_id: str,
    workflow_id: str,
    runs: list[tuple[str, str]],
    closed_at: datetime | None,
    now: datetime,
) -> int:
    """Append a case's runs ``(run_id, history_json)`` in one transaction; returns rows added."""
    with Session(engine) as session, session.begin():
        head = chain.locked_head(session, ArchiveHeadRow)
        present = set(
            session.exec(select(ArchivedHistoryRow.run_id).where(col(ArchivedHistoryRow.case_id) == case_id)).all()
        )
        added = 0
        for index, (run_id, history) in enumerate(runs, start=1):
            if run_id in present:
                continue
            seq = head.last_seq + 1
            h = digest(history)
            entry = entry_digest(seq, case_id, run_id, h, head.head_sha256)
            session.add(
                ArchivedHistoryRow(
                    seq=seq, case_id=case_id, workflow_id=workflow_id, run_id=run_id, run_index=index,
                    closed_at=closed_at, archived_at=now, history=history, history_sha256=h,
                    prev_sha256=head.head_sha256, entry_sha256=entry,
                )
            )
            head.last_seq, head.head_sha256 = seq, entry
            added += 1
        session.add(head)
    return added


def verify(engine: Engine) -> tuple[int, list[Problem]]:
    """Walk the chain; returns the rows checked and every problem, each naming its row."""
    return chain.verify(
        engine,
        "archive",
        ArchivedHistoryRow,
        ArchiveHeadRow,
        entry=lambda r: entry_digest(r.seq, r.case_id, r.run_id, r.history_sha256, r.prev_sha256),
        content=lambda r: (
            None if digest(r.history) == r.history_sha256 else "history altered (its SHA-256 no longer matches)"
        ),
    )


def histories(engine: Engine) -> list[ArchivedHistoryRow]:
    with Session(engine) as session:
        return list(session.exec(select(ArchivedHistoryRow).order_by(col(ArchivedHistoryRow.seq))).all())


def case_histories(engine: Engine, case_id: str) -> list[ArchivedHistoryRow]:
    """One case's archived runs, oldest first."""
    with Session(engine) as session:
        return list(
            session.exec(
                select(ArchivedHistoryRow)
                .where(col(ArchivedHistoryRow.case_id) == case_id)
                .order_by(col(ArchivedHistoryRow.run_index))
            ).all()
        )
