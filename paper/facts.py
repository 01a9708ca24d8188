"""What a document prints, in words: the JSON a Typst template reads through ``sys.inputs``.

Pure: the case (or incident), the school as the directory names it, and the names of the
people involved go in; a dict of printable strings comes out. Nothing a template receives is a
code: no school or staff ids, no action or instrument codes, no internal ids. The case is
named by its short reference; times are Beijing time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from models.case import CaseData, DocumentRequest, case_ref
from models.domain import Action, DocumentKind
from models.incident import SECTIONS, IncidentData
from paper.words import Lang, word

BEIJING = ZoneInfo("Asia/Shanghai")

TITLES = {
    Lang.zh: {
        DocumentKind.guardian_notice: "学生心理健康情况告知书",
        DocumentKind.referral_letter: "学生心理危机转介单",
        DocumentKind.authority_report: "关于学生拒绝就医情况的报告",
        DocumentKind.closure_summary: "学生心理危机个案结案报告",
        DocumentKind.incident_review: "学生心理健康极端事件调查复盘报告",
    },
    Lang.en: {
        DocumentKind.guardian_notice: "Notice to the Guardian on a Student's Mental Health",
        DocumentKind.referral_letter: "Referral of a Student in Psychological Crisis",
        DocumentKind.authority_report: "Report on a Refusal of Medical Care",
        DocumentKind.closure_summary: "Case Closure Report",
        DocumentKind.incident_review: "Investigation and Review Report on an Extreme Event",
    },
}


class SchoolFacts(BaseModel):
    """The school as paper names it (from the directory)."""

    name: str
    authority: str
    hotline: str | None = None
    province: str | None = None  # the provincial education department, for extreme-event reviews


def when(value: datetime | str | None, lang: Lang, with_time: bool = True) -> str:
    """A time as the school reads it: Beijing time, in words of the language."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = moment.astimezone(BEIJING)
    if lang is Lang.en:
        return local.strftime("%-d %b %Y, %H:%M (Beijing time)" if with_time else "%-d %B %Y")
    day = f"{local.year}年{local.month}月{local.day}日"
    return f"{day} {local:%H:%M}" if with_time else day


def span(value: timedelta, lang: Lang) -> str:
    hours = value.total_seconds() / 3600
    if lang is Lang.en:
        return f"{hours:g} hours" if hours >= 1 else f"{value.total_seconds() / 60:g} minutes"
    return f"{hours:g} 小时" if hours >= 1 else f"{value.total_seconds() / 60:g} 分钟"


def who(actor: str | None, role: str | None, people: dict[str, str], lang: Lang) -> str:
    """A person as paper names them: name and role; the role alone for someone outside the directory."""
    role_words = word(lang, "role", role or "system")
    name = people.get(actor or "")
    if not name:
        return role_words
    return f"{name}（{role_words}）" if lang is Lang.zh else f"{name} ({role_words})"


