"""Signing in to the staff app: invitation, password, second factor, sign-out.

``/ui/setup``: with the code ``crisisflow staff invite`` printed, a person sets their password and
(for roles that see students' names) enrols their authenticator app at ``/ui/enrol``.
``/ui/login``: staff id and password, then ``/ui/login/code`` for the TOTP code. Each step that
gets further replaces the session with a new id. Every try, right or wrong, is in the access log.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from api import sessions
from api.access import Access
from api.auth import Principal
from api.web import accounts
from api.web.gate import check_csrf, client_address, ensure_session, session_of
from api.web.render import PageError, bj, page
from db import directory
from db.tables import StaffRow
from models.domain import StaffRole

router = APIRouter(prefix="/ui", include_in_schema=False)
Text = Annotated[str, Form(max_length=300)]


def _safe_next(value: str | None) -> str:
    """Only a path of this app: never another site (an open redirect)."""
    if value and value.startswith("/ui") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui"


def _first_role(person: StaffRow) -> StaffRole:
    return StaffRole(person.roles[0])


def _principal(person: StaffRow, role: StaffRole | None = None) -> Principal:
    return Principal(staff_id=person.staff_id, role=role or _first_role(person), school_id=person.school_id)


def _go(request: Request, url: str, cookie: str | None = None) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    if cookie:
        sessions.set_cookie(response, cookie, secure=request.url.scheme == "https")
    return response


def _advance(request: Request, person: StaffRow, stage: str, next_url: str) -> RedirectResponse:
    """The next step of signing in, under a new session id."""
    now = datetime.now(UTC)
    value, _ = sessions.replace(request.app.state.engine, request.cookies.get(sessions.COOKIE), stage, now,
                                client_address(request), person.staff_id, _first_role(person).value,
                                person.school_id)
    target = {sessions.Stage.signed_in: next_url, sessions.Stage.second_factor: "/ui/login/code",
              sessions.Stage.enrol: "/ui/enrol"}[stage]
    if stage != sessions.Stage.signed_in:
        target += f"?next={quote(next_url, safe='')}"
    return _go(request, target, value)


@router.get("/login")
async def login_form(request: Request, next: str | None = None):
    ensure_session(request)
    return page(request, "login.html", next=_safe_next(next), staff_id="", error=None)


@router.post("/login")
async def login(request: Request, staff_id: Text = "", password: Annotated[str, Form(max_length=400)] = "",
                next: Text = "/ui", csrf: Text = ""):
    engine, settings, now = request.app.state.engine, request.app.state.settings, datetime.now(UTC)
    check_csrf(request, {"csrf": csrf})
    staff_id, address, next_url = staff_id.strip(), client_address(request), _safe_next(next)
    person = directory.person(engine, staff_id) if staff_id else None
    request.state.access = Access(_principal(person) if person else None, "sign in", claimed=staff_id)
    if accounts.limited(engine, staff_id, address, now, settings):
        return page(request, "login.html", status_code=429, next=next_url, staff_id=staff_id,
                    error=f"错误次数过多，已暂停从此设备登录此账号。请 {settings.signin_window_seconds} 秒后再试。")
    if (held := accounts.slowdown(engine, staff_id, address, now, settings)) > 0:
        await asyncio.sleep(held)  # many wrong tries at this account or from this address: slower, never refused
    if person is not None and accounts.password_voided(engine, staff_id):
        return page(request, "login.html", status_code=403, next=next_url, staff_id=staff_id, error=_voided(settings))
    if person is None or not await run_in_threadpool(accounts.check_password, engine, staff_id, password):
        accounts.record_failure(engine, staff_id, address, now)
        return page(request, "login.html", status_code=401, next=next_url, staff_id=staff_id,
                    error="工号或密码不正确。")
    if not accounts.needs_second_factor(person.roles, settings):
        return _advance(request, person, sessions.Stage.signed_in, next_url)
    if accounts.enrolled(accounts.account(engine, staff_id)):
        return _advance(request, person, sessions.Stage.second_factor, next_url)
    return _advance(request, person, sessions.Stage.enrol, next_url)


def _pending(request: Request, stage: str) -> StaffRow:
    row = session_of(request)
    if row is None or row.stage != stage or row.staff_id is None:
        raise PageError(401, "登录已过期，请重新登录。")
    person = directory.person(request.app.state.engine, row.staff_id)
    if person is None:
        raise PageError(401, "此账号已不在学校名录中。")
    return person


@router.get("/login/code")
async def code_form(request: Request, next: str | None = None):
    _pending(request, sessions.Stage.second_factor)
    return page(request, "login_code.html", next=_safe_next(next), error=None)


@router.post("/login/code")
async def code(request: Request, code: Annotated[str, Form(max_length=20)] = "", next: Text = "/ui",
               csrf: Text = ""):
    engine, settings, now = request.app.state.engine, request.app.state.settings, datetime.now(UTC)
    check_csrf(request, {"csrf": csrf})
    person = _pending(request, sessions.Stage.second_factor)
    request.state.access = Access(_principal(person), "sign in: second factor")
    address = client_address(request)
    if (paused := accounts.code_paused_until(engine, person.staff_id, now)) is not None:
        return page(request, "login_code.html", status_code=429, next=_safe_next(next),
                    error=_paused(paused))
    if not accounts.check_code(engine, person.staff_id, code, now):
        accounts.record_failure(engine, person.staff_id, address, now, kind="code")
        paused, voided = accounts.code_failed(engine, person.staff_id, now, settings)
        if voided:
            sessions.end_all(engine, person.staff_id)  # and this one: the sign-in form starts afresh
            value, row = sessions.create(engine, sessions.Stage.anonymous, now, address, settings=settings)
            request.state.web_session, request.state.new_cookie = row, value
            return page(request, "login.html", status_code=403, next="/ui", staff_id=person.staff_id,
                        error=_voided(settings))
        if paused is not None:
            return page(request, "login_code.html", status_code=429, next=_safe_next(next),
                        error=_paused(paused))
        return page(request, "login_code.html", status_code=401, next=_safe_next(next),
                    error="验证码不正确或已使用过，请输入身份验证器上的新验证码。")
    row = accounts.account(engine, person.staff_id)
    if row is not None and row.code_failures_untold:  # the person is told of the wrong codes first
        return _advance(request, person, sessions.Stage.signed_in,
                        f"/ui/signin-notice?next={quote(_safe_next(next), safe='')}")
    return _advance(request, person, sessions.Stage.signed_in, _safe_next(next))


def _voided(settings) -> str:
    return (f"此账号的动态验证码连续错误 {settings.totp_failures_to_reset} 次，为保护学生信息，密码已失效。"
            "请联系学校管理员重新发放邀请码，设置新密码。")


def _paused(until: datetime) -> str:
    return (f"验证码错误次数过多，账号已暂停登录，至北京时间 {bj(until, with_date=False)} 后再试。"
            "如果不是您本人在登录，请立即联系学校管理员。")


@router.get("/setup")
async def setup_form(request: Request, code: str = ""):
    ensure_session(request)
    return page(request, "setup.html", code=code[:64], errors={})


@router.post("/setup")
async def setup(request: Request, code: Text = "", password: Annotated[str, Form(max_length=400)] = "",
                again: Annotated[str, Form(max_length=400)] = "", csrf: Text = ""):
    engine, settings, now = request.app.state.engine, request.app.state.settings, datetime.now(UTC)
    check_csrf(request, {"csrf": csrf})
    row = accounts.redeem(engine, code, now)
    person = directory.person(engine, row.staff_id) if row else None
    request.state.access = Access(_principal(person) if person else None, "set a password",
                                  claimed=row.staff_id if row else None)
    if person is None:
        return page(request, "setup.html", status_code=400, code=code,
                    errors={"code": "邀请码无效或已过期，请向学校管理员重新申请。"})
    if problem := accounts.password_problem(person.staff_id, password, again):
        return page(request, "setup.html", status_code=400, code=code, errors={problem[0]: problem[1]})
    try:
        await run_in_threadpool(accounts.set_password, engine, code, password, now)
    except accounts.AccountError as exc:
        return page(request, "setup.html", status_code=400, code=code, errors={exc.field: str(exc)})
    sessions.end_all(engine, person.staff_id)
    if accounts.needs_second_factor(person.roles, settings):
        return _advance(request, person, sessions.Stage.enrol, "/ui")
    return _advance(request, person, sessions.Stage.signed_in, "/ui")


def _enrolment(request: Request, person: StaffRow) -> dict:
    engine = request.app.state.engine
    secret = accounts.enrolment_secret(engine, person.staff_id, datetime.now(UTC))
    school = directory.school(engine, person.school_id)
    uri = accounts.provisioning_uri(secret, person.staff_id, school.name if school else person.school_id)
    return {"secret": " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)), "qr": accounts.qr_svg(uri),
            "uri": uri}


@router.get("/enrol")
async def enrol_form(request: Request, next: str | None = None):
    person = _pending(request, sessions.Stage.enrol)
    return page(request, "enrol.html", next=_safe_next(next), error=None, **_enrolment(request, person))


@router.post("/enrol")
async def enrol(request: Request, code: Annotated[str, Form(max_length=20)] = "", next: Text = "/ui",
                csrf: Text = ""):
    engine, now = request.app.state.engine, datetime.now(UTC)
    check_csrf(request, {"csrf": csrf})
    person = _pending(request, sessions.Stage.enrol)
    request.state.access = Access(_principal(person), "enrol a second factor")
    if not accounts.check_code(engine, person.staff_id, code, now, confirming=True):
        return page(request, "enrol.html", status_code=400, next=_safe_next(next),
                    error="验证码不正确。请确认手机时间准确，并输入身份验证器上当前显示的 6 位数字。",
                    **_enrolment(request, person))
    return _advance(request, person, sessions.Stage.signed_in, _safe_next(next))


@router.post("/logout")
async def logout(request: Request, csrf: Text = ""):
    check_csrf(request, {"csrf": csrf})
    principal = sessions.principal(session_of(request))
    if principal is not None:
        request.state.access = Access(principal, "sign out")
    sessions.end(request.app.state.engine, request.cookies.get(sessions.COOKIE))
    response = _go(request, "/ui/login")
    sessions.clear_cookie(response)
    return response


@router.post("/role")
async def switch_role(request: Request, role: Text = "", csrf: Text = ""):
    """A person with several roles works in one at a time; the session changes role, not person."""
    check_csrf(request, {"csrf": csrf})
    row = session_of(request)
    principal = sessions.principal(row)
    if principal is None:
        return _go(request, "/ui/login")
    person = directory.person(request.app.state.engine, principal.staff_id)
    if person is None or role not in person.roles:
        raise PageError(403, "您在学校名录中没有这个角色。")
    request.state.access = Access(principal, f"switch role to {role}")
    value, _ = sessions.replace(request.app.state.engine, request.cookies.get(sessions.COOKIE),
                                sessions.Stage.signed_in, datetime.now(UTC), client_address(request),
                                person.staff_id, role, person.school_id)
    return _go(request, "/ui", value)
