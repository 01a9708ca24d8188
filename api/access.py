"""Who may call what, on which school's cases: the one table, and its enforcement.

Every route of the API has one entry in ``RULES``, keyed ``"METHOD path"``;
``create_app`` refuses to start when a route has none, and the test matrix
(tests/test_access.py) is generated from this table and the OpenAPI schema.
Which roles may ask for a case action comes from the transition table
(``workflows.machine``), never from here.

Scopes: ``own`` means the case (or the school in the query or body) must be
the caller's school; ``any`` is for the authority's auditors, across schools.
A refusal is 403 naming the role and what it may not do; an unknown case is
404. Every call by an identified caller is written to the access log
(allowed or refused, with the status) before the response leaves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api import sessions
from api.auth import Principal, TokenError, read_token
from db import directory, store
from intake.jobs import IMPORTERS
from models.domain import CASE_WORKERS, SCHOOL_ROLES, SEES_STUDENT_IDENTITY, SUPERVISOR_ROLES, Action, StaffRole
from workflows.help_workflow import HELPERS
from workflows.incident_workflow import WRITERS
from workflows.machine import ACTIONS, STAFF_ACTIONS, roles_for
from workflows.watch_workflow import REVIEWERS as WATCH_REVIEWERS

PREFIX = "/api/v1"


class Scope(StrEnum):
    own = "own school"
    any = "any school"
    overseen = "the schools the caller's authority oversees"


@dataclass(frozen=True)
class Rule:
    what: str
    roles: Mapping[StaffRole, Scope] = field(default_factory=dict)
    public: bool = False
    #: the route shows decoded student data: only roles that see identity (auditors with the grant)
    identity: bool = False
    #: the staff app's session cookie may stand in for the bearer token (the Temporal UI's codec calls)
    cookie: bool = False
    #: a page's refusal, in the words the staff app shows (pages only; the API answers ``what``)
    refusal: str = ""


def _own(roles) -> dict[StaffRole, Scope]:
    return {r: Scope.own for r in roles}


AUDITOR = {StaffRole.auditor: Scope.any}
#: An education authority's people: the schools the directory lists for their authority.
AUTHORITY = {StaffRole.edu_authority: Scope.overseen}

#: Who records an extreme event and writes its review; who reads them in the school.
INCIDENT_WRITERS = WRITERS
INCIDENT_READERS = INCIDENT_WRITERS | SUPERVISOR_ROLES

#: The API path of each staff action on a case, from the transition table's catalogue; the roles are its rows'.
ACTION_PATHS: dict[Action, str] = {action: ACTIONS[action].path for action in STAFF_ACTIONS}

#: Who uploads a guardian notice's signed receipt: the roles of the actions it records (API and page alike).
RECEIPT_WRITERS = roles_for(Action.guardian_notice) | roles_for(Action.guardian_response)

RULES: dict[str, Rule] = {
    f"GET {PREFIX}/health": Rule("check health", public=True),
    f"POST {PREFIX}/cases": Rule("open a case", _own(roles_for(Action.open))),
    f"GET {PREFIX}/cases": Rule("list cases", _own(SCHOOL_ROLES)),
    f"GET {PREFIX}/cases/{{case_id}}": Rule("read a case", _own(SCHOOL_ROLES)),
    f"GET {PREFIX}/cases/{{case_id}}/notifications": Rule("read a case's notifications", _own(CASE_WORKERS)),
    f"GET {PREFIX}/cases/{{case_id}}/documents": Rule("list a case's documents", _own(CASE_WORKERS)),
    f"POST {PREFIX}/cases/{{case_id}}/documents/{{kind}}/remake": Rule(
        "make a failed document again", _own({StaffRole.leadership, StaffRole.psychology_teacher})),
    f"GET {PREFIX}/documents/{{document_id}}": Rule("read a document", {**_own(SEES_STUDENT_IDENTITY), **AUTHORITY}),
    f"GET {PREFIX}/cases/{{case_id}}/history": Rule("read a case's history", {**_own(SUPERVISOR_ROLES), **AUDITOR}),
    f"GET {PREFIX}/cases/{{case_id}}/history/export": Rule("export a history", AUDITOR),
    f"POST {PREFIX}/audit/replay": Rule("replay histories", AUDITOR),
    f"GET {PREFIX}/audit/access-log": Rule("read the access log", {StaffRole.leadership: Scope.own, **AUDITOR}),
    f"POST {PREFIX}/cases/{{case_id}}/documents/{{document_id}}/signed": Rule(
        "upload a signed paper", _own(RECEIPT_WRITERS)),

    f"GET {PREFIX}/cases/{{case_id}}/documents/{{document_id}}/signed/{{copy_id}}": Rule(
        "read a signed paper", _own(SEES_STUDENT_IDENTITY)),
    f"GET {PREFIX}/dashboard": Rule("see the school dashboard", {**_own(SUPERVISOR_ROLES), **AUTHORITY}),
    f"GET {PREFIX}/term-reports": Rule("read the school's term reports",
                                       {**_own({StaffRole.leadership}), **AUTHORITY, **AUDITOR}),
    f"POST {PREFIX}/term-reports": Rule("send the school's term report", _own({StaffRole.leadership})),
    f"GET {PREFIX}/watchlist": Rule("read the watch list", _own(CASE_WORKERS)),
    f"POST {PREFIX}/watchlist/{{watch_id}}/review": Rule("review a watch-listed student", _own(WATCH_REVIEWERS)),
    f"POST {PREFIX}/incidents": Rule("record an extreme event", _own(INCIDENT_WRITERS)),
    f"GET {PREFIX}/incidents": Rule("list extreme events", {**_own(INCIDENT_READERS), **AUTHORITY, **AUDITOR}),
    f"GET {PREFIX}/incidents/{{incident_id}}": Rule("read an extreme event",
                                                    {**_own(INCIDENT_READERS), **AUTHORITY, **AUDITOR}),
    # the investigation is the authority's; events recorded before issue 28 are written by the school (the
    # workflow decides which, and who of them: the group's members)
    f"PUT {PREFIX}/incidents/{{incident_id}}/report": Rule("save a review report",
                                                           {**_own(INCIDENT_WRITERS), **AUTHORITY}),
    f"POST {PREFIX}/incidents/{{incident_id}}/submit": Rule("submit a review report",
                                                            {**_own(INCIDENT_WRITERS), **AUTHORITY}),
    f"PUT {PREFIX}/incidents/{{incident_id}}/group": Rule("form an investigation group", AUTHORITY),
    f"PUT {PREFIX}/incidents/{{incident_id}}/facts": Rule("give the school's account of an extreme event",
                                                          _own(INCIDENT_WRITERS)),
    f"GET {PREFIX}/reports": Rule("read reports to the authority",
                                  {StaffRole.leadership: Scope.own, **AUTHORITY, **AUDITOR}),
    f"GET {PREFIX}/directory": Rule("read the school directory", _own({StaffRole.leadership})),
    f"POST {PREFIX}/screenings": Rule("import screening results", _own(IMPORTERS)),
    f"GET {PREFIX}/screenings/{{job_id}}": Rule("read a screening import", _own(IMPORTERS)),
    f"GET {PREFIX}/students/{{student_ref}}": Rule("read a student's archive", _own(SEES_STUDENT_IDENTITY)),
    f"POST {PREFIX}/students/{{student_ref}}/transfer": Rule("transfer a student's archive",
                                                              _own({StaffRole.leadership})),
    "POST /codec/decode": Rule(
        "decode payloads", {**_own(SEES_STUDENT_IDENTITY), **AUDITOR}, identity=True, cookie=True
    ),
    "POST /codec/encode": Rule(
        "encode payloads", {**_own(SEES_STUDENT_IDENTITY), **AUDITOR}, identity=True, cookie=True
    ),
    **{
        f"POST {PREFIX}/cases/{{case_id}}/{path}": Rule(action.value.replace("_", " "), _own(roles_for(action)))
        for action, path in ACTION_PATHS.items()
    },
}


_SCHOOL_PAGE = "这些页面供学校教职工使用。教育主管部门请查看“报告”页面。"
_IDENTITY_PAGE = "这里有学生的身份信息，您的角色不能查看。"
_INCIDENT_PAGE = "极端事件由心理教师或心理危机干预领导小组记录，并提交学校情况说明；您的角色不能办理。"
_INVESTIGATION_PAGE = "调查工作小组由教育主管部门组建，您的角色不能办理。"
_IMPORT_PAGE = "筛查结果由心理教师或心理危机干预领导小组导入，您的角色不能使用这个页面。"
_SUPERVISOR_PAGE = "督导页面供学校心理危机干预领导小组、年级组长和学生处使用。"

#: The staff app's pages, in the same table: the same roles and scopes as the API's routes for the same
#: thing, and the words a page shows when it refuses. ``api.web.gate.page_gate`` enforces them; the
#: sign-in pages are public (each checks its own stage of signing in). An action's form is open to the
#: school's staff: whether this person may take the action is the transition table's (the door's) answer.
_HELP_PAGE = "只有心理教师、心理危机专家和心理危机干预领导小组成员可以查看求助。"

#: the staff app's pages and the public pages (the guardian's link): their rules are in PAGES, not the API's
PAGE_PREFIXES = ("/ui", "/g/", "/h/")

PAGES: dict[str, Rule] = {
    **{f"{method} /ui{path}": Rule(what, public=True) for method, path, what in (
        ("GET", "/login", "sign in: form"), ("POST", "/login", "sign in"),
        ("GET", "/login/code", "sign in: second factor form"), ("POST", "/login/code", "sign in: second factor"),
        ("GET", "/setup", "set a password: form"), ("POST", "/setup", "set a password"),
        ("GET", "/enrol", "enrol a second factor: form"), ("POST", "/enrol", "enrol a second factor"),
        ("POST", "/logout", "sign out"), ("POST", "/role", "switch role"))},
    # the guardian's one-time answer link (api/web/guardian.py): no account; the link and its code are the key,
    # and the page logs every read as the guardian's itself
    "GET /g/{token}": Rule("the guardian's answer link: open", public=True),
    "POST /g/{token}": Rule("the guardian's answer link: enter the code", public=True),
    "POST /g/{token}/answer": Rule("the guardian's answer link: answer", public=True),
    # a school's help page (api/web/help.py): anyone may ask, without an account
    "GET /h/{school_id}": Rule("the help page", public=True),
    "POST /h/{school_id}": Rule("ask for help", public=True),
    **{key: Rule(what, _own(HELPERS), refusal=_HELP_PAGE) for key, what in (
        ("GET /ui/help", "list help requests"), ("GET /ui/help/poster", "the help poster"),
        ("GET /ui/help/{help_id}", "read a help request"), ("POST /ui/help/{help_id}/close", "close a help request"))},
    "GET /ui": Rule("view my tasks", {**_own(SCHOOL_ROLES), **AUTHORITY}, refusal=_SCHOOL_PAGE),
    "GET /ui/signin-notice": Rule("view the sign-in notice", {**_own(SCHOOL_ROLES), **AUTHORITY}),
    "GET /ui/cases": Rule("list cases", _own(SCHOOL_ROLES), refusal=_SCHOOL_PAGE),
    "GET /ui/cases/new": Rule("open a case: form", _own(roles_for(Action.open)), refusal=_SCHOOL_PAGE),
    "POST /ui/cases/new": Rule("open a case", _own(roles_for(Action.open)), refusal=_SCHOOL_PAGE),
    "GET /ui/cases/{case_id}": Rule("view a case page", _own(SCHOOL_ROLES), refusal=_SCHOOL_PAGE),
    "GET /ui/cases/{case_id}/act/{action_name}": Rule("an action: form", _own(SCHOOL_ROLES), refusal=_SCHOOL_PAGE),
    "GET /ui/cases/{case_id}/told": Rule("who was told of an action", _own(SCHOOL_ROLES), refusal=_SCHOOL_PAGE),
    "POST /ui/cases/{case_id}/guardian-link/sms": Rule(
        "send the guardian's answer link by SMS", _own({StaffRole.head_teacher, StaffRole.psychology_teacher}),
        refusal="只有班主任和心理教师可以把答复链接发给监护人。"),
    "POST /ui/cases/{case_id}/guardian-link/revoke": Rule(
        "revoke the guardian's answer link", _own({StaffRole.leadership}),
        refusal="只有心理危机干预领导小组成员可以停用答复链接。"),
    "POST /ui/cases/{case_id}/remake/{kind}": Rule("make a failed document again",
                                                   _own({StaffRole.leadership, StaffRole.psychology_teacher}),
                                                   refusal="只有心理危机干预领导小组成员和个案的负责心理教师可以重新生成文书。"),
    "POST /ui/cases/{case_id}/remind/{obligation}": Rule("remind a duty's owner", _own(SCHOOL_ROLES),
                                                         refusal=_SCHOOL_PAGE),
    "POST /ui/cases/{case_id}/act/{action_name}": Rule("an action", _own(SCHOOL_ROLES), refusal=_SCHOOL_PAGE),
    "POST /ui/cases/{case_id}/assessment/preview": Rule("preview an assessment", _own(roles_for(Action.assess)),
                                                         refusal="只有心理教师和危机干预专家进行危机评估。"),
    "GET /ui/documents/{document_id}": Rule("read a document", {**_own(SEES_STUDENT_IDENTITY), **AUTHORITY},
                                            refusal=_IDENTITY_PAGE),
    "GET /ui/cases/{case_id}/documents/{document_id}/signed/{copy_id}": Rule(
        "read a signed receipt", _own(SEES_STUDENT_IDENTITY & SCHOOL_ROLES), refusal=_IDENTITY_PAGE),
    "POST /ui/cases/{case_id}/documents/{document_id}/signed": Rule(
        "upload a signed paper", _own(RECEIPT_WRITERS), refusal="您的角色不能上传签收回执。"),
    "GET /ui/students/{student_ref}": Rule("read a student's archive", _own(SEES_STUDENT_IDENTITY & SCHOOL_ROLES),
                                           refusal="学生心理档案含学生身份信息，您的角色不能查看。"),
    "GET /ui/watchlist": Rule("read the watch list", _own(CASE_WORKERS), refusal=_SCHOOL_PAGE),
    "GET /ui/incidents": Rule("list extreme events", {**_own(INCIDENT_READERS), **AUTHORITY}, refusal=_SCHOOL_PAGE),
    "GET /ui/incidents/new": Rule("record an extreme event: form", _own(INCIDENT_WRITERS), refusal=_INCIDENT_PAGE),
    "POST /ui/incidents/new": Rule("record an extreme event", _own(INCIDENT_WRITERS), refusal=_INCIDENT_PAGE),
    "GET /ui/incidents/{incident_id}": Rule("read an extreme event", {**_own(INCIDENT_READERS), **AUTHORITY},
                                            refusal=_SCHOOL_PAGE),
    "POST /ui/incidents/{incident_id}/report": Rule("save a review report", {**_own(INCIDENT_WRITERS), **AUTHORITY},
                                                     refusal=_INCIDENT_PAGE),
    "POST /ui/incidents/{incident_id}/group": Rule("form an investigation group", AUTHORITY,
                                                    refusal=_INVESTIGATION_PAGE),
    "POST /ui/incidents/{incident_id}/facts": Rule("give the school's account of an extreme event",
                                                    _own(INCIDENT_WRITERS), refusal=_INCIDENT_PAGE),
    "GET /ui/screenings": Rule("the screening upload", _own(IMPORTERS), refusal=_IMPORT_PAGE),
    "POST /ui/screenings": Rule("import screening results", _own(IMPORTERS), refusal=_IMPORT_PAGE),
    "GET /ui/screenings/{job_id}": Rule("read a screening import", _own(IMPORTERS), refusal=_IMPORT_PAGE),
    "POST /ui/watchlist/{watch_id}/review": Rule("review a watch-listed student", _own(WATCH_REVIEWERS),
                                                 refusal="只有心理教师、危机干预专家、班主任和领导小组复核重点关注学生。"),
    "GET /ui/dashboard": Rule("see the school dashboard", _own(SUPERVISOR_ROLES), refusal=_SUPERVISOR_PAGE),
    "GET /ui/overdue": Rule("see the overdue list", _own(SUPERVISOR_ROLES), refusal=_SUPERVISOR_PAGE),
    "GET /ui/reports": Rule("read reports to the authority", {StaffRole.leadership: Scope.own, **AUTHORITY},
                            refusal="报告页面供教育主管部门和学校心理危机干预领导小组使用。"),
    "GET /ui/reports/terms": Rule("read the school's term reports", {StaffRole.leadership: Scope.own, **AUTHORITY},
                                  refusal="学期报告供教育主管部门和学校心理危机干预领导小组使用。"),
    "POST /ui/reports/terms": Rule("send the school's term report", {StaffRole.leadership: Scope.own},
                                   refusal="学期报告由学校心理危机干预领导小组成员报送。"),
}


def sees_identity(principal: Principal) -> bool:
    """Names and narratives: the roles that handle the student, and auditors granted ``auditor_pii``."""
    if principal.role is StaffRole.auditor:
        return principal.pii_grant
    return principal.role in SEES_STUDENT_IDENTITY


def bind_rules(app: FastAPI) -> None:
    """Give every route its rule, the API's and the staff app's pages alike; a route without one stops
    start-up."""
    bound, missing, templates = {}, [], {}
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        templates[route.endpoint] = route.path
        table = PAGES if route.path.startswith(PAGE_PREFIXES) else RULES
        for method in sorted(route.methods - {"HEAD"}):
            key = f"{method} {route.path}"
            if key in table:
                bound[(method, route.endpoint)] = table[key]
            else:
                missing.append(key)
    if missing:
        raise RuntimeError(f"routes without an access rule in api/access.py: {', '.join(missing)}")
    app.state.rules = bound
    app.state.route_templates = templates


def route_template(request: Request) -> str | None:
    """The matched route's whole path template (``/api/v1/cases/{case_id}``; a nested router's own
    ``route.path`` lacks its prefixes), for logs and metrics: never the path with its ids."""
    endpoint = request.scope.get("endpoint")
    templates = getattr(request.app.state, "route_templates", {})
    if endpoint in templates:
        return templates[endpoint]
    return getattr(request.scope.get("route"), "path", None)


def principal_from(request: Request, token: str | None) -> Principal:
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
    try:
        return read_token(request.app.state.settings.token_keys, token)
    except TokenError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None


@dataclass
class Access:
    """What the access log records of this request; the middleware adds the status.

    A sign-in records the person it names (``claimed``) before anyone is signed in."""

    principal: Principal | None
    what: str
    case_id: str | None = None
    claimed: str | None = None

    def entry(self) -> dict:
        """Who, for the access log."""
        if self.principal is None:
            return {"staff_id": (self.claimed or "-")[:64], "role": "-", "school_id": None}
        p = self.principal
        return {"staff_id": p.staff_id, "role": p.role.value, "school_id": p.school_id}


_bearer = HTTPBearer(auto_error=False)


def authorize(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal | None:
    """The dependency on every API route: token, role, school scope; notes the access for the log."""
    rule = request.app.state.rules[(request.method, request.scope["endpoint"])]
    if rule.public:
        return None
    token = credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else None
    session = None
    if token is None and rule.cookie:  # a person signed in to the staff app (the Temporal UI's codec calls)
        session = sessions.principal(sessions.find(request.app.state.engine, request.cookies.get(sessions.COOKIE),
                                                   datetime.now(UTC), request.app.state.settings))
    principal = session or principal_from(request, token)
    access = request.state.access = Access(principal, rule.what)
    if request.method == "POST" and not rule.cookie:
        wait = request.app.state.write_rate.take(principal.staff_id)
        if wait:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many writes by {principal.staff_id}: try again in {wait:.0f} s",
                headers={"Retry-After": str(max(1, round(wait)))},
            )
    scope = rule.roles.get(principal.role)
    if scope is None:
        allowed = ", ".join(sorted(r.value for r in rule.roles))
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"role {principal.role.value} may not {rule.what}; allowed: {allowed}"
        )
    if rule.identity and not sees_identity(principal):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"{rule.what} shows student data: an auditor needs the auditor_pii grant"
        )
    engine = request.app.state.engine
    case_id = request.path_params.get("case_id") or request.query_params.get("case_id")
    school = None
    if document_id := request.path_params.get("document_id"):
        owner = store.document_owner(engine, document_id)
        if owner is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"document {document_id} not found")
        school, case_id = owner
    if watch_id := request.path_params.get("watch_id"):
        found = store.watch_school(engine, watch_id[:64])
        classes = directory.visible_classes(engine, principal.staff_id, principal.role)
        if found is None or (classes is not None and found[1] not in classes):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"watch-list entry {watch_id} not found")
        school = found[0]
    if incident_id := request.path_params.get("incident_id"):
        school = store.incident_school(engine, incident_id)
        if school is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"incident {incident_id} not found")
    if case_id is not None:
        access.case_id = case_id[:64]
        school = store.case_school(engine, case_id)
        if school is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"case {case_id} not found")
    if school is not None:
        if not reaches(scope, principal, engine, school):
            what = "case" if case_id is not None else "record"
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this {what} belongs to another school, outside your scope")
    if case_id is not None:
        classes = directory.visible_classes(engine, principal.staff_id, principal.role)
        if not store.sees_case(engine, case_id, principal.staff_id, classes):
            # a head teacher's own classes, a grade head's grade: another class's case is not theirs to know of
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"case {case_id} not found")
    request.state.principal = principal
    return principal


def reaches(scope: Scope | None, principal: Principal, engine, school_id: str | None) -> bool:
    """Does a caller with ``scope`` reach records of ``school_id``?"""
    if scope is Scope.any:
        return True
    if scope is Scope.overseen:
        return school_id in directory.authority_schools(engine, principal.school_id)
    return scope is Scope.own and school_id == principal.school_id


def in_scope(rule: Rule, principal: Principal, school_id: str | None, engine=None) -> bool:
    """May this caller reach records of ``school_id`` under ``rule``?"""
    return reaches(rule.roles.get(principal.role), principal, engine, school_id)


def current(request: Request) -> Principal:
    """The caller, as ``authorize`` found them."""
    return request.state.principal


PrincipalDep = Annotated[Principal, Depends(current)]
