"""What was recorded on a case, as the case page shows it: every action's details in the words of its form.

The case's events hold each action's body as it was taken (``CaseEvent.detail``, from the read model).
This module lays them out by topic (the safety plan and its revisions, the assessments with their
answers, the guardian's notice and answer, the referral and what came of it, reviews, contacts, the
emergency response, the closure and its approval), each field under the label its form gives it
(``forms.FORMS``), each code in words, each time in Beijing time. It has no words of its own for a field:
a new field on a form is shown here without a change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from api.web import forms
from api.web.render import bj
from models.case import COMMANDS, CaseData, CaseEvent
from models.domain import OBLIGATION_ZH, Action, CaseState, Instrument, Obligation
from paper.words import Lang, word

#: The case page's sections of what was recorded: (id, heading, the actions whose records it shows).
TOPICS: tuple[tuple[str, str, tuple[Action, ...]], ...] = (
    ("plan", "安全计划（一人一策）", (Action.intervene, Action.plan)),
    ("assessments", "风险评估", (Action.assess,)),
    ("emergency", "应急处置", (Action.emergency_response,)),
    ("guardian", "告知监护人与监护人答复", (Action.guardian_notice, Action.guardian_response)),
    ("referral", "转介、就医与返校", (Action.refer, Action.referral_outcome, Action.return_meeting)),
    ("reviews", "跟踪回访", (Action.review,)),
    ("contacts", "咨询与联系记录", (Action.contact,)),
    ("closure", "结案申请、审批与重新开案", (Action.close, Action.closure_decision, Action.reopen)),
    ("owners", "负责心理教师变更", (Action.reassign,)),
)


#: a question's note on when it is asked (the form's, not the answer's)
_ASKED_WHEN = re.compile(r"（[^（）]*时必问）$")


@dataclass
class Row:
    label: str
    #: one value, or several (a list field's lines; an assessment's answers)
    value: str | list[str]
    #: a person's own words (shown as written, keeping its lines)
    narrative: bool = False


@dataclass
class Entry:
    event: CaseEvent
    title: str
    who: str
    rows: list[Row] = field(default_factory=list)


@dataclass
class Topic:
    id: str
    heading: str
    entries: list[Entry]  # newest first


def person(people: dict[str, str], staff_id: str) -> str:
    """A person by name; one no longer in the directory by their id."""
    return people.get(staff_id) or f"名录外人员（{staff_id}）"


def _title(event: CaseEvent) -> str:
    if event.action == Action.close and event.from_state == event.to_state:
        return "提出结案申请（待领导审批）"
    if event.action == Action.closure_decision:
        return "结案审批：批准" if event.detail.get("decision") == "approve" else "结案审批：退回"
    return word(Lang.zh, "action", event.action.value)


def _get(detail: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(detail, dict):
            return None
        detail = detail.get(part)
    return detail


def _value(f: forms.Field, raw, words: dict[str, str], people: dict[str, str]) -> str | list[str] | None:
    if raw is None or raw == "" or raw == []:
        return None
    if f.name == "owner":
        return person(people, raw)
    if f.kind == "datetime":
        return bj(datetime.fromisoformat(raw))
    if isinstance(raw, bool):
        return "是" if raw else "否"
    if isinstance(raw, list):
        return [str(item) for item in raw]
    if f.kind in ("select", "radio"):
        return words.get(str(raw), str(raw))
    return str(raw)


def _form_rows(action: Action, detail: dict, people: dict[str, str]) -> list[Row]:
    rows = []
    for f in forms.FORMS.get(action, ()):
        words = dict(forms.choices(f, COMMANDS[action])) if f.kind in ("select", "radio") else {}
        shown = _value(f, _get(detail, f.name), words, people)
        if shown is not None:
            rows.append(Row(f.label.removesuffix("（每行一条）").removesuffix("（每行一位）"), shown,
                            narrative=f.kind == "textarea"))
    if action is Action.close:
        for code, reason in (detail.get("unmet_reasons") or {}).items():
            name = OBLIGATION_ZH.get(Obligation(code), code) if code in Obligation.__members__ else code
            rows.append(Row(f"尚未完成“{name}”的理由", reason, narrative=True))
    if action is Action.reassign and detail.get("former_owner"):
        rows.insert(0, Row("原负责心理教师", person(people, detail["former_owner"])))
    return rows


def _assessment_rows(detail: dict) -> list[Row]:
    instrument = detail.get("instrument")
    rows = [Row("评估工具", word(Lang.zh, "instrument", instrument))] if instrument else []
    if detail.get("resolved_risk_level"):
        rows.append(Row("评估结果", word(Lang.zh, "risk", detail["resolved_risk_level"])))
    if detail.get("risk_level"):
        rows.append(Row("评估者判断的风险等级", word(Lang.zh, "risk", detail["risk_level"])))
    answers = detail.get("answers") or {}
    if instrument in Instrument.__members__ and answers:
        questions = forms.QUESTIONS.get(Instrument(instrument), ())
        said = {True: "是", False: "否", None: "未问"}
        rows.append(Row("各题回答", [f"{_ASKED_WHEN.sub('', text)} —— {said.get(answers.get(name), '未问')}"
                                    for name, text in questions if name in answers]))
    if detail.get("rationale"):
        rows.append(Row("评估依据", detail["rationale"], narrative=True))
    rows.append(Row("是否请心理危机专家会诊", "是" if detail.get("expert_consulted") else "否"))
    return rows


def entry(event: CaseEvent, people: dict[str, str]) -> Entry:
    rows = (_assessment_rows(event.detail) if event.action == Action.assess
            else _form_rows(event.action, event.detail, people))
    return Entry(event, _title(event), person(people, event.actor), rows)


def topics(data: CaseData, people: dict[str, str]) -> list[Topic]:
    """Every recorded action of the case by topic, newest first; a topic with nothing recorded is left out."""
    found = []
    for id_, heading, actions in TOPICS:
        events = [e for e in data.events if e.action in actions]
        if events:
            found.append(Topic(id_, heading, [entry(e, people) for e in reversed(events)]))
    return found


def current_plan(data: CaseData) -> dict[str, str]:
    """The safety plan now in force, as its revision form's fields are filled in (one line per item)."""
    latest = next((e for e in reversed(data.events) if e.action in (Action.intervene, Action.plan)), None)
    if latest is None:
        return {}
    values = {}
    for f in forms.FORMS[Action.plan]:
        raw = _get(latest.detail, f.name)
        if f.name == "notes":
            continue  # the notes were about that version; a revision writes its own
        if raw:
            values[f.name] = "\n".join(raw) if isinstance(raw, list) else str(raw)
    return values


def returned_closure(data: CaseData) -> CaseEvent | None:
    """The latest closure sent back by leadership, while the case is open and no new proposal followed."""
    if data.state is CaseState.closed or data.closure_proposal is not None:
        return None
    for event in reversed(data.events):
        if event.action == Action.close:
            return None
        if event.action == Action.closure_decision and event.detail.get("decision") == "return":
            return event
    return None
