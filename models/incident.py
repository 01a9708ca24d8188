"""Extreme events (极端事件) and their investigation review report (个案调查复盘报告).

After each student mental-health extreme event, a review report of at least 3,000 characters,
complete, analytical and with concrete measures, is due at the provincial education department
within two weeks [docs/domain.md, Extreme events]. The report has six required sections.

Whose work is whose [seed 000, 重点事项清单, 一 5]: the education authority forms the investigation group
(调查工作小组) with the police and experts, investigates and writes the review; the school records the event
and gives the group its account of the facts (``FactsBody``), with the case's history where one is linked.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from models.case import Actor, AwareDatetime, Code, Deadline, ShortText, Strict, Text
from models.domain import StaffRole
from models.errors import Invalid
from models.policy import DeadlinePolicy
from models.validation import FieldError, clean_text

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


class ExternalMember(Strict):
    """A member of the group from outside the authority: a police officer or an expert, by name."""

    name: ShortText
    organisation: ShortText  # 某市公安局某分局, 某市精神卫生中心
    kind: Literal["police", "expert"]


class GroupBody(Strict):
    """``PUT /incidents/{id}/group``: the investigation group, formed by the authority with the police and experts
    (联合公安部门和有关专家建立…调查工作小组): its own people (directory ids) and its external members."""

    members: Annotated[list[Code], Field(min_length=1, max_length=20)]
    external: Annotated[list[ExternalMember], Field(max_length=20)]

    @model_validator(mode="after")
    def _police_and_experts(self) -> "GroupBody":
        kinds = {m.kind for m in self.external}
        if kinds != {"police", "expert"}:
            raise FieldError("external", "the group is formed with the police and experts: name at least one of "
                             "each", "group_needs_police_and_expert")
        if len(set(self.members)) != len(self.members):
            raise FieldError("members", "a person is named twice", "member_twice")
        return self


class InvestigationGroup(GroupBody):
    formed_by: Actor
    formed_at: datetime


class GroupForming(Strict):
    actor: Actor
    group: GroupBody


class FactsBody(Strict):
    """``PUT /incidents/{id}/facts``: the school's account for the group: what happened, what the school knew
    and did (the linked case's record is the group's to read besides)."""

    account: Text


class SchoolAccount(FactsBody):
    by: Actor
    at: datetime


class FactsSubmission(Strict):
    actor: Actor
    facts: FactsBody


class IncidentStart(Strict):
    incident_id: str
    school_id: Code
    recorded_by: Actor
    recorded_at: datetime
    event: IncidentBody
    policy: DeadlinePolicy
    #: the authorities whose people investigate (the local authorities over the school, from the directory)
    investigators: list[str] = []


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
    #: AUTHORITY (workflows/incident_workflow.py): the authority investigates and writes; before it, the school
    by_authority: bool = False
    investigators: list[str] = []
    group: InvestigationGroup | None = None
    school_account: SchoolAccount | None = None


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


class Investigation(BaseModel):
    """The investigation's side of the read model (sealed at rest): who investigates, the group, the school's
    account."""

    by_authority: bool = False
    investigators: list[str] = []
    group: InvestigationGroup | None = None
    school_account: SchoolAccount | None = None


class IncidentView(IncidentFields, Strict):
    investigation: Investigation | None = None
    kind: IncidentKind
    occurred_at: datetime
    place: str | None
    summary: str | None
    recorded_at: datetime
    due_at: datetime
    report: ReviewReport | None
    missing_sections: list[str] = []
    submitted_at: datetime | None


#: Who investigates and writes the review (AUTHORITY): the education authority's people.
INVESTIGATORS = frozenset({StaffRole.edu_authority})


def investigates(study: IncidentData | Investigation, role: StaffRole, authority_id: str | None) -> bool:
    """Is this person one of the authority's people who investigate the event (AUTHORITY)? The workflow's rule,
    and what the pages offer."""
    return study.by_authority and role in INVESTIGATORS and authority_id in study.investigators


def in_group(study: IncidentData | Investigation, staff_id: str) -> bool:
    """Is this person a member of the investigation group (who writes the review)?"""
    return study.group is not None and staff_id in study.group.members


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
