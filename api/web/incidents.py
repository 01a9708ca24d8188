"""Extreme events (极端事件) in the staff app, each side its part [seed 000, 重点事项清单, 一 5]:

- the school records the event and gives the investigation group its account of the facts;
- the education authority forms the group with the police and experts, and its members draft the six-section
  review (a live count against the 3,000 characters) and send it to the province.

Events recorded before the authority investigated keep the school writing their review. Everything goes through
the door as the API's routes do (``Door.record_incident``, ``provide_facts``, ``form_group``, ``save_report``,
``submit_report``): the rules are the model's and the workflow's; this module lays out the forms and words their
answers.
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
from db import directory, store
from models.domain import StaffRole
from models.errors import Forbidden, Invalid, Refused
from models.incident import (
    MIN_REPORT_CHARS,
    SECTIONS,
    FactsBody,
    GroupBody,
    IncidentBody,
    IncidentKind,
    Investigation,
    ReviewReport,
    in_group,
    investigates,
)
from paper.words import Lang, word

router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(page_gate)])

KINDS = [(k.value, word(Lang.zh, "incident_kind", k.value)) for k in IncidentKind]
HEADINGS = {name: headings["zh-CN"] for name, headings in SECTIONS.items()}


def _schools(request: Request, principal) -> set[str]:
    """The schools whose events the viewer reads: an authority's overseen schools, a school's own."""
    if principal.role is StaffRole.edu_authority:
        return directory.authority_schools(request.app.state.engine, principal.school_id)
    return {principal.school_id}


@router.get("/incidents", response_class=HTMLResponse)
async def incident_list(request: Request):
    principal = viewer(request, "list extreme events")
    engine = request.app.state.engine
    rows = store.incidents(engine, _schools(request, principal))
    authority = principal.role is StaffRole.edu_authority
    schools = {r.school_id: (directory.school(engine, r.school_id).name if directory.school(engine, r.school_id)
                             else r.school_id) for r in rows} if authority else {}
    return page(request, "incidents.html", incidents=[view_of(r, principal) for r in rows], kinds=dict(KINDS),
                may_write=principal.role in INCIDENT_WRITERS, minimum=MIN_REPORT_CHARS, authority=authority,
                schools=schools)


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
    if row is None or row.school_id not in _schools(request, principal):
        raise PageError(404, "找不到这个极端事件。")
    return principal, row


DONE = {"recorded": "已记录极端事件：已告知教育主管部门，由其联合公安部门和有关专家组建调查工作小组；"
                    "请提交学校情况说明",
        "recorded_school": "已记录极端事件：复盘报告须在期限内提交",
        "saved": "已保存草稿",
        "submitted": "复盘报告已报送省教育厅，已告知学校",
        "submitted_school": "复盘报告已提交，已报送教育主管部门和省教育厅",
        "group": "已组建调查工作小组，已通知小组成员和学校心理危机干预领导小组",
        "facts": "已提交学校情况说明，已通知调查工作小组"}


def _page(request: Request, incident_id: str, errors: dict | None = None, draft: ReviewReport | None = None,
          done: str = "", status_code: int = 200, group_values: dict | None = None, account: str | None = None):
    principal, row = _incident(request, incident_id)
    engine = request.app.state.engine
    view = view_of(row, principal)
    report = draft or view.report or ReviewReport()
    study = view.investigation or Investigation()
    by_authority = study.by_authority
    investigator = investigates(study, principal.role, principal.school_id)
    member = investigator and in_group(study, principal.staff_id)
    school_writer = principal.role in INCIDENT_WRITERS and row.school_id == principal.school_id
    colleagues = directory.people_of(engine, principal.school_id) if investigator else []
    named = directory.names(engine, set(study.group.members) if study.group else set())
    school = directory.school(engine, row.school_id)
    return page(request, "incident.html", status_code=status_code, incident=view, report=report,
                headings=HEADINGS, kinds=dict(KINDS), minimum=MIN_REPORT_CHARS, errors=errors or {},
                identity=sees_identity(principal) or principal.role is StaffRole.edu_authority,
                study=study, investigator=investigator, school_writer=school_writer,
                may_write=member if by_authority else school_writer, colleagues=colleagues, named=named,
                school_name=school.name if school else "", member_kinds=MEMBER_KINDS,
                group_values=group_values or _group_values(study), account=account if account is not None else (
                    study.school_account.account if study.school_account else ""),
                done=DONE.get(done if by_authority or done not in ("recorded", "submitted") else f"{done}_school"),
                chars=report.chars())


#: how many outside members the group form offers (the police and the experts)
EXTERNAL_ROWS = 4
MEMBER_KINDS = [("police", "公安部门"), ("expert", "专家")]


def _group_values(study: Investigation) -> dict:
    """The group form's values: the group as formed (or the form's empty rows)."""
    group = study.group
    external = [m.model_dump() for m in group.external] if group else []
    external += [{"name": "", "organisation": "", "kind": ""}] * max(0, EXTERNAL_ROWS - len(external))
    return {"members": set(group.members) if group else set(), "external": external}


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def incident_page(request: Request, incident_id: str, done: Annotated[str, Query(max_length=16)] = ""):
    viewer(request, "read an extreme event")
    return _page(request, incident_id, done=done)


@router.post("/incidents/{incident_id}/group", response_class=HTMLResponse)
async def form_group(request: Request, incident_id: str):
    """The authority forms (or changes) the investigation group: its own people, ticked; the police and experts,
    by name and organisation."""
    principal = viewer(request, "form an investigation group")
    _incident(request, incident_id)
    form = await request.form()
    check_csrf(request, form)
    rows = [{"name": (form.get(f"ext-name-{i}") or "").strip(),
             "organisation": (form.get(f"ext-org-{i}") or "").strip(), "kind": form.get(f"ext-kind-{i}") or ""}
            for i in range(EXTERNAL_ROWS)]
    values = {"members": set(form.getlist("member")), "external": rows}
    body = {"members": sorted(values["members"]), "external": [r for r in rows if r["name"] or r["organisation"]]}
    try:
        group = GroupBody.model_validate(body)
        await request.app.state.door.form_group(incident_id, group, principal.actor())
    except ValidationError as exc:
        return _page(request, incident_id, {f"group-{k}": v for k, v in forms.errors_of(exc).items()},
                     status_code=400, group_values=values)
    except Invalid as error:
        return _page(request, incident_id, {f"group-{error.field}": words.invalid_words(error)}, status_code=422,
                     group_values=values)
    except (Refused, Forbidden) as error:
        return _page(request, incident_id, {"group": _refusal(error)}, status_code=409, group_values=values)
    return RedirectResponse(f"/ui/incidents/{incident_id}?done=group", status_code=303)


@router.post("/incidents/{incident_id}/facts", response_class=HTMLResponse)
async def provide_facts(request: Request, incident_id: str):
    """The school's account of the facts, for the group."""
    principal = viewer(request, "give the school's account of an extreme event")
    _incident(request, incident_id)
    form = await request.form()
    check_csrf(request, form)
    account = (form.get("account") or "").strip()
    try:
        facts = FactsBody.model_validate({"account": account} if account else {})
        await request.app.state.door.provide_facts(incident_id, facts, principal.actor())
    except ValidationError as exc:
        return _page(request, incident_id, {f"facts-{k}": v for k, v in forms.errors_of(exc).items()},
                     status_code=400, account=account)
    except (Refused, Forbidden) as error:
        return _page(request, incident_id, {"facts": _refusal(error)}, status_code=409, account=account)
    return RedirectResponse(f"/ui/incidents/{incident_id}?done=facts", status_code=303)


def _refusal(error: Refused | Forbidden) -> str:
    if isinstance(error, Forbidden):
        return "极端事件的调查复盘由教育主管部门负责；学校负责记录事件并提交学校情况说明"
    return words.REFUSAL_ZH.get(next(iter(error.reasons), ""), "复盘报告已提交，不能再修改")


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
    except (Refused, Forbidden) as error:
        return _page(request, incident_id, {"report": _refusal(error)}, report, status_code=409)
    done = "submitted" if form.get("intent") == "submit" else "saved"
    return RedirectResponse(f"/ui/incidents/{incident_id}?done={done}", status_code=303)
