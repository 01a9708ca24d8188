"""Record the golden histories of the released workflow code.

    .venv/bin/python -m tests.histories.record tests/histories/<date>-<what changed>

Runs five cases on the time-skipping server (consent path, refusal path, a
missed deadline climbing the ladder, a month-long case that continues as
new, and, from generation v6, a referral not attended: reassigned, followed
up, deemed a refusal and reported, closed onto the watch list; from v7 the
consent path sends its consent twice under one request id; from v8 an
extreme event concerns a case's student, which is reassessed and closed for
the event by two people; from v9 a leader confirms and sends the refusal
report, and the closure of a reported case is followed up) and writes
their exported histories into the named folder, encrypted with that
folder's ``keyring.json`` (a test-only keyring, made there if
missing and rotated once after recording, so replaying proves that an older
key still opens them). Commit the folder with the workflow change that
released it and keep the older folders; tests/test_golden_histories.py
replays every folder on each `make test`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from audit import history
from config.temporal import data_converter
from db import directory
from db.engine import migrate, open_engine
from models.case import (
    ActionCommand,
    Actor,
    AssessCommand,
    CaseStart,
    CloseCommand,
    ClosureDecisionCommand,
    EventLink,
    GuardianCallbackCommand,
    GuardianNoticeCommand,
    GuardianResponseCommand,
    InterveneCommand,
    OnlineAnswer,
    OpenCaseBody,
    ReassignCommand,
    ReferCommand,
    ReferralOutcomeCommand,
    SendReportCommand,
)
from models.directory import Directory
from models.policy import DeadlinePolicy
from tests.conftest import SCHOOLS, TEST_SERVER, make_settings
from tests.support import ASSESS_HIGH, CLOSE, PLAN, REFERRAL, notice, open_body
from worker import build_worker
from workflows.case_workflow import CaseWorkflow

SCHOOL = "school-a"
HEAD = Actor(staff_id="ht-1", role="head_teacher", school_id=SCHOOL)
PSY = Actor(staff_id="psy-1", role="psychology_teacher", school_id=SCHOOL)
LEAD = Actor(staff_id="lead-1", role="leadership", school_id=SCHOOL)


class _Accepting(BaseHTTPRequestHandler):
    """A loopback webhook that takes every notice: the histories then hold each step's delivery."""

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


async def _run(env, settings, out: Path, name: str, script, history_event_limit: int = 10_000) -> None:
    case_id = uuid.uuid4().hex
    start = CaseStart(case_id=case_id, opened_by=HEAD, case=OpenCaseBody.model_validate(open_body()),
                      policy=DeadlinePolicy(version="golden-2026.1"), history_event_limit=history_event_limit)
    handle = await env.client.start_workflow(
        CaseWorkflow.run, start, id=f"case-{case_id}", task_queue=settings.task_queue
    )
    await handle.execute_update(CaseWorkflow.opened)

    async def act(actor, body, request: str | None = None):
        return await handle.execute_update(CaseWorkflow.act, ActionCommand(actor=actor, body=body, request=request))

    async def link(incident_id: str):  # from v8: an extreme event recorded about the student
        return await handle.execute_update(CaseWorkflow.link_event, EventLink(incident_id=incident_id, actor=LEAD))

    act.link = link

    async def online(body, link_id: str):  # from v10: the guardian's own answer through the notice's link
        return await handle.execute_update(CaseWorkflow.answer_online,
                                           OnlineAnswer(body=body, link=link_id, request=f"link-{link_id[:40]}"))

    act.online = online

    await script(env, act)
    await env.client.get_workflow_handle(f"case-{case_id}").result()
    runs = await history.linked_runs(env.client, case_id)  # the time-skipping server has no visibility
    for n, run in enumerate(runs, start=1):
        suffix = "" if len(runs) == 1 else f".run{n}"
        (out / f"{name}{suffix}.json").write_text(history.export_json(run))
    print(f"{name}: {len(runs)} run(s)")


async def _to_referral(env, act):
    await act(PSY, AssessCommand.model_validate(ASSESS_HIGH))
    await act(HEAD, GuardianNoticeCommand.model_validate(notice(await env.get_current_time())))
    await act(PSY, InterveneCommand.model_validate(PLAN))
    await act(PSY, ReferCommand.model_validate(REFERRAL))


async def _close_high(act):
    """A high case closes by two people: the psychology teacher proposes, leadership approves."""
    await act(PSY, CloseCommand.model_validate(CLOSE))
    await act(LEAD, ClosureDecisionCommand(decision="approve", comment="同意结案"))


async def consent(env, act):
    await _to_referral(env, act)
    consented = GuardianResponseCommand(decision="consent", by="guardian")
    await act(HEAD, consented, request="idem-golden-consent")
    await act(HEAD, consented, request="idem-golden-consent")  # from v7: a retry of one request, taken once
    await _close_high(act)


async def refusal(env, act):
    await _to_referral(env, act)
    await act(HEAD, GuardianResponseCommand(decision="refuse", by="guardian", notes="家长拒绝"))
    await env.sleep(timedelta(minutes=5))  # before v9 the workflow reports to the authority itself
    await act(LEAD, SendReportCommand(note="学校将继续与家长沟通"))  # from v9 a leader confirms and sends it
    await _close_high(act)


