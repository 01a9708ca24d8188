"""The demonstration school of ``crisisflow dev``: its directory, its people's sign-ins, and (with
``--demo-cases``) a dozen cases in different states (a refusal reported, a closure sent back) and an extreme
event in review, made through the API as staff would make them.

Everything here is invented: the banner of every page says so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine

from api.web import accounts
from config.settings import Settings
from db import directory, store
from models.directory import Authority, AuthorityPerson, Contact, Directory, Hotline, School, SchoolClass, Staff

SCHOOL = "demo-school"
AUTHORITY = "demo-authority"
#: every demo person signs in with this password (the banner says the system is a demonstration)
PASSWORD = "demo-crisis-2026"

DIRECTORY = Directory(
    schools=[School(
        id=SCHOOL, name="示范中学", authority="示范市教育局", contact=Contact(name="钱主任", phone="0371-6000 1234"),
        hotlines=[Hotline(name="学校心理咨询室热线", number="0371-6000 1235"),
                  Hotline(name="全国心理援助热线", number="12356")], classes=[
        SchoolClass(id="7-1", grade="七年级", name="七(1)班"),
        SchoolClass(id="7-2", grade="七年级", name="七(2)班"),
        SchoolClass(id="8-1", grade="八年级", name="八(1)班"),
    ])],
    staff=[
        Staff(id="demo-head-teacher", name="王老师", school=SCHOOL, roles=["head_teacher"], classes=["7-1"]),
        Staff(id="demo-head-teacher-2", name="林老师", school=SCHOOL, roles=["head_teacher"], classes=["7-2"]),
        Staff(id="demo-head-teacher-3", name="何老师", school=SCHOOL, roles=["head_teacher"], classes=["8-1"]),
        Staff(id="demo-grade-head", name="赵老师", school=SCHOOL, roles=["grade_head"], grades=["七年级"]),
        Staff(id="demo-student-affairs", name="钱主任", school=SCHOOL, roles=["student_affairs"]),
        Staff(id="demo-psychology-teacher", name="陈老师", school=SCHOOL, roles=["psychology_teacher"]),
        Staff(id="demo-expert", name="周医生", school=SCHOOL, roles=["expert"]),
        Staff(id="demo-leadership", name="孙校长", school=SCHOOL, roles=["leadership"]),
        Staff(id="demo-leadership-2", name="吴副校长", school=SCHOOL, roles=["leadership"]),
        Staff(id="demo-staff", name="郑老师", school=SCHOOL, roles=["staff"], title="语文教师"),
    ],
    authorities=[Authority(id=AUTHORITY, name="示范市教育局", schools=[SCHOOL],
                           people=[AuthorityPerson(id="demo-edu-authority", name="刘科长")]),
                 Authority(id="demo-province", name="示范省教育厅", level="province", schools=[SCHOOL],
                           people=[AuthorityPerson(id="demo-province-officer", name="钱处长")])],
)


def load_directory(engine: Engine) -> bool:
    """The demo directory, unless the demo school's people are there already; True when loaded."""
    if directory.person(engine, "demo-head-teacher") is not None:
        return False
    directory.load(engine, DIRECTORY)
    return True


def sign_ins(engine: Engine, settings: Settings) -> list[tuple[str, str, str, str | None]]:
    """Give each demo person the demo password (and a TOTP secret where their role needs one);
    (id, name, role, TOTP secret) for the banner."""
    now = datetime.now(UTC)
    people = [(p.id, p.name, p.roles[0].value, p.roles) for p in DIRECTORY.staff]
    people += [(p.id, p.name, "edu_authority", ["edu_authority"]) for a in DIRECTORY.authorities for p in a.people]
    found = []
    for staff_id, name, role, roles in people:
        secret = accounts.set_up_directly(engine, staff_id, PASSWORD, now,
                                          with_totp=accounts.needs_second_factor(roles, settings))
        found.append((staff_id, name, role, secret))
    return found


