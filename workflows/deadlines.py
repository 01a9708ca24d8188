"""Deadlines and the warning ladder (三级预警 plus the leadership group).

Which action opens or meets which obligation is the transition table's
(``workflows/machine.py``); this module says how long an obligation may take
(the case's own policy) and how an unmet one climbs the ladder. Pure
functions over :class:`models.case.CaseData`; the workflow calls them with
``workflow.now()`` so they stay deterministic.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from models.case import CaseData, Deadline
from models.domain import Obligation, Recipient
from workflows.machine import OBLIGATIONS

#: The warning ladder: level -> who is told. Level 1 at the deadline, then one
#: level every ``escalation_step`` [seed 002, 四: class, grade, specialist; then
#: the leadership group].
LADDER: dict[int, tuple[Recipient, ...]] = {
    1: (Recipient.head_teacher,),
    2: (Recipient.grade_head, Recipient.student_affairs),
    3: (Recipient.psychology_teacher,),
    4: (Recipient.leadership,),
}
TOP_LEVEL = max(LADDER)


def within(obligation: Obligation, case: CaseData) -> timedelta:
    """How long the case's policy gives an obligation, opened now."""
    policy = case.policy
    match obligation:
        case Obligation.assess:
            return policy.assess_within_warning if case.warning_signals else policy.assess_within_risk_only
        case Obligation.guardian_notice:
            return policy.guardian_notice_within
        case Obligation.intervene:
            return policy.intervene_within(case.risk_level)
        case Obligation.guardian_answer:
            return policy.guardian_answer_within
        case Obligation.report:
            return policy.report_within


def open_deadline(obligation: Obligation, case: CaseData, now: datetime) -> Deadline:
    deadline = Deadline(
        obligation=obligation,
        responsible_role=OBLIGATIONS[obligation].owner,
        due_at=now + within(obligation, case),
    )
    case.deadlines.append(deadline)
    return deadline


def meet(case: CaseData, obligations: tuple[Obligation, ...], now: datetime) -> None:
    """Mark the open deadlines of these obligations met; stops their ladders."""
    for obligation in obligations:
        for deadline in case.deadlines:
            if deadline.obligation == obligation and deadline.met_at is None:
                deadline.met_at = now
                break


def next_escalation(deadline: Deadline, step: timedelta) -> datetime | None:
    """When this deadline climbs its next rung, or None when it is met or at the top."""
    if deadline.met_at is not None or deadline.escalation_level >= TOP_LEVEL:
        return None
    return deadline.due_at + step * deadline.escalation_level


def next_wakeup(case: CaseData) -> datetime | None:
    times = [t for d in case.deadlines if (t := next_escalation(d, case.policy.escalation_step))]
    return min(times, default=None)


def overdue(case: CaseData, now: datetime) -> list[Deadline]:
    return [d for d in case.deadlines if d.met_at is None and d.due_at <= now]
