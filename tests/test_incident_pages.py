"""Extreme events in the staff app (issue 27, pages that were missing): a psychology teacher records an event
from a phone, drafts the six-section review with a live count against the 3,000 characters, sees the
deadline, is refused in Chinese while a section is empty or the report is short, and submits it; the
authority's reports page then lists it."""

from __future__ import annotations

from tests import a11y
from tests.test_staff_app import _shots
from tests.web import browser_sign_in, give_sign_in, load_people, site

SECTIONS = ("background", "timeline", "causes", "response", "lessons", "measures")


async def test_an_extreme_event_is_recorded_and_its_review_drafted_and_submitted(sqlite_stack, browser, tmp_path):
    stack, shots = sqlite_stack, _shots(tmp_path)
    load_people(stack.engine)
    base = site(stack)
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                        timezone_id="Asia/Shanghai", bypass_csp=True)
    page = await context.new_page()
    await browser_sign_in(page, base, "p-chen", give_sign_in(stack.engine, stack.settings, "p-chen"))
    await page.goto(f"{base}/ui/incidents")
    await page.click("#record")
    await page.select_option("#kind", "suicide_attempt")
    await page.fill("#place", "教学楼三楼")
    await page.fill("#summary", "课间一名学生试图从三楼窗口翻出，被同学和老师及时拉回，已送医检查。")
    async with page.expect_navigation():
        await page.click("#submit")
    assert "已记录极端事件" in await page.locator("#done").inner_text()
    deadline = await page.locator("#deadline").inner_text()
    assert "复盘报告期限" in deadline and "（北京时间）" in deadline and "剩余 13天23小时" in deadline

    # a draft: the count is live, and a short report with an empty section is refused beside it, kept
    await page.fill("#s-background", "事件背景。" * 40)
    counter = page.locator("#report-count")
    assert await counter.inner_text() == "已写 200 字，还差 2800 字才能提交（至少 3000 字，不计空白）"
    async with page.expect_navigation():
        await page.click("#save")
    assert "已保存草稿" in await page.locator("#done").inner_text()
    assert await page.locator("#s-background").input_value() == "事件背景。" * 40
    async with page.expect_navigation():
        await page.click("#submit")
    assert "此部分不能为空" in await page.locator("#report").inner_text()
    assert await page.locator("#s-background").input_value() == "事件背景。" * 40
    for name in SECTIONS[1:]:
        await page.fill(f"#s-{name}", "分析与措施。" * 20)
    async with page.expect_navigation():
        await page.click("#submit")
    assert "复盘报告至少 3000 字，目前 800 字" in await page.locator("#report").inner_text()
    for name in SECTIONS:
        await page.fill(f"#s-{name}", "调查复盘的具体内容。" * 55)  # 550 characters each, 3,300 in all
    assert "已达到提交要求" in await counter.inner_text()
    await page.screenshot(path=str(shots / "staff-incident-review-phone.png"))
    assert await a11y.violations(page) == []
    async with page.expect_navigation():
        await page.click("#submit")
    assert "复盘报告已提交" in await page.locator("#done").inner_text()
    assert "复盘报告已于" in await page.locator("#deadline").inner_text()
    await page.goto(f"{base}/ui/incidents")
    assert "已提交" in await page.locator("#incidents").inner_text()
    await context.close()
