"""Hostile input, round 3 (issue 26): what a probe sent to live stacks that crashed, leaked or doubled,
each sent again here and answered as a school would need: a clear refusal naming what is wrong, the
services still up, nothing taken twice."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyotp
import pytest
import xlsxwriter
from sqlmodel import Session, col, select

from api import sessions
from api.web import accounts
from audit.history import load_history
from db import directory
from db.engine import make_engine, migrate
from db.tables import CaseEventRow, DeliveryRow, NotificationRow, ScreeningJobRow, StaffAccountRow, WebSessionRow
from door import Door
from intake import jobs
from models.case import ActionCommand
from models.directory import read_directory
from tests.conftest import (
    DIRECTORY_FILE,
    KEYRING,
    SCHOOL,
    SCHOOLS,
    auth,
    make_settings,
    running_stack,
    service_env,
    token,
)
from tests.support import APPROVE, act, contact, eventually, open_body, open_case, step
from tests.web import PASSWORD, csrf_of, give_sign_in, load_people, sign_in, site
from workflows.case_workflow import CaseWorkflow

CRISISFLOW = str(Path(sys.executable).parent / "crisisflow")
HEADER = ["ref", "name", "class_id", "grade", "class_name", "instrument", "total"]
ROW = ["20260001", "学生甲", "8-3", "八年级", "八(3)班", "phq9", 21]


def _far_cell(path: Path) -> Path:
    """2 KB on disk; the reader would allocate every cell from A1 to XFD1048576 (about 17 billion)."""
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, HEADER)
    sheet.write_row(1, 0, ROW)
    sheet.write(1048575, 16383, "x")
    book.close()
    return path


def _unpacks_to(path: Path, megabytes: int) -> Path:
    """A valid workbook whose shared strings unpack to ``megabytes`` MB (a zip bomb by volume)."""
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet().write_row(0, 0, HEADER)
    book.close()
    padded = path.with_suffix(".bomb.xlsx")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(padded, "w", zipfile.ZIP_DEFLATED) as out:
        for part in source.infolist():
            out.writestr(part, source.read(part))
        with out.open("xl/padding.xml", "w") as stream:
            zeros = b"0" * 2**20
            for _ in range(megabytes):
                stream.write(zeros)
    return padded


async def _job(http, headers, job_id: str) -> dict:
    for _ in range(300):
        state = (await http.get(f"/screenings/{job_id}", headers=headers)).json()
        if state["status"] != "running":
            return state
        await asyncio.sleep(0.1)
    raise AssertionError("the import stayed running")


# -- point 1: a 2 KB spreadsheet must not take the API down --------------------------------------------

async def test_a_spreadsheet_that_asks_for_gigabytes_is_a_422_and_the_api_stays_up(sqlite_stack, tmp_path):
    stack = sqlite_stack
    directory.load(stack.engine, SCHOOLS)
    psy = {"Authorization": f"Bearer {token('psychology_teacher', staff_id='p-chen')}"}
    far = _far_cell(tmp_path / "far.xlsx")
    assert far.stat().st_size < 8000
    volume = _unpacks_to(tmp_path / "volume.xlsx", 300)
    assert volume.stat().st_size < 2_000_000
    for file, says in ((far, "超过 200000 行"), (volume, "解压后超过 256 MB")):
        for dry_run in (True, False):
            answer = await stack.http.post("/screenings", params={"batch": "bomb", "dry_run": dry_run},
                                           files={"file": (file.name, file.read_bytes())}, headers=psy)
            assert answer.status_code == 422, answer.text
            problem = answer.json()["detail"][0]
            assert problem["loc"] == ["body", "file"] and says in problem["msg"], problem
    # the API (and the worker beside it) still serve, and a sound file still imports
    assert (await stack.http.get("/health", headers=psy)).status_code == 200
    sound = tmp_path / "sound.xlsx"
    book = xlsxwriter.Workbook(str(sound))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, HEADER)
    sheet.write_row(1, 0, ROW)
    book.close()
    started = await stack.http.post("/screenings", params={"batch": "sound", "dry_run": True},
                                    files={"file": ("sound.xlsx", sound.read_bytes())}, headers=psy)
    assert started.status_code == 202
    done = await _job(stack.http, psy, started.json()["job_id"])
    assert done["status"] == "done" and done["rows"] == 1 and done["flagged"] == 1


def test_the_command_line_refuses_the_far_cell_in_a_line_of_chinese(tmp_path):
    db = f"sqlite:///{tmp_path / 'cf.db'}"
    engine = make_engine(db, keyring=KEYRING)
    migrate(engine)
    directory.load(engine, SCHOOLS)
    engine.dispose()
    done = subprocess.run([CRISISFLOW, "screening", "preview", str(_far_cell(tmp_path / "far.xlsx")),
                           "--school", SCHOOL], capture_output=True, text=True, env=service_env(database_url=db),
                          timeout=120)
    assert done.returncode == 2, (done.returncode, done.stderr[-500:])
    assert "far.xlsx：超过 200000 行（第 1048576 行有内容）；请拆分文件" in done.stderr
    assert "Traceback" not in done.stderr


# -- point 7: a screening job never stays running ---------------------------------------------------

async def test_a_job_with_a_huge_cell_or_number_or_a_dead_process_ends_saying_why(sqlite_stack, tmp_path):
    stack = sqlite_stack
    directory.load(stack.engine, SCHOOLS)
    psy = {"Authorization": f"Bearer {token('psychology_teacher', staff_id='p-chen')}"}
    header = ",".join(HEADER)
    # numbers of 5,000 and 500 digits, a name of 2,000 characters: those rows, by line; the rest is read
    rows = [header, ",".join(map(str, ROW)), ",".join(map(str, ROW[:6] + ["9" * 5000])),
            ",".join(map(str, [ROW[0], "名" * 2000] + ROW[2:])), ",".join(map(str, ROW[:6] + ["9" * 500]))]
    started = await stack.http.post("/screenings", params={"batch": "digits", "dry_run": True},
                                    files={"file": ("r.csv", "\n".join(rows).encode())}, headers=psy)
    done = await _job(stack.http, psy, started.json()["job_id"])
    assert done["status"] == "done" and done["rows"] == 4 and done["flagged"] == 1
    assert {e["line"]: e["reason"] for e in done["errors"]} == {
        3: "total：超过 1000 个字符", 4: "name：超过 1000 个字符", 5: "total：“99999999999999999999…”不是分数"}
    # a cell past 128 KiB: the file is refused, naming the line
    huge = [header, ",".join(map(str, ROW)), f'20260002,"{"x" * 140_000}",8-3,八年级,八(3)班,phq9,3']
    started = await stack.http.post("/screenings", params={"batch": "huge", "dry_run": True},
                                    files={"file": ("r.csv", "\n".join(huge).encode())}, headers=psy)
    done = await _job(stack.http, psy, started.json()["job_id"])
    assert done["status"] == "failed" and done["failure"] == "r.csv：第 3 行无法读取（单元格过长或引号不配对）"
    # an import whose process died: failed, saying so, when next read (and when the API starts)
    now = datetime.now(UTC)
    with Session(stack.engine) as session, session.begin():
        session.add(ScreeningJobRow(job_id="died-midway", school_id=SCHOOL, batch="b", status="running", errors=[],
                                    warnings=[], started_by="p-chen", started_at=now - timedelta(minutes=5),
                                    heartbeat_at=now - timedelta(minutes=2)))
        session.add(ScreeningJobRow(job_id="still-going", school_id=SCHOOL, batch="c", status="running", errors=[],
                                    warnings=[], started_by="p-chen", started_at=now - timedelta(minutes=5),
                                    heartbeat_at=now))
    died = (await stack.http.get("/screenings/died-midway", headers=psy)).json()
    assert died["status"] == "failed" and died["failure"] == jobs.INTERRUPTED
    assert "请重新导入同一批次" in jobs.INTERRUPTED
    assert (await stack.http.get("/screenings/still-going", headers=psy)).json()["status"] == "running"


# -- point 3: a retry after a crash is one action, whatever ran in between ----------------------------

@pytest.fixture
async def small_runs(dev_env, webhook, tmp_path):
    """A stack whose cases continue as new after 120 history events: a few actions."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", webhook.url, history_event_limit=120)
    async with running_stack(dev_env.client, settings) as stack:
        yield stack


