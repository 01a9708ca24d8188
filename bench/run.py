"""Benchmarks: speed and memory, measured (never asserted by tests).

    make bench                 # or: .venv/bin/python bench/run.py --cases 300 --rows 20000

1. API latency on a dev server (SQLite read model, worker in process):
   POST /cases, POST /assessment, GET /cases/{id}; p50, p95, max.
2. Worker memory: resident set growth per open (cached) case workflow.
3. Read model: GET /cases?overdue=true (store.list_cases) at N rows,
   on SQLite and on PostgreSQL (127.0.0.1:5432/test, a scratch schema).
4. The supervisors' dashboard over HTTP (GET /dashboard) with 100,000 cases
   in the database: spread over 20 schools, and all in one school (PostgreSQL
   is VACUUM ANALYZEd after the bulk load, as autovacuum would do).
Results print as a table and go to bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy
from temporalio.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.temporal import data_converter  # noqa: E402
from db import store  # noqa: E402
from db.engine import make_engine, migrate  # noqa: E402
from db.tables import CaseDeadlineRow, CaseEventRow, CaseRow  # noqa: E402
from models import search_attributes as sa  # noqa: E402
from models.case import CaseData  # noqa: E402
from models.domain import Action, CaseState, RiskLevel  # noqa: E402
from tests.conftest import KEYRING, PG_URL, auth, make_settings, running_stack  # noqa: E402
from tests.factories import opened_case, step  # noqa: E402
from tests.support import ASSESS_HIGH, open_body  # noqa: E402


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "n": len(samples),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def api_latency(cases: int, workdir: Path) -> dict:
    async with await _dev_env() as env:
        settings = make_settings(workdir, f"sqlite:///{workdir / 'bench.db'}", None)
        async with running_stack(env.client, settings) as stack:
            await stack.http.post("/cases", json=open_body(), headers=auth("head_teacher"))  # warm up
            rss_before = rss_mib()
            opened, assessed, read, ids = [], [], [], []
            for _ in range(cases):
                t = time.perf_counter()
                r = await stack.http.post("/cases", json=open_body(), headers=auth("head_teacher"))
                opened.append(time.perf_counter() - t)
                ids.append(r.json()["case_id"])
            for case_id in ids:
                t = time.perf_counter()
                await stack.http.post(
                    f"/cases/{case_id}/assessment", json=ASSESS_HIGH, headers=auth("psychology_teacher")
                )
                assessed.append(time.perf_counter() - t)
            for case_id in ids:
                t = time.perf_counter()
                await stack.http.get(f"/cases/{case_id}", headers=auth("leadership"))
                read.append(time.perf_counter() - t)
            await asyncio.sleep(2)  # let notifications and documents drain
            rss_after = rss_mib()
    return {
        "open_case": summary(opened),
        "assess": summary(assessed),
        "get_case": summary(read),
        "process_rss_mib_before": round(rss_before, 1),
        "process_rss_mib_after": round(rss_after, 1),
        "rss_kib_per_open_case": round((rss_after - rss_before) * 1024 / cases, 1),
    }


def _dev_env():
    return WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        data_converter=data_converter(KEYRING),
        search_attributes=list(sa.ALL),
        ui=False,
        dev_server_log_level="error",
    )


async def dashboard_runs(workdir: Path, rows: int) -> list[dict]:
    runs = []
    async with await _dev_env() as env:
        for schools in (20, 1):
            run = await dashboard_latency(
                env.client, workdir, f"sqlite:///{workdir / f'dash{schools}.db'}", rows, schools
            )
            runs.append({"db": "sqlite", **run})
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = sqlalchemy.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
            try:
                run = await dashboard_latency(
                    env.client, workdir, f"{PG_URL}?options=-csearch_path%3D{schema}", rows, schools
                )
                runs.append({"db": "postgres", **run})
            finally:
                with admin.connect() as c:
                    c.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
    return runs


def synthetic_case(i: int, now: datetime, schools: int = 20) -> CaseData:
    opened = now - timedelta(hours=i % 500)
    return opened_case(uuid.uuid4().hex, f"school-{i % schools}", f"s{i}", opened, timedelta(hours=72))


def bulk_load(engine, rows: int, schools: int, now: datetime) -> None:
    """Insert synthetic cases fast (the projection's own row builders, many rows a statement)."""
    chunk: list[CaseData] = []
    for i in range(rows):
        data = synthetic_case(i, now, schools)
        if i % 3:  # two in three assessed, some late; a third of those intervened
            at = data.opened_at + timedelta(hours=1 + i % 90)
            step(data, Action.assess, at, CaseState.assessed)
            data.risk_level = list(RiskLevel)[i % 4]
            if i % 9 == 1:
                step(data, Action.intervene, at + timedelta(hours=3), CaseState.intervened)
        chunk.append(data)
        if len(chunk) == 5000 or i == rows - 1:
            with engine.begin() as conn:
                conn.execute(CaseRow.__table__.insert(), [store.case_values(d) for d in chunk])
                conn.execute(CaseDeadlineRow.__table__.insert(), [v for d in chunk for v in store.deadline_values(d)])
                conn.execute(CaseEventRow.__table__.insert(), [v for d in chunk for v in store.event_values(d)])
            chunk = []


async def dashboard_latency(client, workdir: Path, url: str, rows: int, schools: int) -> dict:
    engine = make_engine(url, keyring=KEYRING)
    migrate(engine)
    t = time.perf_counter()
    bulk_load(engine, rows, schools, datetime.now(UTC))
    load_s = time.perf_counter() - t
    if engine.dialect.name == "postgresql":  # what autovacuum does soon after a bulk change
        with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(sqlalchemy.text("VACUUM ANALYZE"))
    settings = make_settings(workdir, url, None)
    samples: dict[str, list[float]] = {"http_dashboard": [], "http_list_overdue": [], "http_health": []}
    async with running_stack(client, settings, with_worker=False) as stack:
        for i in range(120):  # each read beside the floor (the HTTP stack answering /health), interleaved
            headers = auth("leadership", f"school-{i % schools}")
            for what, path, params in (("http_health", "/health", None), ("http_dashboard", "/dashboard", None),
                                       ("http_list_overdue", "/cases", {"overdue": "true", "limit": 50})):
                t = time.perf_counter()
                r = await stack.http.get(path, headers=headers, params=params)
                if i >= 20:
                    samples[what].append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
    engine.dispose()
    return {"rows": rows, "schools": schools, "bulk_load_s": round(load_s, 1),
            **{what: summary(values) for what, values in samples.items()}}


def read_model(url: str, rows: int) -> dict:
    engine = make_engine(url, keyring=KEYRING)
    migrate(engine)
    now = datetime.now(UTC)
    t = time.perf_counter()
    for i in range(rows):
        store.project_case(engine, synthetic_case(i, now))
    project_s = time.perf_counter() - t
    samples = []
    for i in range(200):
        t = time.perf_counter()
        store.list_cases(engine, school_id=f"school-{i % 20}", now=now, overdue=True, limit=50)
        samples.append(time.perf_counter() - t)
    engine.dispose()
    return {"rows": rows, "projection_per_case_ms": round(project_s / rows * 1000, 2), "list_overdue": summary(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--dashboard-rows", type=int, default=100_000)
    parser.add_argument("--only", choices=["api", "read-model", "dashboard"], help="run one part")
    args = parser.parse_args()
    workdir = ROOT / "bench" / "results" / "work" / uuid.uuid4().hex[:8]
    workdir.mkdir(parents=True)

    results: dict = {"when": datetime.now(UTC).isoformat(), "cases": args.cases, "rows": args.rows}
    if args.only in (None, "api"):
        results["api"] = asyncio.run(api_latency(args.cases, workdir))
    if args.only in (None, "read-model"):
        results["read_model_sqlite"] = read_model(f"sqlite:///{workdir / 'rows.db'}", args.rows)
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sqlalchemy.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
        try:
            results["read_model_postgres"] = read_model(f"{PG_URL}?options=-csearch_path%3D{schema}", args.rows)
        finally:
            with admin.connect() as c:
                c.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
    if args.only in (None, "dashboard"):
        results["dashboard"] = asyncio.run(dashboard_runs(workdir, args.dashboard_rows))

    out = ROOT / "bench" / "results" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(results, indent=2))
    if api := results.get("api"):
        print(f"API on a dev server, {args.cases} cases (p50 / p95 / max, ms):")
        for name in ("open_case", "assess", "get_case"):
            s = api[name]
            print(f"  {name:<10} {s['p50_ms']:>8} {s['p95_ms']:>8} {s['max_ms']:>8}")
        print(
            f"  worker+API process RSS {api['process_rss_mib_before']} -> {api['process_rss_mib_after']} MiB "
            f"({api['rss_kib_per_open_case']} KiB per open case)"
        )
    for key in ("read_model_sqlite", "read_model_postgres"):
        if key not in results:
            continue
        r = results[key]
        s = r["list_overdue"]
        print(
            f"{key}: {r['rows']} cases, projection {r['projection_per_case_ms']} ms/case, "
            f"list overdue p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms"
        )
    for run in results.get("dashboard", []):
        s = run["http_dashboard"]
        print(
            f"dashboard over HTTP, {run['db']}, {run['rows']} cases in {run['schools']} school(s): "
            f"p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, max {s['max_ms']} ms"
        )
    print(f"written: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
