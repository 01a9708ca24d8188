"""Every golden history of released workflow code still replays against this code.

A change to CaseWorkflow that alters the commands it issues for an existing
history fails here: guard it with ``workflow.patched()`` (docs/architecture.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models.temporal import data_converter
from tests.conftest import KEYRING
from workflows import audit

#: These were recorded before payload encryption: they decode as they are (the codec passes them through).
CONV = data_converter(KEYRING)

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_the_golden_set_is_complete():
    names = {p.name.split(".")[0] for p in HISTORIES}
    assert names == {"consent", "refusal", "escalation", "continue_as_new"}


@pytest.mark.parametrize("path", HISTORIES, ids=[p.name for p in HISTORIES])
async def test_golden_history_replays(path):
    report = (await audit.replay_files([path], CONV))[0]
    assert report.deterministic, report.divergence
    assert report.policy_version == "golden-2026.1"


async def test_golden_paths_tell_their_story():
    steps = {}
    for name in ("consent", "refusal", "escalation"):
        report = (await audit.replay_files([Path(__file__).parent / "histories" / f"{name}.json"], CONV))[0]
        steps[name] = [t.action for t in report.transitions]
    assert steps["consent"] == ["open", "assess", "guardian_notice", "intervene", "refer", "guardian_response", "close"]
    assert steps["refusal"] == ["open", "assess", "guardian_notice", "intervene", "refer", "guardian_response", "report", "close"]
    assert steps["escalation"] == ["open", "assess", "close"]
