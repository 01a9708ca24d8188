"""Every member of staff may report a concern, and leadership hears of every new case; a screening flag is a
reason of its own (issue 25, points 5 and 6).

全体教职员工均有责任和义务 (seed 000); 各学科教师及保育员老师多方联动 (seed 002): a subject teacher, care or
boarding staff or the school doctor (role ``staff``, with a title in the directory) opens a case, and follows
the state of the cases they reported, nothing others recorded.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from db import directory
from db.tables import NotificationRow
from tests.conftest import SCHOOL, SCHOOLS, token
from tests.support import ASSESS_HIGH, eventually, open_body
from tests.web import give_sign_in, sign_in, site


def as_(staff_id: str, role: str) -> dict:
    return {"Authorization": f"Bearer {token(role, SCHOOL, staff_id=staff_id)}"}


WU = as_("s-wu", "staff")  # 吴老师, a maths teacher
PSY = as_("p-chen", "psychology_teacher")


def _told(engine, case_id: str, event: str) -> list[NotificationRow]:
    with Session(engine) as session:
        return list(session.exec(select(NotificationRow).where(col(NotificationRow.case_id) == case_id,
                                                               col(NotificationRow.event) == event)).all())


async def test_5_a_teacher_reports_a_concern_and_follows_only_its_state(sqlite_stack):
    stack = sqlite_stack
    directory.load(stack.engine, SCHOOLS)
    body = open_body(warning_signals=[])  # risk factors only: leadership hears of it all the same
    body["student"]["class_id"] = "8-3"
    r = await stack.http.post("/cases", json=body, headers=WU)
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["student"]["name"] == "王小明" and case["summary"] == body["summary"]  # what they reported
    assert case["events"] == [] and case["deadlines"] == [] and "deadlines" in case["withheld"]
    cid = case["case_id"]

    # leadership is told of every new case at once, content-free; the psychology teachers must assess it
    told = await eventually(lambda: _told(stack.engine, cid, "case_opened"))
    assert told[0].recipient_roles == ["psychology_teacher", "leadership"]
    assert told[0].recipient_staff == ["p-chen", "p-he", "l-sun"]
    assert "教职员工吴老师登记了个案" in told[0].text and "王小明" not in told[0].text

    # the assessment is the psychology teacher's; the reporter sees the state, not the risk
    assert (await stack.http.post(f"/cases/{cid}/assessment", json=ASSESS_HIGH, headers=PSY)).status_code == 200
    mine = (await stack.http.get(f"/cases/{cid}", headers=WU)).json()
    assert mine["state"] == "assessed" and mine["risk_level"] is None and mine["events"] == []
    listed = (await stack.http.get("/cases?risk_level=high", headers=WU)).json()
    assert [(c["case_id"], c["risk_level"]) for c in listed["items"]] == [(cid, None)]

    # nothing else: another's case does not exist for them, nor may they record casework
    other = (await stack.http.post("/cases", json=body, headers=as_("t-zhang", "head_teacher"))).json()["case_id"]
    assert (await stack.http.get(f"/cases/{other}", headers=WU)).status_code == 404
    r = await stack.http.post(f"/cases/{cid}/contacts", headers=WU, json={
        "with_whom": "student", "at": datetime.now().astimezone().isoformat(), "channel": "in_person",
        "notes": "课后谈话"})
    assert r.status_code == 403
    assert (await stack.http.get(f"/cases/{cid}/notifications", headers=WU)).status_code == 403

    # in the staff app: their reports, by state only, and the case page says what happens next
    give_sign_in(stack.engine, stack.settings, "s-wu")
    http = await sign_in(site(stack), "s-wu")
    try:
        home = await http.get("/ui")
        assert home.status_code == 200 and "我报告的个案" in home.text and "已评估" in home.text
        assert "高风险" not in home.text
        page = await http.get(f"/ui/cases/{cid}")
        assert page.status_code == 200 and "最近常把零食和文具送给同学" in page.text and "接下来" in page.text
        assert "高风险" not in page.text and "期限" not in page.text
        assert (await http.get(f"/ui/cases/{other}")).status_code == 404
        form = await http.get("/ui/cases/new")
        assert form.status_code == 200 and "八(4)班" in form.text  # any class of the school
    finally:
        await http.aclose()


async def test_6_a_screening_flag_is_a_reason_of_its_own(sqlite_stack):
    stack = sqlite_stack
    body = open_body(warning_signals=[], risk_factors=[], screening_flags=["phq9_item9"])
    r = await stack.http.post("/cases", json=body, headers=PSY)
    assert r.status_code == 201, r.text
    view = r.json()
    assert view["screening_flags"] == ["phq9_item9"] and view["warning_signals"] == []
    assess = next(d for d in view["deadlines"] if d["obligation"] == "assess")
    hours = (datetime.fromisoformat(assess["due_at"]) - datetime.fromisoformat(view["opened_at"])).total_seconds()
    assert hours == 24 * 3600  # the school's assess_within_screening
    none = open_body(warning_signals=[], risk_factors=[])
    r = await stack.http.post("/cases", json=none, headers=PSY)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "risk_factors"]
