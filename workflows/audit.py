"""Reading a case's Temporal history: the supervisor's timeline and the auditor's replay.

Temporal's event history is the record. Everything here decodes it through
the project's data converter (``models.temporal.data_converter``: pydantic
JSON, AES-GCM encrypted with the keyring), so a reader needs the keyring;
histories recorded before encryption decode as they are.
"""

from __future__ import annotations

import json
import re
from datetime import UTC
from pathlib import Path

from temporalio import converter as temporal_converter
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from models.audit import ReplayReport, Timeline, TimelineEntry, Transition
from models.case import ActionCommand, CaseStart, CaseView, DocumentRequest, NotificationRequest
from models.domain import CaseState, NotificationEvent
from models.temporal import workflow_id
from workflows import search_attributes as sa
from workflows.case import SYSTEM, CaseWorkflow

E = EventType
_ESCALATIONS = {NotificationEvent.deadline_missed, NotificationEvent.deadline_escalated}
_ACTIVITY_INPUT = {"notify": NotificationRequest, "render_document": DocumentRequest}


async def _decode(conv: DataConverter, payloads, hint: type):
    if not payloads.payloads:
        return None
    return (await conv.decode(list(payloads.payloads), [hint]))[0]


def _search_attribute(event, key) -> str | None:
    field = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    if key.name not in field:
        return None
    return temporal_converter.default().payload_converter.from_payload(field[key.name])


async def timeline_entries(histories: list[WorkflowHistory], conv: DataConverter) -> list[TimelineEntry]:
    """Turn one or more consecutive runs of a case into a supervisor's timeline."""
    entries: list[TimelineEntry] = []
    state: CaseState | None = None
    updates: dict[str, tuple[TimelineEntry, ActionCommand]] = {}
    scheduled: dict[int, tuple[str, object]] = {}
    for history in histories:
        run_id = history.run_id
        for event in history.events:
            at = event.event_time.ToDatetime(tzinfo=UTC)

            def add(kind: str, **fields) -> TimelineEntry:
                entry = TimelineEntry(at=at, kind=kind, run_id=run_id, **fields)
                entries.append(entry)
                return entry

            kind = event.event_type
            if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                start: CaseStart = await _decode(
                    conv, event.workflow_execution_started_event_attributes.input, CaseStart
                )
                if start.carried is None:
                    state = CaseState.identified
                    add("opened", actor=start.opened_by.staff_id, role=start.opened_by.role.value,
                        action="open", to_state=state, note=f"policy {start.policy.version}")
                else:
                    state = start.carried.state
            elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                attrs = event.workflow_execution_update_accepted_event_attributes
                if attrs.accepted_request.input.name != "act":
                    continue
                command: ActionCommand = await _decode(conv, attrs.accepted_request.input.args, ActionCommand)
                entry = add("action_accepted", actor=command.actor.staff_id, role=command.actor.role.value,
                            action=command.body.action, from_state=state)
                updates[attrs.accepted_request.meta.update_id] = (entry, command)
            elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
                attrs = event.workflow_execution_update_completed_event_attributes
                found = updates.get(attrs.meta.update_id)
                if found and attrs.outcome.HasField("success"):
                    entry, command = found
                    view: CaseView = await _decode(conv, attrs.outcome.success, CaseView)
                    mine = [e for e in view.events if e.action == command.body.action and e.actor == command.actor.staff_id]
                    if mine:
                        entry.from_state, entry.to_state = mine[-1].from_state, mine[-1].to_state
            elif kind == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
                new = _search_attribute(event, sa.CASE_STATE)
                if new and new != state:
                    add("reported" if new == CaseState.reported else "state_change",
                        actor=SYSTEM if new == CaseState.reported else None,
                        action="report" if new == CaseState.reported else None,
                        from_state=state, to_state=new)
                    state = CaseState(new)
            elif kind == E.EVENT_TYPE_TIMER_FIRED:
                add("timer_fired", note=f"timer {event.timer_fired_event_attributes.timer_id}")
            elif kind == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = event.activity_task_scheduled_event_attributes
                hint = _ACTIVITY_INPUT.get(attrs.activity_type.name)
                if hint is None:
                    continue
                request = await _decode(conv, attrs.input, hint)
                scheduled[event.event_id] = (attrs.activity_type.name, request)
                if isinstance(request, NotificationRequest) and request.event in _ESCALATIONS:
                    add("escalation", actor=SYSTEM, obligation=request.obligation.value, due_at=request.due_at,
                        escalation_level=request.escalation_level,
                        note="notify " + ", ".join(r.value for r in request.recipient_roles))
            elif kind == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                found = scheduled.get(event.activity_task_completed_event_attributes.scheduled_event_id)
                if found is None:
                    continue
                name, request = found
                if name == "notify":
                    add("notification_sent", note=f"{request.event.value} to "
                        + ", ".join(r.value for r in request.recipient_roles),
                        obligation=request.obligation.value if request.obligation else None,
                        due_at=request.due_at, escalation_level=request.escalation_level or None)
                else:
                    add("document_made", note=f"{request.kind.value} {request.document_id}")
            elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                add("continued_as_new",
                    note=f"new run {event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id}")
            elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                add("closed", from_state=state, to_state=CaseState.closed)
    return entries


