"""Supervisors' timeline, auditors' export and offline replay, on a dev server."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import Payload
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from crypto.codec import EncryptionCodec, payload_case
from tests.conftest import KEYRING, auth, make_settings, running_stack, service_env
from tests.support import eventually, open_case, refusal_path, step, workflow_view

BIN = Path(sys.executable).parent


@pytest.fixture
async def fast_stack(dev_env, webhook, tmp_path):
    policy = tmp_path / "fast.json"
    policy.write_text(json.dumps({"version": "fast-audit", "assess_within_warning": "2s", "escalation_step": "1s"}))
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", webhook.url, policy_file=policy)
    async with running_stack(dev_env.client, settings) as stack:
        yield stack


async def _refusal_case_with_escalations(stack) -> str:
    case_id = (await open_case(stack))["case_id"]

    async def top_of_ladder():
        return (await workflow_view(stack, case_id))["escalation_level"] == 4

    await eventually(top_of_ladder, timeout=20)
    await refusal_path(stack, case_id)
    await stack.client.get_workflow_handle(f"case-{case_id}").result()
    return case_id


@pytest.fixture
async def closed_refusal(fast_stack):
    return fast_stack, await _refusal_case_with_escalations(fast_stack)


async def test_timeline_tells_the_whole_story_in_order(closed_refusal):
    stack, case_id = closed_refusal
    r = await stack.http.get(f"/cases/{case_id}/history", headers=auth("leadership"))
    assert r.status_code == 200, r.text
    entries = r.json()["entries"]
    # entries follow the history's own order (the record), not a re-sort by timestamp

    steps = [
        (e["kind"], e["action"], e["actor"], e["role"])
        for e in entries
        if e["kind"] in ("opened", "action_accepted", "reported")
    ]
    assert steps == [
        ("opened", "open", "head-teacher-1", "head_teacher"),
        ("action_accepted", "assess", "psychology-teacher-1", "psychology_teacher"),
        ("action_accepted", "guardian_notice", "head-teacher-1", "head_teacher"),
        ("action_accepted", "intervene", "psychology-teacher-1", "psychology_teacher"),
        ("action_accepted", "refer", "psychology-teacher-1", "psychology_teacher"),
        ("action_accepted", "guardian_response", "head-teacher-1", "head_teacher"),
        ("action_accepted", "send_report", "leadership-1", "leadership"),  # a leader confirms and sends it
        # a high case: the psychology teacher proposes closing, a leadership member approves
        ("action_accepted", "close", "psychology-teacher-1", "psychology_teacher"),
        ("action_accepted", "closure_decision", "leadership-1", "leadership"),
    ]
    moves = [(e["from_state"], e["to_state"]) for e in entries if e["kind"] in ("action_accepted", "reported")]
    assert not any(e["kind"] == "reported" for e in entries)  # the school's policy: no report goes by itself
    assert moves == [
        ("identified", "assessed"),
        ("assessed", "assessed"),
        ("assessed", "intervened"),
        ("intervened", "referred"),
        ("referred", "parent_refused"),
        ("parent_refused", "reported"),
        ("reported", "reported"),
        ("reported", "closed"),
    ]

    ladder = [(e["obligation"], e["escalation_level"]) for e in entries if e["kind"] == "escalation"]
    assert ladder == [("assess", 1), ("assess", 2), ("assess", 3), ("assess", 4)]
    first_assess = next(i for i, e in enumerate(entries) if e["action"] == "assess")
    assert all(i < first_assess for i, e in enumerate(entries) if e["kind"] == "escalation")

    kinds = {e["kind"] for e in entries}
    assert {"timer_fired", "notification_sent", "document_made", "state_change", "closed"} <= kinds
    assert entries[-1]["kind"] == "closed"
    docs = [e["note"].split()[0] for e in entries if e["kind"] == "document_made"]
    # the closure of a reported case is followed up to the authority (续报): the two are made side by side
    assert docs[:3] == ["guardian_notice", "referral_letter", "authority_report"]
    assert sorted(docs[3:]) == ["closure_summary", "followup_report"]

    # roles: supervisors of the school and auditors; not a head teacher, not another school
    assert (await stack.http.get(f"/cases/{case_id}/history", headers=auth("grade_head"))).status_code == 200
    assert (await stack.http.get(f"/cases/{case_id}/history", headers=auth("auditor"))).status_code == 200
    assert (await stack.http.get(f"/cases/{case_id}/history", headers=auth("head_teacher"))).status_code == 403
    assert (
        await stack.http.get(f"/cases/{case_id}/history", headers=auth("leadership", "school-b"))
    ).status_code == 403

    # the same timeline in the terminal
    out = _cli(stack, "history", case_id)
    assert out.returncode == 0, out.stderr
    assert (
        "escalation" in out.stdout
        and "psychology-teacher-1" in out.stdout
        and "parent_refused -> reported" in out.stdout
    )


def _cli(stack, *args: str) -> subprocess.CompletedProcess:
    env = service_env(
        temporal_address=stack.client.service_client.config.target_host,
        database_url=stack.settings.resolved_database_url,
    )
    return subprocess.run([str(BIN / "crisisflow"), *args], capture_output=True, text=True, env=env, timeout=120)


def _alter_update_argument(history: dict) -> dict:
    """Change the recorded assessment: a high-risk C-SSRS answered all 'no'.

    Done as an insider holding the keyring would: decrypt, edit, encrypt again
    for the same case, so only replay can tell.
    """
    codec = EncryptionCodec(KEYRING)
    for event in history["events"]:
        attrs = event.get("workflowExecutionUpdateAcceptedEventAttributes")
        if not attrs or attrs["acceptedRequest"]["input"]["name"] != "act":
            continue
        args = attrs["acceptedRequest"]["input"]["args"]["payloads"]
        sealed = json_format.ParseDict(args[0], Payload())
        plain = codec.decode_sync([sealed])[0]
        command = json.loads(plain.data)
        if command["body"]["action"] == "assess":
            command["body"]["answers"] = {"q1": False, "q2": False, "q6": False}
            plain.data = json.dumps(command).encode()
            resealed = codec.for_case(payload_case(sealed)).encode_sync([plain])[0]
            args[0] = json_format.MessageToDict(resealed)
            return history
    raise AssertionError("no assessment in the history")


def _drop_events(history: dict) -> dict:
    """Remove a scheduled notification and everything after it."""
    events = history["events"]
    cut = next(i for i, e in enumerate(events) if "activityTaskScheduledEventAttributes" in e)
    history["events"] = events[:cut] + events[cut + 3 :]
    return history


async def test_export_and_replay(closed_refusal, tmp_path):
    stack, case_id = closed_refusal
    r = await stack.http.get(f"/cases/{case_id}/history/export", headers=auth("auditor"))
    assert r.status_code == 200 and r.headers["X-Case-Runs"] == "1"
    ours = tmp_path / "ours.json"
    ours.write_text(r.text)
    assert (await stack.http.get(f"/cases/{case_id}/history/export", headers=auth("leadership"))).status_code == 403

    cli_file = tmp_path / "temporal-cli.json"
    shown = subprocess.run(
        [
            str(BIN / "temporal"),
            "workflow",
            "show",
            "--workflow-id",
            f"case-{case_id}",
            "--output",
            "json",
            "--address",
            stack.client.service_client.config.target_host,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    cli_file.write_text(shown.stdout)

    exported = _cli(stack, "audit", "export", case_id, "-o", str(tmp_path / "cli-export.json"))
    assert exported.returncode == 0, exported.stderr

    clean = _cli(stack, "audit", "replay", str(ours), str(cli_file), str(tmp_path / "cli-export.json"))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "3 of 3 histories replayed cleanly" in clean.stdout
    assert "policy fast-audit" in clean.stdout and "parent_refused -> reported" in clean.stdout

    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(_alter_update_argument(json.loads(ours.read_text()))))
    dropped = tmp_path / "dropped.json"
    dropped.write_text(json.dumps(_drop_events(json.loads(cli_file.read_text()))))
    bad = _cli(stack, "audit", "replay", str(ours), str(altered), str(dropped))
    assert bad.returncode == 1
    assert "1 of 3 histories replayed cleanly" in bad.stdout
    assert bad.stdout.count("NOT deterministic") == 1 and "first divergence: Nondeterminism" in bad.stdout
    # events cut out: malformed, naming the first bad event, and never replayed
    assert bad.stdout.count(": malformed  workflow") == 1 and "events are missing or out of order" in bad.stdout

    # the same over HTTP, for auditors
    r = await stack.http.post(
        "/audit/replay",
        json={"histories": [json.loads(ours.read_text()), json.loads(altered.read_text())]},
        headers=auth("auditor"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is False
    assert [rep["deterministic"] for rep in body["reports"]] == [True, False]
    assert body["reports"][0]["policy_version"] == "fast-audit"
    assert [t["action"] for t in body["reports"][0]["transitions"]][:2] == ["open", "assess"]
    assert (await stack.http.post("/audit/replay", json={"histories": []}, headers=auth("auditor"))).status_code == 422
    assert (
        await stack.http.post("/audit/replay", json={"histories": [{}]}, headers=auth("auditor"))
    ).status_code == 422
    assert (
        await stack.http.post("/audit/replay", json={"histories": [{}]}, headers=auth("leadership"))
    ).status_code == 403


async def _closed_low_risk_case(stack) -> str:
    case_id = (await open_case(stack))["case_id"]
    await step(
        stack, case_id, "assess", {"instrument": "asq", "answers": {"q1": False, "q2": False, "q3": False, "q4": False}}
    )
    await step(stack, case_id, "close", {"reason": "no_crisis", "outcome": "筛查阴性", "rationale": "ASQ 全部为否"})
    await stack.client.get_workflow_handle(f"case-{case_id}").result()
    return case_id


async def _register_namespace(client: Client, name: str) -> None:
    """Register a namespace on the dev server, again if the call was cut: on a loaded machine the server has
    answered ``operation was canceled`` (a fresh clone's run, once); a registration that did land is there."""
    request = RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=Duration(seconds=86400))
    for attempt in range(3):
        try:
            await client.workflow_service.register_namespace(request, timeout=timedelta(seconds=30))
            return
        except RPCError as err:
            if err.status == RPCStatusCode.ALREADY_EXISTS:
                return
            if err.status not in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED) or attempt == 2:
                raise