def _latest(case: CaseData, action: Action, upto: int) -> dict[str, Any]:
    for event in reversed(case.events):
        if event.action == action and event.seq <= upto:
            return {**event.detail, "at": event.at, "actor": event.actor, "actor_role": event.actor_role}
    return {}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def case_facts(request: DocumentRequest, school: SchoolFacts, people: dict[str, str], lang: Lang) -> dict[str, Any]:
    """Everything the case's document of ``request.kind`` prints, in ``lang``."""
    case, upto = request.case, request.event_seq
    student = case.student
    assessment = _latest(case, Action.assess, upto)
    notice = _latest(case, Action.guardian_notice, upto)
    intervention = _latest(case, Action.intervene, upto) or _latest(case, Action.plan, upto)
    referral = _latest(case, Action.refer, upto)
    response = _latest(case, Action.guardian_response, upto)
    closure = _latest(case, Action.close, upto)
    approval = _latest(case, Action.closure_decision, upto)
    plan = intervention.get("plan") or {}
    ref = case_ref(case.case_id)
    facts: dict[str, Any] = {
        "lang": lang.value,
        "kind": request.kind.value,
        "title": TITLES[lang][request.kind],
        "number": f"{ref}-{request.event_seq:02d}",
        "case_ref": ref,
        "issued_on": when(request.created_at, lang, with_time=False),
        "issued_at": when(request.created_at, lang),
        "school": school.model_dump(),
        "student": {"name": student.name, "ref": student.ref, "grade": student.grade, "class_name": student.class_name},
        "opened_at": when(case.opened_at, lang),
        "opened_by": who(case.opened_by.staff_id, case.opened_by.role.value, people, lang),
        "risk": word(lang, "risk", case.risk_level, "—"),
        "imminent": case.risk_level is not None and case.risk_level.value == "imminent",
        "state": word(lang, "state", case.state),
        "risk_factors": [word(lang, "risk_factor", f) for f in case.risk_factors],
        "warning_signals": [word(lang, "warning_signal", s) for s in case.warning_signals],
        "screening_flags": [word(lang, "screening_flag", f) for f in case.screening_flags],
        "assessment": {
            "present": bool(assessment),
            "at": when(assessment.get("at"), lang),
            "by": who(assessment.get("actor"), assessment.get("actor_role"), people, lang),
            "instrument": word(lang, "instrument", assessment.get("instrument")),
            "expert_consulted": bool(assessment.get("expert_consulted")),
            "by_expert": assessment.get("actor_role") == "expert",
            "result": word(lang, "risk", assessment.get("resolved_risk_level")),
            "rationale": _text(assessment.get("rationale")),
        },
        "seek_care_within": span(case.policy.seek_care_within(case.risk_level), lang),
        "notice": {
            "present": bool(notice),
            "at": when(notice.get("notified_at"), lang),
            "channel": word(lang, "channel", notice.get("channel")),
            "relation": _text(notice.get("guardian_relation")),
            # the green channel before the guardian was told: why, as the referral recorded it
            "emergency_reason": word(lang, "emergency_reason", referral.get("emergency_reason"), ""),
        },
        "plan": {
            "present": bool(plan),
            "warning_signs": plan.get("warning_signs", []),
            "coping_strategies": plan.get("coping_strategies", []),
            "support_contacts": len(plan.get("support_contacts", [])),
            "environment_safety": _text(plan.get("environment_safety")),
        },
        "referral": {
            "present": bool(referral),
            "institution": _text(referral.get("institution")),
            "reason": _text(referral.get("reason")),
            "urgency": word(lang, "urgency", referral.get("urgency")),
            "urgent": referral.get("urgency") == "urgent",
            "at": when(referral.get("at"), lang),
            "by": who(referral.get("actor"), referral.get("actor_role"), people, lang),
        },
        "response": {
            "present": bool(response),
            "decision": word(lang, "decision", response.get("decision")),
            "refused": response.get("decision") == "refuse",
            "by": word(lang, "by", response.get("by")),
            "at": when(response.get("at"), lang),
            "notes": _text(response.get("notes")),
        },
        "closure": {
            "present": bool(closure),
            "reason": word(lang, "closure_reason", closure.get("reason")),
            "outcome": _text(closure.get("outcome")),
            "rationale": _text(closure.get("rationale")),
            "by": who(closure.get("actor"), closure.get("actor_role"), people, lang),
            "at": when(closure.get("at"), lang),
            "approved_by": who(approval.get("actor"), approval.get("actor_role"), people, lang) if approval else "",
            "unmet": [{"duty": word(lang, "obligation", k), "why": _text(v)}
                      for k, v in (closure.get("unmet_reasons") or {}).items()],
        },
        "deadlines": [
            {"duty": word(lang, "obligation", d.obligation), "due": when(d.due_at, lang),
             "met": when(d.met_at, lang), "level": d.escalation_level}
            for d in case.deadlines
        ],
        "events": [
            {"at": when(e.at, lang), "what": word(lang, "action", e.action), "who": who(e.actor, e.actor_role, people,
                                                                                          lang),
             "state": word(lang, "state", e.to_state)}
            for e in sorted(case.events, key=lambda e: e.seq) if e.seq <= upto
        ],
    }
    return facts


def incident_facts(data: IncidentData, school: SchoolFacts, people: dict[str, str], lang: Lang) -> dict[str, Any]:
    """The extreme event's review report, in ``lang`` (the sections as the school wrote them)."""
    event = data.event
    submitter = data.submitted_by
    return {
        "lang": lang.value,
        "kind": DocumentKind.incident_review.value,
        "title": TITLES[lang][DocumentKind.incident_review],
        "number": f"{case_ref(data.incident_id)}-R",
        "issued_on": when(data.submitted_at, lang, with_time=False),
        "issued_at": when(data.submitted_at, lang),
        "school": school.model_dump(),
        "incident": {
            "kind": word(lang, "incident_kind", event.kind),
            "when": when(event.occurred_at, lang),
            "place": event.place,
            "recorded_at": when(data.recorded_at, lang),
            "due": when(data.deadline.due_at, lang),
            "case_ref": case_ref(event.case_id) if event.case_id else "",
        },
        "sections": [{"heading": SECTIONS[name][lang.value],
                      "paragraphs": [p.strip() for p in getattr(data.report, name).split("\n") if p.strip()]}
                     for name in SECTIONS],
        "submitted_by": who(submitter.staff_id, submitter.role.value, people, lang) if submitter else "—",
    }
