"""A small read-only supervisor page, server-rendered (zh-CN; ``?lang=en`` for English labels).

Sign-in takes a bearer token once (a form) and keeps it in an HttpOnly,
SameSite=Strict cookie, which the codec server also accepts (so the Temporal
UI on the same host can decode for a signed-in reader). Who may see the
pages is ``api.access.SUPERVISOR_PAGES``; names and narratives show to those
``api.access.sees_identity`` allows, the others see the student reference.
Every page view is written to the access log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from api.access import SESSION_COOKIE, SUPERVISOR_PAGES, Access, in_scope, sees_identity
from api.auth import Principal, TokenError, read_token
from api.deps import ClientDep, EngineDep
from audit import history
from models import directory, store
from models.dashboard import dashboard
from models.domain import (
    OBLIGATION_ZH,
    RISK_ZH,
    ROLE_ZH,
    STATE_ZH,
    CaseState,
    RiskLevel,
)
from workflows.view import case_view

router = APIRouter(prefix="/ui", include_in_schema=False)
COOKIE = SESSION_COOKIE

_env = Environment(loader=PackageLoader("api", "templates"), autoescape=select_autoescape(["html"]))

LABELS = {
    "zh": {
        "title": "心理危机个案督导",
        "cases": "个案列表",
        "overdue": "逾期事项",
        "state": "状态",
        "risk": "风险",
        "student": "学生",
        "opened": "识别时间",
        "level": "预警级别",
        "due": "期限",
        "case": "个案",
        "obligation": "事项",
        "owner": "责任人",
        "filter": "筛选",
        "all": "全部",
        "overdue_only": "仅逾期",
        "timeline": "处置时间线",
        "deadlines": "期限",
        "met": "完成时间",
        "actor": "操作人",
        "kind": "类型",
        "summary": "情况摘要",
        "signin": "登录",
        "token": "访问令牌",
        "signout": "退出",
        "none": "无",
        "overdue_for": "逾期",
        "hours": "小时",
        "class": "班级",
        "forbidden": "您的角色无权查看督导页面。",
        "total": "共",
        "assess_time": "识别至评估（中位数/90分位，小时）",
        "in_time": "高风险个案按时处置率（目标 90%）",
        "grade": "年级",
        "kinds": {
            "opened": "立案",
            "action_accepted": "操作",
            "timer_fired": "计时到期",
            "escalation": "预警升级",
            "notification_sent": "已发通知",
            "document_made": "已生成文书",
            "state_change": "状态变更",
            "reported": "已上报",
            "closed": "结案",
            "continued_as_new": "续存",
        },
    },
    "en": {
        "title": "Crisis case supervision",
        "cases": "Cases",
        "overdue": "Overdue",
        "state": "State",
        "risk": "Risk",
        "student": "Student",
        "opened": "Identified",
        "level": "Warning level",
        "due": "Due",
        "case": "Case",
        "obligation": "Obligation",
        "owner": "Owner",
        "filter": "Filter",
        "all": "All",
        "overdue_only": "Overdue only",
        "timeline": "Timeline",
        "deadlines": "Deadlines",
        "met": "Met",
        "actor": "Actor",
        "kind": "Kind",
        "summary": "Summary",
        "signin": "Sign in",
        "token": "Access token",
        "signout": "Sign out",
        "none": "none",
        "overdue_for": "overdue",
        "hours": "h",
        "class": "Class",
        "forbidden": "Your role may not see the supervisor pages.",
        "total": "total",
        "assess_time": "Identification to assessment (median/p90, hours)",
        "in_time": "High-risk cases handled in time (target 90%)",
        "grade": "Grade",
        "kinds": {
            "opened": "opened",
            "action_accepted": "action",
            "timer_fired": "timer fired",
            "escalation": "escalation",
            "notification_sent": "notification sent",
            "document_made": "document made",
            "state_change": "state change",
            "reported": "reported",
            "closed": "closed",
            "continued_as_new": "continued as new",
        },
    },
}


def _render(name: str, lang: str, status_code: int = 200, **context) -> HTMLResponse:
    lang = lang if lang in LABELS else "zh"
    html = _env.get_template(name).render(
        t=LABELS[lang],
        lang=lang,
        state_zh=STATE_ZH,
        risk_zh=RISK_ZH,
        role_zh=ROLE_ZH,
        obligation_zh=OBLIGATION_ZH,
        zh=lang == "zh",
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def _viewer(request: Request) -> Principal | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        return read_token(request.app.state.settings.token_keys, token)
    except TokenError:
        return None


def _gate(
    request: Request, lang: str, what: str, case_id: str | None = None
) -> Principal | HTMLResponse | RedirectResponse:
    actor = _viewer(request)
    if actor is None:
        return RedirectResponse(f"/ui/login?lang={lang}", status_code=303)
    request.state.access = Access(actor, what, case_id[:64] if case_id else None)
    if actor.role not in SUPERVISOR_PAGES.roles:
        return _render("forbidden.html", lang, status_code=403, actor=actor)
    return actor


@router.get("/login", response_class=HTMLResponse)
async def login_form(lang: str = "zh"):
    return _render("login.html", lang, error=None)


@router.post("/login")
async def login(request: Request, token: Annotated[str, Form(max_length=4000)], lang: Annotated[str, Form()] = "zh"):
    try:
        read_token(request.app.state.settings.token_keys, token)
    except TokenError as exc:
        return _render("login.html", lang, status_code=401, error=str(exc))
    response = RedirectResponse(f"/ui?lang={lang}", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
        max_age=8 * 3600,
    )
    return response


@router.post("/logout")
async def logout():
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("", response_class=HTMLResponse)
async def case_list(
    request: Request,
    engine: EngineDep,
    lang: str = "zh",
    state: Annotated[str, Query(max_length=32)] = "",
    risk_level: Annotated[str, Query(max_length=32)] = "",
    overdue: bool = False,
):
    gate = _gate(request, lang, "view the supervisor case list")
    if not isinstance(gate, Principal):
        return gate
    # a filter left at "all" (or a value that is no code) filters nothing
    state = CaseState(state) if state in CaseState.__members__ else None
    risk_level = RiskLevel(risk_level) if risk_level in RiskLevel.__members__ else None
    now = datetime.now(UTC)
    page = store.list_cases(
        engine,
        classes=directory.visible_classes(engine, gate.staff_id, gate.role),
        school_id=gate.school_id,
        now=now,
        state=state,
        risk_level=risk_level,
        overdue=True if overdue else None,
        limit=200,
    )
    names = store.student_names(engine, [c.case_id for c in page.items]) if sees_identity(gate) else {}
    board = dashboard(engine, gate.school_id, now)
    return _render(
        "cases.html",
        lang,
        actor=gate,
        page=page,
        names=names,
        board=board,
        states=list(CaseState),
        risks=list(RiskLevel),
        chosen={"state": state, "risk": risk_level, "overdue": overdue},
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(request: Request, case_id: str, engine: EngineDep, client: ClientDep, lang: str = "zh"):
    gate = _gate(request, lang, "view a case page", case_id)
    if not isinstance(gate, Principal):
        return gate
    data = store.load_case(engine, case_id)
    if data is None or not in_scope(SUPERVISOR_PAGES, gate, data.school_id):
        return _render("forbidden.html", lang, status_code=404, actor=gate)
    try:
        timeline = (await history.case_timeline(client, engine, case_id)).entries
    except history.HistoryGone:  # neither on the server nor archived: the page still shows the case
        timeline = []
    return _render("case.html", lang, actor=gate, view=case_view(data), timeline=timeline, identity=sees_identity(gate))
