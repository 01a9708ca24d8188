"""Screening import jobs: one per import or dry run, from the command line or the API, with what it did.

A job reads the file (``reader``), and unless it is a dry run imports it (``importer``); its row says
``running``, then ``done`` or ``failed`` with the reason, whatever goes wrong. While it runs, its
process marks it alive (``heartbeat_at``) every ``HEARTBEAT``; a job silent for ``STALE`` (its process
died: an API restarted mid-import) is failed, saying so, when the API starts and whenever a job is
read. A failed import is run again as it is: the import is resumable and idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select, update
from temporalio.client import Client

from config.settings import Settings
from db import directory
from db.tables import ScreeningJobRow
from intake import importer, reader
from models.case import Actor
from models.domain import StaffRole
from models.policy import DeadlinePolicy
from models.records import ScreeningJobFields
from models.screening import ScreeningRules

#: Who may import a school's screening results (and read its students' archive).
IMPORTERS = frozenset({StaffRole.leadership, StaffRole.psychology_teacher})
#: how often a running job says it is alive, and how long a silent one is taken to have died
HEARTBEAT = timedelta(seconds=10)
STALE = timedelta(seconds=90)
FAILED = "导入失败：请重新导入同一批次（已建立的个案不会重复建立）"
INTERRUPTED = "导入中断（执行导入的进程已停止）：请重新导入同一批次，已建立的个案不会重复建立"


class JobView(ScreeningJobFields):
    #: cases the batch opens (a dry run: would open)
    cases: int = 0
    errors: list[reader.RowError]
    warnings: list[reader.RowError] = []


def start(engine: Engine, school_id: str, batch: str, dry_run: bool, by: str) -> str:
    job_id = uuid.uuid4().hex
    with Session(engine) as session, session.begin():
        now = datetime.now(UTC)
        session.add(ScreeningJobRow(job_id=job_id, school_id=school_id, batch=batch, dry_run=dry_run,
                                    status="running", errors=[], warnings=[], started_by=by,
                                    started_at=now, heartbeat_at=now))
    return job_id


def fail_interrupted(engine: Engine, now: datetime | None = None) -> int:
    """Fail every job whose process stopped: running, and silent for ``STALE``. Returns how many."""
    silent = (now or datetime.now(UTC)) - STALE
    with Session(engine) as session, session.begin():
        done = session.exec(update(ScreeningJobRow).where(
            col(ScreeningJobRow.status) == "running",
            func.coalesce(col(ScreeningJobRow.heartbeat_at), col(ScreeningJobRow.started_at)) < silent,
        ).values(status="failed", failure=INTERRUPTED, finished_at=now or datetime.now(UTC)))
        return done.rowcount


async def _alive(engine: Engine, job_id: str) -> None:
    """Mark the job alive every ``HEARTBEAT`` while it runs (cancelled when it ends)."""
    while True:
        await asyncio.sleep(HEARTBEAT.total_seconds())
        with Session(engine) as session, session.begin():
            session.exec(update(ScreeningJobRow).where(col(ScreeningJobRow.job_id) == job_id)
                         .values(heartbeat_at=datetime.now(UTC)))


def progress(engine: Engine, job_id: str, every: float = 1.0) -> Callable[[int], None]:
    """A reader's progress callback that writes the rows read so far to the job (at most once a second), so
    that the page following the job says how far it has come."""
    last = [0.0]

    def told(rows: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            with Session(engine) as session, session.begin():
                session.exec(update(ScreeningJobRow).where(col(ScreeningJobRow.job_id) == job_id,
                                                           col(ScreeningJobRow.status) == "running")
                             .values(rows=rows))
    return told


def recent(engine: Engine, school_id: str, limit: int = 10) -> list[ScreeningJobRow]:
    """The school's latest imports and previews, newest first."""
    with Session(engine) as session:
        return list(session.exec(select(ScreeningJobRow).where(col(ScreeningJobRow.school_id) == school_id)
                                 .order_by(col(ScreeningJobRow.started_at).desc()).limit(limit)).all())


