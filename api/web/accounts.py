"""People's sign-in to the staff app: passwords (argon2, ``pwdlib``), the TOTP second factor
(``pyotp``), one-time invitations, and the limits on wrong guesses.

- Only people of the directory have accounts. ``crisisflow staff invite ID`` prints a one-time code
  (and the link that carries it): with it the person sets their own password, and, for every role
  that may see who the student is, enrols an authenticator app by QR code. A new invitation for
  an existing account is how a forgotten password is reset; using it signs the person out everywhere.
- A wrong password or code is recorded (``signin_failures``). Past ``signin_failures_per_account``
  in ``signin_window_seconds`` an account takes no more tries, right or wrong, until the window has
  moved on; an address likewise past ``signin_failures_per_address``. The person can sign in again
  later; an attacker gets a handful of guesses a minute.
- A TOTP code is good once (the last time step accepted is kept), within one step of the clock.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import pyotp
import segno
from pwdlib import PasswordHash
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from config.settings import Settings
from db.tables import SigninFailureRow, StaffAccountRow, StaffRow
from models.domain import SEES_STUDENT_IDENTITY, StaffRole

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 200
ISSUER = "crisisflow"
_HASHER = PasswordHash.recommended()
#: verified when the account is unknown, so that the answer takes as long either way
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
#: invitation codes in letters a person can read out and type on a phone (no 0/O, 1/I)
_CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class AccountError(ValueError):
    """Why an invitation cannot be issued or a password not set; names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def needs_second_factor(roles: list[str] | list[StaffRole], settings: Settings) -> bool:
    """TOTP for every person holding a role that may see who the student is (unless switched off in dev)."""
    return settings.totp and any(StaffRole(r) in SEES_STUDENT_IDENTITY for r in roles)


def _digest(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().upper().encode()).hexdigest()


def person(engine: Engine, staff_id: str) -> StaffRow | None:
    with Session(engine) as session:
        return session.get(StaffRow, staff_id)


def account(engine: Engine, staff_id: str) -> StaffAccountRow | None:
    with Session(engine) as session:
        return session.get(StaffAccountRow, staff_id)


def invite(engine: Engine, staff_id: str, now: datetime, settings: Settings) -> str:
    """A one-time code with which the person sets their password (replacing any earlier code)."""
    if person(engine, staff_id) is None:
        raise AccountError("staff_id", f"{staff_id} is not a person of the directory")
    raw = "".join(secrets.choice(_CODE_LETTERS) for _ in range(16))
    code = "-".join(raw[i:i + 4] for i in range(0, 16, 4))
    with Session(engine) as session, session.begin():
        row = session.get(StaffAccountRow, staff_id) or StaffAccountRow(staff_id=staff_id, updated_at=now)
        row.invite_sha256 = _digest(code)
        row.invite_expires_at = now + timedelta(hours=settings.invite_valid_hours)
        row.updated_at = now
        session.add(row)
    return code


def redeem(engine: Engine, code: str, now: datetime) -> StaffAccountRow | None:
    """The account a still-valid invitation code is for."""
    if not code or len(code) > 64:
        return None
    with Session(engine) as session:
        row = session.exec(select(StaffAccountRow).where(col(StaffAccountRow.invite_sha256) == _digest(code))).first()
    if row is None or row.invite_expires_at is None or row.invite_expires_at < now:
        return None
    return row


def password_problem(staff_id: str, password: str, again: str) -> tuple[str, str] | None:
    """(field, reason) when a new password will not do."""
    if len(password) < MIN_PASSWORD_CHARS:
        return "password", f"至少 {MIN_PASSWORD_CHARS} 个字符"
    if len(password) > MAX_PASSWORD_CHARS:
        return "password", f"最多 {MAX_PASSWORD_CHARS} 个字符"
    if staff_id.lower() in password.lower() or len(set(password)) < 5:
        return "password", "太容易猜到：不要包含工号，也不要重复同几个字符"
    if password != again:
        return "again", "两次输入的密码不一致"
    return None


def set_password(engine: Engine, code: str, password: str, now: datetime) -> str:
    """Use an invitation: the password is set and the code spent; returns the staff id."""
    digest = _HASHER.hash(password)
    with Session(engine) as session, session.begin():
        row = session.exec(select(StaffAccountRow).where(col(StaffAccountRow.invite_sha256) == _digest(code))
                           .with_for_update()).first()
        if row is None or row.invite_expires_at is None or row.invite_expires_at < now:
            raise AccountError("code", "邀请码无效或已过期，请向学校管理员重新申请")
        row.password_hash, row.password_set_at = digest, now
        row.invite_sha256 = row.invite_expires_at = None
        # a reset starts the second factor afresh too: the old phone may be the reason for the reset
        row.totp_secret = row.totp_confirmed_at = row.totp_last_step = None
        row.updated_at = now
        session.add(row)
        return row.staff_id


