"""What was recorded is shown, and the closure loop is visible (issue 27, points 4 and 5), in headless Chromium:
the case page shows the safety plan with its revisions, the assessment's answers, the guardian's notice and
answer, the referral and its outcome, reviews and contacts; 修订安全计划 opens with the plan in force; a
proposal shows itself to the approver, and a returned closure's reason reaches the proposer."""

from __future__ import annotations

import re

from models.case import case_ref
from tests.conftest import SCHOOL, token
from tests.support import (
    ASSESS_HIGH,
    ASSESS_LOW,
    CONSENT,
    PLAN,
    REFERRAL,
    REVIEW,
    contact,
    eventually,
    notice,
    open_body,
    outcome,
)
from tests.test_staff_app import _shots
from tests.web import browser_sign_in, give_sign_in, load_people, sign_in, site

DESK = {"width": 1366, "height": 768}
RETURN_REASON = "门诊随访刚开始两周，请再观察一个月后重新申请"


async def _says(locator, words: str) -> bool:
    return words in await locator.inner_text()


def _as(staff_id: str, role: str) -> dict:
    return {"Authorization": f"Bearer {token(role, SCHOOL, staff_id=staff_id)}"}


async def _case_with(stack, *steps: tuple) -> str:
    """A case of 8-3 opened by its head teacher (张老师), then each (API path, body, "head", "psy" or "lead") taken
    by her, by the psychology teacher 陈老师 (who assesses it and so owns it) or by the leader 孙校长. A body that
    states a time is a function, called once the case is open (a time must lie within the case's life)."""
    load_people(stack.engine)
    body = open_body()
    body["student"]["class_id"] = "8-3"
    who = {"head": _as("t-zhang", "head_teacher"), "psy": _as("p-chen", "psychology_teacher"),
           "lead": _as("l-sun", "leadership")}
    case_id = (await stack.http.post("/cases", json=body, headers=who["head"])).json()["case_id"]
    for path, payload, by in steps:
        answer = await stack.http.post(f"/cases/{case_id}/{path}", json=payload() if callable(payload) else payload,
                                       headers=who[by])
        assert answer.status_code == 200, (path, answer.text)
    return case_id


#: a high case's steps up to the referral: assessed, the guardian told, a plan, a referral
TO_REFERRAL = (("assessment", ASSESS_HIGH, "psy"), ("guardian-notice", notice, "head"),
               ("intervention", PLAN, "psy"), ("referral", REFERRAL, "psy"))


async def _recorded_case(stack) -> str:
    """A high case with everything a psychology teacher and a head teacher record, up to the hospital's answer."""
    return await _case_with(stack, ("assessment", ASSESS_HIGH, "psy"), ("guardian-notice", notice, "head"),
                            ("intervention", PLAN, "psy"), ("contacts", contact, "psy"), ("review", REVIEW, "psy"),
                            ("referral", REFERRAL, "psy"), ("guardian-response", CONSENT, "head"),
                            ("referral-outcome", outcome, "psy"))


async def _person(browser, base, stack, staff_id, viewport=None):
    context = await browser.new_context(viewport=viewport or {"width": 390, "height": 844}, locale="zh-CN",
                                        timezone_id="Asia/Shanghai")
    page = await context.new_page()
    await browser_sign_in(page, base, staff_id, give_sign_in(stack.engine, stack.settings, staff_id))
    return context, page


