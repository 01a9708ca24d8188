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
- **Concurrent, with back-pressure.** Cases start through ``start_workflow`` as the API starts them,
  ``concurrency`` at a time; the workflow projects itself into the read model, as any case does.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from config.settings import Settings
from config.temporal import workflow_id
from intake.reader import Preview, ScreeningRow
from models import store
from models.case import Actor, CaseStart, OpenCaseBody
from models.policy import DeadlinePolicy
from models.screening import Band, ScreeningRules
from workflows.case_workflow import CaseWorkflow

BAND_ZH = {Band.minimal: "无或极轻", Band.mild: "轻度", Band.moderate: "中度", Band.moderately_severe: "中重度",
           Band.severe: "重度", Band.negative: "阴性", Band.positive: "阳性", Band.acute_positive: "急性阳性"}
OUTCOME_ZH = {"opened": "已建个案", "annotated": "记入在办个案", "watch": "列入关注名单", "none": "未见异常"}
INSTRUMENT_ZH = {"phq9": "PHQ-9 抑郁筛查", "gad7": "GAD-7 焦虑筛查", "asq": "ASQ 自杀风险筛查"}


@dataclass
class Outcome:
    rows: int = 0
    flagged: int = 0
    opened: int = 0
    annotated: int = 0
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
            "rules_version": rules.version, "flags": row.flags.model_dump(mode="json"), "items": s.items,
            "case_id": case_id, "outcome": outcome, "recorded_at": now}


async def run_import(engine: Engine, client: Client, settings: Settings, policy: DeadlinePolicy,
                     rules: ScreeningRules, preview: Preview, school_id: str, batch: str, actor: Actor,
                     concurrency: int = 32, progress: Callable[[], None] | None = None) -> Outcome:
    """Record every readable row and open the flagged students' cases (see the module's rules)."""
    now = datetime.now(UTC)
    outcome = Outcome(rows=preview.rows, flagged=preview.flagged, errors=preview.errors)
    by_student: dict[str, list[ScreeningRow]] = defaultdict(list)
    for row in preview.read:
        by_student[row.student.ref].append(row)
    opening = {ref: rows for ref, rows in by_student.items() if any(r.flags.opens_case for r in rows)}
    quiet = [r for ref, rows in by_student.items() if ref not in opening for r in rows]
    done = await asyncio.to_thread(store.screened_students, engine, school_id, batch)  # an earlier run's
    opening = {ref: rows for ref, rows in opening.items() if ref not in done}
    already = await asyncio.to_thread(store.open_cases_by_ref, engine, school_id, set(opening))
    # the quiet results go into the archive while the cases start
    writes = [asyncio.create_task(asyncio.to_thread(lambda: store.record_screening(engine, [
        _result(r, school_id, batch, rules, None, "watch" if r.flags.watch else "none", now) for r in quiet])))]
    gate = asyncio.Semaphore(concurrency)
    pending: list[dict] = []  # results of cases started, recorded a round of starts at a time

    def record(rows: list[dict]) -> None:
        pending.extend(rows)
        if len(pending) >= concurrency:
            writes.append(asyncio.create_task(asyncio.to_thread(store.record_screening, engine, pending[:])))
            pending.clear()

    async def open_one(ref: str, rows: list[ScreeningRow]) -> None:
        ours = case_id_for(school_id, batch, ref)
        theirs = already.get(ref)
        async with gate:
            if theirs is not None and theirs != ours:  # one student, one case: this result goes with it
                record([_result(r, school_id, batch, rules, theirs, "annotated", now) for r in rows])
                outcome.annotated += 1
            else:
                flagged = [r for r in rows if r.flags.opens_case]
                body = OpenCaseBody(
                    student=rows[0].student,
                    risk_factors=list(dict.fromkeys(f for r in flagged for f in r.flags.risk_factors)),
                    warning_signals=list(dict.fromkeys(w for r in flagged for w in r.flags.warning_signals)),
                    summary=summary_of(rows, batch, rules))
                start = CaseStart(case_id=ours, opened_by=actor, case=body, policy=policy,
                                  history_event_limit=settings.history_event_limit)
                try:
                    await client.start_workflow(
                        CaseWorkflow.run, start, id=workflow_id(ours), task_queue=settings.task_queue,
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
                except WorkflowAlreadyStartedError:
                    pass  # opened by an earlier run of this batch, and closed since
                # recorded only once started: a kill in between leaves the student to the next run
                record([_result(r, school_id, batch, rules, ours, "opened", now) for r in rows])
                outcome.opened += 1
        if progress:
            progress()

    try:
        await asyncio.gather(*(open_one(ref, rows) for ref, rows in opening.items()))
    finally:
        if pending:
            writes.append(asyncio.create_task(asyncio.to_thread(store.record_screening, engine, pending[:])))
        await asyncio.gather(*writes)
    return outcome
