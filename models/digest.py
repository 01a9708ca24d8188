"""The daily digest of new cases for the leadership group: a school may take the openings with risk factors
only (no warning signal, no screening flag) once a day, at ``digest_at`` Beijing time, rather than one by one
(``DeadlinePolicy.leadership_told_of_openings``, the school's choice). Every other opening is told at once.
``workflows/digest_workflow.py`` gathers a school's day and tells leadership, by case reference only.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from models.case import Strict

BEIJING = ZoneInfo("Asia/Shanghai")


class DigestStart(Strict):
    school_id: str
    day: str  # the Beijing date the digest goes out on (YYYY-MM-DD)
    send_at: datetime


class DigestRequest(Strict):
    """A case opened under the digest: the day's digest of its school, started or joined."""

    start: DigestStart
    case_id: str


def digest_of(school_id: str, opened_at: datetime, digest_at: str) -> DigestStart:
    """The digest an opening goes into: today's at ``digest_at`` Beijing time, or tomorrow's once that passed."""
    local = opened_at.astimezone(BEIJING)
    hour, minute = (int(part) for part in digest_at.split(":"))
    send = datetime.combine(local.date(), time(hour, minute), tzinfo=BEIJING)
    if local >= send:
        send += timedelta(days=1)
    return DigestStart(school_id=school_id, day=send.date().isoformat(), send_at=send)


def digest_workflow_id(start: DigestStart) -> str:
    return f"digest-{start.school_id}-{start.day}"
