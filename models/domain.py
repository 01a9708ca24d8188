"""Domain vocabulary: states, risk levels, codes and roles.

Every code here is traceable to docs/domain.md (and from there to the
seed texts). The *rules* that connect these words (which action moves a case
from which state to which) live only in ``workflows/machine.py``.
"""

from __future__ import annotations

from enum import StrEnum


class CaseState(StrEnum):
    identified = "identified"
    assessed = "assessed"
    intervened = "intervened"
    referred = "referred"
    parent_refused = "parent_refused"
    reported = "reported"
    closed = "closed"


class Action(StrEnum):
    """What can happen to a case; each is a row (or rows) of the transition table.

    ``escalate`` and ``effect_failed`` are not transitions: they are recorded
    when an unmet deadline climbs the warning ladder (workflows/deadlines.py),
    and when a notification or document fails in a way retrying cannot mend.
    """

    open = "open"
    assess = "assess"
    guardian_notice = "guardian_notice"
    intervene = "intervene"
    plan = "plan"  # the safety plan made or revised once the case is past the assessment
    contact = "contact"  # a session or contact, for the consultation ledger (咨询台账)
    review = "review"  # a follow-up review
    refer = "refer"
    guardian_response = "guardian_response"
    referral_outcome = "referral_outcome"
    return_meeting = "return_meeting"
    report = "report"
    close = "close"  # closes a low or moderate case; proposes closing a high or imminent one
    closure_decision = "closure_decision"
    reopen = "reopen"
    emergency_response = "emergency_response"  # the emergency plan for an imminent risk, as it was carried out
    reassign = "reassign"  # leadership names another psychology teacher the case's owner
    deemed_refusal = "deemed_refusal"  # the family did not attend nor consent by the follow-up's deadline
    extreme_event = "extreme_event"  # an extreme event concerning the student was recorded (from its record)
    send_report = "send_report"  # a leader confirms the prepared refusal report and sends it (REPORT_CONFIRMED)
    guardian_callback = "guardian_callback"  # the head teacher called the guardian back, as the guardian asked
    escalate = "escalate"
    effect_failed = "effect_failed"


#: The actor recorded for the workflow's own steps (the report, escalations).
SYSTEM = "system"
#: The actor recorded for a guardian's own answer through the notice's one-time link (GUARDIAN_ONLINE).
GUARDIAN = "guardian"


class RiskLevel(StrEnum):
    low = "low"
    moderate = "moderate"
    high = "high"
    imminent = "imminent"

    @property
    def rank(self) -> int:
        return _RISK_ORDER.index(self)

    @classmethod
    def highest(cls, *levels: "RiskLevel | None") -> "RiskLevel":
        present = [lvl for lvl in levels if lvl is not None]
        return max(present, key=lambda lvl: lvl.rank)


_RISK_ORDER = [RiskLevel.low, RiskLevel.moderate, RiskLevel.high, RiskLevel.imminent]


class RiskFactor(StrEnum):
    """The 10 high-risk factors [seed 000, 学校心理危机干预及预防工作实施方案, 二]."""

    prolonged_low_mood = "prolonged_low_mood"
    past_suicide_attempt = "past_suicide_attempt"
    major_setback = "major_setback"
    family_suicide_history = "family_suicide_history"
    personality_defect = "personality_defect"
    chronic_sleep_problem = "chronic_sleep_problem"
    strong_guilt_or_insecurity = "strong_guilt_or_insecurity"
    lacks_social_support = "lacks_social_support"
    mental_disorder = "mental_disorder"
    aggression_or_violence = "aggression_or_violence"


class WarningSignal(StrEnum):
    """The 3 warning signals: assess and intervene at once [same source]."""

    suicide_talk_or_plan = "suicide_talk_or_plan"
    farewell_behaviour = "farewell_behaviour"
    sudden_emotional_change = "sudden_emotional_change"


class ScreeningFlag(StrEnum):
    """A screening result the school's rules read as a reason to open a case (not a warning signal: the
    policy's signals are what a person heard or saw, seed 002 四 1)."""

    phq9_item9 = "phq9_item9"  # PHQ-9 item 9 (thoughts of being better off dead or of self-harm) at 1 or more
    asq_positive = "asq_positive"  # an ASQ positive screen (acute or not)


class StaffRole(StrEnum):
    head_teacher = "head_teacher"
    grade_head = "grade_head"
    student_affairs = "student_affairs"
    psychology_teacher = "psychology_teacher"
    expert = "expert"
    leadership = "leadership"
    #: any other staff member (subject teacher, care or boarding staff, school doctor; the directory gives
    #: their title): reports a concern and sees the cases they reported, their state only
    #: [seed 000: 全体教职员工均有责任和义务; seed 002: 各学科教师及保育员老师多方联动]
    staff = "staff"
    auditor = "auditor"
    #: an education authority's staff: reads the reports and reviews of the schools it oversees
    edu_authority = "edu_authority"