async def test_a_retry_whose_answer_was_lost_is_not_taken_again_in_a_later_run(small_runs, monkeypatch):
    stack = small_runs
    case_id = (await open_case(stack))["case_id"]
    for action in ("assess", "guardian_notice", "intervene"):
        await step(stack, case_id, action)
    handle = stack.client.get_workflow_handle(f"case-{case_id}")
    first_run = (await handle.describe()).run_id

    def api_dies(self, *args):  # the action is taken, and the API dies before it keeps the answer
        raise ConnectionResetError("the API process died")

    keyed = {**auth("psychology_teacher"), "Idempotency-Key": "contact-monday"}
    body = contact()
    with monkeypatch.context() as crash:
        crash.setattr(Door, "_keep", api_dies)
        lost = await stack.http.post(f"/cases/{case_id}/contacts", json=body, headers=keyed)
    assert lost.status_code == 500
    # the case goes on, and its workflow continues in a new run before the client retries
    while (await handle.describe()).run_id == first_run:
        assert (await act(stack, case_id, "contact")).status_code == 200
    retry = await stack.http.post(f"/cases/{case_id}/contacts", json=body, headers=keyed)
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    with Session(stack.engine) as session:
        requests = session.exec(select(CaseEventRow.request).where(col(CaseEventRow.case_id) == case_id,
                                                                   col(CaseEventRow.action) == "contact")).all()
    keyed_request = [r for r in requests if r is not None]
    assert len(keyed_request) == 1, requests  # one contact for the one request
    # the new run knows the request too: sent to it again (past the read model), it is not taken
    command = ActionCommand.model_validate({"actor": {"staff_id": "p-chen", "role": "psychology_teacher",
                                                      "school_id": SCHOOL},
                                            "body": {"action": "contact", **body}, "request": keyed_request[0]})
    before = len((await handle.query(CaseWorkflow.view)).events)
    await handle.execute_update(CaseWorkflow.act, command)
    assert len((await handle.query(CaseWorkflow.view)).events) == before

    # a closure and a reopening whose answers were lost: the retry is the case as it stands, not a 409
    proposed = await act(stack, case_id, "close")
    assert proposed.status_code == 202
    approving = {**auth("leadership"), "Idempotency-Key": "approve-close"}
    reopening = {**auth("leadership"), "Idempotency-Key": "reopen-1"}
    reason = {"reason": "出院后再次出现自伤念头"}
    with monkeypatch.context() as crash:
        crash.setattr(Door, "_keep", api_dies)
        assert (await stack.http.post(f"/cases/{case_id}/closure-decision", json=APPROVE,
                                      headers=approving)).status_code == 500
        await handle.result()  # the closed case's workflow has ended
        assert (await stack.http.post(f"/cases/{case_id}/reopen", json=reason, headers=reopening)).status_code == 500
    closed = await stack.http.post(f"/cases/{case_id}/closure-decision", json=APPROVE, headers=approving)
    assert closed.status_code == 200 and closed.headers["Idempotent-Replayed"] == "true", closed.text
    reopened = await stack.http.post(f"/cases/{case_id}/reopen", json=reason, headers=reopening)
    assert reopened.status_code == 200 and reopened.json()["state"] == "assessed", reopened.text
    with Session(stack.engine) as session:
        actions = session.exec(select(CaseEventRow.action).where(col(CaseEventRow.case_id) == case_id)).all()
    assert actions.count("closure_decision") == 1 and actions.count("reopen") == 1


