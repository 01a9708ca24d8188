"""People, classes and scope: a head teacher sees their own classes, a grade head their grade."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.access import PREFIX, RULES
from db import directory, store
from models.directory import read_directory
from models.domain import StaffRole
from tests.conftest import SCHOOL, auth, service_env, token
from tests.factories import opened_case
from tests.support import eventually, open_body, open_case, step

DIRECTORY = Path(__file__).with_name("directory.yaml")
CRISISFLOW = str(Path(sys.executable).parent / "crisisflow")


def as_person(staff_id: str, role: str) -> dict:
    return {"Authorization": f"Bearer {token(role, SCHOOL, staff_id=staff_id)}"}


@pytest.fixture
def loaded(sqlite_stack):
    counts = directory.load(sqlite_stack.engine, read_directory(DIRECTORY))
    assert counts == {"schools": 2, "classes": 3, "staff": 9, "authorities": 2, "moved": 0}
    assert directory.load(sqlite_stack.engine, read_directory(DIRECTORY)) == counts  # idempotent
    return sqlite_stack


async def _case_in(stack, class_id: str) -> str:
    body = open_body()
    body["student"]["class_id"] = class_id
    return (await open_case(stack, body))["case_id"]


async def test_a_head_teacher_sees_their_own_classes_and_a_grade_head_their_grade(loaded):
    stack = loaded
    mine, other, seventh = await _case_in(stack, "8-3"), await _case_in(stack, "8-4"), await _case_in(stack, "7-1")
    zhang = as_person("t-zhang", "head_teacher")
    assert (await stack.http.get(f"/cases/{mine}", headers=zhang)).status_code == 200
    r = await stack.http.get(f"/cases/{other}", headers=zhang)
    assert r.status_code == 404  # another class of the same school: not theirs to know of
    assert (await stack.http.post(f"/cases/{other}/guardian-notice", json={}, headers=zhang)).status_code == 404
    listed = (await stack.http.get("/cases", headers=zhang)).json()
    assert [c["case_id"] for c in listed["items"]] == [mine]
    wang = as_person("g-wang", "grade_head")
    listed = (await stack.http.get("/cases", headers=wang)).json()
    assert {c["case_id"] for c in listed["items"]} == {mine, other}
    assert (await stack.http.get(f"/cases/{seventh}", headers=wang)).status_code == 404
    chen = as_person("p-chen", "psychology_teacher")  # the whole school
    assert (await stack.http.get("/cases", headers=chen)).json()["total"] == 3


async def test_a_class_not_in_the_directory_is_a_422(loaded):
    body = open_body()
    body["student"]["class_id"] = "9-9"
    r = await loaded.http.post("/cases", json=body, headers=auth("head_teacher"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "student", "class_id"]


async def test_leadership_reads_the_directory(loaded):
    r = await loaded.http.get("/directory", headers=as_person("l-sun", "leadership"))
    assert r.status_code == 200
    people = {p["id"]: p for p in r.json()["staff"]}
    assert people["t-zhang"]["classes"] == ["8-3"] and r.json()["schools"][0]["authority"] == "某市教育局"
    assert (await loaded.http.get("/directory", headers=as_person("t-zhang", "head_teacher"))).status_code == 403


async def test_notifications_name_the_people_they_are_for(loaded):
    stack = loaded
    case_id = await _case_in(stack, "8-3")
    await step(stack, case_id, "assess")  # high: the class's head teacher must notify the guardian

    def told():
        rows = {n.event: n.recipient_staff for n in store.notifications_for(stack.engine, case_id)}
        return rows if "guardian_notice_required" in rows else None

    rows = await eventually(told)
    assert rows["case_opened"] == ["p-chen", "p-he", "l-sun"]  # psychology teachers, then leadership
    assert rows["guardian_notice_required"] == ["t-zhang"]  # the class's own head teacher, by name


def test_tokens_for_people_come_from_the_directory(loaded, tmp_path):
    env = service_env(database_url=loaded.settings.resolved_database_url)

    def issue(*args):
        return subprocess.run([CRISISFLOW, "token", "issue", *args], capture_output=True, text=True, env=env,
                              timeout=60)

    ok = issue("--staff-id", "t-zhang")
    assert ok.returncode == 0 and ok.stdout.count(".") == 2
    assert issue("--staff-id", "nobody", "--role", "head_teacher", "--school", SCHOOL).returncode == 2
    wrong = issue("--staff-id", "t-zhang", "--role", "leadership")
    assert wrong.returncode == 2 and "not leadership" in wrong.stderr


def test_the_cli_loads_a_directory(loaded):
    env = service_env(database_url=loaded.settings.resolved_database_url)
    out = subprocess.run([CRISISFLOW, "directory", "load", str(DIRECTORY)], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0 and "3 class(es), 9 staff" in out.stdout


async def test_the_role_route_matrix_with_classes_and_grades(loaded):
    """Every route that names a case, for a head teacher and a grade head inside and outside its class:
    outside is 404 wherever the role may go at all; inside is answered."""
    stack = loaded
    case_id = await _case_in(stack, "8-3")
    await step(stack, case_id, "assess")

    async def first_document():
        r = await stack.http.get(f"/cases/{case_id}/documents", headers=auth("psychology_teacher"))
        return r.json() if r.json() else None

    document_id = (await eventually(first_document))[0]["document_id"]
    root = stack.base_url.removesuffix(PREFIX)
    callers = [("t-zhang", "head_teacher", True), ("t-li", "head_teacher", False),
               ("g-wang", "grade_head", True), ("g-zhao", "grade_head", False)]
    checked = 0
    for key, rule in RULES.items():
        method, path = key.split(" ", 1)
        if "{case_id}" not in path and "{document_id}" not in path:
            continue
        if "{copy_id}" in path:  # a signed copy needs an upload first: tests/test_receipts.py
            continue
        url = root + path.replace("{case_id}", case_id).replace("{document_id}", document_id)
        for staff_id, role, inside in callers:
            if StaffRole(role) not in rule.roles:
                continue
            r = await stack.http.request(method, url, json={} if method == "POST" else None,
                                         headers=as_person(staff_id, role))
            if inside:
                assert r.status_code not in (401, 403, 404), (key, staff_id, r.status_code, r.text)
            else:
                assert r.status_code == 404, (key, staff_id, r.status_code, r.text)
                assert case_id in r.json()["detail"] or "not found" in r.json()["detail"]
            checked += 1
    assert checked > 20

    # the codec server reveals a case as its routes do (issue 26, 2): the payloads of this case decode for the
    # class's head teacher, and for no head teacher of another class
    export = await stack.http.get(f"/cases/{case_id}/history/export", headers=auth("auditor"))
    payloads = export.json()["events"][0]["workflowExecutionStartedEventAttributes"]["input"]
    for staff_id, role, inside in callers:
        if StaffRole(role) not in RULES["POST /codec/decode"].roles:
            continue  # a grade head sees no names: refused whatever the class (test_confidentiality.py)
        r = await stack.http.post(f"{root}/codec/decode", json=payloads, headers=as_person(staff_id, role))
        assert r.status_code == (200 if inside else 403), (staff_id, r.status_code, r.text)


async def test_a_grade_heads_overdue_list_names_only_their_grades_cases(loaded):
    """The dashboard's counts are the school's; its lists name only the cases the reader sees (issue 26, 2:
    every route that reveals a case keeps the class's scope), on the API and on the pages alike."""
    stack = loaded
    now = datetime.now(UTC)
    ids = {}
    for class_id, grade in (("8-3", "八年级"), ("7-1", "七年级")):
        data = opened_case(uuid.uuid4().hex, SCHOOL, f"2026-{class_id}", now - timedelta(days=3), timedelta(hours=24))
        data.student = data.student.model_copy(update={"class_id": class_id, "grade": grade})
        store.project_case(stack.engine, data)
        ids[class_id] = data.case_id

    async def overdue(staff_id: str, role: str) -> set[str]:
        r = await stack.http.get("/dashboard", headers=as_person(staff_id, role))
        assert r.status_code == 200, r.text
        return {o["case_id"] for o in r.json()["overdue"]}

    assert await overdue("g-wang", "grade_head") == {ids["8-3"]}
    assert await overdue("g-zhao", "grade_head") == {ids["7-1"]}
    assert await overdue("l-sun", "leadership") == set(ids.values())
