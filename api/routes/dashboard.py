"""The supervisors' overdue and workload view."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api.deps import ActorDep, EngineDep
from models.dashboard import Dashboard, dashboard

router = APIRouter(tags=["supervision"])


@router.get("/dashboard", response_model=Dashboard)
async def school_dashboard(actor: ActorDep, engine: EngineDep) -> Dashboard:
    """Counts by state and risk, every overdue obligation, time to assessment and intervention, the 90% target."""
    return dashboard(engine, actor.school_id, datetime.now(UTC))
