"""The crisisflow command as a person runs it: dev brings everything up, Ctrl-C stops it all."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cli import COMMANDS, demo, load
from tests import web
from tests.conftest import free_port, service_env
from tests.support import open_body
from workflows.deadlines import LADDER

CRISISFLOW = str(Path(sys.executable).parent / "crisisflow")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Dev:
    def __init__(self, data_dir: Path, policy: Path | None = None, *extra: str):
        self.api, self.temporal, self.ui = free_port(), free_port(), free_port()
        args = [CRISISFLOW, "dev", "--data-dir", str(data_dir), "--api-port", str(self.api),
                "--temporal-port", str(self.temporal), "--ui-port", str(self.ui), *extra]
        if policy:
            args += ["--policy", str(policy)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRISISFLOW_")}
        # an operations port of its own: tests run side by side (pytest-xdist), and 9464 is one port
        env["CRISISFLOW_METRICS_PORT"] = str(free_port())
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.banner: list[str] = []
        deadline = time.monotonic() + 90
        for line in self.proc.stdout:
            self.banner.append(line.rstrip())
            if "Ctrl-C stops everything" in line or time.monotonic() > deadline:
                break
        assert any("crisisflow dev is up" in line for line in self.banner), self.banner
        self.tokens, self.seeds = {}, {}
        in_tokens = False
        for line in self.banner:
            if "Demo tokens" in line:
                in_tokens = True
            elif in_tokens and line.startswith("    "):
                role, token = line.strip().rsplit(None, 1)
                self.tokens[role] = token
            elif line.startswith("    demo-"):
                words = line.split()
                self.seeds[words[0]] = words[-1] if "TOTP seed" in line else None

    def headers(self, role: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


async def _staff_app_home(base: str, staff_id: str, seed: str | None) -> httpx.Response:
    http = await web.sign_in(base, staff_id, seed, password=demo.PASSWORD)
    try:
        return await http.get("/ui")
    finally:
        await http.aclose()


def test_dev_runs_everything_and_stops_cleanly(tmp_path):
    data = tmp_path / "var"
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps({"version": "school-2026-fast", "assess_within_warning": "20s", "escalation_step": "10s"})
    )
    dev = Dev(data, policy)
    try:
        assert f"http://127.0.0.1:{dev.api}/api/v1" in "\n".join(dev.banner)
        assert f"http://127.0.0.1:{dev.ui}" in "\n".join(dev.banner)
        assert set(dev.tokens) == {
            "edu_authority",
            "head_teacher",
            "grade_head",
            "student_affairs",
            "psychology_teacher",
            "expert",
            "leadership",
            "staff",
            "auditor",
            "auditor+pii",
        }
        api = f"http://127.0.0.1:{dev.api}/api/v1"
        r = httpx.post(
            f"{api}/cases", json=_in_class(open_body(school="demo-school"), "7-1"), headers=dev.headers("head_teacher"),
            timeout=30)
        assert r.status_code == 201, r.text
        case = r.json()
        assert case["policy_version"] == "school-2026-fast"
        listed = httpx.get(f"{api}/cases", headers=dev.headers("leadership")).json()
        assert [c["case_id"] for c in listed["items"]] == [case["case_id"]]

        # the Temporal UI serves, and its API lists the case's workflow
        assert httpx.get(f"http://127.0.0.1:{dev.ui}/").status_code == 200
        listed_in_ui = ""
        for _ in range(50):  # the UI's own connection to the server may still be coming up
            listed_in_ui = httpx.get(f"http://127.0.0.1:{dev.ui}/api/v1/namespaces/default/workflows", timeout=30).text
            if f"case-{case['case_id']}" in listed_in_ui:
                break
            time.sleep(0.2)
        assert f"case-{case['case_id']}" in listed_in_ui

        # a token issued from the dev data dir works
        token = subprocess.run(
            [
                CRISISFLOW,
                "token",
                "issue",
                "--data-dir",
                str(data),
                "--staff-id",
                "demo-psychology-teacher",
                "--ttl",
                "10m",
            ],
            capture_output=True,
            text=True,
            check=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("CRISISFLOW_")},
        ).stdout.strip()
        r = httpx.post(
            f"{api}/cases/{case['case_id']}/assessment",
            timeout=30,
            json={"instrument": "clinical", "risk_level": "low", "rationale": "无危机"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200 and r.json()["events"][-1]["actor"] == "demo-psychology-teacher"

        # the demo people sign in to the staff app with what the banner printed
        assert "demo-crisis-2026" in "\n".join(dev.banner) and dev.seeds["demo-grade-head"] is None
        for staff_id in ("demo-grade-head", "demo-psychology-teacher"):
            page = asyncio.run(_staff_app_home(f"http://127.0.0.1:{dev.api}", staff_id, dev.seeds[staff_id]))
            assert page.status_code == 200 and "我的任务" in page.text and "演示系统" in page.text
    finally:
        code = dev.stop()
    assert code == 0
    assert not any(_port_open(p) for p in (dev.api, dev.temporal, dev.ui))

    # everything is kept in the data dir: a restart finds the case where it was; --demo-cases adds a dozen
    dev = Dev(data, None, "--demo-cases")
    try:
        r = httpx.get(f"http://127.0.0.1:{dev.api}/api/v1/cases/{case['case_id']}", headers=dev.headers("leadership"))
        assert r.json()["state"] == "assessed"
        listed = httpx.get(f"http://127.0.0.1:{dev.api}/api/v1/cases?limit=50", headers=dev.headers("leadership"))
        states = {c["state"] for c in listed.json()["items"]}
        assert listed.json()["total"] == 14 and {"identified", "assessed", "intervened", "referred", "reported",
                                                  "closed"} <= states
        # a closure leadership sent back, and an extreme event whose review is being drafted
        incidents = httpx.get(f"http://127.0.0.1:{dev.api}/api/v1/incidents", headers=dev.headers("leadership"))
        assert [(i["state"], i["report_chars"] > 0) for i in incidents.json()] == [("open", True)]
    finally:
        assert dev.stop() == 0


def test_a_rehearsal_runs_the_demo_cases_up_the_warning_ladder(tmp_path):
    """``crisisflow dev --demo-cases --rehearsal 14400``: the policy's hours pass in seconds, so the demo cases
    are soon overdue and climb the ladder, each at its risk's pace, as a school rehearsing it would watch."""
    dev = Dev(tmp_path / "var", None, "--demo-cases", "--rehearsal", "14400")
    try:
        base = f"http://127.0.0.1:{dev.api}/api/v1"
        listed = httpx.get(f"{base}/cases?limit=50", headers=dev.headers("leadership")).json()
        case = httpx.get(f"{base}/cases/{listed['items'][0]['case_id']}", headers=dev.headers("leadership")).json()
        assert case["policy_version"] == "2026.1-default-rehearsal-x14400"
        levels: set[int] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not set(LADDER) <= levels:
            time.sleep(1)
            overdue = httpx.get(f"{base}/cases?overdue=true&limit=50", headers=dev.headers("leadership")).json()
            levels |= {c["escalation_level"] for c in overdue["items"]}
        assert set(LADDER) <= levels, levels  # every rung of the ladder is reached, one case after another
    finally:
        assert dev.stop() == 0


