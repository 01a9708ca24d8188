"""What every notification says, in zh-CN and English: one row per kind, and nothing else words them.

A message says what happened (a new case, an imminent risk, a closure proposed or sent back, a
rung of the warning ladder …), who did it, what the reader must do and, where something is due,
by when in Beijing time; the channel adds the link. It never carries a student's name, narrative
or contact details, nor anyone's free text (a returned closure's reason is read in the app): the
case is named by its short reference, and people by their role and, from the directory, their name.

``MESSAGES`` is the table. ``render`` fills a row's slots from ``Facts`` (gathered from the case
as the read model holds it) and refuses to leave one empty; tests/test_messages.py renders every
kind × rung × language × channel and fails on an empty slot, a due time missing where one is due,
or two kinds sharing one text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from models.case import CaseData, NotificationRequest, case_ref
from models.domain import NotificationEvent
from paper.words import Lang, word

N = NotificationEvent
BEIJING = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Message:
    """A kind's words. ``what`` says what happened; ``ask`` what the reader must do, used when the
    notification has no duty with a due time (otherwise the duty and its due time are asked for)."""

    tag_zh: str
    what_zh: str
    ask_zh: str
    tag_en: str
    what_en: str
    ask_en: str


#: Every kind of notification. Slots: {subject} (个案 3F2A-9C1B / 事件 …), {by} (who did it), {risk},
#: {level} (the ladder's rung), {to} (who must act, filled by the channel).
MESSAGES: dict[NotificationEvent, Message] = {
    N.case_opened: Message(
        "新个案", "{by}登记了{subject}", "个案报告了预警信号，须优先评估。请{to}知悉并督促",
        "new case", "{by} recorded {subject}", "It reports a warning signal and is to be assessed first: "
        "{to}, please follow it up"),
    N.imminent_risk: Message(
        "紧急风险", "{subject}经{by}评估为紧急风险", "请{to}立即知悉，组织处置",
        "imminent risk", "{by} assessed {subject} as imminent risk", "{to}, please act on it at once"),
    N.emergency_response_required: Message(
        "应急处置", "{subject}经{by}评估为紧急风险，须立即启动应急预案", "请{to}立即处置",
        "emergency response", "{by} assessed {subject} as imminent risk; the emergency plan must start now",
        "{to}, please act now"),
    N.guardian_notice_required: Message(
        "需告知监护人", "{subject}经{by}评估为{risk}，须告知监护人", "请{to}尽快告知监护人",
        "guardian to be informed", "{by} assessed {subject} as {risk}; the guardian must be informed",
        "{to}, please inform the guardian"),
    N.intervention_required: Message(
        "需制定干预方案", "{subject}经{by}评估为{risk}，须制定干预方案（一人一策）", "请{to}尽快制定干预方案",
        "intervention plan needed", "{by} assessed {subject} as {risk}; an intervention plan is needed",
        "{to}, please make the plan"),
    N.review_due: Message(
        "跟踪回访", "{subject}（{risk}）须跟踪回访", "请{to}按期回访",
        "follow-up review", "{subject} ({risk}) is due a follow-up review", "{to}, please review it"),
    N.reassessment_required: Message(
        "需重新评估", "{subject}须重新评估（{by}的记录）", "请{to}尽快重新评估",
        "reassessment needed", "{subject} needs a reassessment (recorded by {by})", "{to}, please reassess"),
    N.referral_made: Message(
        "已转介", "{by}已将{subject}转介至医疗机构", "请{to}取得并记录监护人的答复",
        "referred", "{by} referred {subject} to a medical institution",
        "{to}, please obtain and record the guardian's answer"),
    N.guardian_refused: Message(
        "监护人拒绝就医", "{subject}的监护人或学生拒绝就医（{by}记录）", "请{to}向教育主管部门报告",
        "guardian refused care", "the guardian or student of {subject} refused care (recorded by {by})",
        "{to}, please report it to the education authority"),
    N.reported_to_authority: Message(
        "已报告教育主管部门", "{subject}的监护人或学生拒绝就医，学校已向教育主管部门报告", "请{to}登录系统查阅报告",
        "reported to the authority", "the guardian or student of {subject} refused care; the school has reported "
        "it to the education authority", "{to}, please read the report in the app"),
    N.followup_reported: Message(
        "续报", "{subject}的学生情况有变化（{by}记录），学校已向教育主管部门续报", "请{to}登录系统查阅续报",
        "follow-up report", "the student of {subject} has a change on record (by {by}); the school sent a "
        "follow-up report", "{to}, please read it in the app"),
    N.term_report_sent: Message(
        "学期报告", "{by}报送了学校的学期报告（{subject}）", "请{to}登录系统查阅",
        "term report", "{by} sent the school's term report ({subject})", "{to}, please read it in the app"),
    N.return_meeting_required: Message(
        "需返校会商", "{subject}的学生已出院（{by}记录），返校前须会商", "请{to}组织返校会商",
        "return meeting needed", "the student of {subject} was discharged (recorded by {by}); the school meets "
        "before the return to class", "{to}, please hold the return-to-school meeting"),
    N.closure_proposed: Message(
        "结案申请", "{by}申请为{subject}结案", "请{to}审批：批准或退回",
        "closure proposed", "{by} proposes to close {subject}", "{to}, please approve or send it back"),
    N.closure_returned: Message(
        "结案被退回", "{subject}的结案申请被{by}退回", "请{to}在系统中查看退回原因并继续跟进",
        "closure sent back", "{by} sent back the proposal to close {subject}",
        "{to}, please read the reason in the app and carry on"),
    N.case_closed: Message(
        "已结案", "{subject}已由{by}结案", "请{to}知悉，结案报告请登录系统查看",
        "closed", "{by} closed {subject}", "{to}, for your information; the closure report is in the app"),
    N.case_reopened: Message(
        "重新开案", "{by}重新开启了已结案的{subject}", "请{to}知悉，并尽快重新评估",
        "reopened", "{by} reopened the closed {subject}", "{to}, please note it; a reassessment is due"),
    N.case_reassigned: Message(
        "更换负责心理教师", "{by}将{subject}的负责心理教师改为{owner}",
        "请{to}知悉：新负责人尽快查看个案并接续未完成的事项",
        "owner reassigned", "{by} made {owner} the psychology teacher responsible for {subject}",
        "{to}, please note it: the new owner takes up what is still to do"),
    N.referral_not_attended: Message(
        "转介未就诊", "{subject}的学生转介后未去就诊（{by}记录）", "请{to}联系监护人，督促就诊或取得其答复",
        "referral not attended", "the student of {subject} did not attend the referral (recorded by {by})",
        "{to}, please contact the guardian: the student attends, or the guardian answers"),
    N.refusal_deemed: Message(
        "视为拒绝就医", "{subject}转介后未就诊，跟进期限内监护人既未带学生就诊也未同意转介，视为拒绝就医",
        "学校将向教育主管部门报告，请{to}知悉并继续跟进",
        "deemed a refusal", "the student of {subject} did not attend the referral, and by the follow-up's deadline the "
        "family neither attended nor consented: this is deemed a refusal of care",
        "the school reports it to the education authority; {to}, please note it and carry on"),
    N.watch_added: Message(
        "重点关注", "{subject}已列入重点关注名单", "请{to}知悉，并按期复核",
        "watch list", "{subject} is on the watch list", "{to}, please note it and review the student on time"),
    N.openings_digest: Message(
        "新个案汇总", "{subject}：当日新登记、仅报告高危因素的个案 {count} 件（{items}）",
        "请{to}知悉，心理教师将按期评估",
        "new cases digest", "{subject}: {count} new case(s) reporting risk factors only ({items})",
        "{to}, for your information; the psychology teachers assess them on time"),
    N.deadline_missed: Message(
        "预警·第{level}级", "{subject}的「{duty}」已于 {due} 逾期未完成", "请{to}立即办理或督办",
        "warning, level {level}", "{subject}: \"{duty}\" was due {due} and is not done",
        "{to}, please act or follow it up at once"),
    N.deadline_escalated: Message(
        "预警·第{level}级", "{subject}的「{duty}」自 {due} 逾期至今仍未完成，预警升至第{level}级", "请{to}立即督办",
        "warning, level {level}", "{subject}: \"{duty}\" has been overdue since {due}; the warning rose to "
        "level {level}", "{to}, please see to it at once"),
    N.duty_reminded: Message(
        "催办", "{by}催办{subject}的「{duty}」（{due}到期，已逾期）", "请{to}立即办理",
        "reminder", "{by} reminds you of \"{duty}\" on {subject} (due {due}, overdue)", "{to}, please see to it now"),
    N.guardian_callback_requested: Message(
        "监护人请老师联系", "{subject}的监护人通过告知书的答复链接，请老师与其联系", "请{to}按监护人留下的时间回电",
        "guardian asks for a call", "the guardian of {subject} asked, through the notice's answer link, to be called",
        "{to}, please call the guardian back at the time they gave"),
    N.guardian_answered_online: Message(
        "监护人在线答复", "{subject}的监护人已通过告知书的答复链接作答，个案当前状态下未能自动记录",
        "请{to}登录系统查看答复，核实后记录",
        "guardian answered online", "the guardian of {subject} answered through the notice's link; the case could "
        "not take the answer as it stands", "{to}, please read the answer in the app, check it and record it"),
    N.guardian_link_locked: Message(
        "答复链接已锁定", "{subject}告知书的答复链接连续 5 次输入错误的答复码，已锁定",
        "请{to}与监护人核实；如需在线答复，请重新生成告知书",
        "answer link locked", "the answer link of {subject}'s notice took five wrong codes and is locked",
        "{to}, please check with the guardian; make the notice again for a new link"),
    N.help_requested: Message(
        "求助", "收到一条求助（{subject}），请尽快查看", "请{to}登录系统查看并处理",
        "help request", "a help request arrived ({subject}); please look at it soon",
        "{to}, please read it in the app"),
    N.incident_recorded: Message(
        "极端事件", "{by}登记了一起学生心理健康极端事件（{subject}）",
        "请{to}知悉：教育主管部门联合公安部门和有关专家组建调查工作小组开展调查复盘，学校提供事件情况",
        "extreme event", "{by} recorded a student mental-health extreme event ({subject})",
        "{to}, please note it: the education authority forms an investigation group with the police and experts, "
        "and the school provides the facts"),
    N.incident_group_formed: Message(
        "调查工作小组", "{by}组建了{subject}的调查工作小组", "请{to}开展调查复盘",
        "investigation group", "{by} formed the investigation group of {subject}", "{to}, please investigate it"),
    N.incident_facts_provided: Message(
        "学校情况说明", "{by}提供了{subject}的学校情况说明", "请{to}登录系统查阅",
        "the school's account", "{by} gave the school's account of {subject}", "{to}, please read it in the app"),
    N.incident_report_submitted: Message(
        "复盘报告已报送", "{by}已将{subject}的调查复盘报告报送省教育厅", "请{to}登录系统查阅",
        "review report submitted", "{by} sent the review report of {subject} to the provincial education "
        "department", "{to}, please read it in the app"),
    N.extreme_event_linked: Message(
        "关联极端事件", "{by}登记的一起极端事件涉及{subject}的学生", "请{to}立即知悉，关注学生及相关学生的安全",
        "extreme event", "an extreme event {by} recorded concerns the student of {subject}",
        "{to}, please note it at once and see to the safety of the student and those around"),
}

#: Kinds whose message names who did it (the rest are the workflow's own: a deadline, a report).
_NAMES_ACTOR = {k for k, m in MESSAGES.items() if "{by}" in m.what_zh}


@dataclass(frozen=True)
class Facts:
    """What a message may say of a notification's case, besides the notification itself."""

    by: str | None = None  # the role and name of who did it
    risk: str | None = None  # the case's risk level
    owner: str | None = None  # the case's owner (负责心理教师), by name


