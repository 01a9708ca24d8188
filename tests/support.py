"""Request bodies and small drivers shared by the API tests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from db import store
from models.case import Actor
from tests.conftest import SCHOOL, Stack, auth
from workflows.case_workflow import CaseWorkflow
from workflows.view import case_view

#: people acting on cases started straight on a Temporal server (no API, no token)
HEAD = Actor(staff_id="ht-1", role="head_teacher", school_id=SCHOOL)
PSY = Actor(staff_id="psy-1", role="psychology_teacher", school_id=SCHOOL)
EXPERT = Actor(staff_id="exp-1", role="expert", school_id=SCHOOL)
LEAD = Actor(staff_id="lead-1", role="leadership", school_id=SCHOOL)
LEAD2 = Actor(staff_id="lead-2", role="leadership", school_id=SCHOOL)

STUDENT_NAME = "王小明"
SUMMARY = "周记里写到'活着没意思'，最近常把零食和文具送给同学。"


def open_body(name: str = STUDENT_NAME, summary: str = SUMMARY, school: str = SCHOOL, **extra) -> dict:
    return {
        # school-a's directory lists its classes: a case there names one (school-b lists none)
        "student": {"ref": "2026-0712", "name": name, "school_id": school, "grade": "七年级", "class_name": "七(1)班",
                    **({"class_id": "7-1"} if school == SCHOOL else {})},
        "risk_factors": ["prolonged_low_mood", "major_setback"],
        "warning_signals": ["farewell_behaviour"],
        "summary": summary,
        **extra,
    }


ASSESS_HIGH = {
    "instrument": "cssrs",
    "answers": {"q1": True, "q2": True, "q3": True, "q4": True, "q5": False, "q6": False},
    "expert_consulted": True,
}
ASSESS_LOW = {"instrument": "asq", "answers": {"q1": False, "q2": False, "q3": False, "q4": False}}
ASSESS_MODERATE = {
    "instrument": "cssrs",
    "answers": {"q1": True, "q2": True, "q3": True, "q4": False, "q5": False, "q6": False},
}
NOTICE = {"notified_at": "2026-11-20T09:30:00+08:00", "channel": "phone", "guardian_relation": "母亲"}


def notice(at: datetime | None = None) -> dict:
    """A guardian notice given at ``at`` (default: now): a notice must fall within the case's life."""
    return {**NOTICE, "notified_at": (at or datetime.now(UTC)).isoformat()}


PLAN = {
    "plan": {
        "warning_signs": ["独处时间变长", "赠送物品"],
        "coping_strategies": ["呼吸放松", "写情绪日记"],
        "support_contacts": ["同桌"],
        "professional_contacts": ["学校心理咨询室", "12356 心理援助热线"],
        "environment_safety": "家长收好药品和锐器，宿舍同学陪伴",
    },
    "notes": "每日放学前与心理教师见面十分钟",
}
REFERRAL = {"institution": "市精神卫生中心", "reason": "高风险，需专业评估", "urgency": "urgent"}
CONSENT = {"decision": "consent", "by": "guardian"}
REFUSE = {"decision": "refuse", "by": "guardian", "notes": "家长认为孩子只是青春期情绪"}
CLOSE = {"reason": "resolved", "outcome": "门诊随访中，情绪稳定", "rationale": "连续四周评估为低风险"}

def contact(at: datetime | None = None) -> dict:
    return {"with_whom": "student", "at": (at or datetime.now(UTC)).isoformat(), "channel": "in_person",
            "notes": "午休时谈话二十分钟，情绪较前平稳"}


def outcome(kind: str = "outpatient", at: datetime | None = None) -> dict:
    return {"outcome": kind, "at": (at or datetime.now(UTC)).isoformat(), "recommendations": "门诊复诊，按时服药"}


def return_meeting(at: datetime | None = None) -> dict:
    return {"held_at": (at or datetime.now(UTC)).isoformat(), "attendees": ["班主任", "心理教师", "家长"],
            "adjustments": "暂免晚自习，每周与心理教师见面两次"}


REVIEW = {"observations": "课堂参与增加，睡眠改善", "trend": "better"}


def emergency(at: datetime | None = None) -> dict:
    """The emergency plan as carried out for an imminent risk."""
    return {"at": (at or now()).isoformat(), "with_student": "班主任王老师", "guardian_reached": True,
            "emergency_services": "120", "whereabouts": "市第一人民医院急诊"}
APPROVE = {"decision": "approve", "comment": "同意结案"}

