"""The watch list (重点关注): the students kept in sight without an open case, and their owner's review."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api.access import sees_identity
from api.deps import ActorDep, DoorDep, EngineDep
from db import directory, store
from models.watch import WatchReview, WatchReviewBody, WatchView

router = APIRouter(tags=["watch list"])


@router.get("/watchlist", response_model=list[WatchView])
async def watchlist(actor: ActorDep, engine: EngineDep) -> list[WatchView]:
    """The students of your school on the watch list, scoped like cases (a head teacher's classes, a grade
    head's grades), the soonest review first; names for the roles that see them."""
    now = datetime.now(UTC)
    classes = directory.visible_classes(engine, actor.staff_id, actor.role)
    return store.watchlist(engine, actor.school_id, classes, now, names=sees_identity(actor))


@router.post("/watchlist/{watch_id}/review", response_model=WatchView)
async def review(watch_id: str, body: WatchReviewBody, actor: ActorDep, engine: EngineDep,
                 door: DoorDep) -> WatchView:
    """Review a watch-listed student: keep them on the list (the next review due) or release them."""
    data = await door.review_watch(watch_id, WatchReview(actor=actor.actor(), body=body))
    deadline = data.deadline
    due = deadline.due_at if deadline and deadline.met_at is None else None
    return WatchView(watch_id=data.watch_id, student_ref=data.student.ref,
                     name=data.student.name if sees_identity(actor) else None, grade=data.student.grade,
                     class_name=data.student.class_name, reasons=list(dict.fromkeys(r.reason for r in data.reasons)),
                     owner=data.owner, review_due_at=due, escalation_level=deadline.escalation_level if due else 0,
                     overdue=due is not None and due <= datetime.now(UTC), state=data.state)
