"""Every figure beside its floor, measured in the same run: how close crisisflow comes to the engine.

    make bench                                   # everything, default sizes
    .venv/bin/python bench/compare.py --only lifecycle,replay --db sqlite

Absolute times swing on a shared machine; a ratio to a floor measured minutes apart on the same
server does not. Each part runs floor, ours, floor (``--rounds`` more ours-floor pairs) and quotes
the median of each side, so noise shows in both.

1. **lifecycle**: a case's whole life through the HTTP API (open, assess high, guardian notice,
   plan, referral, consent, closure proposed and approved: 8 calls) against ``BareCase``
   (``bench/floor_workflow.py``): a start and one update per call, each update with one local
   activity and one ordinary activity queued. Lifecycles per second and per-call p50/p99, at
   concurrency 1, 10 and 50, on SQLite and PostgreSQL.
2. **action**: a staff action's API p99 (every call but the opening, at concurrency 10) against a
   direct ``execute_update`` p99 of the floor at the same concurrency.
3. **open**: opening N cases through the screening import (``bench/screening.py``: every row
   flagged) against a bare ``start_workflow`` loop of the same cases.
4. **replay**: ``crisisflow audit replay``'s path (``workflows.replay.replay_all``) over the closed
   cases' histories against the SDK's batch replay (``Replayer.workflow_replay_iterator``, same
   sandbox and converter); then ours over a process pool, histories per second per process.
5. **memory**: a ``crisisflow worker`` process with N open cases, each waiting on its assessment
   deadline, against a bare worker process with N ``BareTimer`` workflows; MiB per 1,000 cases.
6. **dashboard**: ``GET /dashboard`` and ``GET /cases?overdue=true`` at 100,000 cases against
   ``GET /health`` on the same server (the HTTP stack itself), as ``bench/run.py`` loads them.

8. **layout**: the lifecycle at concurrency 10 with the API and the worker as separate processes
   (``crisisflow api``, ``crisisflow worker``), as compose runs them, against ``BareCase`` with its
   worker in a process of its own; CPU per life is the API's and the worker's against the bare
   worker's and its client's (the bench process: the floor's "API" is the client making its calls).

7. **observability**: the lifecycle at concurrency 10 with the operations port on (the SDK's
   metrics runtime, ``/metrics`` scraped every second, as a busy Prometheus would) and with tracing
   on (every span exported to a loopback OTLP receiver), each against the same lifecycle with both
   off, interleaved off, metrics, tracing, off... Our counters count in every case (they are plain
   in-process increments); "off" is no port, no scrape, no SDK metrics, no spans.

The table prints last, ratio in the last column; results go to ``bench/results/compare-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy
from temporalio.client import Client
from temporalio.worker import Replayer, Worker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.history import load_history  # noqa: E402
from bench import floor_workflow as bare  # noqa: E402
from bench import screening  # noqa: E402
from bench.run import _dev_env, dashboard_latency  # noqa: E402
from config.logs import configure_logging  # noqa: E402
from config.temporal import connect, data_converter  # noqa: E402
from crypto.keyring import Keyring  # noqa: E402
from db import directory  # noqa: E402
from db.engine import make_engine, migrate  # noqa: E402
from db.tables import CaseRow  # noqa: E402
from models.case import Actor, CaseStart, OpenCaseBody, Student  # noqa: E402
from models.policy import DeadlinePolicy  # noqa: E402
from ops import service_options  # noqa: E402
from ops.tracing import Tracing  # noqa: E402
from tests.conftest import (  # noqa: E402
    KEYRING,
    KEYRING_JSON,
    PG_URL,
    SCHOOLS,
    auth,
    free_port,
    make_settings,
    running_stack,
    service_env,
)
from tests.receivers import TraceCollector  # noqa: E402
from tests.support import APPROVE, ASSESS_HIGH, CONSENT, PLAN, REFERRAL, notice, open_body  # noqa: E402
from workflows import replay  # noqa: E402
from workflows.case_workflow import CaseWorkflow  # noqa: E402
from workflows.sandbox import workflow_runner  # noqa: E402

CLOSE = {"reason": "resolved", "outcome": "门诊随访中，情绪稳定", "rationale": "连续四周评估为低风险"}
#: A case's life as its people take it: (path, body, role); the opening comes first.
LIFE = [
    ("assessment", ASSESS_HIGH, "psychology_teacher"),
    ("guardian-notice", None, "head_teacher"),
    ("intervention", PLAN, "psychology_teacher"),
    ("referral", REFERRAL, "psychology_teacher"),
    ("guardian-response", CONSENT, "head_teacher"),
    ("closure", CLOSE, "psychology_teacher"),
    ("closure-decision", APPROVE, "leadership"),
]
CALLS = 1 + len(LIFE)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def cpu_s(pid: int) -> float:
    """A process's CPU time so far (user and system, every thread), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid() -> int:
    """The dev server this process started (``temporal server start-dev``, a child of ours)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = stat.read_text()
            name, rest = text.split("(", 1)[1].rsplit(")", 1)
            if name == "temporal" and int(rest.split()[1]) == os.getpid():
                return int(stat.parent.name)
    raise RuntimeError("no dev server under this process")


class Cpu:
    """CPU seconds spent by this process and the dev server over a block: ``with Cpu() as cpu: ...``."""

    def __init__(self, *pids: int) -> None:
        self.pids = pids or (os.getpid(), server_pid())

    def __enter__(self) -> Cpu:
        self.start = [cpu_s(p) for p in self.pids]
        return self

    def __exit__(self, *exc) -> None:
        self.spent = [cpu_s(p) - s for p, s in zip(self.pids, self.start, strict=True)]


def ms(value: float) -> float:
    return round(value * 1000, 1)


def median(values: list[float]) -> float:
    return statistics.median(values)


# ------------------------------------------------------------------ 1, 2: lifecycle and actions


async def floor_lifecycles(client: Client, n: int, concurrency: int) -> tuple[float, list[float]]:
    """n BareCase lives, ``concurrency`` at a time: lives per second and every call's latency."""
    gate, calls = asyncio.Semaphore(concurrency), []
    run = uuid.uuid4().hex[:8]

    async def life(i: int) -> None:
        async with gate:
            t = time.perf_counter()
            handle = await client.start_workflow(bare.BareCase.run, CALLS, id=f"bare-{run}-{i}",
                                                 task_queue=bare.TASK_QUEUE)
            await handle.execute_update(bare.BareCase.act, 0)
            calls.append(time.perf_counter() - t)  # the opening: start and first update, as ours
            for k in range(1, CALLS):
                t = time.perf_counter()
                await handle.execute_update(bare.BareCase.act, k)
                calls.append(time.perf_counter() - t)
            await handle.result()

    t = time.perf_counter()
    await asyncio.gather(*(life(i) for i in range(n)))
    return n / (time.perf_counter() - t), calls


