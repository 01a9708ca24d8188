"""Logs: JSON lines with case_id bound; no student name, narrative or reference in any line."""

from __future__ import annotations

import json
import logging

from config.logs import drop_personal_data
from tests.support import STUDENT_NAME, SUMMARY, eventually, open_case, refusal_path


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


def test_personal_fields_are_dropped_from_every_line(json_log):
    import structlog

    structlog.get_logger("t").warning("careless", case_id="c1", name="王小明", summary="想轻生", plan={"a": 1})
    logging.getLogger("stdlib").warning("careless too", extra={"student": {"name": "王小明"}, "case_id": "c2"})
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["careless", "careless too"]
    assert lines[0]["dropped_fields"] == ["name", "plan", "summary"] and lines[0]["case_id"] == "c1"
    assert lines[1]["dropped_fields"] == ["student"] and lines[1]["case_id"] == "c2"
    assert "王小明" not in json_log.getvalue() and "轻生" not in json_log.getvalue()
    assert drop_personal_data(None, "info", {"event": "ok", "case_id": "x"}) == {"event": "ok", "case_id": "x"}
