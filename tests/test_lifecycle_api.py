"""The two paths of a case through the HTTP API, on a dev server, on SQLite and PostgreSQL.

After every step the database's case (rebuilt from the read model) equals
the workflow's own view, and the API answered with that same view.
"""

from __future__ import annotations

from tests.conftest import auth
from tests.support import (
    REFUSE,
    STUDENT_NAME,
    SUMMARY,
    act,
    db_view,
    document_text,
    eventually,
    open_case,
    step,
    workflow_view,
)
from workflows.case_workflow import CaseWorkflow


async def _in_step(stack, case_id: str, answered: dict) -> None:
    wf = await workflow_view(stack, case_id)
    assert db_view(stack, case_id) == wf
    assert answered == wf
    r = await stack.http.get(f"/cases/{case_id}", headers=auth("head_teacher"))
    assert r.json() == wf


async def _up_to_referral(stack) -> str:
    view = await open_case(stack)
    case_id = view["case_id"]
    assert view["state"] == "identified"
    assert view["allowed_actions"] == ["assess", "contact"]
    assert [d["obligation"] for d in view["deadlines"]] == ["assess"]
    await _in_step(stack, case_id, view)

    view = await step(stack, case_id, "assess")
    assert (view["state"], view["risk_level"]) == ("assessed", "high")
    open_now = {d["obligation"] for d in view["deadlines"] if d["met_at"] is None}
    assert open_now == {"guardian_notice", "intervene", "review"}
    await _in_step(stack, case_id, view)

    view = await step(stack, case_id, "guardian_notice")
    assert view["state"] == "assessed"
    await _in_step(stack, case_id, view)

    view = await step(stack, case_id, "intervene")
    assert view["state"] == "intervened"
    # (a refusal ticked on the signed receipt may be recorded from now on: the guardian was told)
    assert view["allowed_actions"] == [
        "assess", "guardian_notice", "plan", "contact", "review", "refer", "guardian_response", "return_meeting",
        "close", "reassign"]
    await _in_step(stack, case_id, view)

    view = await step(stack, case_id, "refer")
    assert view["state"] == "referred"
    assert view["allowed_actions"] == [
        "assess", "guardian_notice", "plan", "contact", "review", "guardian_response", "referral_outcome",
        "return_meeting", "reassign"]
    await _in_step(stack, case_id, view)
    return case_id


async def _documents(stack, case_id: str, count: int) -> list[dict]:
    async def enough():
        r = await stack.http.get(f"/cases/{case_id}/documents", headers=auth("psychology_teacher"))
        return r.json() if len(r.json()) >= count else None

    return await eventually(enough)


async def test_consent_path(stack, webhook):
    case_id = await _up_to_referral(stack)

    view = await step(stack, case_id, "guardian_response")
    assert view["state"] == "referred"
    assert "close" in view["allowed_actions"]
    await _in_step(stack, case_id, view)

    view = await step(stack, case_id, "close")
    assert view["state"] == "closed" and view["allowed_actions"] == ["reopen"]
    assert [e["action"] for e in view["events"]] == [
        "open", "assess", "guardian_notice", "intervene", "refer", "guardian_response", "close", "closure_decision"
    ]
    assert [e["actor"] for e in view["events"]] == [
        "head-teacher-1", "psychology-teacher-1", "head-teacher-1", "psychology-teacher-1",
        "psychology-teacher-1", "head-teacher-1", "psychology-teacher-1", "leadership-1",
    ]
    # every obligation met; the follow-up review lapses with the closure
    assert [d["obligation"] for d in view["deadlines"] if not d["met_at"]] == ["review"]
    await _in_step(stack, case_id, view)

    docs = await _documents(stack, case_id, 3)
    assert [d["kind"] for d in docs] == ["guardian_notice", "referral_letter", "closure_summary"]
    letter = await stack.http.get(f"/documents/{docs[1]['document_id']}", headers=auth("psychology_teacher"))
    assert letter.status_code == 200 and letter.headers["content-type"] == "application/pdf"
    assert letter.content.startswith(b"%PDF-")
    text = await document_text(stack, docs[1]["document_id"], "psychology_teacher")
    assert STUDENT_NAME in text and "市精神卫生中心" in text

    handle = stack.client.get_workflow_handle_for(CaseWorkflow.run, f"case-{case_id}")
    assert (await handle.result()).state.value == "closed"
    # the workflow has finished; the read model still answers, and refuses further actions
    r = await act(stack, case_id, "close")
    assert r.status_code == 409 and r.json() == {
        "detail": "close is not allowed in state closed", "state": "closed", "allowed_actions": ["reopen"],
        "action": "close", "reasons": [],
    }

    events = {b["event"] for b in webhook.received}
    assert {
        "case_opened",
        "guardian_notice_required",
        "intervention_required",
        "referral_made",
        "case_closed",
    } <= events


