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
from models.domain import SYSTEM, Action, DocumentKind
from models.incident import SECTIONS, IncidentData
from models.term_report import TermFigures, TermReportRequest
from paper.qr import qr_facts
from paper.quotes import quotes
from paper.words import Lang, word

BEIJING = ZoneInfo("Asia/Shanghai")

TITLES = {
    Lang.zh: {
        DocumentKind.guardian_notice: "学生心理健康情况告知书",
        DocumentKind.referral_letter: "学生心理危机转介单",
        DocumentKind.authority_report: "关于学生拒绝就医情况的报告",
        DocumentKind.closure_summary: "学生心理危机个案结案报告",
        DocumentKind.incident_review: "学生心理健康极端事件调查复盘报告",
        DocumentKind.followup_report: "关于学生拒绝就医情况的续报",
        DocumentKind.term_report: "学生心理危机干预工作学期报告",
    },
    Lang.en: {
        DocumentKind.guardian_notice: "Notice to the Guardian on a Student's Mental Health",
        DocumentKind.referral_letter: "Referral of a Student in Psychological Crisis",
        DocumentKind.authority_report: "Report on a Refusal of Medical Care",
        DocumentKind.closure_summary: "Case Closure Report",
        DocumentKind.incident_review: "Investigation and Review Report on an Extreme Event",
        DocumentKind.followup_report: "Follow-up Report on a Refusal of Medical Care",
        DocumentKind.term_report: "Term Report on Student Crisis Intervention",
    },
}


class SchoolFacts(BaseModel):
    """The school as paper names it (from the directory)."""

    name: str
    authority: str  # the local authority it reports to, by its directory name
    contact_name: str | None = None
    contact_phone: str | None = None
    hotlines: list[dict[str, str]] = []  # each {name, number}: printed under its own name
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
            return _detail(event)
    return {}


def _detail(event) -> dict[str, Any]:
    return {**event.detail, "at": event.at, "actor": event.actor, "actor_role": event.actor_role}


def _all(case: CaseData, action: Action, upto: int, **match: str) -> list[dict[str, Any]]:
    return [_detail(e) for e in case.events if e.action == action and e.seq <= upto
            and all(e.detail.get(k) == v for k, v in match.items())]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


#: rows an official table leaves out: what the system did for itself (a warning climbing, a notice or document
#: that failed) is the school's working record, not what people did or what the school decided
INTERNAL_ROWS = frozenset({Action.escalate, Action.effect_failed})
#: how each kind of paper is to be kept, printed at the head of every page: the internal mark on the school's
#: and the authorities' papers; the family's and the hospital's say how to keep them
MARKS = {
    DocumentKind.guardian_notice: {Lang.zh: "请妥善保管，仅用于学生就医",
                                   Lang.en: "Please keep safe; for the student's medical care only"},
    DocumentKind.referral_letter: {Lang.zh: "请妥善保管，仅用于学生就医",
                                   Lang.en: "Please keep safe; for the student's medical care only"},
}
INTERNAL_MARK = {Lang.zh: "内部 · 涉及未成年人心理健康信息，不得外传",
                 Lang.en: "Internal · a minor's mental-health record: do not pass on"}


def head(kind: DocumentKind, lang: Lang, school: SchoolFacts, number: str, issued: datetime) -> dict[str, Any]:
    """What every document's facts begin with: its kind, title, mark and number, the quotes, its date, the
    school."""
    return {"lang": lang.value, "kind": kind.value, "title": TITLES[lang][kind], "mark": mark(kind, lang),
            "quotes": quotes(), "number": number, "issued_on": when(issued, lang, with_time=False),
            "issued_at": when(issued, lang), "school": {**school.model_dump(), **contacts(school, lang)}}


def mark(kind: DocumentKind, lang: Lang) -> str:
    return MARKS.get(kind, INTERNAL_MARK)[lang]


def level_words(level: int, lang: Lang) -> str:
    """The highest warning a duty reached, in words (0: none)."""
    if lang is Lang.zh:
        return "未预警" if not level else f"{level}级预警"
    return "none" if not level else f"level {level}"


