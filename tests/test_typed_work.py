"""Nothing a teacher types is lost, and nothing is recorded twice (issue 27, point 2), in headless Chromium on
a 390 px phone: a session that expires while a form is open, a field longer than its limit, Back then submit."""

from __future__ import annotations

import time

import httpx
import pyotp
import pytest
from sqlalchemy import text

from tests.conftest import SCHOOL, token
from tests.support import ASSESS_HIGH, open_body
from tests.test_staff_app import _shots
from tests.web import PASSWORD, browser_sign_in, csrf_of, give_sign_in, load_people, site

NOTE = "与母亲通话，约定周五面谈。母亲说孩子这周睡得好一些。"


async def _case(stack) -> str:
    load_people(stack.engine)
    body = open_body()
    body["student"]["class_id"] = "8-3"
    head = {"Authorization": f"Bearer {token('head_teacher', SCHOOL, staff_id='t-zhang')}"}
    case_id = (await stack.http.post("/cases", json=body, headers=head)).json()["case_id"]
    psy = {"Authorization": f"Bearer {token('psychology_teacher', SCHOOL, staff_id='p-chen')}"}
    answer = await stack.http.post(f"/cases/{case_id}/assessment", json=ASSESS_HIGH, headers=psy)
    assert answer.status_code == 200, answer.text
    return case_id


async def _recorded(stack, case_id: str, action: str) -> list[dict]:
    leader = {"Authorization": f"Bearer {token('leadership', SCHOOL)}"}
    answer = await stack.http.get(f"/cases/{case_id}", headers=leader)
    return [e for e in answer.json()["events"] if e["action"] == action]


async def _phone(browser, desk: bool = False):
    if desk:
        context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN",
                                            timezone_id="Asia/Shanghai")
    else:
        context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                            timezone_id="Asia/Shanghai", is_mobile=True, has_touch=True)
    return context, await context.new_page()


@pytest.mark.parametrize("device", ["phone", "desk"])
async def test_a_session_that_expires_while_typing_loses_nothing_and_back_then_submit_records_once(
        sqlite_stack, browser, tmp_path, device):
    stack, shots = sqlite_stack, _shots(tmp_path)
    base, case_id = site(stack), await _case(stack)
    secret = give_sign_in(stack.engine, stack.settings, "p-chen")
    context, page = await _phone(browser, desk=device == "desk")
    await browser_sign_in(page, base, "p-chen", secret)
    form = f"{base}/ui/cases/{case_id}/act/contact"
    await page.goto(form)
    await page.select_option("#f-with_whom", "guardian")
    await page.select_option("#f-channel", "phone")
    await page.fill("#f-notes", NOTE)
    assert await page.locator("#n-f-notes").inner_text() == f"已输入 {len(NOTE)} / 4000 字"

    # the session ends while the note is being typed (it timed out, or was signed out elsewhere)
    with stack.engine.begin() as db:
        db.execute(text("DELETE FROM web_sessions WHERE staff_id = 'p-chen'"))
    await page.click("#submit")
    await page.wait_for_selector("#staff_id")
    assert await _recorded(stack, case_id, "contact") == []
    await page.fill("#staff_id", "p-chen")
    await page.fill("#password", PASSWORD)
    await page.click("#signin")
    await page.wait_for_selector("#code")
    await page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))  # the next code: each is good once
    await page.click("#verify")
    # back at the form, filled in as it was left, and saying so
    await page.wait_for_selector("#draft-restored")
    assert page.url == form
    assert "已恢复您在此页填写但尚未提交的内容" in await page.locator("#draft-restored").inner_text()
    assert await page.locator("#f-notes").input_value() == NOTE
    assert await page.locator("#f-with_whom").input_value() == "guardian"
    await page.screenshot(path=str(shots / f"staff-draft-restored-{device}.png"), full_page=True)
    async with page.expect_navigation():
        await page.click("#submit")
    assert "已办理：咨询与联系" in await page.locator("#done").inner_text()
    assert len(await _recorded(stack, case_id, "contact")) == 1
    assert NOTE in await page.locator("#contacts").inner_text()

    # Back, then submit again: the first answer again, nothing recorded twice, and the page says so
    await page.go_back()
    assert await page.locator("#f-notes").input_value() == NOTE
    async with page.expect_navigation():
        await page.click("#submit")
    assert "这份表单此前已提交，未重复记录" in await page.locator("#done").inner_text()
    assert len(await _recorded(stack, case_id, "contact")) == 1
    # a new note from the same form is a new record, and the form opens empty (the draft went with its confirmation)
    await page.goto(form)
    assert await page.locator("#f-notes").input_value() == ""
    assert await page.locator("#draft-restored").count() == 0
    await page.select_option("#f-with_whom", "student")
    await page.select_option("#f-channel", "in_person")
    await page.fill("#f-notes", "面谈二十分钟。")
    async with page.expect_navigation():
        await page.click("#submit")
    assert len(await _recorded(stack, case_id, "contact")) == 2

    # signing out clears the tab's drafts: the next person at this computer finds nothing typed
    await page.goto(form)
    await page.fill("#f-notes", "未提交的草稿")
    await page.click("#signout")
    await page.wait_for_selector("#staff_id")
    assert await page.evaluate("Object.keys(sessionStorage).filter(k => k.startsWith('crisisflow.draft:'))") == []
    await context.close()


