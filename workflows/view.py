"""The case view: one function, used by the workflow query and the database read model."""

from __future__ import annotations

from models.case import CaseData, CaseView, DeadlineView, EventView, StudentView
from workflows.machine import CaseMachine


def case_view(data: CaseData) -> CaseView:
    machine = CaseMachine.at(data.state, data.risk_level, data.guardian_notified, data.guardian_consented)
    return CaseView(
        case_id=data.case_id,
        state=data.state,
        risk_level=data.risk_level,
        school_id=data.school_id,
        student=StudentView.model_validate(data.student.model_dump()),
        risk_factors=data.risk_factors,
        warning_signals=data.warning_signals,
        summary=data.summary,
        opened_at=data.opened_at,
        closed_at=data.closed_at,
        escalation_level=data.escalation_level,
        deadlines=[DeadlineView.model_validate(d.model_dump(exclude={"escalated_at"})) for d in data.deadlines],
        allowed_actions=machine.allowed_actions(),
        policy_version=data.policy.version,
        events=[EventView.model_validate(e.model_dump(exclude={"detail"})) for e in data.events],
    )
