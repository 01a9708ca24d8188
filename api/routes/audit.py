"""Supervisors' and auditors' reads: the timeline, the export, replay, the access log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, status
from fastapi.responses import Response
from pydantic import BaseModel
from temporalio.service import RPCError, RPCStatusCode

from api.deps import ActorDep, ClientDep, EngineDep
from api.errors import MAX_OFFSET, unprocessable
from models import access_log, archive
from models.access_log import AccessEntry
from models.audit import ReplaySummary, Timeline
from models.domain import StaffRole
from workflows import audit

router = APIRouter(tags=["audit"])


class AccessLogPage(BaseModel):
    items: list[AccessEntry]
    total: int
    limit: int
    offset: int


async def _histories(client, engine, case_id: str):
    """The case's runs from the server, or from the archive once retention removed them."""
    try:
        return await audit.case_histories(client, case_id)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    archived = [audit.load_history(row.history, row.workflow_id) for row in archive.case_histories(engine, case_id)]
    if not archived:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the history of case {case_id} is neither on the server nor archived")
    return archived


@router.get("/cases/{case_id}/history", response_model=Timeline)
async def case_history(case_id: str, engine: EngineDep, client: ClientDep) -> Timeline:
    """The case's whole story from its Temporal history: every action, timer, escalation, notice and document."""
    histories = await _histories(client, engine, case_id)
    entries = await audit.timeline_entries(histories, client.data_converter)
    return Timeline(case_id=case_id, runs=[h.run_id for h in histories], entries=entries)


@router.get(
    "/cases/{case_id}/history/export",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "as `temporal workflow show --output json`"}},
)
async def export_history(
    case_id: str,
    engine: EngineDep,
    client: ClientDep,
    run: Annotated[int | None, Query(ge=1, description="which run, 1 = first; default the latest")] = None,
) -> Response:
    """One run of the case's history, payloads still encoded; ``X-Case-Runs`` counts the runs."""
    histories = await _histories(client, engine, case_id)
    if run is not None and run > len(histories):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"run: case {case_id} has {len(histories)} run(s)")
    chosen = histories[(run or len(histories)) - 1]
    return Response(
        content=audit.export_json(chosen),
        media_type="application/json",
        headers={
            "X-Case-Runs": str(len(histories)),
            "Content-Disposition": f'attachment; filename="case-{case_id}-run{run or len(histories)}.json"',
        },
    )


@router.post("/audit/replay", response_model=ReplaySummary)
async def replay(
    client: ClientDep,
    histories: Annotated[
        list[dict[str, Any]],
        Body(embed=True, description="histories as exported (ours or `temporal workflow show --output json`)"),
    ],
) -> ReplaySummary:
    """Replay histories against this code: deterministic or not, and what happened, by whom, under which policy."""
    if not histories:
        raise unprocessable("body", "histories", "give at least one")
    reports = []
    for i, raw in enumerate(histories):
        if not isinstance(raw.get("events"), list) or not raw["events"]:
            raise unprocessable("body", f"histories.{i}.events", "a history needs its events")
        try:
            history = audit.load_history_dict(raw, f"histories.{i}")
        except (ValueError, KeyError) as exc:
            raise unprocessable("body", f"histories.{i}", f"not a history: {exc}") from None
        reports.append(await audit.replay_one(history, f"histories.{i}", client.data_converter))
    return ReplaySummary(ok=all(r.deterministic for r in reports), reports=reports)


@router.get("/audit/access-log", response_model=AccessLogPage)
async def read_access_log(
    actor: ActorDep,
    engine: EngineDep,
    case_id: Annotated[str | None, Query(max_length=64, description="one case's entries; required for leadership")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> AccessLogPage:
    """Who read or acted on what, newest first: auditors across schools, leadership for their own school's cases."""
    if case_id is None and actor.role is not StaffRole.auditor:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "case_id: leadership reads the access log one case of their school at a time")
    total, items = access_log.entries(engine, case_id, limit, offset)
    return AccessLogPage(items=items, total=total, limit=limit, offset=offset)
