"""Casework as schools do it: the seeds' rules, and a high case's whole journey on the time-skipping server.

Each rule test states the rule from docs/domain.md it holds to; the journey runs a high case
through reassessment, the green channel, refusal and report, a later consent, hospital and return
meeting, weekly reviews (one missed), a closure proposal sent back, then approved, and a reopening.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from db import directory, store
from db.tables import NotificationRow
from models.case import ActionCommand, CaseStart, OpenCaseBody
from models.directory import read_directory
from models.policy import DeadlinePolicy
from tests.conftest import auth, settled_terminate
from tests.support import (
    ASSESS_HIGH,
    ASSESS_LOW,
    CLOSE,
    CONSENT,
    EXPERT,
    HEAD,
    LEAD,
    LEAD2,
    PLAN,
    PSY,
    REFERRAL,
    REFUSE,
    act,
    document_text,
    emergency,
    eventually,
    notice,
    open_body,
    open_case,
    outcome,
    return_meeting,
    step,
)
from tests.test_paper import save_first_page
from workflows.case_workflow import CaseWorkflow
from workflows.view import case_view

DIRECTORY = Path(__file__).with_name("directory.yaml")

#: the school's psychology teacher 陈老师 (tests/directory.yaml): she assesses, and so owns, the journey's case
CHEN = PSY.model_copy(update={"staff_id": "p-chen"})
ASSESS_IMMINENT = {"instrument": "asq", "answers": {"q1": True, "q2": True, "q3": True, "q4": True, "q5": True}}
URGENT = {**REFERRAL, "urgency": "urgent", "emergency_reason": "guardian_unreachable"}


def _open_obligations(view: dict) -> set[str]:
    return {d["obligation"] for d in view["deadlines"] if d["met_at"] is None}


# ------------------------------------------------------------ the seeds' rules


async def test_1_a_high_case_never_closes_without_the_guardian_told(sqlite_stack):
    stack = sqlite_stack
    cid = (await open_case(stack))["case_id"]
    await step(stack, cid, "assess")
    await step(stack, cid, "intervene")
    r = await act(stack, cid, "close")
    assert r.status_code == 409 and "guardian notice on record" in r.json()["detail"]
    await step(stack, cid, "guardian_notice")
    r = await act(stack, cid, "close")
    assert r.status_code == 202 and r.json()["closure_proposal"]["by"] == "psychology-teacher-1"


async def test_7_high_once_high_for_closure(sqlite_stack):
    """A case that was ever high needs the guardian notice on record and two people to close, whatever its
    risk is now: assessed high, then reassessed low, it is still only proposed for closure."""
    stack = sqlite_stack
    cid = (await open_case(stack))["case_id"]
    await step(stack, cid, "assess")  # high
    await step(stack, cid, "intervene")
    view = await step(stack, cid, "assess", ASSESS_LOW)
    assert view["risk_level"] == "low"
    r = await act(stack, cid, "close")
    assert r.status_code == 409 and "guardian notice on record" in r.json()["detail"]
    assert "guardian_notice_on_record" in r.json()["reasons"]
    await step(stack, cid, "guardian_notice")
    r = await act(stack, cid, "close")
    assert r.status_code == 202 and r.json()["state"] == "intervened" and r.json()["closure_proposal"]

    # a case that was never high still closes at once
    other = (await open_case(stack))["case_id"]
    await step(stack, other, "assess", ASSESS_LOW)
    assert (await step(stack, other, "close", CLOSE))["state"] == "closed"


async def test_1_closing_with_an_obligation_unmet_needs_a_reason_for_it(sqlite_stack):
    stack = sqlite_stack
    cid = (await open_case(stack))["case_id"]
    await step(stack, cid, "assess", {"instrument": "clinical", "risk_level": "moderate", "rationale": "持续低落"})
    await step(stack, cid, "intervene")
    await step(stack, cid, "review", {"observations": "又开始失眠", "trend": "worse"})  # a reassessment is due
    r = await act(stack, cid, "close")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "unmet_reasons", "reassess"]
    view = await step(stack, cid, "close", {**CLOSE, "unmet_reasons": {"reassess": "学生转学，由新学校评估"}})
    assert view["state"] == "closed"
    close = next(e for e in view["events"] if e["action"] == "close")
    assert close["from_state"] == "intervened"
    detail = next(e for e in store.load_case(stack.engine, cid).events if e.action == "close").detail
    assert detail["unmet_reasons"] == {"reassess": "学生转学，由新学校评估"}


async def test_2_an_imminent_case_takes_the_green_channel_and_the_plan_follows(sqlite_stack):
    stack = sqlite_stack
    cid = (await open_case(stack))["case_id"]
    view = await step(stack, cid, "assess", ASSESS_IMMINENT)
    assert view["risk_level"] == "imminent" and "refer" in view["allowed_actions"]
    routine = await act(stack, cid, "refer", {**REFERRAL, "urgency": "routine"})
    assert routine.status_code == 409 and "imminent" not in routine.json()["allowed_actions"]
    # 7. the green channel before the guardian is told needs its reason, and the notice is then due at once
    bare = await act(stack, cid, "refer", {**REFERRAL, "urgency": "urgent"})
    assert bare.status_code == 422 and bare.json()["detail"][0]["loc"] == ["body", "emergency_reason"]
    view = await step(stack, cid, "refer", URGENT)
    assert view["state"] == "referred" and "intervene" in _open_obligations(view)
    referred_at = next(e["at"] for e in view["events"] if e["action"] == "refer")
    notice = next(d for d in view["deadlines"] if d["obligation"] == "guardian_notice" and not d["met_at"])
    assert datetime.fromisoformat(notice["due_at"]) - datetime.fromisoformat(referred_at) == timedelta(minutes=15)
    view = await step(stack, cid, "plan", PLAN)  # the plan follows, and meets its obligation
    assert "intervene" not in _open_obligations(view)

    async def letter():
        r = await stack.http.get(f"/cases/{cid}/documents", headers=auth("psychology_teacher"))
        return next((d for d in r.json() if d["kind"] == "referral_letter"), None) if r.status_code == 200 else None

    doc = await eventually(letter)
    text = await document_text(stack, doc["document_id"], "psychology_teacher")
    assert "监护人无法联系" in text and "尚未记录" not in text
    if folder := os.environ.get("CRISISFLOW_SAVE_PREVIEWS"):  # docs/images: the letter as a school prints it
        save_first_page(stack, doc, Path(folder))


async def test_3_a_guardian_who_refused_can_consent_later(stack, webhook):
    cid = (await open_case(stack))["case_id"]
    for action in ("assess", "guardian_notice", "intervene", "refer"):
        await step(stack, cid, action)
    await step(stack, cid, "guardian_response", REFUSE)
    await step(stack, cid, "send_report")
    view = await step(stack, cid, "guardian_response", CONSENT)
    assert view["state"] == "referred"
    assert [e["action"] for e in view["events"]][-3:] == ["guardian_response", "send_report", "guardian_response"]

    async def kinds():
        documents = (await stack.http.get(f"/cases/{cid}/documents", headers=auth("leadership"))).json()
        return {d["kind"] for d in documents}

    # the report stays on record, and the consent is followed up to the same authority (续报)
    assert await eventually(lambda: _has_all(kinds(), {"authority_report", "followup_report"}), timeout=20)


async def test_5_leadership_is_told_at_once_of_an_imminent_assessment(stack, webhook):
    cid = (await open_case(stack, open_body(warning_signals=[])))["case_id"]
    await step(stack, cid, "assess", ASSESS_IMMINENT)
    told = await eventually(lambda: webhook.bodies(event="imminent_risk", case_id=cid))
    assert told[0]["recipient_roles"] == ["leadership"]


async def test_6_the_guardian_notice_follows_the_risk_and_the_assessor(sqlite_stack):
    stack = sqlite_stack
    cid = (await open_case(stack))["case_id"]
    r = await stack.http.post(f"/cases/{cid}/assessment", json=ASSESS_IMMINENT, headers=auth("expert"))
    assert r.status_code == 200

    async def notice_text():
        docs = (await stack.http.get(f"/cases/{cid}/documents", headers=auth("leadership"))).json()
        if not docs:
            return None
        return await document_text(stack, docs[0]["document_id"], "leadership")

    text = await eventually(notice_text)
    assert "心理危机专家" in text and "学校心理教师于" not in text
    assert "立即" in text and "12 小时" in text and "72 小时" not in text


# ------------------------------------------------------------- the journey


async def test_a_high_case_from_reassessment_to_reopening(ts):
    env, settings, engine = ts
    case_id = uuid.uuid4().hex
    directory.load(engine, read_directory(DIRECTORY))  # the school's people: notices name them
    body = open_body()
    body["student"]["class_id"] = "8-3"
    start = CaseStart(case_id=case_id, opened_by=HEAD, case=OpenCaseBody.model_validate(body),
                      policy=DeadlinePolicy(), history_event_limit=10_000)
    handle = await env.client.start_workflow(CaseWorkflow.run, start, id=f"case-{case_id}",
                                             task_queue=settings.task_queue)
    await handle.execute_update(CaseWorkflow.opened)

    async def do(actor, body):
        command = ActionCommand.model_validate({"actor": actor, "body": body})
        return (await handle.execute_update(CaseWorkflow.act, command)).model_dump(mode="json")

    async def told(event: str) -> list[list[str]]:
        with Session(engine) as session:
            rows = session.exec(select(NotificationRow).where(col(NotificationRow.case_id) == case_id,
                                                              col(NotificationRow.event) == event)).all()
        return [r.recipient_roles for r in rows]

    async def people(event: str) -> list[list[str]]:
        with Session(engine) as session:
            rows = session.exec(select(NotificationRow).where(col(NotificationRow.case_id) == case_id,
                                                              col(NotificationRow.event) == event)).all()
        return [r.recipient_staff for r in rows]

    async def now():
        return await env.get_current_time()

    # assessed high, then reassessed up to imminent: the deadlines follow the new level
    view = await do(CHEN, {"action": "assess", **ASSESS_HIGH})
    assert view["risk_level"] == "high" and _open_obligations(view) == {"guardian_notice", "intervene", "review"}
    intervene_due = next(d["due_at"] for d in view["deadlines"] if d["obligation"] == "intervene")
    await env.sleep(timedelta(hours=1))
    view = await do(EXPERT, {"action": "assess", **ASSESS_IMMINENT})
    assert view["state"] == "assessed" and view["risk_level"] == "imminent"
    assert next(d["due_at"] for d in view["deadlines"] if d["obligation"] == "intervene") < intervene_due  # 4 h now
    assert await eventually(lambda: told("imminent_risk")) == [["leadership"]]
    assert await people("imminent_risk") == [["l-sun"]]  # the leadership group, by name
    # the emergency plan, due at once, is carried out and recorded (对紧急情况，应立即启动应急预案)
    assert "emergency_response" in _open_obligations(view)
    view = await do(CHEN, {"action": "emergency_response", **emergency(await now())})
    assert "emergency_response" not in _open_obligations(view)

    # the green channel: urgent referral straight away; the guardian is told; the family refuses
    view = await do(CHEN, {"action": "refer", **URGENT})
    assert view["state"] == "referred" and "guardian_answer" in _open_obligations(view)
    await do(HEAD, {"action": "guardian_notice", **notice(await now())})
    await do(CHEN, {"action": "plan", **PLAN})  # the plan follows the referral
    view = await do(HEAD, {"action": "guardian_response", **REFUSE})
    assert view["state"] == "parent_refused" and "report" in _open_obligations(view)  # prepared; a leader sends it
    view = await do(LEAD, {"action": "send_report", "note": "学校将继续与家长沟通"})
    assert view["state"] == "reported"
    assert await eventually(lambda: told("reported_to_authority")) == [["education_authority", "leadership"]]

    # the guardian consents later: back to referred, the report stays on record, and the authority is told (续报)
    view = await do(HEAD, {"action": "guardian_response", **CONSENT})
    assert view["state"] == "referred" and "send_report" in [e["action"] for e in view["events"]]
    assert await eventually(lambda: told("followup_reported")) == [["education_authority"]]

    # the hospital: admitted, then discharged; the return meeting is due before closure
    await env.sleep(timedelta(days=2))
    await do(CHEN, {"action": "referral_outcome", **outcome("admitted", await now())})
    await env.sleep(timedelta(days=3))
    view = await do(CHEN, {"action": "review", "observations": "住院中，家长每日探视", "trend": "same"})
    view = await do(CHEN, {"action": "referral_outcome", **outcome("discharged", await now())})
    assert "return_meeting" in _open_obligations(view)
    # each of the hospital's answers is followed up to the authority too: the consent's, then two outcomes
    assert len(await eventually(lambda: _at_least(told("followup_reported"), 3))) == 3
    assert await eventually(lambda: told("return_meeting_required")) == [["head_teacher"]]
    assert await people("return_meeting_required") == [["t-zhang"]]  # the class's own head teacher
    blocked = await do_refused(handle, CHEN, {"action": "close", **CLOSE})
    assert "return-to-school meeting" in blocked
    await env.sleep(timedelta(days=1))
    view = await do(HEAD, {"action": "return_meeting", **return_meeting(await now())})
    assert "return_meeting" not in _open_obligations(view)

    # weekly reviews: one is missed and climbs the ladder (owner and head teacher first), then done
    await env.sleep(timedelta(days=7, hours=2))
    view = (await handle.query(CaseWorkflow.view)).model_dump(mode="json")
    review = [d for d in view["deadlines"] if d["obligation"] == "review" and d["met_at"] is None][0]
    assert review["escalation_level"] >= 1
    # the case's owner (its first assessor) hears first, with the class's head teacher
    assert await eventually(lambda: told("deadline_missed")) == [["owner", "head_teacher"]]
    assert await people("deadline_missed") == [["p-chen", "t-zhang"]]
    view = await do(CHEN, {"action": "review", "observations": "情绪平稳，返校适应良好", "trend": "better"})
    assert all(d["escalation_level"] == 0 for d in view["deadlines"] if d["met_at"] is None)

    # closure: proposed by the psychology teacher, sent back, proposed again, approved by another
    view = await do(CHEN, {"action": "close", **CLOSE})
    assert view["state"] == "referred" and view["closure_proposal"]["by"] == "p-chen"
    assert await eventually(lambda: told("closure_proposed")) == [["leadership"]]
    assert "own closure" in await do_refused(handle, CHEN.model_copy(update={"role": "leadership"}),
                                             {"action": "closure_decision", "decision": "approve"})
    view = await do(LEAD, {"action": "closure_decision", "decision": "return", "comment": "请补充复诊安排"})
    assert view["closure_proposal"] is None and view["state"] == "referred"
    await do(CHEN, {"action": "close", **CLOSE, "outcome": "门诊随访，每两周复诊一次"})
    view = await do(LEAD2, {"action": "closure_decision", "decision": "approve", "comment": "同意"})
    assert view["state"] == "closed" and view["allowed_actions"] == ["reopen"]
    await handle.result()

    # reopened within the window: the same case, a new run, back to a reassessment
    data = store.load_case(engine, case_id)
    reopened = await env.client.start_workflow(
        CaseWorkflow.run, CaseStart.reopening(data, LEAD, "返校一周后再次出现自伤念头", 10_000),
        id=f"case-{case_id}", task_queue=settings.task_queue)
    view = (await reopened.query(CaseWorkflow.view)).model_dump(mode="json")
    assert view["state"] == "assessed" and view["closed_at"] is None
    assert "reassess" in _open_obligations(view)
    # the closure approved before is behind the case: no decision is pending, a new closure is proposed afresh
    assert view["closure_proposal"] is None and "closure_decision" not in view["allowed_actions"]
    assert await eventually(lambda: told("case_reopened")) == [["owner", "head_teacher"]]
    assert await people("case_reopened") == [["p-chen", "t-zhang"]]
    stored = await eventually(lambda: (v := db_view_engine(engine, case_id))["state"] == "assessed" and v)
    # (the skipped clock may already run the reassessment's ladder after the reopening)
    actions = [e["action"] for e in stored["events"]]
    assert stored["state"] == "assessed" and actions.index("reopen") > actions.index("closure_decision")
    assert stored["events"][0]["action"] == "open"  # the same history goes on
    await settled_terminate(reopened)


async def do_refused(handle, actor, body) -> str:
    """An action the workflow refuses: the refusal's words."""
    command = ActionCommand.model_validate({"actor": actor, "body": body})
    with pytest.raises(Exception) as refused:
        await handle.execute_update(CaseWorkflow.act, command)
    return str(refused.value.cause)


