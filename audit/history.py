"""Reading a case's Temporal history on the client side: the supervisor's timeline, export, load.

Temporal's event history is the record. Everything here decodes it through
the project's data converter (``config.temporal.data_converter``: pydantic
JSON, AES-GCM encrypted with the keyring), so a reader needs the keyring;
histories recorded before encryption decode as they are. Once retention has
removed a closed case from the server, its runs come from the archive
(``audit/archive.py``): ``case_runs`` and ``case_timeline`` fall back to it.
"""

from __future__ import annotations

import json
from datetime import UTC

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine
from temporalio import converter as temporal_converter
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from audit import archive
from config.temporal import workflow_id
from models import search_attributes as sa
from models.case import (
    ActionCommand,
    CaseStart,
    CaseView,
    DeliveryBatch,
    DocumentRequest,
    NotificationRequest,
)
from models.domain import SYSTEM, Action, CaseState, NotificationEvent
from models.io import Io
from models.timeline import Timeline, TimelineEntry, Transition


class HistoryGone(LookupError):
    """The case's history is neither on the server nor in the archive."""


E = EventType
_ESCALATIONS = {NotificationEvent.deadline_missed, NotificationEvent.deadline_escalated}


class _StepNotices(BaseModel):
    """What the timeline reads of a step's projection (``StepRecord``): its notifications; the case
    snapshot beside them is not validated."""

    model_config = ConfigDict(extra="ignore")
    notifications: list[NotificationRequest] = []


_ACTIVITY_INPUT = {Io.notify.value: NotificationRequest, Io.render_document.value: DocumentRequest,
                   Io.project_step.value: _StepNotices, Io.deliver.value: DeliveryBatch}


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
    acting = False  # an action was accepted and its state not yet written (the change is the action's)
    requests: set[str] = set()  # the requests the case took (ActionCommand.request): a retry is not an action
    for history in histories:
        run_id = history.run_id
        for event in history.events:
            at = event.event_time.ToDatetime(tzinfo=UTC)

            def add(kind: str, at=at, run_id=run_id, **fields) -> TimelineEntry:
                entry = TimelineEntry(at=at, kind=kind, run_id=run_id, **fields)
                entries.append(entry)
                return entry

            kind = event.event_type
            if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                start: CaseStart = await _decode(
                    conv, event.workflow_execution_started_event_attributes.input, CaseStart
                )
                if start.carried is not None:
                    requests |= set(start.carried.requests)
                if start.reopen is not None and start.reopen.request is not None:
                    requests.add(start.reopen.request)
                if start.carried is None:
                    state = CaseState.identified
                    add("opened", actor=start.opened_by.staff_id, role=start.opened_by.role.value,
                        action=Action.open, to_state=state, note=f"policy {start.policy.version}")
                elif start.reopen is not None:  # a closed case taken up again, in a new run
                    add("action_accepted", actor=start.reopen.actor.staff_id, role=start.reopen.actor.role.value,
                        action=Action.reopen, from_state=start.carried.state, to_state=CaseState.assessed)
                    state = CaseState.assessed
                else:
                    state = start.carried.state
            elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                attrs = event.workflow_execution_update_accepted_event_attributes
                if attrs.accepted_request.input.name != "act":
                    continue
                command: ActionCommand = await _decode(conv, attrs.accepted_request.input.args, ActionCommand)
                if command.request is not None and command.request in requests:
                    add("request_repeated", actor=command.actor.staff_id, role=command.actor.role.value,
                        action=command.body.action, from_state=state, to_state=state)
                    continue
                if command.request is not None:
                    requests.add(command.request)
                entry = add("action_accepted", actor=command.actor.staff_id, role=command.actor.role.value,
                            action=command.body.action, from_state=state)
                updates[attrs.accepted_request.meta.update_id] = (entry, command)
                acting = True
            elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
                attrs = event.workflow_execution_update_completed_event_attributes
                found = updates.get(attrs.meta.update_id)
                if found and attrs.outcome.HasField("success"):
                    entry, command = found
                    view: CaseView = await _decode(conv, attrs.outcome.success, CaseView)
                    mine = [
                        e for e in view.events if e.action == command.body.action and e.actor == command.actor.staff_id
                    ]
                    if mine:
                        entry.from_state, entry.to_state = mine[-1].from_state, mine[-1].to_state
            elif kind == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
                new = _search_attribute(event, sa.CASE_STATE)
                by_action, acting = acting, False
                if new and new != state:
                    # the workflow's own steps, when no action made the change: the report (a leader's is an
                    # action, REPORT_CONFIRMED), and a refusal deemed
                    step = None if by_action else (Action.report if new == CaseState.reported else
                                                   Action.deemed_refusal if new == CaseState.parent_refused else None)
                    add(
                        {Action.report: "reported", Action.deemed_refusal: "deemed_refusal"}.get(step, "state_change"),
                        actor=SYSTEM if step else None,
                        action=step,
                        from_state=state,
                        to_state=new,
                    )
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
                # a notice of the ladder's climb: one notify each, or the step's projection carries them
                notices = request.notifications if isinstance(request, _StepNotices) else [request]
                for notice in notices:
                    if isinstance(notice, NotificationRequest) and notice.event in _ESCALATIONS:
                        add(
                            "escalation",
                            actor=SYSTEM,
                            obligation=notice.obligation.value,
                            due_at=notice.due_at,
                            escalation_level=notice.escalation_level,
                            note="notify " + ", ".join(r.value for r in notice.recipient_roles),
                        )
            elif kind == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                completed = event.activity_task_completed_event_attributes
                found = scheduled.get(completed.scheduled_event_id)
                if found is None:
                    continue
                name, request = found
                if name == Io.notify:
                    sent = [request]
                elif name == Io.deliver:
                    sent = request.notifications
                elif name == Io.project_step:  # recorded; those with nowhere else to go are done
                    to_send = set(await _decode(conv, completed.result, list[str]) or [])
                    sent = [n for n in request.notifications if n.notification_id not in to_send]
                else:
                    add("document_made", note=f"{request.kind.value} {request.document_id}")
                    continue
                for notice in sent:
                    add(
                        "notification_sent",
                        note=f"{notice.event.value} to " + ", ".join(r.value for r in notice.recipient_roles),
                        obligation=notice.obligation.value if notice.obligation else None,
                        due_at=notice.due_at,
                        escalation_level=notice.escalation_level or None,
                    )
            elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                add(
                    "continued_as_new",
                    note=f"new run {event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id}",
                )
            elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                add("closed", from_state=state, to_state=CaseState.closed)
    return entries


