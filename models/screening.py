"""Screening instruments and their published scoring: PHQ-9 (the adolescent PHQ-A is scored the same),
GAD-7 and the ASQ. The annual screening (普查, 测评; seed 000: 学校心理防护工作制度 第七条) gives one
result per student and instrument; what a result leads to (a case, the watch list) is the rules
file's to say, not this module's.

- PHQ-9 (Kroenke, Spitzer & Williams 2001): nine items scored 0-3, total 0-27; 5, 10, 15 and 20 are
  the cut-offs of mild, moderate, moderately severe and severe depression. Item 9 (thoughts of being
  better off dead or of self-harm) answered 1 or more is read on its own, whatever the total.
- GAD-7 (Spitzer et al. 2006): seven items scored 0-3, total 0-21; 5, 10 and 15 are the cut-offs of
  mild, moderate and severe anxiety.
- ASQ (NIMH Ask Suicide-Screening Questions): a yes to any of questions 1-4 is a positive screen;
  with a yes to question 5 (thoughts of suicide now) an acute positive; all four no is negative.

A row may carry the items, or only the total where the screening platform exported totals; a
total that disagrees with its items is refused, as is an item or total outside its range.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


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
ITEM_MAX = 3


class ScoringError(ValueError):
    """A result that cannot be scored: names the field (``q9``, ``total``) and says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
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
        if name not in {f"q{i}" for i in range(1, count + 1)}:
            raise ScoringError(name, f"{instrument.value} has items q1 to q{count}")
        if not 0 <= value <= ITEM_MAX:
            raise ScoringError(name, f"an item is scored 0 to {ITEM_MAX}")
    if given and len(given) != count:
        missing = next(f"q{i}" for i in range(1, count + 1) if f"q{i}" not in given)
        raise ScoringError(missing, f"every item of {instrument.value} is needed when items are given")
    if given:
        summed = sum(given.values())
        if total is not None and total != summed:
            raise ScoringError("total", f"{total} is not the sum of the items ({summed})")
        total = summed
    if total is None:
        raise ScoringError("total", "give the items or the total")
    if not 0 <= total <= count * ITEM_MAX:
        raise ScoringError("total", f"a {instrument.value} total lies between 0 and {count * ITEM_MAX}")
    self_harm = instrument is ScreeningInstrument.phq9 and given.get("q9", 0) >= 1
    return Score(instrument=instrument, total=total, band=_band(instrument, total), items=given,
                 self_harm_item=self_harm)


def _score_asq(items: dict[str, int | None]) -> Score:
    given = {k: v for k, v in items.items() if v is not None}
    for name, value in given.items():
        if name not in {"q1", "q2", "q3", "q4", "q5"}:
            raise ScoringError(name, "the ASQ has questions q1 to q5")
        if value not in (0, 1):
            raise ScoringError(name, "an ASQ answer is 1 (yes) or 0 (no)")
    for name in ("q1", "q2", "q3", "q4"):
        if name not in given:
            raise ScoringError(name, "questions q1 to q4 are all needed")
    if not any(given[f"q{i}"] for i in range(1, 5)):
        return Score(instrument=ScreeningInstrument.asq, total=None, band=Band.negative, items=given)
    if "q5" not in given:
        raise ScoringError("q5", "asked after a yes to any of q1 to q4: needed")
    band = Band.acute_positive if given["q5"] else Band.positive
    return Score(instrument=ScreeningInstrument.asq, total=None, band=band, items=given)
