"""Signing in to the staff app, as an attacker would try it and as a forgetful person lives it:
CSRF, session fixation, idle sessions, sign-out, one-time codes, the access log; on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pyotp
from sqlmodel import Session, col, select, update

from api.sessions import COOKIE
from api.web import accounts
from db.tables import AccessLogRow, CaseRow, WebSessionRow
from tests.web import PASSWORD, csrf_of, give_sign_in, load_people, sign_in, site


def _cookie(answer: httpx.Response) -> str:
    header = answer.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=strict" in header.replace("Strict", "strict"), header
    return header.split(";")[0].split("=", 1)[1]


async def test_sign_in_resists_forgery_fixation_and_idle_sessions(stack):
    load_people(stack.engine)
    base = site(stack)
    give_sign_in(stack.engine, stack.settings, "g-wang")  # a grade head: password only
    async with httpx.AsyncClient(base_url=base) as http:
        form = await http.get("/ui/login")
        assert "default-src 'self'" in form.headers["content-security-policy"]
        assert form.headers["cache-control"] == "no-store"
        before = _cookie(form)

        # a form post without the session's CSRF token is refused, and signs no one in
        answer = await http.post("/ui/login", data={"staff_id": "g-wang", "password": PASSWORD})
        assert answer.status_code == 403 and "表单已过期" in answer.text

        # the session id changes at sign-in; the one from before is worth nothing after it
        answer = await http.post("/ui/login", data={"staff_id": "g-wang", "password": PASSWORD,
                                                    "next": "https://evil.example/", "csrf": csrf_of(form.text)})
        assert answer.status_code == 303 and answer.headers["location"] == "/ui"  # never to another site
        after = _cookie(answer)
        assert after != before
    async with httpx.AsyncClient(base_url=base, cookies={COOKIE: before}) as planted:
        answer = await planted.get("/ui")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login")
    async with httpx.AsyncClient(base_url=base, cookies={COOKIE: after}) as http:
        assert (await http.get("/ui")).status_code == 200

        # a signed-in person's form without the token writes nothing
        answer = await http.post("/ui/cases/new", data={"class_id": "8-3", "ref": "2026-0001", "name": "某某",
                                                        "risk_factors": "major_setback", "summary": "情况"})
        assert answer.status_code == 403
        with Session(stack.engine) as session:
            assert session.exec(select(CaseRow)).first() is None

        # unused for longer than session_idle_minutes, the session is over
        with Session(stack.engine) as session, session.begin():
            session.exec(update(WebSessionRow).values(
                last_seen_at=datetime.now(UTC) - timedelta(minutes=stack.settings.session_idle_minutes + 1)))
        answer = await http.get("/ui/cases")
        assert answer.status_code == 303 and "next=%2Fui%2Fcases" in answer.headers["location"]

    # sign-out ends the session on the server, not only in the browser
    http = await sign_in(base, "g-wang")
    page = await http.get("/ui")
    answer = await http.post("/ui/logout", data={"csrf": csrf_of(page.text)})
    assert answer.status_code == 303
    kept = http.cookies.get(COOKIE)
    async with httpx.AsyncClient(base_url=base, cookies={COOKIE: kept or "x"}) as again:
        assert (await again.get("/ui")).status_code == 303
    await http.aclose()

    # every sign-in, right or wrong, is in the access log
    with Session(stack.engine) as session:
        entries = session.exec(select(AccessLogRow.staff_id, AccessLogRow.what, AccessLogRow.status)
                               .where(col(AccessLogRow.what).like("sign%"))).all()
    assert ("g-wang", "sign in", 303) in entries and ("g-wang", "sign out", 303) in entries


async def test_invitation_password_and_second_factor(stack):
    load_people(stack.engine)
    base = site(stack)
    now = datetime.now(UTC)
    code = accounts.invite(stack.engine, "p-he", now, stack.settings)
    async with httpx.AsyncClient(base_url=base) as http:
        page = await http.get(f"/ui/setup?code={code}")
        csrf = csrf_of(page.text)
        weak = await http.post("/ui/setup", data={"code": code, "password": "p-he123456", "again": "p-he123456",
                                                  "csrf": csrf})
        assert weak.status_code == 400 and "不要包含工号" in weak.text
        answer = await http.post("/ui/setup", data={"code": code, "password": PASSWORD, "again": PASSWORD,
                                                    "csrf": csrf})
        assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/enrol")
        page = await http.get(answer.headers["location"])
        secret = page.text.split('id="totp-secret">')[1].split("<")[0].replace(" ", "")
        csrf_secret = csrf_of(page.text)
        wrong = await http.post("/ui/enrol", data={"code": "000000", "csrf": csrf_secret})
        assert wrong.status_code == 400
        enrolled_with = pyotp.TOTP(secret).now()
        right = await http.post("/ui/enrol", data={"code": enrolled_with, "csrf": csrf_secret})
        assert right.status_code == 303 and right.headers["location"] == "/ui"
        assert (await http.get("/ui")).status_code == 200
    # the code is spent
    async with httpx.AsyncClient(base_url=base) as http:
        page = await http.get(f"/ui/setup?code={code}")
        again = await http.post("/ui/setup", data={"code": code, "password": PASSWORD, "again": PASSWORD,
                                                   "csrf": csrf_of(page.text)})
        assert again.status_code == 400 and "邀请码无效" in again.text

    # the password alone does not sign a psychology teacher in; a wrong code does not either,
    # and a code already used (the enrolment's) is not taken twice
    async with httpx.AsyncClient(base_url=base) as http:
        page = await http.get("/ui/login")
        answer = await http.post("/ui/login", data={"staff_id": "p-he", "password": PASSWORD,
                                                    "csrf": csrf_of(page.text)})
        assert answer.headers["location"].startswith("/ui/login/code")
        assert (await http.get("/ui")).status_code == 303  # not signed in yet
        page = await http.get(answer.headers["location"])
        wrong = await http.post("/ui/login/code", data={"code": "123456", "csrf": csrf_of(page.text)})
        assert wrong.status_code == 401
        # the enrolment's own code: the app's code of now may be a new one if its 30 s have turned since
        reused = await http.post("/ui/login/code", data={"code": enrolled_with, "csrf": csrf_of(page.text)})
        assert reused.status_code == 401 and "已使用过" in reused.text


async def test_a_form_with_mistakes_keeps_what_was_typed(stack):
    load_people(stack.engine)
    http = await sign_in(site(stack), "t-zhang", give_sign_in(stack.engine, stack.settings, "t-zhang"))
    page = await http.get("/ui/cases/new")
    answer = await http.post("/ui/cases/new", data={
        "csrf": csrf_of(page.text), "key": "k1", "class_id": "8-3", "ref": "bad ref!", "name": "王小明",
        "risk_factors": "major_setback", "summary": ""})
    assert answer.status_code == 400
    assert 'value="王小明"' in answer.text and 'value="bad ref!"' in answer.text
    assert "只能使用字母" in answer.text and "必填" in answer.text
    assert 'value="major_setback" checked' in answer.text
    with Session(stack.engine) as session:
        assert session.exec(select(CaseRow)).first() is None
    # a class that is not hers is refused, naming the field
    answer = await http.post("/ui/cases/new", data={
        "csrf": csrf_of(page.text), "key": "k2", "class_id": "8-4", "ref": "2026-0001", "name": "王小明",
        "risk_factors": "major_setback", "summary": "情况"})
    assert answer.status_code == 400 and "请从名录中选择学生所在班级" in answer.text
    await http.aclose()


async def test_the_education_authoritys_people_sign_in_with_a_code_as_every_reader_of_names(stack):
    """The authority's reports name the student: its people enrol TOTP and give a code, like a school's."""
    load_people(stack.engine)
    secret = give_sign_in(stack.engine, stack.settings, "e-liu")
    assert secret is not None
    async with httpx.AsyncClient(base_url=site(stack), timeout=30) as http:
        form = await http.get("/ui/login")
        answer = await http.post("/ui/login", data={"staff_id": "e-liu", "password": PASSWORD, "next": "/ui",
                                                    "csrf": csrf_of(form.text)})
        assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login/code")
        assert (await http.get("/ui/reports")).status_code in (303, 302)  # not signed in without the code
    http = await sign_in(site(stack), "e-liu", secret)
    assert "报告" in (await http.get("/ui/reports")).text
    await http.aclose()
