"""The access matrix, generated: every route of the OpenAPI schema × every role × own and other school.

The expectations come from ``api.access.RULES`` (and, for actions, the
transition table behind it); a route added without a rule fails here and
stops the app from starting. Calls carry empty or minimal input: passing
authorization shows as anything but 401/403 (mostly 200, 404 or 422), and
no answer to another school's caller may carry the case.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from api import sessions
from api.access import PAGE_PREFIXES, PAGES, PREFIX, RULES, Scope, sees_identity
from api.app import create_app
from api.auth import Principal
from models.domain import SCHOOL_ROLES, StaffRole
from tests.conftest import OTHER_SCHOOL, SCHOOL, auth
from tests.support import ASSESS_HIGH, eventually, open_case, step

#: (role, school of the token, auditor_pii grant): every staff role in and outside the case's school,
#: auditors with and without the grant
CALLERS = [(r, s, False) for r in sorted(SCHOOL_ROLES) for s in (SCHOOL, OTHER_SCHOOL)] + [
    (StaffRole.auditor, None, False),
    (StaffRole.auditor, None, True),
]


def _operations(app) -> list[tuple[str, str]]:
    schema = app.openapi()
    return sorted((method.upper(), path) for path, ops in schema["paths"].items() for method in ops)


def test_every_route_in_the_schema_has_exactly_one_rule(sqlite_stack):
    app = create_app(sqlite_stack.settings)
    operations = {f"{m} {p}" for m, p in _operations(app)}
    assert operations == set(RULES), "api/access.py and the routes disagree"


def test_a_route_without_a_rule_stops_the_app(sqlite_stack):
    from api.routes import documents

    documents.router.add_api_route("/unruled", lambda: {}, methods=["GET"])
    try:
        with pytest.raises(RuntimeError, match=r"GET /api/v1/unruled"):
            create_app(sqlite_stack.settings)
    finally:
        documents.router.routes.pop()


def _expected_allowed(key: str, role: StaffRole, school: str | None, pii: bool) -> bool:
    rule = RULES[key]
    if rule.public:
        return True
    scope = rule.roles.get(role)
    if scope is None:
        return False
    principal = Principal(staff_id="x", role=role, school_id=school, pii_grant=pii)
    if rule.identity and not sees_identity(principal):
        return False
    names_a_case = "{case_id}" in key or "{document_id}" in key or key.endswith("/access-log")
    if scope is Scope.own and names_a_case and school != SCHOOL:
        return False
    if key.endswith("/access-log") and role is not StaffRole.auditor and school != SCHOOL:
        return False
    return True


async def test_role_endpoint_school_matrix(sqlite_stack):
    stack = sqlite_stack
    case = await open_case(stack)
    case_id = case["case_id"]
    await step(stack, case_id, "assess", ASSESS_HIGH)

    async def first_document():
        r = await stack.http.get(f"/cases/{case_id}/documents", headers=auth("head_teacher"))
        return r.json() if r.status_code == 200 and r.json() else None

    documents = await eventually(first_document)
    document_id = documents[0]["document_id"]
    root = stack.base_url.removesuffix(PREFIX)

    checked = 0
    for method, path in _operations(create_app(stack.settings)):
        key = f"{method} {path}"
        url = root + path.replace("{case_id}", case_id).replace("{document_id}", document_id)
        params = {"case_id": case_id} if path.endswith("/access-log") else None
        body = {"payloads": []} if path.startswith("/codec") else {}

        # no token: 401 everywhere but health
        r = await stack.http.request(method, url, params=params, json=body if method == "POST" else None)
        assert (r.status_code == 401) != RULES[key].public, (key, r.status_code)

        for role, school, pii in CALLERS:
            r = await stack.http.request(
                method, url, params=params, json=body if method == "POST" else None, headers=auth(role, school, pii=pii)
            )
            who = f"{role.value}{'+pii' if pii else ''}@{school}"
            if _expected_allowed(key, role, school, pii):
                assert r.status_code not in (401, 403), (key, who, r.status_code, r.text)
            else:
                assert r.status_code == 403, (key, who, r.status_code, r.text)
                assert r.json()["detail"]
            if school == OTHER_SCHOOL and r.status_code < 400:
                assert case_id not in r.text, (key, who, "another school's case leaked")
            checked += 1
    assert checked == len(RULES) * len(CALLERS)


async def test_responses_carry_only_what_the_role_may_see(sqlite_stack):
    stack = sqlite_stack
    case = await open_case(stack)
    case_id = case["case_id"]
    name, summary = case["student"]["name"], case["summary"]
    for role in StaffRole:
        if role is StaffRole.auditor:
            continue
        r = await stack.http.get(f"/cases/{case_id}", headers=auth(role))
        if role is StaffRole.edu_authority:  # reads reports, never a school's cases
            assert r.status_code == 403 and name not in r.text
            continue
        if role is StaffRole.staff:  # a reporter sees only the cases they reported
            assert r.status_code == 404 and name not in r.text
            continue
        view = r.json()
        if role in {StaffRole.head_teacher, StaffRole.psychology_teacher, StaffRole.expert, StaffRole.leadership}:
            assert (view["student"]["name"], view["summary"], view["withheld"]) == (name, summary, [])
        else:
            assert view["student"]["name"] is None and view["summary"] is None
            assert view["withheld"] == ["student.name", "summary", "closure_proposal"]
            assert name not in r.text and summary not in r.text
    # the list never carries names or narratives, for anyone
    listed = await stack.http.get("/cases", headers=auth("leadership"))
    assert name not in listed.text and summary not in listed.text
    # unknown fields are refused, not ignored
    r = await stack.http.post(
        f"/cases/{case_id}/closure",
        headers=auth("leadership"),
        json={"reason": "resolved", "outcome": "ok", "rationale": "ok", "school_id": "x"},
    )
    assert r.status_code == 422 and re.search(r"school_id", r.text)


# ------------------------------------------------------------------ the staff app's pages

#: (role, the school or authority of the session): every school role in and outside the case's school,
#: the education authority overseeing it, an auditor
PAGE_CALLERS = [(r, s) for r in sorted(SCHOOL_ROLES) for s in (SCHOOL, OTHER_SCHOOL)] + [
    (StaffRole.edu_authority, "edu-city"),
    (StaffRole.auditor, None),
]


def test_every_page_has_exactly_one_rule(sqlite_stack):
    app = create_app(sqlite_stack.settings)
    pages = {f"{m} {r.path}" for r in iter_route_contexts(app.routes)
             if isinstance(r.original_route, APIRoute) and r.path.startswith(PAGE_PREFIXES)
             for m in r.methods - {"HEAD"}}
    assert pages == set(PAGES), "api/access.py and the staff app's pages disagree"


def _page_allowed(key: str, role: StaffRole) -> bool:
    rule = PAGES[key]
    return rule.public or role in rule.roles


async def test_role_page_school_matrix(sqlite_stack):
    """Every page × every role × own and other school, by the one access table: a role the rule leaves
    out gets 403 in words; another school's case or document does not exist (404) and never leaks."""
    stack = sqlite_stack
    case = await open_case(stack)
    case_id, ref = case["case_id"], case["student"]["ref"]
    await step(stack, case_id, "assess", ASSESS_HIGH)

    async def first_document():
        r = await stack.http.get(f"/cases/{case_id}/documents", headers=auth("head_teacher"))
        return r.json() if r.status_code == 200 and r.json() else None

    document_id = (await eventually(first_document))[0]["document_id"]
    root = stack.base_url.removesuffix(PREFIX)
    values = {"{case_id}": case_id, "{document_id}": document_id, "{action_name}": "contact",
              "{student_ref}": ref}
    checked = 0
    async with httpx.AsyncClient(base_url=root, timeout=60) as http:
        for role, school in PAGE_CALLERS:
            cookie, row = sessions.create(stack.engine, sessions.Stage.signed_in, datetime.now(UTC), None,
                                          f"matrix-{role.value}", role.value, school)
            for key in sorted(PAGES, key=lambda k: (k == "POST /ui/logout", k)):  # signing out ends the session
                method, path = key.split(" ", 1)
                url = path
                for name, value in values.items():
                    url = url.replace(name, value)
                http.cookies.clear()
                http.cookies.set(sessions.COOKIE, cookie)
                r = await http.request(method, url, data={"csrf": row.csrf} if method == "POST" else None,
                                       follow_redirects=False)
                who = f"{role.value}@{school}"
                if not _page_allowed(key, role):
                    assert r.status_code == 403, (key, who, r.status_code)
                    assert PAGES[key].refusal in r.text
                elif PAGES[key].public:  # signing in: each page checks its own stage (a role switch its roles)
                    assert r.status_code < 500, (key, who, r.status_code)
                else:
                    assert r.status_code != 403 and "/ui/login" not in r.headers.get("location", ""), (
                        key, who, r.status_code)
                    if school != SCHOOL and not PAGES[key].public and ("{case_id}" in key or "{document_id}" in key
                                                                       or "{student_ref}" in key):
                        assert r.status_code == 404, (key, who, r.status_code)
                if school != SCHOOL:
                    assert case_id not in r.text and ref not in r.text, (key, who, "another school's case leaked")
                checked += 1
    assert checked == len(PAGES) * len(PAGE_CALLERS)
