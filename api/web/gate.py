"""Who is looking at a page: the session behind the cookie, the person, their role and reach.

Every page and form of the staff app goes through here (``page_gate``, by the pages' rules in the
one access table, ``api.access.PAGES``). A page without a signed-in session sends the browser to
sign in; every form post must carry the session's CSRF token; a case outside the
person's school, or outside a head teacher's classes or a grade head's grades, does not exist for
them (404, as the API says for another class). Each page view is written to the access log, like
each API call.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import Request

from api import sessions
from api.access import Access, reaches, sees_identity
from api.auth import Principal
from api.web.render import PageError
from db import directory, store
from db.tables import StaffRow, WebSessionRow
from models.case import CaseData
from models.domain import SCHOOL_ROLES, StaffRole


class SignInFirst(Exception):
    """No signed-in session: the browser goes to the sign-in page, then back to ``next``."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def session_of(request: Request) -> WebSessionRow | None:
    if not hasattr(request.state, "web_session"):
        request.state.web_session = sessions.find(request.app.state.engine, request.cookies.get(sessions.COOKIE),
                                                  datetime.now(UTC), request.app.state.settings)
    return request.state.web_session


def ensure_session(request: Request) -> WebSessionRow:
    """The browser's session, begun anonymous if it has none (a sign-in form needs its CSRF token)."""
    row = session_of(request)
    if row is None:
        value, row = sessions.create(request.app.state.engine, sessions.Stage.anonymous, datetime.now(UTC),
                                     client_address(request), settings=request.app.state.settings)
        request.state.web_session, request.state.new_cookie = row, value
    return row


def client_address(request: Request) -> str:
    return request.client.host if request.client else "-"


def page_gate(request: Request) -> None:
    """The dependency in front of every page: the page's rule in the one access table
    (``api.access.PAGES``), the same roles and scopes as the API's. Public pages (signing in) pass;
    any other needs a signed-in session (or ``SignInFirst``) of a role the rule lets in (else a 403
    page in the rule's words). The view is noted for the access log."""
    rule = request.app.state.rules[(request.method, request.scope["endpoint"])]
    if rule.public:
        return
    principal = sessions.principal(session_of(request))
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInFirst(target)
    request.state.viewer = principal
    request.state.person = directory.person(request.app.state.engine, principal.staff_id)
    request.state.access = Access(principal, rule.what, None)
    scope = rule.roles.get(principal.role)
    if scope is None:
        raise PageError(403, rule.refusal or "您的角色不能查看这个页面。")
    _in_reach(request, principal, scope)


def _in_reach(request: Request, principal: Principal, scope) -> None:
    """The API's scope rule for the record a page names (a case, a document), before anything of the
    request is read: outside the person's reach it does not exist for them (404, as the API says for
    another class)."""
    engine = request.app.state.engine
    case_id, school = request.path_params.get("case_id"), None
    if watch_id := request.path_params.get("watch_id"):
        found = store.watch_school(engine, watch_id[:64])
        classes = directory.visible_classes(engine, principal.staff_id, principal.role)
        if found is None or not reaches(scope, principal, engine, found[0]) or (
                classes is not None and found[1] not in classes):
            raise PageError(404, "找不到这位重点关注学生。")
    if document_id := request.path_params.get("document_id"):
        owner = store.document_owner(engine, document_id[:160])
        if owner is None:
            raise PageError(404, "找不到这份文书。")
        school, case_id = owner[0], case_id or owner[1]
    if case_id is not None:
        request.state.access.case_id = case_id[:64]
        school = store.case_school(engine, case_id[:64])
        if school is None:
            raise PageError(404, "找不到这个个案。")
    if school is not None and not reaches(scope, principal, engine, school):
        raise PageError(404, "找不到这个个案。")
    if case_id is not None:
        classes = directory.visible_classes(engine, principal.staff_id, principal.role)
        if not store.sees_case(engine, case_id[:64], principal.staff_id, classes):
            raise PageError(404, "找不到这个个案。")


def viewer(request: Request, what: str | None = None, case_id: str | None = None) -> Principal:
    """The signed-in person the gate let in; ``what`` and ``case_id`` refine the access log's entry."""
    principal = request.state.viewer
    if what:
        request.state.access.what = what
    if case_id:
        request.state.access.case_id = case_id[:64]
    return principal


def check_csrf(request: Request, form) -> None:
    """A form post must carry this session's CSRF token (a page of another site cannot know it)."""
    if not sessions.csrf_ok(session_of(request), form.get("csrf")):
        raise PageError(403, "表单已过期或来源不明，未保存。请返回、刷新页面后重新提交。")


def sign_in_url(next_url: str) -> str:
    return f"/ui/login?next={quote(next_url, safe='')}"


def case_in_reach(request: Request, principal: Principal, case_id: str) -> CaseData:
    """The case a page names. ``page_gate`` has already judged the person's reach (school, class, the
    case a document belongs to): outside it, and for any role but a school's, it does not exist (404)."""
    data = store.load_case(request.app.state.engine, case_id[:64]) if principal.role in SCHOOL_ROLES else None
    if data is None:
        raise PageError(404, "找不到这个个案。")
    return data


def student_label(principal: Principal, data: CaseData) -> str:
    """The student as this person may see them: the name, or the school's reference."""
    return data.student.name if sees_identity(principal) else f"学号 {data.student.ref}"


def roles_of(person: StaffRow | None, principal: Principal) -> list[StaffRole]:
    return [StaffRole(r) for r in person.roles] if person else [principal.role]
