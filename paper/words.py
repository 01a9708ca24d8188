"""Codes in words, for paper: every code a document prints goes through here (zh-CN and en).

The zh-CN names of roles, states, risks and duties are the domain's own (``models.domain``), the
actions' are the transition table's (``workflows.machine.ACTIONS``); this adds the words only paper
needs and the English of the rest.
"""

from __future__ import annotations

from enum import StrEnum

from models.domain import (
    OBLIGATION_ZH,
    RISK_FACTOR_ZH,
    RISK_ZH,
    ROLE_ZH,
    SCREENING_FLAG_ZH,
    STATE_ZH,
    WARNING_SIGNAL_ZH,
)
from workflows.machine import ACTIONS


class Lang(StrEnum):
    zh = "zh-CN"
    en = "en"


_ZH = {
    "role": ROLE_ZH,
    "state": {k.value: v for k, v in STATE_ZH.items()},
    "risk": {k.value: f"{v}风险" for k, v in RISK_ZH.items()},
    "risk_factor": {k.value: v for k, v in RISK_FACTOR_ZH.items()},
    "warning_signal": {k.value: v for k, v in WARNING_SIGNAL_ZH.items()},
    "screening_flag": {k.value: v for k, v in SCREENING_FLAG_ZH.items()},
    "obligation": {k.value: v for k, v in OBLIGATION_ZH.items()},
    "instrument": {
        "asq": "自杀风险筛查问卷（ASQ）",
        "cssrs": "哥伦比亚自杀严重程度评定量表（C-SSRS）",
        "clinical": "临床访谈评估",
    },
    "action": {**{a.value: spec.zh for a, spec in ACTIONS.items()},
               "escalate": "逾期预警升级", "effect_failed": "通知或文书未能完成"},
    "closure_reason": {"resolved": "危机已解除", "no_crisis": "经评估无危机", "transferred": "已转出",
                       "extreme_event": "发生极端事件", "other": "其他"},
    "channel": {"phone": "电话", "in_person": "当面", "video_call": "视频通话", "message": "信息", "letter": "书面",
                "online": "在线答复链接", "paper": "书面回执"},
    "urgency": {"routine": "常规", "urgent": "紧急（绿色通道）"},
    "emergency_reason": {"guardian_unreachable": "监护人无法联系", "immediate_danger": "学生有即时危险，须立即就医",
                         "other": "其他紧急情况"},
    "by": {"guardian": "监护人", "student": "学生本人"},
    "yes_no": {"yes": "是", "no": "否"},
    "closure_decision": {"approve": "批准", "return": "退回"},
    "trend": {"better": "好转", "same": "无明显变化", "worse": "加重"},
    "referral_outcome": {"admitted": "住院治疗", "outpatient": "门诊治疗", "not_attended": "未就诊",
                         "discharged": "已出院"},
    "decision": {"consent": "同意转介就医", "refuse": "拒绝转介就医", "callback": "请老师联系"},
    "emergency_services": {"none": "未呼叫", "120": "已呼叫120", "110": "已呼叫110", "120_110": "已呼叫120和110"},
    "member_kind": {"authority": "教育主管部门", "police": "公安部门", "expert": "专家"},
    "incident_kind": {
        "suicide_death": "自杀死亡", "suicide_attempt": "自杀未遂",
        "self_harm_injury": "自伤致伤", "other": "其他极端事件",
    },
}

