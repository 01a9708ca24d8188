"""The extreme-event investigation where the policy puts it (issue 28): the education authority's duty.

联合公安部门和有关专家建立学生心理健康极端事件调查工作小组…并于事件发生两周内上报省教育厅 [seed 000]: the
authority forms the group with the police and experts and writes the review; the school records the event and
gives its account; the province receives the review. A case the event concerns is reassessed at once, and
closes by two people (reason: an extreme event). Deadline notices go to the group and the school's leadership.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, select

from activities import documents
from activities.case_activities import typesetter_for
from db import directory
from db.tables import NotificationRow
from models.directory import AuthorityPerson, Directory, Staff
from models.domain import DocumentKind, StaffRole
from paper.facts import incident_facts
from tests.conftest import SCHOOL, SCHOOLS, auth, token
from tests.support import ASSESS_HIGH, ASSESS_LOW, CLOSE, act, eventually, open_case, workflow_view
from tests.test_incidents import EVENT, GROUP, INVESTIGATOR, report
from tests.test_paper_fidelity import squeezed
from workflows.incident_workflow import IncidentReviewWorkflow, incident_workflow_id

#: an authority's person outside the group
OUTSIDER = {"Authorization": f"Bearer {token('edu_authority', 'edu-city', staff_id='e-zhou')}"}


def load(stack) -> None:
    outsider = AuthorityPerson(id="e-zhou", name="周科员")
    authorities = [a.model_copy(update={"people": [*a.people, *([outsider] if a.id == "edu-city" else [])]})
                   for a in SCHOOLS.authorities]
    directory.load(stack.engine, Directory.model_validate({
        "schools": [s.model_dump() for s in SCHOOLS.schools], "staff": [
            s.model_dump() for s in SCHOOLS.staff] + [
            Staff(id="leadership-1", name="孙校长", school=SCHOOL, roles=[StaffRole.leadership]).model_dump(),
            Staff(id="psychology-teacher-1", name="陈静", school=SCHOOL,
                  roles=[StaffRole.psychology_teacher]).model_dump()],
        "authorities": [a.model_dump() for a in authorities]}))


def told(stack, incident_id: str) -> list[NotificationRow]:
    with Session(stack.engine) as session:
        return list(session.exec(select(NotificationRow).where(NotificationRow.case_id == incident_id)
                                 .order_by(NotificationRow.created_at)).all())


async def test_the_authority_investigates_the_school_gives_its_account_and_the_case_is_reassessed(sqlite_stack):
    stack = sqlite_stack
    load(stack)
    case = await open_case(stack)
    case_id = case["case_id"]
    assert (await act(stack, case_id, "assess", ASSESS_HIGH)).status_code == 200
    # the event happened 15 days ago: its review is overdue from the start
    occurred = (datetime.now(UTC) - timedelta(days=15)).isoformat()
    r = await stack.http.post("/incidents", json={**EVENT, "occurred_at": occurred, "case_id": case_id},
                              headers=auth("leadership"))
    assert r.status_code == 201, r.text
    incident_id = r.json()["incident_id"]

    # the case: the event on record, a reassessment due at once (the school's hour), leadership told
    async def linked():
        view = await workflow_view(stack, case_id)
        return view if any(e["action"] == "extreme_event" for e in view["events"]) else None

    view = await linked() or await eventually(linked)
    reassess = next(d for d in view["deadlines"] if d["obligation"] == "reassess")
    event_at = next(e["at"] for e in view["events"] if e["action"] == "extreme_event")
    assert datetime.fromisoformat(reassess["due_at"]) - datetime.fromisoformat(event_at) == timedelta(hours=1)
    notices = (await stack.http.get(f"/cases/{case_id}/notifications", headers=auth("leadership"))).json()
    assert {"extreme_event_linked", "reassessment_required"} <= {n["event"] for n in notices}

    # the school does not write the review; the authority's people outside the group do not either
    body = report(560)
    school_draft = await stack.http.put(f"/incidents/{incident_id}/report", json=body, headers=auth("leadership"))
    assert school_draft.status_code == 403, school_draft.text
    assert (await stack.http.put(f"/incidents/{incident_id}/report", json=body, headers=INVESTIGATOR)
            ).status_code == 409  # no group yet
    # the group is formed with the police and experts, never without them
    alone = {**GROUP, "external": GROUP["external"][:1] * 2}
    assert (await stack.http.put(f"/incidents/{incident_id}/group", json=alone, headers=INVESTIGATOR)
            ).status_code == 422
    assert (await stack.http.put(f"/incidents/{incident_id}/group", json=GROUP, headers=auth("leadership"))
            ).status_code == 403
    formed = await stack.http.put(f"/incidents/{incident_id}/group", json=GROUP, headers=INVESTIGATOR)
    assert formed.status_code == 200, formed.text
    assert formed.json()["investigation"]["group"]["external"][0]["name"] == "王警官"
    # the school gives its account; the authority does not write the school's
    account = {"account": "学生近一月情绪低落，心理教师已评估为高风险并告知家长；事发当日午休离开教室。"}
    assert (await stack.http.put(f"/incidents/{incident_id}/facts", json=account, headers=INVESTIGATOR)
            ).status_code == 403
    given = await stack.http.put(f"/incidents/{incident_id}/facts", json=account, headers=auth("leadership"))
    assert given.status_code == 200 and given.json()["investigation"]["school_account"]["account"].startswith("学生")
    assert (await stack.http.put(f"/incidents/{incident_id}/report", json=body, headers=OUTSIDER)).status_code == 409
    # the group's member drafts and submits; the province receives it
    assert (await stack.http.put(f"/incidents/{incident_id}/report", json=body, headers=INVESTIGATOR)
            ).status_code == 200
    submitted = await stack.http.post(f"/incidents/{incident_id}/submit", headers=INVESTIGATOR)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["state"] == "submitted"

    document_id = submitted.json()["document_id"]
    text = squeezed(await eventually(lambda: _text(stack, document_id), timeout=30))
    await save_review_pages(stack, incident_id)
    assert text.startswith(squeezed("学生心理健康极端事件调查复盘报告某省教育厅："))
    assert "《中小学心理健康教育和生命健康关爱工作重点事项清单》中“联合公安部门和有关专家建立" in text
    assert "王警官某市公安局某分局公安部门" in text and "李主任某市精神卫生中心专家" in text
    assert "刘科长某市教育局教育主管部门" in text
    assert "学校情况说明某市第一中学于" in text
    assert "报告人：刘科长（教育主管部门）某市教育局（盖章）" in text  # the authority signs and seals it

    # who heard what: the overdue review went to the authority (no group yet) and the school's leadership,
    # never to a head teacher; the group's forming to its member; the event is called an event
    # (each notice is its own activity: wait until the last of them, the submission's, is in)
    wanted = {"incident_recorded", "deadline_missed", "incident_group_formed", "incident_report_submitted"}
    rows = await eventually(lambda: (found := told(stack, incident_id)) and wanted <= {n.event for n in found}
                            and found, timeout=20)
    events = [n.event for n in rows]
    assert events[:2] == ["incident_recorded", "deadline_missed"] and "incident_group_formed" in events
    overdue = rows[1]
    assert overdue.recipient_roles == ["education_authority", "leadership"]
    assert "t-zhang" not in overdue.recipient_staff and "l-sun" in overdue.recipient_staff
    assert "e-liu" in overdue.recipient_staff and "事件" in overdue.text and "个案" not in overdue.text
    group_told = next(n for n in rows if n.event == "incident_group_formed")
    assert "e-liu" in group_told.recipient_staff and "e-zhou" not in group_told.recipient_staff
    assert "刘科长" in group_told.text
    submitted_told = next(n for n in rows if n.event == "incident_report_submitted")
    assert "e-qian" in submitted_told.recipient_staff  # the province's person

    # the case closes for the event, by two people
    assert (await act(stack, case_id, "assess", ASSESS_HIGH)).status_code == 200  # the reassessment, done
    view = await workflow_view(stack, case_id)
    unmet = {d["obligation"]: "学生已于事件中离世，此项不再适用" for d in view["deadlines"]
             if d["met_at"] is None and d["obligation"] not in ("review",)}
    closing = {**CLOSE, "reason": "extreme_event", "unmet_reasons": unmet}
    proposed = await act(stack, case_id, "close", closing)
    assert proposed.status_code == 202, proposed.text
    approved = await act(stack, case_id, "closure_decision", {"decision": "approve", "comment": "同意"})
    assert approved.status_code == 200 and approved.json()["state"] == "closed"


async def _text(stack, document_id: str) -> str | None:
    r = await stack.http.get(f"/documents/{document_id}", headers={**INVESTIGATOR, "Accept": "text/plain"})
    return r.text if r.status_code == 200 else None


async def test_a_case_no_event_concerns_does_not_close_for_one(sqlite_stack):
    stack = sqlite_stack
    case = await open_case(stack)
    assert (await act(stack, case["case_id"], "assess", ASSESS_LOW)).status_code == 200
    r = await act(stack, case["case_id"], "close", {**CLOSE, "reason": "extreme_event"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "reason"


async def save_review_pages(stack, incident_id: str) -> None:
    """The review's pages as printed (``docs/images/paper-incident_review-<page>.png``, with ``CRISISFLOW_SHOTS``)."""
    folder = os.environ.get("CRISISFLOW_SHOTS")
    if not folder:
        return
    data = await stack.client.get_workflow_handle(incident_workflow_id(incident_id)).query(
        IncidentReviewWorkflow.view)
    school, lang = documents.school_facts(stack.engine, data.school_id, DocumentKind.incident_review)
    people = directory.names(stack.engine, {data.submitted_by.staff_id, *data.group.members})
    facts = incident_facts(data, school, people, lang, "某市教育局")
    for number, png in enumerate(typesetter_for(stack.settings).png(DocumentKind.incident_review, facts,
                                                                    data.submitted_at, ppi=96), start=1):
        (Path(folder) / f"paper-incident_review-{number}.png").write_bytes(png)
