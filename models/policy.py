"""The deadline policy: versioned, overridable, copied into each case.

Defaults are ours (docs/domain.md, "Our numbers"). The seeds
say "promptly" (及时) without numbers; the figures are ours and therefore
configurable (``CRISISFLOW_POLICY_FILE`` or ``crisisflow dev --policy``).
A case copies the policy in force when it opens and never re-reads it.
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from models.domain import RiskLevel

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(value: object) -> timedelta:
    """Parse "24h", "20s", "1d12h", "90m" (or seconds as a number)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError("a duration is a string such as '24h' or '20s'")
    text = value.strip().lower()
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f"{value!r} is not a duration such as '24h', '20s' or '1d12h'")
    if total <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return timedelta(seconds=total)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]


class Term(BaseModel):
    """A school term (学期), by its dates (Beijing time, both days included): a school reports once a term."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=40)]
    start: date
    end: date

    def reportable(self, today: date) -> bool:
        """May the term's report go? From its last day on."""
        return today >= self.end


#: The school year the default policy knows (the school's choice: a school writes its own terms in its policy).
DEFAULT_TERMS = (Term(name="2026—2027学年第一学期", start=date(2026, 9, 1), end=date(2027, 1, 24)),
                 Term(name="2026—2027学年第二学期", start=date(2027, 2, 22), end=date(2027, 7, 11)))


