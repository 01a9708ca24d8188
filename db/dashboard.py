"""The supervisors' dashboard, from the read model (indexed for 100,000 cases).

Percentiles are nearest-rank: the value at position ceil(q * n) in the sorted
list (the median is the lower middle value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from db import store
from db.tables import CaseDeadlineRow, CaseRow, DeliveryRow
from models.case import FailedEffect
from models.domain import CaseState, RiskLevel
from models.records import DeliveryFields

#: The seeds' target: 90% or more of high-risk students found and handled in time.
HANDLED_IN_TIME_TARGET = 0.9
OVERDUE_SHOWN = 200


class OverdueObligation(BaseModel):
    case_id: str
    obligation: str
    responsible_role: str
    due_at: datetime
    escalation_level: int
    overdue_seconds: int


class CaseFailedEffect(FailedEffect):
    """A notification or document of a case that failed for good: someone must act by hand."""

    case_id: str


class DurationStats(BaseModel):
    count: int
    median_hours: float | None
    p90_hours: float | None


class InTime(BaseModel):
    decided: int
    in_time: int
    share: float | None
    target: float = HANDLED_IN_TIME_TARGET
    meets_target: bool | None


class FailingDelivery(DeliveryFields):
    last_attempt_at: datetime | None


class Dashboard(BaseModel):
    school_id: str
    generated_at: datetime
    by_state: dict[str, int]
    open_by_risk_level: dict[str, int]
    overdue_total: int
    overdue: list[OverdueObligation]
    failed_effects_total: int
    failed_effects: list[CaseFailedEffect]
    #: messages not yet through: a channel down (retried with backoff) or a receiver that refused them
    deliveries_failing: int = 0
    failing_deliveries: list[FailingDelivery] = []
    identification_to_assessment: DurationStats
    identification_to_intervention: DurationStats
    high_risk_handled_in_time: InTime


def _nearest_rank(session: Session, school_id: str, column, q: float, n: int) -> float | None:
    if n == 0:
        return None
    offset = max(math.ceil(q * n) - 1, 0)
    value = session.exec(
        select(column)
        .where(col(CaseRow.school_id) == school_id, column.is_not(None))
        .order_by(column)
        .offset(offset)
        .limit(1)
    ).one()
    return round(value / 3600, 2)


def _durations(session: Session, school_id: str, column, n: int) -> DurationStats:
    return DurationStats(
        count=n,
        median_hours=_nearest_rank(session, school_id, column, 0.5, n),
        p90_hours=_nearest_rank(session, school_id, column, 0.9, n),
    )


def in_reach(board: Dashboard, engine: Engine, staff_id: str, classes: set[str] | None) -> Dashboard:
    """The board as a person whose reach is ``classes`` reads it (a grade head: their grades): the school's
    counts as they are, and in its lists only the cases they see (``store.sees_case``); another class's case
    does not exist for them, here as on its page."""
    if classes is None:
        return board
    seen = store.seen_of(engine, {o.case_id for o in board.overdue} | {f.case_id for f in board.failed_effects},
                         staff_id, classes)
    return board.model_copy(update={"overdue": [o for o in board.overdue if o.case_id in seen],
                                    "failed_effects": [f for f in board.failed_effects if f.case_id in seen]})


def dashboard(engine: Engine, school_id: str, now: datetime) -> Dashboard:
    by_state: dict[str, int] = {}
    by_risk: dict[str | None, int] = {}
    in_time: dict[bool, int] = {}
    assessed = intervened = 0
    with Session(engine) as session:
        # one pass over the school's cases (index-only on ix_cases_school_summary) for every count
        groups = session.exec(
            select(
                CaseRow.state,
                CaseRow.risk_level,
                CaseRow.on_time,
                func.count(),
                func.count(col(CaseRow.assessed_after_s)),
                func.count(col(CaseRow.intervened_after_s)),
            )
            .where(col(CaseRow.school_id) == school_id)
            .group_by(CaseRow.state, CaseRow.risk_level, CaseRow.on_time)
        ).all()
        for state, risk, on_time, n, n_assessed, n_intervened in groups:
            by_state[state] = by_state.get(state, 0) + n
            if state != CaseState.closed.value:
                by_risk[risk] = by_risk.get(risk, 0) + n
            if on_time is not None:  # cases that reached high risk, whatever their risk now
                in_time[on_time] = in_time.get(on_time, 0) + n
            assessed += n_assessed
            intervened += n_intervened
        overdue_filter = (col(CaseDeadlineRow.school_id) == school_id, overdue_at(now))
        overdue_total = session.exec(select(func.count()).select_from(CaseDeadlineRow).where(*overdue_filter)).one()
        overdue_rows = session.exec(
            select(CaseDeadlineRow)
            .where(*overdue_filter)
            .order_by(col(CaseDeadlineRow.open_due_at))
            .limit(OVERDUE_SHOWN)
        ).all()
        failed_rows = session.exec(
            select(CaseRow.case_id, CaseRow.failed_effects)
            .where(col(CaseRow.school_id) == school_id, col(CaseRow.failed_effect_count) > 0)
            .order_by(col(CaseRow.case_id))
        ).all()
        assessment = _durations(session, school_id, col(CaseRow.assessed_after_s), assessed)
        intervention = _durations(session, school_id, col(CaseRow.intervened_after_s), intervened)
    # a document made again since (``crisisflow``'s remake) is no longer a failure
    remade = store.existing_documents(engine, [e["effect_id"] for _, effects in failed_rows for e in effects
                                               if e["effect"] == "document"])
    failed_rows = [(case_id, [e for e in effects if e["effect_id"] not in remade]) for case_id, effects in failed_rows]
    decided = sum(in_time.values())
    share = round(in_time.get(True, 0) / decided, 4) if decided else None
    failing = store.outbox(engine, ("failing", "refused"), {school_id}, limit=OVERDUE_SHOWN)
    return Dashboard(
        deliveries_failing=store.count_outbox(engine, ("failing", "refused"), {school_id}),
        failing_deliveries=[FailingDelivery.model_validate(d, from_attributes=True) for d in failing],
        school_id=school_id,
        generated_at=now,
        by_state={s.value: by_state.get(s.value, 0) for s in CaseState},
        open_by_risk_level={
            (r.value if r else "unassessed"): by_risk.get(r.value if r else None, 0) for r in [None, *RiskLevel]
        },
        overdue_total=overdue_total,
        overdue=[
            OverdueObligation(
                case_id=d.case_id,
                obligation=d.obligation,
                responsible_role=d.responsible_role,
                due_at=d.due_at,
                escalation_level=d.escalation_level,
                overdue_seconds=int((now - d.due_at).total_seconds()),
            )
            for d in overdue_rows
        ],
        failed_effects_total=sum(len(effects) for _, effects in failed_rows),
        failed_effects=[CaseFailedEffect(case_id=case_id, **effect) for case_id, effects in failed_rows
                        for effect in effects][:OVERDUE_SHOWN],
        identification_to_assessment=assessment,
        identification_to_intervention=intervention,
        high_risk_handled_in_time=InTime(
            decided=decided,
            in_time=in_time.get(True, 0),
            share=share,
            meets_target=None if share is None else share >= HANDLED_IN_TIME_TARGET,
        ),
    )


def overdue_at(now: datetime):
    """An obligation overdue at ``now``: still open and past its deadline (what the ladder climbs on)."""
    return col(CaseDeadlineRow.open_due_at) <= now


@dataclass
class DistrictState:
    """Every school's counts at once, for the operations gauges (``ops/metrics.py``)."""

    open_cases: list[tuple[str, str, str | None, int]]  # school, state, risk level, cases
    overdue: list[tuple[str, int, int]]  # school, warning level, obligations
    unsent: list[tuple[str, str, str, int, datetime]]  # school, channel, status, rows, the oldest's creation


