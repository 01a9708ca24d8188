"""The read model on SQLite and PostgreSQL: migrations, idempotent projection, listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from models import store
from models.case import Actor, CaseData, CaseEvent, Deadline, OpenCaseBody
from models.domain import CaseState
from models.policy import DeadlinePolicy
from models.tables import NotificationRow
from tests.support import open_body
from workflows.view import case_view

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _case(case_id: str = "c1", events: int = 1, school: str = "school-a") -> CaseData:
    body = OpenCaseBody.model_validate(open_body(school=school))
    data = CaseData(
        case_id=case_id,
        school_id=school,
        student=body.student,
        risk_factors=body.risk_factors,
        warning_signals=body.warning_signals,
        summary=body.summary,
        opened_by=Actor(staff_id="ht", role="head_teacher", school_id=school),
        opened_at=T0,
        policy=DeadlinePolicy(),
        deadlines=[Deadline(obligation="assess", responsible_role="psychology_teacher", due_at=T0 + timedelta(hours=24))],
    )
    for seq in range(1, events + 1):
        data.events.append(
            CaseEvent(seq=seq, at=T0 + timedelta(minutes=seq), action="open" if seq == 1 else "escalate",
                      actor="ht", actor_role="head_teacher", from_state=None if seq == 1 else CaseState.identified,
                      to_state=CaseState.identified, detail={"n": seq})
        )
    return data


def test_migrations_match_the_models(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_projection_round_trips_and_is_idempotent(engine):
    data = _case(events=2)
    assert store.project_case(engine, data)
    assert store.project_case(engine, data)  # a rerun writes the same
    assert store.load_case(engine, "c1") == data
    assert case_view(store.load_case(engine, "c1")) == case_view(data)


def test_an_older_snapshot_never_overwrites_a_newer_one(engine):
    newer = _case(events=3)
    newer.deadlines[0].escalation_level = 2
    older = _case(events=2)
    assert store.project_case(engine, newer)
    assert not store.project_case(engine, older)  # arrives late (a retried activity)
    assert store.load_case(engine, "c1") == newer


def test_listing_overdue_and_escalation(engine):
    store.project_case(engine, _case("a"))
    late = _case("b", events=2)
    late.deadlines[0].escalation_level = 1
    store.project_case(engine, late)
    store.project_case(engine, _case("x", school="school-b"))
    now = T0 + timedelta(hours=25)
    page = store.list_cases(engine, school_id="school-a", now=now, overdue=True)
    assert page.total == 2 and all(c.overdue for c in page.items)
    page = store.list_cases(engine, school_id="school-a", now=T0 + timedelta(hours=1), overdue=True)
    assert page.total == 0
    page = store.list_cases(engine, school_id="school-a", now=now)
    assert [c.case_id for c in page.items] == ["a", "b"]  # newest first, then by id
    assert {c.case_id: c.escalation_level for c in page.items} == {"a": 0, "b": 1}


def test_outbox_inserts_once(engine):
    store.project_case(engine, _case())
    row = dict(notification_id="c1-1-case_opened", case_id="c1", school_id="school-a", event="case_opened",
               recipient_role="psychology_teacher", recipient_roles=["psychology_teacher"], text="t", created_at=T0)
    store.add_notification(engine, NotificationRow(**row))
    store.mark_delivery(engine, "c1-1-case_opened", T0)
    again = store.add_notification(engine, NotificationRow(**row))
    assert again.delivered_at is not None  # the rerun sees the delivery, and will not send again
    assert len(store.notifications_for(engine, "c1")) == 1


def test_idempotency_keys(engine):
    assert store.claim_idempotency_key(engine, "ht", "k1", "h1", "case-1", T0) == "case-1"
    assert store.claim_idempotency_key(engine, "ht", "k1", "h1", "case-2", T0) == "case-1"
    assert store.claim_idempotency_key(engine, "other", "k1", "h1", "case-3", T0) == "case-3"
    try:
        store.claim_idempotency_key(engine, "ht", "k1", "h2", "case-4", T0)
    except store.IdempotencyConflict:
        pass
    else:
        raise AssertionError("a reused key with another body must be refused")
