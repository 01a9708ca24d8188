"""The access log: every read of a case's records and every action, append-only and hash-chained."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from audit import chain
from db.tables import AccessLogHeadRow, AccessLogRow
from ops import metrics

_FIELDS = ("seq", "at", "staff_id", "role", "school_id", "what", "method", "path", "case_id", "client", "status")
_append_lock = threading.Lock()  # SQLite has no row locks; one writer per process, retries across processes


class AccessEntry(BaseModel):
    """What the API records and shows of one access."""

    seq: int
    at: datetime
    staff_id: str
    role: str
    school_id: str | None
    what: str
    method: str
    path: str
    case_id: str | None
    client: str | None
    status: int
    entry_sha256: str


def entry_digest(row: AccessLogRow) -> str:
    values = [row.at.isoformat() if f == "at" else getattr(row, f) for f in _FIELDS]
    return chain.sha256(*values, row.prev_sha256)


def append(engine: Engine, **fields) -> int:
    """Append one entry (fields of ``AccessLogRow`` but the chain); returns its seq."""
    for attempt in range(20):
        try:
            with _append_lock, Session(engine) as session, session.begin():
                head = chain.locked_head(session, AccessLogHeadRow)
                row = AccessLogRow(seq=head.last_seq + 1, prev_sha256=head.head_sha256, entry_sha256="", **fields)
                row.at = row.at.astimezone(UTC)
                row.entry_sha256 = entry_digest(row)
                seq = head.last_seq = row.seq
                head.head_sha256 = row.entry_sha256
                session.add(row)
                session.add(head)
            metrics.access_appended()
            return seq
        except IntegrityError:  # another process took the same seq first
            if attempt == 19:
                raise
    raise AssertionError("unreachable")


def entries(engine: Engine, case_id: str | None, limit: int, offset: int) -> tuple[int, list[AccessEntry]]:
    with Session(engine) as session:
        query = select(AccessLogRow)
        counter = select(func.count()).select_from(AccessLogRow)
        if case_id is not None:
            query = query.where(col(AccessLogRow.case_id) == case_id)
            counter = counter.where(col(AccessLogRow.case_id) == case_id)
        total = session.exec(counter).one()
        rows = session.exec(query.order_by(col(AccessLogRow.seq).desc()).offset(offset).limit(limit)).all()
    return total, [AccessEntry.model_validate(r, from_attributes=True) for r in rows]


def verify(engine: Engine) -> tuple[int, list[chain.Problem]]:
    return chain.verify(engine, "access log", AccessLogRow, AccessLogHeadRow, entry=entry_digest)