async def test_archive_is_chained_and_tampering_is_named(fast_stack, tmp_path):
    import sqlalchemy

    from workflows.archiver import ArchiverWorkflow

    stack = fast_stack
    # the dev server is this test process's: cases other tests closed before this one (under other keys) are not ours
    began = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    cases = [await _closed_low_risk_case(stack) for _ in range(3)]
    still_open = (await open_case(stack))["case_id"]

    # the schedule's workflow archives every finished closed case, and only those
    added = await stack.client.execute_workflow(
        ArchiverWorkflow.run, id=f"archiver-test-{cases[0]}", task_queue=stack.settings.task_queue
    )
    assert added == 3
    again = _cli(stack, "audit", "archive")
    assert again.returncode == 0 and "archived 0 history run(s)" in again.stdout  # idempotent

    ok = _cli(stack, "audit", "verify-archive")
    assert ok.returncode == 0 and "3 archived histories checked, 0 problem(s)" in ok.stdout
    replayed = _cli(stack, "audit", "replay", "--from-archive")
    assert replayed.returncode == 0 and "3 of 3 histories replayed cleanly" in replayed.stdout
    since = _cli(stack, "audit", "replay", "--closed-since", began)
    assert since.returncode == 0 and "3 of 3 histories replayed cleanly" in since.stdout, since.stdout
    assert still_open not in replayed.stdout

    # once the server has forgotten a closed case (retention), its story comes from the archive:
    # an API whose Temporal namespace never saw the case stands for that server
    await _register_namespace(stack.client, "forgetful")
    forgetful = await Client.connect(
        stack.client.service_client.config.target_host,
        namespace="forgetful",
        data_converter=stack.client.data_converter,
    )
    async with running_stack(forgetful, stack.settings, with_worker=False) as later:
        r = await later.http.get(f"/cases/{cases[0]}/history", headers=auth("leadership"))
        assert r.status_code == 200, r.text
        kinds = [e["kind"] for e in r.json()["entries"]]
        assert kinds[0] == "opened" and kinds[-1] == "closed" and "action_accepted" in kinds
        r = await later.http.get(f"/cases/{cases[0]}/history/export", headers=auth("auditor"))
        assert r.status_code == 200 and "CaseWorkflow" in r.text
        r = await later.http.get(f"/cases/{still_open}/history", headers=auth("leadership"))
        assert r.status_code == 404 and "neither on the server nor archived" in r.json()["detail"]

    engine = stack.engine
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "UPDATE archived_histories SET history = replace(history, 'CaseWorkflow', 'CaseWorkflowX')"
                " WHERE seq = 2"
            )
        )
    edited = _cli(stack, "audit", "verify-archive")
    assert edited.returncode == 1
    assert f"archive row 2 (case {cases[1]}): history altered" in edited.stdout

    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("DELETE FROM archived_histories WHERE seq = 3"))
    removed = _cli(stack, "audit", "verify-archive")
    assert removed.returncode == 1
    assert "archive row 3: missing" in removed.stdout
