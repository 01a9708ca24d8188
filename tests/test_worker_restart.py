"""A worker killed mid-case (mid-delivery, even) and restarted: the case completes, nothing doubles."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session, select

from db.tables import CaseEventRow, DocumentRow, NotificationRow
from tests.conftest import free_port, make_settings, running_stack
from tests.support import CONSENT, eventually, open_case, step, workflow_view


def _start_worker(settings, address: str, **extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "CRISISFLOW_TEMPORAL_ADDRESS": address,
        "CRISISFLOW_DATABASE_URL": settings.resolved_database_url,
        "CRISISFLOW_DATA_DIR": str(settings.data_dir),
        "CRISISFLOW_TASK_QUEUE": settings.task_queue,
        "CRISISFLOW_WEBHOOK_URL": settings.webhook_url,
        "CRISISFLOW_SECRET": settings.secret.get_secret_value(),
        "CRISISFLOW_KEYRING": settings.keyring.get_secret_value(),
        "CRISISFLOW_LOG_FORMAT": "json",
        "CRISISFLOW_METRICS_PORT": str(free_port()),  # its own: tests run side by side
        **extra,
    }
    crisisflow = Path(sys.executable).parent / "crisisflow"
    # its logs are not read here: a pipe nobody drains would stall a worker that logs much
    return subprocess.Popen([str(crisisflow), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_worker(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(15)
    except subprocess.TimeoutExpired:
        worker.kill()


async def test_worker_killed_mid_delivery(dev_env, webhook, tmp_path):
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", webhook.url)
    address = dev_env.client.service_client.config.target_host
    worker = _start_worker(settings, address)
    try:
        async with running_stack(dev_env.client, settings, with_worker=False) as stack:
            case_id = (await open_case(stack))["case_id"]
            await eventually(lambda: webhook.bodies(event="case_opened"))

            webhook.arrived.clear()
            webhook.open_gate.clear()  # the next delivery hangs in the receiver
            await step(stack, case_id, "assess")
            await asyncio.get_running_loop().run_in_executor(None, webhook.arrived.wait, 20)
            worker.send_signal(signal.SIGKILL)  # mid-delivery: the POST is out, no answer yet
            worker.wait(10)
            webhook.open_gate.set()

            worker = _start_worker(settings, address)
            for action in ("guardian_notice", "intervene", "refer"):
                await step(stack, case_id, action)
            await step(stack, case_id, "guardian_response", CONSENT)
            view = await step(stack, case_id, "close")
            assert view["state"] == "closed"

            handle = stack.client.get_workflow_handle(f"case-{case_id}")
            await asyncio.wait_for(handle.result(), 60)
            final = await workflow_view(stack, case_id)

            with Session(stack.engine) as s:
                events = s.exec(select(CaseEventRow).where(CaseEventRow.case_id == case_id)).all()
                notes = s.exec(select(NotificationRow).where(NotificationRow.case_id == case_id)).all()
                docs = s.exec(select(DocumentRow).where(DocumentRow.case_id == case_id)).all()

            assert sorted(e.seq for e in events) == list(range(1, len(final["events"]) + 1))
            assert [e.action for e in sorted(events, key=lambda e: e.seq)] == [e["action"] for e in final["events"]]
            assert sorted(n.event for n in notes) == sorted(
                ["case_opened", "guardian_notice_required", "intervention_required", "review_due", "referral_made",
                 "closure_proposed", "case_closed"]
            )
            assert all(n.delivered_at is not None for n in notes)
            assert sorted(d.kind for d in docs) == ["closure_summary", "guardian_notice", "referral_letter"]
            files = list((settings.documents_dir / case_id).iterdir())
            assert sorted(f.name for f in files) == sorted(f"{d.document_id}.{form}.sealed" for d in docs
                                                           for form in ("zh-CN.pdf", "facts.json"))

            # the receiver saw every notification; the deliveries cut off by the kill (the
            # assessment's notices, sent independently) were repeated once each with the
            # same Idempotency-Key, so the receiver can drop the repeat
            delivered = [h["Idempotency-Key"] for h in webhook.headers]
            assert set(delivered) == {n.notification_id for n in notes}
            repeats = {k for k in delivered if delivered.count(k) > 1}
            assert repeats and all(delivered.count(k) == 2 for k in repeats)
            assessment_notices = {"guardian_notice_required", "intervention_required", "review_due"}
            assert {k.split("-", 2)[2] for k in repeats} <= assessment_notices
    finally:
        stop_worker(worker)
