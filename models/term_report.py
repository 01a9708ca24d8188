"""A school's report to its education authority, once a term: what the term's casework comes to, anonymised.

No name, no student number, no case reference: counts only, and every count under 5 printed as ``<5`` (a small
number can point at a child). The 90 % measure (high-risk students found and handled in time, the city's target
[seed 000, 郑州市…工作方案, 二]) is given with its counts, and as a share only where neither its handled nor
its not-handled part is under 5.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from models.policy import Term

#: The smallest count printed as a number.
SMALLEST_SHOWN = 5
#: The warning ladder's rungs, as the report counts them.
RUNGS = (1, 2, 3, 4)
#: Risk levels as the report groups them ("unassessed": opened and not yet assessed).
RISKS = ("imminent", "high", "moderate", "low", "unassessed")


def masked(count: int) -> str:
    return str(count) if count >= SMALLEST_SHOWN else f"<{SMALLEST_SHOWN}"


class TermFigures(BaseModel):
    """The term's numbers, as printed: strings, each under 5 masked."""

    model_config = ConfigDict(extra="forbid")

    school_id: str
    term: Term
    as_of: datetime
    opened: dict[str, str]  # by risk level
    closed: dict[str, str]  # by risk level
    opened_total: str
    closed_total: str
    in_time_handled: str  # high-risk cases handled in time
    in_time_decided: str  # high-risk cases whose measure is decided
    in_time_share: str | None  # "93.3%", or None where a part of it is under 5
    refusals: str  # refusals of medical care (including refusals in fact)
    reported: str  # refusal reports sent to the authority
    overdue: dict[int, str]  # duties whose warning reached each rung (the highest)
    screened_students: str
    screening_batches: str


class TermReportRequest(BaseModel):
    """``TermReportWorkflow``'s input: the school, the term, and the leader who sends its report."""

    model_config = ConfigDict(extra="forbid")

    school_id: str
    term: Term
    sent_by: str
    sent_by_role: str
    sent_at: datetime


def term_document_id(school_id: str, term: Term) -> str:
    return f"term-{school_id}-{term.start:%Y%m%d}"


def term_of(terms: tuple[Term, ...], name: str) -> Term | None:
    return next((t for t in terms if t.name == name), None)
