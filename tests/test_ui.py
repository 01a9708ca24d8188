"""The supervisors' pages of the staff app, and the Temporal UI decoding for a signed-in reader,
in headless Chromium (Debian's chromium, driven by Playwright).

Screenshots are saved in the test's temporary directory for a person to look at.
"""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from config.temporal import data_converter
from models import search_attributes as sa
from models.directory import Staff
from tests.conftest import KEYRING, OTHER_SCHOOL, TEMPORAL, auth, free_port, make_settings, running_stack
from tests.support import STUDENT_NAME, SUMMARY, open_body, open_case, step
from tests.web import browser_sign_in, give_sign_in, load_people, other_school

OTHER_LEADERSHIP = other_school(Staff(id="b-lead", name="周校长", school=OTHER_SCHOOL, roles=["leadership"]))



async def _signed_in(browser, stack, staff_id: str, width: int = 1280):
    context = await browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    await browser_sign_in(page, stack.base_url.removesuffix("/api/v1"), staff_id,
                          give_sign_in(stack.engine, stack.settings, staff_id))
    return page


async def _case_in(stack, class_id: str) -> str:
    body = open_body()
    body["student"].update(class_id=class_id, grade="八年级", class_name="八(3)班" if class_id == "8-3" else "八(4)班")
    r = await stack.http.post("/cases", json=body, headers=auth("head_teacher"))
    assert r.status_code == 201, r.text
    return r.json()["case_id"]


async def test_supervisor_pages(sqlite_stack, browser, tmp_path):
    stack = sqlite_stack
    load_people(stack.engine)
    base = stack.base_url.removesuffix("/api/v1")
    cases = [await _case_in(stack, c) for c in ("8-3", "8-3", "8-4")]
    await step(stack, cases[0], "assess")
    await step(stack, cases[0], "intervene")

    page = await _signed_in(browser, stack, "l-sun")
    await page.goto(f"{base}/ui/cases")
    assert await page.locator("tr.case-row").count() == 3
    html = await page.content()
    assert STUDENT_NAME in html  # leadership may see names
    await page.screenshot(path=str(tmp_path / "ui-cases-leadership.png"), full_page=True)

    await page.select_option("select[name=state]", "intervened")
    await page.click("#filter")
    await page.wait_for_selector("#cases")
    assert await page.locator("tr.case-row").count() == 1

    await page.click(f"a[href^='/ui/cases/{cases[0]}']")
    await page.wait_for_selector("#timeline")
    assert await page.locator("#student").inner_text() == STUDENT_NAME
    timeline = await page.locator("#timeline").inner_text()
    assert "psychology-teacher-1" in timeline and "心理危机评估：已识别 → 已评估" in timeline
    assert await page.locator("li.entry.assess").count() == 1

    await page.goto(f"{base}/ui/dashboard")
    await page.wait_for_selector("#chart-states svg")
    assert "干预中 1" in await page.locator("#chart-states").inner_text()
    await page.screenshot(path=str(tmp_path / "ui-dashboard-leadership.png"), full_page=True)

    # a grade head (八年级) sees the school's eighth grade, by reference, never the name or the narrative
    page = await _signed_in(browser, stack, "g-wang")
    await page.goto(f"{base}/ui/cases")
    assert await page.locator("tr.case-row").count() == 3
    html = await page.content()
    assert STUDENT_NAME not in html and "2026-0712" in html
    await page.goto(f"{base}/ui/cases/{cases[0]}")
    await page.wait_for_selector("#timeline")
    html = await page.content()
    assert STUDENT_NAME not in html and SUMMARY not in html
    await page.screenshot(path=str(tmp_path / "ui-case-grade-head.png"), full_page=True)

    # a head teacher has no supervisors' pages, and sees her own class only
    page = await _signed_in(browser, stack, "t-li")
    await page.goto(f"{base}/ui/dashboard")
    assert "督导页面供" in await page.locator("#error-message").inner_text()
    await page.goto(f"{base}/ui/cases")
    assert await page.locator("tr.case-row").count() == 1
    assert (tmp_path / "ui-cases-leadership.png").stat().st_size > 10_000


async def test_temporal_ui_decodes_through_the_codec_server_for_a_permitted_reader(tmp_path, browser):
    """The real Temporal UI, pointed at our codec server, used as a person would.

    The reader signs in to the staff app (its session cookie), opens the workflow in the
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

            load_people(stack.engine, OTHER_LEADERSHIP)

            async def visit(staff_id: str | None, shot: str, decoded: bool = False) -> str:
                context = await browser.new_context(viewport={"width": 1400, "height": 1000})
                page = await context.new_page()
                if staff_id:
                    await browser_sign_in(page, f"http://127.0.0.1:{api_port}", staff_id,
                                          give_sign_in(stack.engine, stack.settings, staff_id))
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
            other_school = await visit("b-lead", "temporal-ui-other-school.png")
            assert STUDENT_NAME not in other_school
            reader = await visit("l-sun", "temporal-ui-leadership.png", decoded=True)
            assert STUDENT_NAME in reader

    # every decode was on record: who, and for which case
    with stack.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT staff_id, status FROM access_log WHERE what = 'decode payloads' ORDER BY seq").all()
    assert ("l-sun", 200) in rows and ("b-lead", 403) in rows and all(s in (200, 403) for _, s in rows)