# -- point 4: a broken channel shows itself ---------------------------------------------------------

@pytest.mark.parametrize("channels, says", [
    ('email: "mailto://crisis@[::1?from=crisis@school-a.example"', "channels.schools.school-a.email: not a mail URL"),
    ('email: "wecombot://0123456789"', "channels.schools.school-a.email: not a mail URL"),
    ('dingtalk: {robots: {leadership: "mailto://x@example.org"}}',
     "channels.schools.school-a.dingtalk.robots.leadership: not a dingtalk:// robot URL"),
])
def test_a_channel_that_cannot_send_stops_the_worker_at_start_up(tmp_path, channels, says):
    file = tmp_path / "channels.yaml"
    file.write_text(f"schools:\n  school-a:\n    {channels}\n")
    done = subprocess.run([CRISISFLOW, "worker"], capture_output=True, text=True, timeout=60,
                          env=service_env(database_url=f"sqlite:///{tmp_path / 'cf.db'}", channels_file=str(file)))
    assert done.returncode == 2, done.stderr[-400:]
    assert says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "0123456789" not in done.stderr  # a secret is never printed


async def test_a_row_that_cannot_be_sent_is_failing_with_its_reason(dev_env, webhook, tmp_path, monkeypatch):
    """A channel that breaks while running (Apprise raising on an address): its rows say failing and why,
    the operator's list shows them, and the other rows of the step are sent and their notices delivered."""
    from tests.conftest import free_port
    from tests.receivers import start_mailbox

    box, controller = start_mailbox(free_port())
    channels = tmp_path / "channels.yaml"
    channels.write_text(f'schools:\n  school-a:\n    email: "mailto://127.0.0.1:{box.port}'
                        f'?from=crisis@school-a.example&mode=insecure"\n')

    def breaks(*args):
        raise ValueError("Invalid IPv6 URL")

    monkeypatch.setattr("activities.notify.send_mail", breaks)
    db = f"sqlite:///{tmp_path / 'cf.db'}"
    settings = make_settings(tmp_path, db, webhook.url, channels_file=channels)
    try:
        async with running_stack(dev_env.client, settings) as stack:
            directory.load(stack.engine, read_directory(DIRECTORY_FILE))
            body = open_body()
            body["student"]["class_id"] = "8-3"
            case_id = (await open_case(stack, body))["case_id"]
            await step(stack, case_id, "assess")  # the guardian notice is due: 张老师 is told by e-mail

            def failing():
                with Session(stack.engine) as session:
                    rows = session.exec(select(DeliveryRow)).all()
                mail = [r for r in rows if r.channel == "email"]
                others = [r for r in rows if r.channel != "email"]
                settled = mail and all(r.status == "failing" for r in mail) and all(r.status == "sent" for r in others)
                return rows if settled else None

            rows = await eventually(failing, timeout=30)  # the other channels' rows are sent
            assert {r.last_error for r in rows if r.channel == "email"} == {"email: ValueError while sending"}

            def delivered():  # a notice with no mail to send is delivered, whatever the step's mail does
                with Session(stack.engine) as session:
                    notices = session.exec(select(NotificationRow).where(NotificationRow.case_id == case_id)).all()
                mailed = {r.notification_id for r in rows if r.channel == "email"}
                return [n for n in notices if n.notification_id not in mailed and n.delivered_at is not None]

            await eventually(delivered, timeout=30)
            listed = subprocess.run([CRISISFLOW, "outbox", "--status", "failing"], capture_output=True, text=True,
                                    env=service_env(database_url=db), timeout=60)
            assert listed.returncode == 0 and "email: ValueError while sending" in listed.stdout, listed.stdout
    finally:
        controller.stop()


# -- point 5: a transfer never merges two children -------------------------------------------------