def get(engine: Engine, job_id: str) -> ScreeningJobRow | None:
    with Session(engine) as session:
        return session.get(ScreeningJobRow, job_id[:64])


def view(row: ScreeningJobRow, cases: int | None = None) -> JobView:
    view = JobView.model_validate(row, from_attributes=True)
    return view.model_copy(update={"cases": cases if cases is not None else row.opened + row.annotated})


def _finish(engine: Engine, job_id: str, **values) -> None:
    with Session(engine) as session, session.begin():
        row = session.get(ScreeningJobRow, job_id)
        for key, value in values.items():
            setattr(row, key, value)
        row.finished_at = datetime.now(UTC)
        session.add(row)


def classes_of(engine: Engine, school_id: str) -> set[str] | None:
    found = directory.of_school(engine, school_id).schools
    return {c.id for c in found[0].classes} if found and found[0].classes else None


async def run(engine: Engine, client: Client | None, settings: Settings, policy: DeadlinePolicy,
              rules: ScreeningRules, path: Path, school_id: str, batch: str, actor: Actor, job_id: str,
              dry_run: bool, read_progress: Callable[[int], None] | None = None,
              open_progress: Callable[[], None] | None = None, concurrency: int = 32,
              data: bytes | None = None) -> reader.Preview:
    """Read (and import) the file as the job ``job_id``; the job's row holds the outcome, whatever goes
    wrong. ``data``: the uploaded file's bytes (never written to disk)."""
    alive = asyncio.create_task(_alive(engine, job_id))
    try:
        return await _run(engine, client, settings, policy, rules, path, school_id, batch, actor, job_id, dry_run,
                          read_progress, open_progress, concurrency, data)
    except Exception as exc:
        if (row := get(engine, job_id)) is not None and row.status == "running":
            reason = str(exc) if isinstance(exc, reader.FileError) else FAILED
            _finish(engine, job_id, status="failed", failure=reason[:300])
        raise
    finally:
        alive.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await alive


async def _run(engine: Engine, client: Client | None, settings: Settings, policy: DeadlinePolicy,
               rules: ScreeningRules, path: Path, school_id: str, batch: str, actor: Actor, job_id: str,
               dry_run: bool, read_progress: Callable[[int], None] | None, open_progress: Callable[[], None] | None,
               concurrency: int, data: bytes | None) -> reader.Preview:
    try:
        reading = await asyncio.to_thread(reader.Reading, path, school_id, rules, classes_of(engine, school_id),
                                          data)
    except reader.FileError as exc:
        _finish(engine, job_id, status="failed", failure=str(exc)[:300])
        raise
    if dry_run:
        preview = await asyncio.to_thread(reader.read_all, reading, read_progress)
        _finish(engine, job_id, status="done", rows=preview.rows, flagged=preview.flagged,
                errors=[e.model_dump() for e in preview.errors], warnings=[w.model_dump() for w in preview.warnings])
        return preview
    try:
        outcome, preview = await importer.run_import(engine, client, settings, policy, rules, reading, school_id,
                                                     batch, actor, concurrency, read_progress, open_progress)
    except Exception:
        whole = await asyncio.to_thread(reader.read_all, reading)  # what the file holds, to run it again
        _finish(engine, job_id, status="failed", rows=whole.rows, flagged=whole.flagged,
                errors=[e.model_dump() for e in whole.errors],
                failure=FAILED)
        raise
    errors = [e.model_dump() for e in preview.errors]
    _finish(engine, job_id, status="done", rows=outcome.rows, flagged=outcome.flagged, opened=outcome.opened,
            annotated=outcome.annotated, watched=outcome.watched, errors=errors,
            warnings=[w.model_dump() for w in preview.warnings])
    return preview
