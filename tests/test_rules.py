"""The pure rules: assessment scoring, the deadline policy, the machine's guards."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from models.assessment import AssessmentError, resolve_risk
from models.domain import CaseState, Instrument, RiskLevel
from models.policy import DeadlinePolicy, PolicyFileError, load_policy, parse_duration
from workflows.machine import ALL_FEATURES, RULES, CaseMachine, Forbidden, Refused, present, roles_for

L, M, H, I = RiskLevel.low, RiskLevel.moderate, RiskLevel.high, RiskLevel.imminent  # noqa: E741 - initials


def asq(q1=False, q2=False, q3=False, q4=False, q5=None):
    answers = {"q1": q1, "q2": q2, "q3": q3, "q4": q4}
    if q5 is not None:
        answers["q5"] = q5
    return answers


@pytest.mark.parametrize(
    "answers, stated, expected",
    [
        (asq(), None, L),
        (asq(), M, M),  # a stated level may raise the result
        (asq(q2=True, q5=False), H, H),  # non-acute positive: the safety assessment decides
        (asq(q2=True, q5=False), L, L),
        (asq(q1=True, q5=True), None, I),  # acute positive
    ],
)
def test_asq(answers, stated, expected):
    assert resolve_risk(Instrument.asq, answers, stated, None) is expected


@pytest.mark.parametrize(
    "answers, stated, field",
    [
        (asq(q2=True, q5=False), None, "risk_level"),
        (asq(q2=True), M, "answers.q5"),
        (asq(q1=True, q5=True), H, "risk_level"),  # never lower an instrument's result
        ({"q1": False, "q2": False, "q3": False}, None, "answers.q4"),
        ({**asq(), "q9": True}, None, "answers.q9"),
        ({**asq(), "q1": "yes"}, None, "answers.q1"),
    ],
)
def test_asq_refusals_name_the_field(answers, stated, field):
    with pytest.raises(AssessmentError, match=rf"^{field}:"):
        resolve_risk(Instrument.asq, answers, stated, None)


def cssrs(q1=False, q2=False, q3=None, q4=None, q5=None, q6=False, recent=None):
    answers = {"q1": q1, "q2": q2, "q6": q6}
    answers |= {k: v for k, v in {"q3": q3, "q4": q4, "q5": q5, "q6_within_3_months": recent}.items() if v is not None}
    return answers


@pytest.mark.parametrize(
    "answers, expected",
    [
        (cssrs(), L),
        (cssrs(q1=True), L),
        (cssrs(q1=True, q2=True, q3=False, q4=False, q5=False), L),
        (cssrs(q1=True, q2=True, q3=True, q4=False, q5=False), M),
        (cssrs(q6=True, recent=False), M),
        (cssrs(q1=True, q2=True, q3=True, q4=True, q5=False), H),
        (cssrs(q1=True, q2=True, q3=False, q4=False, q5=True), H),
        (cssrs(q6=True, recent=True), H),
    ],
)
def test_cssrs(answers, expected):
    assert resolve_risk(Instrument.cssrs, answers, None, None) is expected


def test_cssrs_follow_up_questions_are_required():
    with pytest.raises(AssessmentError, match="^answers.q3:"):
        resolve_risk(Instrument.cssrs, cssrs(q2=True), None, None)
    with pytest.raises(AssessmentError, match="^answers.q6_within_3_months:"):
        resolve_risk(Instrument.cssrs, cssrs(q6=True), None, None)


def test_clinical_needs_level_and_rationale():
    assert resolve_risk(Instrument.clinical, {}, H, "自述有计划") is H
    with pytest.raises(AssessmentError, match="^risk_level:"):
        resolve_risk(Instrument.clinical, {}, None, "x")
    with pytest.raises(AssessmentError, match="^rationale:"):
        resolve_risk(Instrument.clinical, {}, H, None)


# ------------------------------------------------------------------ policy


def test_durations():
    assert parse_duration("24h") == timedelta(hours=24)
    assert parse_duration("20s") == timedelta(seconds=20)
    assert parse_duration("1d12h") == timedelta(hours=36)
    for bad in ("", "24", "h", "-1h", "0s", "1x", "1h 2m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_policy_defaults_follow_the_domain_brief():
    p = DeadlinePolicy()
    assert (p.assess_within_warning, p.assess_within_risk_only) == (timedelta(hours=24), timedelta(hours=72))
    assert (p.guardian_notice_within, p.guardian_answer_within) == (timedelta(hours=2), timedelta(hours=72))
    assert (p.report_within, p.escalation_step) == (timedelta(hours=24), timedelta(hours=12))


def test_policy_file_json_and_toml(tmp_path):
    j = tmp_path / "p.json"
    j.write_text(json.dumps({"version": "fast-1", "assess_within_warning": "20s", "escalation_step": "5s"}))
    p = load_policy(j)
    assert (p.version, p.assess_within_warning, p.escalation_step) == (
        "fast-1",
        timedelta(seconds=20),
        timedelta(seconds=5),
    )
    assert p.report_within == timedelta(hours=24)  # untouched keys keep the defaults
    t = tmp_path / "p.toml"
    t.write_text('version = "toml-1"\nguardian_notice_within = "90m"\n')
    assert load_policy(t).guardian_notice_within == timedelta(minutes=90)
    # round trip through JSON, as it travels inside a workflow's input
    assert DeadlinePolicy.model_validate_json(p.model_dump_json()) == p


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"assess_within_warning": "1h"}', "must set 'version'"),
        ('{"version": "x", "assess_within_warning": "soon"}', "assess_within_warning"),
        ('{"version": "x", "unknown_key": "1h"}', "unknown_key"),
        ("not json", "not valid JSON"),
    ],
)
def test_bad_policy_files_are_named(tmp_path, content, message):
    f = tmp_path / "p.json"
    f.write_text(content)
    with pytest.raises(PolicyFileError, match=message):
        load_policy(f)


# ----------------------------------------------------------------- machine


def _fact_space(state):
    """Every combination of the facts the guards read, for a case in ``state``."""
    for risk in (L, M, H, I):
        for notified in (False, True):
            for consented in (False, True):
                for proposed_by, referred in ((None, 0), ("proposer-1", 1), (None, 1), ("proposer-1", 0)):
                    for extreme_event in (False, True):
                        m = CaseMachine.at(state, risk, notified, consented)
                        m.facts.proposed_by = proposed_by
                        m.facts.counts = {"refer": referred}
                        m.facts.closed_at = datetime.now(UTC) if state is CaseState.closed else None
                        m.facts.now = datetime.now(UTC)
                        m.facts.extreme_event = extreme_event
                        m.facts.high_once = True
                        m.facts.confirms_reports = m.facts.follows_up_reports = True
                        yield m


def test_every_rule_is_reachable_by_its_roles():
    """For every row, every source state and every role of the row: some case lets exactly that row fire."""
    for rule in RULES:
        if not present(rule, ALL_FEATURES):
            continue  # a row older cases keep (see test_older_cases_keep_their_rows)
        for state in rule.source:
            for role in rule.roles:
                fired = {m.check(rule.action, rule.variant, role, actor="someone-else") for m in _fact_space(state)
                         if m._passes(rule)}
                assert rule in fired, (rule.action, rule.variant, state, role)


def test_older_cases_keep_their_rows():
    """A case whose workflow predates CASEWORK closes a high case directly, as it always did."""
    old = CaseMachine.at(CaseState.intervened, H, True, False)
    old.features = ()
    assert old.check("close", role="leadership").dest is CaseState.closed
    new = CaseMachine.at(CaseState.intervened, H, True, False)
    assert new.check("close", role="leadership").dest is None  # a proposal


def test_parent_refused_is_left_by_the_workflow_or_a_later_consent():
    assert roles_for("report") == frozenset()
    m = CaseMachine.at(CaseState.parent_refused, H, True, False)
    assert m.allowed_actions() == ["assess", "plan", "contact", "review", "guardian_response", "reassign"]
    # the workflow's own steps: the report, and an extreme event the event's record sends
    assert [a for a in m.allowed_actions(staff_only=False) if a not in m.allowed_actions()] == ["report",
                                                                                                  "extreme_event"]
    m.fire("report")  # a school whose policy sends the report at once
    assert m.state is CaseState.reported
    confirmed = CaseMachine.at(CaseState.parent_refused, H, True, False)
    confirmed.facts.confirms_reports = True  # the default: a leader confirms and sends it
    assert "send_report" in confirmed.allowed_actions() and "report" not in confirmed.allowed_actions(False)
    with pytest.raises(Forbidden):
        confirmed.check("send_report", role="psychology_teacher")


def test_refusal_says_why_and_what_is_allowed():
    m = CaseMachine.at(CaseState.assessed, I)
    with pytest.raises(Refused) as refused:
        m.fire("close")
    assert refused.value.allowed == ["assess", "guardian_notice", "emergency_response", "intervene", "contact",
                                     "review", "refer", "reassign"]
    assert "intervention plan" in str(refused.value)
    assert m.state is CaseState.assessed  # nothing moved
    with pytest.raises(Forbidden):
        m.check("intervene", role="head_teacher")
