"""Logs: JSON lines with case_id bound; no student name, narrative or reference in any line."""

from __future__ import annotations

import io
import json
import logging

import pytest

from logconfig import configure_logging
from tests.support import STUDENT_NAME, SUMMARY, eventually, open_case, refusal_path


@pytest.fixture
def json_log():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("json", "INFO")
    stream = io.StringIO()
    root.handlers[0].setStream(stream)
    yield stream
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


async def test_logs_are_json_with_case_id_and_no_student_data(sqlite_stack, json_log):
    stack = sqlite_stack
    case_id = (await open_case(stack))["case_id"]
    await refusal_path(stack, case_id)
    await eventually(lambda: "case_closed" in json_log.getvalue())

    lines = [json.loads(line) for line in json_log.getvalue().splitlines() if line.strip()]
    assert lines, "nothing was logged"
    for line in lines:
        assert {"event", "level", "timestamp"} <= set(line)
    about_case = [line for line in lines if line.get("case_id") == case_id]
    said = {line["event"] for line in about_case}
    assert {"case opened", "action accepted", "notification delivered", "document made"} <= said
    escalation_free = json_log.getvalue()
    for secret in (STUDENT_NAME, SUMMARY, "2026-0712", json.dumps(STUDENT_NAME)[1:-1]):
        assert secret not in escalation_free