def check_password(engine: Engine, staff_id: str, password: str) -> bool:
    row = account(engine, staff_id) if staff_id else None
    if row is None or row.password_hash is None or len(password) > MAX_PASSWORD_CHARS:
        _HASHER.verify(password[:MAX_PASSWORD_CHARS], _DUMMY_HASH)
        return False
    return _HASHER.verify(password, row.password_hash)


def enrolment_secret(engine: Engine, staff_id: str, now: datetime) -> str:
    """The TOTP secret being enrolled (made once, kept until confirmed)."""
    with Session(engine) as session, session.begin():
        row = session.get(StaffAccountRow, staff_id)
        if row.totp_secret is None or row.totp_confirmed_at is not None:
            row.totp_secret, row.totp_confirmed_at, row.totp_last_step = pyotp.random_base32(), None, None
            row.updated_at = now
            session.add(row)
        return row.totp_secret


def provisioning_uri(secret: str, staff_id: str, school_name: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=f"{staff_id}@{school_name}", issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The enrolment QR code as inline SVG (drawn here: nothing leaves for a QR service)."""
    return segno.make(uri, error="m").svg_inline(scale=5, border=2, title="TOTP")


def check_code(engine: Engine, staff_id: str, code: str, now: datetime, confirming: bool = False) -> bool:
    """A TOTP code of the person's app, each good once; ``confirming`` finishes an enrolment."""
    code = (code or "").replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return False
    with Session(engine) as session, session.begin():
        row = session.exec(select(StaffAccountRow).where(col(StaffAccountRow.staff_id) == staff_id)
                           .with_for_update()).first()
        if row is None or row.totp_secret is None or (row.totp_confirmed_at is None) != confirming:
            return False
        totp = pyotp.TOTP(row.totp_secret)
        current = totp.timecode(now)
        step = next((s for s in (current, current - 1, current + 1)
                     if secrets.compare_digest(totp.generate_otp(s), code)), None)
        if step is None or (row.totp_last_step is not None and step <= row.totp_last_step):
            return False
        row.totp_last_step = step
        if confirming:
            row.totp_confirmed_at = now
        row.updated_at = now
        session.add(row)
        return True


def enrolled(row: StaffAccountRow | None) -> bool:
    return row is not None and row.totp_confirmed_at is not None


def record_failure(engine: Engine, staff_id: str, address: str, now: datetime) -> None:
    with Session(engine) as session, session.begin():
        session.add(SigninFailureRow(at=now, staff_id=staff_id[:64], address=address[:64]))


def limited(engine: Engine, staff_id: str, address: str, now: datetime, settings: Settings) -> bool:
    """Has this account, or this address, used up its wrong tries for now?"""
    since = now - timedelta(seconds=settings.signin_window_seconds)
    with Session(engine) as session:
        by_account = session.exec(select(func.count()).select_from(SigninFailureRow).where(
            col(SigninFailureRow.staff_id) == staff_id[:64], col(SigninFailureRow.at) > since)).one()
        by_address = session.exec(select(func.count()).select_from(SigninFailureRow).where(
            col(SigninFailureRow.address) == address[:64], col(SigninFailureRow.at) > since)).one()
    return by_account >= settings.signin_failures_per_account or by_address >= settings.signin_failures_per_address


def set_up_directly(engine: Engine, staff_id: str, password: str, now: datetime, with_totp: bool) -> str | None:
    """Give a person a password (and a confirmed TOTP secret) at once: the demo people of
    ``crisisflow dev``, whose sign-ins it prints. Returns the TOTP secret."""
    with Session(engine) as session, session.begin():
        row = session.get(StaffAccountRow, staff_id) or StaffAccountRow(staff_id=staff_id, updated_at=now)
        row.password_hash, row.password_set_at, row.updated_at = _HASHER.hash(password), now, now
        if with_totp and row.totp_confirmed_at is None:
            row.totp_secret, row.totp_confirmed_at, row.totp_last_step = pyotp.random_base32(), now, None
        session.add(row)
        return row.totp_secret if with_totp else None
