"""The guardian answers from a phone: the notice's one-time link, its QR code and code (issue 29).

The QR code printed on the guardian notice is read back from the rendered PDF page with zxing-cpp; the
guardian's pages are used in headless Chromium on a 360 px phone with JavaScript off; consent, refusal (then
the report) and a call-back reach the case as the staff-recorded answer would; five wrong codes lock the link
and tell the head teacher; an expired, replaced or revoked link answers in Chinese and changes nothing; every
read is in the access log; no response before the code says anything about the student.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pypdfium2
import zxingcpp
from sqlmodel import Session, select

from activities.case_activities import typesetter_for
from db import guardian_links, store
from db.tables import AccessLogRow, GuardianLinkRow, NotificationRow
from paper.facts import case_facts
from tests.a11y import violations
from tests.conftest import auth, make_settings, running_stack
from tests.receivers import _Loopback, _Quiet, _serve
from tests.support import ASSESS_HIGH, STUDENT_NAME, eventually, open_case, paper_of, step, workflow_view
from tests.web import browser_sign_in, csrf_of, give_sign_in, load_people, sign_in

ASSESS_IMMINENT = {"instrument": "cssrs", "answers": {"q1": True, "q2": True, "q3": True, "q4": True,
                                                      "q5": True, "q6": True, "q6_within_3_months": True}}
PHONE = {"width": 360, "height": 760}


async def _notice(stack, case_id: str, count: int = 1) -> dict:
    async def made():
        docs = (await stack.http.get(f"/cases/{case_id}/documents", headers=auth("head_teacher"))).json()
        notices = [d for d in docs if d["kind"] == "guardian_notice"]
        return notices[-1] if len(notices) >= count else None
    return await eventually(made, timeout=60)


async def _link_of(stack, doc: dict) -> str:
    """The link, as a phone reads it from the printed QR code (page 1 of the PDF, read back by zxing-cpp)."""
    pdf = await stack.http.get(f"/documents/{doc['document_id']}", headers={**auth("head_teacher"),
                                                                             "Accept": "application/pdf"})
    assert pdf.status_code == 200
    page = pypdfium2.PdfDocument(pdf.content)[0]
    image = page.render(scale=3).to_pil()
    found = zxingcpp.read_barcodes(image)
    assert [b.format for b in found] == [zxingcpp.BarcodeFormat.QRCode], found
    return found[0].text


def _code(stack, url: str) -> str:
    token = url.rsplit("/", 1)[1]
    row = guardian_links.find(stack.engine, token)
    return guardian_links.token_and_code(stack.engine, row)[1]


def _site(stack) -> str:
    return stack.base_url.removesuffix("/api/v1")


def _no_student(html: str) -> None:
    for detail in (STUDENT_NAME, "七年级", "七(1)班", "2026-0712"):
        assert detail not in html, detail


async def _high_case(stack) -> tuple[str, str]:
    case_id = (await open_case(stack))["case_id"]
    await step(stack, case_id, "assess", ASSESS_HIGH)
    url = await _link_of(stack, await _notice(stack, case_id))
    await step(stack, case_id, "guardian_notice")
    return case_id, url


async def test_the_printed_qr_code_opens_the_guardians_page_and_a_consent_on_a_phone_reaches_the_case(
        sqlite_stack, browser):
    stack = sqlite_stack
    case_id, url = await _high_case(stack)
    site = _site(stack)
    assert url.startswith(f"{stack.settings.public_url.rstrip('/')}/g/")
    token = url.rsplit("/", 1)[1]
    assert len(token) >= 22  # 128 bits and more, URL-safe
    with Session(stack.engine) as session:  # only the token's hash is kept
        row = session.exec(select(GuardianLinkRow).where(GuardianLinkRow.case_id == case_id)).one()
        assert row.link_id == hashlib.sha256(token.encode()).hexdigest()
        assert token not in str(row.model_dump())
    doc = await _notice(stack, case_id)
    text = (await stack.http.get(f"/documents/{doc['document_id']}",
                                 headers={**auth("head_teacher"), "Accept": "text/plain"})).text
    code = _code(stack, url)
    assert "手机在线答复" in text and f"答复码：{code}" in text.replace(" ", "")
    # a notice without a link (a case whose run predates online answers) prints as before
    request, school, lang, people = paper_of(stack, doc)
    plain = typesetter_for(stack.settings).text(request.kind, case_facts(request, school, people, lang),
                                                request.created_at)
    assert "您好！" in plain and "手机在线答复" not in plain and "答复码" not in plain

    context = await browser.new_context(viewport=PHONE, java_script_enabled=False, bypass_csp=True,
                                        user_agent="Mozilla/5.0 (Linux; Android 14) MicroMessenger/8.0")
    page = await context.new_page()
    shots = os.environ.get("CRISISFLOW_SHOTS")
    opened = await page.goto(site + url.split(stack.settings.public_url.rstrip("/"), 1)[1])
    assert opened.status == 200 and opened.headers["referrer-policy"] == "no-referrer"
    html = await page.content()
    _no_student(html)
    assert "请输入告知书上二维码旁印的 6 位答复码" in html and "<script" not in html
    if shots:
        await page.screenshot(path=str(Path(shots) / "guardian-code-phone.png"), full_page=True)
    await page.fill("#code", code)
    await page.click("button[type=submit]")
    await page.wait_for_selector("h2:has-text('您的答复')")
    html = await page.content()
    assert STUDENT_NAME in html and "120" in html  # the notice as the school wrote it, and the emergency lines
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    if shots:
        await page.screenshot(path=str(Path(shots) / "guardian-answer-phone.png"), full_page=True)
    # a choice without a signature: said in Chinese beside the field, the choice kept
    await page.check("input[value=consent]")
    await page.click("button[type=submit]")
    await page.wait_for_selector("#signer-error")
    assert await page.text_content("#signer-error") == "请填写您的姓名"
    assert await page.is_checked("input[value=consent]")
    await page.fill("#hospital", "市精神卫生中心")
    await page.fill("#expected_on", "2026-12-08")
    await page.fill("#signer", "王建国")
    await page.fill("#relation", "父亲")
    await page.click("button[type=submit]")
    await page.wait_for_selector("h1:has-text('已收到您的答复')")
    assert "同意就医" in await page.content()
    if shots:
        await page.screenshot(path=str(Path(shots) / "guardian-done-phone.png"), full_page=True)
    axe_context = await browser.new_context(viewport=PHONE, bypass_csp=True)
    axe_page = await axe_context.new_page()
    await axe_page.goto(site + f"/g/{token}")
    assert await violations(axe_page) == []
    await axe_context.close()
    await context.close()

    answer = [e for e in store.load_case(stack.engine, case_id).events if e.action == "guardian_response"][-1]
    assert answer.actor == "guardian" and answer.detail["channel"] == "online" and answer.detail["by"] == "guardian"
    assert answer.detail["decision"] == "consent" and answer.detail["signer"] == "王建国"
    assert answer.detail["hospital"] == "市精神卫生中心" and answer.detail["expected_on"] == "2026-12-08"
    assert store.load_case(stack.engine, case_id).guardian_consented is True
    # the referral that follows asks the head teacher for no second answer
    await step(stack, case_id, "intervene")
    referred = await step(stack, case_id, "refer")
    assert not any(d["obligation"] == "guardian_answer" for d in referred["deadlines"])
    # a second answer changes nothing
    async with httpx.AsyncClient(base_url=site) as http:
        again = await http.post(f"/g/{token}/answer", data={"code": code, "decision": "refuse", "notes": "x",
                                                            "signer": "王建国", "relation": "父亲"})
        assert again.status_code == 200 and "此链接已经答复过" in again.text
        # the notice stays readable until the link expires, with the answer given
        reread = await http.post(f"/g/{token}", data={"code": code})
        assert reread.status_code == 200 and STUDENT_NAME in reread.text and "已收到您的答复" in reread.text
        assert "提交答复" not in reread.text and "同意就医" in reread.text
    assert [e["action"] for e in (await workflow_view(stack, case_id))["events"]].count("guardian_response") == 1
    # every read is in the access log, as the guardian's, with fingerprints only
    with Session(stack.engine) as session:
        reads = session.exec(select(AccessLogRow).where(AccessLogRow.staff_id == "guardian",
                                                        AccessLogRow.case_id == case_id)).all()
    whats = [r.what for r in reads]
    assert whats[:4] == ["guardian link read", "guardian notice read", "guardian answer incomplete",
                         "guardian answered"]
    assert "guardian answer again" in whats and whats.count("guardian notice read") == 2
    assert all(token not in r.path and "127.0.0.1" not in (r.client or "") for r in reads)


async def test_a_refusal_online_is_reported_and_a_call_back_is_the_head_teachers_duty(sqlite_stack):
    stack = sqlite_stack
    site = _site(stack)
    refusing, url = await _high_case(stack)
    token = url.rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=site) as http:
        r = await http.post(f"/g/{token}/answer", data={"code": _code(stack, url), "decision": "refuse",
                                                        "signer": "李芳", "relation": "母亲"})
        assert r.status_code == 422 and "请简要写明暂不同意的原因" in r.text
        r = await http.post(f"/g/{token}/answer", data={"code": _code(stack, url), "decision": "refuse",
                                                        "notes": "想先观察一段时间", "signer": "李芳",
                                                        "relation": "母亲"})
        assert r.status_code == 200 and "已收到您的答复" in r.text
    view = await workflow_view(stack, refusing)
    assert view["state"] == "parent_refused"
    assert any(d["obligation"] == "report" and d["met_at"] is None for d in view["deadlines"])
    reported = await step(stack, refusing, "send_report")
    assert reported["state"] == "reported"

    calling, url = await _high_case(stack)
    token = url.rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=site) as http:
        r = await http.post(f"/g/{token}/answer", data={"code": _code(stack, url), "decision": "callback",
                                                        "signer": "张伟", "relation": "父亲"})
        assert r.status_code == 422 and "请填写方便接听电话的时间" in r.text
        r = await http.post(f"/g/{token}/answer", data={"code": _code(stack, url), "decision": "callback",
                                                        "call_at": "今晚7点以后", "signer": "张伟",
                                                        "relation": "父亲"})
        assert r.status_code == 200 and "班主任会在您留下的时间与您联系" in r.text
    view = await workflow_view(stack, calling)
    duty = next(d for d in view["deadlines"] if d["obligation"] == "guardian_callback")
    asked = next(e for e in view["events"] if e["action"] == "guardian_response")
    assert duty["responsible_role"] == "head_teacher" and duty["met_at"] is None
    assert datetime.fromisoformat(duty["due_at"]) - datetime.fromisoformat(asked["at"]) == timedelta(hours=24)

    def told():
        with Session(stack.engine) as session:
            return session.exec(select(NotificationRow).where(NotificationRow.case_id == calling,
                                                              NotificationRow.event == "guardian_callback_requested")
                                ).first()
    notice = await eventually(told)
    assert notice.text.startswith("【监护人请老师联系】")
    assert "张伟" not in notice.text and STUDENT_NAME not in notice.text
    called = await step(stack, calling, "guardian_callback",
                        {"at": datetime.now(UTC).isoformat(), "reached": True,
                         "notes": "已与父亲通话，约定明天到校面谈"})
    assert next(d for d in called["deadlines"] if d["obligation"] == "guardian_callback")["met_at"] is not None


async def test_five_wrong_codes_lock_the_link_and_ended_links_answer_in_chinese_and_change_nothing(sqlite_stack):
    stack = sqlite_stack
    site = _site(stack)
    case_id, url = await _high_case(stack)
    token = url.rsplit("/", 1)[1]
    code = _code(stack, url)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    async with httpx.AsyncClient(base_url=site) as http:
        unknown = await http.get("/g/" + "A" * 43)
        assert unknown.status_code == 404 and "没有找到这个答复链接" in unknown.text
        for left in (4, 3, 2, 1):
            r = await http.post(f"/g/{token}", data={"code": wrong})
            assert r.status_code == 422 and f"还可以再试 {left} 次" in r.text
            _no_student(r.text)
        r = await http.post(f"/g/{token}", data={"code": wrong})
        assert r.status_code == 410 and "已锁定" in r.text
        r = await http.post(f"/g/{token}", data={"code": code})  # the right code, too late
        assert r.status_code == 410 and "已锁定" in r.text
        _no_student(r.text)

    def told():
        with Session(stack.engine) as session:
            return session.exec(select(NotificationRow).where(NotificationRow.case_id == case_id,
                                                              NotificationRow.event == "guardian_link_locked")).all()
    locked = await eventually(told)
    assert len(locked) == 1 and locked[0].recipient_role == "head_teacher"
    assert locked[0].text.startswith("【答复链接已锁定】")

    # replaced: a newer notice of the case (the reassessment to imminent before the guardian was told)
    replaced_case = (await open_case(stack))["case_id"]
    await step(stack, replaced_case, "assess", ASSESS_HIGH)
    first = await _link_of(stack, await _notice(stack, replaced_case))
    await step(stack, replaced_case, "assess", ASSESS_IMMINENT)
    second = await _link_of(stack, await _notice(stack, replaced_case, count=2))
    assert first != second
    # expired: the link of a third case, its validity passed
    expired_case, expired = await _high_case(stack)
    with Session(stack.engine) as session:
        row = session.get(GuardianLinkRow, hashlib.sha256(expired.rsplit("/", 1)[1].encode()).hexdigest())
        row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
        session.add(row)
        session.commit()
    before = {c: len((await workflow_view(stack, c))["events"]) for c in (replaced_case, expired_case)}
    async with httpx.AsyncClient(base_url=site) as http:
        for link, says in ((first, "学校已为您出具新的告知书"), (expired, "已超过有效期")):
            path = "/g/" + link.rsplit("/", 1)[1]
            page = await http.get(path)
            assert page.status_code == 410 and says in page.text
            _no_student(page.text)
            answered = await http.post(path + "/answer", data={"code": _code(stack, link), "decision": "consent",
                                                               "signer": "某", "relation": "母亲"})
            assert answered.status_code == 410 and says in answered.text
    after = {c: len((await workflow_view(stack, c))["events"]) for c in (replaced_case, expired_case)}
    assert before == after
    # the newest link still answers
    async with httpx.AsyncClient(base_url=site) as http:
        assert (await http.get("/g/" + second.rsplit("/", 1)[1])).status_code == 200
    assert store.load_case(stack.engine, replaced_case) is not None


class SmsGateway(_Loopback):
    """An SMSEagle gateway on loopback (its JSON-RPC ``/jsonrpc/sms``): the messages it was given."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        sent, lock = self.sent, threading.Lock()

        class Handler(_Quiet):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.body())
                with lock:
                    sent.append(body["params"])
                answer = json.dumps({"result": {"message_id": len(sent), "status": "ok"}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer)

        self.server = _serve(Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"


async def test_the_link_goes_by_sms_without_its_code_and_leadership_revokes_it(dev_env, webhook, tmp_path, browser):
    gateway = SmsGateway()
    channels = tmp_path / "channels.yaml"
    channels.write_text(f'schools:\n  school-a:\n    sms: "smseagle://gateway-token@{gateway.host}"\n')
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", webhook.url, channels_file=channels)
    try:
        async with running_stack(dev_env.client, settings) as stack:
            load_people(stack.engine)
            case_id, url = await _high_case(stack)
            code = _code(stack, url)
            site = _site(stack)
            teacher = await sign_in(site, "p-chen", give_sign_in(stack.engine, stack.settings, "p-chen"))
            page = (await teacher.get(f"/ui/cases/{case_id}")).text
            assert "监护人在线答复" in page and url in page and code in page and "有效，等待监护人答复" in page
            wrong = await teacher.post(f"/ui/cases/{case_id}/guardian-link/sms",
                                       data={"csrf": csrf_of(page), "phone": "12345"})
            assert wrong.status_code == 422 and "请填写 11 位手机号码" in wrong.text
            sent = await teacher.post(f"/ui/cases/{case_id}/guardian-link/sms",
                                      data={"csrf": csrf_of(page), "phone": "138 1234 5678"})
            assert sent.status_code == 303
            assert "已安排短信发送答复链接（不含答复码）" in (await teacher.get(sent.headers["location"])).text
            await eventually(lambda: gateway.sent, timeout=30)
            (message,) = gateway.sent
            assert message["to"] == "13812345678" and message["access_token"] == "gateway-token"
            assert url in message["message"] and "某市第一中学" in message["message"]
            assert code not in message["message"].replace(url, "") and STUDENT_NAME not in message["message"]
            page = (await teacher.get(f"/ui/cases/{case_id}")).text
            assert "已记录 138****5678" in page and "revoke-link" not in page
            await teacher.aclose()
            if shots := os.environ.get("CRISISFLOW_SHOTS"):  # the case page's panel, as the teacher sees it
                context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
                tab = await context.new_page()
                await browser_sign_in(tab, site, "p-chen", give_sign_in(stack.engine, stack.settings, "p-chen"))
                await tab.goto(f"{site}/ui/cases/{case_id}#guardian-link")
                await tab.locator("#guardian-link").screenshot(path=str(Path(shots) / "staff-guardian-link-phone.png"))
                await context.close()

            leader = await sign_in(site, "l-sun", give_sign_in(stack.engine, stack.settings, "l-sun"))
            page = (await leader.get(f"/ui/cases/{case_id}")).text
            revoked = await leader.post(f"/ui/cases/{case_id}/guardian-link/revoke", data={"csrf": csrf_of(page)})
            assert revoked.status_code == 303
            page = (await leader.get(revoked.headers["location"])).text
            assert "已停用答复链接" in page and "已停用" in page and code not in page
            await leader.aclose()
            async with httpx.AsyncClient(base_url=site) as http:
                gone = await http.get("/g/" + url.rsplit("/", 1)[1])
                assert gone.status_code == 410 and "学校已停用此答复链接" in gone.text
    finally:
        gateway.close()
