"""The supervisors' overdue and workload view."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import ActorDep, EngineDep
from db import directory
from db.dashboard import Dashboard, dashboard, in_reach
from models.domain import StaffRole

router = APIRouter(tags=["supervision"])


@router.get("/dashboard", response_model=Dashboard)
async def school_dashboard(
    actor: ActorDep,
    engine: EngineDep,
    school: Annotated[str | None, Query(max_length=64, description="an authority: which of its schools")] = None,
) -> Dashboard:
    """Counts by state and risk, every overdue obligation, time to assessment and intervention, the 90% target,
    and the messages not yet through. An education authority names one of the schools it oversees."""
    if actor.role is StaffRole.edu_authority:
        overseen = directory.authority_schools(engine, actor.school_id)
        if school is None:
            raise HTTPException(422, [{"type": "missing", "loc": ["query", "school"], "input": None,
                                       "msg": f"school: required; one of {', '.join(sorted(overseen)) or 'none'}"}])
        if school not in overseen:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"school {school} is not one your authority oversees")
        return dashboard(engine, school, datetime.now(UTC))
    if school is not None and school != actor.school_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this dashboard belongs to another school")
    return in_reach(dashboard(engine, actor.school_id, datetime.now(UTC)), engine, actor.staff_id,
                    directory.visible_classes(engine, actor.staff_id, actor.role))
