"""The supervisors' overdue and workload view."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import EngineDep, require_role, school_staff
from models.case import Actor
from models.dashboard import Dashboard, dashboard
from models.domain import SUPERVISOR_ROLES

router = APIRouter(tags=["supervision"])

@router.get("/dashboard", response_model=Dashboard)
async def school_dashboard(actor: Annotated[Actor, Depends(school_staff)], engine: EngineDep) -> Dashboard:
    """Counts by state and risk, every overdue obligation, time to assessment and intervention, the 90% target."""
    require_role(actor, SUPERVISOR_ROLES, "see the school dashboard")
    return dashboard(engine, actor.school_id, datetime.now(UTC))
