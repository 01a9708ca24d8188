"""Replaying histories against this code, with the worker's own sandbox (runs on the host).

A history whose recorded events were changed or removed no longer matches
the commands the code issues; the report names the first divergence in
plain words. One :class:`~temporalio.worker.Replayer` serves a whole batch.

An auditor's tool must answer for every file. A history with a stretch of
events cut out (a tampered or truncated export) can break the SDK's replay
poller, which then waits for ever; so each history's structure is checked
first (``malformed``: event ids in sequence, every workflow task that started
ended before anything else happened, every reference to an earlier event
pointing at one), and such a file is reported ``malformed``, naming the first
bad event, without being replayed. The replay itself runs on a thread of its
own and is bounded in time (``REPLAY_SECONDS`` without progress): a history
that still stalls it is reported malformed, and the rest of the batch goes on
with a fresh replayer.
"""

from __future__ import annotations

import asyncio
import queue
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from audit.history import load_history, timeline_entries, transitions
from models.case import CaseStart
from models.incident import IncidentStart
from models.timeline import ReplayReport
from workflows.archiver import ArchiverWorkflow
from workflows.case_workflow import CaseWorkflow
from workflows.incident_workflow import IncidentReviewWorkflow
from workflows.sandbox import workflow_runner

_DIVERGENCE = re.compile(r"(Nondeterminism error:.*?)(?:\"|\\\"|\)|$)", re.S)


def plain_divergence(failure: BaseException) -> str:
    text = str(failure)
    match = _DIVERGENCE.search(text)
    message = match.group(1) if match else text
    return " ".join(message.replace("\\n", " ").split())[:600]


#: how long a replay may go without finishing a history before that history is called malformed
REPLAY_SECONDS = 60.0
#: what a workflow task that started may be followed by (else the history was cut or changed)
_ENDS_A_TASK = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
}
#: the attribute fields that name an earlier event of the same history
_REFERENCES = ("scheduled_event_id", "started_event_id", "workflow_task_completed_event_id",
               "initiated_event_id", "accepted_event_id")


def malformed(history: WorkflowHistory) -> str | None:
    """What is structurally wrong with a history, naming the first bad event; None when it is sound."""
    events = history.events
    if not events or events[0].event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        return "event 1 is not the workflow's start"
    kinds: dict[int, int] = {}
    for n, event in enumerate(events, start=1):
        if event.event_id != n:
            return f"event {event.event_id} stands where event {n} belongs: events are missing or out of order"
        kinds[event.event_id] = event.event_type
        previous = events[n - 2] if n > 1 else None
        if (previous is not None and previous.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
                and event.event_type not in _ENDS_A_TASK):
            return (f"event {n} ({EventType.Name(event.event_type)}) follows a workflow task that started "
                    f"(event {n - 1}) and did not end")
        attributes = event.WhichOneof("attributes")
        if attributes is None:
            continue
        fields = getattr(event, attributes)
        for name in _REFERENCES:
            if name in fields.DESCRIPTOR.fields_by_name and (target := getattr(fields, name)) and target not in kinds:
                return (f"event {n} ({EventType.Name(event.event_type)}) refers to event {target}, "
                        "which is not before it")
    return None


def replayer(conv: DataConverter) -> Replayer:
    return Replayer(workflows=[CaseWorkflow, ArchiverWorkflow, IncidentReviewWorkflow], data_converter=conv,
                    workflow_runner=workflow_runner())


async def _read(history: WorkflowHistory, source: str, conv: DataConverter) -> ReplayReport:
    """What the history says (its policy, code version and transitions), before it is replayed."""
    report = ReplayReport(source=source, workflow_id=history.workflow_id, run_id=None, deterministic=False)
    started = history.events[0].workflow_execution_started_event_attributes
    payloads = list(started.input.payloads)
    if started.workflow_type.name == IncidentReviewWorkflow.__name__:  # an extreme event's review
        incident: IncidentStart = (await conv.decode(payloads, [IncidentStart]))[0]
        report.policy_version = incident.policy.version
    else:
        start: CaseStart = (await conv.decode(payloads, [CaseStart]))[0]
        report.policy_version = start.policy.version
        report.workflow_code_version = (start.carried.workflow_code_version if start.carried else None) or "1"
        report.transitions = transitions(await timeline_entries([history], conv))
    return report


