"""The door's domain errors in the staff app's words: zh-CN, with times in Beijing time.

A page never shows an error's English text: a refusal is worded from its state, the transition
table's conditions (``workflows.machine.CONDITION_ZH``) and the actions allowed now; an invalid
field from its reason code and parameters (``INVALID_ZH``). tests/test_actions.py renders every
code and fails on one without words.
"""

from __future__ import annotations

from datetime import datetime

from api.web.render import bj
from models.domain import Action, CaseState, StaffRole
from models.errors import Forbidden, Invalid, Refused
from paper.words import Lang, word
from workflows.machine import CONDITION_ZH, roles_for

#: Each reason an input is refused for, in words; ``{…}`` are the error's parameters (times in Beijing time).
INVALID_ZH: dict[str, str] = {
    "outside_case_time": "时间须在个案建档（北京时间 {opened_at}）之后，且不能晚于现在",
    "unmet_reason_missing": "“{obligation}”尚未完成：结案时请说明原因",
    "unknown_class": "请从名录中选择学生所在班级",
    "key_reused": "这份表单已用其他内容提交过，请刷新页面后重新填写",
    "in_future": "时间不能晚于现在",
    "not_own_case": "不是本校的个案",
    "section_empty": "此部分不能为空",
    "report_too_short": "复盘报告至少 {min} 字，目前 {chars} 字",
    "emergency_reason_required": "紧急转介时如尚未告知监护人，请选择原因（如 监护人无法联系）",
    "class_required": "请从名录中选择学生所在班级（班级决定谁知晓、谁能查看这个个案）",
    "not_a_psychology_teacher": "请从名录中选择本校的心理教师",
    "already_owner": "这位老师已是本个案的负责心理教师",
    "no_extreme_event": "只有已关联极端事件的个案才能以“发生极端事件”为由结案",
    "not_authority_people": "请从本部门人员中选择小组成员",
    "unknown_term": "学校政策中没有这个学期",
    "invalid": "填写有误，请检查",
}

#: Why an action is refused beyond the table's conditions (the door's own refusals).
REFUSAL_ZH: dict[str, str] = {
    **CONDITION_ZH,
    "unknown_action": "没有这个操作",
    "closure_finishing": "个案正在完成结案手续，请稍后再试",
    "reopened_already": "个案已重新开案",
    "report_submitted": "复盘报告已提交，不能再修改",
    "not_in_group": "只有调查工作小组成员可以撰写和报送复盘报告，请先组建调查工作小组",
}


def _param(name: str, value) -> str:
    if name in ("opened_at", "latest") and isinstance(value, str):
        return bj(datetime.fromisoformat(value))
    if name == "obligation" and isinstance(value, str):
        return word(Lang.zh, "obligation", value)
    return str(value)


def invalid_words(error: Invalid) -> str:
    """What is wrong with a field, in Chinese."""
    text = INVALID_ZH.get(error.reason, INVALID_ZH["invalid"])
    return text.format(**{k: _param(k, v) for k, v in error.params.items()})


def refusal_words(error: Refused, action: Action) -> str:
    """A refusal in words: the state, why, and what is allowed now."""
    head = f"未能办理“{word(Lang.zh, 'action', action.value)}”"
    if error.state_code in CaseState.__members__:
        head += f"：个案目前处于“{word(Lang.zh, 'state', error.state_code)}”状态"
    why = "；".join(REFUSAL_ZH[c] for c in error.reasons if c in REFUSAL_ZH)
    if not why and action.value in error.allowed:  # refused, yet allowed as the case now stands: it just changed
        why = "个案刚刚发生了变化（或仍在完成上一步），请刷新页面后再试"
    # never offer the action that was just refused
    allowed = [word(Lang.zh, "action", a) for a in error.allowed if a in Action.__members__ and a != action.value]
    return head + "。" + (f"原因：{why}。" if why else "") + (f"现在可以：{'、'.join(allowed)}。" if allowed else "")


def not_now_words(state: CaseState, role: StaffRole, action: Action, allowed: list[str]) -> str:
    """Why a form cannot be submitted by this person now (before they try): the action is another
    role's, or not allowed in the case's state; and what they can do instead (``allowed``, in words)."""
    name = word(Lang.zh, "action", action.value)
    if role not in roles_for(action):
        who = "、".join(word(Lang.zh, "role", r.value) for r in sorted(roles_for(action)))
        head = f"“{name}”由{who}办理。"
    else:
        head = f"个案目前处于“{word(Lang.zh, 'state', state.value)}”状态，现在不能“{name}”。"
    return head + (f"现在可以：{'、'.join(allowed)}。" if allowed else "您现在没有可办理的操作。")


def forbidden_words(error: Forbidden) -> str:
    if error.reason == "school":
        return "这个个案不属于本校，您不能办理。"
    if error.action in Action.__members__:
        return f"您的角色不能办理“{word(Lang.zh, 'action', error.action)}”。"
    return "您的角色不能办理这项操作。"
