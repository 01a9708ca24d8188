"""The school directory as the leadership group reads it: classes, and the people with their roles."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ActorDep, EngineDep
from db import directory
from models.directory import Directory

router = APIRouter(tags=["directory"])


@router.get("/directory", response_model=Directory)
async def school_directory(actor: ActorDep, engine: EngineDep) -> Directory:
    """Your school's classes and staff (empty when no directory was loaded: every role sees the school)."""
    return directory.of_school(engine, actor.school_id)
