"""Kill the stack in the middle of a burst of casework: nothing acknowledged is lost, nothing unrecorded shows.

Real processes: ``crisisflow dev`` (the whole stack in one process group), or the Temporal dev
server, ``crisisflow worker`` and ``crisisflow api`` each on its own. Twelve clients each run a
case through open, assess, guardian notice, plan, referral, consent and closure; mid-burst a
process is SIGKILLed and started again on the same data. Afterwards every call that got a 2xx
is in the read model, and within 30 s the read model (GET /cases/{id}), the workflow's own state
(replayed from its history) and the ``CaseState`` search attribute agree for every case.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from temporalio.client import Client

from config.temporal import data_converter
from models import search_attributes as sa
from tests.conftest import KEYRING, PG_URL, TEMPORAL, auth, free_port, service_env
from tests.support import CLOSE, CONSENT, PLAN, REFERRAL, ROLE_FOR, notice, open_body
from workflows.case_workflow import CaseWorkflow

CRISISFLOW = str(Path(sys.executable).parent / "crisisflow")
CLIENTS = 12
LIFECYCLE = [
    ("assess", "assessment", lambda: {"instrument": "cssrs", "answers": {
        "q1": True, "q2": True, "q3": True, "q4": True, "q5": False, "q6": False}}),
    ("guardian_notice", "guardian-notice", notice),
    ("intervene", "intervention", lambda: PLAN),
    ("refer", "referral", lambda: REFERRAL),
    ("guardian_response", "guardian-response", lambda: CONSENT),
    ("close", "closure", lambda: CLOSE),
]


@dataclass
class Deployment:
    """One stack on loopback ports, its processes by name."""

    data_dir: Path
    database_url: str
    api_port: int = field(default_factory=free_port)
    temporal_port: int = field(default_factory=free_port)
    task_queue: str = field(default_factory=lambda: f"faults-{uuid.uuid4().hex[:8]}")
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/api/v1"

    @property
    def temporal(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    def env(self) -> dict[str, str]:
        return service_env(
            database_url=self.database_url, data_dir=self.data_dir, temporal_address=self.temporal,
            task_queue=self.task_queue, api_port=self.api_port, log_format="json", env="dev",
            write_rate_per_minute=100_000,
        )

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.data_dir / f"{name}.log", "ab")  # noqa: SIM115 - the process owns it
        self.processes[name] = subprocess.Popen(args, env=self.env(), stdin=subprocess.DEVNULL, stdout=log,
                                                stderr=log, start_new_session=True)

    def start(self, name: str) -> None:
        if name == "dev":
            self._spawn("dev", [CRISISFLOW, "dev", "--data-dir", str(self.data_dir), "--api-port", str(self.api_port),
                                "--temporal-port", str(self.temporal_port), "--ui-port", str(free_port())])
        elif name == "temporal":
            args = [TEMPORAL, "server", "start-dev", "--db-filename", str(self.data_dir / "temporal.db"),
                    "--ip", "127.0.0.1", "--port", str(self.temporal_port), "--headless", "--log-level", "error"]
            for key in sa.ALL:
                kind = "Int" if key.indexed_value_type.name.endswith("INT") else "Keyword"
                args += ["--search-attribute", f"{key.name}={kind}"]
            self._spawn("temporal", args)
        else:
            self._spawn(name, [CRISISFLOW, name])

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the whole group: dev's Temporal server goes too
        process.wait(10)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.kill(name)

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                with suppress(httpx.HTTPError):
                    if (await http.get(f"{self.api}/health")).status_code == 200:
                        return
                for name, process in self.processes.items():
                    if process.poll() is not None:
                        raise AssertionError(f"{name} exited: {(self.data_dir / f'{name}.log').read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError("the stack did not come up")
                await asyncio.sleep(0.3)


@dataclass
class Burst:
    acknowledged: list[tuple[str, str]] = field(default_factory=list)  # (case, action) that got a 2xx
    cases: set[str] = field(default_factory=set)

    async def client(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        try:
            r = await http.post("/cases", json=open_body(), headers=auth("head_teacher"))
            if r.status_code != 201:
                return
            case_id = r.json()["case_id"]
            self.cases.add(case_id)
            self.acknowledged.append((case_id, "open"))
            for action, path, body in LIFECYCLE:
                if stop.is_set():
                    return
                r = await http.post(f"/cases/{case_id}/{path}", json=body(), headers=auth(ROLE_FOR[action]))
                if r.status_code != 200:
                    return
                self.acknowledged.append((case_id, action))
        except httpx.HTTPError:
            return  # the stack went away under us: whatever was not acknowledged may or may not be there


async def _burst_and_kill(deployment: Deployment, kill, acknowledged_before_kill: int = 24) -> Burst:
    """Run the twelve clients; once enough calls were acknowledged, ``kill()``; let the clients end."""
    burst, stop = Burst(), asyncio.Event()
    async with httpx.AsyncClient(base_url=deployment.api, timeout=15) as http:
        clients = [asyncio.create_task(burst.client(http, stop)) for _ in range(CLIENTS)]
        deadline = time.monotonic() + 60
        while len(burst.acknowledged) < acknowledged_before_kill and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert len(burst.acknowledged) >= acknowledged_before_kill, "the burst never got going"
        kill()
        stop.set()
        await asyncio.gather(*clients)
    return burst


async def _agree(deployment: Deployment, burst: Burst, within: float = 30) -> None:
    """Every acknowledged call is in the read model; the read model, the workflow and CaseState agree."""
    client = await Client.connect(deployment.temporal, data_converter=data_converter(KEYRING))
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=deployment.api, timeout=10) as http:
        while True:
            problems = []
            for case_id in sorted(burst.cases):
                try:
                    stored = (await http.get(f"/cases/{case_id}", headers=auth("leadership"))).json()
                    handle = client.get_workflow_handle(f"case-{case_id}")
                    recorded = await handle.query(CaseWorkflow.view)
                    indexed = (await handle.describe()).typed_search_attributes.get(sa.CASE_STATE)
                except Exception as exc:  # noqa: BLE001 - still coming back: try again
                    problems.append(f"{case_id}: {type(exc).__name__}")
                    continue
                stored_actions = [e["action"] for e in stored["events"]]
                missing = [a for c, a in burst.acknowledged if c == case_id and a not in stored_actions]
                if missing:
                    problems.append(f"{case_id}: acknowledged {missing} missing from the read model")
                if not stored["state"] == recorded.state.value == indexed:
                    problems.append(f"{case_id}: read model {stored['state']}, history {recorded.state.value}, "
                                    f"CaseState {indexed}")
                recorded_actions = [e.action.value for e in recorded.events]
                if stored_actions != recorded_actions:
                    problems.append(f"{case_id}: events {stored_actions} != {recorded_actions}")
            if not problems:
                return
            if time.monotonic() > deadline:
                raise AssertionError("\n".join(problems))
            await asyncio.sleep(1)


@pytest.fixture
def deployment(tmp_path):
    d = Deployment(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'data' / 'crisisflow.db'}")
    d.data_dir.mkdir()
    yield d
    d.stop_all()


async def test_the_whole_dev_stack_killed_mid_burst(deployment):
    deployment.start("dev")
    await deployment.wait_ready()
    burst = await _burst_and_kill(deployment, lambda: deployment.kill("dev"))
    deployment.start("dev")
    await deployment.wait_ready()
    await _agree(deployment, burst)


async def _separate(deployment: Deployment) -> None:
    for name in ("temporal", "worker", "api"):
        deployment.start(name)
        if name == "temporal":
            await _temporal_ready(deployment)
    await deployment.wait_ready()


async def _temporal_ready(deployment: Deployment, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await Client.connect(deployment.temporal)
            return
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


@pytest.mark.parametrize("victim", ["worker", "api", "temporal"])
async def test_one_process_killed_mid_burst(deployment, victim):
    await _separate(deployment)
    burst = await _burst_and_kill(deployment, lambda: deployment.kill(victim))
    deployment.start(victim)
    if victim == "temporal":
        await _temporal_ready(deployment)
    await deployment.wait_ready()
    await _agree(deployment, burst)


async def test_postgres_connections_dropped_mid_projection(tmp_path):
    schema = f"cf_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    name = f"cf-faults-{uuid.uuid4().hex[:6]}"
    deployment = Deployment(data_dir=tmp_path / "data",
                            database_url=f"{PG_URL}?options=-csearch_path%3D{schema}&application_name={name}")
    deployment.data_dir.mkdir()
    try:
        await _separate(deployment)

        def drop_connections() -> None:
            with admin.connect() as conn:
                dropped = conn.execute(sqlalchemy.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :n"
                ), {"n": name}).scalar()
            assert dropped, "no connection of the stack was found to drop"

        burst = await _burst_and_kill(deployment, drop_connections)
        # the clients stopped at the drop; the read model catches up by itself
        await _agree(deployment, burst)
    finally:
        deployment.stop_all()
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
