"""The staff app, driven in headless Chromium (Debian's) as the school's people use it.

A whole case, from a head teacher's phone to the leadership's desk: every step is checked on the
screen and in ``GET /api/v1/cases/{id}``. Screenshots go to the test's temporary directory, or to
``$CRISISFLOW_SHOTS`` (``docs/images`` is made that way).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyotp
import pytest

from api.web import accounts
from db import store
from models.directory import Staff
from tests.conftest import OTHER_SCHOOL, auth, make_settings, running_stack
from tests.support import open_body
from tests.web import (
    PASSWORD,
    browser_sign_in,
    csrf_of,
    give_sign_in,
    load_people,
    other_school,
    sign_in,
    site,
)

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1366, "height": 900}
NAME = "林晓雨"
OTHER_SCHOOL_PEOPLE = other_school(Staff(id="b-qian", name="钱老师", school=OTHER_SCHOOL, roles=["head_teacher"]))



def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CRISISFLOW_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def _api_case(stack, case_id: str) -> dict:
    answer = await stack.http.get(f"/cases/{case_id}", headers=auth("leadership"))
    assert answer.status_code == 200
    return answer.json()


async def _until_state(stack, case_id: str, state: str, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        case = await _api_case(stack, case_id)
        if case["state"] == state or time.monotonic() > deadline:
            return case
        await asyncio.sleep(0.2)


async def _phone(browser):
    context = await browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai",
                                        device_scale_factor=1, is_mobile=True, has_touch=True)
    return await context.new_page()


async def _desk(browser):
    context = await browser.new_context(viewport=DESK, locale="zh-CN", timezone_id="Asia/Shanghai")
    return await context.new_page()


async def _submit(page) -> None:
    async with page.expect_navigation():
        await page.click("#submit")


@pytest.fixture
async def short_window_stack(dev_env, webhook, tmp_path):
    """The school's stack with sign-in limits counted over 20 s instead of a minute: the same rule,
    and a lockout the test can wait out without waiting a minute."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'crisisflow.db'}", webhook.url, signin_window_seconds=20)
    async with running_stack(dev_env.client, settings) as stack:
        yield stack