def db_view_engine(engine, case_id: str) -> dict:
    return case_view(store.load_case(engine, case_id)).model_dump(mode="json")


async def test_leadership_reopens_a_closed_case_through_the_api(sqlite_stack):
    stack = sqlite_stack
    cid = (await open_case(stack))["case_id"]
    await step(stack, cid, "assess", {"instrument": "asq", "answers": {"q1": False, "q2": False, "q3": False,
                                                                        "q4": False}})
    await step(stack, cid, "close", {"reason": "no_crisis", "outcome": "筛查阴性", "rationale": "ASQ 全部为否"})
    await stack.client.get_workflow_handle(f"case-{cid}").result()
    r = await act(stack, cid, "reopen", role="psychology_teacher")
    assert r.status_code == 403
    view = await step(stack, cid, "reopen")
    assert view["state"] == "assessed" and "reassess" in _open_obligations(view)
    again = await act(stack, cid, "reopen")
    assert again.status_code == 409
    timeline = (await stack.http.get(f"/cases/{cid}/history", headers=auth("leadership"))).json()
    actions = [e["action"] for e in timeline["entries"] if e["kind"] in ("opened", "action_accepted")]
    assert actions == ["open", "assess", "close", "reopen"] and len(timeline["runs"]) == 2


async def _has_all(found, wanted: set) -> bool:
    return wanted <= await found


async def _at_least(found, count: int) -> list | None:
    rows = await found
    return rows if len(rows) >= count else None
