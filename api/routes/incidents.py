"""Extreme events and their review reports; the reports an education authority reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, HTTPException, Request, status
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from api.access import sees_identity
from api.deps import ActorDep, ClientDep, EngineDep, PolicyDep, SettingsDep
from api.errors import unprocessable
from db import directory, store
from db.tables import IncidentRow
from models.case import DocumentView
from models.domain import AUTHORITY_READS, StaffRole
from models.incident import (
    IncidentBody,
    IncidentStart,
    IncidentView,
    ReportDraft,
    ReportSubmission,
    ReviewReport,
    report_problems,
)
from workflows.case_workflow import FORBIDDEN, INVALID, REFUSED
from workflows.incident_workflow import IncidentReviewWorkflow, incident_workflow_id

router = APIRouter(tags=["extreme events"])
log = structlog.get_logger(__name__)


def schools_of(engine, principal) -> set[str] | None:
    """The schools a caller reads: an authority's overseen schools, a school's own; None: every school."""
    if principal.role is StaffRole.auditor:
        return None
    if principal.role is StaffRole.edu_authority:
        return directory.authority_schools(engine, principal.school_id)
    return {principal.school_id}


def view_of(row: IncidentRow, principal) -> IncidentView:
    """The incident as this caller may see it: the narrative and the report for those who see identity
    and for the authority, which the report is for."""
    full = sees_identity(principal) or principal.role is StaffRole.edu_authority
    report = ReviewReport.model_validate(row.report)
    return IncidentView(
        incident_id=row.incident_id, school_id=row.school_id, case_id=row.case_id, kind=row.kind,
        occurred_at=row.occurred_at, place=row.place if full else None, summary=row.summary if full else None,
        recorded_by=row.recorded_by, recorded_at=row.recorded_at, due_at=row.due_at, state=row.state,
        escalation_level=row.escalation_level, report=report if full else None, report_chars=row.report_chars,
        missing_sections=report.missing(), submitted_at=row.submitted_at, submitted_by=row.submitted_by,
        document_id=row.document_id,
    )


def _stored(engine, incident_id: str, principal) -> IncidentView:
    row = store.get_incident(engine, incident_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"incident {incident_id} not found")
    return view_of(row, principal)


@router.post("/incidents", status_code=status.HTTP_201_CREATED, response_model=IncidentView)
async def record_incident(request: Request, body: IncidentBody, actor: ActorDep, engine: EngineDep,
                          client: ClientDep, settings: SettingsDep, policy: PolicyDep) -> IncidentView:
    """Record an extreme event: its review report is due ``review_report_within`` (14 days) after it."""
    now = datetime.now(UTC)
    if body.occurred_at > now:
        raise unprocessable("body", "occurred_at", "must not lie in the future")
    if body.case_id is not None and store.case_school(engine, body.case_id) != actor.school_id:
        raise unprocessable("body", "case_id", "not a case of your school")
    incident_id = uuid.uuid4().hex
    structlog.contextvars.bind_contextvars(incident_id=incident_id)
    start = IncidentStart(incident_id=incident_id, school_id=actor.school_id, recorded_by=actor.actor(),
                          recorded_at=now, event=body, policy=policy)
    handle = await client.start_workflow(IncidentReviewWorkflow.run, start, id=incident_workflow_id(incident_id),
                                         task_queue=settings.task_queue)
    # the workflow mirrors the incident first thing; wait for it (a second at most, normally)
    for _ in range(200):
        if store.get_incident(engine, incident_id) is not None:
            break
        await handle.query(IncidentReviewWorkflow.view)
    log.info("incident recorded", kind=body.kind.value)
    return _stored(engine, incident_id, actor)


@router.get("/incidents", response_model=list[IncidentView])
async def list_incidents(actor: ActorDep, engine: EngineDep) -> list[IncidentView]:
    """The extreme events of your school (an authority: of the schools it oversees), newest first."""
    schools = schools_of(engine, actor)
    rows = store.incidents(engine, schools if schools is not None else set(store.all_schools(engine)))
    return [view_of(r, actor) for r in rows]


@router.get("/incidents/{incident_id}", response_model=IncidentView)
async def get_incident(incident_id: str, actor: ActorDep, engine: EngineDep) -> IncidentView:
    return _stored(engine, incident_id, actor)


async def _update(client, incident_id: str, update, argument) -> None:
    handle = client.get_workflow_handle(incident_workflow_id(incident_id))
    try:
        await handle.execute_update(update, argument)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == REFUSED:
            raise HTTPException(status.HTTP_409_CONFLICT, {"detail": cause.message, "state": "submitted",
                                                           "allowed_actions": []}) from None
        if isinstance(cause, ApplicationError) and cause.type == INVALID:
            problems = (cause.details[0] if cause.details else {}).get("problems", [])
            raise _problems(problems) from None
        if isinstance(cause, ApplicationError) and cause.type == FORBIDDEN:
            raise HTTPException(status.HTTP_403_FORBIDDEN, cause.message) from None
        raise


def _problems(problems: list) -> HTTPException:
    return HTTPException(422, [{"type": "value_error", "loc": ["body", *field.split(".")], "msg": f"{field}: {why}",
                                "input": None} for field, why in problems])


@router.put("/incidents/{incident_id}/report", response_model=IncidentView)
async def save_report(incident_id: str, report: ReviewReport, actor: ActorDep, engine: EngineDep,
                      client: ClientDep) -> IncidentView:
    """Save the review report as a draft (any section may still be empty)."""
    await _update(client, incident_id, IncidentReviewWorkflow.save_draft, ReportDraft(actor=actor.actor(),
                                                                                        report=report))
    return _stored(engine, incident_id, actor)


@router.post("/incidents/{incident_id}/submit", response_model=IncidentView)
async def submit_report(incident_id: str, actor: ActorDep, engine: EngineDep, client: ClientDep) -> IncidentView:
    """Submit the saved report: refused (422, naming each problem) under 3,000 characters or with a
    section missing; on success it is typeset and sent to the authority and the province."""
    row = store.get_incident(engine, incident_id)
    if row is not None and row.state == "open":
        problems = report_problems(ReviewReport.model_validate(row.report))
        if problems:
            raise _problems(problems)
    await _update(client, incident_id, IncidentReviewWorkflow.submit, ReportSubmission(actor=actor.actor()))
    return _stored(engine, incident_id, actor)


@router.get("/reports", response_model=list[DocumentView])
async def authority_reports(actor: ActorDep, engine: EngineDep) -> list[DocumentView]:
    """Reports to the education authority and extreme-event reviews: an authority's, of the schools it
    oversees; a leadership group's, of its school."""
    schools = schools_of(engine, actor)
    kinds = {k.value for k in AUTHORITY_READS}
    return store.authority_documents(engine, schools if schools is not None else set(store.all_schools(engine)),
                                     kinds)
