"""No input and no downstream failure can wedge a case (one test per defect found by a hostile tester).

The process-killing tests (the read model never shows what Temporal did not record) are in
tests/test_faults.py.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import jwt
import pytest
from sqlmodel import Session, col, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities import documents
from activities.case_activities import typesetter_for
from api.auth import ALGORITHM, ISSUER
from audit import access_log
from config.settings import key_id
from config.temporal import data_converter
from db import directory, store
from db.engine import migrate, open_engine
from db.tables import CaseEventRow
from models import search_attributes as sa
from models.case import (
    ActionCommand,
    CaseStart,
    CloseCommand,
    ClosureDecisionCommand,
    DocumentRequest,
    GuardianResponseCommand,
    InterveneCommand,
    OpenCaseBody,
    ReferCommand,
)
from models.directory import Directory
from models.policy import DeadlinePolicy
from tests.conftest import KEYRING, SCHOOL, SCHOOLS, SECRET, TEMPORAL, auth, make_settings, running_stack
from tests.factories import opened_case
from tests.support import (
    ASSESS_HIGH,
    HEAD,
    LEAD,
    PLAN,
    PSY,
    REFERRAL,
    REFUSE,
    act,
    db_view,
    eventually,
    notice,
    open_body,
    open_case,
    step,
)
from tests.web import give_sign_in, load_people, sign_in, site
from worker import build_worker
from workflows.case_workflow import CaseWorkflow
from workflows.machine import RECORDS_LIMIT


async def _to_referral(stack) -> str:
    case_id = (await open_case(stack))["case_id"]
    for action in ("assess", "guardian_notice", "intervene", "refer"):
        await step(stack, case_id, action)
    return case_id


# ----------------------------------------------------- 2. an out-of-range date


@pytest.mark.parametrize("when", ["9999-12-31T23:00:00+00:00", "0001-01-01T00:00:00+00:00"])
async def test_a_date_out_of_range_is_a_422_and_the_case_goes_on(sqlite_stack, when):
    stack = sqlite_stack
    case_id = (await open_case(stack))["case_id"]
    await step(stack, case_id, "assess")
    r = await act(stack, case_id, "guardian_notice", {**notice(), "notified_at": when})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "notified_at"], r.text
    assert {"guardian_notice", "intervene"} <= set(db_view(stack, case_id)["allowed_actions"])
    await step(stack, case_id, "guardian_notice")  # a sane date is taken


async def test_a_notice_before_the_case_opened_or_in_the_future_is_a_422(sqlite_stack):
    stack = sqlite_stack
    case_id = (await open_case(stack))["case_id"]
    await step(stack, case_id, "assess")
    for when in (datetime.now(UTC) - timedelta(days=3), datetime.now(UTC) + timedelta(hours=2)):
        r = await act(stack, case_id, "guardian_notice", notice(when))
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body", "notified_at"]
        assert "between the case's opening" in r.json()["detail"][0]["msg"]
    assert [e["action"] for e in db_view(stack, case_id)["events"]] == ["open", "assess"]


async def test_a_notification_refused_for_good_is_recorded_and_the_case_goes_on(stack, webhook):
    webhook.refusing_with = 400  # the receiver rejects our requests as such: retrying cannot help
    case_id = (await open_case(stack))["case_id"]

    def failed():
        return db_view(stack, case_id)["failed_effects"]

    shown = await eventually(failed)
    assert shown[0]["effect"] == "notification" and "HTTP 400" in shown[0]["reason"]
    events = [e["action"] for e in db_view(stack, case_id)["events"]]
    assert events == ["open", "effect_failed"]
    board = (await stack.http.get("/dashboard", headers=auth("leadership"))).json()
    assert board["failed_effects_total"] == 1 and board["failed_effects"][0]["case_id"] == case_id
    # the staff app says what failed and when, in Chinese and Beijing time; the receiver's English
    # answer is for the administrator (above, in the read model), never on a page
    load_people(stack.engine)
    http = await sign_in(site(stack), "l-sun", give_sign_in(stack.engine, stack.settings, "l-sun"))
    for path in (f"/ui/cases/{case_id}", "/ui/dashboard"):
        html = (await http.get(path)).text
        at = datetime.fromisoformat(shown[0]["at"]).astimezone(timezone(timedelta(hours=8)))
        assert f"一条通知未能送出（北京时间 {at:%Y-%m-%d %H:%M}），系统多次重试仍未成功" in html, path
        assert "HTTP 400" not in html and shown[0]["reason"] not in html
    await http.aclose()
    # the case's own steps go on
    view = await step(stack, case_id, "assess")
    assert view["state"] == "assessed"


# ------------------------------------------------- 3. records-only actions


async def test_records_only_actions_are_limited_and_never_wedge_a_case(ts_env, tmp_path):
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", None)
    engine = open_engine(settings)
    migrate(engine)
    directory.load(engine, Directory(schools=SCHOOLS.schools))
    case_id = uuid.uuid4().hex
    start = CaseStart(case_id=case_id, opened_by=HEAD, case=OpenCaseBody.model_validate(open_body()),
                      policy=DeadlinePolicy(), history_event_limit=150)
    async with build_worker(ts_env.client, settings, engine):
        handle = await ts_env.client.start_workflow(CaseWorkflow.run, start, id=f"case-{case_id}",
                                                    task_queue=settings.task_queue)
        await handle.execute_update(CaseWorkflow.opened)

        async def act_(actor, body):
            return await handle.execute_update(CaseWorkflow.act, ActionCommand(actor=actor, body=body))

        await act_(PSY, ActionCommand.model_validate({"actor": PSY, "body": {"action": "assess", **ASSESS_HIGH}}).body)
        await act_(HEAD, ActionCommand.model_validate(
            {"actor": HEAD, "body": {"action": "guardian_notice", **notice(await ts_env.get_current_time())}}).body)
        await act_(PSY, InterveneCommand.model_validate(PLAN))
        await act_(PSY, ReferCommand.model_validate(REFERRAL))
        run_before = (await handle.describe()).run_id
        long_note = "家长表示同意，" * 570  # 3,990 characters, 12 KB: as long as a note may be
        consent = GuardianResponseCommand(decision="consent", by="guardian", notes=long_note)
        for _ in range(RECORDS_LIMIT):
            await act_(HEAD, consent)
        with pytest.raises(Exception) as refused:
            await act_(HEAD, consent)
        assert "at most" in str(refused.value.cause) and str(RECORDS_LIMIT) in str(refused.value.cause)
        assert (await handle.describe()).run_id != run_before, "the case never continued as new"
        await act_(PSY, CloseCommand(reason="resolved", outcome="门诊随访", rationale="情绪稳定"))
        view = await act_(LEAD, ClosureDecisionCommand(decision="approve"))
        assert view.state.value == "closed"
        await handle.result()
        assert len(view.events) < 100  # what a run carries is bounded; the read model has every event
    with Session(engine) as session:
        stored = session.exec(select(CaseEventRow.action).where(col(CaseEventRow.case_id) == case_id)).all()
    assert stored.count("guardian_response") == RECORDS_LIMIT and stored[-2:] == ["close", "closure_decision"]
    engine.dispose()


# -------------------------------------- 4. a webhook that is down holds up nothing


async def test_a_webhook_that_is_down_holds_up_no_document_and_no_report(stack, webhook):
    case_id = await _to_referral(stack)
    webhook.failing.set()  # every notification from here on fails and is retried
    await step(stack, case_id, "guardian_response", REFUSE)
    await step(stack, case_id, "send_report")  # a leader confirms and sends it, the webhook down all along

    def reported():
        return db_view(stack, case_id)["state"] == "reported"

    await eventually(reported, timeout=10)

    async def report_made():
        documents = (await stack.http.get(f"/cases/{case_id}/documents", headers=auth("leadership"))).json()
        return "authority_report" in {d["kind"] for d in documents}

    await eventually(report_made, timeout=10)
    pending = [n for n in store.notifications_for(stack.engine, case_id) if n.delivered_at is None]
    assert {n.event for n in pending} >= {"guardian_refused", "reported_to_authority"}
    webhook.failing.clear()  # the receiver comes back: the notifications arrive
    await eventually(lambda: all(n.delivered_at for n in store.notifications_for(stack.engine, case_id)), timeout=90)


# -------------------------------------------------------- 5. bad input, 500s


NASTY_BODIES = {
    "huge number": '{"student": 1e999999}',
    "NaN": '{"student": NaN, "summary": "x"}',
    "Infinity": '{"instrument": "asq", "answers": {"q1": Infinity}}',
    "lone surrogate": '{"summary": "\\ud800", "notes": "\\ud800"}',
    "deep nesting": '{"instrument": "asq", "answers": ' + '{"a": ' * 200 + "1" + "}" * 200 + "}",
}


@pytest.mark.parametrize("name", NASTY_BODIES)
async def test_bodies_json_cannot_carry_answer_422_and_are_logged(sqlite_stack, name):
    stack = sqlite_stack
    case_id = (await open_case(stack))["case_id"]
    for path in ("/cases", f"/cases/{case_id}/assessment", f"/cases/{case_id}/guardian-response"):
        r = await stack.http.post(path, content=NASTY_BODIES[name], headers={
            **auth("psychology_teacher"), "Content-Type": "application/json"})
        assert r.status_code == 422, (path, r.status_code, r.text)
        json.loads(r.text)  # a valid JSON answer
    total, entries = access_log.entries(stack.engine, None, 10, 0)
    assert [e.status for e in entries[:3]] == [422, 422, 422]


async def test_an_unexpected_failure_is_a_500_in_the_access_log(tmp_path, webhook):
    """Temporal goes away under the API: the caller gets a 500, and the access log has it."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=TEMPORAL, data_converter=data_converter(KEYRING), search_attributes=list(sa.ALL),
        ui=False, dev_server_log_level="error")
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", webhook.url)
    async with running_stack(env.client, settings) as stack:
        case_id = (await open_case(stack))["case_id"]
        await env.shutdown()
        r = await stack.http.get(f"/cases/{case_id}/history", headers=auth("leadership"))
        assert r.status_code == 500 and r.json() == {"detail": "internal error; it has been logged"}
        _, entries = access_log.entries(stack.engine, case_id, 1, 0)
        assert (entries[0].status, entries[0].what) == (500, "read a case's history")


