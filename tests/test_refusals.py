"""Every (state, action) pair outside the transition table is a 409 listing what is allowed.

The pairs come from ``workflows.machine.RULES`` itself; a refused action
writes nothing: not to the read model, not to the workflow's history.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType

from db import store
from models.domain import CaseState, RiskLevel
from tests.conftest import auth
from tests.support import ACTIONS, REFUSE, act, db_view, open_case, step
from workflows.machine import RULES, STAFF_ACTIONS, CaseMachine


def _pairs_outside_table() -> list[tuple[CaseState, str]]:
    inside = {(state, rule.action) for rule in RULES for state in rule.source}
    return [(s, a) for s in CaseState for a in STAFF_ACTIONS if (s, a) not in inside]


async def _updates_accepted(stack, case_id: str) -> int:
    history = await stack.client.get_workflow_handle(f"case-{case_id}").fetch_history()
    return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED for e in history.events)


async def _assert_refused(stack, case_id: str, state: CaseState, action: str, expected_allowed: list[str]) -> None:
    before = db_view(stack, case_id)
    accepted = await _updates_accepted(stack, case_id)
    r = await act(stack, case_id, action)
    assert r.status_code == 409, (state, action, r.text)
    body = r.json()
    assert body["state"] == state.value
    assert body["allowed_actions"] == expected_allowed
    assert action in body["detail"] and state.value in body["detail"]
    assert db_view(stack, case_id) == before
    if state is not CaseState.closed:
        assert await _updates_accepted(stack, case_id) == accepted


async def test_every_pair_outside_the_table_is_409(sqlite_stack):
    stack = sqlite_stack
    cases: dict[CaseState, str] = {}
    facts: dict[CaseState, tuple] = {}

    cid = (await open_case(stack))["case_id"]
    cases[CaseState.identified] = cid

    async def to(action: str, *ids: str, body=None) -> None:
        for case_id in ids:
            await step(stack, case_id, action, body)

    a, i, r, p, c = [(await open_case(stack))["case_id"] for _ in range(5)]
    await to("assess", a, i, r, p, c)
    await to("guardian_notice", i, r, p, c)
    await to("intervene", i, r, p, c)
    await to("refer", r, p, c)
    cases |= {CaseState.assessed: a, CaseState.intervened: i, CaseState.referred: r}
    facts[CaseState.assessed] = (RiskLevel.high, False, False)
    facts[CaseState.intervened] = (RiskLevel.high, True, False)
    facts[CaseState.referred] = (RiskLevel.high, True, False)

    # the refusal waits in parent_refused until a leader sends the report (REPORT_CONFIRMED)
    view = await step(stack, p, "guardian_response", REFUSE)
    assert view["state"] == "parent_refused"
    cases[CaseState.parent_refused] = p
    facts[CaseState.parent_refused] = (RiskLevel.high, True, False)

    await to("guardian_response", c)
    await to("close", c)
    cases[CaseState.closed] = c
    facts[CaseState.closed] = (RiskLevel.high, True, True)
    facts[CaseState.identified] = (None, False, False)

    pairs = _pairs_outside_table()
    assert pairs, "the table covers every pair: nothing to refuse?"
    for state, action in pairs:
        if state is CaseState.reported:
            continue  # checked below, once the report is sent
        # the workflow's 409 lists what the read model says is allowed now
        expected = db_view(stack, cases[state])["allowed_actions"]
        assert expected == CaseMachine.of(store.load_case(stack.engine, cases[state]),
                                          datetime.now(UTC)).allowed_actions()
        await _assert_refused(stack, cases[state], state, action, expected)

    await step(stack, p, "send_report")
    for state, action in pairs:
        if state is CaseState.reported:
            await _assert_refused(stack, p, state, action, db_view(stack, p)["allowed_actions"])


async def test_guards_refuse_with_the_reason(sqlite_stack):
    stack = sqlite_stack
    # moderate or higher: no closing straight after the assessment
    cid = (await open_case(stack))["case_id"]
    await step(stack, cid, "assess", {"instrument": "clinical", "risk_level": "moderate", "rationale": "持续低落"})
    r = await act(stack, cid, "close")
    assert r.status_code == 409
    assert "intervention plan" in r.json()["detail"]
    assert r.json()["allowed_actions"] == ["assess", "guardian_notice", "intervene", "contact", "review", "reassign"]

    # high: no referral without a recorded guardian notice
    cid = (await open_case(stack))["case_id"]
    await step(stack, cid, "assess")
    await step(stack, cid, "intervene")
    r = await act(stack, cid, "refer")
    assert r.status_code == 409
    assert "guardian notice" in r.json()["detail"]
    assert r.json()["allowed_actions"] == ["assess", "guardian_notice", "plan", "contact", "review", "return_meeting",
                                           "reassign"]
    await step(stack, cid, "guardian_notice")
    await step(stack, cid, "refer")

    # referred: no closing before the guardian consented
    r = await act(stack, cid, "close")
    assert r.status_code == 409
    assert "consent" in r.json()["detail"]

    # low risk: straight to closed
    cid = (await open_case(stack))["case_id"]
    view = await step(
        stack, cid, "assess", {"instrument": "asq", "answers": {"q1": False, "q2": False, "q3": False, "q4": False}}
    )
    assert view["allowed_actions"] == ["assess", "guardian_notice", "intervene", "contact", "review", "close",
                                       "reassign"]
    view = await step(stack, cid, "close", {"reason": "no_crisis", "outcome": "筛查阴性", "rationale": "ASQ 全部为否"})
    assert view["state"] == "closed"


async def test_roles_schools_and_unknown_cases(sqlite_stack):
    stack = sqlite_stack
    cid = (await open_case(stack))["case_id"]
    path, body = ACTIONS["assess"]
    r = await stack.http.post(f"/cases/{cid}/{path}", json=body, headers=auth("head_teacher"))
    assert r.status_code == 403 and "expert, psychology_teacher" in r.json()["detail"]
    r = await stack.http.post(f"/cases/{cid}/{path}", json=body, headers=auth("psychology_teacher", "school-b"))
    assert r.status_code == 403 and "another school" in r.json()["detail"]
    r = await stack.http.get(f"/cases/{cid}", headers=auth("leadership", "school-b"))
    assert r.status_code == 403
    r = await stack.http.get(f"/cases/{cid}", headers=auth("auditor"))
    assert r.status_code == 403
    r = await stack.http.post(f"/cases/{'0' * 32}/{path}", json=body, headers=auth("psychology_teacher"))
    assert r.status_code == 404 and "not found" in r.json()["detail"]
    r = await stack.http.get(f"/cases/{cid}")
    assert r.status_code == 401
    r = await stack.http.get(f"/cases/{cid}", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and "invalid token" in r.json()["detail"]
    # nothing was written by any of these
    assert [e["action"] for e in db_view(stack, cid)["events"]] == ["open"]
