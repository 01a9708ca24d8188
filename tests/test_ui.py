"""The supervisor pages in headless Chromium (Debian's chromium, driven by Playwright).

Screenshots are saved in the test's temporary directory for a person to look at.
"""

from __future__ import annotations

import shutil

import pytest
from playwright.async_api import async_playwright

from tests.conftest import token
from tests.support import STUDENT_NAME, SUMMARY, open_case, step

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def browser():
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        await b.close()


async def _signed_in(browser, base: str, role: str, lang: str = "zh"):
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{base}/ui?lang={lang}")
    assert "/ui/login" in page.url  # no cookie: sign in first
    await page.fill("#token", token(role))
    await page.click("#signin")
    return page


async def test_supervisor_pages(sqlite_stack, browser, tmp_path):
    stack = sqlite_stack
    cases = [(await open_case(stack))["case_id"] for _ in range(3)]
    await step(stack, cases[0], "assess")
    await step(stack, cases[0], "intervene")
    base = stack.base_url.removesuffix("/api/v1")

    page = await _signed_in(browser, base, "leadership")
    await page.wait_for_selector("#cases")
    assert await page.locator("tr.case-row").count() == 3
    html = await page.content()
    assert all(c[:8] in html for c in cases)
    assert STUDENT_NAME in html  # leadership may see names
    assert "个案列表" in html and "逾期事项" in html  # zh-CN by default
    await page.screenshot(path=str(tmp_path / "ui-cases-leadership.png"), full_page=True)

    await page.select_option("select[name=state]", "intervened")
    await page.click("form[action='/ui'] button[type=submit]")
    await page.wait_for_selector("#cases")
    assert await page.locator("tr.case-row").count() == 1

    await page.click(f"a[href^='/ui/cases/{cases[0]}']")
    await page.wait_for_selector("#timeline")
    assert await page.locator("#student").inner_text() == STUDENT_NAME
    timeline = await page.locator("#timeline").inner_text()
    assert "操作" in timeline and "psychology-teacher-1" in timeline and "已识别 → 已评估" in timeline
    assert await page.locator("tr.entry.action_accepted").count() == 2
    await page.screenshot(path=str(tmp_path / "ui-case-leadership.png"), full_page=True)

    page = await _signed_in(browser, base, "grade_head", lang="en")
    await page.wait_for_selector("#cases")
    html = await page.content()
    assert "Cases" in html and "Overdue" in html
    assert STUDENT_NAME not in html and "2026-0712" in html  # a grade head sees the reference, not the name
    await page.goto(f"{base}/ui/cases/{cases[0]}?lang=en")
    await page.wait_for_selector("#timeline")
    html = await page.content()
    assert STUDENT_NAME not in html and SUMMARY not in html
    await page.screenshot(path=str(tmp_path / "ui-case-grade-head.png"), full_page=True)

    page = await _signed_in(browser, base, "head_teacher")
    html = await page.content()
    assert "无权" in html and STUDENT_NAME not in html

    assert (tmp_path / "ui-cases-leadership.png").stat().st_size > 10_000
