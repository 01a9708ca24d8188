"""The dashboard's numbers equal a direct count over what was seeded (SQLite and PostgreSQL)."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy
from alembic import command

from db import store
from db.engine import alembic_config, make_engine, migrate
from models.case import CaseData, CaseEvent, Deadline
from models.domain import Action, CaseState, Obligation, Recipient, RiskLevel
from tests.conftest import KEYRING, SCHOOL, auth
from tests.factories import missed, opened_case, step
from workflows.machine import OBLIGATIONS

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


def _high_case(case_id: str, now: datetime, *, assess_h: float = 2, notice_h: float | None = 1,
               plan_h: float | None = 3, urgent_h: float | None = None, risk_now: RiskLevel = R.high) -> CaseData:
    """A case assessed high ``assess_h`` hours after it opened (due in 24 h); the guardian told ``notice_h``
    and the plan made ``plan_h`` hours after the assessment (due in 2 h and 24 h), or never; an urgent
    referral ``urgent_h`` hours after the assessment; a follow-up review still to come; its risk now."""
    opened = now - timedelta(days=3)
    data = opened_case(case_id, SCHOOL, case_id, opened, timedelta(hours=24))
    assessed = opened + timedelta(hours=assess_h)
    step(data, Action.assess, assessed, S.assessed)
    for obligation, within, done in ((Obligation.guardian_notice, 2, notice_h), (Obligation.intervene, 24, plan_h)):
        data.deadlines.append(Deadline(obligation=obligation, responsible_role=OBLIGATIONS[obligation].owner,
                                       due_at=assessed + timedelta(hours=within),
                                       met_at=None if done is None else assessed + timedelta(hours=done)))
    data.deadlines.append(Deadline(obligation=Obligation.review, responsible_role=Recipient.psychology_teacher,
                                   due_at=now + timedelta(days=4)))  # recurring: never part of the measure
    if urgent_h is not None:
        step(data, Action.refer, assessed + timedelta(hours=urgent_h), S.referred)
    data.events.append(CaseEvent(seq=len(data.events) + 1, at=now - timedelta(hours=1), action=Action.contact,
                                 actor="psy", actor_role="psychology_teacher", from_state=data.state,
                                 to_state=data.state))
    data.risk_level = risk_now
    return data


async def test_the_90_percent_measure_counts_fairly(stack):
    """心理高危学生得到及时发现和干预达到90%以上 [seed 000]: among cases that reached high or imminent risk, those
    whose assessment, guardian notice and plan (or urgent referral) each met their deadline; counted once the
    three are decided, whatever reviews are pending, and a later downgrade keeps the case in the measure."""
    now = datetime.now(UTC)
    cases = {
        "in-time": (_high_case("in-time", now), True),
        "downgraded": (_high_case("downgraded", now, risk_now=R.low), True),
        "urgent": (_high_case("urgent", now, plan_h=30, urgent_h=1, risk_now=R.imminent), True),
        "late-assessment": (_high_case("late-assessment", now, assess_h=30), False),
        "notice-missed": (_high_case("notice-missed", now, notice_h=None), False),
        "plan-late": (_high_case("plan-late", now, plan_h=30), False),
    }
    moderate = opened_case("moderate", SCHOOL, "moderate", now - timedelta(days=2), timedelta(hours=72))
    step(moderate, Action.assess, now - timedelta(days=1), S.assessed)
    moderate.risk_level = R.moderate
    undecided = _high_case("undecided", now, notice_h=None)
    undecided.deadlines[1].due_at = now + timedelta(hours=1)  # the guardian is still to be told, in time
    for data in [*(d for d, _ in cases.values()), moderate, undecided]:
        store.project_case(stack.engine, data)
        expected = cases.get(data.case_id, (None, None))[1]
        assert store.handled_in_time(data, data.events[-1].at) is expected, data.case_id

    board = (await stack.http.get("/dashboard", headers=auth("leadership"))).json()["high_risk_handled_in_time"]
    assert (board["decided"], board["in_time"]) == (6, 3)  # the numerator and the denominator
    assert board["share"] == 0.5 and board["meets_target"] is False


def test_the_measure_is_recomputed_for_cases_projected_before_it(db_url):
    """Migration 0012: rows written under the old reading ("every deadline in time", reviews included) get
    the measure as it now reads, closed cases too (they are never projected again)."""
    engine = make_engine(db_url, keyring=KEYRING)
    migrate(engine)
    now = datetime.now(UTC)
    cases = [_high_case("in-time", now), _high_case("downgraded", now, risk_now=R.low),
             _high_case("urgent", now, plan_h=30, urgent_h=1), _high_case("plan-late", now, plan_h=30)]
    for data in cases:
        store.project_case(engine, data)
    command.downgrade(alembic_config(engine), "0011")
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE cases SET on_time = NULL"))  # as the old reading left them pending
    migrate(engine)
    with engine.connect() as conn:
        stored = dict(conn.execute(sqlalchemy.text("SELECT case_id, on_time FROM cases")).all())
    assert {k: (None if v is None else bool(v)) for k, v in stored.items()} == {
        d.case_id: store.handled_in_time(d, d.events[-1].at) for d in cases}
    engine.dispose()
