"""Screening instruments and their published scoring: PHQ-9 (the adolescent PHQ-A is scored the same),
GAD-7 and the ASQ. The annual screening (普查, 测评; seed 000: 学校心理防护工作制度 第七条) gives one
result per student and instrument.

- PHQ-9 (Kroenke, Spitzer & Williams 2001): nine items scored 0-3, total 0-27; 5, 10, 15 and 20 are
  the cut-offs of mild, moderate, moderately severe and severe depression. Item 9 (thoughts of being
  better off dead or of self-harm) answered 1 or more is read on its own, whatever the total.
- GAD-7 (Spitzer et al. 2006): seven items scored 0-3, total 0-21; 5, 10 and 15 are the cut-offs of
  mild, moderate and severe anxiety.
- ASQ (NIMH Ask Suicide-Screening Questions): a yes to any of questions 1-4 is a positive screen;
  with a yes to question 5 (thoughts of suicide now) an acute positive; all four no is negative.

What a result raises (a case with a screening reason, a warning signal or a risk factor, or the watch
list) is the versioned rules' to say. The built-in rules open a case on PHQ-9 item 9 and on a positive
ASQ as a screening reason of its own (筛查：PHQ-9 第9题阳性, 筛查：ASQ 阳性): a screening answer is
not a warning signal, which the policy defines as what a person heard or saw (seed 002 四 1).
The rules are ``ScreeningRules``, a file beside the deadline policy.

A row may carry the items, or only the total where the screening platform exported totals; a
total that disagrees with its items is refused, as is an item or total outside its range.
"""

from __future__ import annotations

import functools
import json
import tomllib
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.domain import RiskFactor, ScreeningFlag, WarningSignal


class ScreeningInstrument(StrEnum):
    phq9 = "phq9"
    gad7 = "gad7"
    asq = "asq"


class Band(StrEnum):
    """Where a total falls among the instrument's published cut-offs."""

    minimal = "minimal"
    mild = "mild"
    moderate = "moderate"
    moderately_severe = "moderately_severe"
    severe = "severe"
    negative = "negative"  # ASQ
    positive = "positive"  # ASQ: non-acute positive
    acute_positive = "acute_positive"  # ASQ


#: (lowest total of the band, band), highest first, per scored instrument.
CUT_OFFS: dict[ScreeningInstrument, list[tuple[int, Band]]] = {
    ScreeningInstrument.phq9: [(20, Band.severe), (15, Band.moderately_severe), (10, Band.moderate),
                               (5, Band.mild), (0, Band.minimal)],
    ScreeningInstrument.gad7: [(15, Band.severe), (10, Band.moderate), (5, Band.mild), (0, Band.minimal)],
}
ITEMS = {ScreeningInstrument.phq9: 9, ScreeningInstrument.gad7: 7, ScreeningInstrument.asq: 5}
ITEM_NAMES = {instrument: frozenset(f"q{i}" for i in range(1, n + 1)) for instrument, n in ITEMS.items()}
ITEM_MAX = 3


#: the instruments as a result file and its errors name them
_NAME = {ScreeningInstrument.phq9: "PHQ-9", ScreeningInstrument.gad7: "GAD-7", ScreeningInstrument.asq: "ASQ"}


class ScoringError(ValueError):
    """A result that cannot be scored: names the field (``q9``, ``total``) and says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}：{message}")
        self.field = field
        self.message = message


class Score(BaseModel):
    """One student's result on one instrument, scored."""

    model_config = ConfigDict(frozen=True)

    instrument: ScreeningInstrument
    total: int | None  # None for the ASQ
    band: Band
    items: dict[str, int] = {}
    #: PHQ-9 item 9 at 1 or more: thoughts of death or self-harm in the last two weeks
    self_harm_item: bool = False


def _band(instrument: ScreeningInstrument, total: int) -> Band:
    return next(band for low, band in CUT_OFFS[instrument] if total >= low)