def what_happened(event, lang: Lang) -> str:
    """An event's row in words, with the decision it carries (a proposal is not a closure; a return is not an
    approval; a refusal is not a consent)."""
    what = word(lang, "action", event.action)
    if event.action is Action.close and event.to_state.value != "closed":
        return "提出结案" if lang is Lang.zh else "closure proposed"
    decision = event.detail.get("decision")
    if event.action is Action.closure_decision and decision:
        return f"{what}（{word(lang, 'closure_decision', decision)}）" if lang is Lang.zh else \
            f"{what} ({word(lang, 'closure_decision', decision)})"
    if event.action is Action.guardian_response and decision:
        return f"{what}（{word(lang, 'decision', decision)}）" if lang is Lang.zh else \
            f"{what} ({word(lang, 'decision', decision)})"
    return what


def followup(case: CaseData, upto: int, lang: Lang, by) -> dict[str, Any]:
    """What a 续报 says: the report it follows (its number and time) and the change, in words."""
    reports = [e for e in case.events if e.seq < upto and e.action in (Action.report, Action.send_report)]
    change = next((e for e in case.events if e.seq == upto), None)
    if not reports or change is None:
        return {"present": False}
    report = reports[-1]
    if report.action is Action.report:  # the workflow's own report was made for the refusal that caused it
        report = next(e for e in reversed(case.events) if e.seq < report.seq and e.to_state.value == "parent_refused")
    detail = change.detail
    if change.action is Action.guardian_response:
        notes = f"（{detail['notes']}）" if detail.get("notes") else ""
        said = word(lang, "decision", detail.get("decision")) + notes
    elif change.action is Action.referral_outcome:
        said = word(lang, "referral_outcome", detail.get("outcome")) + (
            f"：{detail['recommendations']}" if detail.get("recommendations") else "")
    else:  # a closure, direct or approved
        closure = _latest(case, Action.close, upto)
        said = word(lang, "closure_reason", closure.get("reason")) + (
            f"：{closure['outcome']}" if closure.get("outcome") else "")
    return {"present": True, "report_number": f"{case_ref(case.case_id)}-{report.seq:02d}",
            "report_at": when(report.at, lang), "what": what_happened(change, lang), "at": when(change.at, lang),
            "by": by({"actor": change.actor, "actor_role": change.actor_role}), "said": said,
            "state": word(lang, "state", change.to_state)}


def contacts(school: SchoolFacts, lang: Lang) -> dict[str, Any]:
    """Who to call back at the school, and each hotline under its own name."""
    return {
        "contact": (f"{school.contact_name}，{school.contact_phone}" if lang is Lang.zh
                    else f"{school.contact_name}, {school.contact_phone}") if school.contact_name else "",
        "contact_name": school.contact_name or "",
        "contact_phone": school.contact_phone or "",
        "hotlines": [f"{h['name']} {h['number']}" for h in school.hotlines],
    }