_EN = {
    "role": {
        "head_teacher": "head teacher", "grade_head": "grade head", "student_affairs": "head of student affairs",
        "psychology_teacher": "psychology teacher", "expert": "crisis expert",
        "leadership": "crisis intervention leadership group", "staff": "staff member",
        "auditor": "education authority inspector",
        "edu_authority": "education authority",
        "education_authority": "education authority", "provincial_authority": "provincial education department",
        "owner": "case's psychology teacher", "former_owner": "case's former psychology teacher",
        "investigation_group": "investigation group",
        "system": "automatic",
        "guardian": "the guardian (online answer)",
    },
    "state": {
        "identified": "identified", "assessed": "assessed", "intervened": "under intervention",
        "referred": "referred", "parent_refused": "guardian refused", "reported": "reported", "closed": "closed",
    },
    "risk": {"low": "low risk", "moderate": "moderate risk", "high": "high risk", "imminent": "imminent risk"},
    "risk_factor": {
        "prolonged_low_mood": "low mood for more than half a month",
        "past_suicide_attempt": "a past suicide attempt or act",
        "major_setback": "a major conflict or sudden blow",
        "family_suicide_history": "suicide in the family or among friends",
        "personality_defect": "marked personality difficulties",
        "chronic_sleep_problem": "long-standing sleep problems",
        "strong_guilt_or_insecurity": "strong guilt, inadequacy or insecurity",
        "lacks_social_support": "long lack or loss of social support",
        "mental_disorder": "a marked mental disorder",
        "aggression_or_violence": "marked aggression or violence",
    },
    "warning_signal": {
        "suicide_talk_or_plan": "talks of suicide and has thought of a method",
        "farewell_behaviour": "gives things away, treats, apologises or says goodbye without reason",
        "sudden_emotional_change": "a sudden marked change of mood",
    },
    "screening_flag": {"phq9_item9": "screening: PHQ-9 item 9 positive", "asq_positive": "screening: ASQ positive"},
    "obligation": {
        "assess": "crisis assessment", "guardian_notice": "informing the guardian",
        "intervene": "intervention plan (one student, one plan)",
        "guardian_answer": "the guardian's answer to the referral",
        "report": "report to the education authority", "review": "follow-up review", "reassess": "reassessment",
        "return_meeting": "return-to-school meeting", "review_report": "extreme-event review report",
        "emergency_response": "emergency response (the emergency plan)",
        "attendance_followup": "following up a referral not attended",
        "watch_review": "the watch-listed student's review",
        "guardian_callback": "calling the guardian back",
        "help_look": "looking at a help request",
    },
    "instrument": {
        "asq": "Ask Suicide-Screening Questions (ASQ)",
        "cssrs": "Columbia Suicide Severity Rating Scale (C-SSRS)",
        "clinical": "clinical interview",
    },
    "action": {**{a.value: spec.en for a, spec in ACTIONS.items()},
               "escalate": "deadline missed, warning raised",
               "effect_failed": "a notice or document could not be made"},
    "closure_reason": {"resolved": "crisis resolved", "no_crisis": "no crisis found", "transferred": "transferred",
                       "extreme_event": "an extreme event", "other": "other"},
    "channel": {"phone": "by phone", "in_person": "in person", "video_call": "by video call", "message": "by message",
                "letter": "in writing", "online": "through the online answer link", "paper": "on the paper receipt"},
    "urgency": {"routine": "routine", "urgent": "urgent (priority admission)"},
    "emergency_reason": {"guardian_unreachable": "the guardian could not be reached",
                         "immediate_danger": "the student is in immediate danger and needs care at once",
                         "other": "another emergency"},
    "by": {"guardian": "the guardian", "student": "the student"},
    "yes_no": {"yes": "yes", "no": "no"},
    "closure_decision": {"approve": "approved", "return": "sent back"},
    "trend": {"better": "better", "same": "no clear change", "worse": "worse"},
    "referral_outcome": {"admitted": "admitted", "outpatient": "outpatient care", "not_attended": "not attended",
                         "discharged": "discharged"},
    "decision": {"consent": "consents to the referral", "refuse": "refuses the referral",
                 "callback": "asks the school to call"},
    "emergency_services": {"none": "not called", "120": "120 called", "110": "110 called",
                           "120_110": "120 and 110 called"},
    "member_kind": {"authority": "education authority", "police": "police", "expert": "expert"},
    "incident_kind": {
        "suicide_death": "death by suicide", "suicide_attempt": "suicide attempt",
        "self_harm_injury": "self-harm with injury", "other": "other extreme event",
    },
}

WORDS: dict[Lang, dict[str, dict[str, str]]] = {Lang.zh: _ZH, Lang.en: _EN}


def word(lang: Lang, kind: str, code: str | None, missing: str = "—") -> str:
    """A code in words; a code paper has no word for is a bug, not something to print."""
    if code is None:
        return missing
    return WORDS[lang][kind][str(code)]
