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
from datetime import timedelta
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


class DeadlinePolicy(BaseModel):
    """How long each obligation may take; ``escalation_step`` is the pace of the ladder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = "2026.1-default"
    assess_within_warning: Duration = timedelta(hours=24)
    assess_within_risk_only: Duration = timedelta(hours=72)
    assess_within_screening: Duration = timedelta(hours=24)  # a screening flag (PHQ-9 item 9, ASQ positive)
    guardian_notice_within: Duration = timedelta(hours=2)  # high risk (and every case before risk-pace)
    guardian_notice_within_imminent: Duration = timedelta(hours=1)
    guardian_notice_within_referred: Duration = timedelta(minutes=15)  # referred before the guardian was told
    intervene_within_imminent: Duration = timedelta(hours=4)
    intervene_within_high: Duration = timedelta(hours=24)
    intervene_within_moderate: Duration = timedelta(hours=72)
    guardian_answer_within: Duration = timedelta(hours=72)
    report_within: Duration = timedelta(hours=24)
    escalation_step: Duration = timedelta(hours=12)  # before the assessment (and every case before risk-pace)
    escalation_step_imminent: Duration = timedelta(hours=1)
    escalation_step_high: Duration = timedelta(hours=4)
    escalation_step_moderate: Duration = timedelta(hours=12)
    escalation_step_low: Duration = timedelta(hours=24)
    review_every_high: Duration = timedelta(days=7)  # high and imminent
    review_every_moderate: Duration = timedelta(days=14)
    reassess_within: Duration = timedelta(hours=72)  # after a worse review, or a reopening
    return_meeting_within: Duration = timedelta(hours=72)  # after a hospital discharge
    reopen_within: Duration = timedelta(days=180)
    seek_care_within_high: Duration = timedelta(hours=72)  # what the guardian notice asks of the family
    seek_care_within_imminent: Duration = timedelta(hours=12)
    review_report_within: Duration = timedelta(days=14)  # an extreme event's review report, to the province
    emergency_response_within: Duration = timedelta(minutes=30)  # the emergency plan, after an imminent assessment
    watch_review_every: Duration = timedelta(days=30)  # a student on the watch list (重点关注), reviewed
    #: how leadership hears of new cases (the school's choice): each at once, or those with risk factors only
    #: (no warning signal, no screening flag) in a daily digest at ``digest_at`` Beijing time (models/digest.py)
    leadership_told_of_openings: Literal["each", "daily_digest"] = "each"
    digest_at: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = "17:00"
    attendance_followup_within: Duration = timedelta(days=3)  # a referral not attended, before it is deemed refused

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


class PolicyFileError(ValueError):
    pass


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
