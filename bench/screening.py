"""Screening import at a city's pace: 10,000 rows with 1,000 flagged students, as cases per second,
beside a bare ``start_workflow`` loop on the same server in the same run.

    .venv/bin/python bench/screening.py [--rows 10000] [--flagged 1000] [--rounds 2]

The floor starts ``flagged`` CaseWorkflow runs with the same input shape and the same concurrency,
and nothing else. Ours is the whole import (``intake.jobs.run``): read the XLSX, score and flag
every row, record all 10,000 results in the student archive, start a case per flagged student.
Floor and ours alternate (floor, ours, floor, …) so noise shows in both; no worker polls, so both
measure the start path. The read model is SQLite and PostgreSQL (127.0.0.1:5432/test, a scratch
schema). Results print as a table and go to bench/results/screening-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy
import xlsxwriter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import _dev_env  # noqa: E402
from config.temporal import workflow_id  # noqa: E402
from db import directory  # noqa: E402
from db.engine import make_engine, migrate  # noqa: E402
from intake import jobs  # noqa: E402
from models.case import Actor, CaseStart, OpenCaseBody, Student  # noqa: E402
from models.directory import Directory, School  # noqa: E402
from models.policy import DeadlinePolicy  # noqa: E402
from models.screening import ScreeningRules  # noqa: E402
from tests.conftest import KEYRING, PG_URL, make_settings  # noqa: E402
from workflows.case_workflow import CaseWorkflow  # noqa: E402

SCHOOL = "bench-school"
CONCURRENCY = 32
ACTOR = Actor(staff_id="bench-psy", role="psychology_teacher", school_id=SCHOOL)


def write_file(path: Path, rows: int, flagged: int) -> Path:
    header = ["ref", "name", "class_id", "grade", "class_name", "instrument", "total"] + [f"q{i}" for i in range(1, 10)]
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, header)
    for n in range(rows):
        items = [0, 1, 0, 1, 0, 0, 1, 0, 1 if n < flagged else 0]
        sheet.write_row(n + 1, 0, [f"S{n:06d}", f"学生{n}", "c1", "七年级", "七(1)班", "phq9", ""] + items)
    book.close()
    return path


async def floor(client, task_queue: str, n: int) -> float:
    """Bare starts: n CaseWorkflow runs, CONCURRENCY at a time; starts per second."""
    gate = asyncio.Semaphore(CONCURRENCY)
    policy = DeadlinePolicy()
    run = uuid.uuid4().hex[:8]

    async def one(i: int) -> None:
        case_id = f"{run}{i:024d}"
        body = OpenCaseBody(student=Student(ref=f"S{i:06d}", name=f"学生{i}", school_id=SCHOOL, grade="七年级",
                                            class_name="七(1)班", class_id="c1"),
                            warning_signals=["suicide_talk_or_plan"], summary="floor")
        async with gate:
            await client.start_workflow(CaseWorkflow.run, CaseStart(case_id=case_id, opened_by=ACTOR, case=body,
                                                                   policy=policy),
                                        id=workflow_id(case_id), task_queue=task_queue)

    t = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - t)


async def ours(engine, client, settings, file: Path, flagged: int) -> float:
    """The whole import of the file; flagged cases per second."""
    batch = f"bench-{uuid.uuid4().hex[:8]}"
    job_id = jobs.start(engine, SCHOOL, batch, False, ACTOR.staff_id)
    t = time.perf_counter()
    await jobs.run(engine, client, settings, DeadlinePolicy(), ScreeningRules(), file, SCHOOL, batch, ACTOR, job_id,
                   dry_run=False, concurrency=CONCURRENCY)
    elapsed = time.perf_counter() - t
    assert jobs.get(engine, job_id).opened == flagged
    return flagged / elapsed


async def measure(url: str, workdir: Path, file: Path, flagged: int, rounds: int, client) -> dict:
    engine = make_engine(url, keyring=KEYRING)
    migrate(engine)
    directory.load(engine, Directory(schools=[School(id=SCHOOL, name="基准中学", authority="基准市教育局")]))
    settings = make_settings(workdir, url, None)
    floors, mine = [], []
    floors.append(await floor(client, settings.task_queue, flagged))
    for _ in range(rounds):
        mine.append(await ours(engine, client, settings, file, flagged))
        floors.append(await floor(client, settings.task_queue, flagged))
    engine.dispose()
    floor_rate, our_rate = statistics.median(floors), statistics.median(mine)  # as bench/compare.py
    return {"floor_starts_per_s": [round(f, 1) for f in floors], "import_cases_per_s": [round(m, 1) for m in mine],
            "ratio": round(our_rate / floor_rate, 2)}


async def main_async(rows: int, flagged: int, rounds: int, dbs: tuple[str, ...] = ("sqlite", "postgres")) -> list[dict]:
    workdir = ROOT / "var" / "bench-screening" / uuid.uuid4().hex[:8]
    workdir.mkdir(parents=True)
    file = write_file(workdir / "screening.xlsx", rows, flagged)
    runs = []
    async with await _dev_env() as env:
        if "sqlite" in dbs:
            runs.append({"db": "sqlite", **await measure(f"sqlite:///{workdir / 's.db'}", workdir, file, flagged,
                                                         rounds, env.client)})
        if "postgres" not in dbs:
            return runs
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sqlalchemy.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
        try:
            runs.append({"db": "postgres", **await measure(f"{PG_URL}?options=-csearch_path%3D{schema}", workdir, file,
                                                           flagged, rounds, env.client)})
        finally:
            with admin.connect() as c:
                c.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--flagged", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    runs = asyncio.run(main_async(args.rows, args.flagged, args.rounds))
    print(f"{'db':<9}{'floor starts/s (each run)':<34}{'import cases/s (each run)':<30}{'ratio':>6}")
    for r in runs:
        print(f"{r['db']:<9}{str(r['floor_starts_per_s']):<34}{str(r['import_cases_per_s']):<30}{r['ratio']:>6}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"screening-{datetime.now(UTC):%Y%m%dT%H%M%S}.json").write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
