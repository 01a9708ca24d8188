"""The watch list (重点学生, 重点关注): students kept in sight without an open case.

A student is put on it by the screening (a result the rules watch-list) or by the closure of their case with
follow-up advised. Each entry has an owner (a psychology teacher: the case's owner, or whoever imported the
screening) and a review date (``watch_review_every``, 30 days, the school's choice); a missed review climbs
the warning ladder like any duty. One entry per student of a school (``watch_id_for``): a second reason joins
the first. ``workflows/watch_workflow.py`` keeps it; ``GET /api/v1/watchlist`` lists it, scoped like cases.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from models.case import Actor, Deadline, Strict, Student, Text
from models.policy import DeadlinePolicy


class WatchReason(StrEnum):
    screening = "screening"  # the screening rules watch-list a result (PHQ-9 moderate, GAD-7 severe …)
    closed_with_follow_up = "closed_with_follow_up"  # the case closed; follow-up advised


WATCH_REASON_ZH = {
    WatchReason.screening: "心理普查结果需重点关注",
    WatchReason.closed_with_follow_up: "个案结案，建议继续跟踪关注",
}


def watch_id_for(school_id: str, student_ref: str) -> str:
    """A student's entry: the same id whatever put them on the list (no name or number in it)."""
    return hashlib.sha256(f"watch\x00{school_id}\x00{student_ref}".encode()).hexdigest()[:32]


def watch_workflow_id(watch_id: str) -> str:
    return f"watch-{watch_id}"


class WatchAdd(Strict):
    """One reason a student is on the list: what, from where (a screening batch, a case), who, and the
    owner it names (a psychology teacher's staff id; None: the school's psychology teachers)."""

    reason: WatchReason
    source: str = Field(max_length=100)
    by: str = Field(max_length=64)
    owner: str | None = Field(default=None, max_length=64)


class WatchRequest(Strict):
    """Put a student on the watch list (the screening import's, a closing case's)."""

    school_id: str
    student: Student
    policy: DeadlinePolicy
    addition: WatchAdd


class WatchStart(Strict):
    watch_id: str
    school_id: str
    student: Student
    policy: DeadlinePolicy


class WatchEntry(WatchAdd):
    at: datetime


class WatchReviewBody(Strict):
    """The owner's review: what was seen, and whether the student stays on the list."""

    observations: Text
    decision: Literal["keep", "release"]


class WatchReview(Strict):
    actor: Actor
    body: WatchReviewBody


class WatchReviewed(WatchReviewBody):
    by: str
    at: datetime


class WatchData(Strict):
    """One student's entry, as the workflow keeps it and the read model mirrors it."""

    watch_id: str
    school_id: str
    student: Student
    policy: DeadlinePolicy
    reasons: list[WatchEntry] = []
    owner: str | None = None
    deadline: Deadline | None = None
    reviews: list[WatchReviewed] = []
    state: Literal["watching", "released"] = "watching"
    seq: int = 0


class WatchView(Strict):
    """A line of the watch list (``GET /watchlist``): the student's name only for roles that see it."""

    watch_id: str
    student_ref: str
    name: str | None = None
    grade: str
    class_name: str
    reasons: list[WatchReason]
    owner: str | None
    review_due_at: datetime | None
    escalation_level: int
    overdue: bool
    state: str
