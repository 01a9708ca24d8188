"""People's sign-in to the staff app: passwords (argon2, ``pwdlib``), the TOTP second factor
(``pyotp``), one-time invitations, and the limits on wrong guesses.

- Only people of the directory have accounts. ``crisisflow staff invite ID`` prints a one-time code
  (and the link that carries it): with it the person sets their own password, and, for every role
  that may see who the student is, enrols an authenticator app by QR code. A new invitation for
  an existing account is how a forgotten password is reset; using it signs the person out everywhere.
- A wrong password or code is recorded (``signin_failures``). Limits must not be a switch that
  locks people out: past ``signin_failures_per_account`` wrong passwords in ``signin_window_seconds``
  from one address at one account, that address takes no more tries at that account for the window
  (the person elsewhere signs in); past ``signin_failures_per_address`` at one account from anywhere,
  or from one address at any account (a school's staff behind one address), each answer is slowed,
  doubling up to ``signin_slowdown_max_seconds``, never refused.
- A wrong TOTP code comes from someone who has the password. Every ``totp_failures_per_pause`` in a
  row pause the account, longer each time (``totp_pause_minutes``); at ``totp_failures_to_reset`` the
  password is void and only a new invitation sets another. The person is told: on the code page
  while paused, on the sign-in page once void, and on their first page after signing in (how many
  wrong codes, the last one when).
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


#: the roles that sign in with a second factor: every role that reads students' names, at a school or at the
#: education authority (its reports name the student)
SECOND_FACTOR = SEES_STUDENT_IDENTITY | {StaffRole.edu_authority}


def needs_second_factor(roles: list[str] | list[StaffRole], settings: Settings) -> bool:
    """TOTP for every person holding a role that reads students' names (unless switched off in dev)."""
    return settings.totp and any(StaffRole(r) in SECOND_FACTOR for r in roles)


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
        row.code_failures, row.code_paused_until, row.password_voided_at = 0, None, None
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
        row.code_failures, row.code_paused_until = 0, None
        if confirming:
            row.totp_confirmed_at = now
        row.updated_at = now
        session.add(row)
        return True


def enrolled(row: StaffAccountRow | None) -> bool:
    return row is not None and row.totp_confirmed_at is not None


def record_failure(engine: Engine, staff_id: str, address: str, now: datetime, kind: str = "password") -> None:
    with Session(engine) as session, session.begin():
        session.add(SigninFailureRow(at=now, staff_id=staff_id[:64], address=address[:64], kind=kind))


def _failures(session: Session, since: datetime, *where) -> int:
    return session.exec(select(func.count()).select_from(SigninFailureRow).where(
        col(SigninFailureRow.at) > since, *where)).one()


def limited(engine: Engine, staff_id: str, address: str, now: datetime, settings: Settings) -> bool:
    """Has this address used up its wrong passwords at this account for now? (Only this pair: the person
    at another address still signs in.)"""
    since = now - timedelta(seconds=settings.signin_window_seconds)
    with Session(engine) as session:
        pair = _failures(session, since, col(SigninFailureRow.staff_id) == staff_id[:64],
                         col(SigninFailureRow.address) == address[:64], col(SigninFailureRow.kind) == "password")
    return pair >= settings.signin_failures_per_account


def slowdown(engine: Engine, staff_id: str, address: str, now: datetime, settings: Settings) -> float:
    """How long to hold this answer back: nothing until the account (from anywhere) or the address (at
    any account) passes ``signin_failures_per_address`` in the window, then doubling per failure."""
    since = now - timedelta(seconds=settings.signin_window_seconds)
    with Session(engine) as session:
        account_wide = _failures(session, since, col(SigninFailureRow.staff_id) == staff_id[:64])
        address_wide = _failures(session, since, col(SigninFailureRow.address) == address[:64])
    excess = max(account_wide, address_wide) - settings.signin_failures_per_address
    return 0.0 if excess < 0 else min(settings.signin_slowdown_max_seconds, 0.25 * 2 ** min(excess, 16))


def code_paused_until(engine: Engine, staff_id: str, now: datetime) -> datetime | None:
    """Until when wrong codes have paused the account (None: not paused)."""
    row = account(engine, staff_id)
    until = row.code_paused_until if row else None
    return until if until is not None and until > now else None


def password_voided(engine: Engine, staff_id: str) -> bool:
    row = account(engine, staff_id) if staff_id else None
    return row is not None and row.password_voided_at is not None and row.password_hash is None


def code_failed(engine: Engine, staff_id: str, now: datetime, settings: Settings) -> tuple[datetime | None, bool]:
    """Count a wrong code: the pause it starts (if any), and whether it voided the password (every session
    of the person then ends; a new invitation sets another)."""
    with Session(engine) as session, session.begin():
        row = session.exec(select(StaffAccountRow).where(col(StaffAccountRow.staff_id) == staff_id)
                           .with_for_update()).first()
        if row is None:
            return None, False
        row.code_failures += 1
        row.code_failures_untold += 1
        row.last_code_failure_at = row.updated_at = now
        voided = row.code_failures >= settings.totp_failures_to_reset
        paused = None
        if voided:
            row.password_hash, row.password_voided_at, row.code_paused_until = None, now, None
        elif row.code_failures % settings.totp_failures_per_pause == 0:
            step = row.code_failures // settings.totp_failures_per_pause - 1
            minutes = settings.totp_pause_minutes[min(step, len(settings.totp_pause_minutes) - 1)]
            row.code_paused_until = paused = now + timedelta(minutes=minutes)
        session.add(row)
    return paused, voided


def untold_code_failures(engine: Engine, staff_id: str) -> tuple[int, datetime | None]:
    """The wrong codes the person has not been told of, and the last one's time; telling clears them."""
    with Session(engine) as session, session.begin():
        row = session.get(StaffAccountRow, staff_id)
        if row is None or not row.code_failures_untold:
            return 0, None
        told = row.code_failures_untold, row.last_code_failure_at
        row.code_failures_untold = 0
        session.add(row)
        return told


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
