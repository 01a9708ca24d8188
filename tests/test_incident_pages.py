"""Extreme events in the staff app, each side its part (issue 28; pages first built in issue 27).

A psychology teacher records an event from a phone and gives the school's account of the facts; the education
authority's person forms the investigation group with the police and experts (refused, in Chinese, without
either), drafts the six-section review with a live count against the 3,000 characters (refused while a section is
empty or the report is short, everything typed kept) and sends it to the province; the school then reads it.
"""

from __future__ import annotations

from tests import a11y
from tests.test_staff_app import _shots
from tests.web import browser_sign_in, give_sign_in, load_people, site

SECTIONS = ("background", "timeline", "causes", "response", "lessons", "measures")
PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "zh-CN", "timezone_id": "Asia/Shanghai",
         "bypass_csp": True}


async def test_the_school_records_and_accounts_and_the_authority_investigates_and_reports(sqlite_stack, browser,
                                                                                         tmp_path):
    stack, shots = sqlite_stack, _shots(tmp_path)
    load_people(stack.engine)
    base = site(stack)
    school = await browser.new_context(**PHONE)
    page = await school.new_page()
    await browser_sign_in(page, base, "p-chen", give_sign_in(stack.engine, stack.settings, "p-chen"))
    await page.goto(f"{base}/ui/incidents")
    await page.click("#record")
    await page.select_option("#kind", "suicide_attempt")
    await page.fill("#place", "教学楼三楼")
    await page.fill("#summary", "课间一名学生试图从三楼窗口翻出，被同学和老师及时拉回，已送医检查。")
    async with page.expect_navigation():
        await page.click("#submit")
    assert "已告知教育主管部门" in await page.locator("#done").inner_text()
    deadline = await page.locator("#deadline").inner_text()
    assert "复盘报告期限" in deadline and "（北京时间）" in deadline and "剩余 13天23小时" in deadline
    assert "教育主管部门尚未组建调查工作小组" in await page.locator("#group").inner_text()
    assert await page.locator("#report-form").count() == 0  # the school does not write the review
    await page.fill("#account", "学生近一月情绪低落，心理教师已评估为高风险并告知家长。事发当日课间离开教室。")
    async with page.expect_navigation():
        await page.click("#give-facts")
    assert "已提交学校情况说明" in await page.locator("#done").inner_text()
    await page.screenshot(path=str(shots / "staff-incident-school-phone.png"), full_page=True)
    assert await a11y.violations(page) == []
    incident_url = page.url.split("?")[0]

    authority = await browser.new_context(**PHONE)
    desk = await authority.new_page()
    await browser_sign_in(desk, base, "e-liu", give_sign_in(stack.engine, stack.settings, "e-liu"))
    await desk.goto(f"{base}/ui/incidents")
    listed = await desk.locator("#incidents").inner_text()
    assert "某市第一中学" in listed and "待组建调查工作小组" in listed and "学校情况说明已提交" in listed
    await desk.goto(incident_url)
    assert "事发当日课间离开教室" in await desk.locator("#account-text").inner_text()
    # the group: the police alone is refused, in Chinese, with what was typed kept
    await desk.check("#member-e-liu")
    await desk.fill("#ext-name-0", "王警官")
    await desk.fill("#ext-org-0", "某市公安局某分局")
    await desk.select_option("#ext-kind-0", "police")
    async with desk.expect_navigation():
        await desk.click("#form-group")
    assert "至少填写一位公安人员和一位专家" in await desk.locator("#group").inner_text()
    assert await desk.locator("#ext-name-0").input_value() == "王警官"
    await desk.fill("#ext-name-1", "李主任")
    await desk.fill("#ext-org-1", "某市精神卫生中心")
    await desk.select_option("#ext-kind-1", "expert")
    async with desk.expect_navigation():
        await desk.click("#form-group")
    assert "已组建调查工作小组" in await desk.locator("#done").inner_text()
    members = await desk.locator("#group-members").inner_text()
    assert "刘科长" in members and "王警官 · 某市公安局某分局 · 公安部门" in members and "李主任" in members

    # the review: the count is live; an empty section and a short report are refused beside them, kept
    await desk.fill("#s-background", "事件背景。" * 40)
    counter = desk.locator("#report-count")
    assert await counter.inner_text() == "已写 200 字，还差 2800 字才能提交（至少 3000 字，不计空白）"
    async with desk.expect_navigation():
        await desk.click("#save")
    assert "已保存草稿" in await desk.locator("#done").inner_text()
    async with desk.expect_navigation():
        await desk.click("#submit")
    assert "此部分不能为空" in await desk.locator("#report").inner_text()
    assert await desk.locator("#s-background").input_value() == "事件背景。" * 40
    for name in SECTIONS[1:]:
        await desk.fill(f"#s-{name}", "分析与措施。" * 20)
    async with desk.expect_navigation():
        await desk.click("#submit")
    assert "复盘报告至少 3000 字，目前 800 字" in await desk.locator("#report").inner_text()
    for name in SECTIONS:
        await desk.fill(f"#s-{name}", "调查复盘的具体内容。" * 55)  # 550 characters each, 3,300 in all
    assert "已达到提交要求" in await counter.inner_text()
    await desk.screenshot(path=str(shots / "staff-incident-review-phone.png"), full_page=True)
    assert await a11y.violations(desk) == []
    async with desk.expect_navigation():
        await desk.click("#submit")
    assert "复盘报告已报送省教育厅" in await desk.locator("#done").inner_text()
    await authority.close()

    # the school reads what was sent
    await page.goto(incident_url)
    assert "报送省教育厅" in await page.locator("#deadline").inner_text()
    assert "调查复盘的具体内容" in await page.locator("#report").inner_text()
    await page.goto(f"{base}/ui/incidents")
    assert "已报送" in await page.locator("#incidents").inner_text()
    await school.close()
