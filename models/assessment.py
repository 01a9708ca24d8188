"""Risk scoring for the three assessment instruments.

ASQ (NIMH Ask Suicide-Screening Questions), the C-SSRS screener, and a
clinical judgement. A stated ``risk_level`` may raise an instrument's
result, never lower it (life first, 生命第一).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from models.domain import Instrument, RiskLevel
from models.validation import FieldError


class AssessmentError(FieldError):
    """The answers do not allow a risk level to be decided; names the field."""


class AsqAnswers(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    q1: bool
    q2: bool
    q3: bool
    q4: bool
    q5: bool | None = None  # asked only after a yes to q1-q4


class CssrsAnswers(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    q1: bool
    q2: bool
    q3: bool | None = None  # q3-q5 are asked only after a yes to q2
    q4: bool | None = None
    q5: bool | None = None
    q6: bool
    q6_within_3_months: bool | None = None


def _parse(model: type[BaseModel], answers: dict) -> BaseModel:
    try:
        return model.model_validate(answers)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        code = {"missing": "answer_missing", "extra_forbidden": "no_such_question"}.get(first["type"], "yes_or_no")
        raise AssessmentError(f"answers.{field}", first["msg"], code) from None


def score_asq(answers: dict, stated: RiskLevel | None) -> RiskLevel:
    asq = _parse(AsqAnswers, answers)
    if asq.q5:
        return RiskLevel.imminent  # acute positive
    if not (asq.q1 or asq.q2 or asq.q3 or asq.q4):
        return RiskLevel.low
    if asq.q5 is None:
        raise AssessmentError("answers.q5", "required after a yes to any of q1-q4", "answer_after_yes", after="q1-q4")
    if stated is None:
        raise AssessmentError(
            "risk_level",
            "required for a non-acute positive ASQ screen "
            "(the brief suicide safety assessment decides low, moderate or high)",
            "stated_needed_asq",
        )
    return stated


def score_cssrs(answers: dict) -> RiskLevel:
    c = _parse(CssrsAnswers, answers)
    if c.q2:
        for name in ("q3", "q4", "q5"):
            if getattr(c, name) is None:
                raise AssessmentError(f"answers.{name}", "required after a yes to q2", "answer_after_yes", after="q2")
    if c.q6 and c.q6_within_3_months is None:
        raise AssessmentError("answers.q6_within_3_months", "required after a yes to q6", "answer_after_yes",
                              after="q6")
    if c.q4 or c.q5 or (c.q6 and c.q6_within_3_months):
        return RiskLevel.high
    if c.q3 or c.q6:
        return RiskLevel.moderate
    return RiskLevel.low


def resolve_risk(
    instrument: Instrument, answers: dict, stated: RiskLevel | None, rationale: str | None
) -> RiskLevel:
    """The case's risk level after an assessment, or AssessmentError naming the field."""
    if instrument is Instrument.clinical:
        if stated is None:
            raise AssessmentError("risk_level", "required for a clinical assessment", "stated_needed_clinical")
        if not rationale:
            raise AssessmentError("rationale", "required for a clinical assessment", "rationale_needed_clinical")
        return stated
    result = score_asq(answers, stated) if instrument is Instrument.asq else score_cssrs(answers)
    if stated is not None and stated.rank < result.rank:
        raise AssessmentError(
            "risk_level",
            f"{stated.value} is below the {instrument.value} result "
            f"{result.value}; a stated level may raise the result, never lower it",
            "stated_below_result", stated=stated.value, result=result.value, instrument=instrument.value,
        )
    return RiskLevel.highest(result, stated)