def test_token_issue_refuses_bad_input(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISISFLOW_")}
    run = lambda *a: subprocess.run([CRISISFLOW, "token", "issue", *a], capture_output=True, text=True, env=env)  # noqa: E731
    r = run("--staff-id", "x", "--role", "head_teacher", "--data-dir", str(tmp_path))
    assert r.returncode == 2 and "no token secret" in r.stderr
    r = run("--staff-id", "x", "--role", "janitor", "--school", "s")
    assert r.returncode == 2 and "janitor" in r.stderr
    r = run("--staff-id", "x", "--role", "head_teacher", "--ttl", "soon", "--data-dir", str(tmp_path))
    assert r.returncode == 2


@pytest.mark.parametrize("runs", [2])
def test_setup_is_idempotent(dev_env, tmp_path, runs):
    env = service_env(
        temporal_address=dev_env.client.service_client.config.target_host,
        database_url=f"sqlite:///{tmp_path / 'cf.db'}",
    )
    for _ in range(runs):
        r = subprocess.run([CRISISFLOW, "setup"], capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "database migrated" in r.stdout


def test_the_command_list_is_each_commands_own_help():
    """``crisisflow --help`` lists the commands without importing them; each line is the command's own."""
    for name, entry in COMMANDS.items():
        command = load(name)
        assert command.name == name
        own = " ".join((command.help or "").split("\n\n")[0].split())
        assert own == entry.help, name


def test_help_imports_no_command_group():
    """``--help`` stays light: no Temporal, Typst, PDFium, Apprise or web app is imported to print it."""
    probe = ("import sys\nimport cli\nsys.argv = ['crisisflow', '--help']\n"
             "try:\n    cli.app()\nexcept SystemExit:\n    pass\n"
             "heavy = [m for m in ('temporalio', 'typst', 'pypdfium2', 'apprise', 'fastapi', 'sqlalchemy') "
             "if m in sys.modules]\nprint('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out and "screening" in out


def _in_class(body: dict, class_id: str) -> dict:
    """The body with a class of the demo school's directory (a school that lists its classes needs one)."""
    body["student"]["class_id"] = class_id
    return body
