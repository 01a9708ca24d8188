"""Importing a screening batch: every result into the student archive, a case for each student the
rules flag, at the speed of Temporal's own start path.

- **Idempotent.** A result's id is a digest of (school, batch, student, instrument) and a flagged
  student's case id a digest of (school, batch, student): importing the batch again writes no new
  result and opens no new case (the workflow id is taken: Temporal answers with the existing run).
- **Resumable.** Nothing is half-imported: results are written idempotently, each case is started
  before its results name it, and the job is ``done`` only at the end. An importer killed halfway is
  simply run again, and completes the batch without a duplicate.
- **One student, one case.** A student with a case already open (not this batch's) gets no second
  case: the new results are recorded against that case (``annotated``) and shown with it.
- **Concurrent, with back-pressure.** Cases start through the door (``door.Door.start``) as the API starts them,
  ``concurrency`` at a time; the workflow projects itself into the read model, as any case does.
- **Reading overlaps starting.** The reader knows where each student's rows end before it scores
  any (``Reading.last_line``), so a student's case starts as soon as their last row is read, while
  the rest of the file is still being read: never on part of a student's results. The results go to
  the archive through one writer, a round of starts at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice

from sqlalchemy import Engine
from temporalio.client import Client

from config.settings import Settings
from db import store
from door import Door
from intake.reader import Preview, Reading, RowError, ScreeningRow
from models.case import Actor, CaseStart, OpenCaseBody
from models.domain import StaffRole
from models.policy import DeadlinePolicy
from models.screening import Band, ScreeningRules
from models.watch import WatchAdd, WatchReason, WatchRequest

BAND_ZH = {Band.minimal: "无或极轻", Band.mild: "轻度", Band.moderate: "中度", Band.moderately_severe: "中重度",
           Band.severe: "重度", Band.negative: "阴性", Band.positive: "阳性", Band.acute_positive: "急性阳性"}
OUTCOME_ZH = {"opened": "已建个案", "annotated": "记入在办个案", "watch": "列入关注名单", "none": "未见异常"}
#: rows scored per turn of the event loop while cases start (a few milliseconds of work)
READ_SLICE = 100
#: results wait at most this long for a round of them to gather before the archive writes them (seconds)
WRITE_AFTER = 0.2
INSTRUMENT_ZH = {"phq9": "PHQ-9 抑郁筛查", "gad7": "GAD-7 焦虑筛查", "asq": "ASQ 自杀风险筛查"}


@dataclass
class Outcome:
    rows: int = 0
    flagged: int = 0
    opened: int = 0
    annotated: int = 0
    watched: int = 0  # students put on the watch list (重点关注)
    errors: list = field(default_factory=list)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def case_id_for(school_id: str, batch: str, ref: str) -> str:
    """The case a batch opens for a student: the same id every time the batch is imported."""
    return _digest("screening-case", school_id, batch, ref)[:32]


def result_id_for(school_id: str, batch: str, ref: str, instrument: str) -> str:
    return _digest("screening-result", school_id, batch, ref, instrument)


def summary_of(rows: list[ScreeningRow], batch: str, rules: ScreeningRules) -> str:
    """The case's narrative: which screening, which results (sealed at rest like every summary)."""
    parts = []
    for row in rows:
        s = row.score
        total = "" if s.total is None else f" 总分 {s.total}"
        text = f"{INSTRUMENT_ZH[s.instrument.value]}{total}（{BAND_ZH[s.band]}）"
        if s.self_harm_item:
            text += f"，第 9 题 {s.items['q9']} 分"
        parts.append(text)
    return f"心理普查（批次 {batch}，规则 {rules.version}）筛查阳性：" + "；".join(parts) + "。请尽快评估。"


def _result(row: ScreeningRow, school_id: str, batch: str, rules: ScreeningRules, case_id: str | None,
            outcome: str, now: datetime) -> dict:
    s = row.score
    return {"result_id": result_id_for(school_id, batch, row.student.ref, s.instrument.value), "school_id": school_id,
            "batch": batch, "student_ref": row.student.ref, "class_id": row.student.class_id,
            "instrument": s.instrument.value, "total": s.total, "band": s.band.value,
            "rules_version": rules.version, "flags": row.flags.as_json, "items": s.items,
            "case_id": case_id, "outcome": outcome, "recorded_at": now}


class _Archive:
    """The batch's results on their way to the student archive: one writer, which writes all that has
    gathered once it is ``rows`` results (a round of starts) or has waited ``WRITE_AFTER`` seconds. While
    it writes, the next round gathers: a transaction per start would cost the start path more than
    the starts themselves."""

    def __init__(self, engine: Engine, rows: int) -> None:
        self._engine = engine
        self._round = rows
        self._rows: list[dict] = []
        self._more = asyncio.Event()
        self._full = asyncio.Event()
        self._closing = False
        self._writer = asyncio.create_task(self._write())

    def add(self, rows: list[dict]) -> None:
        if self._writer.done():  # the archive refused a write: stop here, the batch is resumable
            self._writer.result()
        self._rows.extend(rows)
        self._more.set()
        if len(self._rows) >= self._round:
            self._full.set()

    async def _write(self) -> None:
        while True:
            await self._more.wait()
            if not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), WRITE_AFTER)
            self._more.clear()
            self._full.clear()
            rows, self._rows = self._rows, []
            if rows:
                await asyncio.to_thread(store.record_screening, self._engine, rows)
            if self._closing and not self._rows:
                return

    async def close(self) -> None:
        """Write what is left, and wait for it."""
        self._closing = True
        self._more.set()
        self._full.set()
        await self._writer