def score(instrument: ScreeningInstrument, items: dict[str, int | None], total: int | None) -> Score:
    """Score a result from its items (``q1``…) or, where only that was exported, its total."""
    if instrument is ScreeningInstrument.asq:
        return _score_asq(items)
    count = ITEMS[instrument]
    given = {k: v for k, v in items.items() if v is not None}
    for name, value in given.items():
        if name not in ITEM_NAMES[instrument]:
            raise ScoringError(name, f"{_NAME[instrument]} 只有 q1 至 q{count} 题")
        if not 0 <= value <= ITEM_MAX:
            raise ScoringError(name, f"每题计 0 至 {ITEM_MAX} 分")
    if given and len(given) != count:
        missing = next(f"q{i}" for i in range(1, count + 1) if f"q{i}" not in given)
        raise ScoringError(missing, f"填写了各题得分时，{_NAME[instrument]} 的每一题都要填写")
    if given:
        summed = sum(given.values())
        if total is not None and total != summed:
            raise ScoringError("total", f"总分 {total} 与各题得分之和（{summed}）不符")
        total = summed
    if total is None:
        raise ScoringError("total", "请填写各题得分或总分")
    if not 0 <= total <= count * ITEM_MAX:
        raise ScoringError("total", f"{_NAME[instrument]} 总分应在 0 至 {count * ITEM_MAX} 之间")
    self_harm = instrument is ScreeningInstrument.phq9 and given.get("q9", 0) >= 1
    return Score(instrument=instrument, total=total, band=_band(instrument, total), items=given,
                 self_harm_item=self_harm)


def _score_asq(items: dict[str, int | None]) -> Score:
    given = {k: v for k, v in items.items() if v is not None}
    for name, value in given.items():
        if name not in ITEM_NAMES[ScreeningInstrument.asq]:
            raise ScoringError(name, "ASQ 只有 q1 至 q5 题")
        if value not in (0, 1):
            raise ScoringError(name, "ASQ 每题填 1（是）或 0（否）")
    for name in ("q1", "q2", "q3", "q4"):
        if name not in given:
            raise ScoringError(name, "q1 至 q4 题都要填写")
    if not any(given[f"q{i}"] for i in range(1, 5)):
        return Score(instrument=ScreeningInstrument.asq, total=None, band=Band.negative, items=given)
    if "q5" not in given:
        raise ScoringError("q5", "q1 至 q4 任一题回答“是”时，q5 必须填写")
    band = Band.acute_positive if given["q5"] else Band.positive
    return Score(instrument=ScreeningInstrument.asq, total=None, band=band, items=given)


# ---------------------------------------------------------------- the rules


#: Bands from least to most concern, per kind of instrument.
BAND_ORDER: dict[ScreeningInstrument, list[Band]] = {
    ScreeningInstrument.phq9: [Band.minimal, Band.mild, Band.moderate, Band.moderately_severe, Band.severe],
    ScreeningInstrument.gad7: [Band.minimal, Band.mild, Band.moderate, Band.severe],
    ScreeningInstrument.asq: [Band.negative, Band.positive, Band.acute_positive],
}


class FlagKind(StrEnum):
    #: a case opens with this screening reason: the assessment is due within ``assess_within_screening`` (24 h)
    screening = "screening"
    #: a case opens with this warning signal: the assessment is due within the warning deadline (24 h)
    warning_signal = "warning_signal"
    #: a case opens with this risk factor: the assessment is due within the risk-only deadline (72 h)
    risk_factor = "risk_factor"
    #: no case: the student goes on the watch list for the psychology teacher
    watch = "watch"