async def test_a_transfer_goes_to_the_student_the_receiving_school_names_never_to_a_same_number(sqlite_stack):
    stack = sqlite_stack
    psy = {"Authorization": f"Bearer {token('psychology_teacher', staff_id='p-chen')}"}
    rows = [",".join(HEADER), ",".join(map(str, ROW))]
    started = await stack.http.post("/screenings", params={"batch": "moving"}, headers=psy,
                                    files={"file": ("r.csv", "\n".join(rows).encode())})
    assert (await _job(stack.http, psy, started.json()["job_id"]))["opened"] == 1
    # school-b has a child of its own under the same number
    theirs = open_body(name="另一个孩子", school="school-b")
    theirs["student"]["ref"] = ROW[0]
    answer = await stack.http.post("/cases", json=theirs, headers=auth("head_teacher", school="school-b"))
    assert answer.status_code == 201
    b = {"Authorization": f"Bearer {token('psychology_teacher', school='school-b')}"}
    before = (await stack.http.get(f"/students/{ROW[0]}", headers=b)).json()
    assert before["screenings"] == [] and before["name"] == "另一个孩子"

    async def transfer(**body):
        return await stack.http.post(f"/students/{ROW[0]}/transfer", headers=auth("leadership"),
                                     json={"to_school": "school-b", **body})

    # a number alone is no match: the request says which student of the receiving school it is
    missing = await transfer()
    assert missing.status_code == 422 and {tuple(e["loc"]) for e in missing.json()["detail"]} == {
        ("body", "to_student_ref"), ("body", "match")}
    taken = await transfer(to_student_ref=ROW[0], match="new")
    assert taken.status_code == 422 and taken.json()["detail"][0]["loc"] == ["body", "to_student_ref"]
    other_child = await transfer(to_student_ref=ROW[0], match="existing")
    assert other_child.status_code == 422 and "another child" in other_child.json()["detail"][0]["msg"]
    assert (await transfer(to_student_ref="B-2026-0099", match="existing")).status_code == 422
    moved = await transfer(to_student_ref="B-2026-0099", match="new")
    assert moved.status_code == 200 and moved.json()["results"] == 1
    # the child who moved has their results under the number the new school gave them; the other is untouched
    arrived = (await stack.http.get("/students/B-2026-0099", headers=b)).json()
    assert [r["batch"] for r in arrived["screenings"]] == ["school-a:moving"]
    assert (await stack.http.get(f"/students/{ROW[0]}", headers=b)).json()["screenings"] == []


# -- point 6: a TOTP code cannot be guessed for ever -----------------------------------------------

async def _to_code_page(http: httpx.AsyncClient, staff_id: str, password: str = PASSWORD) -> httpx.Response:
    form = await http.get("/ui/login")
    answer = await http.post("/ui/login", data={"staff_id": staff_id, "password": password,
                                                "csrf": csrf_of(form.text)})
    return answer if answer.status_code != 303 else await http.get(answer.headers["location"])


async def test_wrong_codes_pause_the_account_longer_each_time_then_void_the_password(sqlite_stack):
    stack = sqlite_stack
    load_people(stack.engine)
    secret = give_sign_in(stack.engine, stack.settings, "p-chen")
    engine, base = stack.engine, site(stack)

    def resume():  # the pause has passed (the clock moved on)
        with Session(engine) as session, session.begin():
            row = session.get(StaffAccountRow, "p-chen")
            paused, row.code_paused_until = row.code_paused_until, None
            session.add(row)
        return paused

    async with httpx.AsyncClient(base_url=base) as http:
        page = await _to_code_page(http, "p-chen")
        pauses = []
        for attempt in range(1, 21):
            answer = await http.post("/ui/login/code", data={"code": f"{attempt:06d}", "csrf": csrf_of(page.text)})
            if attempt % 5 and attempt < 20:
                assert answer.status_code == 401, attempt
                continue
            if attempt == 20:
                break
            assert answer.status_code == 429 and "账号已暂停登录，至北京时间" in answer.text, attempt
            # paused: even the right code waits
            right = await http.post("/ui/login/code", data={"code": pyotp.TOTP(secret).now(),
                                                            "csrf": csrf_of(page.text)})
            assert right.status_code == 429
            pauses.append(resume() - datetime.now(UTC))
        assert [round(p.total_seconds() / 60) for p in pauses] == [1, 15, 60]
        # the 20th wrong code: the password is void, the person told, and signed out
        assert answer.status_code == 403 and "密码已失效" in answer.text and "重新发放邀请码" in answer.text
        assert (await http.get("/ui")).status_code == 303
    async with httpx.AsyncClient(base_url=base) as http:
        again = await _to_code_page(http, "p-chen")
        assert again.status_code == 403 and "密码已失效" in again.text
    # a new invitation sets a new password, and the count starts afresh
    code = accounts.invite(engine, "p-chen", datetime.now(UTC), stack.settings)
    accounts.set_password(engine, code, PASSWORD + "-new", datetime.now(UTC))
    assert accounts.account(engine, "p-chen").code_failures == 0


async def test_the_person_is_told_of_wrong_codes_on_their_next_sign_in(sqlite_stack):
    stack = sqlite_stack
    load_people(stack.engine)
    secret = give_sign_in(stack.engine, stack.settings, "p-chen")
    async with httpx.AsyncClient(base_url=site(stack)) as http:
        page = await _to_code_page(http, "p-chen")
        for guess in ("111111", "222222"):
            assert (await http.post("/ui/login/code", data={"code": guess, "csrf": csrf_of(page.text)})
                    ).status_code == 401
    async with httpx.AsyncClient(base_url=site(stack)) as http:  # the person, later, on their own phone
        page = await _to_code_page(http, "p-chen")
        signed_in = await http.post("/ui/login/code", data={"code": pyotp.TOTP(secret).now(), "next": "/ui/cases",
                                                            "csrf": csrf_of(page.text)})
        assert signed_in.headers["location"].startswith("/ui/signin-notice")
        notice = await http.get(signed_in.headers["location"])
        assert notice.status_code == 200 and "2 次错误的动态验证码" in notice.text and "北京时间" in notice.text
        assert 'href="/ui/cases"' in notice.text
        told = await http.get("/ui/signin-notice")  # told once
        assert told.status_code == 303 and told.headers["location"] == "/ui"


