"""Supervisors' and auditors' reads: the timeline, the export, replay, the access log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, status
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import ActorDep, ClientDep, EngineDep
from api.errors import MAX_OFFSET, unprocessable
from audit import access_log, history
from audit.access_log import AccessEntry
from models.domain import StaffRole
from models.timeline import ReplaySummary, Timeline
from workflows import replay as replaying

router = APIRouter(tags=["audit"])


class AccessLogPage(BaseModel):
    items: list[AccessEntry]
    total: int
    limit: int
    offset: int


async def _runs(client, engine, case_id: str):
    try:
        return await history.case_runs(client, engine, case_id)
    except history.HistoryGone as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.get("/cases/{case_id}/history", response_model=Timeline)
async def case_history(case_id: str, engine: EngineDep, client: ClientDep) -> Timeline:
    """The case's whole story from its Temporal history: every action, timer, escalation, notice and document."""
    try:
        return await history.case_timeline(client, engine, case_id)
    except history.HistoryGone as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


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
    histories = await _runs(client, engine, case_id)
    if run is not None and run > len(histories):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"run: case {case_id} has {len(histories)} run(s)")
    chosen = histories[(run or len(histories)) - 1]
    return Response(
        content=history.export_json(chosen),
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
    loaded = []
    for i, raw in enumerate(histories):
        if not isinstance(raw.get("events"), list) or not raw["events"]:
            raise unprocessable("body", f"histories.{i}.events", "a history needs its events")
        try:
            loaded.append((history.load_history_dict(raw, f"histories.{i}"), f"histories.{i}"))
        except (ValueError, KeyError) as exc:
            raise unprocessable("body", f"histories.{i}", f"not a history: {exc}") from None
    reports = await replaying.replay_all(loaded, client.data_converter)
    return ReplaySummary(ok=all(r.deterministic for r in reports), reports=reports)


@router.get("/audit/access-log", response_model=AccessLogPage)
async def read_access_log(
    actor: ActorDep,
    engine: EngineDep,
    case_id: Annotated[
        str | None, Query(max_length=64, description="one case's entries; required for leadership")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> AccessLogPage:
    """Who read or acted on what, newest first: auditors across schools, leadership for their own school's cases."""
    if case_id is None and actor.role is not StaffRole.auditor:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "case_id: leadership reads the access log one case of their school at a time"
        )
    total, items = access_log.entries(engine, case_id, limit, offset)
    return AccessLogPage(items=items, total=total, limit=limit, offset=offset)
