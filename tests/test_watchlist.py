"""The watch list (重点学生, 重点关注; issue 25, point 6): students the screening watch-lists and students whose
case closed with follow-up advised, each with an owner and a review date; the head teacher told when a student
of their class is added; a missed review climbs the ladder like any duty; ``GET /watchlist`` scoped like cases.
"""

from __future__ import annotations

import csv
import uuid
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, col, select

from db import directory, store
from db.tables import NotificationRow
from door import watch_student
from models.case import Student
from models.directory import read_directory
from models.policy import DeadlinePolicy
from models.watch import WatchAdd, WatchReason, WatchRequest, watch_workflow_id
from tests.conftest import SCHOOL, STARTED, quiet, token
from tests.support import ASSESS_LOW, CLOSE, eventually, open_body
from tests.test_screening_import import HEADER, _counts, _import
from tests.web import give_sign_in, sign_in, site
from workflows.watch_workflow import WatchWorkflow

DIRECTORY = read_directory(Path(__file__).with_name("directory.yaml"))


def as_(staff_id: str, role: str) -> dict:
    return {"Authorization": f"Bearer {token(role, SCHOOL, staff_id=staff_id)}"}


def _told(engine, watch_id: str, event: str) -> list[NotificationRow]:
    with Session(engine) as session:
        return list(session.exec(select(NotificationRow).where(col(NotificationRow.case_id) == watch_id,
                                                               col(NotificationRow.event) == event)
                                 .order_by(col(NotificationRow.created_at))).all())


async def test_a_missed_review_climbs_the_ladder_and_a_second_reason_joins_the_entry(ts):
    env, settings, engine = ts
    directory.load(engine, DIRECTORY)
    student = Student(ref=f"2026-{uuid.uuid4().hex[:6]}", name="李小红", school_id=SCHOOL, grade="八年级",
                      class_name="八(3)班", class_id="8-3")
    request = WatchRequest(school_id=SCHOOL, student=student, policy=DeadlinePolicy(),
                           addition=WatchAdd(reason=WatchReason.screening, source="2026-autumn", by="p-chen",
                                             owner="p-chen"))
    watch_id = await watch_student(env.client, settings.task_queue, request)
    handle = env.client.get_workflow_handle(watch_workflow_id(watch_id))
    STARTED.append(handle)
    added = await eventually(lambda: _told(engine, watch_id, "watch_added"), timeout=60)
    # the class's head teacher and the owner, content-free: no name, no number
    assert added[0].recipient_staff == ["t-zhang", "p-chen"]
    assert "重点关注学生" in added[0].text and "李小红" not in added[0].text and student.ref not in added[0].text
    assert "请班主任、负责心理教师于" in added[0].text and "北京时间" in added[0].text

    # the same batch imported again adds nothing; a closed case's follow-up joins the same entry
    await watch_student(env.client, settings.task_queue, request)
    closed = request.model_copy(update={"addition": WatchAdd(reason=WatchReason.closed_with_follow_up,
                                                             source="case-1", by="p-he", owner="p-he")})
    await watch_student(env.client, settings.task_queue, closed)
    at = added[0].created_at
    data = await eventually(lambda: (d := store.watchlist(engine, SCHOOL, None, at, names=True))
                            and len(d[0].reasons) == 2 and d, timeout=60)
    assert [(w.reasons, w.owner, w.name) for w in data] == [(["screening", "closed_with_follow_up"], "p-chen",
                                                             "李小红")]
    assert await eventually(lambda: len(_told(engine, watch_id, "watch_added")) == 2, timeout=60)

    # 30 days on, the review is missed: the owner and the head teacher first, then the grade head
    await quiet(handle)
    await env.sleep(timedelta(days=30, hours=1))
    missed = await eventually(lambda: _told(engine, watch_id, "deadline_missed"), timeout=60)
    assert missed[0].recipient_roles == ["owner", "head_teacher"]
    assert missed[0].recipient_staff == ["p-chen", "t-zhang"]
    await quiet(handle)
    await env.sleep(timedelta(hours=12))
    escalated = await eventually(lambda: _told(engine, watch_id, "deadline_escalated"), timeout=60)
    assert escalated[0].escalation_level == 2, [(e.escalation_level, e.created_at) for e in escalated]
    assert "g-wang" in escalated[0].recipient_staff and "p-he" not in escalated[0].recipient_staff
    now = await env.get_current_time()
    listed = store.watchlist(engine, SCHOOL, {"8-3"}, now)
    assert listed[0].overdue and listed[0].escalation_level >= 2, (listed, now)
    assert store.watchlist(engine, SCHOOL, {"8-4"}, now) == []
    assert (await handle.query(WatchWorkflow.view)).deadline.escalation_level >= 2


