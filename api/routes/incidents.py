"""Extreme events and their review reports; the reports an education authority reads."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, status

from api.access import sees_identity
from api.deps import ActorDep, DoorDep, EngineDep
from db import directory, store
from db.tables import IncidentRow
from models.case import DocumentView
from models.domain import AUTHORITY_READS, StaffRole
from models.errors import NotFound
from models.incident import (
    FactsBody,
    GroupBody,
    IncidentBody,
    IncidentView,
    ReviewReport,
)

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
    view = IncidentView.model_validate(row, from_attributes=True)
    hidden = {} if full else {"place": None, "summary": None, "report": None, "investigation": None}
    return view.model_copy(update={"missing_sections": view.report.missing(), **hidden})


def _stored(engine, incident_id: str, principal) -> IncidentView:
    row = store.get_incident(engine, incident_id)
    if row is None:
        raise NotFound("incident", incident_id)
    return view_of(row, principal)


@router.post("/incidents", status_code=status.HTTP_201_CREATED, response_model=IncidentView)
async def record_incident(body: IncidentBody, actor: ActorDep, engine: EngineDep, door: DoorDep) -> IncidentView:
    """Record an extreme event: its review report is due ``review_report_within`` (14 days) after it."""
    return _stored(engine, await door.record_incident(body, actor.actor()), actor)


@router.get("/incidents", response_model=list[IncidentView])
async def list_incidents(actor: ActorDep, engine: EngineDep) -> list[IncidentView]:
    """The extreme events of your school (an authority: of the schools it oversees), newest first."""
    schools = schools_of(engine, actor)
    rows = store.incidents(engine, schools if schools is not None else set(store.all_schools(engine)))
    return [view_of(r, actor) for r in rows]


@router.get("/incidents/{incident_id}", response_model=IncidentView)
async def get_incident(incident_id: str, actor: ActorDep, engine: EngineDep) -> IncidentView:
    return _stored(engine, incident_id, actor)


@router.put("/incidents/{incident_id}/group", response_model=IncidentView)
async def form_group(incident_id: str, group: GroupBody, actor: ActorDep, engine: EngineDep,
                     door: DoorDep) -> IncidentView:
    """The education authority forms the investigation group with the police and experts (its own people by
    directory id; the police and experts by name and organisation). Again, to change it."""
    await door.form_group(incident_id, group, actor.actor())
    return _stored(engine, incident_id, actor)


@router.put("/incidents/{incident_id}/facts", response_model=IncidentView)
async def provide_facts(incident_id: str, facts: FactsBody, actor: ActorDep, engine: EngineDep,
                        door: DoorDep) -> IncidentView:
    """The school's account of the facts for the group: what happened, what the school knew and did."""
    await door.provide_facts(incident_id, facts, actor.actor())
    return _stored(engine, incident_id, actor)


@router.put("/incidents/{incident_id}/report", response_model=IncidentView)
async def save_report(incident_id: str, report: ReviewReport, actor: ActorDep, engine: EngineDep,
                      door: DoorDep) -> IncidentView:
    """Save the review report as a draft (any section may still be empty): the investigation group's members."""
    await door.save_report(incident_id, report, actor.actor())
    return _stored(engine, incident_id, actor)


@router.post("/incidents/{incident_id}/submit", response_model=IncidentView)
async def submit_report(incident_id: str, actor: ActorDep, engine: EngineDep, door: DoorDep) -> IncidentView:
    """Submit the saved report: refused (422, naming each problem) under 3,000 characters or with a
    section missing; on success it is typeset and sent to the province."""
    await door.submit_report(incident_id, actor.actor())
    return _stored(engine, incident_id, actor)


@router.get("/reports", response_model=list[DocumentView])
async def authority_reports(actor: ActorDep, engine: EngineDep) -> list[DocumentView]:
    """Reports to the education authority and extreme-event reviews: an authority's, of the schools it
    oversees; a leadership group's, of its school."""
    schools = schools_of(engine, actor)
    kinds = {k.value for k in AUTHORITY_READS}
    return store.authority_documents(engine, schools if schools is not None else set(store.all_schools(engine)),
                                     kinds)
