"""Screening: PHQ-9, GAD-7 and ASQ scored as published, at and beside every cut-off; the rules from results to flags."""

from __future__ import annotations

import pytest

from models.screening import Band, RulesFileError, ScoringError, ScreeningInstrument, ScreeningRules, load_rules, score

PHQ9, GAD7, ASQ = ScreeningInstrument.phq9, ScreeningInstrument.gad7, ScreeningInstrument.asq


def _items(n: int, total: int, last: int | None = None) -> dict[str, int]:
    """n items summing to ``total`` (threes first), the last item set to ``last`` if given."""
    values, left = [], total - (last or 0)
    for _ in range(n - (1 if last is not None else 0)):
        values.append(min(3, left))
        left -= values[-1]
    if last is not None:
        values.append(last)
    assert left == 0 and len(values) == n
    return {f"q{i + 1}": v for i, v in enumerate(values)}


@pytest.mark.parametrize(("total", "band"), [
    (0, Band.minimal), (4, Band.minimal), (5, Band.mild), (9, Band.mild), (10, Band.moderate), (14, Band.moderate),
    (15, Band.moderately_severe), (19, Band.moderately_severe), (20, Band.severe), (27, Band.severe)])
def test_phq9_bands_at_the_published_cut_offs(total, band):
    assert score(PHQ9, {}, total).band is band  # the total alone, as a platform exports it
    assert score(PHQ9, _items(9, total), None).band is band  # the items, summed


@pytest.mark.parametrize(("total", "band"), [
    (0, Band.minimal), (4, Band.minimal), (5, Band.mild), (9, Band.mild), (10, Band.moderate), (14, Band.moderate),
    (15, Band.severe), (21, Band.severe)])
def test_gad7_bands_at_the_published_cut_offs(total, band):
    assert score(GAD7, {}, total).band is band
    assert score(GAD7, _items(7, total), None).total == total


def test_phq9_item_9_counts_on_its_own():
    low_total = score(PHQ9, _items(9, 3, last=1), None)
    assert low_total.band is Band.minimal and low_total.self_harm_item
    assert not score(PHQ9, _items(9, 20, last=0), None).self_harm_item
    assert not score(PHQ9, {}, 25).self_harm_item  # a total alone says nothing of item 9


@pytest.mark.parametrize(("answers", "band"), [
    ({"q1": 0, "q2": 0, "q3": 0, "q4": 0}, Band.negative),
    ({"q1": 0, "q2": 0, "q3": 0, "q4": 1, "q5": 0}, Band.positive),
    ({"q1": 1, "q2": 0, "q3": 0, "q4": 0, "q5": 1}, Band.acute_positive),
])
def test_asq(answers, band):
    assert score(ASQ, answers, None).band is band


@pytest.mark.parametrize(("instrument", "items", "total", "field"), [
    (PHQ9, {}, 28, "total"),  # past the highest total
    (PHQ9, {}, -1, "total"),
    (GAD7, {}, 22, "total"),
    (PHQ9, {}, None, "total"),  # neither items nor total
    (PHQ9, {**_items(9, 10), "q3": 4}, None, "q3"),  # an item past 3
    (PHQ9, {"q1": 1, "q2": 1}, None, "q3"),  # items, but not all of them
    (PHQ9, _items(9, 10), 11, "total"),  # a total that is not the items' sum
    (GAD7, {**_items(7, 0), "q8": 0}, None, "q8"),  # no such item
    (ASQ, {"q1": 1, "q2": 0, "q3": 0, "q4": 0}, None, "q5"),  # a yes asks q5
    (ASQ, {"q1": 0, "q2": 0, "q3": 0}, None, "q4"),
    (ASQ, {"q1": 2, "q2": 0, "q3": 0, "q4": 0}, None, "q1"),
])
def test_a_result_that_cannot_be_scored_names_its_field(instrument, items, total, field):
    with pytest.raises(ScoringError) as refused:
        score(instrument, items, total)
    assert refused.value.field == field


# ------------------------------------------------------------------ the rules


def _phq9(total: int, item9: int = 0) -> dict[str, int]:
    return _items(9, total, last=item9)


def test_the_rules_say_what_a_result_raises():
    rules = ScreeningRules()
    item9 = rules.flags(score(PHQ9, _phq9(3, item9=1), None))
    # a screening reason of its own, never warning signal 1 (what a person heard or saw): 24-hour assessment
    assert item9.screening == ["phq9_item9"] and not item9.warning_signals and item9.opens_case
    severe = rules.flags(score(PHQ9, {}, 20))
    assert severe.risk_factors == ["prolonged_low_mood"] and not severe.warning_signals and not severe.watch
    assert rules.flags(score(PHQ9, {}, 19)).watch and not rules.flags(score(PHQ9, {}, 19)).opens_case
    assert not rules.flags(score(PHQ9, {}, 9)).flagged
    assert rules.flags(score(ASQ, {"q1": 0, "q2": 1, "q3": 0, "q4": 0, "q5": 0}, None)).opens_case
    assert not rules.flags(score(ASQ, {"q1": 0, "q2": 0, "q3": 0, "q4": 0}, None)).flagged
    assert rules.flags(score(GAD7, {}, 15)).watch


def test_a_school_states_its_own_rules_in_a_versioned_file(tmp_path):
    file = tmp_path / "screening.toml"
    file.write_text('version = "district-2027-1"\n'
                    '[[rules]]\nid = "gad7-severe-case"\ninstrument = "gad7"\nmin_band = "severe"\n'
                    'flag = "risk_factor"\nreason = "chronic_sleep_problem"\n')
    rules = load_rules(file)
    assert rules.version == "district-2027-1"
    assert rules.flags(score(GAD7, {}, 16)).risk_factors == ["chronic_sleep_problem"]
    assert not rules.flags(score(PHQ9, _phq9(3, item9=1), None)).flagged  # the file's rules replace the defaults


@pytest.mark.parametrize(("text", "says"), [
    ('[[rules]]\nid = "x"\ninstrument = "gad7"\nmin_band = "severe"\nflag = "watch"\n', "must set 'version'"),
    ('version = "v"\n[[rules]]\nid = "x"\ninstrument = "gad7"\nmin_band = "moderately_severe"\nflag = "watch"\n',
     "not a band of gad7"),
    ('version = "v"\n[[rules]]\nid = "x"\ninstrument = "phq9"\nmin_band = "severe"\nflag = "warning_signal"\n'
     'reason = "prolonged_low_mood"\n', "warning_signal flag names one of"),
    ('version = "v"\n[[rules]]\nid = "x"\ninstrument = "asq"\nself_harm_item = true\nflag = "watch"\n',
     "item 9"),
])
def test_a_broken_rules_file_is_refused_saying_why(tmp_path, text, says):
    file = tmp_path / "rules.toml"
    file.write_text(text)
    with pytest.raises(RulesFileError) as refused:
        load_rules(file)
    assert says in str(refused.value)
