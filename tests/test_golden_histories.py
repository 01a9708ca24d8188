"""Every golden history of released workflow code still replays against this code.

``tests/histories/<date>-<what>/`` holds one generation each: the four
scenarios as exported when that code was released. The 2026-11-22 set
predates payload encryption (its payloads pass through the codec as they
are); later sets are encrypted with their folder's test-only ``keyring.json``,
which was rotated after recording, so replaying them also proves an older key
still opens old histories. A change to CaseWorkflow that alters the commands
it issues for an existing history fails here: guard it with
``workflow.patched()`` (docs/architecture.md).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from config.temporal import data_converter
from crypto.keyring import Keyring
from tests.conftest import KEYRING
from workflows import replay

ROOT = Path(__file__).parent / "histories"
INCIDENTS = ROOT / "incident-reviews"  # IncidentReviewWorkflow's generations (tests/histories/record_incidents.py)
def _order(generation: Path) -> tuple:
    """A generation's place: its date, then its number (v10 comes after v9)."""
    number = re.search(r"-v(\d+)", generation.name)
    return generation.name[:10], int(number.group(1)) if number else 0, generation.name


GENERATIONS = sorted((p for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith("__") and p != INCIDENTS),
                     key=_order)
INCIDENT_HISTORIES = sorted(INCIDENTS.glob("*/review.json"))
HISTORIES = sorted(p for g in GENERATIONS for p in g.glob("*.json") if p.name != "keyring.json")
SCENARIOS = {"consent", "refusal", "escalation", "continue_as_new"}
#: generations from v6 (named owner, de facto refusals) add a referral not attended, deemed a refusal; from v8
#: an extreme event concerning the student
LATER_SCENARIOS = {"not_attended"}
EVENT_SCENARIOS = {"extreme_event"}
#: from v10 the guardian answers through the notice's link (a call-back asked for, a consent before the referral)
ONLINE_SCENARIOS = {"guardian_online"}


def _converter(generation: Path):
    keyring = generation / "keyring.json"
    return data_converter(Keyring(str(keyring)) if keyring.exists() else KEYRING)


@pytest.mark.parametrize("generation", GENERATIONS, ids=[g.name for g in GENERATIONS])
def test_each_generation_is_complete(generation):
    assert {p.name.split(".")[0] for p in generation.glob("*.json")} - {"keyring"} in (
        SCENARIOS, SCENARIOS | LATER_SCENARIOS, SCENARIOS | LATER_SCENARIOS | EVENT_SCENARIOS,
        SCENARIOS | LATER_SCENARIOS | EVENT_SCENARIOS | ONLINE_SCENARIOS)


def test_the_newest_generation_is_encrypted_with_an_older_key():
    newest = GENERATIONS[-1]
    keyring = Keyring(str(newest / "keyring.json")).keys()
    text = (newest / "consent.json").read_text()
    assert "YmluYXJ5L2VuY3J5cHRlZA" in text  # base64 of binary/encrypted
    older = [kid for kid in keyring.keys if kid != keyring.current]
    assert older and any(f'"{base64.b64encode(k.encode()).decode()}"' in text for k in older)


@pytest.mark.parametrize("path", HISTORIES, ids=[f"{p.parent.name}/{p.name}" for p in HISTORIES])
async def test_golden_history_replays(path):
    report = (await replay.replay_files([path], _converter(path.parent)))[0]
    assert report.deterministic, report.divergence
    assert report.policy_version == "golden-2026.1"


@pytest.mark.parametrize("generation", GENERATIONS, ids=[g.name for g in GENERATIONS])
async def test_golden_paths_tell_their_story(generation):
    steps = {}
    for name in ("consent", "refusal", "escalation"):
        report = (await replay.replay_files([generation / f"{name}.json"], _converter(generation)))[0]
        steps[name] = [t.action for t in report.transitions]
    # from the casework release on, a high case closes by a proposal and a leadership approval
    closing = ["close", "closure_decision"] if "closure_decision" in steps["consent"] else ["close"]
    to_referral = ["open", "assess", "guardian_notice", "intervene", "refer", "guardian_response"]
    assert steps["consent"] == [*to_referral, *closing]
    # from v9 a leader confirms and sends the refusal report; before, the workflow reported by itself
    reporting = "send_report" if "send_report" in steps["refusal"] else "report"
    assert steps["refusal"] == [*to_referral, reporting, *closing]
    assert steps["escalation"] == ["open", "assess", "close"]
    if (generation / "not_attended.json").exists():
        report = (await replay.replay_files([generation / "not_attended.json"], _converter(generation)))[0]
        assert [t.action for t in report.transitions] == [
            *to_referral, "reassign", "referral_outcome", "deemed_refusal", reporting, *closing]


@pytest.mark.parametrize("path", INCIDENT_HISTORIES, ids=[p.parent.name for p in INCIDENT_HISTORIES])
async def test_golden_incident_review_replays(path):
    report = (await replay.replay_files([path], _converter(path.parent)))[0]
    assert report.deterministic, report.divergence
    assert report.policy_version == "golden-2026.1"
