"""Extreme events (极端事件) and their investigation review report (个案调查复盘报告).

After each student mental-health extreme event, a review report of at least 3,000 characters,
complete, analytical and with concrete measures, is due at the provincial education department
within two weeks [docs/domain.md, Extreme events]. The report has six required sections.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from models.case import Actor, AwareDatetime, Code, Deadline, ShortText, Strict, Text
from models.errors import Invalid
from models.policy import DeadlinePolicy
from models.validation import clean_text

#: The fewest characters a submitted report has (whitespace not counted).
MIN_REPORT_CHARS = 3000
#: The sections a review report must have, in order, with their headings.
SECTIONS: dict[str, dict[str, str]] = {
    "background": {"zh-CN": "一、事件背景", "en": "1. Background"},
    "timeline": {"zh-CN": "二、事件经过", "en": "2. Timeline"},
    "causes": {"zh-CN": "三、原因分析", "en": "3. Analysis of causes"},
    "response": {"zh-CN": "四、学校处置情况", "en": "4. What the school did"},
    "lessons": {"zh-CN": "五、经验教训", "en": "5. Lessons"},
    "measures": {"zh-CN": "六、整改措施", "en": "6. Concrete measures"},
}

Section = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=20_000), AfterValidator(lambda v: clean_text(v) if v
                                                                                     else v)
]


class IncidentKind(StrEnum):
    suicide_death = "suicide_death"
    suicide_attempt = "suicide_attempt"
    self_harm_injury = "self_harm_injury"
    other = "other"


class IncidentBody(Strict):
    """``POST /api/v1/incidents``: what happened, when and where (the narrative is sealed at rest)."""

    case_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = None
    kind: IncidentKind
    occurred_at: AwareDatetime
    place: ShortText
    summary: Text


class ReviewReport(Strict):
    """The report's six sections; a draft may leave any empty."""

    background: Section = ""
    timeline: Section = ""
    causes: Section = ""
    response: Section = ""
    lessons: Section = ""
    measures: Section = ""

    def missing(self) -> list[str]:
        return [name for name in SECTIONS if not getattr(self, name)]

    def chars(self) -> int:
        return sum(len(re.sub(r"\s+", "", getattr(self, name))) for name in SECTIONS)


class IncidentStart(Strict):
    incident_id: str
    school_id: Code
    recorded_by: Actor
    recorded_at: datetime
    event: IncidentBody
    policy: DeadlinePolicy


class IncidentData(Strict):
    """The whole state of one extreme event's review; the workflow owns it, the database mirrors it."""

    incident_id: str
    school_id: str
    recorded_by: Actor
    recorded_at: datetime
    event: IncidentBody
    policy: DeadlinePolicy
    deadline: Deadline
    state: Literal["open", "submitted"] = "open"
    report: ReviewReport = ReviewReport()
    saved_by: str | None = None
    submitted_at: datetime | None = None
    submitted_by: Actor | None = None
    document_id: str | None = None
    seq: int = 0


class ReportDraft(Strict):
    """``PUT /incidents/{id}/report`` and the update behind it: who saves which sections."""

    actor: Actor
    report: ReviewReport


class ReportSubmission(Strict):
    actor: Actor


class IncidentFields(BaseModel):
    """What an incident's row (``db.tables.IncidentRow``) and its view share, declared once."""

    incident_id: str = Field(max_length=64)
    school_id: str = Field(max_length=64)
    case_id: str | None = Field(default=None, max_length=64)
    recorded_by: str = Field(max_length=64)
    state: str = Field(max_length=16)  # open, submitted
    escalation_level: int = 0
    report_chars: int = 0
    submitted_by: str | None = Field(default=None, max_length=64)
    document_id: str | None = Field(default=None, max_length=160)


class IncidentView(IncidentFields, Strict):
    kind: IncidentKind
    occurred_at: datetime
    place: str | None
    summary: str | None
    recorded_at: datetime
    due_at: datetime
    report: ReviewReport | None
    missing_sections: list[str] = []
    submitted_at: datetime | None


def report_problems(report: ReviewReport) -> list[tuple[str, str]]:
    """Why a report cannot be submitted yet, field by field (empty when it can)."""
    return [(problem.field, str(problem).split(": ", 1)[1]) for problem in report_errors(report)]


def report_errors(report: ReviewReport) -> list[Invalid]:
    """The same, as domain errors with their codes: an empty section, or too few characters."""
    problems = [Invalid(f"report.{name}", "section_empty", {}, f"report.{name}: required: the section is empty")
                for name in report.missing()]
    if report.chars() < MIN_REPORT_CHARS:
        problems.append(Invalid("report", "report_too_short", {"chars": report.chars(), "min": MIN_REPORT_CHARS},
                                f"report: {report.chars()} characters; a review report has at least "
                                f"{MIN_REPORT_CHARS}"))
    return problems
