"""Sessions of the staff app.

The cookie (``crisisflow_session``: HttpOnly, SameSite=Strict, Secure over HTTPS) holds a random id;
the database keeps only its SHA-256, so a copy of the database signs no one in. Every session,
even before sign-in, carries its own CSRF token, which every form posts back. Signing in (and
passing the second factor) replaces the session with a new id, so an id planted before sign-in
is worth nothing after it (session fixation). A session ends when unused for
``session_idle_minutes``, after ``session_max_hours`` in any case, and at sign-out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from fastapi import Response
from sqlalchemy import Engine
from sqlmodel import Session, col, delete, select

from api.auth import Principal
from config.settings import Settings
from db.tables import WebSessionRow
from models.domain import StaffRole

COOKIE = "crisisflow_session"
#: how stale ``last_seen_at`` may get before a request writes it again (idle expiry is in minutes)
TOUCH_EVERY = timedelta(seconds=30)


class Stage:
    anonymous = "anonymous"
    second_factor = "second_factor"
    enrol = "enrol"
    signed_in = "signed_in"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


#: the most anonymous sessions (a sign-in form not yet sent) one address keeps: a school's whole staff
#: behind one address opens the form a few at a time; a script opening it a million times keeps 50 rows
ANONYMOUS_PER_ADDRESS = 50
#: how often a process clears the sessions past their limits (on its next new session)
SWEEP_EVERY = timedelta(minutes=1)
_swept: dict[int, datetime] = {}


def create(engine: Engine, stage: str, now: datetime, address: str | None, staff_id: str | None = None,
           role: str | None = None, school_id: str | None = None,
           settings: Settings | None = None) -> tuple[str, WebSessionRow]:
    """A new session; returns the cookie value (never stored) and the row. An anonymous one beyond the
    address's ``ANONYMOUS_PER_ADDRESS`` ends its oldest; with ``settings``, sessions past their limits
    are cleared at most every ``SWEEP_EVERY``."""
    value = secrets.token_urlsafe(32)
    row = WebSessionRow(session_sha256=_digest(value), stage=stage, staff_id=staff_id, role=role,
                        school_id=school_id, csrf=secrets.token_urlsafe(24), address=(address or "")[:64] or None,
                        created_at=now, last_seen_at=now)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.add(row)
        if stage == Stage.anonymous:
            kept = select(WebSessionRow.session_sha256).where(
                col(WebSessionRow.stage) == Stage.anonymous, col(WebSessionRow.address) == row.address,
            ).order_by(col(WebSessionRow.created_at).desc(), col(WebSessionRow.session_sha256)).limit(
                ANONYMOUS_PER_ADDRESS)
            session.flush()
            session.exec(delete(WebSessionRow).where(
                col(WebSessionRow.stage) == Stage.anonymous, col(WebSessionRow.address) == row.address,
                col(WebSessionRow.session_sha256).not_in(kept.scalar_subquery()),
                col(WebSessionRow.session_sha256) != row.session_sha256))
    if settings is not None and now - _swept.get(id(engine), datetime.min.replace(tzinfo=now.tzinfo)) > SWEEP_EVERY:
        _swept[id(engine)] = now
        sweep(engine, now, settings)
    return value, row


def find(engine: Engine, value: str | None, now: datetime, settings: Settings) -> WebSessionRow | None:
    """The live session a cookie names, or None (an expired one is removed)."""
    if not value or len(value) > 200:
        return None
    key = _digest(value)
    with Session(engine) as session, session.begin():
        row = session.get(WebSessionRow, key)
        if row is None:
            return None
        idle = now - row.last_seen_at > timedelta(minutes=settings.session_idle_minutes)
        old = now - row.created_at > timedelta(hours=settings.session_max_hours)
        if idle or old:
            session.delete(row)
            return None
        if now - row.last_seen_at > TOUCH_EVERY:
            row.last_seen_at = now
            session.add(row)
        session.flush()
        session.expunge(row)
        return row


def replace(engine: Engine, old: str | None, stage: str, now: datetime, address: str | None,
            staff_id: str | None = None, role: str | None = None,
            school_id: str | None = None) -> tuple[str, WebSessionRow]:
    """End the session ``old`` names and start another under a new id (at each step of signing in)."""
    end(engine, old)
    return create(engine, stage, now, address, staff_id, role, school_id)


def end(engine: Engine, value: str | None) -> None:
    if value:
        with Session(engine) as session, session.begin():
            session.exec(delete(WebSessionRow).where(col(WebSessionRow.session_sha256) == _digest(value)))


def end_all(engine: Engine, staff_id: str) -> None:
    """Sign a person out everywhere (a new password)."""
    with Session(engine) as session, session.begin():
        session.exec(delete(WebSessionRow).where(col(WebSessionRow.staff_id) == staff_id))


def sweep(engine: Engine, now: datetime, settings: Settings) -> int:
    """Remove sessions past their idle or absolute limit."""
    idle = now - timedelta(minutes=settings.session_idle_minutes)
    old = now - timedelta(hours=settings.session_max_hours)
    with Session(engine) as session, session.begin():
        result = session.exec(delete(WebSessionRow).where(
            (col(WebSessionRow.last_seen_at) < idle) | (col(WebSessionRow.created_at) < old)))
        return result.rowcount or 0


def csrf_ok(row: WebSessionRow | None, sent: str | None) -> bool:
    return row is not None and sent is not None and hmac.compare_digest(row.csrf, sent)


def principal(row: WebSessionRow | None) -> Principal | None:
    """The person a signed-in session is for, in the role they signed in with."""
    if row is None or row.stage != Stage.signed_in or row.staff_id is None or row.role is None:
        return None
    return Principal(staff_id=row.staff_id, role=StaffRole(row.role), school_id=row.school_id)


def set_cookie(response: Response, value: str, secure: bool) -> None:
    response.set_cookie(COOKIE, value, httponly=True, samesite="strict", secure=secure, path="/")


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")
