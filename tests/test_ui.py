"""The supervisor pages in headless Chromium (Debian's chromium, driven by Playwright).

Screenshots are saved in the test's temporary directory for a person to look at.
"""

from __future__ import annotations

import shutil

import pytest
from playwright.async_api import async_playwright
from temporalio.testing import WorkflowEnvironment

from config.temporal import data_converter
from models import search_attributes as sa
from tests.conftest import KEYRING, OTHER_SCHOOL, TEMPORAL, free_port, make_settings, running_stack, token
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


async def test_temporal_ui_decodes_through_the_codec_server_for_a_permitted_reader(tmp_path, browser):
    """The real Temporal UI, pointed at our codec server, used as a person would.

    The reader signs in at /ui (the session cookie), opens the workflow in the
    Temporal UI, and in its Codec Server settings ticks "Include cross-origin
    credentials". Leadership of the case's school then sees the case decoded;
    a stranger and another school's leadership see ciphertext.
    """
    api_port, ui_port = free_port(), free_port()
    ui, codec = f"http://127.0.0.1:{ui_port}", f"http://127.0.0.1:{api_port}/codec"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=TEMPORAL, data_converter=data_converter(KEYRING), search_attributes=list(sa.ALL),
        ui=True, ui_port=ui_port, dev_server_log_level="error", dev_server_extra_args=["--ui-codec-endpoint", codec],
    )
    async with env:
        settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", None, ui_origins=[ui])
        async with running_stack(env.client, settings, port=api_port) as stack:
            case_id = (await open_case(stack))["case_id"]

            async def visit(bearer: str | None, shot: str, decoded: bool = False) -> str:
                context = await browser.new_context(viewport={"width": 1400, "height": 1000})
                page = await context.new_page()
                if bearer:
                    await page.goto(f"http://127.0.0.1:{api_port}/ui/login")
                    await page.fill("#token", bearer)
                    await page.click("#signin")
                    await page.wait_for_url("**/ui?**")
                await page.goto(f"{ui}/namespaces/default/workflows/case-{case_id}")
                await page.wait_for_selector(f"text=case-{case_id}", timeout=30_000)
                # without credentials the UI cannot reach the codec server; send them
                await page.click("[data-testid=data-encoder-status-error]", timeout=30_000)
                await page.click("[data-testid=use-local-endpoint-input]")
                await page.fill("[data-testid=data-encoder-endpoint-input]", codec)
                await page.click("[data-testid=data-encoder-include-credentials]")
                await page.locator("dialog[open] [data-testid=confirm-modal-button]").click()
                await page.reload()  # the settings live in this browser's storage from now on
                await page.wait_for_selector(f"text=case-{case_id}", timeout=30_000)
                if decoded:
                    await page.wait_for_selector(f"text={STUDENT_NAME}", timeout=30_000)
                else:
                    await page.wait_for_timeout(3_000)
                await page.screenshot(path=str(tmp_path / shot), full_page=True)
                html = await page.content()
                await context.close()
                return html

            stranger = await visit(None, "temporal-ui-no-token.png")
            assert STUDENT_NAME not in stranger and SUMMARY not in stranger
            other_school = await visit(token("leadership", OTHER_SCHOOL), "temporal-ui-other-school.png")
            assert STUDENT_NAME not in other_school
            reader = await visit(token("leadership"), "temporal-ui-leadership.png", decoded=True)
            assert STUDENT_NAME in reader

    # every decode was on record: who, and for which case
    with stack.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT staff_id, status FROM access_log WHERE what = 'decode payloads' ORDER BY seq").all()
    assert ("leadership-1", 200) in rows and all(s in (200, 403) for _, s in rows)
