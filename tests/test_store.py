"""The read model on SQLite and PostgreSQL: migrations, idempotent projection, listing."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

from api.routes.receipts import SignedCopyView
from crypto.sealed import SealError
from db import store
from db.dashboard import FailingDelivery
from db.engine import alembic_config, make_engine, migrate
from db.tables import CaseRow, DeliveryRow, DocumentRow, IncidentRow, NotificationRow, ScreeningJobRow, SignedCopyRow
from intake.jobs import JobView
from models.case import Actor, CaseData, CaseEvent, CaseSummary, Deadline, DocumentView, NotificationView, OpenCaseBody
from models.domain import CaseState
from models.incident import IncidentFields, IncidentView
from models.policy import DeadlinePolicy
from models.records import (
    CaseListFields,
    DeliveryFields,
    DocumentFields,
    NotificationFields,
    ScreeningJobFields,
    SignedCopyFields,
)
from tests.conftest import KEYRING
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
        deadlines=[
            Deadline(obligation="assess", responsible_role="psychology_teacher", due_at=T0 + timedelta(hours=24))
        ],
    )
    for seq in range(1, events + 1):
        data.events.append(
            CaseEvent(
                seq=seq,
                at=T0 + timedelta(minutes=seq),
                action="open" if seq == 1 else "escalate",
                actor="ht",
                actor_role="head_teacher",
                from_state=None if seq == 1 else CaseState.identified,
                to_state=CaseState.identified,
                detail={"n": seq},
            )
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
    row = dict(
        notification_id="c1-1-case_opened",
        case_id="c1",
        school_id="school-a",
        event="case_opened",
        recipient_role="psychology_teacher",
        recipient_roles=["psychology_teacher"],
        text="t",
        created_at=T0,
    )
    store.add_notification(engine, NotificationRow(**row))
    store.mark_delivery(engine, "c1-1-case_opened", T0)
    again = store.add_notification(engine, NotificationRow(**row))
    assert again.delivered_at is not None  # the rerun sees the delivery, and will not send again
    assert len(store.notifications_for(engine, "c1")) == 1


def test_idempotency_keys(engine):
    assert store.claim_idempotency_key(engine, "ht", "k1", "h1", "case-1", T0).case_id == "case-1"
    assert store.claim_idempotency_key(engine, "ht", "k1", "h1", "case-2", T0).case_id == "case-1"
    assert store.claim_idempotency_key(engine, "other", "k1", "h1", "case-3", T0).case_id == "case-3"
    # an action's first answer is kept (sealed: it names the student) and given again
    store.save_idempotent_answer(engine, "ht", "k1", 200, '{"student": "王小明"}')
    store.save_idempotent_answer(engine, "ht", "k1", 409, "{}")
    again = store.claim_idempotency_key(engine, "ht", "k1", "h1", "case-1", T0)
    assert (again.status_code, again.response) == (200, '{"student": "王小明"}')
    with engine.connect() as conn:
        raw = conn.exec_driver_sql(
            "SELECT response FROM idempotency_keys WHERE key = 'k1' AND staff_id = 'ht'"
        ).scalar()
    assert raw.startswith("sealed:") and "王小明" not in raw
    try:
        store.claim_idempotency_key(engine, "ht", "k1", "h2", "case-4", T0)
    except store.IdempotencyConflict:
        pass
    else:
        raise AssertionError("a reused key with another body must be refused")


def test_names_narratives_and_details_are_sealed_at_rest(engine):
    data = _case(events=2)
    store.project_case(engine, data)
    with engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT student, summary FROM cases").one()
        detail = conn.exec_driver_sql("SELECT detail FROM case_events ORDER BY seq").all()
    assert all(v.startswith("sealed:v1:") for v in (*raw, *(d[0] for d in detail)))
    assert data.student.name not in str(raw) and data.summary not in str(raw)
    # an engine without the keyring can count and list, not read who
    blind = make_engine(engine.url.render_as_string(hide_password=False))
    assert store.case_school(blind, "c1") == "school-a"
    with pytest.raises(SealError, match="no keyring"):
        store.load_case(blind, "c1")
    blind.dispose()
    # a value moved to another column does not open
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE cases SET summary = student")
    with pytest.raises(SealError, match="cases.summary: a sealed value failed authentication"):
        store.load_case(engine, "c1")


def test_the_sealing_migration_seals_values_written_before_it(db_url):
    plain_engine = make_engine(db_url)
    command.upgrade(alembic_config(plain_engine), "0005")
    data = _case()
    with plain_engine.begin() as conn:
        values = store.case_values(data)
        values.update(student=json.dumps(values["student"], ensure_ascii=False))
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO cases (case_id, school_id, state, student_ref, student, risk_factors,"
                " warning_signals, summary, opened_by, policy, policy_version, workflow_code_version,"
                " guardian_notified, guardian_consented, escalation_level, opened_at, updated_at, last_seq)"
                " VALUES (:case_id, :school_id, :state, :student_ref, :student, '[]', '[]', :summary, '{}', '{}',"
                " 'v', '1', false, false, 0, :opened_at, :updated_at, 1)"
            ),
            values,
        )
    with pytest.raises(SealError, match="1 cases.student value"):
        migrate(plain_engine)
    sealed = make_engine(db_url, keyring=KEYRING)
    migrate(sealed)
    with sealed.connect() as conn:
        student, summary = conn.exec_driver_sql("SELECT student, summary FROM cases").one()
    assert student.startswith("sealed:v1:") and summary.startswith("sealed:v1:")
    assert store.student_names(sealed, [data.case_id]) == {data.case_id: data.student.name}
    plain_engine.dispose()
    sealed.dispose()


def test_the_access_log_chain_holds_under_concurrent_writers(engine):
    from concurrent.futures import ThreadPoolExecutor

    from audit import access_log

    def write(i: int) -> int:
        return access_log.append(
            engine,
            at=T0,
            staff_id=f"s{i}",
            role="leadership",
            school_id="school-a",
            what="read a case",
            method="GET",
            path=f"/api/v1/cases/c{i}",
            case_id=f"c{i}",
            client="127.0.0.1",
            status=200,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        seqs = sorted(pool.map(write, range(40)))
    assert seqs == list(range(1, 41))
    assert access_log.verify(engine) == (40, [])


def test_the_sealing_migration_goes_back_with_the_keyring(db_url):
    sealed = make_engine(db_url, keyring=KEYRING)
    migrate(sealed)
    data = _case(events=2)
    store.project_case(sealed, data)
    command.downgrade(alembic_config(sealed), "0005")
    with sealed.connect() as conn:
        student, summary = conn.exec_driver_sql("SELECT student, summary FROM cases").one()
    student = student if isinstance(student, dict) else json.loads(student)
    assert (student["name"], summary) == (data.student.name, data.summary)
    migrate(sealed)  # and forward again
    assert store.load_case(sealed, data.case_id) == data
    sealed.dispose()


def test_processes_starting_together_migrate_one_at_a_time(tmp_path):
    """An API and a worker started at once on a fresh SQLite file: both come up, the schema is made once."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    script = (
        "import sys; from db.engine import make_engine, migrate; migrate(make_engine(sys.argv[1])); print('ok')"
    )
    runs = [subprocess.Popen([sys.executable, "-c", script, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             cwd=Path(__file__).resolve().parents[1]) for _ in range(4)]
    outcomes = [(run.wait(60), run.stdout.read().decode(), run.stderr.read().decode()[-500:]) for run in runs]
    assert all(code == 0 and out.strip() == "ok" for code, out, _ in outcomes), outcomes


# ------------------------------------------------------------------ fields declared once

_PLAIN = {str, int, bool, str | None, int | None, bool | None}


@pytest.mark.parametrize("row, view, fields", [
    (CaseRow, CaseSummary, CaseListFields),
    (NotificationRow, NotificationView, NotificationFields),
    (DocumentRow, DocumentView, DocumentFields),
    (SignedCopyRow, SignedCopyView, SignedCopyFields),
    (DeliveryRow, FailingDelivery, DeliveryFields),
    (IncidentRow, IncidentView, IncidentFields),
    (ScreeningJobRow, JobView, ScreeningJobFields),
], ids=lambda c: c.__name__)
def test_a_field_a_row_and_its_view_share_is_declared_once(row, view, fields):
    """A table and the view read from it share their fields through one base (models/records.py): a
    plain field both declare again is a field someone will add to one and forget in the other. Both
    may restate a field only to store or show it differently (a code as text or as its enum, a time
    in a UTC column, JSON)."""
    assert issubclass(row, fields) and issubclass(view, fields)
    both = set(row.__annotations__) & set(view.__annotations__)
    restated_plain = sorted(f for f in both if view.model_fields[f].annotation in _PLAIN
                            and not isinstance(row.__table__.c[f].type, TypeDecorator))  # sealed, UTC
    assert not restated_plain, f"declare these once, in {fields.__name__}: {restated_plain}"
    assert set(fields.model_fields) <= set(row.model_fields) & set(view.model_fields)
