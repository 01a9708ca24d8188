"""Supervisors' and auditors' reads: the timeline, the export, replay."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, status
from fastapi.responses import Response
from temporalio.service import RPCError, RPCStatusCode

from api.deps import ClientDep, EngineDep, current_actor, require_role
from models import archive, store
from models.audit import ReplaySummary, Timeline
from models.case import Actor
from models.domain import SUPERVISOR_ROLES, StaffRole
from workflows import audit

router = APIRouter(tags=["audit"])

#: Who reads a case's whole story: the school's supervisors, and the authority's auditors.
HISTORY_READERS = SUPERVISOR_ROLES | {StaffRole.auditor}
AUDITORS = frozenset({StaffRole.auditor})


def _readable_case(engine, case_id: str, actor: Actor, roles: frozenset[StaffRole], what: str) -> None:
    require_role(actor, roles, what)
    school = store.case_school(engine, case_id)
    if school is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"case {case_id} not found")
    if actor.role is not StaffRole.auditor and school != actor.school_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this case belongs to another school")


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
async def case_history(case_id: str, actor: Annotated[Actor, Depends(current_actor)], engine: EngineDep, client: ClientDep) -> Timeline:
    """The case's whole story from its Temporal history: every action, timer, escalation, notice and document."""
    _readable_case(engine, case_id, actor, HISTORY_READERS, "read a case's history")
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
    actor: Annotated[Actor, Depends(current_actor)],
    engine: EngineDep,
    client: ClientDep,
    run: Annotated[int | None, Query(ge=1, description="which run, 1 = first; default the latest")] = None,
) -> Response:
    """One run of the case's history, payloads still encoded; ``X-Case-Runs`` counts the runs."""
    _readable_case(engine, case_id, actor, AUDITORS, "export a history")
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
    actor: Annotated[Actor, Depends(current_actor)],
    histories: Annotated[
        list[dict[str, Any]],
        Body(embed=True, description="histories as exported (ours or `temporal workflow show --output json`)"),
    ],
) -> ReplaySummary:
    """Replay histories against this code: deterministic or not, and what happened, by whom, under which policy."""
    require_role(actor, AUDITORS, "replay histories")
    if not histories:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "histories: give at least one")
    reports = []
    for i, raw in enumerate(histories):
        if not isinstance(raw.get("events"), list) or not raw["events"]:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"histories.{i}.events: a history needs its events")
        try:
            history = audit.load_history_dict(raw, f"histories.{i}")
        except (ValueError, KeyError) as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"histories.{i}: not a history: {exc}") from None
        reports.append(await audit.replay_one(history, f"histories.{i}"))
    return ReplaySummary(ok=all(r.deterministic for r in reports), reports=reports)