class EmptySlot(ValueError):
    """A message would go out with a slot unfilled: a bug, never something to send."""


def local_time(value: datetime, lang: Lang = Lang.zh) -> str:
    local = value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    return f"{local}（北京时间）" if lang is Lang.zh else f"{local} (Beijing time)"


def subject_of(n: NotificationRequest, lang: Lang) -> str:
    """The case, an extreme event or a watch-list entry, by its short reference (never a student); a daily
    digest, by its day."""
    if n.notification_id.startswith("digest-"):
        return f"{'新个案汇总' if lang is Lang.zh else 'new cases'} {n.case_id}"
    if n.notification_id.startswith("term-"):  # a school's term report: the term, by name
        return n.items[0] if n.items else ("学期报告" if lang is Lang.zh else "the term report")
    kind = next((k for k in ("incident", "watch", "help") if n.notification_id.startswith(f"{k}-")), "case")
    words = {"incident": ("事件", "event"), "watch": ("重点关注学生", "watch-listed student"), "case": ("个案", "case"),
             "help": ("求助", "help request")}
    return f"{words[kind][0 if lang is Lang.zh else 1]} {case_ref(n.case_id)}"


def facts_of(n: NotificationRequest, case: CaseData | None, names: dict[str, str], lang: Lang) -> Facts:
    """Who did the step that sent ``n`` (its event's actor, by role and name), and the case's risk."""
    if case is None:  # an extreme event or a watch-list entry: who did it, as the notification names them
        return Facts(by=_named_by(n, names, lang))
    by = None
    seq = n.notification_id.removeprefix(f"{n.case_id}-").split("-", 1)[0]
    event = next((e for e in case.events if str(e.seq) == seq), None)
    if n.event is N.duty_reminded and n.named.get("by"):  # a reminder is no step of the case: who sent it
        by = _named_by(n, names, lang)
    elif event is not None and n.event in _NAMES_ACTOR:
        role = word(lang, "role", event.actor_role, missing="") if event.actor_role else ""
        name = names.get(event.actor, "")
        by = (f"{role}{name}" if lang is Lang.zh else " ".join(filter(None, [role, name]))) or None
    risk = word(lang, "risk", case.risk_level.value) if case.risk_level else None
    owner = names.get(case.owner or "") or None
    return Facts(by=by, risk=risk, owner=owner)