# -- point 9: lockouts are no denial-of-service switch; anonymous sessions expire --------------------

def _from(base: str, address: str) -> httpx.AsyncClient:
    """A client at another loopback address (127.0.0.0/8 is all this machine's)."""
    return httpx.AsyncClient(base_url=base, transport=httpx.AsyncHTTPTransport(local_address=address))


async def test_nobody_can_lock_a_person_or_an_address_out(sqlite_stack):
    stack = sqlite_stack
    load_people(stack.engine)
    give_sign_in(stack.engine, stack.settings, "g-zhao")  # a grade head: no second factor
    base = site(stack)
    async with _from(base, "127.0.0.2") as attacker:
        for attempt in range(1, 7):
            form = await attacker.get("/ui/login")
            answer = await attacker.post("/ui/login", data={"staff_id": "g-zhao", "password": f"guess-{attempt}",
                                                            "csrf": csrf_of(form.text)})
            assert answer.status_code == (401 if attempt <= 5 else 429), attempt
    # the attacker's address is held back at g-zhao's account; g-zhao at her own desk is not
    async with _from(base, "127.0.0.3") as her:
        form = await her.get("/ui/login")
        answer = await her.post("/ui/login", data={"staff_id": "g-zhao", "password": PASSWORD,
                                                   "csrf": csrf_of(form.text)})
        assert answer.status_code == 303 and answer.headers["location"] == "/ui"
    # many wrong tries behind one address (a school's NAT) slow that address down, and refuse nobody
    async with _from(base, "127.0.0.4") as school:
        for n in range(22):
            form = await school.get("/ui/login")
            await school.post("/ui/login", data={"staff_id": f"nobody-{n % 5}", "password": "x",
                                                 "csrf": csrf_of(form.text)})
        assert accounts.slowdown(stack.engine, "g-zhao", "127.0.0.4", datetime.now(UTC), stack.settings) > 0
        form = await school.get("/ui/login")
        answer = await school.post("/ui/login", data={"staff_id": "g-zhao", "password": PASSWORD,
                                                      "csrf": csrf_of(form.text)})
        assert answer.status_code == 303


async def test_anonymous_sessions_are_bounded_and_expire(sqlite_stack):
    stack = sqlite_stack
    base = site(stack)
    async with _from(base, "127.0.0.5") as bot:
        for _ in range(sessions.ANONYMOUS_PER_ADDRESS + 30):
            bot.cookies.clear()  # every visit without a cookie begins a session
            assert (await bot.get("/ui/login")).status_code == 200
    with Session(stack.engine) as session:
        rows = session.exec(select(WebSessionRow).where(WebSessionRow.address == "127.0.0.5")).all()
    assert len(rows) == sessions.ANONYMOUS_PER_ADDRESS
    # an hour later they are gone, cleared when the next session begins
    later = datetime.now(UTC) + timedelta(hours=1)
    sessions._swept.clear()
    sessions.create(stack.engine, sessions.Stage.anonymous, later, "127.0.0.6", settings=stack.settings)
    with Session(stack.engine) as session:
        assert session.exec(select(WebSessionRow).where(WebSessionRow.address == "127.0.0.5")).all() == []


# -- point 8: odd input is a 4xx naming the field, never a 500 ----------------------------------------

@pytest.mark.parametrize("when", ["9999-12-31T23:00:00-23:59", "0001-01-01T00:30:00+23:59",
                                  "2100-12-31T23:59:59-23:59", "9999-12-31T23:59:59.999999-00:01"])
async def test_a_time_at_the_ends_of_the_range_with_a_large_offset_is_a_422(sqlite_stack, when):
    stack = sqlite_stack
    case_id = (await open_case(stack))["case_id"]
    await step(stack, case_id, "assess")
    notice = await stack.http.post(f"/cases/{case_id}/guardian-notice", headers=auth("head_teacher"), json={
        "notified_at": when, "channel": "phone", "guardian_relation": "母亲"})
    assert notice.status_code == 422 and notice.json()["detail"][0]["loc"][-1] == "notified_at", notice.text
    incident = await stack.http.post("/incidents", headers=auth("leadership"), json={
        "kind": "self_harm_injury", "place": "教学楼三楼走廊", "occurred_at": when, "summary": "课间在走廊发生自伤",
        "case_id": case_id})
    assert incident.status_code == 422 and [e["loc"] for e in incident.json()["detail"]] == [
        ["body", "occurred_at"]], incident.text
    # the page form too: its own words, not a 500
    load_people(stack.engine)
    http = await sign_in(site(stack), "t-zhang", give_sign_in(stack.engine, stack.settings, "t-zhang"))
    body = open_body()
    body["student"]["class_id"] = "8-3"
    mine = (await open_case(stack, body))["case_id"]
    await step(stack, mine, "assess")
    form = await http.get(f"/ui/cases/{mine}/act/guardian_notice")
    answer = await http.post(f"/ui/cases/{mine}/act/guardian_notice", data={
        "csrf": csrf_of(form.text), "notified_at": when, "channel": "phone", "guardian_relation": "母亲"})
    assert answer.status_code == 400 and "时间须在 2000 年至 2100 年之间" in answer.text
    await http.aclose()


