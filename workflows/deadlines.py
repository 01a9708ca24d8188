"""Obligations, their deadlines and the warning ladder (三级预警 plus the leadership group).

Pure functions over :class:`models.case.CaseData`; the workflow calls them
with ``workflow.now()`` so they stay deterministic.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from models.case import CaseData, Deadline
from models.domain import NotificationEvent, Obligation, Recipient, RiskLevel

#: Who must meet each obligation (DOMAIN.md, referral flow and people).
OWNER: dict[Obligation, Recipient] = {
    Obligation.assess: Recipient.psychology_teacher,
    Obligation.guardian_notice: Recipient.head_teacher,
    Obligation.intervene: Recipient.psychology_teacher,
    Obligation.guardian_answer: Recipient.head_teacher,
    Obligation.report: Recipient.leadership,
}

#: The notification sent when an obligation opens.
OPENED_EVENT: dict[Obligation, NotificationEvent] = {
    Obligation.assess: NotificationEvent.case_opened,
    Obligation.guardian_notice: NotificationEvent.guardian_notice_required,
    Obligation.intervene: NotificationEvent.intervention_required,
    Obligation.guardian_answer: NotificationEvent.referral_made,
    Obligation.report: NotificationEvent.guardian_refused,
}

#: Which action meets which obligation.
MET_BY: dict[str, Obligation] = {
    "assess": Obligation.assess,
    "guardian_notice": Obligation.guardian_notice,
    "intervene": Obligation.intervene,
    "guardian_response": Obligation.guardian_answer,
    "report": Obligation.report,
}

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


def opened_by(action: str, variant: str | None, case: CaseData, now: datetime) -> list[Deadline]:
    """The deadlines an accepted action starts, per the case's own policy."""
    policy = case.policy
    due: dict[Obligation, timedelta] = {}
    if action == "open":
        due[Obligation.assess] = (
            policy.assess_within_warning if case.warning_signals else policy.assess_within_risk_only
        )
    elif action == "assess" and case.risk_level is not None:
        if case.risk_level in (RiskLevel.high, RiskLevel.imminent) and not case.guardian_notified:
            due[Obligation.guardian_notice] = policy.guardian_notice_within
        within = policy.intervene_within(case.risk_level)
        if within is not None:
            due[Obligation.intervene] = within
    elif action == "refer":
        due[Obligation.guardian_answer] = policy.guardian_answer_within
    elif action == "guardian_response" and variant == "refuse":
        due[Obligation.report] = policy.report_within
    return [Deadline(obligation=o, responsible_role=OWNER[o], due_at=now + d) for o, d in due.items()]


def meet(case: CaseData, action: str, now: datetime) -> Deadline | None:
    """Mark the obligation this action meets; stops its ladder."""
    obligation = MET_BY.get(action)
    for deadline in case.deadlines:
        if deadline.obligation == obligation and deadline.met_at is None:
            deadline.met_at = now
            return deadline
    return None


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