async def test_the_case_page_shows_what_was_recorded_and_the_closure_loop(sqlite_stack, browser, tmp_path):
    stack, shots = sqlite_stack, _shots(tmp_path)
    base, case_id = site(stack), await _recorded_case(stack)
    context, psy = await _person(browser, base, stack, "p-chen")

    # 修订安全计划 opens with the plan in force; the revision is the plan's second version
    await psy.goto(f"{base}/ui/cases/{case_id}/act/plan")
    plan = PLAN["plan"]
    assert await psy.locator("#f-plan-warning_signs").input_value() == "\n".join(plan["warning_signs"])
    assert await psy.locator("#f-plan-environment_safety").input_value() == plan["environment_safety"]
    assert await psy.locator("#f-notes").input_value() == ""
    await psy.fill("#f-plan-coping_strategies", "呼吸放松\n写情绪日记\n每天跑步二十分钟")
    async with psy.expect_navigation():
        await psy.click("#submit")
    assert "已办理：修订安全计划" in await psy.locator("#done").inner_text()

    section = psy.locator("#plan")
    current = section.locator("article.entry").first
    assert "修订安全计划（第 2 版，现行）" in await current.locator("h3").inner_text()
    assert "每天跑步二十分钟" in await current.inner_text() and "陈老师" in await current.inner_text()
    assert await section.locator("details.revisions article.entry").count() == 1
    assert "（第 1 版）" in await section.locator("details.revisions").text_content()

    # the highlighted button is the duty due next (the review), never a re-assessment
    assert [await a.get_attribute("data-action") for a in await psy.locator("#actions a.primary").all()] == ["review"]
    text = await psy.locator("main").inner_text()
    for seen in ("哥伦比亚自杀严重程度评定量表（C-SSRS）", "评估结果\n高风险", "你是否真的有过想要自杀的念头？ —— 是",
                 "你是否想过可能会怎样去做？ —— 是",
                 "是否请心理危机专家会诊\n是",  # the assessment
                 "告知方式\n电话", "监护人与学生的关系\n母亲", "答复\n同意转介就医",  # the guardian
                 "转介机构\n市精神卫生中心", "紧急程度\n紧急（绿色通道）", "转介结果\n门诊治疗",
                 "医院建议\n门诊复诊，按时服药",  # the referral and what came of it
                 "回访所见\n课堂参与增加，睡眠改善", "风险趋势\n好转", "午休时谈话二十分钟"):  # reviews, contacts
        assert seen in text, seen
    await psy.screenshot(path=str(shots / "staff-case-record-phone.png"), full_page=True)

    # the closure is proposed: a high case waits for leadership, and the page says so
    await psy.goto(f"{base}/ui/cases/{case_id}/act/close")
    await psy.select_option("#f-reason", "resolved")
    await psy.fill("#f-outcome", "门诊随访中，情绪稳定")
    await psy.fill("#f-rationale", "连续四周评估为低风险")
    for unmet in await psy.locator("textarea[id^=unmet-]").all():
        await unmet.fill("门诊随访期间由医院负责，学校每周了解情况")
    async with psy.expect_navigation():
        await psy.click("#submit")
    assert "已提出结案申请，待领导审批" in await psy.locator("#done").inner_text()
    assert "待心理危机干预领导小组审批" in await psy.locator("#proposal").inner_text()

    # leadership: the approval counts in 待办, and the form shows the proposal before the decision
    lead_context, lead = await _person(browser, base, stack, "l-sun")
    await lead.goto(f"{base}/ui")
    assert await lead.locator("#closures li").count() == 1
    summary = await lead.locator("p.summary").inner_text()
    assert summary.startswith("待办 ") and int(summary.split()[1]) >= 1
    await lead.locator("#closures li a").click()
    proposal = await lead.locator("#proposal").inner_text()
    assert "陈老师" in proposal and "危机已解除" in proposal and "连续四周评估为低风险" in proposal
    await lead.screenshot(path=str(shots / "staff-closure-approval-phone.png"), full_page=True)
    await lead.check("input[name=decision][value=return]")
    await lead.fill("#f-comment", RETURN_REASON)
    async with lead.expect_navigation():
        await lead.click("#submit")
    assert "结案审批：退回" in await lead.locator("#timeline").inner_text()
    await lead_context.close()

    # the proposer sees why, in their tasks and on the case page
    await psy.goto(f"{base}/ui")
    returned = await psy.locator("#returned").inner_text()
    assert "结案申请被退回" in returned and "孙校长" in returned and RETURN_REASON in returned
    await psy.screenshot(path=str(shots / "staff-closure-returned-phone.png"), full_page=True)
    await psy.locator(f"#returned li[data-case='{case_id}'] a").click()
    assert RETURN_REASON in await psy.locator("#returned").inner_text()
    closure = await psy.locator("#closure").inner_text()
    assert "结案审批：退回" in closure and "提出结案申请（待领导审批）" in closure and RETURN_REASON in closure
    await psy.set_viewport_size(DESK)
    await psy.screenshot(path=str(shots / "staff-case-record-desk.png"), full_page=True)
    await context.close()