@pytest.mark.parametrize("accept", ["application/pdf;q=²", "text/plain;q=1e3", "text/plain;q=0.5.5",
                                    "application/pdf;q=-1", "text/plain; q=NaN"])
async def test_an_accept_header_with_an_odd_q_value_is_a_400_naming_it(sqlite_stack, accept):
    stack = sqlite_stack
    case_id = (await open_case(stack))["case_id"]
    await step(stack, case_id, "assess")

    async def made():
        return (await stack.http.get(f"/cases/{case_id}/documents", headers=auth("leadership"))).json()

    document_id = (await eventually(made, timeout=30))[0]["document_id"]
    answer = await stack.http.get(f"/documents/{document_id}",
                                  headers={**auth("leadership"), "Accept": accept.encode()})
    assert answer.status_code == 400 and answer.json()["detail"].startswith("Accept:"), answer.text


@pytest.mark.parametrize("iat", ["1700000000", [], {"s": 1}, True, 1e300, None])
async def test_a_signed_token_with_an_odd_iat_is_a_401(sqlite_stack, iat):
    import jwt

    from api.auth import ALGORITHM, ISSUER, key_id
    from tests.conftest import SECRET

    claims = {"iss": ISSUER, "sub": "p-chen", "role": "psychology_teacher", "school": SCHOOL, "iat": iat,
              "exp": int(datetime.now(UTC).timestamp()) + 600}
    signed = jwt.encode(claims, SECRET, algorithm=ALGORITHM, headers={"kid": key_id(SECRET)})
    answer = await sqlite_stack.http.get("/cases", headers={"Authorization": f"Bearer {signed}"})
    assert answer.status_code == 401 and "invalid token" in answer.json()["detail"], answer.text


@pytest.mark.parametrize("depth", [100, 250, 500, 750, 999, 1000, 5000])
async def test_answers_nested_deep_are_a_4xx(sqlite_stack, depth):
    stack = sqlite_stack
    case_id = (await open_case(stack))["case_id"]
    for instrument in ('"asq"', '"clinical", "risk_level": "high", "rationale": "临床判断"'):
        body = f'{{"instrument": {instrument}, "answers": ' + '{"q1": ' * depth + "true" + "}" * depth + "}"
        answer = await stack.http.post(f"/cases/{case_id}/assessment", content=body,
                                       headers={**auth("psychology_teacher"), "Content-Type": "application/json"})
        assert answer.status_code in (400, 422), (answer.status_code, answer.text[:300])
        if answer.status_code == 422:
            assert answer.json()["detail"][0]["loc"][:2] == ["body", "answers"], answer.text[:300]
    assert (await stack.http.get(f"/cases/{case_id}", headers=auth("leadership"))).json()["state"] == "identified"


# -- point 9: the staff app's reopen form -----------------------------------------------------------

async def test_leadership_reopens_a_closed_case_from_the_staff_app(sqlite_stack):
    stack = sqlite_stack
    load_people(stack.engine)
    body = open_body()
    body["student"]["class_id"] = "8-3"
    case_id = (await open_case(stack, body))["case_id"]
    for action in ("assess", "guardian_notice", "intervene", "close"):
        await step(stack, case_id, action)
    http = await sign_in(site(stack), "l-sun", give_sign_in(stack.engine, stack.settings, "l-sun"))
    form = await http.get(f"/ui/cases/{case_id}/act/reopen")
    assert form.status_code == 200 and "重新开案的理由" in form.text
    key = form.text.split('name="key" value="')[1].split('"')[0]
    answer = await http.post(f"/ui/cases/{case_id}/act/reopen", data={
        "csrf": csrf_of(form.text), "key": key, "reason": "出院后再次出现自伤念头"})
    assert answer.status_code == 303, answer.text[-1500:]
    page = await http.get(answer.headers["location"])
    assert "已重新开案" in page.text or "重新开案" in page.text
    assert (await stack.http.get(f"/cases/{case_id}", headers=auth("leadership"))).json()["state"] == "assessed"
    await http.aclose()


def test_a_refusal_never_offers_the_action_it_refused():
    """The staff app's reopen form answered 未能办理“重新开案”… 现在可以：重新开案 (a refusal by the workflow's end,
    with the case's own allowed actions): a refusal's words never contradict themselves."""
    from api.web.words import refusal_words
    from models.domain import Action, CaseState
    from models.errors import Refused

    words = refusal_words(Refused("reopen is not allowed in state closed", CaseState.closed, ["reopen"], "reopen"),
                          Action.reopen)
    assert "现在可以：重新开案" not in words and "请刷新页面后再试" in words
    finishing = refusal_words(Refused("", CaseState.closed, [], "reopen", ("closure_finishing",)), Action.reopen)
    assert "个案正在完成结案手续" in finishing


# -- point 9: receipts are kept as their pixels, never as they came ----------------------------------