async def test_refusal_path_reports_to_the_authority(stack, webhook):
    case_id = await _up_to_referral(stack)

    view = await step(stack, case_id, "guardian_response", REFUSE)
    refusal = next(e for e in view["events"] if e["action"] == "guardian_response")
    assert (refusal["from_state"], refusal["to_state"]) == ("referred", "parent_refused")
    # the report is prepared; a leader confirms and sends it (REPORT_CONFIRMED); meanwhile staff may record,
    # review, and take a later consent
    assert view["state"] == "parent_refused"
    assert view["allowed_actions"] == ["assess", "plan", "contact", "review", "guardian_response", "send_report",
                                       "reassign"]
    assert next(d for d in view["deadlines"] if d["obligation"] == "report")["met_at"] is None
    view = await step(stack, case_id, "send_report")
    report = view["events"][-1]
    assert (report["action"], report["actor"], report["from_state"], report["to_state"]) == (
        "send_report",
        "leadership-1",
        "parent_refused",
        "reported",
    )
    assert next(d for d in view["deadlines"] if d["obligation"] == "report")["met_at"] is not None
    assert db_view(stack, case_id) == view

    docs = await _documents(stack, case_id, 3)
    report_doc = next(d for d in docs if d["kind"] == "authority_report")
    text = await document_text(stack, report_doc["document_id"], "leadership")
    assert "某市教育局" in text and STUDENT_NAME in text and "监护人" in text
    assert "学校说明：学校将继续与家长沟通" in text  # the leader's note goes with it

    notes = (await stack.http.get(f"/cases/{case_id}/notifications", headers=auth("leadership"))).json()
    told = {n["event"]: n for n in notes}
    assert told["guardian_refused"]["recipient_role"] == "leadership"
    assert told["guardian_refused"]["obligation"] == "report"
    assert told["reported_to_authority"]["recipient_role"] == "education_authority"

    view = await step(stack, case_id, "close")
    assert view["state"] == "closed"
    await _in_step(stack, case_id, view)
    assert [e["to_state"] for e in view["events"]][-4:] == ["parent_refused", "reported", "reported", "closed"]

    await eventually(lambda: webhook.bodies(event="case_closed"))
    assert webhook.bodies(event="reported_to_authority")[0]["recipient_role"] == "education_authority"
    for body, headers in zip(webhook.received, webhook.headers, strict=True):
        assert set(body) == {
            "notification_id",
            "event",
            "case_id",
            "case_ref",
            "school_id",
            "recipient_role",
            "recipient_roles",
            "recipient_staff",
            "obligation",
            "due_at",
            "escalation_level",
            "link",
        }
        assert headers["Idempotency-Key"] == body["notification_id"]
    # notification texts and webhook bodies carry no student data
    raw = repr(webhook.received) + repr(notes)
    assert STUDENT_NAME not in raw and SUMMARY not in raw and "2026-0712" not in raw