#: Roles that belong to a school's staff (auditors and the authority's people are not a school's).
SCHOOL_ROLES = frozenset(StaffRole) - {StaffRole.auditor, StaffRole.edu_authority}
#: The school's roles that work on cases; a reporter (``staff``) only opens them and follows their state.
CASE_WORKERS = SCHOOL_ROLES - {StaffRole.staff}


#: Roles that see a student's name and the narrative; others see the student reference only.
SEES_STUDENT_IDENTITY = frozenset(
    {StaffRole.head_teacher, StaffRole.psychology_teacher, StaffRole.expert, StaffRole.leadership}
)

#: Roles that supervise a school: the dashboard, the supervisor pages, every case's history.
SUPERVISOR_ROLES = frozenset({StaffRole.leadership, StaffRole.grade_head, StaffRole.student_affairs})


class Recipient(StrEnum):
    """Who a notification is addressed to: a school role or the authority."""

    head_teacher = "head_teacher"
    grade_head = "grade_head"
    student_affairs = "student_affairs"
    psychology_teacher = "psychology_teacher"
    leadership = "leadership"
    education_authority = "education_authority"
    provincial_authority = "provincial_authority"  # the provincial education department (extreme events)
    #: people, not roles: the case's named owner (负责心理教师, its assessor unless leadership reassigned it),
    #: and the owner a reassignment replaced; a notification names them (``NotificationRequest.named``)
    owner = "owner"
    former_owner = "former_owner"
    #: an extreme event's investigation group (调查工作小组): its members, named (``NotificationRequest.group``)
    investigation_group = "investigation_group"


class Obligation(StrEnum):
    """A duty with a deadline; each is met by one kind of action."""

    assess = "assess"
    guardian_notice = "guardian_notice"
    intervene = "intervene"
    guardian_answer = "guardian_answer"
    report = "report"
    review = "review"
    reassess = "reassess"
    return_meeting = "return_meeting"
    review_report = "review_report"  # an extreme event's review report (IncidentReviewWorkflow)
    emergency_response = "emergency_response"  # the emergency plan started for an imminent risk
    attendance_followup = "attendance_followup"  # a referral not attended: the family attends or consents
    watch_review = "watch_review"  # a student on the watch list (重点关注), reviewed by their owner (WatchWorkflow)
    guardian_callback = "guardian_callback"  # the guardian asked the school to call them (the one-time link)
    help_look = "help_look"  # a student's or parent's help request, looked at (HelpRequestWorkflow; no case's)


class Instrument(StrEnum):
    asq = "asq"
    cssrs = "cssrs"
    clinical = "clinical"


class ClosureReason(StrEnum):
    resolved = "resolved"
    no_crisis = "no_crisis"
    transferred = "transferred"
    extreme_event = "extreme_event"  # closed after an extreme event (only a case an event is linked to)
    other = "other"


class NotificationEvent(StrEnum):
    case_opened = "case_opened"
    guardian_notice_required = "guardian_notice_required"
    intervention_required = "intervention_required"
    deadline_missed = "deadline_missed"
    deadline_escalated = "deadline_escalated"
    referral_made = "referral_made"
    guardian_refused = "guardian_refused"
    reported_to_authority = "reported_to_authority"
    case_closed = "case_closed"
    imminent_risk = "imminent_risk"
    review_due = "review_due"
    reassessment_required = "reassessment_required"
    return_meeting_required = "return_meeting_required"
    closure_proposed = "closure_proposed"
    closure_returned = "closure_returned"
    case_reopened = "case_reopened"
    incident_recorded = "incident_recorded"
    incident_report_submitted = "incident_report_submitted"
    incident_group_formed = "incident_group_formed"  # the authority formed the investigation group
    incident_facts_provided = "incident_facts_provided"  # the school gave the group its account of the facts
    followup_reported = "followup_reported"  # 续报 sent to the authority a refusal was reported to
    term_report_sent = "term_report_sent"  # a school's term report sent to its authority
    extreme_event_linked = "extreme_event_linked"  # an event concerns a case's student: reassess at once
    emergency_response_required = "emergency_response_required"
    case_reassigned = "case_reassigned"
    referral_not_attended = "referral_not_attended"
    refusal_deemed = "refusal_deemed"
    watch_added = "watch_added"
    openings_digest = "openings_digest"  # the day's new cases with risk factors only (a school's choice)
    duty_reminded = "duty_reminded"  # 催办: someone the ladder told of an overdue duty reminds its owner
    guardian_callback_requested = "guardian_callback_requested"  # the guardian asked online to be called
    guardian_answered_online = "guardian_answered_online"  # an online answer the case could not take as it stood
    guardian_link_locked = "guardian_link_locked"  # five wrong codes locked the guardian's link
    help_requested = "help_requested"  # a student or parent asked for help (content-free)


