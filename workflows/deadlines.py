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
from models.domain import CaseState, Obligation, Recipient
from workflows.machine import HIGH_ONCE, OBLIGATIONS, OWNER, RISK_PACE

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


def told_from(role: str) -> int | None:
    """The warning level from which the ladder tells this role (a 督办 task, a 催办); None: never."""
    return next((level for level, told in sorted(LADDER.items()) if role in {r.value for r in told}), None)


def within(obligation: Obligation, case: CaseData) -> timedelta | None:
    """How long the case's policy gives an obligation, opened now (None: it does not apply at this risk)."""
    policy = case.policy
    match obligation:
        case Obligation.assess:
            if case.warning_signals:
                return policy.assess_within_warning
            return policy.assess_within_screening if case.screening_flags else policy.assess_within_risk_only
        case Obligation.guardian_notice:
            if HIGH_ONCE in case.features and case.state is CaseState.referred and not case.guardian_notified:
                return policy.guardian_notice_within_referred  # the green channel went first: tell them at once
            if RISK_PACE in case.features:
                return policy.guardian_notice_for(case.risk_level)
            return policy.guardian_notice_within
        case Obligation.intervene:
            return policy.intervene_within(case.risk_level)
        case Obligation.guardian_answer:
            return policy.guardian_answer_within
        case Obligation.report:
            return policy.report_within
        case Obligation.review:
            return policy.review_every(case.risk_level)
        case Obligation.reassess:
            return policy.reassess_within
        case Obligation.return_meeting:
            return policy.return_meeting_within
        case Obligation.emergency_response:
            return policy.emergency_response_within
        case Obligation.attendance_followup:
            return policy.attendance_followup_within
        case Obligation.guardian_callback:
            return policy.guardian_callback_within


def duty_owner(obligation: Obligation, case: CaseData) -> Recipient:
    """Who owns an obligation of this case: the table's owner (``OBLIGATIONS``); a duty of the case's named
    owner goes to the school's psychology teachers while none is named, and in cases before OWNER."""
    owner = OBLIGATIONS[obligation].owner
    if owner is Recipient.owner and not (OWNER in case.features and case.owner):
        return Recipient.psychology_teacher
    return owner


def open_deadline(obligation: Obligation, case: CaseData, now: datetime, span: timedelta | None = None) -> Deadline:
    """A new deadline for the obligation, due ``span`` from now (by default the policy's window for it)."""
    deadline = Deadline(
        obligation=obligation,
        responsible_role=duty_owner(obligation, case),
        due_at=now + (within(obligation, case) if span is None else span),
    )
    case.deadlines.append(deadline)
    return deadline


def bring_forward(case: CaseData, obligation: Obligation, due_at: datetime) -> bool:
    """An open deadline of the obligation due no later than ``due_at``; True when one was brought forward."""
    moved = False
    for deadline in case.deadlines:
        if deadline.obligation is obligation and deadline.met_at is None and deadline.due_at > due_at:
            deadline.due_at, moved = due_at, True
    return moved


def reschedule(case: CaseData, obligations: tuple[Obligation, ...], now: datetime) -> None:
    """Open deadlines of these obligations follow the case's new facts (a reassessment): due anew
    from now, their ladder restarted; one that no longer applies (low risk) is discharged."""
    for deadline in case.deadlines:
        if deadline.obligation in obligations and deadline.met_at is None:
            span = within(deadline.obligation, case)
            if span is None:
                deadline.met_at = now
            else:
                deadline.due_at, deadline.escalation_level = now + span, 0


def told_at(level: int, deadline: Deadline, case: CaseData | None = None) -> list[Recipient]:
    """Who a missed deadline tells at a rung: the ladder's people, and at the first rung the duty's owner
    too, who hears first rather than last; with a named owner (OWNER), the first rung is the duty's owner,
    the case's owner and the class's head teacher."""
    first = [deadline.responsible_role]
    if level == 1 and case is not None and OWNER in case.features and case.owner:
        first.append(Recipient.owner)
    return list(dict.fromkeys([*first, *LADDER[level]])) if level == 1 else list(LADDER[level])


def climb(deadline: Deadline, now: datetime) -> int:
    """The deadline climbs one rung of the ladder, now; its new level."""
    deadline.escalation_level += 1
    deadline.escalated_at.append(now)
    return deadline.escalation_level


def meet(case: CaseData, obligations: tuple[Obligation, ...], now: datetime) -> None:
    """Mark the open deadlines of these obligations met; stops their ladders."""
    for obligation in obligations:
        for deadline in case.deadlines:
            if deadline.obligation == obligation and deadline.met_at is None:
                deadline.met_at = now
                break


def next_escalation(deadline: Deadline, step: timedelta, top: int = TOP_LEVEL) -> datetime | None:
    """When this deadline climbs its next rung (or, for a duty with an ``on_miss`` step, when that step is
    taken), or None when it is met or at the top (``top``: a ladder of its own, such as a help request's)."""
    if deadline.met_at is not None or deadline.escalation_level >= top:
        return None
    return deadline.due_at + step * deadline.escalation_level


def step(case: CaseData) -> timedelta:
    """The ladder's pace for this case: its risk's (``RISK_PACE``), else the policy's one step."""
    if RISK_PACE in case.features:
        return case.policy.escalation_step_for(case.risk_level)
    return case.policy.escalation_step


def next_wakeup(case: CaseData) -> datetime | None:
    times = [t for d in case.deadlines if (t := next_escalation(d, step(case)))]
    return min(times, default=None)


def overdue(case: CaseData, now: datetime) -> list[Deadline]:
    return [d for d in case.deadlines if d.met_at is None and d.due_at <= now]