def case_facts(request: DocumentRequest, school: SchoolFacts, people: dict[str, str], lang: Lang,
               link: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the case's document of ``request.kind`` prints, in ``lang``; ``link``: the guardian notice's
    one-time answer link (url, code, expires_at), drawn as a QR code beside its code."""
    case, upto = request.case, request.event_seq
    student = case.student

    def by(detail: dict[str, Any]) -> str:
        if detail.get("actor") == SYSTEM:  # the school's own step, taken as its policy says
            return school.name
        return who(detail.get("actor"), detail.get("actor_role"), people, lang)

    assessment = _latest(case, Action.assess, upto)
    notice = _latest(case, Action.guardian_notice, upto)
    intervention = _latest(case, Action.intervene, upto) or _latest(case, Action.plan, upto)
    referral = _latest(case, Action.refer, upto)
    response = _latest(case, Action.guardian_response, upto)
    outcome = _latest(case, Action.referral_outcome, upto)
    closure = _latest(case, Action.close, upto)
    approval = next(iter(reversed(_all(case, Action.closure_decision, upto, decision="approve"))), {})
    refusals = _all(case, Action.guardian_response, upto, decision="refuse")
    sent = _latest(case, Action.send_report, upto)
    plan = intervention.get("plan") or {}
    ref = case_ref(case.case_id)
    events = [e for e in sorted(case.events, key=lambda e: e.seq) if e.seq <= upto and e.action not in INTERNAL_ROWS]
    facts: dict[str, Any] = {
        **head(request.kind, lang, school, f"{ref}-{request.event_seq:02d}", request.created_at),
        "case_ref": ref,
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
            "by": by(assessment),
            "instrument": word(lang, "instrument", assessment.get("instrument")),
            "expert_consulted": bool(assessment.get("expert_consulted")),
            "by_expert": assessment.get("actor_role") == "expert",
            "result": word(lang, "risk", assessment.get("resolved_risk_level")),
            "rationale": _text(assessment.get("rationale")),
        },
        # the school's own advice (its policy file's number), never presented as the policy's
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
            # one plan, revised as the case goes: when, and by whom
            "versions": [{"at": when(d["at"], lang), "by": by(d)}
                         for d in _all(case, Action.intervene, upto) + _all(case, Action.plan, upto)],
        },
        "emergency": [
            {"at": when(d.get("at"), lang), "by": by(d), "with_student": _text(d.get("with_student")),
             "guardian_reached": word(lang, "yes_no", "yes" if d.get("guardian_reached") else "no"),
             "services": word(lang, "emergency_services", d.get("emergency_services")),
             "whereabouts": _text(d.get("whereabouts")), "notes": _text(d.get("notes"))}
            for d in _all(case, Action.emergency_response, upto)
        ],
        "referral": {
            "present": bool(referral),
            "institution": _text(referral.get("institution")),
            "reason": _text(referral.get("reason")),
            "urgency": word(lang, "urgency", referral.get("urgency")),
            "urgent": referral.get("urgency") == "urgent",
            "at": when(referral.get("at"), lang),
            "by": by(referral),
            "outcome": word(lang, "referral_outcome", outcome.get("outcome"), ""),
            "outcome_at": when(outcome.get("at"), lang) if outcome else "",
        },
        "response": {
            "present": bool(response),
            "decision": word(lang, "decision", response.get("decision")),
            "refused": response.get("decision") == "refuse",
            "by": word(lang, "by", response.get("by")),
            "at": when(response.get("at"), lang),
            "notes": _text(response.get("notes")),
        },
        "refusals": [{"at": when(d["at"], lang), "by": word(lang, "by", d.get("by")), "notes": _text(d.get("notes"))}
                     for d in refusals],
        "reviews": [{"at": when(d["at"], lang), "by": by(d), "trend": word(lang, "trend", d.get("trend"))}
                    for d in _all(case, Action.review, upto)],
        # the report as a leader sent it (REPORT_CONFIRMED): who, when, their note
        "sent": {"present": bool(sent), "by": by(sent) if sent else "", "at": when(sent.get("at"), lang),
                 "note": _text(sent.get("note"))},
        # a 续报: the report it follows, and what changed (the event that made it)
        "followup": followup(case, upto, lang, by),
        "reopenings": [{"at": when(d["at"], lang), "by": by(d), "reason": _text(d.get("reason"))}
                       for d in _all(case, Action.reopen, upto)],
        "closure": {
            "present": bool(closure),
            "reason": word(lang, "closure_reason", closure.get("reason")),
            "outcome": _text(closure.get("outcome")),
            "rationale": _text(closure.get("rationale")),
            "by": by(closure) if closure else "",
            "at": when(closure.get("at"), lang),
            "approved_by": by(approval) if approval else "",
            "approved_at": when(approval.get("at"), lang) if approval else "",
            "approval_comment": _text(approval.get("comment")),
            "returned": [{"at": when(d["at"], lang), "by": by(d), "why": _text(d.get("comment"))}
                         for d in _all(case, Action.closure_decision, upto, decision="return")],
            "unmet": [{"duty": word(lang, "obligation", k), "why": _text(v)}
                      for k, v in (closure.get("unmet_reasons") or {}).items()],
        },
        "highest_warning": level_words(max((d.escalation_level for d in case.deadlines), default=0), lang),
        "deadlines": [
            {"duty": word(lang, "obligation", d.obligation), "due": when(d.due_at, lang),
             "met": when(d.met_at, lang), "level": level_words(d.escalation_level, lang)}
            for d in case.deadlines
        ],
        "events": [
            {"at": when(e.at, lang), "what": what_happened(e, lang),
             "who": by({"actor": e.actor, "actor_role": e.actor_role}), "state": word(lang, "state", e.to_state)}
            for e in events
        ],
    }
    if link is not None:
        facts["answer"] = {"url": link["url"], "code": link["code"], "until": when(link["expires_at"], lang),
                           "qr": qr_facts(link["url"])}
    return facts


def incident_facts(data: IncidentData, school: SchoolFacts, people: dict[str, str], lang: Lang,
                   author: str | None = None) -> dict[str, Any]:
    """The extreme event's review report, in ``lang``: written by ``author`` (the investigating authority, by its
    directory name; the school, for events recorded before the authority investigated), to the province."""
    event = data.event
    submitter = data.submitted_by
    group = data.group
    account = data.school_account
    return {
        **head(DocumentKind.incident_review, lang, school, f"{case_ref(data.incident_id)}-R", data.submitted_at),
        "author": author or school.name,
        "by_authority": data.by_authority,
        "incident": {
            "kind": word(lang, "incident_kind", event.kind),
            "when": when(event.occurred_at, lang),
            "place": event.place,
            "recorded_at": when(data.recorded_at, lang),
            "due": when(data.deadline.due_at, lang),
            "case_ref": case_ref(event.case_id) if event.case_id else "",
        },
        "group": [] if group is None else (
            [{"name": people.get(m, m), "organisation": author or "", "kind": word(lang, "member_kind", "authority")}
             for m in group.members]
            + [{"name": m.name, "organisation": m.organisation, "kind": word(lang, "member_kind", m.kind)}
               for m in group.external]),
        "school_account": "" if account is None else (
            f"{school.name}于{when(account.at, lang)}提供" if lang is Lang.zh
            else f"given by {school.name} on {when(account.at, lang)}"),
        "sections": [{"heading": SECTIONS[name][lang.value],
                      "paragraphs": [p.strip() for p in getattr(data.report, name).split("\n") if p.strip()]}
                     for name in SECTIONS],
        "submitted_by": who(submitter.staff_id, submitter.role.value, people, lang) if submitter else "—",
    }


def term_facts(counted: TermFigures, request: TermReportRequest, school: SchoolFacts, people: dict[str, str],
               lang: Lang) -> dict[str, Any]:
    """A school's term report: the term's counts (already masked), in ``lang``; no student, no case."""
    term = counted.term
    risk = {r: word(lang, "risk", r) if r != "unassessed" else ("尚未评估" if lang is Lang.zh else "not yet assessed")
            for r in counted.opened}
    return {
        **head(DocumentKind.term_report, lang, school, f"{term.start:%Y%m%d}-{term.end:%Y%m%d}", request.sent_at),
        "term": {"name": term.name, "from": when(datetime.combine(term.start, datetime.min.time(), BEIJING), lang,
                                                 with_time=False),
                 "to": when(datetime.combine(term.end, datetime.min.time(), BEIJING), lang, with_time=False)},
        "rows": [{"risk": risk[r], "opened": counted.opened[r], "closed": counted.closed[r]} for r in counted.opened],
        "opened_total": counted.opened_total,
        "closed_total": counted.closed_total,
        "in_time": {"handled": counted.in_time_handled, "decided": counted.in_time_decided,
                    "share": counted.in_time_share or ("不计算（人数少于5）" if lang is Lang.zh
                                                       else "not given (fewer than 5)")},
        "refusals": counted.refusals,
        "reported": counted.reported,
        "overdue": [{"rung": (f"{rung}级预警" if lang is Lang.zh else f"level {rung}"), "count": n}
                    for rung, n in counted.overdue.items()],
        "screened_students": counted.screened_students,
        "screening_batches": counted.screening_batches,
        "sent_by": who(request.sent_by, request.sent_by_role, people, lang),
    }
