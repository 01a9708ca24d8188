"""Synthetic case states for read-model tests and benchmarks (no workflow involved)."""

from __future__ import annotations

from datetime import datetime, timedelta

from models.case import Actor, CaseData, CaseEvent, Deadline, Student
from models.domain import SYSTEM, Action, CaseState, Obligation, Recipient
from models.policy import DeadlinePolicy
from workflows.machine import OBLIGATIONS


def opened_case(case_id: str, school: str, ref: str, opened: datetime, assess_within: timedelta) -> CaseData:
    """A case just opened by a head teacher: one ``open`` event and the assessment deadline."""
    return CaseData(
        case_id=case_id,
        school_id=school,
        student=Student(ref=ref, name="测试学生", school_id=school, grade="七年级", class_name="1班"),
        risk_factors=["major_setback"],
        warning_signals=[],
        summary="synthetic",
        opened_by=Actor(staff_id="ht", role="head_teacher", school_id=school),
        opened_at=opened,
        policy=DeadlinePolicy(),
        deadlines=[Deadline(obligation=Obligation.assess, responsible_role=Recipient.psychology_teacher,
                            due_at=opened + assess_within)],
        events=[CaseEvent(seq=1, at=opened, action=Action.open, actor="ht", actor_role="head_teacher",
                          from_state=None, to_state=CaseState.identified)],
    )


def step(data: CaseData, action: Action, at: datetime, to_state: CaseState) -> CaseEvent:
    """Record a psychology teacher's action (meeting its obligation, if one is open) and move the state."""
    event = CaseEvent(seq=len(data.events) + 1, at=at, action=action, actor="psy", actor_role="psychology_teacher",
                      from_state=data.state, to_state=to_state)
    data.events.append(event)
    data.state = to_state
    for deadline in data.deadlines:
        if deadline.obligation == action and deadline.met_at is None:
            deadline.met_at = at
    return event


def missed(data: CaseData, obligation: Obligation, due_at: datetime, level: int, at: datetime) -> None:
    """An obligation left unmet that has climbed the ladder to ``level`` by ``at``."""
    data.deadlines.append(Deadline(obligation=obligation, responsible_role=OBLIGATIONS[obligation].owner,
                                   due_at=due_at, escalation_level=level))
    data.events.append(CaseEvent(seq=len(data.events) + 1, at=at, action=Action.escalate, actor=SYSTEM,
                                 actor_role=SYSTEM, from_state=data.state, to_state=data.state,
                                 obligation=obligation, escalation_level=level))