#: The API path and a body for every staff action.
ACTIONS: dict[str, tuple[str, dict]] = {
    "assess": ("assessment", ASSESS_HIGH),
    "guardian_notice": ("guardian-notice", notice),
    "intervene": ("intervention", PLAN),
    "plan": ("plan", PLAN),
    "contact": ("contacts", contact),
    "review": ("review", REVIEW),
    "refer": ("referral", REFERRAL),
    "guardian_response": ("guardian-response", CONSENT),
    "referral_outcome": ("referral-outcome", outcome),
    "return_meeting": ("return-meeting", return_meeting),
    "close": ("closure", CLOSE),
    "closure_decision": ("closure-decision", APPROVE),
    "reopen": ("reopen", {"reason": "出院后再次出现自伤念头"}),
    "emergency_response": ("emergency-response", lambda: emergency()),
    "reassign": ("reassign", {"owner": "p-he", "reason": "陈老师休产假，由何老师接手"}),
    "send_report": ("authority-report", {"note": "学校将继续与家长沟通，班主任每日关注学生情况"}),
    "guardian_callback": ("guardian-callback", lambda: {"at": now().isoformat(), "reached": True,
                                                        "notes": "已与监护人通话，约定明天到校面谈"}),
}

ROLE_FOR = {
    "assess": "psychology_teacher",
    "guardian_notice": "head_teacher",
    "intervene": "psychology_teacher",
    "plan": "psychology_teacher",
    "contact": "psychology_teacher",
    "review": "psychology_teacher",
    "refer": "psychology_teacher",
    "guardian_response": "head_teacher",
    "referral_outcome": "psychology_teacher",
    "return_meeting": "head_teacher",
    "close": "psychology_teacher",
    "closure_decision": "leadership",
    "reopen": "leadership",
    "emergency_response": "psychology_teacher",
    "reassign": "leadership",
    "send_report": "leadership",
    "guardian_callback": "head_teacher",
}


async def open_case(stack: Stack, body: dict | None = None, role: str = "head_teacher") -> dict:
    r = await stack.http.post("/cases", json=body or open_body(), headers=auth(role))
    assert r.status_code == 201, r.text
    return r.json()


async def act(
    stack: Stack, case_id: str, action: str, body: dict | None = None, role: str | None = None
) -> httpx.Response:
    path, default = ACTIONS[action]
    if body is None:
        body = default() if callable(default) else default
    return await stack.http.post(f"/cases/{case_id}/{path}", json=body, headers=auth(role or ROLE_FOR[action]))


async def step(stack: Stack, case_id: str, action: str, body: dict | None = None) -> dict:
    """Take an action and expect it done; a closure a high case proposes (202) is approved by leadership."""
    r = await act(stack, case_id, action, body)
    if action == "close" and r.status_code == 202:
        assert r.json()["closure_proposal"] is not None and r.json()["state"] != "closed"
        r = await act(stack, case_id, "closure_decision", APPROVE)
    assert r.status_code == 200, r.text
    return r.json()


async def refusal_path(stack: Stack, case_id: str) -> None:
    """Drive an open case through refusal, the report a leader confirms and sends, and closure."""
    for action in ("assess", "guardian_notice", "intervene", "refer"):
        await step(stack, case_id, action)
    await step(stack, case_id, "guardian_response", REFUSE)
    await step(stack, case_id, "send_report")
    await step(stack, case_id, "close")


async def workflow_view(stack: Stack, case_id: str) -> dict:
    view = await stack.client.get_workflow_handle(f"case-{case_id}").query(CaseWorkflow.view)
    return view.model_dump(mode="json")


def db_view(stack: Stack, case_id: str) -> dict:
    return case_view(store.load_case(stack.engine, case_id)).model_dump(mode="json")


async def eventually(check, timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        await asyncio.sleep(interval)


def now() -> datetime:
    return datetime.now(UTC)


async def document_text(stack, document_id: str, role: str = "leadership", lang: str | None = None) -> str:
    """A document's text form (what its PDF prints), as the API serves it."""
    r = await stack.http.get(f"/documents/{document_id}", params={"lang": lang} if lang else None,
                             headers={**auth(role), "Accept": "text/plain"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


def paper_of(stack, doc: dict):
    """A made document's request, as its case asked for it, with the school and the names it prints:
    (request, school, language, people), to typeset it again (pages as PNG for screenshots)."""
    from activities import documents
    from db import directory
    from models.case import DocumentRequest

    data = store.load_case(stack.engine, doc["case_id"])
    request = DocumentRequest(document_id=doc["document_id"], kind=doc["kind"], case=data,
                              event_seq=int(doc["document_id"].rsplit("-", 1)[1]),
                              created_at=datetime.fromisoformat(doc["created_at"]))
    school, lang = documents.school_facts(stack.engine, data.school_id, request.kind)
    return request, school, lang, directory.names(stack.engine, {e.actor for e in data.events})