async def test_a_text_over_its_limit_is_refused_in_place_and_the_form_keeps_the_rest(sqlite_stack, browser, tmp_path):
    stack, shots = sqlite_stack, _shots(tmp_path)
    base, case_id = site(stack), await _case(stack)
    secret = give_sign_in(stack.engine, stack.settings, "p-chen")
    context, page = await _phone(browser)
    await browser_sign_in(page, base, "p-chen", secret)
    await page.goto(f"{base}/ui/cases/{case_id}/act/intervene")
    assert await page.locator("#n-f-plan-environment_safety").inner_text() == "已输入 0 / 4000 字"
    await page.fill("#f-plan-warning_signs", "失眠\n" + "长" * 230)
    await page.fill("#f-plan-coping_strategies", "听音乐")
    await page.fill("#f-plan-support_contacts", "同桌")
    await page.fill("#f-plan-professional_contacts", "学校心理咨询室")
    await page.fill("#f-plan-environment_safety", "家长收好药品。" * 1500)  # 10,500 characters
    counter = page.locator("#n-f-plan-environment_safety")
    assert await counter.inner_text() == "最多 4000 字，现在 10500 字，请删减 6500 字"
    assert "第 2 行太长：每行最多 200 字，现在 230 字" in await page.locator("#n-f-plan-warning_signs").inner_text()
    await page.locator("#f-plan-environment_safety").scroll_into_view_if_needed()
    await page.screenshot(path=str(shots / "staff-text-over-limit-phone.png"))
    await page.click("#submit")  # the browser will not send it
    assert page.url.endswith("/act/intervene")
    assert await page.evaluate("document.querySelector('#f-plan-environment_safety').validationMessage") \
        == "最多 4000 字，现在 10500 字，请删减 6500 字"
    assert await _recorded(stack, case_id, "intervene") == []
    cookies = {c["name"]: c["value"] for c in await context.cookies()}
    await context.close()

    # a browser without the page's script: the whole form reaches the server (never a 413 for a form
    # within its limits), and the answer names each field in Chinese with everything typed still there
    async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=30) as http:
        url = f"/ui/cases/{case_id}/act/intervene"
        csrf = csrf_of((await http.get(url)).text)
        long_line = "长" * 230
        answer = await http.post(url, data={
            "csrf": csrf, "key": "k1", "plan.warning_signs": f"失眠\n{long_line}", "plan.coping_strategies": "听音乐",
            "plan.support_contacts": "同桌", "plan.professional_contacts": "\n".join(f"热线{i}" for i in range(25)),
            "plan.environment_safety": "家长收好药品。" * 1500})
        assert answer.status_code == 400
        assert "最多 4000 字，现在 10500 字，请删减" in answer.text
        assert "第 2 行太长：每行最多 200 字，现在 230 字" in answer.text
        assert "最多 20 项（每行一项），现在 25 项" in answer.text
        assert long_line in answer.text and "家长收好药品。" * 1500 in answer.text
        # the largest valid plan (every list 20 lines of 200 characters) is taken
        full = "\n".join("长" * 200 for _ in range(20))
        answer = await http.post(url, data={
            "csrf": csrf, "key": "k2", "plan.warning_signs": full, "plan.coping_strategies": full,
            "plan.support_contacts": full, "plan.professional_contacts": full,
            "plan.environment_safety": "长" * 4000, "notes": "注" * 4000})
        assert answer.status_code == 303, answer.text[:500]
    assert len(await _recorded(stack, case_id, "intervene")) == 1
