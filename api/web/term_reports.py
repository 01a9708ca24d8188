"""The term report in the staff app: a school's figures of each term begun (anonymised: counts under 5 as
"<5"), and, from a term's last day, a leader's button to send the report to the authority. The authority reads
its schools' figures and the reports they sent. The figures and the rules are ``db.term_report`` and the door's
(``Door.send_term_report``); this module lays them out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.routes.term_reports import reports_of
from api.web import words
from api.web.gate import check_csrf, page_gate, viewer
from api.web.render import page
from db import directory
from models.domain import StaffRole
from models.errors import Invalid, Refused
from models.term_report import RISKS, RUNGS
from paper.words import Lang, word

router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(page_gate)])

RISK_ZH = {r: word(Lang.zh, "risk", r) if r != "unassessed" else "尚未评估" for r in RISKS}


def _page(request: Request, school: str = "", done: str = "", error: str = "", status_code: int = 200):
    principal = viewer(request, "read the school's term reports")
    engine = request.app.state.engine
    if principal.role is StaffRole.edu_authority:
        schools = sorted(directory.authority_schools(engine, principal.school_id))
    else:
        schools = [principal.school_id]
    chosen = school if school in schools else (schools[0] if schools else "")
    names = {s: (found.name if (found := directory.school(engine, s)) else s) for s in schools}
    reports = reports_of(engine, chosen, request.app.state.door.policy.terms, datetime.now(UTC)) if chosen else []
    return page(request, "term_reports.html", status_code=status_code, reports=list(reversed(reports)),
                schools=names, chosen=chosen, risks=RISK_ZH, rungs=RUNGS, done=done, error=error,
                may_send=principal.role is StaffRole.leadership)


@router.get("/reports/terms", response_class=HTMLResponse)
async def term_reports(request: Request, school: Annotated[str, Query(max_length=64)] = "",
                       done: Annotated[str, Query(max_length=40)] = ""):
    return _page(request, school, done=f"已向教育主管部门报送{done}的学期报告" if done else "")


@router.post("/reports/terms", response_class=HTMLResponse)
async def send(request: Request):
    principal = viewer(request, "send the school's term report")
    form = await request.form()
    check_csrf(request, form)
    term = (form.get("term") or "")[:40]
    try:
        await request.app.state.door.send_term_report(term, principal.actor())
    except Invalid as error:
        return _page(request, error=words.invalid_words(error), status_code=422)
    except Refused as error:
        reason = next(iter(error.reasons), "")
        return _page(request, error={"term_not_over": "学期尚未结束，学期最后一天起可以报送",
                                     "term_reported": "本学期的报告已经报送过",
                                     "term_report_failed": "学期报告未能生成，请稍后再试"}.get(reason, "未能报送"),
                     status_code=409)
    return RedirectResponse(f"/ui/reports/terms?done={term}", status_code=303)
