"""The guardian's one-time answer links and the guardian's number on record (GUARDIAN_ONLINE).

A link is made with its guardian notice (``activities/documents.py``), keyed by the token's SHA-256; the token
and its code are derived (``crypto/links.py``), never stored. What a link is at a moment is ``standing``: open,
answered, locked (five wrong codes), expired, replaced (a newer notice of the case) or revoked (leadership).
Every change is one conditional UPDATE, so two answers at once take one, and a sixth wrong code locks once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine, update
from sqlmodel import Session, select

from crypto import links
from crypto.sealed import engine_keyring
from db.tables import GuardianContactRow, GuardianLinkRow

#: Wrong codes in a row that lock a link (the issue's number; the head teacher is told).
LOCK_AFTER = 5

Standing = Literal["open", "answered", "locked", "expired", "replaced", "revoked"]


def make(engine: Engine, *, case_id: str, school_id: str, event_seq: int, document_id: str, created_at: datetime,
         valid_for: timedelta) -> tuple[str, str]:
    """The link of this notice (made once; the same notice again gives the same link), as (token, code); the
    case's older links are replaced by it."""
    keyring = engine_keyring(engine)
    with Session(engine) as session, session.begin():
        existing = session.exec(select(GuardianLinkRow).where(GuardianLinkRow.case_id == case_id,
                                                              GuardianLinkRow.event_seq == event_seq)).first()
        key_id = existing.key_id if existing is not None else links.current_key(keyring)
        token = links.link_token(keyring, key_id, case_id, event_seq)
        if existing is None:
            session.execute(update(GuardianLinkRow)
                         .where(GuardianLinkRow.case_id == case_id, GuardianLinkRow.ended.is_(None),
                                GuardianLinkRow.created_at <= created_at)
                         .values(ended="replaced", ended_at=created_at))
            session.add(GuardianLinkRow(link_id=links.link_id(token), case_id=case_id, school_id=school_id,
                                        event_seq=event_seq, key_id=key_id, document_id=document_id,
                                        created_at=created_at, expires_at=created_at + valid_for))
    return token, links.link_code(keyring, key_id, token)


def token_and_code(engine: Engine, row: GuardianLinkRow) -> tuple[str, str]:
    """A link's token and code, derived again (the staff app shows them to the case's people)."""
    keyring = engine_keyring(engine)
    token = links.link_token(keyring, row.key_id, row.case_id, row.event_seq)
    return token, links.link_code(keyring, row.key_id, token)


def find(engine: Engine, token: str) -> GuardianLinkRow | None:
    if not token or len(token) > 64:
        return None
    with Session(engine) as session:
        return session.get(GuardianLinkRow, links.link_id(token))


def find_by_id(engine: Engine, link_id: str) -> GuardianLinkRow | None:
    with Session(engine) as session:
        return session.get(GuardianLinkRow, link_id)


def latest(engine: Engine, case_id: str) -> GuardianLinkRow | None:
    """The case's newest link (the one its latest guardian notice prints)."""
    with Session(engine) as session:
        return session.exec(select(GuardianLinkRow).where(GuardianLinkRow.case_id == case_id)
                            .order_by(GuardianLinkRow.created_at.desc(), GuardianLinkRow.event_seq.desc())).first()


def standing(row: GuardianLinkRow, now: datetime) -> Standing:
    """What the link is now. An answered link stays readable until it expires (it answers 已收到您的答复)."""
    if row.ended == "revoked":
        return "revoked"
    if row.ended == "replaced":
        return "replaced"
    if row.locked_at is not None:
        return "locked"
    if now >= row.expires_at:
        return "expired"
    if row.answered_at is not None:
        return "answered"
    return "open"


def check_code(engine: Engine, row: GuardianLinkRow, code: str, now: datetime) -> Literal["right", "wrong", "locked"]:
    """Check a code: a right one clears the count; the LOCK_AFTER-th wrong one in a row locks the link (``locked``
    is answered once, to the request that locked it)."""
    _, expected = token_and_code(engine, row)
    with Session(engine) as session, session.begin():
        if links.codes_equal(code.strip(), expected):
            session.execute(update(GuardianLinkRow).where(GuardianLinkRow.link_id == row.link_id).values(failures=0))
            return "right"
        session.execute(update(GuardianLinkRow).where(GuardianLinkRow.link_id == row.link_id)
                     .values(failures=GuardianLinkRow.failures + 1))
        locked = session.execute(update(GuardianLinkRow)
                              .where(GuardianLinkRow.link_id == row.link_id, GuardianLinkRow.locked_at.is_(None),
                                     GuardianLinkRow.failures >= LOCK_AFTER)
                              .values(locked_at=now)).rowcount
    return "locked" if locked else "wrong"


def take_answer(engine: Engine, link_id: str, answer: dict, now: datetime) -> bool:
    """Keep the guardian's answer; False when the link was answered (or ended) meanwhile."""
    with Session(engine) as session, session.begin():
        row = session.get(GuardianLinkRow, link_id)
        if row is None or row.answered_at is not None or row.ended is not None or row.locked_at is not None:
            return False
        row.answered_at, row.answer = now, answer
        session.add(row)
    return True


def settle_answer(engine: Engine, link_id: str, outcome: Literal["taken", "kept"]) -> None:
    """Whether the case took the answer (``taken``) or a person must record it (``kept``)."""
    with Session(engine) as session, session.begin():
        row = session.get(GuardianLinkRow, link_id)
        if row is not None and row.answer is not None:
            row.answer = {**row.answer, "outcome": outcome}
            session.add(row)


def revoke(engine: Engine, case_id: str, by: str, now: datetime) -> bool:
    """End the case's open link (leadership); False when none is open."""
    with Session(engine) as session, session.begin():
        ended = session.execute(update(GuardianLinkRow)
                             .where(GuardianLinkRow.case_id == case_id, GuardianLinkRow.ended.is_(None))
                             .values(ended="revoked", ended_at=now, ended_by=by)).rowcount
    return bool(ended)


def sms_sent(engine: Engine, link_id: str, now: datetime) -> None:
    with Session(engine) as session, session.begin():
        session.execute(update(GuardianLinkRow).where(GuardianLinkRow.link_id == link_id).values(sms_sent_at=now))


def set_phone(engine: Engine, case_id: str, phone: str, by: str, now: datetime) -> None:
    with Session(engine) as session, session.begin():
        row = session.get(GuardianContactRow, case_id) or GuardianContactRow(case_id=case_id, phone=phone,
                                                                            recorded_by=by, recorded_at=now)
        row.phone, row.recorded_by, row.recorded_at = phone, by, now
        session.add(row)


def phone_of(engine: Engine, case_id: str) -> str | None:
    with Session(engine) as session:
        row = session.get(GuardianContactRow, case_id)
        return row.phone if row is not None else None
