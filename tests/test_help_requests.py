"""A student or parent asks for help from the school's help page (issue 29).

A help request from a phone (no JavaScript, 360 px) reaches the psychology teachers' tasks, content-free in the
message; the one who reads it has looked at it; left unread it climbs its ladder; it becomes a case with its text;
the page shows 120/110 and the hotlines first, refuses a wrong answer and too many requests in Chinese, keeps
what was written sealed; the poster's QR code opens the page.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pypdfium2
import zxingcpp
from sqlalchemy import text as sql
from sqlmodel import Session, select

from db import help_requests, store
from db.tables import NotificationRow
from tests.a11y import violations
from tests.conftest import make_settings, running_stack
from tests.support import eventually
from tests.web import csrf_of, give_sign_in, load_people, sign_in

PHONE = {"width": 360, "height": 760}
DIGITS = "零一二三四五六七八九十"
WORDS = "最近一直睡不着，觉得活着很累，不想让爸妈知道。"


def _answer(html: str) -> str:
    """The page's simple question, answered as a person would."""
    a, b = re.search(r"请回答：(.)加(.)等于几", html).groups()
    return str(DIGITS.index(a) + DIGITS.index(b))


def _token(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


async def _ask(http: httpx.AsyncClient, **fields) -> httpx.Response:
    page = (await http.get("/h/school-a")).text
    data = {"who": "student", "class_name": "七年级(1)班", "contact": "课间到心理咨询室找我", "text": WORDS,
            "answer": _answer(page), "token": _token(page), **fields}
    return await http.post("/h/school-a", data=data)


def _site(stack) -> str:
    return stack.base_url.removesuffix("/api/v1")


def _told(stack, event: str):
    with Session(stack.engine) as session:
        return session.exec(select(NotificationRow).where(NotificationRow.event == event)).all()


async def test_a_help_request_from_a_phone_reaches_the_psychology_teachers_and_becomes_a_case(sqlite_stack, browser):
    stack = sqlite_stack
    load_people(stack.engine)
    site = _site(stack)
    context = await browser.new_context(viewport=PHONE, java_script_enabled=False, bypass_csp=True)
    page = await context.new_page()
    shots = os.environ.get("CRISISFLOW_SHOTS")
    opened = await page.goto(f"{site}/h/school-a")
    assert opened.status == 200 and opened.headers["referrer-policy"] == "no-referrer"
    body = await page.inner_text("main")
    # it says first that it is no emergency line, with 120/110 and the school's hotlines
    assert body.index("这里不是紧急求助热线") < body.index("120") < body.index("发生了什么")
    assert "全国心理援助热线" in body and "12356" in body
    assert "<script" not in await page.content()
    await page.check("input[value=student]")
    await page.fill("#class_name", "七年级(1)班")
    await page.fill("#contact", "课间到心理咨询室找我")
    await page.fill("#text", WORDS)
    await page.fill("#answer", _answer(await page.content()))
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    if shots:
        await page.screenshot(path=str(Path(shots) / "help-page-phone.png"), full_page=True)
    await page.click("button[type=submit]")
    await page.wait_for_selector("h1:has-text('已收到你的求助')")
    assert WORDS not in await page.content()
    if shots:
        await page.screenshot(path=str(Path(shots) / "help-done-phone.png"), full_page=True)
    axe = await browser.new_context(viewport=PHONE, bypass_csp=True)
    axe_page = await axe.new_page()
    await axe_page.goto(f"{site}/h/school-a")
    assert await violations(axe_page) == []
    await axe.close()
    await context.close()

    (row,) = help_requests.listing(stack.engine, "school-a")
    with Session(stack.engine) as session:  # sealed at rest
        stored = session.exec(sql("SELECT asked FROM help_requests")).one()[0]
    assert WORDS not in stored and "心理咨询室" not in stored
    # the psychology teachers are told at once, and the message says nothing of what was written
    (told,) = await eventually(lambda: _told(stack, "help_requested"), timeout=60)
    assert told.recipient_role == "psychology_teacher"
    assert told.text.startswith("【求助】收到一条求助") and "请尽快查看" in told.text
    assert WORDS[:6] not in told.text and "心理咨询室" not in told.text

    teacher = await sign_in(site, "p-chen", give_sign_in(stack.engine, stack.settings, "p-chen"))
    tasks = (await teacher.get("/ui")).text
    assert "待查看的求助" in tasks and f"/ui/help/{row.help_id}" in tasks and WORDS not in tasks
    read = (await teacher.get(f"/ui/help/{row.help_id}")).text
    assert WORDS in read and "课间到心理咨询室找我" in read
    assert help_requests.get(stack.engine, row.help_id).state == "looked"  # read: looked at, the ladder stops
    form = (await teacher.get(f"/ui/cases/new?help={row.help_id}")).text
    assert "据求助新建个案" in form and WORDS in form
    opened = await teacher.post("/ui/cases/new", data={
        "csrf": csrf_of(form), "key": "help-case-1", "help": row.help_id, "ref": "2026-0801", "name": "赵小雨",
        "class_id": "7-1", "risk_factors": ["chronic_sleep_problem", "prolonged_low_mood"],
        "summary": re.search(r'<textarea id="summary"[^>]*>([^<]*)</textarea>', form).group(1).replace("&#34;", '"')})
    assert opened.status_code == 303, opened.text[:500]
    case_id = opened.headers["location"].split("/ui/cases/")[1].split("?")[0]
    assert WORDS in store.load_case(stack.engine, case_id).summary
    resolved = await eventually(lambda: (r := help_requests.get(stack.engine, row.help_id)).state == "case_opened"
                                and r, timeout=20)
    assert resolved.case_id == case_id and resolved.resolved_by == "p-chen"
    assert "已开案" in (await teacher.get(f"/ui/help/{row.help_id}")).text
    await teacher.aclose()


async def test_an_unread_help_request_climbs_its_ladder_and_one_is_closed_with_a_reason(dev_env, webhook, tmp_path):
    policy = tmp_path / "fast.json"
    policy.write_text('{"version": "fast-help", "help_look_within": "2s", "help_escalation_step": "2s"}')
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", webhook.url, policy_file=policy)
    async with running_stack(dev_env.client, settings) as stack:
        load_people(stack.engine)
        site = _site(stack)
        async with httpx.AsyncClient(base_url=site) as http:
            assert (await _ask(http)).status_code == 200
        (row,) = help_requests.listing(stack.engine, "school-a")
        missed = await eventually(lambda: _told(stack, "deadline_missed"), timeout=30)
        escalated = await eventually(lambda: _told(stack, "deadline_escalated"), timeout=30)
        assert missed[0].recipient_role == "psychology_teacher" and missed[0].text.startswith("【预警·第1级】求助")
        assert escalated[0].recipient_role == "leadership" and escalated[0].text.startswith("【预警·第2级】求助")
        assert "「查看求助」" in escalated[0].text and WORDS[:6] not in escalated[0].text
        assert (await eventually(lambda: help_requests.get(stack.engine, row.help_id).escalation_level == 2)) is True
        leader = await sign_in(site, "l-sun", give_sign_in(stack.engine, stack.settings, "l-sun"))
        listed = (await leader.get("/ui/help")).text
        assert "2级" in listed and "待查看" in listed and WORDS not in listed
        read = (await leader.get(f"/ui/help/{row.help_id}")).text
        empty = await leader.post(f"/ui/help/{row.help_id}/close", data={"csrf": csrf_of(read), "reason": ""})
        assert empty.status_code == 422 and "请写明关闭原因" in empty.text
        closed = await leader.post(f"/ui/help/{row.help_id}/close",
                                   data={"csrf": csrf_of(read), "reason": "已与学生面谈，情绪平稳，转班主任日常关注"})
        assert closed.status_code == 303
        done = await eventually(lambda: (r := help_requests.get(stack.engine, row.help_id)).state == "closed" and r)
        assert done.closed_reason == "已与学生面谈，情绪平稳，转班主任日常关注"
        # a counsellor of another role cannot read it
        await leader.aclose()
        reporter = await sign_in(site, "s-wu", give_sign_in(stack.engine, stack.settings, "s-wu"))
        refused = await reporter.get(f"/ui/help/{row.help_id}")
        assert refused.status_code == 403 and "只有心理教师" in refused.text and WORDS not in refused.text
        await reporter.aclose()


async def test_the_help_page_refuses_a_wrong_answer_and_too_many_requests_in_chinese(sqlite_stack):
    stack = sqlite_stack
    async with httpx.AsyncClient(base_url=_site(stack)) as http:
        unknown = await http.get("/h/no-such-school")
        assert unknown.status_code == 404 and "120" in unknown.text
        wrong = await _ask(http, answer="99")
        assert wrong.status_code == 422 and "回答不正确" in wrong.text and WORDS in wrong.text  # what was typed stays
        empty = await _ask(http, text="", contact="")
        assert empty.status_code == 422 and "请写下发生了什么" in empty.text and "请留下联系你的方式" in empty.text
        for _ in range(stack.settings.help_requests_per_address_per_hour):
            assert (await _ask(http)).status_code == 200
        limited = await _ask(http)
        assert limited.status_code == 429 and "提交太频繁" in limited.text and "12356" in limited.text
    assert len(help_requests.listing(stack.engine, "school-a")) == stack.settings.help_requests_per_address_per_hour


async def test_the_poster_carries_the_help_page_as_a_qr_code(sqlite_stack):
    stack = sqlite_stack
    load_people(stack.engine)
    site = _site(stack)
    teacher = await sign_in(site, "p-chen", give_sign_in(stack.engine, stack.settings, "p-chen"))
    listed = (await teacher.get("/ui/help")).text
    url = f"{stack.settings.public_url.rstrip('/')}/h/school-a"
    assert url in listed
    poster = await teacher.get("/ui/help/poster")
    await teacher.aclose()
    assert poster.status_code == 200 and poster.headers["content-type"] == "application/pdf"
    image = pypdfium2.PdfDocument(poster.content)[0].render(scale=2).to_pil()
    (found,) = zxingcpp.read_barcodes(image)
    assert found.text == url
    shots = os.environ.get("CRISISFLOW_SHOTS")
    if shots:
        image.save(Path(shots) / "help-poster.png")