async def test_a_confirmation_says_who_was_told_the_report_to_the_authority_and_the_next_deadline(
        sqlite_stack, browser, tmp_path):
    stack, shots = sqlite_stack, _shots(tmp_path)
    base, case_id = site(stack), await _case_with(stack, *TO_REFERRAL)

    # the head teacher records the guardian's refusal from her phone
    context, page = await _person(browser, base, stack, "t-zhang")
    await page.goto(f"{base}/ui/cases/{case_id}/act/guardian_response")
    await page.check("input[name=decision][value=refuse]")
    await page.check("input[name=by][value=guardian]")
    await page.fill("#f-notes", "家长认为孩子只是青春期情绪")
    async with page.expect_navigation():
        await page.click("#submit")
    # the page's CSP allows no eval (wait_for_function's string): ask the page's text until it says so
    await eventually(lambda: _says(page.locator("#done"), "报告"), timeout=15)
    said = await page.locator("#done").inner_text()
    # leadership hears of the refusal, and confirms and sends the prepared report next, within the school's day
    assert said.startswith("已办理：监护人答复。已通知：孙校长。下一期限：向教育主管部门报告，")
    assert "（北京时间，剩余 23小时59分钟）" in said or "（北京时间，剩余 23小时58分钟）" in said
    await context.close()

    # the leader confirms it, with a note, from her phone: the authority, by name, has it
    context, page = await _person(browser, base, stack, "l-sun")
    await page.goto(f"{base}/ui/cases/{case_id}/act/send_report")
    await page.fill("#f-note", "学校将继续与家长沟通，班主任每日关注学生情况")
    async with page.expect_navigation():
        await page.click("#submit")
    await eventually(lambda: _says(page.locator("#done"), "下一期限"), timeout=15)
    said = await page.locator("#done").inner_text()
    assert said.startswith("已办理：确认并报送教育主管部门。已向某市教育局报送。下一期限：跟踪回访，")
    await page.screenshot(path=str(shots / "staff-confirmation-reported-phone.png"))
    await context.close()


async def test_the_case_list_finds_a_student_by_number_or_name_and_puts_the_most_urgent_first(sqlite_stack):
    stack = sqlite_stack
    load_people(stack.engine)
    head, psy = _as("t-zhang", "head_teacher"), _as("p-chen", "psychology_teacher")

    async def opened(ref: str, name: str, *steps) -> str:
        body = open_body(name=name)
        body["student"].update(class_id="8-3", ref=ref)
        case_id = (await stack.http.post("/cases", json=body, headers=head)).json()["case_id"]
        for path, payload in steps:
            assert (await stack.http.post(f"/cases/{case_id}/{path}", json=payload, headers=psy)).status_code == 200
        return case_id

    waiting = await opened("2026-0101", "林晓雨")  # the assessment is due within 24 h (a warning signal)
    high = await opened("2026-0202", "周子墨", ("assessment", ASSESS_HIGH))  # the guardian notice, within 2 h
    quiet = await opened("2026-0303", "马可欣", ("assessment", ASSESS_LOW))  # a review, days away
    http = await sign_in(site(stack), "p-chen", give_sign_in(stack.engine, stack.settings, "p-chen"))

    async def listed(query: str) -> list[str]:
        answer = await http.get(f"/ui/cases?{query}")
        assert answer.status_code == 200
        return re.findall(r'<tr class="case-row[^"]*" data-case="([0-9a-f]{32})"', answer.text)

    assert await listed("") == [high, waiting, quiet]  # by default the most urgent first
    assert await listed("order=opened") == [quiet, high, waiting]
    assert await listed("order=risk") == [high, quiet, waiting]  # high, low, then not yet assessed
    assert await listed("q=0202") == [high]  # a part of the student's number
    assert await listed("q=林晓") == [waiting]  # a part of the name, for a role that sees names
    page = (await http.get("/ui/cases?q=晓雨&order=risk")).text
    assert "“晓雨”：共 1 个个案" in page and 'value="晓雨"' in page
    await http.aclose()


async def test_the_authoritys_reports_page_says_school_case_kind_date_and_what_is_unread(sqlite_stack):
    stack = sqlite_stack
    case_id = await _case_with(stack, *TO_REFERRAL, ("guardian-response", {**CONSENT, "decision": "refuse"}, "head"),
                               ("authority-report", {}, "lead"))

    http = await sign_in(site(stack), "e-liu", give_sign_in(stack.engine, stack.settings, "e-liu"))

    async def listed(query: str = "") -> str:
        return (await http.get(f"/ui/reports{query}")).text

    page = await eventually(lambda: _has(listed(), "关于学生拒绝就医情况的报告"), timeout=30)
    document_id = re.search(r'data-document="([^"]+)" class="unread"', page).group(1)
    assert f"某市第一中学 · 个案编号 {case_ref(case_id)} · " in page and "未读" in page
    assert "共 1 份，其中未读 1 份" in page
    assert document_id not in await listed("?kind=incident_review")
    assert document_id in await listed("?kind=authority_report&unread=true")
    opened = await http.get(f"/ui/documents/{document_id}")
    assert opened.status_code == 200 and opened.headers["content-type"] == "application/pdf"
    page = await listed()
    assert f'data-document="{document_id}" class="read"' in page and "其中未读 0 份" in page
    assert document_id not in await listed("?unread=true")
    await http.aclose()


async def _has(text, words: str) -> str | None:
    found = await text
    return found if words in found else None