def transitions(entries: list[TimelineEntry]) -> list[Transition]:
    """The state machine's steps, as an auditor reads them."""
    return [
        Transition(at=e.at, action=e.action, actor=e.actor, role=e.role, from_state=e.from_state, to_state=e.to_state)
        for e in entries
        if e.kind in ("opened", "action_accepted", "reported", "deemed_refusal")
    ]


async def linked_runs(client: Client, case_id: str) -> list[WorkflowHistory]:
    """The latest run of a case and the runs it continued from (continue-as-new), oldest first."""
    wid = workflow_id(case_id)
    runs = [await client.get_workflow_handle(wid).fetch_history()]
    while True:
        previous = runs[0].events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not previous:
            return runs
        runs.insert(0, await client.get_workflow_handle(wid, run_id=previous).fetch_history())


async def case_histories(client: Client, case_id: str) -> list[WorkflowHistory]:
    """Every run of a case, oldest first: continue-as-new links runs; a reopening starts a new run of
    the same workflow id, found through the server's visibility."""
    wid = workflow_id(case_id)
    runs = await linked_runs(client, case_id)
    known = {run.run_id for run in runs}
    async for execution in client.list_workflows(f'WorkflowId = "{wid}"'):
        if execution.run_id not in known:
            runs.append(await client.get_workflow_handle(wid, run_id=execution.run_id).fetch_history())
            known.add(execution.run_id)
    return sorted(runs, key=lambda run: run.events[0].event_time.ToDatetime())


async def case_runs(client: Client, engine: Engine, case_id: str) -> list[WorkflowHistory]:
    """The case's runs from the server, or from the archive once retention removed them."""
    try:
        return await case_histories(client, case_id)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    archived = [load_history(row.history, row.workflow_id) for row in archive.case_histories(engine, case_id)]
    if not archived:
        raise HistoryGone(f"the history of case {case_id} is neither on the server nor archived")
    return archived


async def case_timeline(client: Client, engine: Engine, case_id: str) -> Timeline:
    """The one timeline of a case (API, CLI and pages), from the server or the archive."""
    histories = await case_runs(client, engine, case_id)
    entries = await timeline_entries(histories, client.data_converter)
    return Timeline(case_id=case_id, runs=[h.run_id for h in histories], entries=entries)


# ------------------------------------------------------------------ export and load


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
