"""The dashboard's numbers equal a direct count over what was seeded (SQLite and PostgreSQL)."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy

from db import store
from models.case import CaseData
from models.domain import Action, CaseState, Obligation, RiskLevel
from tests.conftest import SCHOOL, auth
from tests.factories import missed, opened_case, step

S, R = CaseState, RiskLevel


def _seed(i: int, now: datetime) -> tuple[CaseData, bool | None]:
    """A case with a known story; returns it and whether it was handled in time."""
    opened = now - timedelta(days=10, hours=i)
    state = [S.identified, S.assessed, S.intervened, S.referred, S.reported, S.closed][i % 6]
    risk = None if state is S.identified else [R.low, R.moderate, R.high, R.imminent][i % 4]
    assess_after = timedelta(hours=(i % 7) * 5 + 1)  # 1..31 h; the deadline is 24 h
    data = opened_case(f"case{i:03d}", SCHOOL, f"s{i}", opened, timedelta(hours=24))
    if state is not S.identified:
        step(data, Action.assess, opened + assess_after, S.assessed)
    if state in (S.intervened, S.referred, S.reported, S.closed):
        step(data, Action.intervene, data.events[-1].at + timedelta(hours=i % 3 + 1), S.intervened)
    if state is S.identified and i % 12 == 0:  # a fresh case, nothing due yet
        data.deadlines[0].due_at = now + timedelta(hours=5)
    overdue_notice = state is S.assessed and risk in (R.high, R.imminent)
    if overdue_notice:  # the guardian was never told
        due = data.events[-1].at + timedelta(hours=2)
        missed(data, Obligation.guardian_notice, due, 3, due + timedelta(hours=24))
    data.state, data.risk_level = state, risk
    data.closed_at = data.events[-1].at if state is S.closed else None
    late = assess_after > timedelta(hours=24) or overdue_notice
    return data, (False if late else True) if state is not S.identified else None


def _nearest_rank(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(math.ceil(q * len(ordered)) - 1, 0)] / 3600, 2)


async def test_dashboard_matches_a_direct_count(stack):
    now = datetime.now(UTC)
    seeded = [_seed(i, now) for i in range(60)]
    for data, _ in seeded:
        store.project_case(stack.engine, data)
    other = _seed(1, now)[0].model_copy(update={"case_id": "elsewhere", "school_id": "school-b"})
    store.project_case(stack.engine, other)

    r = await stack.http.get("/dashboard", headers=auth("leadership"))
    assert r.status_code == 200, r.text
    board = r.json()

    with stack.engine.connect() as conn:
        direct = dict(
            conn.execute(
                sqlalchemy.text("SELECT state, count(*) FROM cases WHERE school_id = :s GROUP BY state"), {"s": SCHOOL}
            ).all()
        )
    assert {k: v for k, v in board["by_state"].items() if v} == direct
    assert board["by_state"] == {s.value: Counter(d.state.value for d, _ in seeded)[s.value] for s in S}

    open_cases = [d for d, _ in seeded if d.state is not S.closed]
    assert board["open_by_risk_level"] == {
        (r.value if r else "unassessed"): sum(1 for d in open_cases if d.risk_level is r) for r in [None, *R]
    }

    overdue = sorted(
        (dl.due_at, d.case_id, dl.obligation.value)
        for d in open_cases
        for dl in d.deadlines
        if dl.met_at is None and dl.due_at <= now
    )
    assert board["overdue_total"] == len(overdue) > 0
    assert [(o["case_id"], o["obligation"]) for o in board["overdue"]] == [(c, o) for _, c, o in overdue]
    assert {o["escalation_level"] for o in board["overdue"] if o["obligation"] == "guardian_notice"} == {3}
    assert all(o["overdue_seconds"] > 0 for o in board["overdue"])

    assess = [(e.at - d.opened_at).total_seconds() for d, _ in seeded for e in d.events if e.action == "assess"]
    intervene = [(e.at - d.opened_at).total_seconds() for d, _ in seeded for e in d.events if e.action == "intervene"]
    assert board["identification_to_assessment"] == {
        "count": len(assess),
        "median_hours": _nearest_rank(assess, 0.5),
        "p90_hours": _nearest_rank(assess, 0.9),
    }
    assert board["identification_to_intervention"] == {
        "count": len(intervene),
        "median_hours": _nearest_rank(intervene, 0.5),
        "p90_hours": _nearest_rank(intervene, 0.9),
    }

    decided = [ok for d, ok in seeded if d.risk_level in (R.high, R.imminent) and ok is not None]
    in_time = board["high_risk_handled_in_time"]
    assert (in_time["decided"], in_time["in_time"]) == (len(decided), sum(decided))
    assert in_time["share"] == round(sum(decided) / len(decided), 4)
    assert in_time["target"] == 0.9 and in_time["meets_target"] is (in_time["share"] >= 0.9)

    assert "elsewhere" not in r.text  # another school's case never shows
    assert (await stack.http.get("/dashboard", headers=auth("head_teacher"))).status_code == 403
    assert (await stack.http.get("/dashboard", headers=auth("grade_head"))).status_code == 200
    assert (await stack.http.get("/dashboard", headers=auth("auditor"))).status_code == 403
