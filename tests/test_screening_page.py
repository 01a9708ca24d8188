"""The screening upload in the staff app (issue 27): a psychology teacher previews a school's result file from
a phone, follows the job as it runs, reads every unreadable row in Chinese, then imports it and the flagged
students' cases open."""

from __future__ import annotations

import csv

from tests import a11y
from tests.test_screening_import import HEADER
from tests.test_staff_app import _shots
from tests.web import browser_sign_in, give_sign_in, load_people, site

CLASS = ("8-3", "八年级", "八(3)班")


def _file(path) -> None:
    """60 students of 8-3: 3 with thoughts of self-harm (PHQ-9 item 9), 2 rows that cannot be read."""
    rows = []
    for n in range(60):
        student = [f"2026{n:04d}", f"学生{n}", *CLASS]
        if n < 3:
            rows.append(student + ["phq9", ""] + [0, 1, 0, 1, 0, 0, 1, 0, 1])
        elif n == 10:
            rows.append(student + ["bdi", 12] + [""] * 9)
        elif n == 20:
            rows.append(student + ["gad7", 30] + [""] * 9)
        else:
            rows.append(student + ["gad7", 3] + [""] * 9)
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([HEADER, *rows])


async def test_a_screening_file_is_previewed_then_imported_from_a_phone(sqlite_stack, browser, tmp_path):
    stack, shots = sqlite_stack, _shots(tmp_path)
    load_people(stack.engine)
    base, results = site(stack), tmp_path / "2026秋季普查.csv"
    _file(results)
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                        timezone_id="Asia/Shanghai", bypass_csp=True)
    page = await context.new_page()
    await browser_sign_in(page, base, "p-chen", give_sign_in(stack.engine, stack.settings, "p-chen"))
    await page.click("#menu-toggle")
    await page.click("text=筛查导入")
    assert await a11y.violations(page) == []

    # a batch name the school cannot use is refused beside the field, in Chinese
    await page.set_input_files("#file", str(results))
    await page.fill("#batch", "秋季/普查")
    await page.click("#submit")
    assert "请填写批次名称" in await page.locator("#screening-upload").inner_text()

    # the preview: counts and every unreadable row, nothing recorded
    await page.set_input_files("#file", str(results))
    await page.fill("#batch", "2026秋季普查")
    assert await page.locator("input[name=dry_run]").is_checked()
    async with page.expect_navigation():
        await page.click("#submit")
    await page.locator("#job-status").filter(has_text="预览完成").wait_for(timeout=20_000)
    assert await page.locator("#rows").inner_text() == "60 行"
    assert await page.locator("#flagged").inner_text() == "3 人"
    errors = await page.locator("#errors").inner_text()
    assert "第 12 行：instrument：“bdi”不是可识别的量表" in errors
    assert "第 22 行：total：GAD-7 总分应在 0 至 21 之间" in errors
    assert await a11y.violations(page) == []
    await page.screenshot(path=str(shots / "staff-screening-preview-phone.png"), full_page=True)

    # the import: the three flagged students' cases open
    await page.goto(f"{base}/ui/screenings")
    await page.set_input_files("#file", str(results))
    await page.fill("#batch", "2026秋季普查")
    await page.uncheck("input[name=dry_run]")
    async with page.expect_navigation():
        await page.click("#submit")
    await page.locator("#job-status").filter(has_text="导入完成").wait_for(timeout=60_000)
    assert await page.locator("#cases").inner_text() == "3 个"
    await page.screenshot(path=str(shots / "staff-screening-imported-phone.png"), full_page=True)
    await page.click("text=查看个案")
    assert await page.locator("tr.case-row").count() == 3
    # the school's latest imports are listed
    await page.goto(f"{base}/ui/screenings")
    assert await page.locator("#recent li").count() == 2
    await context.close()