async def our_lifecycles(stack, n: int, concurrency: int, closed: list[str]) -> tuple[float, list[float], list[float]]:
    """n cases through the API: lives per second, the openings' latencies and the actions'."""
    gate, openings, actions = asyncio.Semaphore(concurrency), [], []

    async def life(i: int) -> None:
        async with gate:
            t = time.perf_counter()
            r = await stack.http.post("/cases", json=open_body(), headers=auth("head_teacher"))
            openings.append(time.perf_counter() - t)
            assert r.status_code == 201, r.text
            case_id = r.json()["case_id"]
            for path, body, role in LIFE:
                t = time.perf_counter()
                r = await stack.http.post(f"/cases/{case_id}/{path}", json=body or notice(), headers=auth(role))
                actions.append(time.perf_counter() - t)
                assert r.status_code in (200, 202), (path, r.status_code, r.text)
            closed.append(case_id)
        # the life ends when the workflow has finished (its effects done), as BareCase's does
        await stack.client.get_workflow_handle(f"case-{case_id}").result()

    t = time.perf_counter()
    await asyncio.gather(*(life(i) for i in range(n)))
    return n / (time.perf_counter() - t), openings, actions


@asynccontextmanager
async def bare_worker(address: str):
    client = await Client.connect(address)
    worker = Worker(client, task_queue=bare.TASK_QUEUE, workflows=bare.WORKFLOWS, activities=bare.ACTIVITIES)
    async with worker:
        yield client