async def test_a_receipt_with_a_script_or_a_second_face_is_kept_as_its_look_alone(sqlite_stack):
    import pypdf
    import pypdfium2 as pdfium
    from pypdf.actions import JavaScript

    from tests.test_receipts import png

    stack = sqlite_stack
    case_id = (await open_case(stack))["case_id"]
    await step(stack, case_id, "assess")

    async def notice():
        docs = (await stack.http.get(f"/cases/{case_id}/documents", headers=auth("head_teacher"))).json()
        return next((d for d in docs if d["kind"] == "guardian_notice"), None)

    url = f"/cases/{case_id}/documents/{(await eventually(notice, timeout=30))['document_id']}/signed"
    writer = pypdf.PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_open_action(JavaScript("app.alert('pwned');"))
    scripted = io.BytesIO()
    writer.write(scripted)
    assert b"/JavaScript" in scripted.getvalue()
    hybrid = png() + b"<html><body><script>alert(document.cookie)</script></body></html>"
    for name, data, media in (("receipt.pdf", scripted.getvalue(), "application/pdf"),
                              ("receipt.png", hybrid, "image/png")):
        kept = await stack.http.post(url, files={"file": (name, data, media)}, headers=auth("head_teacher"))
        assert kept.status_code == 201, kept.text
        back = await stack.http.get(f"{url}/{kept.json()['copy_id']}", headers=auth("head_teacher"))
        assert back.headers["content-type"] == media and back.headers["x-content-type-options"] == "nosniff"
        assert back.headers["content-disposition"].startswith("attachment;")
        assert b"JavaScript" not in back.content and b"/JS" not in back.content and b"<script" not in back.content
        if media == "application/pdf":  # the paper's look is kept: a page to print
            assert len(pdfium.PdfDocument(back.content)) == 1
    # a photo that would take gigabytes to decode, and a PDF that will not open: refused, in words
    huge = png(8_000, 8_000)  # 64 million pixels
    refused = await stack.http.post(url, files={"file": ("big.png", huge, "image/png")}, headers=auth("head_teacher"))
    assert refused.status_code == 415 and "图片太大" in refused.json()["detail"]
    broken = await stack.http.post(url, files={"file": ("x.pdf", b"%PDF-1.7 not really", "application/pdf")},
                                   headers=auth("head_teacher"))
    assert broken.status_code == 415 and "PDF 文件无法打开" in broken.json()["detail"]


# -- point 9: long unbroken text wraps on the paper ---------------------------------------------------

async def test_a_long_unbroken_note_is_printed_whole_within_the_page(sqlite_stack):
    import pypdfium2 as pdfium

    stack = sqlite_stack
    case_id = (await open_case(stack))["case_id"]
    for action in ("assess", "guardian_notice", "intervene", "refer"):
        await step(stack, case_id, action)
    unbroken = "https://example.org/" + "x" * 280  # 300 characters, no place to break a line
    await step(stack, case_id, "guardian_response", {"decision": "refuse", "by": "guardian", "notes": unbroken})
    await step(stack, case_id, "send_report")

    async def report():
        docs = (await stack.http.get(f"/cases/{case_id}/documents", headers=auth("leadership"))).json()
        return next((d for d in docs if d["kind"] == "authority_report"), None)

    doc = await eventually(report, timeout=30)
    pdf = await stack.http.get(f"/documents/{doc['document_id']}", headers=auth("leadership"))
    document = pdfium.PdfDocument(pdf.content)
    printed, outside = 0, 0
    for page in document:
        width = page.get_width()
        text = page.get_textpage()
        for i in range(text.count_chars()):
            if text.get_text_range(i, 1) == "x":
                printed += 1
                left, _, right, _ = text.get_charbox(i)
                outside += not (0 <= left and right <= width)
    assert (printed, outside) == (281, 0)  # "example" has one too
    # the text form reads as it was written
    words = await stack.http.get(f"/documents/{doc['document_id']}", headers={**auth("leadership"),
                                                                               "Accept": "text/plain"})
    assert unbroken in words.text


# -- point 9: the files people write are read within bounds ------------------------------------------

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))


@pytest.mark.parametrize("text, says", [
    (LAUGHS, "values once its aliases are expanded"),
    ("schools: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 32 levels"),
])
def test_a_channels_file_of_nested_aliases_or_nesting_is_refused_at_once(tmp_path, text, says):
    file = tmp_path / "channels.yaml"
    file.write_text(text)
    started = datetime.now(UTC)
    done = subprocess.run([CRISISFLOW, "worker"], capture_output=True, text=True, timeout=60,
                          env=service_env(database_url=f"sqlite:///{tmp_path / 'cf.db'}", channels_file=str(file)))
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr, done.stderr[-600:]
    assert datetime.now(UTC) - started < timedelta(seconds=30)  # refused, not expanded (it took 17 s and 583 MB)


def _load(tmp_path, text: str, name: str = "directory.yaml") -> subprocess.CompletedProcess:
    file = tmp_path / name
    file.write_text(text)
    return subprocess.run([CRISISFLOW, "directory", "load", str(file)], capture_output=True, text=True, timeout=60,
                          env=service_env(database_url=f"sqlite:///{tmp_path / 'cf.db'}"))


def test_the_directory_loader_answers_deep_nesting_and_a_person_moving_school(tmp_path):
    for text, name in (("schools: " + "[" * 5000 + "]" * 5000, "directory.yaml"),
                       ('{"schools": ' + "[" * 100_000 + "]" * 100_000 + "}", "directory.json"),
                       (LAUGHS, "directory.yaml")):
        done = _load(tmp_path, text, name)
        assert done.returncode == 2 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr, (
            name, done.stderr[-400:])
    school = ("schools:\n  - {{id: {s}, name: 某中学{s}, authority: 某市教育局, classes: []}}\n"
              "staff:\n  - {{id: p-wu, name: 吴老师, school: {s}, roles: [psychology_teacher]}}\n")
    assert _load(tmp_path, school.format(s="school-x")).returncode == 0
    moved = _load(tmp_path, school.format(s="school-y"))  # 吴老师 now works at school-y
    assert moved.returncode == 0 and "1 moved from another school" in moved.stdout, moved.stderr[-400:]
    engine = make_engine(f"sqlite:///{tmp_path / 'cf.db'}", keyring=KEYRING)
    assert directory.person(engine, "p-wu").school_id == "school-y"
    engine.dispose()