def transitions(entries: list[TimelineEntry]) -> list[Transition]:
    """The state machine's steps, as an auditor reads them."""
    return [
        Transition(at=e.at, action=e.action, actor=e.actor, role=e.role, from_state=e.from_state, to_state=e.to_state)
        for e in entries
        if e.kind in ("opened", "action_accepted", "reported")
    ]


async def case_histories(client: Client, case_id: str) -> list[WorkflowHistory]:
    """Every run of a case, oldest first (continue-as-new makes several)."""
    handle = client.get_workflow_handle(workflow_id(case_id))
    latest = await handle.fetch_history()
    runs = [latest]
    while True:
        first = runs[0].events[0].workflow_execution_started_event_attributes
        previous = first.continued_execution_run_id
        if not previous:
            return runs
        runs.insert(0, await client.get_workflow_handle(workflow_id(case_id), run_id=previous).fetch_history())


async def case_timeline(client: Client, case_id: str) -> Timeline:
    histories = await case_histories(client, case_id)
    entries = await timeline_entries(histories, client.data_converter)
    return Timeline(case_id=case_id, runs=[h.run_id for h in histories], entries=entries)


# ------------------------------------------------------------------ export and replay


def export_json(history: WorkflowHistory) -> str:
    """The history as ``temporal workflow show --output json`` writes it; payloads stay encoded."""
    return history.to_json()


def load_history(text: str, source: str = "history") -> WorkflowHistory:
    """Read an exported history (ours or the Temporal CLI's)."""
    return load_history_dict(json.loads(text), source)


def load_history_dict(data: dict, source: str = "history") -> WorkflowHistory:
    events = data.get("events") or []
    wf_id = source
    if events:
        started = events[0].get("workflowExecutionStartedEventAttributes", {})
        wf_id = started.get("workflowId") or data.get("workflowId") or source
    return WorkflowHistory.from_json(wf_id, data)


_DIVERGENCE = re.compile(r"(Nondeterminism error:.*?)(?:\"|\\\"|\)|$)", re.S)


def plain_divergence(failure: BaseException) -> str:
    text = str(failure)
    match = _DIVERGENCE.search(text)
    message = match.group(1) if match else text
    return " ".join(message.replace("\\n", " ").split())[:600]


def replayer(conv: DataConverter) -> Replayer:
    from worker import workflow_runner

    return Replayer(workflows=[CaseWorkflow], data_converter=conv, workflow_runner=workflow_runner())


async def replay_one(history: WorkflowHistory, source: str, conv: DataConverter) -> ReplayReport:
    report = ReplayReport(source=source, workflow_id=history.workflow_id, run_id=None, deterministic=False)
    try:
        start: CaseStart = await _decode(conv, history.events[0].workflow_execution_started_event_attributes.input, CaseStart)
        report.policy_version = start.policy.version
        report.workflow_code_version = (start.carried.workflow_code_version if start.carried else None) or "1"
        report.transitions = transitions(await timeline_entries([history], conv))
    except Exception as exc:  # noqa: BLE001 - an unreadable file is a finding, not a crash
        report.divergence = f"the history cannot be read: {type(exc).__name__}: {exc}"
        return report
    result = await replayer(conv).replay_workflow(history, raise_on_replay_failure=False)
    report.deterministic = result.replay_failure is None
    if result.replay_failure is not None:
        report.divergence = plain_divergence(result.replay_failure)
    return report


async def replay_files(paths: list[Path], conv: DataConverter) -> list[ReplayReport]:
    reports = []
    for path in paths:
        try:
            history = load_history(path.read_text(), path.stem)
        except (OSError, ValueError, KeyError) as exc:
            reports.append(ReplayReport(source=str(path), workflow_id=path.stem, run_id=None, deterministic=False,
                                        divergence=f"not a readable history: {exc}"))
            continue
        reports.append(await replay_one(history, str(path), conv))
    return reports


async def replay_closed_since(client: Client, since) -> list[ReplayReport]:
    """Replay every case closed on the server since ``since`` (each run)."""
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    query = (
        f'WorkflowType = "CaseWorkflow" AND ExecutionStatus = "Completed" '
        f'AND CloseTime >= "{since.isoformat()}"'
    )
    reports = []
    async for execution in client.list_workflows(query):
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        reports.append(await replay_one(history, f"{execution.id} run {execution.run_id}", client.data_converter))
    return reports