class DeadlinePolicy(BaseModel):
    """How long each obligation may take; ``escalation_step`` is the pace of the ladder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field("2026.1-default", description="the policy's name, recorded in every case it applies to")
    assess_within_warning: Duration = Field(timedelta(hours=24), description="the assessment, after a warning signal")
    assess_within_risk_only: Duration = Field(timedelta(hours=72),
                                              description="the assessment, after risk factors only")
    assess_within_screening: Duration = Field(timedelta(hours=24),
                                              description="the assessment, after a screening flag (PHQ-9 item 9, "
                                                          "ASQ positive)")
    guardian_notice_within: Duration = Field(timedelta(hours=2), description="the guardian notice after a high "
                                             "assessment (every case before risk-pace-2026-12)")
    guardian_notice_within_imminent: Duration = Field(timedelta(hours=1),
                                                      description="the guardian notice after an imminent assessment")
    guardian_notice_within_referred: Duration = Field(timedelta(minutes=15), description="the guardian notice "
                                                      "once an urgent referral went first")
    intervene_within_imminent: Duration = Field(timedelta(hours=4), description="the plan, at imminent risk")
    intervene_within_high: Duration = Field(timedelta(hours=24), description="the plan, at high risk")
    intervene_within_moderate: Duration = Field(timedelta(hours=72), description="the plan, at moderate risk")
    guardian_answer_within: Duration = Field(timedelta(hours=72), description="the guardian's answer to a referral")
    report_within: Duration = Field(timedelta(hours=24), description="the report to the authority after a refusal")
    escalation_step: Duration = Field(timedelta(hours=12), description="the ladder's step before the assessment "
                                      "(every case before risk-pace-2026-12), and for the watch list")
    escalation_step_imminent: Duration = Field(timedelta(hours=1), description="the ladder's step, imminent risk")
    escalation_step_high: Duration = Field(timedelta(hours=4), description="the ladder's step, high risk")
    escalation_step_moderate: Duration = Field(timedelta(hours=12), description="the ladder's step, moderate risk")
    escalation_step_low: Duration = Field(timedelta(hours=24), description="the ladder's step, low risk")
    review_every_high: Duration = Field(timedelta(days=7), description="follow-up reviews, high and imminent risk")
    review_every_moderate: Duration = Field(timedelta(days=14), description="follow-up reviews, moderate risk")
    reassess_within: Duration = Field(timedelta(hours=72), description="a reassessment after a worse review or a "
                                      "reopening")
    terms: tuple[Term, ...] = Field(DEFAULT_TERMS, description="the school's terms (its choice of dates): the "
                                    "report to the authority goes once a term, from the term's last day")
    refusal_report: Literal["confirmed", "automatic"] = Field(
        "confirmed", description="the school's choice: a leader confirms and sends the refusal report within "
        "report_within (confirmed), or it goes to the authority at once (automatic)")
    reassess_after_event_within: Duration = Field(
        timedelta(hours=1), description="the school's choice for 'at once': a reassessment after an extreme event "
        "concerning the student")
    return_meeting_within: Duration = Field(timedelta(hours=72), description="the return-to-school meeting after a "
                                            "discharge")
    reopen_within: Duration = Field(timedelta(days=180), description="how long after closing a case may be reopened")
    seek_care_within_high: Duration = Field(timedelta(hours=72), description="what the guardian notice asks of the "
                                            "family, high risk")
    seek_care_within_imminent: Duration = Field(timedelta(hours=12), description="what the guardian notice asks of "
                                                "the family, imminent risk")
    review_report_within: Duration = Field(timedelta(days=14), description="an extreme event's review report")
    emergency_response_within: Duration = Field(timedelta(minutes=30), description="the emergency response after "
                                                "an imminent assessment")
    watch_review_every: Duration = Field(timedelta(days=30), description="the review of a student on the watch list")
    leadership_told_of_openings: Literal["each", "daily_digest"] = Field(
        "each", description="how leadership hears of new cases: each at once, or those with risk factors only in a "
        "daily digest")
    digest_at: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = Field(
        "17:00", description="when the daily digest goes out, Beijing time")
    attendance_followup_within: Duration = Field(timedelta(days=3), description="a referral not attended, before it "
                                                 "is deemed a refusal")
    guardian_callback_within: Duration = Field(timedelta(hours=24), description="calling the guardian back after "
                                               "they asked for it through the notice's answer link")
    help_look_within: Duration = Field(timedelta(hours=2), description="a psychology teacher looks at a student's or "
                                       "parent's help request")
    help_escalation_step: Duration = Field(timedelta(hours=1), description="the help request's ladder: the "
                                           "psychology teachers again at the deadline, leadership a step later")

    def review_every(self, risk: RiskLevel | None) -> timedelta | None:
        """Follow-up reviews while the case is open: moderate risk and above."""
        return {
            RiskLevel.imminent: self.review_every_high,
            RiskLevel.high: self.review_every_high,
            RiskLevel.moderate: self.review_every_moderate,
        }.get(risk)

    def seek_care_within(self, risk: RiskLevel | None) -> timedelta:
        """How soon the guardian notice asks the family to see a hospital."""
        return self.seek_care_within_imminent if risk is RiskLevel.imminent else self.seek_care_within_high

    def escalation_step_for(self, risk: RiskLevel | None) -> timedelta:
        """The ladder's pace for a case at this risk: an imminent duty unmet reaches the leadership
        group (rung 4) three steps after it fell due. Before the assessment: ``escalation_step``."""
        return {
            RiskLevel.imminent: self.escalation_step_imminent,
            RiskLevel.high: self.escalation_step_high,
            RiskLevel.moderate: self.escalation_step_moderate,
            RiskLevel.low: self.escalation_step_low,
        }.get(risk, self.escalation_step)

    def guardian_notice_for(self, risk: RiskLevel | None) -> timedelta:
        """How soon the guardian is told after a high or imminent assessment."""
        return self.guardian_notice_within_imminent if risk is RiskLevel.imminent else self.guardian_notice_within

    def intervene_within(self, risk: RiskLevel) -> timedelta | None:
        return {
            RiskLevel.imminent: self.intervene_within_imminent,
            RiskLevel.high: self.intervene_within_high,
            RiskLevel.moderate: self.intervene_within_moderate,
        }.get(risk)


def policy_markdown() -> str:
    """Every key of the policy, its default and what it is, for docs/domain.md (a test keeps the two equal)."""
    defaults = DeadlinePolicy().model_dump(mode="json")
    lines = ["| key | default (the school's choice) | what it times |", "|---|---|---|"]
    lines += [f"| `{name}` | {defaults[name]} | {field.description} |"
              for name, field in DeadlinePolicy.model_fields.items()]
    return "\n".join(lines)


class PolicyFileError(ValueError):
    pass


def rehearsal(policy: DeadlinePolicy, speed: int) -> DeadlinePolicy:
    """The policy run ``speed`` times faster, for a school to rehearse the warning ladder on demonstration
    cases (``crisisflow dev --rehearsal``): every duration divided by ``speed`` (a second at least), the
    version naming the rehearsal. Never a school's policy: its cases say which policy they ran under."""
    faster = {name: max(timedelta(seconds=1), timedelta(seconds=round(value.total_seconds() / speed)))
              for name, value in policy if isinstance(value, timedelta)}
    return policy.model_copy(update={**faster, "version": f"{policy.version}-rehearsal-x{speed}"})


def load_policy(path: str | Path | None) -> DeadlinePolicy:
    """The defaults, overridden key by key by a JSON or TOML file."""
    if path is None:
        return DeadlinePolicy()
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise PolicyFileError(f"cannot read policy file {file}: {exc.strerror}") from exc
    kind = "TOML" if file.suffix.lower() == ".toml" else "JSON"
    try:
        if kind == "TOML":
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PolicyFileError(f"policy file {file} is not valid {kind}: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyFileError(f"policy file {file} must hold a table of keys")
    if "version" not in data:
        raise PolicyFileError(f"policy file {file} must set 'version' so cases can name the policy they ran under")
    try:
        return DeadlinePolicy.model_validate(data)
    except ValueError as exc:
        raise PolicyFileError(f"policy file {file}: {exc}") from exc