async def replay_one(history: WorkflowHistory, source: str, conv: DataConverter,
                     using: Replayer | None = None) -> ReplayReport:
    return (await replay_all([(history, source)], conv, using))[0]


async def replay_all(histories: list[tuple[WorkflowHistory, str]], conv: DataConverter,
                     using: Replayer | None = None) -> list[ReplayReport]:
    """Replay ``(history, source)`` pairs, in order, through one replay worker (the SDK's batch
    replay); a history that cannot be read is reported as such and not replayed."""
    reports, readable = [], []
    for history, source in histories:
        if (wrong := malformed(history)) is not None:
            reports.append(ReplayReport(source=source, workflow_id=history.workflow_id, run_id=None,
                                        deterministic=False, malformed=True, divergence=f"malformed: {wrong}"))
            continue
        try:
            reports.append(await _read(history, source, conv))
            readable.append((history, reports[-1]))
        except Exception as exc:  # noqa: BLE001 - an unreadable file is a finding, not a crash
            reports.append(ReplayReport(source=source, workflow_id=history.workflow_id, run_id=None,
                                        deterministic=False,
                                        divergence=f"the history cannot be read: {type(exc).__name__}: {exc}"))
    while readable:
        results: queue.Queue = queue.Queue()
        threading.Thread(target=_replay_on_thread, args=([h for h, _ in readable], conv, using, results),
                         daemon=True, name="crisisflow-replay").start()
        using = None  # a stalled replayer is left behind; the rest of the batch gets a fresh one
        done = 0
        while done < len(readable):
            try:
                outcome = await asyncio.to_thread(results.get, timeout=REPLAY_SECONDS)
            except queue.Empty:
                break
            if isinstance(outcome, BaseException):
                break
            report = readable[done][1]
            report.deterministic = outcome.replay_failure is None
            if outcome.replay_failure is not None:
                report.divergence = plain_divergence(outcome.replay_failure)
            done += 1
        if done < len(readable):  # the replay stalled or failed on this history: malformed; go on with the rest
            report = readable[done][1]
            report.malformed = True
            report.divergence = (f"malformed: the replay did not finish within {REPLAY_SECONDS:.0f} s "
                                 "(the history's events do not fit together)")
            done += 1
        readable = readable[done:]
    return reports


def _replay_on_thread(histories: list[WorkflowHistory], conv: DataConverter, using: Replayer | None,
                      results: queue.Queue) -> None:
    """Replay on a thread and event loop of its own, putting each result (or the error) on ``results``: if
    the SDK's replay never returns, the thread is abandoned and the caller goes on."""

    async def run() -> None:
        async def each():
            for history in histories:
                yield history

        async with (using or replayer(conv)).workflow_replay_iterator(each()) as replayed:
            async for result in replayed:
                results.put(result)

    try:
        asyncio.run(run())
    except BaseException as exc:  # noqa: BLE001 - handed to the caller, which reports the history
        results.put(exc)


async def replay_files(paths: list[Path], conv: DataConverter) -> list[ReplayReport]:
    """One report per file, in order; a file that is no history is reported as such."""
    loaded: list[tuple[WorkflowHistory, str] | ReplayReport] = []
    for path in paths:
        try:
            loaded.append((load_history(path.read_text(), path.stem), str(path)))
        except (OSError, ValueError, KeyError) as exc:
            loaded.append(ReplayReport(source=str(path), workflow_id=path.stem, run_id=None, deterministic=False,
                                       divergence=f"not a readable history: {exc}"))
    replayed = iter(await replay_all([item for item in loaded if isinstance(item, tuple)], conv))
    return [item if isinstance(item, ReplayReport) else next(replayed) for item in loaded]


async def replay_closed_since(client: Client, since: datetime) -> list[ReplayReport]:
    """Replay every case closed on the server since ``since`` (each run)."""
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    query = (
        f'WorkflowType = "CaseWorkflow" AND ExecutionStatus = "Completed" '
        f'AND CloseTime >= "{since.isoformat()}"'
    )
    histories = []
    async for execution in client.list_workflows(query):
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        histories.append((history, f"{execution.id} run {execution.run_id}"))
    return await replay_all(histories, client.data_converter)