class DocumentKind(StrEnum):
    guardian_notice = "guardian_notice"
    referral_letter = "referral_letter"
    authority_report = "authority_report"
    closure_summary = "closure_summary"
    incident_review = "incident_review"  # an extreme event's review report (not a case's own)
    followup_report = "followup_report"  # 续报: a reported case changed (consent, hospital outcome, closure)
    term_report = "term_report"  # a school's report to its authority, once a term (anonymised; no case's own)


#: What an education authority's people may read of a school's documents.
AUTHORITY_READS = frozenset({DocumentKind.authority_report, DocumentKind.followup_report,
                             DocumentKind.incident_review, DocumentKind.term_report})


#: zh-CN names, used by notification texts and documents.
ROLE_ZH = {
    "head_teacher": "班主任",
    "grade_head": "年级组长",
    "student_affairs": "学生处负责人",
    "psychology_teacher": "心理教师",
    "expert": "心理危机专家",
    "leadership": "心理危机干预领导小组",
    "staff": "教职员工",
    "auditor": "教育主管部门督查人员",
    "edu_authority": "教育主管部门",
    "education_authority": "教育主管部门",
    "provincial_authority": "省教育厅",
    "investigation_group": "调查工作小组",
    "owner": "负责心理教师",
    "former_owner": "原负责心理教师",
    "system": "系统",
    "guardian": "监护人（在线答复）",
}

OBLIGATION_ZH = {
    Obligation.assess: "心理危机评估",
    Obligation.guardian_notice: "告知监护人",
    Obligation.intervene: "制定并实施干预方案（一人一策）",
    Obligation.guardian_answer: "取得监护人对转介的答复",
    Obligation.report: "向教育主管部门报告",
    Obligation.review: "跟踪回访",
    Obligation.reassess: "重新评估",
    Obligation.return_meeting: "返校会商",
    Obligation.review_report: "报送极端事件调查复盘报告",
    Obligation.emergency_response: "启动应急预案（紧急处置）",
    Obligation.attendance_followup: "跟进未就诊的转介",
    Obligation.watch_review: "重点关注学生定期复核",
    Obligation.guardian_callback: "回电监护人",
    Obligation.help_look: "查看求助",
}

STATE_ZH = {
    CaseState.identified: "已识别",
    CaseState.assessed: "已评估",
    CaseState.intervened: "干预中",
    CaseState.referred: "已转介",
    CaseState.parent_refused: "监护人拒绝",
    CaseState.reported: "已上报",
    CaseState.closed: "已结案",
}

RISK_ZH = {
    RiskLevel.low: "低",
    RiskLevel.moderate: "中",
    RiskLevel.high: "高",
    RiskLevel.imminent: "紧急",
}

RISK_FACTOR_ZH = {
    RiskFactor.prolonged_low_mood: "情绪低落抑郁超过半个月",
    RiskFactor.past_suicide_attempt: "有过自杀企图或行为",
    RiskFactor.major_setback: "遭遇重大冲突或突发打击",
    RiskFactor.family_suicide_history: "家庭亲友中有自杀史或自杀倾向",
    RiskFactor.personality_defect: "性格有明显缺陷",
    RiskFactor.chronic_sleep_problem: "长期睡眠障碍",
    RiskFactor.strong_guilt_or_insecurity: "有强烈的罪恶感、缺陷感或不安全感",
    RiskFactor.lacks_social_support: "长期缺乏或丧失社会支持",
    RiskFactor.mental_disorder: "有明显的精神障碍",
    RiskFactor.aggression_or_violence: "有明显的攻击性或暴力倾向",
}

SCREENING_FLAG_ZH = {
    ScreeningFlag.phq9_item9: "筛查：PHQ-9 第9题阳性",
    ScreeningFlag.asq_positive: "筛查：ASQ 阳性",
}

WARNING_SIGNAL_ZH = {
    WarningSignal.suicide_talk_or_plan: "谈论自杀并考虑过自杀方法",
    WarningSignal.farewell_behaviour: "无故赠送物品、请客、道歉或告别",
    WarningSignal.sudden_emotional_change: "情绪突然明显变化",
}