async def test_a_whole_case_from_a_phone_to_the_leadership_desk(short_window_stack, browser, tmp_path):
    stack, shots = short_window_stack, _shots(tmp_path)
    base = site(stack)
    load_people(stack.engine, OTHER_SCHOOL_PEOPLE)
    started = time.monotonic()

    # brute force: the 6th wrong password in the window is refused, and so is the right one, for now
    g_zhao = give_sign_in(stack.engine, stack.settings, "g-zhao")
    async with httpx.AsyncClient(base_url=base) as http:
        for attempt in range(1, 7):
            form = await http.get("/ui/login")
            answer = await http.post("/ui/login", data={"staff_id": "g-zhao", "password": f"guess-{attempt}",
                                                        "csrf": csrf_of(form.text)})
            assert answer.status_code == (401 if attempt <= 5 else 429), attempt
        form = await http.get("/ui/login")
        answer = await http.post("/ui/login", data={"staff_id": "g-zhao", "password": PASSWORD,
                                                    "csrf": csrf_of(form.text)})
        assert answer.status_code == 429 and "错误次数过多" in answer.text

    # the head teacher sets a password with the code `crisisflow staff invite` gave, and enrols TOTP
    code = accounts.invite(stack.engine, "t-zhang", datetime.now(UTC), stack.settings)
    head = await _phone(browser)
    await head.goto(f"{base}/ui/setup?code={code}")
    await head.fill("#password", PASSWORD)
    await head.fill("#again", PASSWORD)
    await head.click("#set-password")
    await head.wait_for_selector("#totp-secret")
    assert await head.locator(".qr svg").count() == 1
    head_secret = (await head.locator("#totp-secret").inner_text()).replace(" ", "")
    # on the phone that holds the authenticator the QR code cannot be scanned: a link opens the app, and the
    # secret copies in one tap
    link = await head.locator("#open-authenticator").get_attribute("href")
    assert link.startswith("otpauth://totp/") and f"secret={head_secret}" in link
    await head.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    await head.click("#copy-secret")
    await head.locator("#copy-secret", has_text="已复制密钥").wait_for()
    assert await head.evaluate("navigator.clipboard.readText()") == head_secret
    await head.fill("#code", pyotp.TOTP(head_secret).now())
    await head.click("#confirm")
    await head.wait_for_selector("h1:has-text('我的任务')")
    assert await head.locator("#who").inner_text() == "张老师 · 班主任"

    # she opens a case: the student picked from her class, the reasons as the policy words them
    await head.click("#menu-toggle")  # the phone's one-row header opens its menu
    await head.click("text=新建个案")
    assert await head.locator("#class_id option").count() == 2  # "please choose" and her one class, 8-3
    await head.select_option("#class_id", "8-3")
    await head.fill("#ref", "2026-0815")
    await head.fill("#name", NAME)
    await head.check("label:has-text('情绪低落抑郁超过半个月') input")
    await head.check("label:has-text('遭遇重大冲突或突发打击') input")
    await head.check("label:has-text('无故赠送物品、请客、道歉或告别') input")
    await head.fill("#summary", "近两周上课走神，把心爱的文具都送给了同桌。")
    await _submit(head)
    await head.wait_for_selector("#state")
    case_id = head.url.split("/ui/cases/")[1].split("?")[0]
    assert await head.locator("#state").inner_text() == "已识别"
    assert await head.locator("#student").inner_text() == NAME
    case = await _api_case(stack, case_id)
    assert case["state"] == "identified" and case["student"]["class_id"] == "8-3"
    assert case["warning_signals"] == ["farewell_behaviour"]
    await head.goto(f"{base}/ui")
    assert await head.locator(f"#watched li[data-case='{case_id}']").count() == 1  # it is in her tasks page

    # the psychology teacher (TOTP) assesses with the C-SSRS and sees "high" before submitting
    psy_secret = give_sign_in(stack.engine, stack.settings, "p-chen")
    psy = await _phone(browser)
    await browser_sign_in(psy, base, "p-chen", psy_secret)
    task = psy.locator(f"#tasks li[data-case='{case_id}'][data-obligation='assess'] a")
    await task.click()
    await psy.wait_for_selector("#q-cssrs")
    for question, answer in [("q1", "true"), ("q2", "true"), ("q3", "true"), ("q4", "true"), ("q5", "false"),
                             ("q6", "false")]:
        await psy.check(f"input[name='cssrs.{question}'][value='{answer}']")
    await psy.wait_for_selector("#risk .risk-preview[data-risk='high']")
    assert "高风险" in await psy.locator("#risk").inner_text()
    await psy.check("input[name=expert_consulted]")
    await psy.screenshot(path=str(shots / "staff-assessment-phone.png"), full_page=True)
    await psy.set_viewport_size(DESK)
    await psy.screenshot(path=str(shots / "staff-assessment-desk.png"), full_page=True)
    await psy.set_viewport_size(PHONE)
    assert (await _api_case(stack, case_id))["state"] == "identified"  # nothing is recorded before submitting
    await _submit(psy)
    assert await psy.locator("#state").inner_text() == "已评估"
    assert "高风险" in await psy.locator(".case-head .risk").inner_text()
    case = await _api_case(stack, case_id)
    assert case["state"] == "assessed" and case["risk_level"] == "high"

    # a refused action: the workflow's 409 in words, with what is allowed now, and nothing typed lost
    await psy.goto(f"{base}/ui/cases/{case_id}/act/refer")
    await psy.fill("#f-institution", "市精神卫生中心")
    await psy.fill("#f-reason", "高风险，需要专科评估")
    await psy.check("input[name=urgency][value=routine]")
    await _submit(psy)
    refusal = await psy.locator("#refusal").inner_text()
    assert "未能办理“转介”" in refusal and "已评估" in refusal and "现在可以" in refusal
    assert await psy.input_value("#f-institution") == "市精神卫生中心"
    assert (await _api_case(stack, case_id))["state"] == "assessed"

    # the head teacher records the guardian notice, from her task
    await head.goto(f"{base}/ui")
    await head.screenshot(path=str(shots / "staff-tasks-phone.png"), full_page=True)
    await head.set_viewport_size(DESK)
    await head.screenshot(path=str(shots / "staff-tasks-desk.png"), full_page=True)
    await head.set_viewport_size(PHONE)
    await head.click(f"#tasks li[data-case='{case_id}'][data-obligation='guardian_notice'] a")
    assert await head.input_value("#f-notified_at") != ""  # now, in Beijing time
    await head.select_option("#f-channel", "phone")
    await head.fill("#f-guardian_relation", "母亲")
    await _submit(head)
    assert (await _api_case(stack, case_id))["deadlines"][1]["met_at"] is not None
    assert "已办理：告知监护人" in await head.locator("#done").inner_text()
    # the guardian signed the notice's receipt: a photo of it is uploaded from the phone, sealed at rest
    notice = head.locator("#documents li[data-kind='guardian_notice']")
    for _ in range(50):  # typeset by the worker once the assessment said "high"
        if await notice.count():
            break
        await asyncio.sleep(0.2)
        await head.reload()
    await notice.locator("input[type=file]").set_input_files(str(shots / "staff-tasks-phone.png"))
    async with head.expect_navigation():
        await notice.locator("button[type=submit]").click()
    assert "已上传签收回执" in await head.locator("#documents li[data-kind='guardian_notice']").inner_text()
    document_id = (await stack.http.get(f"/cases/{case_id}/documents", headers=auth("leadership"))).json()[0]
    copies = store.signed_copies(stack.engine, document_id["document_id"])
    assert [(c.media_type, c.uploaded_by) for c in copies] == [("image/png", "t-zhang")]

    # the plan, then the referral
    await psy.goto(f"{base}/ui/cases/{case_id}")
    await psy.click("#actions a[data-action='intervene']")
    await psy.fill("#f-plan-warning_signs", "独处时间变长\n赠送物品")
    await psy.fill("#f-plan-coping_strategies", "呼吸放松")
    await psy.fill("#f-plan-support_contacts", "同桌")
    await psy.fill("#f-plan-professional_contacts", "学校心理咨询室\n12356 心理援助热线")
    await psy.fill("#f-plan-environment_safety", "家长收好药品和锐器")
    await _submit(psy)
    assert await psy.locator("#state").inner_text() == "干预中"
    assert (await _api_case(stack, case_id))["state"] == "intervened"
    await psy.click("#actions a[data-action='refer']")
    await psy.fill("#f-institution", "市精神卫生中心")
    await psy.fill("#f-reason", "高风险，需要专科评估")
    await psy.check("input[name=urgency][value=routine]")
    await _submit(psy)
    assert await psy.locator("#state").inner_text() == "已转介"
    assert (await _api_case(stack, case_id))["state"] == "referred"

    # the guardian refuses: the report is prepared, and a leader confirms and sends it from her tasks
    await head.goto(f"{base}/ui")
    await head.click(f"#tasks li[data-case='{case_id}'][data-obligation='guardian_answer'] a")
    await head.check("input[name=decision][value=refuse]")
    await head.check("input[name=by][value=guardian]")
    await head.fill("#f-notes", "家长认为只是青春期情绪")
    await _submit(head)
    assert (await _api_case(stack, case_id))["state"] == "parent_refused"
    lead = await _desk(browser)
    await browser_sign_in(lead, base, "l-sun", give_sign_in(stack.engine, stack.settings, "l-sun"))
    await lead.click(f"#tasks li[data-case='{case_id}'][data-obligation='report'] a")
    await lead.fill("#f-note", "学校将继续与家长沟通")
    await _submit(lead)
    assert (await _until_state(stack, case_id, "reported"))["state"] == "reported"
    for _ in range(50):  # the report is typeset by the worker
        await head.goto(f"{base}/ui/cases/{case_id}")
        if await head.locator("#documents li[data-kind='authority_report']").count():
            break
        await asyncio.sleep(0.2)
    assert await head.locator("#state").inner_text() == "已上报"
    assert await head.locator("#documents li[data-kind='authority_report']").count() == 1

    # consent later, then the psychology teacher proposes closing and a leadership member approves
    await head.click("#actions a[data-action='guardian_response']")
    await head.check("input[name=decision][value=consent]")
    await head.check("input[name=by][value=guardian]")
    await _submit(head)
    assert await head.locator("#state").inner_text() == "已转介"
    assert (await _api_case(stack, case_id))["state"] == "referred"
    await head.screenshot(path=str(shots / "staff-case-phone.png"), full_page=True)

    await psy.goto(f"{base}/ui/cases/{case_id}")
    await psy.click("#actions a[data-action='close']")
    await psy.select_option("#f-reason", "resolved")
    await psy.fill("#f-outcome", "门诊治疗四周，情绪稳定")
    await psy.fill("#f-rationale", "连续两次回访风险下降")
    for box in await psy.locator("textarea[name^='unmet.']").all():
        await box.fill("已转由医院随访")
    await _submit(psy)
    assert "待心理危机干预领导小组审批" in await psy.locator(".case-head").inner_text()
    case = await _api_case(stack, case_id)
    assert case["state"] == "referred" and case["closure_proposal"]["by"] == "p-chen"

    await lead.goto(f"{base}/ui")
    await lead.click(f"#closures a[href*='{case_id}']")
    await lead.check("input[name=decision][value=approve]")
    await _submit(lead)
    assert await lead.locator("#state").inner_text() == "已结案"
    assert (await _until_state(stack, case_id, "closed"))["state"] == "closed"
    await lead.screenshot(path=str(shots / "staff-case-desk.png"), full_page=True)
    await lead.goto(f"{base}/ui/dashboard")
    await lead.wait_for_selector("#chart-states svg")
    await lead.screenshot(path=str(shots / "staff-dashboard-desk.png"), full_page=True)

    # every page fits a 360 px phone: nothing wider than the screen but the tables' own scroll
    await head.set_viewport_size({"width": 360, "height": 740})
    for path in ("/ui", f"/ui/cases/{case_id}", "/ui/cases", "/ui/cases/new", f"/ui/cases/{case_id}/act/contact"):
        await head.goto(f"{base}{path}")
        width = await head.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, (path, width)

    # a head teacher of another class, or of another school, cannot reach the case by its URL
    for staff_id in ("t-li", "b-qian"):
        http = await sign_in(base, staff_id, give_sign_in(stack.engine, stack.settings, staff_id))
        answer = await http.get(f"/ui/cases/{case_id}")
        assert answer.status_code == 404 and NAME not in answer.text, staff_id
        await http.aclose()
    # a role that may not see who the student is sees the reference, not the name
    http = await sign_in(base, "g-wang", give_sign_in(stack.engine, stack.settings, "g-wang"))
    answer = await http.get(f"/ui/cases/{case_id}")
    assert answer.status_code == 200 and "学号 2026-0815" in answer.text and NAME not in answer.text
    await http.aclose()

    # ... and the person locked out at the start signs in once the window has passed
    await asyncio.sleep(max(0.0, stack.settings.signin_window_seconds + 1 - (time.monotonic() - started)))
    assert g_zhao is None  # a grade head needs no second factor
    http = await sign_in(base, "g-zhao")
    assert (await http.get("/ui")).status_code == 200
    await http.aclose()