async def not_attended(env, act):
    await _to_referral(env, act)
    await act(HEAD, GuardianResponseCommand(decision="consent", by="guardian"))
    await act(LEAD, ReassignCommand(owner="psy-2", reason="调整分工"))
    await act(PSY, ReferralOutcomeCommand(outcome="not_attended", at=await env.get_current_time()))
    await env.sleep(timedelta(days=3, minutes=5))  # the follow-up's deadline: deemed a refusal
    await act(LEAD, SendReportCommand())  # reported (from v9 by a leader)
    # closed with follow-up advised: the student goes on the watch list
    await act(PSY, CloseCommand.model_validate({**CLOSE, "follow_up": True}))
    await act(LEAD, ClosureDecisionCommand(decision="approve", comment="同意结案，列入重点关注"))


async def escalation(env, act):
    await env.sleep(timedelta(hours=24 + 3 * 12 + 1))  # the assessment is missed: all four levels
    await act(PSY, AssessCommand(instrument="clinical", risk_level="low", rationale="补评估：无危机"))
    await act(LEAD, CloseCommand(reason="no_crisis", outcome="无危机", rationale="补评估为低风险"))


async def continue_as_new(env, act):
    await act(PSY, AssessCommand(instrument="clinical", risk_level="moderate", rationale="持续低落"))
    await act(PSY, InterveneCommand.model_validate(PLAN))
    for _ in range(30):
        await env.sleep(timedelta(days=1))
        await act(HEAD, GuardianNoticeCommand.model_validate(notice(await env.get_current_time())))
    await act(LEAD, CloseCommand.model_validate(CLOSE))


async def extreme_event(env, act):
    """From v8: an extreme event concerns the student; a reassessment at once, then closed for the event."""
    await act(PSY, AssessCommand.model_validate(ASSESS_HIGH))
    await act(HEAD, GuardianNoticeCommand.model_validate(notice(await env.get_current_time())))
    await act.link(uuid.uuid4().hex)
    await act(PSY, AssessCommand.model_validate(ASSESS_HIGH))  # the reassessment the event asked for
    await act(PSY, CloseCommand.model_validate({**CLOSE, "reason": "extreme_event",
                                                "unmet_reasons": {"intervene": "学生已转入医院治疗"}}))
    await act(LEAD, ClosureDecisionCommand(decision="approve", comment="同意结案"))


async def guardian_online(env, act):
    """From v10: the guardian asks online to be called, the head teacher calls back, the guardian consents online
    to the notice's advice before any referral, so the referral asks for no second answer."""
    await act(PSY, AssessCommand.model_validate(ASSESS_HIGH))
    await act(HEAD, GuardianNoticeCommand.model_validate(notice(await env.get_current_time())))
    await act.online(GuardianResponseCommand(decision="callback", by="guardian", call_at="今晚7点以后",
                                             signer="王建国", relation="父亲"), "a" * 64)
    await act(HEAD, GuardianCallbackCommand(at=await env.get_current_time(), reached=True, notes="已通话"))
    await act.online(GuardianResponseCommand(decision="consent", by="guardian", hospital="市精神卫生中心",
                                             signer="王建国", relation="父亲"), "b" * 64)
    await act(PSY, InterveneCommand.model_validate(PLAN))
    await act(PSY, ReferCommand.model_validate(REFERRAL))
    await _close_high(act)


async def main(out: Path) -> None:
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    from crypto.keyring import Keyring, ensure_file, rotate
    from models import search_attributes as sa

    out.mkdir(parents=True, exist_ok=True)
    keyring_file = ensure_file(out / "keyring.json")
    keyring = Keyring(str(keyring_file))
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=TEST_SERVER, data_converter=data_converter(keyring)
    )
    async with env:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace, search_attributes={k.name: k.indexed_value_type.value for k in sa.ALL}
            )
        )
        with tempfile.TemporaryDirectory() as tmp:
            receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Accepting)
            threading.Thread(target=receiver.serve_forever, daemon=True).start()
            settings = make_settings(Path(tmp), f"sqlite:///{tmp}/golden.db",
                                     f"http://127.0.0.1:{receiver.server_address[1]}/hook", keyring=str(keyring_file))
            engine = open_engine(settings)
            migrate(engine)
            directory.load(engine, Directory(schools=SCHOOLS.schools))  # the paper names the school
            async with build_worker(env.client, settings, engine):
                await _run(env, settings, out, "consent", consent)
                await _run(env, settings, out, "refusal", refusal)
                await _run(env, settings, out, "escalation", escalation)
                await _run(env, settings, out, "continue_as_new", continue_as_new, history_event_limit=60)
                await _run(env, settings, out, "not_attended", not_attended)
                await _run(env, settings, out, "extreme_event", extreme_event)
                await _run(env, settings, out, "guardian_online", guardian_online)
    print(f"recorded with key {keyring.keys().current}; rotated to {rotate(keyring_file)}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(asyncio.run(main(Path(sys.argv[1]))))
