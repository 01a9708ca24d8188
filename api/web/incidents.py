"""Extreme events (极端事件) in the staff app: record one, draft its investigation review in the six
sections with a live count against the 3,000 characters, see its deadline, and submit it.

Everything goes through the door as the API's routes do (``Door.record_incident``, ``save_report``,
``submit_report``): the rules (the sections, the count, the two weeks) are the model's and the workflow's;
this module lays out the forms and words their answers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from api.access import INCIDENT_WRITERS, sees_identity
from api.routes.incidents import view_of
from api.web import forms, words
from api.web.gate import check_csrf, page_gate, viewer
from api.web.render import PageError, page
from db import store
from models.errors import Invalid, Refused
from models.incident import MIN_REPORT_CHARS, SECTIONS, IncidentBody, IncidentKind, ReviewReport
from paper.words import Lang, word

router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(page_gate)])

KINDS = [(k.value, word(Lang.zh, "incident_kind", k.value)) for k in IncidentKind]
HEADINGS = {name: headings["zh-CN"] for name, headings in SECTIONS.items()}


@router.get("/incidents", response_class=HTMLResponse)
async def incident_list(request: Request):
    principal = viewer(request, "list extreme events")
    rows = store.incidents(request.app.state.engine, {principal.school_id})
    return page(request, "incidents.html", incidents=[view_of(r, principal) for r in rows], kinds=dict(KINDS),
                may_write=principal.role in INCIDENT_WRITERS, minimum=MIN_REPORT_CHARS)


def _new(request: Request, values: dict, errors: dict, status_code: int = 200):
    return page(request, "incident_new.html", status_code=status_code, values=values, errors=errors, kinds=KINDS,
                limit=forms.limit(IncidentBody, "summary"))


@router.get("/incidents/new", response_class=HTMLResponse)
async def new_incident_form(request: Request):
    viewer(request, "record an extreme event: form")
    return _new(request, {"occurred_at": forms.now_input(datetime.now(UTC))}, {})


@router.post("/incidents/new", response_class=HTMLResponse)
async def new_incident(request: Request):
    principal = viewer(request, "record an extreme event")
    form = await request.form()
    check_csrf(request, form)
    values = {k: (form.get(k) or "").strip() for k in ("kind", "occurred_at", "place", "summary")}
    body = {k: v for k, v in values.items() if v}
    if "occurred_at" in body:
        body["occurred_at"] = forms.beijing_input(body["occurred_at"]) or body["occurred_at"]
    try:
        parsed = IncidentBody.model_validate(body)
    except ValidationError as exc:
        return _new(request, values, forms.errors_of(exc), 400)
    try:
        incident_id = await request.app.state.door.record_incident(parsed, principal.actor())
    except Invalid as error:
        return _new(request, values, {error.field: words.invalid_words(error)}, 422)
    return RedirectResponse(f"/ui/incidents/{incident_id}?done=recorded", status_code=303)


def _incident(request: Request, incident_id: str):
    principal = viewer(request)
    row = store.get_incident(request.app.state.engine, incident_id[:64])
    if row is None or row.school_id != principal.school_id:
        raise PageError(404, "找不到这个极端事件。")
    return principal, row


def _page(request: Request, incident_id: str, errors: dict | None = None, draft: ReviewReport | None = None,
          done: str = "", status_code: int = 200):
    principal, row = _incident(request, incident_id)
    view = view_of(row, principal)
    report = draft or view.report or ReviewReport()
    return page(request, "incident.html", status_code=status_code, incident=view, report=report,
                headings=HEADINGS, kinds=dict(KINDS), minimum=MIN_REPORT_CHARS, errors=errors or {},
                identity=sees_identity(principal), may_write=principal.role in INCIDENT_WRITERS,
                done={"recorded": "已记录极端事件：复盘报告须在期限内提交", "saved": "已保存草稿",
                      "submitted": "复盘报告已提交，已报送教育主管部门和省教育厅"}.get(done),
                chars=report.chars())


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def incident_page(request: Request, incident_id: str, done: Annotated[str, Query(max_length=16)] = ""):
    viewer(request, "read an extreme event")
    return _page(request, incident_id, done=done)


@router.post("/incidents/{incident_id}/report", response_class=HTMLResponse)
async def save_or_submit(request: Request, incident_id: str):
    """Save the report as a draft, or save it and submit it (``intent``): what is refused says why, beside
    each section, with everything typed kept."""
    principal = viewer(request, "save a review report")
    _incident(request, incident_id)
    form = await request.form()
    check_csrf(request, form)
    values = {name: (form.get(name) or "").strip() for name in SECTIONS}
    try:
        report = ReviewReport.model_validate(values)
    except ValidationError as exc:
        return _page(request, incident_id, {k.removeprefix("report."): v for k, v in forms.errors_of(exc).items()},
                     ReviewReport.model_construct(**values), status_code=400)
    door = request.app.state.door
    try:
        await door.save_report(incident_id, report, principal.actor())
        if form.get("intent") == "submit":
            await door.submit_report(incident_id, principal.actor())
    except Invalid as error:
        problems = getattr(error, "problems", None) or [error]
        found = {p.field.removeprefix("report.") or "report": words.invalid_words(p) for p in problems}
        return _page(request, incident_id, found, report, status_code=422)
    except Refused as error:
        return _page(request, incident_id, {"report": words.REFUSAL_ZH.get(next(iter(error.reasons), ""),
                                                                           "复盘报告已提交，不能再修改")},
                     report, status_code=409)
    done = "submitted" if form.get("intent") == "submit" else "saved"
    return RedirectResponse(f"/ui/incidents/{incident_id}?done={done}", status_code=303)