def district_state(engine: Engine, now: datetime) -> DistrictState:
    with Session(engine) as session:
        open_cases = session.exec(
            select(CaseRow.school_id, CaseRow.state, CaseRow.risk_level, func.count())
            .where(col(CaseRow.state) != CaseState.closed.value)
            .group_by(CaseRow.school_id, CaseRow.state, CaseRow.risk_level)
        ).all()
        overdue = session.exec(
            select(CaseDeadlineRow.school_id, CaseDeadlineRow.escalation_level, func.count())
            .where(overdue_at(now))
            .group_by(CaseDeadlineRow.school_id, CaseDeadlineRow.escalation_level)
        ).all()
        unsent = session.exec(
            select(DeliveryRow.school_id, DeliveryRow.channel, DeliveryRow.status, func.count(),
                   func.min(DeliveryRow.created_at))
            .where(col(DeliveryRow.status).in_(store.UNSENT))
            .group_by(DeliveryRow.school_id, DeliveryRow.channel, DeliveryRow.status)
        ).all()
    return DistrictState(
        open_cases=[tuple(r) for r in open_cases], overdue=[tuple(r) for r in overdue],
        unsent=[(school, channel, status, n, first if first.tzinfo else first.replace(tzinfo=UTC))
                for school, channel, status, n, first in unsent])
