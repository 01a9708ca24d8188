"""Boundary models of the supervisor and auditor views: timeline, replay report."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from models.domain import CaseState

TimelineKind = Literal[
    "opened",
    "action_accepted",
    "request_repeated",  # a request taken before arrived again (a client's retry): answered, not taken again
    "timer_fired",
    "escalation",
    "notification_sent",
    "document_made",
    "state_change",
    "reported",
    "deemed_refusal",  # the workflow's own step: a referral not attended by the follow-up's deadline
    "closed",
    "continued_as_new",
]


class TimelineEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: datetime
    kind: TimelineKind
    actor: str | None = None
    role: str | None = None
    action: str | None = None
    from_state: CaseState | None = None
    to_state: CaseState | None = None
    obligation: str | None = None
    due_at: datetime | None = None
    escalation_level: int | None = None
    note: str | None = None
    run_id: str | None = None


class Timeline(BaseModel):
    case_id: str
    runs: list[str]
    entries: list[TimelineEntry]


class Transition(BaseModel):
    at: datetime
    action: str
    actor: str
    role: str | None
    from_state: CaseState | None
    to_state: CaseState | None


class ReplayReport(BaseModel):
    """What an auditor learns from replaying one exported history."""

    source: str
    workflow_id: str
    run_id: str | None
    deterministic: bool
    #: the history's events do not fit together (cut or changed): not replayed, or the replay stalled
    malformed: bool = False
    divergence: str | None = None
    policy_version: str | None = None
    workflow_code_version: str | None = None
    transitions: list[Transition] = []


class ReplaySummary(BaseModel):
    ok: bool
    reports: list[ReplayReport]