def _student(n: int, name: str, class_id: str) -> dict:
    grade, class_name = {"7-1": ("七年级", "七(1)班"), "7-2": ("七年级", "七(2)班"),
                         "8-1": ("八年级", "八(1)班")}[class_id]
    return {"ref": f"2026{n:04d}", "name": name, "school_id": SCHOOL, "grade": grade, "class_name": class_name,
            "class_id": class_id}


_HIGH = {"instrument": "cssrs", "answers": {"q1": True, "q2": True, "q3": True, "q4": True, "q5": False, "q6": False},
         "expert_consulted": True}
_MODERATE = {"instrument": "cssrs",
             "answers": {"q1": True, "q2": True, "q3": True, "q4": False, "q5": False, "q6": False}}
_LOW = {"instrument": "asq", "answers": {"q1": False, "q2": False, "q3": False, "q4": False}}
_PLAN = {"plan": {"warning_signs": ["独处时间变长", "把心爱的东西送人"],
                  "coping_strategies": ["深呼吸放松", "写情绪日记"],
                  "support_contacts": ["同桌", "母亲"],
                  "professional_contacts": ["学校心理咨询室", "12356 心理援助热线"],
                  "environment_safety": "家长收好药品和锐器，住校期间室友陪伴"}}
_REFER = {"institution": "示范市精神卫生中心", "reason": "高风险，需要专业评估和治疗", "urgency": "routine"}

#: (name, class, warning signals, the steps after opening)
CASES: list[tuple[str, str, list[str], list[tuple[str, str, dict]]]] = [
    ("李明轩", "7-1", ["suicide_talk_or_plan"], []),
    ("张雨桐", "7-1", [], []),
    ("刘子涵", "7-2", ["sudden_emotional_change"], []),
    ("陈思远", "7-1", [], [("psychology_teacher", "assessment", _LOW)]),
    ("杨欣怡", "8-1", ["farewell_behaviour"], [("psychology_teacher", "assessment", _HIGH)]),
    ("黄浩然", "7-1", [], [("psychology_teacher", "assessment", _MODERATE),
                         ("psychology_teacher", "intervention", _PLAN)]),
    ("赵一诺", "7-2", ["suicide_talk_or_plan"], [("psychology_teacher", "assessment", _HIGH),
                                               ("head_teacher", "guardian-notice", {}),
                                               ("psychology_teacher", "intervention", _PLAN)]),
    ("周子墨", "8-1", [], [("psychology_teacher", "assessment", _HIGH), ("head_teacher", "guardian-notice", {}),
                         ("psychology_teacher", "intervention", _PLAN), ("psychology_teacher", "referral", _REFER)]),
    ("吴佳琪", "7-1", ["farewell_behaviour"], [
        ("psychology_teacher", "assessment", _HIGH), ("head_teacher", "guardian-notice", {}),
        ("psychology_teacher", "intervention", _PLAN), ("psychology_teacher", "referral", _REFER),
        ("head_teacher", "guardian-response", {"decision": "refuse", "by": "guardian",
                                               "notes": "家长认为只是青春期情绪波动"}),
        ("leadership", "authority-report", {"note": "学校将继续与家长沟通，班主任每日关注学生情况"})]),
    ("郑宇航", "7-2", [], [("psychology_teacher", "assessment", _LOW),
                         ("psychology_teacher", "closure", {"reason": "no_crisis", "outcome": "经评估无危机",
                                                            "rationale": "ASQ 筛查阴性，情绪稳定"})]),
    ("孙若曦", "7-1", [], [
        ("psychology_teacher", "assessment", _HIGH), ("head_teacher", "guardian-notice", {}),
        ("psychology_teacher", "intervention", _PLAN), ("psychology_teacher", "referral", _REFER),
        ("head_teacher", "guardian-response", {"decision": "consent", "by": "guardian"}),
        ("psychology_teacher", "closure", {"reason": "resolved", "outcome": "门诊治疗四周，情绪稳定",
                                           "rationale": "连续两次回访风险下降，家长配合"})]),
    ("马可欣", "8-1", [], [("psychology_teacher", "assessment", _MODERATE)]),
    # a closure leadership sent back: its reason waits for the psychology teacher in "my tasks"
    ("许嘉怡", "7-2", ["sudden_emotional_change"], [
        ("psychology_teacher", "assessment", _HIGH), ("head_teacher", "guardian-notice", {}),
        ("psychology_teacher", "intervention", _PLAN),
        ("psychology_teacher", "closure", {"reason": "resolved", "outcome": "情绪平稳两周",
                                           "rationale": "两次回访未见预警信号"}),
        ("leadership", "closure-decision", {"decision": "return",
                                            "comment": "干预才两周，请再跟踪一个月、复评后重新申请"})]),
]