async def run_import(engine: Engine, client: Client, settings: Settings, policy: DeadlinePolicy,
                     rules: ScreeningRules, reading: Reading, school_id: str, batch: str, actor: Actor,
                     concurrency: int = 32, read_progress: Callable[[int], None] | None = None,
                     open_progress: Callable[[], None] | None = None) -> tuple[Outcome, Preview]:
    """Record every readable row and open the flagged students' cases (see the module's rules), each
    student's as soon as their last row is read; what was read comes back as the preview."""
    now = datetime.now(UTC)
    door = Door(client, engine, settings, policy)
    done = await asyncio.to_thread(store.screened_students, engine, school_id, batch)  # an earlier run's
    already = await asyncio.to_thread(store.open_cases_by_ref, engine, school_id)
    gate = asyncio.Semaphore(concurrency)
    outcome = Outcome()
    read_rows: list[ScreeningRow] = []
    errors: list[RowError] = []
    unfinished: dict[str, list[ScreeningRow]] = defaultdict(list)  # students whose last row is still to come
    starts: list[asyncio.Task] = []
    archive = _Archive(engine, concurrency)

    async def open_one(ref: str, rows: list[ScreeningRow]) -> None:
        ours = case_id_for(school_id, batch, ref)
        theirs = already.get(ref)
        async with gate:
            if theirs is not None and theirs != ours:  # one student, one case: this result goes with it
                archive.add([_result(r, school_id, batch, rules, theirs, "annotated", now) for r in rows])
                outcome.annotated += 1
            else:
                flagged = [r for r in rows if r.flags.opens_case]
                body = OpenCaseBody(
                    student=rows[0].student,
                    risk_factors=list(dict.fromkeys(f for r in flagged for f in r.flags.risk_factors)),
                    warning_signals=list(dict.fromkeys(w for r in flagged for w in r.flags.warning_signals)),
                    screening_flags=list(dict.fromkeys(s for r in flagged for s in r.flags.screening)),
                    summary=summary_of(rows, batch, rules))
                start = CaseStart(case_id=ours, opened_by=actor, case=body, policy=policy,
                                  history_event_limit=settings.history_event_limit)
                # False: opened by an earlier run of this batch, and closed since
                await door.start(start)
                # recorded only once started: a kill in between leaves the student to the next run
                archive.add([_result(r, school_id, batch, rules, ours, "opened", now) for r in rows])
                outcome.opened += 1
        if open_progress:
            open_progress()

    async def watch_one(ref: str, rows: list[ScreeningRow]) -> None:
        """A student the rules watch-list (and no case opens for): on the watch list, owned by whoever
        imports if they are a psychology teacher (else by the school's psychology teachers)."""
        owner = actor.staff_id if actor.role in (StaffRole.psychology_teacher, StaffRole.expert) else None
        async with gate:
            await door.watch(WatchRequest(school_id=school_id, student=rows[0].student, policy=policy,
                                          addition=WatchAdd(reason=WatchReason.screening, source=batch,
                                                            by=actor.staff_id, owner=owner)))
            archive.add([_result(r, school_id, batch, rules, None, "watch" if r.flags.watch else "none", now)
                         for r in rows])
            outcome.watched += 1

    def complete(ref: str, rows: list[ScreeningRow]) -> None:
        """All of a student's rows are read: open their case, put them on the watch list, or record what
        the rows say."""
        if any(r.flags.opens_case for r in rows):
            if ref not in done:
                starts.append(asyncio.create_task(open_one(ref, rows)))
        elif any(r.flags.watch for r in rows) and ref not in done and ref not in already:
            starts.append(asyncio.create_task(watch_one(ref, rows)))
        else:
            archive.add([_result(r, school_id, batch, rules, None, "watch" if r.flags.watch else "none", now)
                         for r in rows])

    try:
        items = reading.rows(read_progress)
        # a slice of rows at a time on the event loop, between the starts' replies
        while chunk := list(islice(items, READ_SLICE)):
            for line, ref, item in chunk:
                if isinstance(item, RowError):
                    errors.append(item)
                else:
                    read_rows.append(item)
                    unfinished[ref].append(item)
                if line == reading.last_line[ref] and ref in unfinished:
                    complete(ref, unfinished.pop(ref))
            await asyncio.sleep(0)
        await asyncio.gather(*starts)
    finally:
        for task in starts:  # a start failed: the others stop, the batch is resumable
            task.cancel()
        await asyncio.gather(*starts, return_exceptions=True)
        await archive.close()
    preview = Preview.of(read_rows, errors)
    outcome.rows, outcome.flagged, outcome.errors = preview.rows, preview.flagged, preview.errors
    return outcome, preview
