"""Every message says what happened, who did it, what the reader must do and by when.

Every kind of notification × every rung of the ladder × both languages × every channel's
addressee (the stored text names roles, an e-mail the person, a chat group its people) is
rendered from the one table (``paper/messages.py``); none may have an empty slot, a due time
missing where one is due, a code or an English word in the Chinese, or share its text with another
kind. Then a real stack: leadership's notice of an imminent risk names the risk and the assessor.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from models.case import NotificationRequest
from models.domain import NotificationEvent, Obligation, Recipient
from paper.messages import MESSAGES, EmptySlot, Facts, render, subject_line
from paper.words import Lang
from tests.conftest import auth
from tests.support import eventually, open_case, step

CASE_ID = "3f2a9c1b" + "0" * 24
DUE = datetime(2026, 12, 4, 17, 30, tzinfo=UTC)  # 01:30 on the 5th in Beijing
ADDRESSEES = {Lang.zh: ("心理教师", "陈老师", "陈老师、李老师"), Lang.en: ("psychology teacher", "Chen", "Chen, Li")}
LADDER = (NotificationEvent.deadline_missed, NotificationEvent.deadline_escalated)
#: kinds that are always about one duty, with its due time (the ladder's, and a reminder of an overdue duty)
OF_A_DUTY = (*LADDER, NotificationEvent.duty_reminded)


def _request(event: NotificationEvent, level: int, duty: Obligation | None) -> NotificationRequest:
    incident = event.value.startswith("incident")
    if event is NotificationEvent.openings_digest:  # a school's day, naming its cases
        return NotificationRequest(
            notification_id="digest-school-a-2026-12-05-1a2b3c4d", case_id="2026-12-05", school_id="school-a",
            event=event, recipient_roles=[Recipient.psychology_teacher], escalation_level=level, obligation=duty,
            due_at=DUE if duty else None, created_at=DUE, items=[CASE_ID, "9c1b3f2a" * 4])
    return NotificationRequest(
        notification_id=f"incident-{CASE_ID}-x" if incident else f"{CASE_ID}-3-{event.value}", case_id=CASE_ID,
        school_id="school-a", event=event, recipient_roles=[Recipient.psychology_teacher], obligation=duty,
        due_at=DUE if duty else None, escalation_level=level, created_at=DUE - timedelta(hours=2))


def _cases():
    for event in NotificationEvent:
        for level in ((1, 2, 3, 4) if event in LADDER else (0,)):
            duties = [Obligation.assess] if event in OF_A_DUTY else [None, Obligation.guardian_notice]
            for duty in duties:
                yield event, level, duty


@pytest.mark.parametrize("lang", list(Lang), ids=str)
def test_every_kind_rung_language_and_channel_reads_whole(lang):
    texts: dict[str, set[str]] = {}
    facts = Facts(by="心理教师陈老师" if lang is Lang.zh else "psychology teacher Chen",
                  risk="紧急风险" if lang is Lang.zh else "imminent risk")
    for event, level, duty in _cases():
        n = _request(event, level, duty)
        for to in ADDRESSEES[lang]:
            text = render(n, to, facts, lang)
            assert to in text and "{" not in text and "}" not in text, text
            assert not re.search(r"「」|（）|\(\)|于\s+前|\s{2,}", text), text
            if n.due_at is not None:
                due = "2026-12-05 01:30（北京时间）" if lang is Lang.zh else "2026-12-05 01:30 (Beijing time)"
                assert due in text, text
            if lang is Lang.zh:
                assert not re.search(r"[A-Za-z_]{3,}", text.replace(to, "")), f"a code or English in {text}"
            texts.setdefault(event.value, set()).add(text)
        assert subject_line(n, lang) and "{" not in subject_line(n, lang)
    assert set(texts) == {e.value for e in NotificationEvent} == {e.value for e in MESSAGES}
    # two kinds never say the same thing
    seen: dict[str, str] = {}
    for kind, rendered in texts.items():
        for text in rendered:
            assert seen.setdefault(text, kind) == kind, f"{kind} and {seen[text]} share: {text}"


def test_a_slot_with_nothing_to_say_is_refused_not_sent():
    n = _request(NotificationEvent.deadline_missed, 1, None)  # a rung of the ladder with no duty
    with pytest.raises(EmptySlot):
        render(n, "班主任", Facts(by="心理教师陈老师", risk="高风险"))
    # what the case does not know yet is said as such, never left blank
    text = render(_request(NotificationEvent.guardian_notice_required, 0, None), "班主任", Facts())
    assert "系统评估为风险等级待定" in text


async def test_leadership_hears_of_an_imminent_risk_in_words(sqlite_stack):
    stack = sqlite_stack
    case_id = (await open_case(stack))["case_id"]
    await step(stack, case_id, "assess", {"instrument": "clinical", "risk_level": "imminent", "rationale": "计划明确"})

    async def imminent():
        notes = (await stack.http.get(f"/cases/{case_id}/notifications", headers=auth("leadership"))).json()
        return next((n for n in notes if n["event"] == "imminent_risk"), None)

    note = await eventually(imminent)
    ref = f"{case_id[:4]}-{case_id[4:8]}".upper()
    assert note["text"].startswith(f"【紧急风险】个案 {ref}经心理教师")
    assert "评估为紧急风险" in note["text"] and "心理危机干预领导小组" in note["text"]
    assert "于  前" not in note["text"] and "「」" not in note["text"]