#: an extreme event whose investigation review is being drafted (two weeks to submit it)
INCIDENT = {"kind": "self_harm_injury", "place": "学生宿舍", "summary": "（演示）一名学生在宿舍用小刀划伤手臂，"
            "室友发现后报告宿管老师，校医处置伤口，家长已到校。"}
INCIDENT_FACTS = {"account": "（演示）该生此前未建档；事发后校医处置伤口，班主任通知家长到校，心理教师当晚陪伴谈话。"}
INCIDENT_GROUP = {"members": ["demo-edu-authority"], "external": [
    {"name": "（演示）张警官", "organisation": "示范市公安局城关派出所", "kind": "police"},
    {"name": "（演示）周医生", "organisation": "示范市精神卫生中心", "kind": "expert"}]}
INCIDENT_DRAFT = {"background": "（演示）该生近一个月学业压力大，与家长关系紧张。",
                  "timeline": "（演示）晚自习后回到宿舍，室友发现其手臂出血，立即报告宿管老师。"}


#: each class's head teacher (who opens its cases and tells its guardians)
HEADS = {"7-1": "demo-head-teacher", "7-2": "demo-head-teacher-2", "8-1": "demo-head-teacher-3"}


async def add_cases(engine: Engine, base_url: str, token_for: Callable[[str], str]) -> int:
    """The demo cases, once (their first student has a case: none are added); returns how many were opened.
    ``token_for`` gives a demo person's bearer token by staff id."""
    if store.has_student(engine, SCHOOL, _student(1, "", "7-1")["ref"]):
        return 0
    opened = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        for n, (name, class_id, signals, steps) in enumerate(CASES, start=1):
            body = {"student": _student(n, name, class_id), "risk_factors": ["prolonged_low_mood", "major_setback"],
                    "warning_signals": signals,
                    "summary": f"（演示）{name}近两周情绪低落，上课注意力不集中，周记中流露消极想法。"}
            answer = await http.post("/cases", json=body,
                                     headers={"Authorization": f"Bearer {token_for(HEADS[class_id])}"})
            answer.raise_for_status()
            case_id = answer.json()["case_id"]
            opened += 1
            for role, path, step in steps:
                if path == "guardian-notice":
                    step = {"notified_at": datetime.now(UTC).isoformat(), "channel": "phone",
                            "guardian_relation": "母亲"}
                who = HEADS[class_id] if role == "head_teacher" else f"demo-{role.replace('_', '-')}"
                answer = await http.post(f"/cases/{case_id}/{path}", json=step,
                                         headers={"Authorization": f"Bearer {token_for(who)}"})
                answer.raise_for_status()
        psychology = {"Authorization": f"Bearer {token_for('demo-psychology-teacher')}"}
        answer = await http.post("/incidents", json={**INCIDENT, "occurred_at": datetime.now(UTC).isoformat()},
                                 headers=psychology)
        answer.raise_for_status()
        incident = answer.json()["incident_id"]
        # the school gives its account; the authority forms the group with the police and experts, and drafts
        authority = {"Authorization": f"Bearer {token_for('demo-edu-authority')}"}
        for method, path, body, who in (("put", "facts", INCIDENT_FACTS, psychology),
                                        ("put", "group", INCIDENT_GROUP, authority),
                                        ("put", "report", INCIDENT_DRAFT, authority)):
            answer = await getattr(http, method)(f"/incidents/{incident}/{path}", json=body, headers=who)
            answer.raise_for_status()
    return opened
