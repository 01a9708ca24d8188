"""The case view: one function, used by the workflow query and the database read model."""

from __future__ import annotations

from datetime import datetime

from models.case import CaseData, CaseView
from workflows.machine import CaseMachine


def case_view(data: CaseData, now: datetime | None = None) -> CaseView:
    """What the API shows of a case: its fields, read as the view declares them, and what is allowed
    at ``now`` (a reopening has a window)."""
    view = CaseView.model_validate(data, from_attributes=True)
    view.allowed_actions = CaseMachine.of(data, now).allowed_actions()
    return view
