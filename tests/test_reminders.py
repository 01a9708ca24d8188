"""催办 (issue 27, point 6): someone the warning ladder told of an overdue duty reminds its owner from the case
page; the owner gets a message saying who reminds them of what, and a second press within the hour sends
nothing more."""

from __future__ import annotations

import json

import pytest_asyncio

from db import store
from tests.conftest import SCHOOL, make_settings, running_stack, token
from tests.support import STUDENT_NAME, eventually
from tests.test_typed_work import _case as high_case
from tests.web import csrf_of, give_sign_in, sign_in, site


@pytest_asyncio.fixture
async def fast_stack(dev_env, webhook, tmp_path):
    """A stack whose policy (a test's, never a school's) lets a guardian notice go overdue in two seconds and
    climb a rung every two seconds after."""
    policy = tmp_path / "fast-policy.json"
    policy.write_text(json.dumps({"version": "test-fast-ladder", "guardian_notice_within": "2s",
                                  "escalation_step_high": "2s"}))
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'crisisflow.db'}", webhook.url, policy_file=policy)
    async with running_stack(dev_env.client, settings) as stack:
        yield stack


async def test_a_duty_overdue_to_leadership_is_reminded_once_an_hour(fast_stack):
    stack = fast_stack
    case_id = await high_case(stack)  # assessed high: the head teacher's guardian notice is due in 2 s
    psy = {"Authorization": f"Bearer {token('psychology_teacher', SCHOOL, staff_id='p-chen')}"}

    async def at_leadership():
        view = (await stack.http.get(f"/cases/{case_id}", headers=psy)).json()
        return any(d["obligation"] == "guardian_notice" and d["escalation_level"] >= 4 for d in view["deadlines"])

    await eventually(at_leadership, timeout=40)
    http = await sign_in(site(stack), "l-sun", give_sign_in(stack.engine, stack.settings, "l-sun"))
    page = (await http.get(f"/ui/cases/{case_id}")).text
    assert 'data-remind="guardian_notice"' in page  # the 督办 rung reached: the case offers 催办
    answer = await http.post(f"/ui/cases/{case_id}/remind/guardian_notice", data={"csrf": csrf_of(page)})
    assert answer.status_code == 303
    assert "已催办：事项的责任人会收到提醒" in (await http.get(answer.headers["location"])).text

    def reminded():
        return [n for n in store.notifications_for(stack.engine, case_id) if n.event.value == "duty_reminded"]

    sent = await eventually(reminded, timeout=20)
    assert sent[0].recipient_staff == ["t-zhang"]  # the duty's owner: the class's head teacher
    text = sent[0].text
    assert text.startswith("【催办】心理危机干预领导小组孙校长催办个案 ") and "的「告知监护人」（" in text
    assert "（北京时间）到期，已逾期）。请" in text and STUDENT_NAME not in text

    # pressed again within the hour: nothing more is sent, and the page says so
    answer = await http.post(f"/ui/cases/{case_id}/remind/guardian_notice", data={"csrf": csrf_of(page)})
    assert "本小时内已催办过，未重复发送" in (await http.get(answer.headers["location"])).text
    assert len(reminded()) == 1
    # a duty not overdue, or one the ladder has not brought to this role, is not for them to remind
    answer = await http.post(f"/ui/cases/{case_id}/remind/review", data={"csrf": csrf_of(page)})
    assert answer.status_code == 409 and "无需催办" in answer.text
    other = await sign_in(site(stack), "s-wu", give_sign_in(stack.engine, stack.settings, "s-wu"))
    assert 'data-remind=' not in (await other.get(f"/ui/cases/{case_id}")).text
    await other.aclose()
    await http.aclose()
