"""Extreme events: the review report is due at the province 14 days after the event, on the warning
ladder; under 3,000 characters or with a section missing it is refused; complete, it is typeset and
sent to the education authority and the province, which read it as users of their own."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from db import directory, store
from db.tables import NotificationRow
from models.case import Actor
from models.directory import read_directory
from models.domain import StaffRole
from models.incident import SECTIONS, IncidentBody, IncidentStart
from models.policy import DeadlinePolicy
from tests.conftest import DIRECTORY_FILE, OTHER_SCHOOL, SCHOOL, auth, quiet, settled_terminate, token
from tests.support import document_text, eventually, open_case, refusal_path
from tests.test_paper import codes_in, pdf_text, squeezed
from workflows.incident_workflow import IncidentReviewWorkflow, incident_workflow_id

#: the city authority's person (tests/directory.yaml), as a token of the authority: the investigator
INVESTIGATOR = {"Authorization": f"Bearer {token('edu_authority', 'edu-city', staff_id='e-liu')}"}
GROUP = {"members": ["e-liu"], "external": [
    {"name": "王警官", "organisation": "某市公安局某分局", "kind": "police"},
    {"name": "李主任", "organisation": "某市精神卫生中心", "kind": "expert"}]}
LEAD = Actor(staff_id="l-sun", role=StaffRole.leadership, school_id=SCHOOL)
EVENT = {"kind": "suicide_attempt", "place": "教学楼三楼走廊",
         "summary": "午休时学生从教室出走，被值班老师及时发现并送医。"}


def report(chars_per_section: int, leave_out: str | None = None) -> dict:
    """A report with every section (but ``leave_out``) written to about this many characters."""
    text = {name: ("经核查，" + "学校对事件经过进行了逐项复盘，形成如下认识。" * 60)[:chars_per_section]
            for name in SECTIONS}
    if leave_out:
        text[leave_out] = ""
    return text


async def test_the_review_deadline_is_14_days_and_climbs_the_ladder(ts):
    env, settings, engine = ts
    incident_id = uuid.uuid4().hex
    occurred = (await env.get_current_time()) - timedelta(hours=2)
    start = IncidentStart(incident_id=incident_id, school_id=SCHOOL, recorded_by=LEAD, recorded_at=occurred,
                          event=IncidentBody(occurred_at=occurred, **EVENT), policy=DeadlinePolicy())
    handle = await env.client.start_workflow(IncidentReviewWorkflow.run, start, id=incident_workflow_id(incident_id),
                                             task_queue=settings.task_queue)
    await quiet(handle)  # the clock holds while an activity runs (conftest.quiet)
    await env.sleep(timedelta(days=13))
    row = store.get_incident(engine, incident_id)
    assert row.due_at == occurred + timedelta(days=14) and row.escalation_level == 0 and row.state == "open"
    await env.sleep(timedelta(days=1))
    await eventually(lambda: store.get_incident(engine, incident_id).escalation_level == 1)
    await env.sleep(timedelta(hours=12 * 3 + 1))
    await eventually(lambda: store.get_incident(engine, incident_id).escalation_level == 4)
    with Session(engine) as session:
        told = session.exec(select(NotificationRow).where(NotificationRow.case_id == incident_id)
                            .order_by(NotificationRow.created_at)).all()
    assert [n.event for n in told] == ["incident_recorded", "deadline_missed", "deadline_escalated",
                                       "deadline_escalated", "deadline_escalated"]
    # the authority investigates (no group formed yet) and the school's leadership follows, from the first rung
    assert told[1].recipient_roles == ["education_authority", "leadership"]
    assert "education_authority" in told[2].recipient_roles  # then the authority follows it
    # an event has no class: its notices never fan out to the head teachers or grade heads
    assert not any({"head_teacher", "grade_head"} & set(n.recipient_roles) for n in told)
    assert all(n.text.startswith(("【极端事件】", "【预警·")) and "事件 " in n.text and "个案" not in n.text
               for n in told)
    assert all(n.obligation == "review_report" for n in told)
    await settled_terminate(handle)


async def test_a_review_report_is_refused_short_and_accepted_complete(sqlite_stack):
    stack = sqlite_stack
    directory.load(stack.engine, read_directory(DIRECTORY_FILE))  # the authorities and their people
    case = await open_case(stack)
    await refusal_path(stack, case["case_id"])  # an authority report, for the authority to read
    occurred = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    r = await stack.http.post("/incidents", json={**EVENT, "occurred_at": occurred, "case_id": case["case_id"]},
                              headers=auth("leadership"))
    assert r.status_code == 201, r.text
    incident = r.json()
    iid = incident["incident_id"]
    assert incident["state"] == "open" and incident["missing_sections"] == list(SECTIONS)
    assert datetime.fromisoformat(incident["due_at"]) - datetime.fromisoformat(occurred) == timedelta(days=14)
    # the city's investigator forms the group with the police and experts (tests/test_investigation.py)
    writer = INVESTIGATOR
    assert (await stack.http.put(f"/incidents/{iid}/group", json=GROUP, headers=writer)).status_code == 200

    # 2,999 characters, every section there: refused, saying how many
    short = report(500)
    short["measures"] = short["measures"][:499 - (sum(len(v) for v in short.values()) - 2999 - 1)]
    assert sum(len(v) for v in short.values()) == 2999
    saved = await stack.http.put(f"/incidents/{iid}/report", json=short, headers=writer)
    assert saved.status_code == 200 and saved.json()["report_chars"] == 2999
    r = await stack.http.post(f"/incidents/{iid}/submit", headers=writer)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "report"]
    assert "2999 characters" in r.json()["detail"][0]["msg"] and "3000" in r.json()["detail"][0]["msg"]
    # long enough, but without the concrete measures: refused, naming the section
    await stack.http.put(f"/incidents/{iid}/report", json=report(800, leave_out="measures"), headers=writer)
    r = await stack.http.post(f"/incidents/{iid}/submit", headers=writer)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "report", "measures"]
    # the school does not write the review: neither a head teacher nor its leadership
    for role in ("head_teacher", "leadership"):
        r = await stack.http.put(f"/incidents/{iid}/report", json=report(800), headers=auth(role))
        assert r.status_code == 403
    # complete: accepted, typeset, sent
    await stack.http.put(f"/incidents/{iid}/report", json=report(800), headers=writer)
    r = await stack.http.post(f"/incidents/{iid}/submit", headers=writer)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "submitted" and done["document_id"]
    again = await stack.http.put(f"/incidents/{iid}/report", json=report(800), headers=writer)
    assert again.status_code == 409

    pdf = await stack.http.get(f"/documents/{done['document_id']}", headers=auth("leadership"))
    text = pdf_text(pdf.content)
    assert "某省教育厅" in squeezed(text) and "某市第一中学" in squeezed(text) and "六、整改措施" in squeezed(text)
    assert codes_in(text, iid) == []
    english = await stack.http.get(f"/documents/{done['document_id']}", params={"lang": "en"},
                                   headers=auth("leadership"))
    text = pdf_text(english.content)
    assert "某市第一中学" in squeezed(text) and "Concrete measures" in text and codes_in(text, iid) == []
    notes = await eventually(lambda: [n for n in store.notifications_for(stack.engine, iid)
                                      if n.event == "incident_report_submitted"])
    assert set(notes[0].recipient_staff) >= {"e-liu", "e-qian"}  # the city's and the province's people

    # the education authority, as a user: its schools' reports, reviews and dashboard; nothing else
    city = auth("edu_authority", "edu-city")
    listed = (await stack.http.get("/reports", headers=city)).json()
    assert {d["kind"] for d in listed} == {"authority_report", "followup_report", "incident_review"}
    for doc in listed:
        assert (await stack.http.get(f"/documents/{doc['document_id']}", headers=city)).status_code == 200
    assert case["student"]["name"] in await document_text(
        stack, next(d for d in listed if d["kind"] == "authority_report")["document_id"], "leadership")
    notice = next(d for d in (await stack.http.get(f"/cases/{case['case_id']}/documents",
                                                   headers=auth("leadership"))).json()
                  if d["kind"] == "guardian_notice")
    assert (await stack.http.get(f"/documents/{notice['document_id']}", headers=city)).status_code == 403
    assert (await stack.http.get(f"/cases/{case['case_id']}", headers=city)).status_code == 403
    board = await stack.http.get("/dashboard", params={"school": SCHOOL}, headers=city)
    assert board.status_code == 200 and board.json()["school_id"] == SCHOOL
    assert (await stack.http.get("/dashboard", params={"school": OTHER_SCHOOL}, headers=city)).status_code == 403
    assert (await stack.http.get("/dashboard", headers=city)).status_code == 422
    seen = (await stack.http.get(f"/incidents/{iid}", headers=city)).json()
    assert seen["report"]["measures"] and seen["state"] == "submitted"
    # an authority that does not oversee the school reads none of it
    other = auth("edu_authority", "edu-elsewhere")
    assert (await stack.http.get(f"/incidents/{iid}", headers=other)).status_code == 403
    assert (await stack.http.get("/reports", headers=other)).json() == []
