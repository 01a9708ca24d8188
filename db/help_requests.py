"""Help requests in the read model: what the asker wrote (sealed), and the state its workflow projects.

``add`` keeps a new request (with a keyed fingerprint of the asker's address, for the rate limits, never the
address); ``project`` mirrors the ``HelpRequestWorkflow``'s state; the staff app lists a school's requests
without their words (``listing``) and shows one, unsealed, to the people who handle it (``get``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from db.tables import HelpRequestRow
from models.help import HelpBody, HelpData


def add(engine: Engine, *, help_id: str, school_id: str, body: HelpBody, address: str, now: datetime,
        due_at: datetime) -> None:
    with Session(engine) as session, session.begin():
        session.add(HelpRequestRow(help_id=help_id, school_id=school_id, created_at=now, address=address,
                                   asked=body.model_dump(mode="json"), state="open", due_at=due_at))


def count_since(engine: Engine, since: datetime, *, school_id: str | None = None, address: str | None = None) -> int:
    """Requests since ``since`` of a school, or from one address (its fingerprint)."""
    query = select(func.count()).select_from(HelpRequestRow).where(col(HelpRequestRow.created_at) >= since)
    if school_id is not None:
        query = query.where(col(HelpRequestRow.school_id) == school_id)
    if address is not None:
        query = query.where(col(HelpRequestRow.address) == address)
    with Session(engine) as session:
        return session.exec(query).one()


def project(engine: Engine, data: HelpData) -> None:
    """The workflow's state, newer over older (``seq``)."""
    with Session(engine) as session, session.begin():
        row = session.get(HelpRequestRow, data.help_id)
        if row is None or row.seq > data.seq:
            return
        row.state, row.seq = data.state, data.seq
        row.due_at, row.escalation_level = data.deadline.due_at, data.deadline.escalation_level
        row.looked_at, row.looked_by = data.deadline.met_at, data.looked_by
        row.case_id, row.resolved_by = data.case_id, data.resolved_by
        row.closed_reason = data.closed_reason
        session.add(row)


def get(engine: Engine, help_id: str) -> HelpRequestRow | None:
    with Session(engine) as session:
        return session.get(HelpRequestRow, help_id)


def listing(engine: Engine, school_id: str, open_only: bool = False, limit: int = 200) -> list[HelpRequestRow]:
    """A school's requests, newest first; the words stay sealed unless a row's ``asked`` is read."""
    query = select(HelpRequestRow).where(col(HelpRequestRow.school_id) == school_id)
    if open_only:
        query = query.where(col(HelpRequestRow.state) == "open")
    with Session(engine) as session:
        return list(session.exec(query.order_by(col(HelpRequestRow.created_at).desc()).limit(limit)).all())


def window(now: datetime) -> datetime:
    return now - timedelta(hours=1)