def test_rows_of_one_student_number_naming_two_children_are_reported(tmp_path):
    from intake import reader
    from models.screening import load_rules

    rows = [",".join(HEADER), ",".join(map(str, ROW)),
            ",".join(map(str, [ROW[0], "学生乙", "8-4"] + ROW[3:])),  # the same number, another child (or a typo)
            ",".join(map(str, ROW[:5] + ["gad7", 3]))]
    file = tmp_path / "r.csv"
    file.write_text("\n".join(rows))
    preview = reader.read(file, SCHOOL, load_rules(None), None)
    assert [(w.line, w.reason) for w in preview.warnings] == [
        (3, "ref：与第 2 行同一学号，但姓名和班级不同；已按同一名学生处理，请核对是否为两名学生或录入错误")]
    assert preview.flagged == 2 and preview.cases == 1  # nothing dropped: the flagged rows still open a case


# -- point 10: crisisflow dev and the operations port ---------------------------------------------

def test_dev_refuses_a_taken_port_in_one_line_and_leaves_nothing_running(tmp_path):
    from tests.conftest import free_port

    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    taken = held.getsockname()[1]
    ports = [str(free_port()) for _ in range(3)]
    try:
        for extra, says in ((["--ops-port", str(taken)], f"error: port {taken} on 127.0.0.1 is in use; choose another "
                                                          "with --ops-port (0 switches the operations port off)"),
                            (["--ops-port", "0", "--ui-port", str(taken)], "with --ui-port")):
            args = [CRISISFLOW, "dev", "--data-dir", str(tmp_path / "var"), "--api-port", ports[0],
                    "--temporal-port", ports[1], "--ui-port", ports[2], *extra]
            done = subprocess.run(args, capture_output=True, text=True, timeout=60, env=service_env())
            assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and says in done.stderr, (
                done.returncode, done.stderr[-800:])
            # nothing was started: no Temporal server holds its port
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", int(ports[1]))) != 0
    finally:
        held.close()


def test_dev_with_the_operations_port_off_binds_no_9464(tmp_path):
    from tests.test_cli import Dev

    dev = Dev(tmp_path / "var", None, "--ops-port", "0")
    try:
        assert any("Operations   off" in line for line in dev.banner), dev.banner
        assert not any(":9464" in line for line in dev.banner)
    finally:
        assert dev.stop() == 0


# -- point 11: a malformed history never hangs the auditor's replay ----------------------------------

GOLDEN = Path(__file__).parent / "histories" / "2026-12-05-v7-requests-kept"


def _cut(tmp_path: Path, start: int, end: int, renumber: bool) -> Path:
    history = json.loads((GOLDEN / "consent.json").read_text())
    kept = [dict(e) for e in history["events"][:start] + history["events"][end:]]
    if renumber:  # the ids made to look consecutive again: the events themselves still do not fit
        for n, event in enumerate(kept, start=1):
            event["eventId"] = str(n)
    path = tmp_path / f"cut-{start}-{end}{'-renumbered' if renumber else ''}.json"
    path.write_text(json.dumps(dict(history, events=kept)))
    return path


def test_the_auditor_replays_a_batch_with_cut_histories_and_each_file_gets_its_answer(tmp_path):
    cut = _cut(tmp_path, 37, 47, renumber=False)  # this cut left the SDK's replay waiting for ever
    renumbered = _cut(tmp_path, 43, 50, renumber=True)
    done = subprocess.run([CRISISFLOW, "audit", "replay", str(cut), str(renumbered), str(GOLDEN / "consent.json")],
                          capture_output=True, text=True, timeout=120,
                          env=service_env(keyring=(GOLDEN / "keyring.json").read_text()))
    assert done.returncode == 1, done.stdout[-800:]
    assert f"{cut}: malformed" in done.stdout and "event 48 stands where event 38 belongs" in done.stdout
    assert f"{renumbered}: malformed" in done.stdout
    assert "event 44 (EVENT_TYPE_ACTIVITY_TASK_STARTED) follows a workflow task that started" in done.stdout
    assert "1 of 3 histories replayed cleanly" in done.stdout


async def test_a_replay_that_stalls_is_bounded_and_the_batch_goes_on(monkeypatch):
    from config.temporal import data_converter
    from crypto.keyring import Keyring
    from workflows import replay

    class Stalls:
        """A replayer whose replay never returns (as the SDK's did when its poller died)."""

        @contextlib.asynccontextmanager
        async def workflow_replay_iterator(self, histories):
            async def never():
                await asyncio.Event().wait()
                yield None

            yield never()

    monkeypatch.setattr(replay, "REPLAY_SECONDS", 2.0)
    conv = data_converter(Keyring(str(GOLDEN / "keyring.json")))
    history = load_history((GOLDEN / "consent.json").read_text(), "consent")
    reports = await replay.replay_all([(history, "first"), (history, "second")], conv, using=Stalls())
    assert reports[0].malformed and "did not finish within 2 s" in reports[0].divergence
    assert reports[1].deterministic  # the rest of the batch, on a fresh replayer