async def test_the_emergency_response_on_a_360_px_phone(sqlite_stack, browser, tmp_path):
    """After an imminent assessment the psychology teacher records the emergency response from a phone:
    every field in Chinese, the duty's due time in Beijing time, and a refusal worded in Chinese (a case
    that is not imminent has no emergency response to record)."""
    stack, shots = sqlite_stack, _shots(tmp_path)
    base = site(stack)
    load_people(stack.engine)
    secret = give_sign_in(stack.engine, stack.settings, "p-chen")
    body = open_body()
    body["student"]["class_id"] = "8-3"
    imminent = (await stack.http.post("/cases", json=body, headers=auth("head_teacher"))).json()["case_id"]
    await stack.http.post(f"/cases/{imminent}/assessment", headers=auth("psychology_teacher"),
                          json={"instrument": "clinical", "risk_level": "imminent", "rationale": "计划明确"})
    high = (await stack.http.post("/cases", json=body, headers=auth("head_teacher"))).json()["case_id"]
    await stack.http.post(f"/cases/{high}/assessment", headers=auth("psychology_teacher"),
                          json={"instrument": "clinical", "risk_level": "high", "rationale": "多次提到轻生"})

    context = await browser.new_context(viewport={"width": 360, "height": 780}, locale="zh-CN",
                                        timezone_id="Asia/Shanghai", is_mobile=True, has_touch=True)
    psy = await context.new_page()
    await browser_sign_in(psy, base, "p-chen", secret)
    await psy.goto(f"{base}/ui/cases/{imminent}")
    assert "启动应急预案（紧急处置）" in await psy.locator("body").inner_text()  # the duty, on the case
    await psy.goto(f"{base}/ui/cases/{imminent}/act/emergency_response")
    form = await psy.locator("form").last.inner_text()
    for words in ("现在陪伴学生的人", "是否已联系上监护人", "是否呼叫120/110", "已呼叫120", "学生现在所在地点"):
        assert words in form, words
    assert await psy.evaluate("document.documentElement.scrollWidth") <= 360  # nothing runs off the phone
    await psy.fill("#f-with_student", "班主任张老师")
    await psy.check("input[name=guardian_reached][value=true]")
    await psy.check("input[name=emergency_services][value='120']")
    await psy.fill("#f-whereabouts", "市第一人民医院急诊")
    await psy.screenshot(path=str(shots / "staff-emergency-phone.png"), full_page=True)
    await _submit(psy)
    await psy.wait_for_selector("#state")
    case = await _api_case(stack, imminent)
    assert case["events"][-1]["action"] == "emergency_response"
    assert all(d["met_at"] for d in case["deadlines"] if d["obligation"] == "emergency_response")

    # not imminent: the form says so in Chinese, with what can be done instead
    await psy.goto(f"{base}/ui/cases/{high}/act/emergency_response")
    refusal = await psy.locator("#refusal").inner_text()
    assert "现在不能“应急处置”" in refusal and "现在可以" in refusal
    assert not any(word in refusal for word in ("emergency", "imminent", "+00:00"))
    await context.close()
