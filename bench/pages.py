"""The staff app's pages with 10,000 cases in one school: p50 and p95, beside their floors.

    .venv/bin/python bench/pages.py [--rows 10000] [--samples 200]

Each page is timed over HTTP with a signed-in session, interleaved with its floor on the same
server in the same run: the JSON API reading the same rows with a bearer token.

- my tasks (``GET /ui``, a psychology teacher: up to 200 open obligations, soonest first, and the
  cases in their reach) against ``GET /api/v1/cases?limit=200``;
- the case page (``GET /ui/cases/{id}``: state, deadlines, timeline, documents, allowed actions)
  against ``GET /api/v1/cases/{id}``.

The read model is filled with synthetic cases (``bench/run.py``'s ``bulk_load``); on SQLite and on
PostgreSQL (127.0.0.1:5432/test, a scratch schema). Results print as a table and go to
bench/results/pages-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import _dev_env, bulk_load  # noqa: E402
from db.engine import make_engine, migrate  # noqa: E402
from db.tables import CaseRow  # noqa: E402
from models.directory import Directory, School, Staff  # noqa: E402
from tests.conftest import KEYRING, PG_URL, auth, make_settings, running_stack  # noqa: E402
from tests.web import give_sign_in, load_people, sign_in  # noqa: E402

SCHOOL = "school-0"
PEOPLE = Directory(
    schools=[School(id=SCHOOL, name="基准中学", authority="基准市教育局")],
    staff=[Staff(id="bench-psy", name="陈老师", school=SCHOOL, roles=["psychology_teacher"])],
)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(round(q * len(ordered))) - 1)] * 1000


async def measure(url: str, workdir: Path, rows: int, samples: int, client) -> dict:
    engine = make_engine(url, keyring=KEYRING)
    migrate(engine)
    bulk_load(engine, rows, 1, datetime.now(UTC))
    if engine.dialect.name == "postgresql":
        with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(sqlalchemy.text("VACUUM ANALYZE"))
    with engine.connect() as c:
        case_ids = [r[0] for r in c.execute(sqlalchemy.select(CaseRow.case_id).limit(500))]
    settings = make_settings(workdir, url, None)
    found: dict[str, list[float]] = {"tasks": [], "tasks_floor": [], "case": [], "case_floor": []}
    async with running_stack(client, settings, with_worker=False) as stack:
        load_people(stack.engine, PEOPLE)
        web = await sign_in(stack.base_url.removesuffix("/api/v1"), "bench-psy",
                            give_sign_in(stack.engine, stack.settings, "bench-psy"))
        bearer = auth("psychology_teacher", SCHOOL)
        pairs = [
            ("tasks_floor", lambda _: stack.http.get("/cases?limit=200", headers=bearer)),
            ("tasks", lambda _: web.get("/ui")),
            ("case_floor", lambda c: stack.http.get(f"/cases/{c}", headers=bearer)),
            ("case", lambda c: web.get(f"/ui/cases/{c}")),
        ]
        for i in range(samples + 20):
            case_id = random.choice(case_ids)
            for name, call in pairs:  # floor, ours, floor, ours: noise shows in both
                t = time.perf_counter()
                answer = await call(case_id)
                elapsed = time.perf_counter() - t
                assert answer.status_code == 200, (name, answer.status_code, answer.text[:300])
                if i >= 20:  # warm-up
                    found[name].append(elapsed)
        await web.aclose()
    engine.dispose()
    out = {"rows": rows}
    for page in ("tasks", "case"):
        ours, floor = found[page], found[f"{page}_floor"]
        out[page] = {
            "p50_ms": round(pct(ours, 0.5), 1), "p95_ms": round(pct(ours, 0.95), 1),
            "floor_p50_ms": round(pct(floor, 0.5), 1), "floor_p95_ms": round(pct(floor, 0.95), 1),
            "ratio_p50": round(statistics.median(ours) / statistics.median(floor), 2),
            "ratio_p95": round(pct(ours, 0.95) / pct(floor, 0.95), 2),
        }
    return out


async def main_async(rows: int, samples: int) -> list[dict]:
    workdir = ROOT / "var" / "bench-pages" / uuid.uuid4().hex[:8]
    workdir.mkdir(parents=True)
    runs = []
    async with await _dev_env() as env:
        runs.append({"db": "sqlite", **await measure(f"sqlite:///{workdir / 'pages.db'}", workdir, rows, samples,
                                                     env.client)})
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sqlalchemy.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
        try:
            runs.append({"db": "postgres", **await measure(f"{PG_URL}?options=-csearch_path%3D{schema}", workdir,
                                                           rows, samples, env.client)})
        finally:
            with admin.connect() as c:
                c.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    runs = asyncio.run(main_async(args.rows, args.samples))
    print(f"{'db':<9}{'page':<7}{'p50 ms':>8}{'p95 ms':>8}{'floor p50':>10}{'floor p95':>10}{'×p50':>7}{'×p95':>7}")
    for run in runs:
        for page in ("tasks", "case"):
            r = run[page]
            print(f"{run['db']:<9}{page:<7}{r['p50_ms']:>8}{r['p95_ms']:>8}{r['floor_p50_ms']:>10}"
                  f"{r['floor_p95_ms']:>10}{r['ratio_p50']:>7}{r['ratio_p95']:>7}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"pages-{datetime.now(UTC):%Y%m%dT%H%M%S}.json").write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
