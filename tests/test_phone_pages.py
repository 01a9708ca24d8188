"""The pages issue 25 added, on a 360 px phone in headless Chromium: leadership names another owner, a
reporter follows what they reported, a head teacher reviews the watch list. Each page fits the phone and
speaks Chinese with Beijing times; screenshots go to ``$CRISISFLOW_SHOTS`` (docs/images) when it is set.
"""

from __future__ import annotations

import uuid

from tests.conftest import SCHOOL, token
from tests.support import ASSESS_HIGH, ASSESS_LOW, CLOSE, eventually, open_body
from tests.test_staff_app import _shots, _submit
from tests.web import browser_sign_in, give_sign_in, load_people, site


def as_(staff_id: str, role: str) -> dict:
    return {"Authorization": f"Bearer {token(role, SCHOOL, staff_id=staff_id)}"}


async def _fits(page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing runs off the phone
    text = await page.locator("body").inner_text()
    assert not any(word in text for word in ("+00:00", "UTC", "owner", "watch_review", "None"))


async def test_owner_reporter_and_watch_list_pages_on_a_phone(sqlite_stack, browser, tmp_path):
    stack, shots = sqlite_stack, _shots(tmp_path)
    base = site(stack)
    load_people(stack.engine)
    body = open_body(warning_signals=[])
    body["student"].update(class_id="8-3", ref=f"2026-{uuid.uuid4().hex[:6]}")
    # 吴老师, who teaches maths, reports a concern; 陈老师 assesses, and so owns the case
    reported = (await stack.http.post("/cases", json=body, headers=as_("s-wu", "staff"))).json()["case_id"]
    await stack.http.post(f"/cases/{reported}/assessment", json=ASSESS_HIGH,
                          headers=as_("p-chen", "psychology_teacher"))
    # another student's case closes with follow-up advised: on the watch list
    other = open_body()
    other["student"].update(class_id="8-3", ref=f"2026-{uuid.uuid4().hex[:6]}", name="李小红")
    closed = (await stack.http.post("/cases", json=other, headers=as_("t-zhang", "head_teacher"))).json()["case_id"]
    await stack.http.post(f"/cases/{closed}/assessment", json=ASSESS_LOW, headers=as_("p-chen", "psychology_teacher"))
    await stack.http.post(f"/cases/{closed}/closure", json={**CLOSE, "follow_up": True},
                          headers=as_("p-chen", "psychology_teacher"))

    context = await browser.new_context(viewport={"width": 360, "height": 780}, locale="zh-CN",
                                        timezone_id="Asia/Shanghai", is_mobile=True, has_touch=True)
    page = await context.new_page()

    # leadership names 何老师 the owner, from a phone
    await browser_sign_in(page, base, "l-sun", give_sign_in(stack.engine, stack.settings, "l-sun"))
    await page.goto(f"{base}/ui/cases/{reported}")
    assert "负责心理教师：陈老师" in await page.locator("#owner").inner_text()
    await page.goto(f"{base}/ui/cases/{reported}/act/reassign")
    options = await page.locator("#f-owner option").all_inner_texts()
    assert options == ["请选择", "何老师"]  # the school's psychology teachers, but the owner now
    await page.select_option("#f-owner", "p-he")
    await page.fill("#f-reason", "陈老师外出培训两周，由何老师接手")
    await _fits(page)
    await page.screenshot(path=str(shots / "staff-reassign-phone.png"), full_page=True)
    await _submit(page)
    await page.wait_for_selector("#owner")
    assert "负责心理教师：何老师" in await page.locator("#owner").inner_text()
    await page.screenshot(path=str(shots / "staff-case-owner-phone.png"), full_page=False)
    await page.context.clear_cookies()

    # the reporter: what they reported and where it stands, nothing others recorded
    await browser_sign_in(page, base, "s-wu", give_sign_in(stack.engine, stack.settings, "s-wu"))
    home = await page.locator("#reported").inner_text()
    assert "已评估" in home and "高风险" not in home
    await _fits(page)
    await page.screenshot(path=str(shots / "staff-reported-phone.png"), full_page=True)
    await page.goto(f"{base}/ui/cases/{reported}")
    text = await page.locator("main").inner_text()
    assert "我报告的情况" in text and "接下来" in text and "风险" not in text.replace("高危因素", "")
    await _fits(page)
    await page.screenshot(path=str(shots / "staff-reported-case-phone.png"), full_page=True)
    await page.context.clear_cookies()

    # the head teacher reviews the watch list: kept on it, the next review moves on
    await browser_sign_in(page, base, "t-zhang", give_sign_in(stack.engine, stack.settings, "t-zhang"))

    async def listed():
        await page.goto(f"{base}/ui/watchlist")
        return "李小红" in await page.locator("main").inner_text()

    await eventually(listed)
    entry = await page.locator("#watchlist li").first.inner_text()
    assert "个案结案，建议继续跟踪关注" in entry and "负责心理教师：陈老师" in entry and "下次复核" in entry
    await _fits(page)
    await page.locator("#watchlist textarea").first.fill("情绪平稳，与同学相处正常")
    await page.screenshot(path=str(shots / "staff-watchlist-phone.png"), full_page=True)
    await page.locator("#watchlist button").first.click()
    await page.wait_for_selector("#done")
    assert "已记录复核" in await page.locator("#done").inner_text()
    await context.close()
