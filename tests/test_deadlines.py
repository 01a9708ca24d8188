"""Deadlines and the warning ladder on the time-skipping server (days pass in milliseconds)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from db import store
from models import search_attributes as sa
from models.case import (
    ActionCommand,
    AssessCommand,
    CaseStart,
    CloseCommand,
    EmergencyResponseCommand,
    GuardianNoticeCommand,
    InterveneCommand,
    OpenCaseBody,
    ReviewCommand,
    case_ref,
)
from models.policy import DeadlinePolicy
from tests.conftest import SCHOOL, STARTED
from tests.support import HEAD, LEAD, PLAN, PSY, notice, open_body
from workflows.case_workflow import CaseWorkflow
from workflows.view import case_view

HOUR = timedelta(hours=1)


async def _start(ts, history_event_limit: int = 10_000, **body):
    env, settings, _ = ts
    case_id = uuid.uuid4().hex
    start = CaseStart(
        case_id=case_id,
        opened_by=HEAD,
        case=OpenCaseBody.model_validate(open_body(**body)),
        policy=DeadlinePolicy(),
        history_event_limit=history_event_limit,
    )
    handle = await env.client.start_workflow(
        CaseWorkflow.run, start, id=f"case-{case_id}", task_queue=settings.task_queue
    )
    await handle.execute_update(CaseWorkflow.opened)
    STARTED.append(handle)
    return case_id, handle


def _act(actor, body):
    return ActionCommand(actor=actor, body=body)


ASSESS_MODERATE = AssessCommand(instrument="clinical", risk_level="moderate", rationale="持续低落")
ASSESS_LOW = AssessCommand(instrument="asq", answers={"q1": False, "q2": False, "q3": False, "q4": False})
REVIEW_SAME = ReviewCommand(observations="情绪平稳，按时上课", trend="same")


async def _escalations(handle):
    view = await handle.query(CaseWorkflow.view)
    return [(e.obligation.value, e.escalation_level, e.at) for e in view.events if e.action == "escalate"], view


async def test_missed_assessment_climbs_all_four_levels(ts):
    env, settings, engine = ts
    case_id, handle = await _start(ts)
    opened = (await handle.query(CaseWorkflow.view)).opened_at
    due = opened + settings_policy().assess_within_warning  # a warning signal: 24 h

    await env.sleep(timedelta(hours=23))
    assert (await _escalations(handle))[0] == []

    await env.sleep(timedelta(hours=24 + 3 * 12 + 5 - 23))
    climbed, view = await _escalations(handle)
    assert [(o, lvl) for o, lvl, _ in climbed] == [("assess", 1), ("assess", 2), ("assess", 3), ("assess", 4)]
    step = settings_policy().escalation_step
    for (*_, at), expected in zip(climbed, [due, due + step, due + 2 * step, due + 3 * step], strict=True):
        assert expected <= at < expected + timedelta(seconds=5)  # fired on time, not at the next wake-up
    assert view.deadlines[0].escalation_level == 4 and view.escalation_level == 4

    ladder = [n for n in store.notifications_for(engine, case_id) if n.obligation and n.escalation_level]
    assert [(n.event.value, n.escalation_level, [r.value for r in n.recipient_roles]) for n in ladder] == [
        ("deadline_missed", 1, ["psychology_teacher", "head_teacher"]),  # the owner hears first, not last
        ("deadline_escalated", 2, ["grade_head", "student_affairs"]),
        ("deadline_escalated", 3, ["psychology_teacher"]),
        ("deadline_escalated", 4, ["leadership"]),
    ]
    # the case by its short reference; never the student
    assert "预警·第4级" in ladder[-1].text and case_ref(case_id) in ladder[-1].text

    # the top of the ladder is the leadership group: nothing more fires
    await env.sleep(timedelta(days=20))
    assert len((await _escalations(handle))[0]) == 4
    description = await handle.describe()
    assert description.typed_search_attributes.get(sa.ESCALATION_LEVEL) == 4
    assert description.typed_search_attributes.get(sa.CASE_STATE) == "identified"

    # the read model shows the case as overdue
    page = store.list_cases(engine, school_id=SCHOOL, now=await _now(env), overdue=True)
    assert [c.case_id for c in page.items] == [case_id] and page.items[0].escalation_level == 4


async def test_meeting_an_obligation_stops_its_ladder(ts):
    env, _, engine = ts
    case_id, handle = await _start(ts)
    await env.sleep(timedelta(hours=24 + 12 + 1))  # level 2 reached
    view = await handle.execute_update(CaseWorkflow.act, _act(PSY, ASSESS_MODERATE))
    assessed = next(d for d in view.deadlines if d.obligation.value == "assess")
    assert assessed.met_at is not None and assessed.escalation_level == 2
    assert view.escalation_level == 0  # only open deadlines count

    await handle.execute_update(CaseWorkflow.act, _act(PSY, InterveneCommand.model_validate(PLAN)))
    await env.sleep(timedelta(days=30))
    climbed, view = await _escalations(handle)
    assert [(o, lvl) for o, lvl, _ in climbed if o == "assess"] == [("assess", 1), ("assess", 2)]
    assert store.load_case(engine, case_id).deadlines[0].escalation_level == 2


async def test_nothing_fires_for_deadlines_met_in_time(ts):
    env, _, engine = ts
    case_id, handle = await _start(ts)
    await env.sleep(HOUR)
    await handle.execute_update(
        CaseWorkflow.act,
        _act(
            PSY,
            AssessCommand(
                instrument="cssrs", answers={"q1": True, "q2": True, "q3": True, "q4": True, "q5": False, "q6": False}
            ),
        ),
    )
    await env.sleep(HOUR)  # the guardian notice is due 2 h after a high assessment
    await handle.execute_update(CaseWorkflow.act, _act(HEAD, await _notice(env)))
    await handle.execute_update(CaseWorkflow.act, _act(PSY, InterveneCommand.model_validate(PLAN)))
    for _week in range(5):  # the weekly follow-up review of a high case, each in time
        await env.sleep(timedelta(days=6))
        await handle.execute_update(CaseWorkflow.act, _act(PSY, REVIEW_SAME))
    climbed, view = await _escalations(handle)
    assert climbed == []
    # every deadline met in time; the follow-up review recurs while the case is open
    assert [d.obligation.value for d in view.deadlines if d.met_at is None] == ["review"]
    events = {n.event.value for n in store.notifications_for(engine, case_id)}
    assert not events & {"deadline_missed", "deadline_escalated"}


async def test_a_thirty_day_case_survives_continue_as_new(ts):
    env, _, engine = ts
    case_id, handle = await _start(ts, history_event_limit=60)
    first_run = (await handle.describe()).run_id
    await handle.execute_update(CaseWorkflow.act, _act(PSY, ASSESS_MODERATE))
    await handle.execute_update(CaseWorkflow.act, _act(PSY, InterveneCommand.model_validate(PLAN)))
    for day in range(30):  # the head teacher keeps the guardian informed every day
        await env.sleep(timedelta(days=1))
        await handle.execute_update(CaseWorkflow.act, _act(HEAD, await _notice(env)))
        if day in (12, 25):  # the fortnightly review of a moderate case
            await handle.execute_update(CaseWorkflow.act, _act(PSY, REVIEW_SAME))
    assert (await handle.describe()).run_id != first_run, "the case never continued as new"

    view = await handle.execute_update(
        CaseWorkflow.act,
        _act(LEAD, CloseCommand(reason="resolved", outcome="情绪稳定", rationale="连续四周低风险")),
    )
    assert view.state.value == "closed"
    # the read model keeps every event; the workflow carried only the latest of each action across runs
    stored = case_view(store.load_case(engine, case_id))
    notices = [*["guardian_notice"] * 13, "review", *["guardian_notice"] * 13, "review", *["guardian_notice"] * 4]
    assert [e.action for e in stored.events] == ["open", "assess", "intervene", *notices, "close"]
    assert [e.seq for e in stored.events] == list(range(1, 37))
    assert len(view.events) < 36 and view.events[-1].seq == 36
    result = await env.client.get_workflow_handle_for(CaseWorkflow.run, f"case-{case_id}").result()
    assert result == view
    assert stored.model_dump(exclude={"events"}) == view.model_dump(exclude={"events"})
    assert view.opened_at + timedelta(days=30) <= view.closed_at


def settings_policy() -> DeadlinePolicy:
    return DeadlinePolicy()


async def _now(env):
    return await env.get_current_time()


async def _notice(env) -> GuardianNoticeCommand:
    """The guardian told now (on the server's skipped clock): a notice lies within the case's life."""
    return GuardianNoticeCommand.model_validate(notice(await env.get_current_time()))


# ------------------------------------------------------------------ the pace set by the risk (issue 25, 2)

ASSESS_IMMINENT = AssessCommand(instrument="clinical", risk_level="imminent", rationale="计划明确，有自伤工具")
ASSESS_HIGH_CLINICAL = AssessCommand(instrument="clinical", risk_level="high", rationale="多次提到轻生")


async def _guardian_notice_ladder(ts, assessment: AssessCommand, hours: int):
    """Assess, then leave the guardian untold for ``hours``: the notice's deadline and its rungs."""
    env, _, engine = ts
    case_id, handle = await _start(ts)
    await handle.execute_update(CaseWorkflow.act, _act(PSY, assessment))
    assessed = (await handle.query(CaseWorkflow.view)).events[-1].at
    await env.sleep(timedelta(hours=hours))
    view = await handle.query(CaseWorkflow.view)
    notice_deadline = next(d for d in view.deadlines if d.obligation.value == "guardian_notice")
    climbed = [(lvl, at) for o, lvl, at in (await _escalations(handle))[0] if o == "guardian_notice"]
    told = [n for n in store.notifications_for(engine, case_id)
            if n.obligation and n.obligation.value == "guardian_notice" and n.escalation_level]
    return assessed, notice_deadline, climbed, told


async def test_an_imminent_case_is_paced_by_the_hour_and_reaches_leadership_within_four(ts):
    """立即启动应急预案: the guardian is due to be told 1 h after an imminent assessment, and the unmet duty
    climbs a rung an hour, so the leadership group hears of it 3 h after it fell due (at most 4 h)."""
    assessed, deadline, climbed, told = await _guardian_notice_ladder(ts, ASSESS_IMMINENT, 5)
    assert deadline.due_at - assessed == HOUR
    assert [lvl for lvl, _ in climbed] == [1, 2, 3, 4]
    for (_, at), expected in zip(climbed, [0, 1, 2, 3], strict=True):
        assert deadline.due_at + expected * HOUR <= at < deadline.due_at + expected * HOUR + timedelta(seconds=5)
    assert climbed[-1][1] - deadline.due_at <= 4 * HOUR
    leadership = told[-1]
    assert [r.value for r in leadership.recipient_roles] == ["leadership"]
    assert leadership.text.startswith("【预警·第4级】") and "「告知监护人」" in leadership.text


async def test_a_high_case_tells_the_guardian_within_two_hours_and_climbs_every_four(ts):
    assessed, deadline, climbed, _ = await _guardian_notice_ladder(ts, ASSESS_HIGH_CLINICAL, 2 + 3 * 4 + 1)
    assert deadline.due_at - assessed == 2 * HOUR
    assert [lvl for lvl, _ in climbed] == [1, 2, 3, 4]
    assert climbed[1][1] - climbed[0][1] >= 4 * HOUR - timedelta(seconds=5)


async def test_an_imminent_risk_opens_the_emergency_response_and_recording_it_meets_it(ts):
    """对紧急情况，应立即启动应急预案 [seed 000, 第八条]: an imminent assessment opens the emergency response,
    due in 30 min (the school's policy), its owner told; what was done is recorded on the case."""
    env, _, engine = ts
    case_id, handle = await _start(ts)
    await handle.execute_update(CaseWorkflow.act, _act(PSY, ASSESS_IMMINENT))
    view = await handle.query(CaseWorkflow.view)
    emergency = next(d for d in view.deadlines if d.obligation.value == "emergency_response")
    assert emergency.due_at - view.events[-1].at == timedelta(minutes=30)
    assert emergency.responsible_role.value == "owner"  # the assessor, who owns the case
    response = EmergencyResponseCommand(at=await _now(env), with_student="班主任王老师", guardian_reached=True,
                                        emergency_services="120", whereabouts="市第一人民医院急诊")
    await handle.execute_update(CaseWorkflow.act, _act(PSY, response))
    view = await handle.query(CaseWorkflow.view)
    assert next(d for d in view.deadlines if d.obligation.value == "emergency_response").met_at is not None
    assert view.events[-1].action == "emergency_response"
    told = [n for n in store.notifications_for(engine, case_id) if n.event.value == "emergency_response_required"]
    assert told and told[0].text.startswith("【应急处置】") and "须立即启动应急预案" in told[0].text

    # a high case has no emergency duty, and no such action to take
    other_id, other = await _start(ts)
    await other.execute_update(CaseWorkflow.act, _act(PSY, ASSESS_HIGH_CLINICAL))
    high = await other.query(CaseWorkflow.view)
    assert "emergency_response" not in [d.obligation.value for d in high.deadlines]
    assert "emergency_response" not in high.allowed_actions
