"""A case owned by a named person, seen by those who opened it, reaching only the people it concerns, and a
refusal reported however the family shows it (issue 25, points 3, 4 and 7).

On the time-skipping server with the school's directory (tests/directory.yaml) loaded, so every notice
is checked by the people it names; the class rules go through the API as a teacher meets them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from db import directory, store, tasks
from db.tables import NotificationRow
from models.case import ActionCommand, Actor, CaseStart, OpenCaseBody, case_ref
from models.directory import read_directory
from models.policy import DeadlinePolicy
from tests.conftest import SCHOOL, STARTED, quiet, token
from tests.support import ASSESS_HIGH, CONSENT, PLAN, REFERRAL, REFUSE, eventually, notice, open_body, outcome
from workflows.case_workflow import CaseWorkflow

DIRECTORY = read_directory(Path(__file__).with_name("directory.yaml"))
ZHANG = Actor(staff_id="t-zhang", role="head_teacher", school_id=SCHOOL)  # head teacher of 8-3
CHEN = Actor(staff_id="p-chen", role="psychology_teacher", school_id=SCHOOL)
HE = Actor(staff_id="p-he", role="psychology_teacher", school_id=SCHOOL)
SUN = Actor(staff_id="l-sun", role="leadership", school_id=SCHOOL)
ROUTINE = {**REFERRAL, "urgency": "routine"}


class Case:
    """A case started on the time-skipping server, driven as staff would."""

    def __init__(self, env, settings, engine, class_id: str | None = "8-3",
                 policy: DeadlinePolicy | None = None) -> None:
        self.env, self.settings, self.engine = env, settings, engine
        self.case_id = uuid.uuid4().hex
        self.class_id = class_id
        self.policy = policy or DeadlinePolicy()

    async def open(self, by: Actor = ZHANG, **reasons) -> Case:
        body = open_body(**reasons)
        body["student"]["class_id"] = self.class_id
        if self.class_id is None:
            del body["student"]["class_id"]
        start = CaseStart(case_id=self.case_id, opened_by=by, case=OpenCaseBody.model_validate(body),
                          policy=self.policy, history_event_limit=10_000)
        self.handle = await self.env.client.start_workflow(CaseWorkflow.run, start, id=f"case-{self.case_id}",
                                                           task_queue=self.settings.task_queue)
        STARTED.append(self.handle)  # ended with the test: its timers would run on in the next one
        await self.handle.execute_update(CaseWorkflow.opened)
        return self

    async def do(self, actor: Actor, body: dict) -> dict:
        command = ActionCommand.model_validate({"actor": actor, "body": body})
        return (await self.handle.execute_update(CaseWorkflow.act, command)).model_dump(mode="json")

    async def sleep(self, duration: timedelta) -> None:
        """Let the clock run, once nothing of this case is in flight (conftest.quiet)."""
        await quiet(self.handle)
        await self.env.sleep(duration)

    async def view(self) -> dict:
        return (await self.handle.query(CaseWorkflow.view)).model_dump(mode="json")

    async def now(self):
        return await self.env.get_current_time()

    def told(self, event: str) -> list[NotificationRow]:
        with Session(self.engine) as session:
            return list(session.exec(select(NotificationRow).where(col(NotificationRow.case_id) == self.case_id,
                                                                   col(NotificationRow.event) == event)
                                     .order_by(col(NotificationRow.created_at))).all())

    async def people(self, event: str, count: int = 1) -> list[list[str]]:
        """Who each notification of this kind reached, by staff id, once ``count`` of them are written."""
        rows = await eventually(lambda: (found := self.told(event)) and len(found) >= count and found)
        return [r.recipient_staff for r in rows]


async def _referred(school) -> Case:
    """A high case of 8-3, assessed by 陈老师, the guardian told, the plan made, referred (routine)."""
    case = await Case(*school).open()
    await case.do(CHEN, {"action": "assess", **ASSESS_HIGH})
    await case.do(ZHANG, {"action": "guardian_notice", **notice(await case.now())})
    await case.do(CHEN, {"action": "intervene", **PLAN})
    await case.do(CHEN, {"action": "refer", **ROUTINE})
    return case


@pytest.fixture
def school(ts):
    env, settings, engine = ts
    directory.load(engine, DIRECTORY)
    return ts


async def test_3_the_assessor_owns_the_case_and_its_duties_until_leadership_reassigns_it(school):
    case = await Case(*school).open()
    # before the assessment every psychology teacher hears of the case (and leadership, of its warning signal)
    assert await case.people("case_opened") == [["p-chen", "p-he", "l-sun"]]

    view = await case.do(HE, {"action": "assess", **ASSESS_HIGH})
    assert view["owner"] == view["assessor"] == "p-he"
    assert await case.people("intervention_required") == [["p-he"]]  # the owner's duty, to the owner alone
    assert await case.people("guardian_notice_required") == [["t-zhang"]]  # the class's head teacher
    intervene = next(d for d in view["deadlines"] if d["obligation"] == "intervene")
    assert intervene["responsible_role"] == "owner"

    # leadership names another owner: the old and the new are told, by name
    view = await case.do(SUN, {"action": "reassign", "owner": "p-chen", "reason": "何老师外出培训两周"})
    assert view["owner"] == "p-chen" and view["assessor"] == "p-he"
    assert await case.people("case_reassigned") == [["p-chen", "p-he"]]
    text = case.told("case_reassigned")[0].text
    assert "负责心理教师改为陈老师" in text and "心理危机干预领导小组孙校长" in text and "王小明" not in text
    with pytest.raises(Exception) as again:
        await case.do(SUN, {"action": "reassign", "owner": "p-chen", "reason": "重复"})
    assert "already owns" in str(again.value.cause)

    # the ladder's first rung is the duty's owner, the case's owner and the class's head teacher
    await case.sleep(timedelta(hours=2, minutes=5))  # the guardian notice (2 h) is missed
    missed = await case.people("deadline_missed")
    assert missed == [["t-zhang", "p-chen"]]
    await case.sleep(timedelta(hours=22))  # then the plan (24 h)
    missed = await case.people("deadline_missed", 2)
    assert missed[1] == ["p-chen", "t-zhang"]
    assert "p-he" not in {p for people in missed for p in people}

    # "my tasks": the plan is the owner's, not every psychology teacher's
    now = await case.now()
    chen = tasks.tasks_for(case.engine, SCHOOL, "p-chen", {"psychology_teacher"}, 3, None, now)
    he = tasks.tasks_for(case.engine, SCHOOL, "p-he", {"psychology_teacher"}, 3, None, now)
    assert {t.obligation.value for t in chen if t.case_id == case.case_id and t.why == "owner"} == {"intervene",
                                                                                                     "review"}
    # the former owner sees only what the ladder has since brought to every psychology teacher
    assert {(t.obligation.value, t.why) for t in he if t.case_id == case.case_id} == {("guardian_notice", "ladder")}
    assert [c.case_id for c in store.list_cases(case.engine, school_id=SCHOOL, now=now, owned_by="p-chen").items] \
        == [case.case_id]
    assert store.list_cases(case.engine, school_id=SCHOOL, now=now, owned_by="p-he").total == 0


async def test_4_a_case_without_a_class_reaches_the_psychology_teachers_and_leadership_not_every_head_teacher(
        school):
    case = await Case(*school, class_id=None).open(by=CHEN)
    await case.do(CHEN, {"action": "assess", **ASSESS_HIGH})
    # the guardian notice is a head teacher's duty; without a class, none of them is this student's
    assert await case.people("guardian_notice_required") == [["p-chen", "p-he", "l-sun"]]


async def test_7_a_refusal_on_the_receipt_before_any_referral_is_reported(school):
    case = await Case(*school).open()
    await case.do(CHEN, {"action": "assess", **ASSESS_HIGH})
    await case.do(CHEN, {"action": "intervene", **PLAN})
    with pytest.raises(Exception) as early:  # the refusal follows the notice it answers
        await case.do(ZHANG, {"action": "guardian_response", **REFUSE})
    assert "guardian notice must be on record" in str(early.value.cause)
    await case.do(ZHANG, {"action": "guardian_notice", **notice(await case.now())})
    view = await case.do(ZHANG, {"action": "guardian_response", **REFUSE})
    assert view["state"] == "parent_refused"
    assert await case.people("guardian_refused") == [["l-sun"]]  # leadership confirms and sends the report
    await case.sleep(timedelta(hours=24, minutes=5))  # not sent within report_within: the ladder climbs
    report = next(d for d in (await case.view())["deadlines"] if d["obligation"] == "report")
    assert report["met_at"] is None and report["escalation_level"] >= 1
    view = await case.do(SUN, {"action": "send_report"})
    assert view["state"] == "reported"
    assert await case.people("reported_to_authority") == [["e-liu", "l-sun"]]
    # the family later takes the school's advice: back to the intervention, the report stays on record
    view = await case.do(ZHANG, {"action": "guardian_response", **CONSENT})
    assert view["state"] == "intervened" and "refer" in view["allowed_actions"]


async def test_7_a_referral_not_attended_is_followed_up_then_deemed_a_refusal_and_reported(school):
    case = await _referred(school)
    await case.do(ZHANG, {"action": "guardian_response", **CONSENT})
    view = await case.do(CHEN, {"action": "referral_outcome", **outcome("not_attended", await case.now())})
    followup = next(d for d in view["deadlines"] if d["obligation"] == "attendance_followup")
    assert followup["responsible_role"] == "head_teacher"
    assert await case.people("referral_not_attended") == [["t-zhang"]]
    text = case.told("referral_not_attended")[0].text
    assert "转介后未去就诊" in text and "请班主任于" in text and "北京时间" in text

    await case.sleep(timedelta(days=3, minutes=5))
    view = await case.view()
    assert view["state"] == "parent_refused"  # deemed a refusal; the report waits for a leader
    view = await case.do(SUN, {"action": "send_report", "note": "家长未按约就诊，亦未答复"})
    assert view["state"] == "reported"
    deemed = next(e for e in view["events"] if e["action"] == "deemed_refusal")
    assert deemed["actor"] == "system" and deemed["to_state"] == "parent_refused"
    assert await case.people("refusal_deemed") == [["l-sun", "t-zhang", "p-chen"]]
    assert "视为拒绝就医" in case.told("refusal_deemed")[0].text
    assert await case.people("reported_to_authority") == [["e-liu", "l-sun"]]


async def test_7_a_family_that_attends_after_all_is_not_reported(school):
    case = await _referred(school)
    await case.do(CHEN, {"action": "referral_outcome", **outcome("not_attended", await case.now())})
    await case.sleep(timedelta(days=1))
    view = await case.do(CHEN, {"action": "referral_outcome", **outcome("outpatient", await case.now())})
    assert next(d for d in view["deadlines"] if d["obligation"] == "attendance_followup")["met_at"] is not None
    await case.sleep(timedelta(days=3))
    view = await case.view()
    assert view["state"] == "referred" and "deemed_refusal" not in [e["action"] for e in view["events"]]


async def test_5_a_reporter_is_named_and_leadership_hears_of_every_case_or_of_its_day(school):
    env, settings, engine = school
    wu = Actor(staff_id="s-wu", role="staff", school_id=SCHOOL)
    told = await Case(env, settings, engine).open(by=wu, warning_signals=[])
    assert await told.people("case_opened") == [["p-chen", "p-he", "l-sun"]]
    assert "【新个案】教职员工吴老师登记了个案" in told.told("case_opened")[0].text

    # a school that takes the openings with risk factors only in a daily digest at 17:00 Beijing time
    digest = DeadlinePolicy(leadership_told_of_openings="daily_digest", digest_at="17:00")
    quiet_cases = [await Case(env, settings, engine, policy=digest).open(by=wu, warning_signals=[])
                   for _ in range(2)]
    signal = await Case(env, settings, engine, policy=digest).open(by=wu)  # a warning signal: at once
    assert await signal.people("case_opened") == [["p-chen", "p-he", "l-sun"]]
    for case in quiet_cases:
        assert await case.people("case_opened") == [["p-chen", "p-he"]]  # the psychology teachers must assess
    for case in (told, *quiet_cases, signal):
        await quiet(case.handle)
    await env.sleep(timedelta(hours=24))

    def digests():
        with Session(engine) as session:
            return list(session.exec(select(NotificationRow).where(
                col(NotificationRow.event) == "openings_digest")).all())

    sent = await eventually(lambda: digests())
    assert len(sent) == 1 and sent[0].recipient_staff == ["l-sun"]
    text = sent[0].text
    assert "仅报告高危因素的个案 2 件" in text and all(case_ref(c.case_id) in text for c in quiet_cases)
    assert case_ref(signal.case_id) not in text and "王小明" not in text


async def test_6_a_screening_flag_opens_a_case_of_its_own_reason(school):
    env, settings, engine = school
    chen = Actor(staff_id="p-chen", role="psychology_teacher", school_id=SCHOOL)
    case = await Case(env, settings, engine).open(by=chen, warning_signals=[], risk_factors=[],
                                                  screening_flags=["asq_positive"])
    view = await case.view()
    assert view["screening_flags"] == ["asq_positive"] and view["warning_signals"] == []
    assess = next(d for d in view["deadlines"] if d["obligation"] == "assess")
    assert datetime.fromisoformat(assess["due_at"]) - datetime.fromisoformat(view["opened_at"]) == timedelta(hours=24)
    assert await case.people("case_opened") == [["p-chen", "p-he", "l-sun"]]
    text = case.told("case_opened")[0].text
    assert "心理危机评估" in text and "预警信号" not in text and "王小明" not in text


# ------------------------------------------------------------------ the class, through the API


async def test_4_a_case_names_a_class_of_the_school_and_its_opener_always_sees_it(sqlite_stack):
    stack = sqlite_stack
    directory.load(stack.engine, DIRECTORY)

    def as_(staff_id: str, role: str = "head_teacher") -> dict:
        return {"Authorization": f"Bearer {token(role, SCHOOL, staff_id=staff_id)}"}

    body = open_body()
    del body["student"]["class_id"]
    r = await stack.http.post("/cases", json=body, headers=as_("t-li"))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "student", "class_id"]
    assert r.json()["detail"][0]["reason"] == "class_required"

    # 李老师 (8-4) reports a student of 8-3: she keeps sight of the case she opened
    body["student"]["class_id"] = "8-3"
    r = await stack.http.post("/cases", json=body, headers=as_("t-li"))
    assert r.status_code == 201, r.text
    theirs = r.json()["case_id"]
    # the body named the class 七(1)班 beside the id of 八(3)班: the case shows the class its id names,
    # the one that decides who hears of it
    assert (body["student"]["grade"], body["student"]["class_name"]) == ("七年级", "七(1)班")
    assert {k: r.json()["student"][k] for k in ("class_id", "grade", "class_name")} == {
        "class_id": "8-3", "grade": "八年级", "class_name": "八(3)班"}
    assert (await stack.http.get(f"/cases/{theirs}", headers=as_("t-li"))).status_code == 200
    assert (await stack.http.get(f"/cases/{theirs}", headers=as_("t-zhang"))).status_code == 200
    listed = (await stack.http.get("/cases", headers=as_("t-li"))).json()
    assert [c["case_id"] for c in listed["items"]] == [theirs]

    # a case 张老师 opened in his own class stays outside 李老师's sight
    r = await stack.http.post("/cases", json=body, headers=as_("t-zhang"))
    other = r.json()["case_id"]
    assert (await stack.http.get(f"/cases/{other}", headers=as_("t-li"))).status_code == 404

    # the assessor, and so the owner, keeps the case in their list ("mine")
    r = await stack.http.post(f"/cases/{other}/assessment", json=ASSESS_HIGH,
                              headers=as_("p-he", "psychology_teacher"))
    assert r.status_code == 200 and r.json()["owner"] == "p-he"
    mine = (await stack.http.get("/cases?mine=true", headers=as_("p-he", "psychology_teacher"))).json()
    assert [c["case_id"] for c in mine["items"]] == [other]

    # leadership reassigns only to a psychology teacher of the school in the directory
    r = await stack.http.post(f"/cases/{other}/reassign", json={"owner": "t-li", "reason": "调整分工"},
                              headers=as_("l-sun", "leadership"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "owner"]
    r = await stack.http.post(f"/cases/{other}/reassign", json={"owner": "p-chen", "reason": "调整分工"},
                              headers=as_("l-sun", "leadership"))
    assert r.status_code == 200 and r.json()["owner"] == "p-chen"
