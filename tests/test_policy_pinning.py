"""The policy in force is copied into a case when it opens and never changes under it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from tests.conftest import auth, free_port, make_settings, running_stack, service_env
from tests.support import open_body


def _due(view: dict) -> timedelta:
    assess = view["deadlines"][0]
    return datetime.fromisoformat(assess["due_at"]) - datetime.fromisoformat(view["opened_at"])


async def test_a_new_policy_applies_to_new_cases_only(dev_env, webhook, tmp_path):
    db = f"sqlite:///{tmp_path / 'cf.db'}"
    first = make_settings(tmp_path, db, webhook.url)
    async with running_stack(dev_env.client, first) as stack:
        old = (await stack.http.post("/cases", json=open_body(), headers=auth("head_teacher"))).json()
    policy = tmp_path / "policy.toml"
    policy.write_text('version = "2027.1"\nassess_within_warning = "6h"\n')
    second = first.model_copy(update={"policy_file": policy})
    async with running_stack(dev_env.client, second) as stack:
        new = (await stack.http.post("/cases", json=open_body(), headers=auth("head_teacher"))).json()
        old_now = (await stack.http.get(f"/cases/{old['case_id']}", headers=auth("leadership"))).json()
    assert (old["policy_version"], _due(old)) == ("2026.1-default", timedelta(hours=24))
    assert (new["policy_version"], _due(new)) == ("2027.1", timedelta(hours=6))
    assert (old_now["policy_version"], _due(old_now)) == ("2026.1-default", timedelta(hours=24))


def test_api_command_serves_and_stops(dev_env, tmp_path):
    port = free_port()
    env = service_env(temporal_address=dev_env.client.service_client.config.target_host,
                      database_url=f"sqlite:///{tmp_path / 'cf.db'}", api_port=port)
    proc = subprocess.Popen([str(Path(sys.executable).parent / "crisisflow"), "api"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/health")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert r.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/cases", headers=auth("leadership")).json()["total"] == 0
        # outside dev the schema and docs are off unless CRISISFLOW_OPENAPI is set
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/openapi.json").status_code == 404
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/docs").status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_api_command_refuses_a_bad_policy_file(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"version": "x", "assess_within_warning": "soon"}))
    env = service_env(policy_file=bad)
    r = subprocess.run(
        [str(Path(sys.executable).parent / "crisisflow"), "api"], env=env, capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 2 and "assess_within_warning" in r.stderr
