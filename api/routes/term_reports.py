"""A school's report to its education authority, once a term: the figures (counted now, masked under 5) and,
once a leader has sent it, its document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from api.deps import ActorDep, DoorDep, EngineDep
from db import directory, store, term_report
from models.domain import StaffRole
from models.term_report import TermFigures, term_document_id

router = APIRouter(tags=["supervision"])


class TermReportView(BaseModel):
    figures: TermFigures
    reportable: bool  # from the term's last day on
    document_id: str | None  # the report as sent, when it was


class SendTerm(BaseModel):
    term: str = Field(max_length=40, description="the term's name, as the school's policy gives it")


def school_of(actor, engine, school: str | None) -> str:
    """The school whose reports the caller reads: an authority names one it oversees; the school's own else."""
    if actor.role in (StaffRole.edu_authority, StaffRole.auditor):
        overseen = (directory.authority_schools(engine, actor.school_id)
                    if actor.role is StaffRole.edu_authority else None)
        if school is None:
            raise HTTPException(422, [{"type": "missing", "loc": ["query", "school"], "input": None,
                                       "msg": "school: required, the school whose reports to read"}])
        if overseen is not None and school not in overseen:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"school {school} is not one your authority oversees")
        return school
    if school is not None and school != actor.school_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "these reports belong to another school")
    return actor.school_id


def reports_of(engine, school_id: str, terms, now: datetime) -> list[TermReportView]:
    today = now.astimezone(term_report.BEIJING).date()
    return [TermReportView(figures=term_report.figures(engine, school_id, term, now), reportable=term.reportable(today),
                           document_id=doc if store.get_document(engine, doc := term_document_id(school_id, term))
                           else None)
            for term in terms if term.start <= today]


@router.get("/term-reports", response_model=list[TermReportView])
async def term_reports(actor: ActorDep, engine: EngineDep, door: DoorDep,
                       school: Annotated[str | None, Query(max_length=64, description="an authority: which of its "
                                                                                      "schools")] = None
                       ) -> list[TermReportView]:
    """Each term begun so far: its figures (anonymised: counts under 5 as "<5") and the report, once sent."""
    return reports_of(engine, school_of(actor, engine, school), door.policy.terms, datetime.now(UTC))


@router.post("/term-reports", response_model=TermReportView)
async def send_term_report(body: SendTerm, actor: ActorDep, engine: EngineDep, door: DoorDep) -> TermReportView:
    """A leader sends the term's report to the school's authority (from its last day on, once); the authority's
    people are told."""
    document_id = await door.send_term_report(body.term, actor.actor())
    views = reports_of(engine, actor.school_id, door.policy.terms, datetime.now(UTC))
    return next(v for v in views if v.document_id == document_id)