async def test_a_case_closed_with_follow_up_puts_the_student_on_the_list_scoped_like_cases(sqlite_stack):
    stack = sqlite_stack
    directory.load(stack.engine, DIRECTORY)
    body = open_body()
    body["student"].update(class_id="8-3", ref=f"2026-{uuid.uuid4().hex[:6]}")  # its own entry on the server
    cid = (await stack.http.post("/cases", json=body, headers=as_("t-zhang", "head_teacher"))).json()["case_id"]
    chen = as_("p-chen", "psychology_teacher")
    assert (await stack.http.post(f"/cases/{cid}/assessment", json=ASSESS_LOW, headers=chen)).status_code == 200
    r = await stack.http.post(f"/cases/{cid}/closure", json={**CLOSE, "follow_up": True}, headers=chen)
    assert r.status_code == 200 and r.json()["state"] == "closed"

    async def listed(who):
        r = await stack.http.get("/watchlist", headers=who)
        return r.json() if r.status_code == 200 and r.json() else None

    entry = (await eventually(lambda: listed(as_("t-zhang", "head_teacher"))))[0]
    assert entry["reasons"] == ["closed_with_follow_up"] and entry["owner"] == "p-chen"
    assert entry["name"] == "王小明" and entry["class_name"] == "八(3)班"  # as the directory names the class
    assert (await stack.http.get("/watchlist", headers=as_("t-li", "head_teacher"))).json() == []  # 8-4's
    assert (await stack.http.get("/watchlist", headers=as_("s-wu", "staff"))).status_code == 403
    nameless = (await stack.http.get("/watchlist", headers=as_("g-wang", "grade_head"))).json()
    assert [e["name"] for e in nameless] == [None]

    # the staff app lists them too, for the head teacher and the owner
    secret = give_sign_in(stack.engine, stack.settings, "t-zhang")
    http = await sign_in(site(stack), "t-zhang", secret)
    try:
        page = await http.get("/ui/watchlist")
        assert page.status_code == 200 and "王小明" in page.text and "个案结案，建议继续跟踪关注" in page.text
        assert "负责心理教师：陈老师" in page.text and "下次复核" in page.text
    finally:
        await http.aclose()
    # the psychology teacher reads the school's list by class: how many each class has, one class alone
    http = await sign_in(site(stack), "p-chen", give_sign_in(stack.engine, stack.settings, "p-chen"))
    try:
        page = await http.get("/ui/watchlist")
        assert "共 1 人：八年级 八(3)班 1 人。" in page.text
        assert "本班 1 人" in (await http.get("/ui/watchlist?class_id=8-3")).text
        other = (await http.get("/ui/watchlist?class_id=8-4")).text
        assert "本班 0 人" in other and "王小明" not in other
    finally:
        await http.aclose()

    # the owner reviews: kept on the list, the next review due in 30 days; then released
    due = entry["review_due_at"]
    url = f"/watchlist/{entry['watch_id']}/review"
    r = await stack.http.post(url, json={"observations": "情绪平稳，按时上课", "decision": "keep"}, headers=chen)
    assert r.status_code == 200 and r.json()["review_due_at"] > due
    assert (await stack.http.post(url, json={"observations": "x", "decision": "keep"},
                                  headers=as_("t-li", "head_teacher"))).status_code == 404
    r = await stack.http.post(url, json={"observations": "连续两次复核良好", "decision": "release"}, headers=chen)
    assert r.status_code == 200 and r.json()["state"] == "released"
    assert (await stack.http.get("/watchlist", headers=chen)).json() == []


async def test_the_screening_puts_a_watch_listed_student_on_the_list(stack, tmp_path):
    """A result the rules watch-list (PHQ-9 moderate) opens no case: the student goes on the watch list,
    owned by the psychology teacher who imported the batch."""
    directory.load(stack.engine, DIRECTORY)
    file = tmp_path / "results.csv"
    ref = f"2026{uuid.uuid4().int % 10**6:06d}"  # one entry per student: each run its own (one Temporal server)
    with file.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([HEADER, [ref, "周小雨", "8-4", "八年级", "八(4)班", "phq9", 12] + [""] * 9])
    done = _import(stack, file)
    assert done.returncode == 0, done.stderr
    assert _counts(done.stdout)["watch-listed"] == "1" and _counts(done.stdout)["opened"] == "0"
    async def listed_now():
        r = await stack.http.get("/watchlist", headers=as_("t-li", "head_teacher"))
        return r.json() or None

    listed = await eventually(listed_now)
    assert [(e["student_ref"], e["reasons"], e["owner"]) for e in listed] == [(ref, ["screening"], "p-chen")]
    added = await eventually(lambda: _told(stack.engine, listed[0]["watch_id"], "watch_added"))
    assert added[0].recipient_staff == ["t-li", "p-chen"]
