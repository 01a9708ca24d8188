"""A student or parent asks for help: the school's help page (``/h/{school_id}``, public, no script) and the staff
app's help requests (``/ui/help``): the list, one request (reading it is looking at it), a case opened from it,
or closing it with a reason, and the school's poster (PDF with the page's QR code).

The public page shows 120/110 and the school's hotlines before anything else and says it is no emergency line.
Abuse is kept out by a simple question (``crypto/challenge.py``), the rate limits (per address, by a keyed
fingerprint, and per school, per hour; the operator's settings) and length limits; what an asker writes is sealed
and shown to no other asker, nor to anyone but the school's psychology teachers, experts and leadership.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from activities.case_activities import typesetter_for
from api.web.gate import check_csrf, page_gate, viewer
from api.web.render import PageError, page, public_page, span
from crypto import challenge
from crypto.links import fingerprint
from crypto.sealed import engine_keyring
from db import directory, help_requests
from models.case import case_ref
from models.errors import Forbidden, Refused
from models.help import HELP_STATE_ZH, HELP_WHO, HelpBody, HelpResolve
from paper.qr import qr_facts

public = APIRouter(prefix="/h", include_in_schema=False)
staff = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(page_gate)])

FIELD_ERRORS = {"who": "请选择你是谁", "contact": "请留下联系你的方式", "text": "请写下发生了什么（最多 2000 字）",
                "name": "称呼过长或含有无法识别的字符", "class_name": "班级过长或含有无法识别的字符"}


def page_url(request: Request, school_id: str) -> str:
    return f"{request.app.state.settings.public_url.rstrip('/')}/h/{school_id}"


def _school_or_404(request: Request, school_id: str):
    school = directory.school(request.app.state.engine, school_id) if len(school_id) <= 64 else None
    if school is None:
        raise PageError(404, "没有找到这所学校的求助页面。如有危险，请立即拨打 120 或 110。")
    return school


def _form(request: Request, school, values: dict, errors: dict, status_code: int = 200, limited: str | None = None):
    question, token = challenge.ask(engine_keyring(request.app.state.engine), school.school_id, datetime.now(UTC))
    names = ("who", "name", "class_name", "contact", "text")
    return public_page(request, "help_page.html", status_code=status_code, school=school,
                       hotlines=school.hotlines or [], who=HELP_WHO, question=question, token=token,
                       values={n: values.get(n, "") for n in names}, limited=limited,
                       errors={n: errors.get(n) for n in (*names, "answer", "form")})


@public.get("/{school_id}", response_class=HTMLResponse)
async def help_page(request: Request, school_id: str):
    return _form(request, _school_or_404(request, school_id), {}, {})


@public.post("/{school_id}", response_class=HTMLResponse)
async def ask(request: Request, school_id: str):
    school = _school_or_404(request, school_id)
    engine, settings, now = request.app.state.engine, request.app.state.settings, datetime.now(UTC)
    form = await request.form()
    values = {k: str(form.get(k, ""))[:4000] for k in ("who", "name", "class_name", "contact", "text", "answer",
                                                        "token")}
    keyring = engine_keyring(engine)
    address = fingerprint(keyring, request.client.host if request.client else None)
    since = help_requests.window(now)
    mine = await run_in_threadpool(help_requests.count_since, engine, since, address=address)
    everyone = await run_in_threadpool(help_requests.count_since, engine, since, school_id=school.school_id)
    if mine >= settings.help_requests_per_address_per_hour or everyone >= settings.help_requests_per_school_per_hour:
        return _form(request, school, values, {}, status_code=429,
                     limited="提交太频繁，请稍后再试。如果情况紧急，请立即拨打上面的电话，或直接找学校的心理老师。")
    if not challenge.check(keyring, school.school_id, values["token"], values["answer"], now):
        return _form(request, school, values, {"answer": "回答不正确，请重新回答下面的问题"}, status_code=422)
    try:
        body = HelpBody(who=values["who"] or None, name=values["name"].strip() or None,
                        class_name=values["class_name"].strip() or None, contact=values["contact"].strip(),
                        text=values["text"].strip())
    except ValidationError as exc:
        errors = {}
        for problem in exc.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "text"
            errors[name] = FIELD_ERRORS.get(name, "请检查此项")
        return _form(request, school, values, errors, status_code=422)
    await request.app.state.door.ask_for_help(school.school_id, body, address)
    return public_page(request, "help_done.html", school=school, hotlines=school.hotlines or [])


# ------------------------------------------------------------------ the staff app


@staff.get("/help", response_class=HTMLResponse)
async def help_list(request: Request, done: str = ""):
    principal = viewer(request, "list help requests")
    engine = request.app.state.engine
    rows = await run_in_threadpool(help_requests.listing, engine, principal.school_id)
    policy = request.app.state.policy
    return page(request, "help_list.html", rows=rows, states=HELP_STATE_ZH,
                look_within=span(policy.help_look_within.total_seconds()),
                page_url=page_url(request, principal.school_id), done={"closed": "已关闭求助"}.get(done[:16]))


@staff.get("/help/poster")
async def poster(request: Request):
    principal = viewer(request, "the help poster")
    school = directory.school(request.app.state.engine, principal.school_id)
    if school is None:
        raise PageError(404, "学校不在名录中。")
    url = page_url(request, school.school_id)
    hotlines = [h if isinstance(h, dict) else h.model_dump() for h in school.hotlines or []]
    facts = {"lang": "zh-CN", "school": {"name": school.name, "hotlines": hotlines, "contact": ""}, "url": url,
             "qr": qr_facts(url)}
    typesetter = typesetter_for(request.app.state.settings)
    pdf = await run_in_threadpool(typesetter.pdf, "help_poster", facts, datetime.now(UTC))
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": 'inline; filename="help-poster.pdf"', "Cache-Control": "no-store"})


@staff.get("/help/{help_id}", response_class=HTMLResponse)
async def help_request(request: Request, help_id: str):
    """One request, unsealed; reading it is looking at it (the ladder stops)."""
    principal = viewer(request, "read a help request")
    engine = request.app.state.engine
    row = help_requests.get(engine, help_id[:64])
    if row is None or row.school_id != principal.school_id:
        raise PageError(404, "没有这条求助。")
    if row.state == "open":
        try:
            await request.app.state.door.look_at_help(help_id, principal.actor())
        except (Forbidden, Refused):
            pass
        row = help_requests.get(engine, help_id)
    people = directory.names(engine, {row.looked_by or "", row.resolved_by or ""})
    return page(request, "help_request.html", row=row, asked=row.asked, who=HELP_WHO, states=HELP_STATE_ZH,
                ref=case_ref(row.help_id), people=people, error=None)


@staff.post("/help/{help_id}/close", response_class=HTMLResponse)
async def close(request: Request, help_id: str):
    principal = viewer(request, "close a help request")
    form = await request.form()
    check_csrf(request, form)
    reason = str(form.get("reason", "")).strip()[:2000]
    engine = request.app.state.engine
    row = help_requests.get(engine, help_id[:64])
    if row is None or row.school_id != principal.school_id:
        raise PageError(404, "没有这条求助。")
    if not reason:
        raise PageError(422, "请写明关闭原因。")
    try:
        await request.app.state.door.resolve_help(help_id, HelpResolve(actor=principal.actor(), outcome="closed",
                                                                        reason=reason))
    except Refused:
        raise PageError(409, "这条求助已经处理过了。") from None
    return RedirectResponse("/ui/help?done=closed", status_code=303)