def _named_by(n: NotificationRequest, names: dict[str, str], lang: Lang) -> str | None:
    """Who the notification says did it (``named["by"]``, ``named["by_role"]``), by role and name."""
    if not n.named.get("by"):
        return None
    role = word(lang, "role", n.named["by_role"], missing="") if n.named.get("by_role") else ""
    name = names.get(n.named["by"], "")
    return (f"{role}{name}" if lang is Lang.zh else " ".join(filter(None, [role, name]))) or None


def _fill(template: str, values: dict[str, str | None]) -> str:
    def one(match: re.Match) -> str:
        value = values.get(match.group(1))
        if not value:
            raise EmptySlot(f"{{{match.group(1)}}} is empty in {template!r}")
        return value

    return re.sub(r"\{(\w+)\}", one, template)


def render(n: NotificationRequest, to: str, facts: Facts, lang: Lang = Lang.zh) -> str:
    """The message's text, without the link (the channel adds it). :class:`EmptySlot` when a slot
    has nothing to say."""
    m = MESSAGES[n.event]
    zh = lang is Lang.zh
    by = facts.by or ("系统" if zh else "the system")
    risk = facts.risk or ("风险等级待定" if zh else "a risk level not yet set")
    values = {"subject": subject_of(n, lang), "by": by, "risk": risk, "level": str(n.escalation_level),
              "count": str(len(n.items)) if n.items else None,
              "items": ("、" if zh else ", ").join(f"{'个案' if zh else 'case'} {case_ref(i)}"
                                                    for i in n.items) or None,
              "to": to, "owner": facts.owner or (word(lang, "role", "psychology_teacher") + ("（未列入名录）" if zh else
                                                                                          " (not in the directory)")),
              "duty": word(lang, "obligation", n.obligation.value) if n.obligation else None,
              "due": local_time(n.due_at, lang) if n.due_at else None}
    tag, what, ask = (m.tag_zh, m.what_zh, m.ask_zh) if zh else (m.tag_en, m.what_en, m.ask_en)
    if n.obligation is not None and n.due_at is not None and n.event not in (N.deadline_missed,
                                                                             N.deadline_escalated, N.duty_reminded):
        ask = "请{to}于 {due} 前完成「{duty}」" if zh else "{to}, please see to \"{duty}\" by {due}"
    if zh:
        return _fill(f"【{tag}】{what}。{ask}。", values)
    return _fill(f"[{tag}] {what[0].upper()}{what[1:]}. {ask}.", values)


def subject_line(n: NotificationRequest, lang: Lang = Lang.zh) -> str:
    """An e-mail's subject: the kind and the case's short reference."""
    m = MESSAGES[n.event]
    tag = _fill(m.tag_zh if lang is Lang.zh else m.tag_en, {"level": str(n.escalation_level)})
    if lang is Lang.zh:
        return f"【{tag}】{subject_of(n, lang)}"
    return f"[{tag}] {subject_of(n, lang)}"