def lives_for(concurrency: int, base: int) -> int:
    return max(base, concurrency * 2) if concurrency > 1 else max(10, base // 6)


async def lifecycle(env, db: str, url: str, workdir: Path, concurrencies: list[int], base: int, rounds: int,
                    closed: list[str]) -> list[dict]:
    rows = []
    settings = make_settings(workdir, url, None)
    async with bare_worker(env.client.service_client.config.target_host) as bare_client, \
            running_stack(env.client, settings) as stack:
        await floor_lifecycles(bare_client, 3, 3)  # warm both up
        await our_lifecycles(stack, 3, 3, [])
        for c in concurrencies:
            n = lives_for(c, base)
            floors, ours, f_calls, o_open, o_act = [], [], [], [], []
            f_cpu, o_cpu = [], []  # per life: [this process, the server], ms
            for turn in ["floor"] + ["ours", "floor"] * rounds:  # floor, ours, floor, ...
                with Cpu() as cpu:
                    if turn == "floor":
                        rate, calls = await floor_lifecycles(bare_client, n, c)
                        f_calls += calls
                    else:
                        rate, opening, acting = await our_lifecycles(stack, n, c, closed)
                        o_open += opening
                        o_act += acting
                (floors if turn == "floor" else ours).append(rate)
                (f_cpu if turn == "floor" else o_cpu).append([x * 1000 / n for x in cpu.spent])
            o_calls = o_open + o_act
            rows.append({
                "part": "lifecycle", "db": db, "concurrency": c, "lives": n,
                "floor_lives_per_s": [round(x, 2) for x in floors], "our_lives_per_s": [round(x, 2) for x in ours],
                "floor_call_p50_ms": ms(pct(f_calls, 0.5)), "floor_call_p99_ms": ms(pct(f_calls, 0.99)),
                "our_call_p50_ms": ms(pct(o_calls, 0.5)), "our_call_p99_ms": ms(pct(o_calls, 0.99)),
                "our_action_p50_ms": ms(pct(o_act, 0.5)), "our_action_p99_ms": ms(pct(o_act, 0.99)),
                "floor_action_p50_ms": ms(pct(f_calls, 0.5)),
                "our_process_cpu_ms_per_life": round(median([x[0] for x in o_cpu]), 1),
                "floor_process_cpu_ms_per_life": round(median([x[0] for x in f_cpu]), 1),
                "our_server_cpu_ms_per_life": round(median([x[1] for x in o_cpu]), 1),
                "floor_server_cpu_ms_per_life": round(median([x[1] for x in f_cpu]), 1),
                "ratio": round(median(ours) / median(floors), 2),
                "p99_ratio": round(pct(o_calls, 0.99) / pct(f_calls, 0.99), 2),
            })
            print_row(rows[-1])
    return rows


# ------------------------------------------------------------------ 8: layout


@dataclass
class _Remote:
    """A stack of processes as ``our_lifecycles`` drives it: its HTTP client and a Temporal client."""

    http: httpx.AsyncClient
    client: Client


async def _healthy(url: str, processes: list[subprocess.Popen], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}/health")).status_code == 200:
                    return
            if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
                raise RuntimeError("the deployed stack did not come up")
            await asyncio.sleep(0.3)


async def layout_part(env, db: str, url: str, workdir: Path, lives: int, rounds: int,
                      profile: Path | None = None) -> list[dict]:
    """``profile``: a folder for py-spy's samples of the API and the worker (``<db>-api.<format>``), in the formats
    of ``PROFILE_FORMATS``, one run each (so each format's run is measured apart)."""
    address = env.client.service_client.config.target_host
    engine = make_engine(url, keyring=KEYRING)
    migrate(engine)
    directory.load(engine, SCHOOLS)
    engine.dispose()
    port, queue = free_port(), f"layout-{uuid.uuid4().hex[:8]}"
    environment = service_env(env="dev", temporal_address=address, database_url=url, task_queue=queue,
                              data_dir=workdir / f"layout-{db}", api_port=port, log_level="WARNING", metrics_port=0,
                              write_rate_per_minute=1_000_000)
    crisisflow = str(Path(sys.executable).parent / "crisisflow")

    def command(name: str) -> list[str]:
        if profile is None:
            return [crisisflow, name]
        fmt = os.environ.get("BENCH_PROFILE_FORMAT", "raw")
        out = profile / f"{db}-{name}.{'svg' if fmt == 'flamegraph' else 'txt'}"
        return [str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking", "-r", "100", "--format", fmt,
                "-o", str(out), "--", crisisflow, name]

    ours = [subprocess.Popen(command(name), env=environment, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name in ("api", "worker")]
    floor = subprocess.Popen([sys.executable, "-c", BARE_WORKER.format(root=str(ROOT), address=address)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    server = server_pid()
    try:
        floor.stdout.readline()
        base = f"http://127.0.0.1:{port}/api/v1"
        await _healthy(base, ours)
        bare_client = await Client.connect(address)
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            remote = _Remote(http, env.client)
            await floor_lifecycles(bare_client, 3, 3)  # warm both up
            await our_lifecycles(remote, 3, 3, [])
            floors, mine, f_cpu, o_cpu, f_calls, o_act = [], [], [], [], [], []
            for turn in ["floor"] + ["ours", "floor"] * rounds:
                if turn == "floor":
                    with Cpu(floor.pid, os.getpid(), server) as cpu:
                        rate, calls = await floor_lifecycles(bare_client, lives, 10)
                    floors.append(rate)
                    f_calls += calls
                    f_cpu.append([(cpu.spent[0] + cpu.spent[1]) * 1000 / lives, cpu.spent[2] * 1000 / lives])
                else:
                    with Cpu(ours[0].pid, ours[1].pid, server) as cpu:
                        rate, _, acting = await our_lifecycles(remote, lives, 10, [])
                    mine.append(rate)
                    o_act += acting
                    o_cpu.append([(cpu.spent[0] + cpu.spent[1]) * 1000 / lives, cpu.spent[2] * 1000 / lives,
                                  cpu.spent[0] * 1000 / lives, cpu.spent[1] * 1000 / lives])
    finally:
        for p in (*ours, floor):
            p.send_signal(signal.SIGINT if profile is not None else signal.SIGTERM)  # py-spy writes on SIGINT
            p.wait(60)
    row = {"part": "layout", "db": db, "lives": lives, "concurrency": 10,
           "floor_lives_per_s": [round(x, 2) for x in floors], "our_lives_per_s": [round(x, 2) for x in mine],
           "floor_call_p50_ms": ms(pct(f_calls, 0.5)), "floor_call_p99_ms": ms(pct(f_calls, 0.99)),
           "our_action_p50_ms": ms(pct(o_act, 0.5)), "our_action_p99_ms": ms(pct(o_act, 0.99)),
           "our_process_cpu_ms_per_life": round(median([x[0] for x in o_cpu]), 1),
           "floor_process_cpu_ms_per_life": round(median([x[0] for x in f_cpu]), 1),
           "our_server_cpu_ms_per_life": round(median([x[1] for x in o_cpu]), 1),
           "floor_server_cpu_ms_per_life": round(median([x[1] for x in f_cpu]), 1),
           "our_api_cpu_ms_per_life": round(median([x[2] for x in o_cpu]), 1),
           "our_worker_cpu_ms_per_life": round(median([x[3] for x in o_cpu]), 1),
           "ratio": round(median(mine) / median(floors), 2)}
    print_row(row)
    return [row]


# ------------------------------------------------------------------ 7: observability


async def _scraping(address: str, stop: asyncio.Event) -> int:
    n = 0
    async with httpx.AsyncClient(timeout=10) as http:
        while not stop.is_set():
            r = await http.get(f"{address}/metrics")
            assert r.status_code == 200
            n += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    return n


async def observability_part(env, db: str, url_for, workdir: Path, lives: int, rounds: int) -> list[dict]:
    address = env.client.service_client.config.target_host
    port = free_port()
    off = make_settings(workdir, url_for("off"), None)
    metered = make_settings(workdir, url_for("metrics"), None, metrics_port=port, temporal_address=address)
    traced_settings = make_settings(workdir, url_for("tracing"), None)
    sink = TraceCollector(keep=False)
    tracing = Tracing(sink.endpoint, "crisisflow-bench")
    traced_client = await Client.connect(address, namespace=env.client.namespace,
                                         data_converter=data_converter(KEYRING), interceptors=[tracing.interceptor()])
    metered_client = await connect(metered, **service_options(metered))
    rates: dict[str, list[float]] = {"off": [], "metrics": [], "tracing": []}
    scrapes = 0
    async with running_stack(env.client, off) as plain, running_stack(metered_client, metered) as with_metrics, \
            running_stack(traced_client, traced_settings, tracing=tracing) as with_tracing:
        stacks = {"off": plain, "metrics": with_metrics, "tracing": with_tracing}
        for stack in stacks.values():  # warm each up
            await our_lifecycles(stack, 3, 3, [])
        order = ["off"] + ["metrics", "tracing", "off"] * rounds
        for kind in order:
            stop = asyncio.Event()
            scraper = asyncio.create_task(_scraping(f"http://127.0.0.1:{port}", stop)) if kind == "metrics" else None
            rate, _, _ = await our_lifecycles(stacks[kind], lives, 10, [])
            rates[kind].append(rate)
            if scraper is not None:
                stop.set()
                scrapes += await scraper
    tracing.shutdown()
    sink.close()
    rows = []
    for kind in ("metrics", "tracing"):
        rows.append({"part": "observability", "db": db, "with": kind, "lives": lives, "concurrency": 10,
                     "off_lives_per_s": [round(x, 2) for x in rates["off"]],
                     "on_lives_per_s": [round(x, 2) for x in rates[kind]],
                     **({"scrapes": scrapes} if kind == "metrics" else {}),
                     "ratio": round(median(rates[kind]) / median(rates["off"]), 2)})
        print_row(rows[-1])
    return rows


# ------------------------------------------------------------------ 4: replay


def _replay_chunk(texts: list[str], keyring_json: str) -> int:
    """In a pool process: replay exported histories as ``crisisflow audit replay`` does."""
    histories = [(load_history(t, f"h{i}"), f"h{i}") for i, t in enumerate(texts)]
    reports = asyncio.run(replay.replay_all(histories, data_converter(Keyring(keyring_json))))
    assert all(r.deterministic for r in reports), [r.divergence for r in reports if not r.deterministic]
    return len(reports)


async def replay_part(client: Client, case_ids: list[str], rounds: int) -> list[dict]:
    conv = client.data_converter
    histories = []
    for case_id in case_ids:
        histories.append(await client.get_workflow_handle(f"case-{case_id}").fetch_history())

    async def floor() -> float:
        sdk = Replayer(workflows=[CaseWorkflow], data_converter=conv, workflow_runner=workflow_runner())
        t = time.perf_counter()
        async def each():
            for history in histories:
                yield history

        async with sdk.workflow_replay_iterator(each()) as results:
            async for result in results:
                assert result.replay_failure is None, result.replay_failure
        return len(histories) / (time.perf_counter() - t)

    async def ours() -> float:
        t = time.perf_counter()
        reports = await replay.replay_all([(h, h.workflow_id) for h in histories], conv)
        assert all(r.deterministic for r in reports)
        return len(histories) / (time.perf_counter() - t)

    floors, mine = [await floor()], []
    for _ in range(rounds):
        mine.append(await ours())
        floors.append(await floor())
    rows = [{"part": "replay", "db": "-", "histories": len(histories),
             "floor_per_s": [round(x, 1) for x in floors], "our_per_s": [round(x, 1) for x in mine],
             "ratio": round(median(mine) / median(floors), 2)}]
    print_row(rows[-1])
    texts = [h.to_json() for h in histories]
    single = median(mine)
    for procs in range(1, (os.cpu_count() or 1) + 1):
        chunks = [texts[i::procs] for i in range(procs)]
        with ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_replay_chunk, [c[:2] for c in chunks], [KEYRING_JSON] * procs))  # warm up
            t = time.perf_counter()
            done = sum(pool.map(_replay_chunk, chunks, [KEYRING_JSON] * procs))
            rate = done / (time.perf_counter() - t)
        rows.append({"part": "replay-pool", "db": "-", "processes": procs, "histories": done,
                     "our_per_s": round(rate, 1), "per_process_per_s": round(rate / procs, 1),
                     "ratio": round(rate / procs / single, 2)})
        print_row(rows[-1])
    return rows


# ------------------------------------------------------------------ 5: memory


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


BARE_WORKER = """
import asyncio, sys
sys.path.insert(0, {root!r})
from temporalio.client import Client
from temporalio.worker import Worker
from bench import floor_workflow as bare
async def main():
    client = await Client.connect({address!r})
    async with Worker(client, task_queue=bare.TASK_QUEUE, workflows=bare.WORKFLOWS, activities=bare.ACTIVITIES):
        print("polling", flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""


async def _settled(pid: int, seconds: float = 3.0) -> float:
    """The process's RSS once it stops moving (two readings a second apart within 1 MiB)."""
    last = rss_mib(pid)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        await asyncio.sleep(seconds)
        now = rss_mib(pid)
        if abs(now - last) < 1.0:
            return now
        last = now
    return last


async def _start_all(make, first: int, stop: int, concurrency: int = 64) -> None:
    """``make(i)`` for i from ``first`` up to ``stop``, ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await make(i)

    await asyncio.gather(*(one(i) for i in range(first, stop)))


async def memory_part(env, workdir: Path, sizes: list[int]) -> list[dict]:
    address = env.client.service_client.config.target_host
    url = f"sqlite:///{workdir / 'memory.db'}"
    engine = make_engine(url, keyring=KEYRING)
    migrate(engine)
    directory.load(engine, SCHOOLS)
    queue = f"memory-{uuid.uuid4().hex[:8]}"
    ours = subprocess.Popen([str(Path(sys.executable).parent / "crisisflow"), "worker"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=service_env(env="dev", temporal_address=address, database_url=url, task_queue=queue,
                                            data_dir=workdir / "memory-data", log_level="WARNING"))
    floor = subprocess.Popen([sys.executable, "-c", BARE_WORKER.format(root=str(ROOT), address=address)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    bare_client = await Client.connect(address)
    rows = []
    try:
        floor.stdout.readline()
        await asyncio.sleep(5)
        base_ours, base_floor = await _settled(ours.pid), await _settled(floor.pid)
        last_ours, last_floor = base_ours, base_floor
        actor = Actor(staff_id="bench-ht", role="head_teacher", school_id="school-a")
        policy, opened = DeadlinePolicy(), 0
        run = uuid.uuid4().hex[:8]

        async def open_ours(i: int) -> None:
            body = OpenCaseBody(student=Student(ref=f"M{i:06d}", name=f"学生{i}", school_id="school-a", grade="七年级",
                                                class_name="七(1)班"),
                                risk_factors=["prolonged_low_mood"], summary="memory")
            case_id = f"{run}{i:024d}"
            await env.client.start_workflow(CaseWorkflow.run, CaseStart(case_id=case_id, opened_by=actor, case=body,
                                                                        policy=policy),
                                            id=f"case-{case_id}", task_queue=queue)

        async def open_floor(i: int) -> None:
            await bare_client.start_workflow(bare.BareTimer.run, 30, id=f"bare-timer-{run}-{i}",
                                             task_queue=bare.TASK_QUEUE)

        for size in sizes:
            await _start_all(open_ours, opened, size)
            await _start_all(open_floor, opened, size)
            # ours is settled once every case is in the read model; the floor once its last has its timer
            while True:
                with engine.connect() as c:
                    count = c.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(CaseRow)).scalar()
                if count >= size:
                    break
                await asyncio.sleep(1)
            last = bare_client.get_workflow_handle(f"bare-timer-{run}-{size - 1}")
            while (await last.describe()).raw_description.HasField("pending_workflow_task"):
                await asyncio.sleep(0.5)
            mine, theirs = await _settled(ours.pid), await _settled(floor.pid)
            rows.append({"part": "memory", "db": "sqlite", "open_cases": size,
                         "our_rss_mib": round(mine, 1), "floor_rss_mib": round(theirs, 1),
                         "our_mib_per_1000": round((mine - base_ours) * 1000 / size, 2),
                         "floor_mib_per_1000": round((theirs - base_floor) * 1000 / size, 2),
                         # past the worker's cache (1,000 workflows) growth should flatten: say so
                         "our_mib_per_1000_since_last": round((mine - last_ours) * 1000 / (size - opened), 2),
                         "floor_mib_per_1000_since_last": round((theirs - last_floor) * 1000 / (size - opened), 2),
                         "ratio": round(mine / theirs, 2)})
            opened, last_ours, last_floor = size, mine, theirs
            print_row(rows[-1])
    finally:
        for p in (ours, floor):
            p.terminate()
            p.wait(10)
        engine.dispose()
    return rows


# ------------------------------------------------------------------ 6: dashboard


async def dashboard_part(env, db: str, workdir: Path, rows: int) -> list[dict]:
    out = []
    for schools in (20, 1):
        with scratch(db, workdir) as url:
            run = await dashboard_latency(env.client, workdir, url, rows, schools)
        for what in ("http_dashboard", "http_list_overdue"):
            out.append({"part": what.removeprefix("http_"), "db": db, "rows": rows, "schools": schools,
                        "p50_ms": run[what]["p50_ms"], "p95_ms": run[what]["p95_ms"],
                        "floor_p50_ms": run["http_health"]["p50_ms"],
                        "ratio": round(run[what]["p50_ms"] / run["http_health"]["p50_ms"], 2)})
            print_row(out[-1])
    return out


# ------------------------------------------------------------------ the table


def print_row(row: dict) -> None:
    shown = {k: v for k, v in row.items() if k not in ("part", "db", "ratio")}
    print(f"{row['part']:<15}{row['db']:<9}{json.dumps(shown, ensure_ascii=False)}  ratio {row['ratio']}",
          flush=True)


def table(rows: list[dict]) -> str:
    lines = [f"{'figure':<34}{'db':<9}{'floor':>16}{'ours':>16}{'ratio':>8}"]
    for r in rows:
        if r["part"] in ("lifecycle", "layout"):
            what = "lifecycle" if r["part"] == "lifecycle" else "separate processes:"
            lines.append(f"{what + ' lives/s, c=' + str(r['concurrency']):<34}{r['db']:<9}"
                         f"{median(r['floor_lives_per_s']):>16.2f}{median(r['our_lives_per_s']):>16.2f}"
                         f"{r['ratio']:>8.2f}")
            if "p99_ratio" in r:
                lines.append(f"{'  call p99 ms, c=' + str(r['concurrency']):<34}{r['db']:<9}"
                             f"{r['floor_call_p99_ms']:>16}{r['our_call_p99_ms']:>16}{r['p99_ratio']:>8.2f}")
            if r["concurrency"] == 10:
                for q in ("p50", "p99"):
                    floor, ours = r[f"floor_call_{q}_ms"], r[f"our_action_{q}_ms"]
                    lines.append(f"{'  action ' + q + ' ms vs execute_update':<34}{r['db']:<9}"
                                 f"{floor:>16}{ours:>16}{ours / floor:>8.2f}")
            for who in ("process", "server"):
                floor, ours = r[f"floor_{who}_cpu_ms_per_life"], r[f"our_{who}_cpu_ms_per_life"]
                lines.append(f"{'  ' + who + ' CPU ms per life':<34}{r['db']:<9}{floor:>16}{ours:>16}"
                             f"{ours / floor:>8.2f}")
        elif r["part"] == "open":
            lines.append(f"{'opening ' + str(r['cases']) + ' cases, per s':<34}{r['db']:<9}"
                         f"{median(r['floor_starts_per_s']):>16.1f}{median(r['import_cases_per_s']):>16.1f}"
                         f"{r['ratio']:>8.2f}")
        elif r["part"] == "replay":
            lines.append(f"{'replay ' + str(r['histories']) + ' histories, per s':<34}{'-':<9}"
                         f"{median(r['floor_per_s']):>16.1f}{median(r['our_per_s']):>16.1f}{r['ratio']:>8.2f}")
        elif r["part"] == "replay-pool":
            lines.append(f"{'  over ' + str(r['processes']) + ' processes, per s per core':<34}{'-':<9}"
                         f"{'(1 process)':>16}{r['per_process_per_s']:>16.1f}{r['ratio']:>8.2f}")
        elif r["part"] == "observability":
            lines.append(f"{'lifecycle with ' + r['with'] + ' on, c=10':<34}{r['db']:<9}"
                         f"{median(r['off_lives_per_s']):>16.2f}{median(r['on_lives_per_s']):>16.2f}"
                         f"{r['ratio']:>8.2f}")
        elif r["part"] == "memory":
            lines.append(f"{'worker RSS MiB, ' + str(r['open_cases']) + ' open':<34}{r['db']:<9}"
                         f"{r['floor_rss_mib']:>16.1f}{r['our_rss_mib']:>16.1f}{r['ratio']:>8.2f}")
            lines.append(f"{'  MiB per 1,000 open cases':<34}{r['db']:<9}"
                         f"{r['floor_mib_per_1000']:>16.2f}{r['our_mib_per_1000']:>16.2f}{'':>8}")
        else:
            lines.append(f"{r['part'] + ' p50 ms, ' + str(r['rows']) + ' in ' + str(r['schools']):<34}{r['db']:<9}"
                         f"{r['floor_p50_ms']:>16}{r['p50_ms']:>16}{r['ratio']:>8.2f}")
    return "\n".join(lines)


async def main_async(args) -> list[dict]:
    parts = set(args.only.split(",")) if args.only else {"lifecycle", "replay", "open", "memory", "dashboard",
                                                          "observability", "layout"}
    dbs = args.db.split(",")
    workdir = ROOT / "var" / "bench-compare" / uuid.uuid4().hex[:8]
    workdir.mkdir(parents=True)
    rows: list[dict] = []
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    closed: list[str] = []
    if parts & {"lifecycle", "replay", "memory", "dashboard", "observability", "layout"}:
        async with await _dev_env() as env:
            for db in dbs:
                if "lifecycle" in parts or "replay" in parts:
                    cs = concurrencies if "lifecycle" in parts else [10]
                    with scratch(db, workdir) as url:
                        rows += await lifecycle(env, db, url, workdir, cs, args.lives, args.rounds, closed)
                if "layout" in parts:
                    with scratch(db, workdir) as url:
                        rows += await layout_part(env, db, url, workdir, args.lives, args.rounds, args.profile)
                if "dashboard" in parts:
                    rows += await dashboard_part(env, db, workdir, args.dashboard_rows)
                if "observability" in parts:
                    with scratch(db, workdir) as a, scratch(db, workdir) as b, scratch(db, workdir) as c:
                        urls = {"off": a, "metrics": b, "tracing": c}
                        rows += await observability_part(env, db, urls.__getitem__, workdir, args.lives, args.rounds)
            if "replay" in parts:
                rows += await replay_part(env.client, closed[: args.histories], args.rounds)
            if "memory" in parts:
                rows += await memory_part(env, workdir, [int(s) for s in args.memory_cases.split(",")])
    if "open" in parts:
        for run in await screening.main_async(args.open_cases, args.open_cases, args.rounds, dbs):
            rows.append({"part": "open", "cases": args.open_cases, **run})
            print_row(rows[-1])
    return rows


class scratch:
    """A database for one part: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""

    def __init__(self, db: str, workdir: Path) -> None:
        self.db, self.workdir, self.schema = db, workdir, f"bench_{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> str:
        if self.db == "sqlite":
            return f"sqlite:///{self.workdir / f'{self.schema}.db'}"
        self.admin = sqlalchemy.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as c:
            c.execute(sqlalchemy.text(f'CREATE SCHEMA "{self.schema}"'))
        return f"{PG_URL}?options=-csearch_path%3D{self.schema}"

    def __exit__(self, *exc) -> None:
        if self.db != "sqlite":
            with self.admin.connect() as c:
                c.execute(sqlalchemy.text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            self.admin.dispose()


def main() -> None:
    configure_logging("json", "WARNING")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated: lifecycle,replay,open,memory,dashboard,observability,layout")
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--profile", type=Path, help="layout: py-spy the API and the worker into this folder "
                        "(BENCH_PROFILE_FORMAT=flamegraph for SVG; the .venv has py-spy: pip install '.[bench]')")
    parser.add_argument("--concurrency", default="1,10,50")
    parser.add_argument("--lives", type=int, default=60, help="lifecycles per measurement at concurrency 10")
    parser.add_argument("--rounds", type=int, default=1, help="ours-floor pairs after the first floor")
    parser.add_argument("--histories", type=int, default=210)
    parser.add_argument("--open-cases", type=int, default=10_000)
    parser.add_argument("--memory-cases", default="10000", help="e.g. 10000,100000")
    parser.add_argument("--dashboard-rows", type=int, default=100_000)
    args = parser.parse_args()
    rows = asyncio.run(main_async(args))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"compare-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    print()
    print(table(rows))
    print(f"written: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
