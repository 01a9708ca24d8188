"""Replaying histories against this code, with the worker's own sandbox (runs on the host).

A history whose recorded events were changed or removed no longer matches
the commands the code issues; the report names the first divergence in
plain words. One :class:`~temporalio.worker.Replayer` serves a whole batch.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

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
        try:
            reports.append(await _read(history, source, conv))
            readable.append((history, reports[-1]))
        except Exception as exc:  # noqa: BLE001 - an unreadable file is a finding, not a crash
            reports.append(ReplayReport(source=source, workflow_id=history.workflow_id, run_id=None,
                                        deterministic=False,
                                        divergence=f"the history cannot be read: {type(exc).__name__}: {exc}"))
    if not readable:
        return reports

    async def each():
        for history, _ in readable:
            yield history

    async with (using or replayer(conv)).workflow_replay_iterator(each()) as results:
        done = 0
        async for result in results:
            report = readable[done][1]
            report.deterministic = result.replay_failure is None
            if result.replay_failure is not None:
                report.divergence = plain_divergence(result.replay_failure)
            done += 1
    return reports


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