# -------------------------------------------------------------- 6. idempotency


async def test_twenty_parallel_retries_under_one_key_are_one_action(sqlite_stack):
    stack = sqlite_stack
    case_id = (await open_case(stack))["case_id"]
    await step(stack, case_id, "assess")
    body = notice()
    headers = {**auth("head_teacher"), "Idempotency-Key": "notice-1"}
    answers = await asyncio.gather(*[
        stack.http.post(f"/cases/{case_id}/guardian-notice", json=body, headers=headers) for _ in range(20)])
    assert {r.status_code for r in answers} == {200}
    assert len({json.dumps(r.json()["events"]) for r in answers}) == 1
    actions = [e["action"] for e in db_view(stack, case_id)["events"]]
    assert actions.count("guardian_notice") == 1
    again = await stack.http.post(f"/cases/{case_id}/guardian-notice", json=body, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == answers[0].json()
    other = await stack.http.post(f"/cases/{case_id}/guardian-notice", json=notice(), headers=headers)
    assert other.status_code == 422 and other.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


async def test_a_refusal_under_a_key_is_replayed_too(sqlite_stack):
    stack = sqlite_stack
    case_id = (await open_case(stack))["case_id"]
    headers = {**auth("leadership"), "Idempotency-Key": "close-1"}
    body = {"reason": "resolved", "outcome": "x", "rationale": "y"}
    first = await stack.http.post(f"/cases/{case_id}/closure", json=body, headers=headers)
    second = await stack.http.post(f"/cases/{case_id}/closure", json=body, headers=headers)
    assert first.status_code == second.status_code == 409
    assert second.json() == first.json() and second.headers["Idempotent-Replayed"] == "true"


# ------------------------------------------------------------ 7. weak validation


@pytest.mark.parametrize(
    "mutate, loc",
    [
        (lambda b: b["student"].update(name="\u200b\u200b\u200b"), ["body", "student", "name"]),
        (lambda b: b["student"].update(name="王\u202e明"), ["body", "student", "name"]),
        (lambda b: b.update(summary="a\x00b"), ["body", "summary"]),
    ],
)
async def test_text_that_hides_what_it_says_is_refused(sqlite_stack, mutate, loc):
    body = open_body()
    mutate(body)
    r = await sqlite_stack.http.post("/cases", json=body, headers=auth("head_teacher"))
    assert r.status_code == 422 and loc in [e["loc"] for e in r.json()["detail"]], r.text


async def test_yes_is_not_a_boolean(sqlite_stack):
    case_id = (await open_case(sqlite_stack))["case_id"]
    r = await act(sqlite_stack, case_id, "assess", {**ASSESS_HIGH, "expert_consulted": "yes"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "expert_consulted"]


async def test_a_token_that_lives_too_long_is_refused_when_read(sqlite_stack):
    now = datetime.now(UTC)
    claims = {"iss": ISSUER, "sub": "ht-9", "role": "head_teacher", "school": SCHOOL, "grants": [],
              "iat": int(now.timestamp()), "exp": int((now + timedelta(days=3650)).timestamp())}
    forged = jwt.encode(claims, SECRET, algorithm=ALGORITHM, headers={"kid": key_id(SECRET)})
    r = await sqlite_stack.http.get("/cases", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and "longer than" in r.json()["detail"]


def test_a_document_that_cannot_render_fails_for_good_not_forever(engine, tmp_path):
    """A request that fails to render fails the same way every time: non-retryable, so the
    workflow records it and goes on instead of retrying it for ever."""
    request = DocumentRequest(
        document_id="c1-guardian_notice-2", kind="guardian_notice",
        case=opened_case("c1", SCHOOL, "s1", datetime(2026, 11, 20, tzinfo=UTC), timedelta(hours=24)),
        event_seq=1, created_at=datetime(9999, 12, 31, 23, 0, tzinfo=UTC),  # past the calendar in Beijing
    )
    documents_dir = tmp_path / "documents"
    directory.load(engine, Directory(schools=SCHOOLS.schools))
    with pytest.raises(ApplicationError) as failed:
        documents.render(engine, request, documents_dir, typesetter_for(make_settings(tmp_path, "", None)))
    assert failed.value.non_retryable and "文书内容无法排版" in failed.value.message
    assert store.get_document(engine, request.document_id) is None and not documents_dir.exists()
