"""The figures of a school's term report (``models.term_report``): counted in the read model, by the term's dates
in Beijing time, and masked under 5 before anything leaves."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from db.tables import CaseDeadlineRow, CaseEventRow, CaseRow, ScreeningResultRow
from models.domain import Action, CaseState
from models.policy import Term
from models.term_report import RISKS, RUNGS, SMALLEST_SHOWN, TermFigures, masked

BEIJING = ZoneInfo("Asia/Shanghai")


def bounds(term: Term) -> tuple[datetime, datetime]:
    """The term as instants: its first day's start and the day after its last, in Beijing time."""
    start = datetime.combine(term.start, time(), BEIJING)
    return start, datetime.combine(term.end + timedelta(days=1), time(), BEIJING)


def figures(engine: Engine, school_id: str, term: Term, now: datetime | None = None) -> TermFigures:
    start, end = bounds(term)
    with Session(engine) as session:
        def by_risk(column) -> dict[str, int]:
            rows = session.exec(select(CaseRow.risk_level, func.count()).where(
                col(CaseRow.school_id) == school_id, column >= start, column < end).group_by(CaseRow.risk_level))
            return {(risk or "unassessed"): n for risk, n in rows.all()}

        opened, closed = by_risk(col(CaseRow.opened_at)), by_risk(col(CaseRow.closed_at))
        in_time = dict(session.exec(select(CaseRow.on_time, func.count()).where(
            col(CaseRow.school_id) == school_id, col(CaseRow.opened_at) >= start, col(CaseRow.opened_at) < end,
            col(CaseRow.on_time).is_not(None)).group_by(CaseRow.on_time)).all())
        events = (select(CaseEventRow.action, CaseEventRow.to_state, func.count())
                  .join(CaseRow, col(CaseRow.case_id) == col(CaseEventRow.case_id))
                  .where(col(CaseRow.school_id) == school_id, col(CaseEventRow.at) >= start,
                         col(CaseEventRow.at) < end)
                  .group_by(CaseEventRow.action, CaseEventRow.to_state))
        counted = {(a, s): n for a, s, n in session.exec(events).all()}
        overdue = dict(session.exec(select(CaseDeadlineRow.escalation_level, func.count()).where(
            col(CaseDeadlineRow.school_id) == school_id, col(CaseDeadlineRow.due_at) >= start,
            col(CaseDeadlineRow.due_at) < end, col(CaseDeadlineRow.escalation_level) >= 1)
            .group_by(CaseDeadlineRow.escalation_level)).all())
        screened = session.exec(select(func.count(func.distinct(ScreeningResultRow.student_ref)),
                                       func.count(func.distinct(ScreeningResultRow.batch))).where(
            col(ScreeningResultRow.school_id) == school_id, col(ScreeningResultRow.recorded_at) >= start,
            col(ScreeningResultRow.recorded_at) < end)).one()
    refused = CaseState.parent_refused.value
    refusals = sum(n for (action, state), n in counted.items()
                   if state == refused and action in (Action.guardian_response.value, Action.deemed_refusal.value))
    reported = sum(n for (action, _), n in counted.items() if action in (Action.report.value,
                                                                         Action.send_report.value))
    handled, decided = in_time.get(True, 0), sum(in_time.values())
    # a share is printed only where neither of its parts is a small number (80 % of 5 would say 4)
    share_shown = decided >= SMALLEST_SHOWN and all(n == 0 or n >= SMALLEST_SHOWN
                                                    for n in (handled, decided - handled))
    return TermFigures(
        school_id=school_id, term=term, as_of=now or datetime.now(UTC),
        opened={r: masked(opened.get(r, 0)) for r in RISKS}, closed={r: masked(closed.get(r, 0)) for r in RISKS},
        opened_total=masked(sum(opened.values())), closed_total=masked(sum(closed.values())),
        in_time_handled=masked(handled), in_time_decided=masked(decided),
        in_time_share=f"{handled / decided:.1%}" if share_shown else None,
        refusals=masked(refusals), reported=masked(reported),
        overdue={rung: masked(sum(n for level, n in overdue.items() if (level if level < 4 else 4) == rung))
                 for rung in RUNGS},
        screened_students=masked(screened[0]), screening_batches=masked(screened[1]),
    )
