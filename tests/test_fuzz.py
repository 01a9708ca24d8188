"""Schemathesis against the OpenAPI schema, in process over ASGI: no 5xx, no answer that breaks the schema.

Each operation is called with a token of a role the access table allows for
it (so generated input reaches validation and the handlers, not only the
403), with valid and invalid input. The worker keeps running on the test's
event loop while the fuzzer drives the app from its own thread.
"""

from __future__ import annotations

import asyncio

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.access import RULES, Scope
from api.app import create_app
from models.domain import SEES_STUDENT_IDENTITY
from tests.conftest import SCHOOL, token
from tests.support import open_case

#: per operation and mode: 12 keeps every operation covered (over 1,000 calls in all) and the suite under its
#: ten minutes
EXAMPLES_PER_MODE = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _token_for(key: str) -> str | None:
    rule = RULES[key]
    if rule.public:
        return None
    own = [r for r, scope in rule.roles.items() if scope is Scope.own]
    if own:
        role = sorted(own, key=lambda r: (r not in SEES_STUDENT_IDENTITY, r.value))[0]
        return token(role, SCHOOL, staff_id="fuzzer")
    return token("auditor", None, staff_id="fuzzer", pii=True)


def _fuzz(app) -> dict[str, int]:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    calls: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        key = f"{operation.method.upper()} {operation.path}"
        bearer = _token_for(key)
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, database=None, derandomize=True,
                      phases=[Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):  # called right below, within this iteration: the loop variables are current
                response = case.call(headers=headers)  # noqa: B023
                calls[key] = calls.get(key, 0) + 1  # noqa: B023
                case.validate_response(response, checks=CHECKS, headers=headers)  # noqa: B023

            run()
    return calls


async def test_schemathesis_finds_no_server_error(sqlite_stack):
    stack = sqlite_stack
    await open_case(stack)  # something to find
    app = create_app(stack.settings, stack.client, stack.engine)
    app.state.engine, app.state.client = stack.engine, stack.client
    calls = await asyncio.to_thread(_fuzz, app)
    assert set(calls) == set(RULES), set(RULES) - set(calls)
    assert sum(calls.values()) >= 1000, calls
    print(f"schemathesis: {sum(calls.values())} requests over {len(calls)} operations, no server error")


#: What a JSON parser accepts and a careless handler chokes on: numbers past float range, NaN and
#: infinities, strings that are not Unicode, and nesting deep enough to exhaust a recursion.
NASTY_BODIES = {
    "huge number": '{"student": 1e999999, "limit": 99999999999999999999999999}',
    "NaN": '{"student": NaN, "summary": NaN, "histories": [NaN]}',
    "Infinity": '{"instrument": "asq", "answers": {"q1": Infinity}, "payloads": -Infinity}',
    "lone surrogate": '{"summary": "\\ud800", "notes": "\\udfff", "payloads": [{"data": "\\ud800"}]}',
    "deep nesting": '{"answers": ' + '{"a": ' * 300 + "1" + "}" * 300 + ', "histories": ' + "[" * 300 + "]" * 300 + "}",
    **{f"nesting {depth}": '{"answers": ' + '{"q1": ' * depth + "true" + "}" * depth + ', "report": ' + "[" * depth
       + "]" * depth + ', "payloads": ' + '{"data": ' * depth + "1" + "}" * depth + "}" for depth in (150, 600, 999)},
}
#: query values as sent on the wire (the last is a lone surrogate in UTF-8: not valid Unicode)
NASTY_QUERY = ["99999999999999999999999", "-99999999999999999999999", "NaN", "Infinity", "1e999999", "%ED%A0%80"]


async def test_no_input_json_allows_is_a_server_error(sqlite_stack):
    """Every operation of the schema, every nasty body and query value: a 4xx, never a 5xx."""
    stack = sqlite_stack
    case_id = (await open_case(stack))["case_id"]
    schema = (await stack.http.get("/openapi.json")).json()
    answered = 0
    for template, methods in schema["paths"].items():
        path = template.replace("{case_id}", case_id).replace("{document_id}", f"{case_id}-x")
        url = path.removeprefix("/api/v1")
        for method, operation in methods.items():
            key = f"{method.upper()} {template}"
            bearer = _token_for(key)
            headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
            if "requestBody" in operation:
                for name, body in NASTY_BODIES.items():
                    r = await stack.http.request(method, url, content=body,
                                                 headers={**headers, "Content-Type": "application/json"})
                    assert r.status_code < 500, (key, name, r.status_code, r.text[:300])
                    answered += 1
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                for value in NASTY_QUERY:
                    r = await stack.http.request(method, f"{url}?{parameter['name']}={value}", headers=headers)
                    assert r.status_code < 500, (key, parameter["name"], value, r.status_code, r.text[:300])
                    answered += 1
    assert answered > 100