class FlagRule(BaseModel):
    """When a result raises a flag: its band at least ``min_band``, or (PHQ-9) item 9 at 1 or more."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    instrument: ScreeningInstrument
    min_band: Band | None = None
    self_harm_item: bool = False
    flag: FlagKind
    #: the warning signal or risk factor the case opens with (none for the watch list)
    reason: ScreeningFlag | WarningSignal | RiskFactor | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "FlagRule":
        if (self.min_band is None) == (not self.self_harm_item):
            raise ValueError(f"rule {self.id}: give either min_band or self_harm_item")
        if self.min_band is not None and self.min_band not in BAND_ORDER[self.instrument]:
            raise ValueError(f"rule {self.id}: {self.min_band.value} is not a band of {self.instrument.value}")
        if self.self_harm_item and self.instrument is not ScreeningInstrument.phq9:
            raise ValueError(f"rule {self.id}: self_harm_item is PHQ-9's item 9")
        wanted = {FlagKind.screening: ScreeningFlag, FlagKind.warning_signal: WarningSignal,
                  FlagKind.risk_factor: RiskFactor}.get(self.flag)
        if wanted is None and self.reason is not None:
            raise ValueError(f"rule {self.id}: the watch list takes no reason")
        if wanted is not None and not isinstance(self.reason, wanted):
            raise ValueError(f"rule {self.id}: a {self.flag.value} flag names one of {[m.value for m in wanted]}")
        return self

    def matches(self, result: Score) -> bool:
        if result.instrument is not self.instrument:
            return False
        if self.self_harm_item:
            return result.self_harm_item
        order = BAND_ORDER[self.instrument]
        return order.index(result.band) >= order.index(self.min_band)


class Flags(BaseModel):
    """What a result raises under the rules: the reasons a case opens with, or the watch list.
    Frozen: the rules hand the same instance to every result that raises the same."""

    model_config = ConfigDict(frozen=True)

    rules: list[str] = Field(default_factory=list)
    screening: list[ScreeningFlag] = Field(default_factory=list)
    warning_signals: list[WarningSignal] = Field(default_factory=list)
    risk_factors: list[RiskFactor] = Field(default_factory=list)
    watch: bool = False

    @property
    def opens_case(self) -> bool:
        return bool(self.screening or self.warning_signals or self.risk_factors)

    @property
    def flagged(self) -> bool:
        return self.opens_case or self.watch

    @functools.cached_property
    def as_json(self) -> dict:
        """As the archive records it; worked out once for every result that shares this instance."""
        return self.model_dump(mode="json")


class ScreeningRules(BaseModel):
    """The versioned rules from results to flags, kept beside the deadline policy
    (``CRISISFLOW_SCREENING_RULES_FILE``, JSON or TOML); a case records the version it was opened under."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field("screening-2026-12", min_length=1, max_length=64)
    rules: tuple[FlagRule, ...] = (
        FlagRule(id="phq9-item9", instrument=ScreeningInstrument.phq9, self_harm_item=True,
                 flag=FlagKind.screening, reason=ScreeningFlag.phq9_item9),
        FlagRule(id="asq-positive", instrument=ScreeningInstrument.asq, min_band=Band.positive,
                 flag=FlagKind.screening, reason=ScreeningFlag.asq_positive),
        FlagRule(id="phq9-severe", instrument=ScreeningInstrument.phq9, min_band=Band.severe,
                 flag=FlagKind.risk_factor, reason=RiskFactor.prolonged_low_mood),
        FlagRule(id="phq9-moderate", instrument=ScreeningInstrument.phq9, min_band=Band.moderate,
                 flag=FlagKind.watch),
        FlagRule(id="gad7-severe", instrument=ScreeningInstrument.gad7, min_band=Band.severe, flag=FlagKind.watch),
    )

    @functools.cached_property
    def raised(self) -> dict[tuple, Flags]:
        """What each (instrument, band, item 9) raises, worked out once: a city's file repeats a few
        dozen. (Not a field: equal rules stay equal, and a plain attribute is read at no cost.)"""
        return {}

    def flags(self, result: Score) -> Flags:
        key = (result.instrument, result.band, result.self_harm_item)  # all that ``FlagRule.matches`` reads
        found = self.raised.get(key)
        if found is None:
            found = self.raised[key] = self._flags(result)
        return found

    def _flags(self, result: Score) -> Flags:
        ids: list[str] = []
        screening: list[ScreeningFlag] = []
        signals: list[WarningSignal] = []
        factors: list[RiskFactor] = []
        watch = False
        for rule in self.rules:
            if not rule.matches(result):
                continue
            ids.append(rule.id)
            if rule.flag is FlagKind.screening and rule.reason not in screening:
                screening.append(rule.reason)
            elif rule.flag is FlagKind.warning_signal and rule.reason not in signals:
                signals.append(rule.reason)
            elif rule.flag is FlagKind.risk_factor and rule.reason not in factors:
                factors.append(rule.reason)
            elif rule.flag is FlagKind.watch:
                watch = True
        # a case is more than the watch list
        opens = bool(screening or signals or factors)
        return Flags(rules=ids, screening=screening, warning_signals=signals, risk_factors=factors,
                     watch=watch and not opens)


class RulesFileError(ValueError):
    pass


def load_rules(path: str | Path | None) -> ScreeningRules:
    """The built-in rules, or a JSON or TOML file's (which must name its version and list every rule)."""
    if path is None:
        return ScreeningRules()
    file = Path(path)
    try:
        raw = file.read_bytes()
        data = tomllib.loads(raw.decode("utf-8")) if file.suffix.lower() == ".toml" else json.loads(raw)
    except OSError as exc:
        raise RulesFileError(f"cannot read screening rules file {file}: {exc.strerror}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise RulesFileError(f"screening rules file {file} is not valid: {exc}") from exc
    if not isinstance(data, dict) or "version" not in data or "rules" not in data:
        raise RulesFileError(f"screening rules file {file} must set 'version' and list its 'rules'")
    try:
        return ScreeningRules.model_validate(data)
    except ValueError as exc:
        raise RulesFileError(f"screening rules file {file}: {exc}") from exc
