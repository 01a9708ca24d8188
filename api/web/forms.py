"""Every staff action as a form: what each field is called in Chinese, and how a posted form becomes
the same body the API takes.

A form never has rules of its own. Which actions it offers is the transition table's answer for
this case and this person (``offered``); what a body must hold is its pydantic model
(``models.case``), checked exactly as the API checks it; a refusal is the workflow's. This module
only lays the fields out and turns what a browser posts (strings, one line per list item, Beijing
times without an offset) into the body, and pydantic's errors back into words beside the field.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, ValidationError

from models.case import COMMANDS, EARLIEST_YEAR, LATEST_YEAR, AssessmentBody, CaseData, OpenCaseBody
from models.domain import (
    RISK_FACTOR_ZH,
    WARNING_SIGNAL_ZH,
    Action,
    Instrument,
    Obligation,
    RiskLevel,
    StaffRole,
)
from models.validation import FieldError
from paper.words import Lang, word
from workflows.machine import OBLIGATIONS, RULES, CaseMachine, Forbidden, Refused, roles_for

BEIJING = timezone(timedelta(hours=8), "北京时间")

#: The words of codes only forms show (the rest are paper's: ``paper.words``).
CHOICES_ZH: dict[str, dict[str, str]] = {
    "with_whom": {"student": "学生本人", "guardian": "监护人", "head_teacher": "班主任", "classmate": "同学",
                  "doctor": "医生", "other": "其他"},
    "trend": {"better": "好转", "same": "无明显变化", "worse": "加重（需重新评估）"},
    "outcome": {"admitted": "住院治疗", "outpatient": "门诊治疗", "not_attended": "未就诊", "discharged": "已出院"},
    "closure_decision": {"approve": "批准结案", "return": "退回（需说明理由）"},
    "yes_no": {"true": "是", "false": "否"},
}


@dataclass(frozen=True)
class Field:
    """One input: ``name`` is the body's field (dotted when nested: ``plan.warning_signs``)."""

    name: str
    label: str
    kind: str = "text"  # text | textarea | lines | select | radio | datetime | check
    words: str | None = None  # the kind of code its choices are (paper.words or CHOICES_ZH)
    hint: str = ""
    required: bool = True

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-")


def _plan_fields() -> tuple[Field, ...]:
    return (
        Field("plan.warning_signs", "预警信号（每行一条）", "lines", hint="学生可能再次陷入危机的迹象"),
        Field("plan.coping_strategies", "自我应对方法（每行一条）", "lines"),
        Field("plan.support_contacts", "可求助的身边人（每行一条）", "lines"),
        Field("plan.professional_contacts", "专业求助渠道（每行一条）", "lines",
              hint="如 学校心理咨询室、12356 心理援助热线"),
        Field("plan.environment_safety", "环境安全措施", "textarea", hint="如 家长收好药品和锐器"),
        Field("notes", "备注", "textarea", required=False),
    )


#: The fields of each action's form, in the order a person fills them in (assessment: see ASQ, CSSRS).
FORMS: dict[Action, tuple[Field, ...]] = {
    Action.guardian_notice: (
        Field("notified_at", "告知时间（北京时间）", "datetime"),
        Field("channel", "告知方式", "select", "channel"),
        Field("guardian_relation", "监护人与学生的关系", hint="如 母亲"),
    ),
    Action.intervene: _plan_fields(),
    Action.plan: _plan_fields(),
    Action.contact: (
        Field("with_whom", "联系对象", "select", "with_whom"),
        Field("at", "时间（北京时间）", "datetime"),
        Field("channel", "方式", "select", "channel"),
        Field("notes", "记录", "textarea"),
    ),
    Action.review: (
        Field("observations", "回访所见", "textarea"),
        Field("trend", "风险趋势", "radio", "trend"),
    ),
    Action.refer: (
        Field("institution", "转介机构", hint="如 市精神卫生中心"),
        Field("reason", "转介理由", "textarea"),
        Field("urgency", "紧急程度", "radio", "urgency"),
        Field("emergency_reason", "未能先告知监护人的原因", "select", "emergency_reason", required=False,
              hint="紧急转介而尚未告知监护人时必填"),
    ),
    Action.guardian_response: (
        Field("decision", "答复", "radio", "decision"),
        Field("by", "答复人", "radio", "by"),
        Field("call_at", "方便联系的时间", required=False, hint="选择“请老师联系”时填写，如 今晚7点后"),
        Field("notes", "备注", "textarea", required=False),
    ),
    Action.guardian_callback: (
        Field("at", "回电时间（北京时间）", "datetime"),
        Field("reached", "是否联系上监护人", "radio", "yes_no"),
        Field("notes", "通话情况", "textarea"),
    ),
    Action.referral_outcome: (
        Field("outcome", "转介结果", "radio", "outcome"),
        Field("at", "时间（北京时间）", "datetime"),
        Field("recommendations", "医院建议", "textarea", required=False),
    ),
    Action.return_meeting: (
        Field("held_at", "会商时间（北京时间）", "datetime"),
        Field("attendees", "参加人员（每行一位）", "lines"),
        Field("adjustments", "返校后的安排与调整", "textarea"),
    ),
    Action.close: (
        Field("reason", "结案原因", "select", "closure_reason"),
        Field("outcome", "处置结果", "textarea"),
        Field("rationale", "结案依据", "textarea"),
        Field("follow_up", "结案后列入重点关注名单，继续跟踪", "radio", "yes_no", required=False,
              hint="列入后由负责心理教师定期复核"),
    ),
    Action.closure_decision: (
        Field("decision", "审批意见", "radio", "closure_decision"),
        Field("comment", "说明", "textarea", required=False, hint="退回时必填"),
    ),
    Action.reopen: (Field("reason", "重新开案的理由", "textarea"),),
    Action.send_report: (Field("note", "随报告报送的说明", "textarea", required=False,
                               hint="学校已根据个案记录备好《关于学生拒绝就医情况的报告》；确认后连同说明报送教育主管部门"),),
    # the owner's choices are the school's psychology teachers, from the directory (api/web/pages.py)
    Action.reassign: (Field("owner", "新的负责心理教师", "select", "owner"),
                      Field("reason", "更换理由", "textarea")),
    Action.emergency_response: (
        Field("at", "处置时间（北京时间）", "datetime"),
        Field("with_student", "现在陪伴学生的人", hint="如 班主任王老师、心理教师陈老师"),
        Field("guardian_reached", "是否已联系上监护人", "radio", "yes_no"),
        Field("emergency_services", "是否呼叫120/110", "radio", "emergency_services"),
        Field("whereabouts", "学生现在所在地点", hint="如 学校心理咨询室、市第一人民医院急诊"),
        Field("notes", "其他处置情况", "textarea", required=False),
    ),
}

#: ASQ (NIMH Ask Suicide-Screening Questions), in the wording of its Chinese version.
ASQ = (
    ("q1", "在过去几周里，你是否希望自己已经死了？"),
    ("q2", "在过去几周里，你是否觉得如果你死了，你或你的家人会过得更好？"),
    ("q3", "在过去一周里，你是否有过自杀的念头？"),
    ("q4", "你是否曾经试图自杀过？"),
    ("q5", "你现在有自杀的想法吗？（对前四题任一回答“是”时必问）"),
)
#: The C-SSRS screener (Columbia Suicide Severity Rating Scale), past month unless said.
CSSRS = (
    ("q1", "过去一个月内，你是否希望自己死了，或希望自己睡着后不再醒来？"),
    ("q2", "过去一个月内，你是否真的有过想要自杀的念头？"),
    ("q3", "你是否想过可能会怎样去做？（第2题回答“是”时必问）"),
    ("q4", "你是否有过这些念头，并且有一些要付诸行动的意图？（第2题回答“是”时必问）"),
    ("q5", "你是否已经开始想好或已经想好了如何自杀的具体细节？你打算实施这个计划吗？（第2题回答“是”时必问）"),
    ("q6", "你是否曾经做过、开始做或准备做任何事来结束自己的生命？"),
    ("q6_within_3_months", "如果是，是在过去三个月内吗？（第6题回答“是”时必问）"),
)
QUESTIONS = {Instrument.asq: ASQ, Instrument.cssrs: CSSRS}

RISK_FACTORS = list(RISK_FACTOR_ZH.items())
WARNING_SIGNALS = list(WARNING_SIGNAL_ZH.items())


def choices(f: Field, model: type[BaseModel] | None = None) -> list[tuple[str, str]]:
    """(value, words) of a choice field: the values its model allows, in Chinese."""
    values = _allowed(model, f.name) if model else None
    table = CHOICES_ZH.get(f.words or "")
    if values is None:
        values = list(table) if table else []
    return [(v, table[v] if table and v in table else word(Lang.zh, f.words, v)) for v in values]


def _allowed(model: type[BaseModel], dotted: str) -> list[str] | None:
    head, _, rest = dotted.partition(".")
    info = model.model_fields.get(head)
    if info is None:
        return None
    annotation = info.annotation
    if rest:
        return _allowed(annotation, rest) if isinstance(annotation, type) else None
    if typing.get_origin(annotation) is typing.Literal:
        return [str(v) for v in typing.get_args(annotation)]
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    literal = next((a for a in args if typing.get_origin(a) is typing.Literal), None)
    if literal is not None:
        return [str(v) for v in typing.get_args(literal)]
    enum = next((a for a in args if isinstance(a, type) and issubclass(a, str) and a is not str), None)
    return [m.value for m in enum] if enum is not None else None


@dataclass(frozen=True)
class Limit:
    """How much a field takes, from its model: a text's characters, or a list's lines and each line's."""

    chars: int | None = None
    lines: int | None = None


def _most(items) -> int | None:
    """The ``max_length`` among a field's constraints (pydantic's StringConstraints, annotated-types' MaxLen)."""
    return next((m.max_length for m in items if getattr(m, "max_length", None) is not None), None)


def _text_most(annotation) -> int | None:
    if typing.get_origin(annotation) is typing.Annotated:
        return _most(annotation.__metadata__)
    return next((m for m in map(_text_most, typing.get_args(annotation)) if m is not None), None)


def limit(model: type[BaseModel], dotted: str) -> Limit:
    """What the model lets a field hold, so the form can say it and count as the person types."""
    head, _, rest = dotted.partition(".")
    info = model.model_fields.get(head)
    if info is None:
        return Limit()
    if rest:
        return limit(info.annotation, rest) if isinstance(info.annotation, type) else Limit()
    if typing.get_origin(info.annotation) is list:
        return Limit(_text_most(typing.get_args(info.annotation)[0]), _most(info.metadata))
    return Limit(_most(info.metadata) or _text_most(info.annotation))


def form_bytes_at_most() -> int:
    """The largest body a valid action or new-case form can post: every text at its limit, each character
    percent-encoded as three UTF-8 bytes (9 bytes), with room for the field names and the hidden fields.
    The pages' body limit for these forms is this, so a valid form is never refused for its size."""
    def form(model, names) -> int:
        total = 0
        for name in names:
            most = limit(model, name)
            total += (most.chars or 200) * (most.lines or 1) * 10 + 256
        return total
    largest = max(form(COMMANDS[a], [f.name for f in fields]) for a, fields in FORMS.items())
    largest = max(largest, form(OpenCaseBody, ["summary"]) + 8 * 1024,
                  form(COMMANDS[Action.close], ["outcome", "rationale"]) + len(OBLIGATIONS) * 4000 * 10)
    return largest + 16 * 1024


# -------------------------------------------------------------- what is offered


@dataclass
class Offer:
    action: Action
    label: str
    #: the obligations this action would meet now (a task links here)
    meets: list[Obligation] = field(default_factory=list)


def offered(data: CaseData, role: StaffRole, staff_id: str, now: datetime) -> list[Offer]:
    """The actions this person may take on this case now: the transition table's, for their role."""
    machine = CaseMachine.of(data, now)
    offers = []
    for name in machine.allowed_actions():
        action = Action(name)
        if action not in COMMANDS or role not in roles_for(action):
            continue
        try:  # each of the action's rows, with the guards that depend on who asks (not one's own closure)
            variants = list(dict.fromkeys(r.variant for r in RULES if r.action == action))
            if not any(_passes(machine, action, v, role, staff_id) for v in variants):
                continue
        except Forbidden:
            continue
        offers.append(Offer(action, word(Lang.zh, "action", action.value)))
    return offers


def _passes(machine: CaseMachine, action: Action, variant: str | None, role: StaffRole, staff_id: str) -> bool:
    try:
        machine.check(action, variant, role, staff_id)
        return True
    except Refused:
        return False


def actions_meeting(obligation: Obligation) -> list[Action]:
    """The actions that meet an obligation, from the table (a task's link)."""
    return list(dict.fromkeys(r.action for r in RULES if obligation in r.meets and r.roles))


def most_due(data: CaseData, offers: list[Offer]) -> Action | None:
    """The offered action that meets the open duty due soonest (the case page's highlighted button); none
    when no offered action meets an open duty (a re-assessment is never highlighted for its own sake)."""
    offered_now = {o.action for o in offers}
    for deadline in sorted((d for d in data.deadlines if d.met_at is None), key=lambda d: d.due_at):
        found = next((a for a in actions_meeting(deadline.obligation) if a in offered_now), None)
        if found is not None:
            return found
    return None


def unmet_at_close(data: CaseData) -> list[Obligation]:
    """Open obligations that a closure must give a reason for (recurring ones lapse)."""
    return [o for o in dict.fromkeys(data.open_obligations) if not OBLIGATIONS[o].lapses_at_close]


# -------------------------------------------------------------- from the browser


def _put(target: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        target = target.setdefault(p, {})
    target[last] = value


def beijing_input(value: str) -> str | None:
    """A ``datetime-local`` value (Beijing time, no offset) as an ISO time with its offset."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        return parsed.isoformat()
    return parsed.replace(tzinfo=BEIJING).isoformat()


def _within_case(value: str | None, data: CaseData | None) -> str | None:
    """A form states times to the minute: the minute the case was opened in means its opening."""
    if value is None or data is None:
        return value
    at, opened = datetime.fromisoformat(value), data.opened_at
    try:
        if opened.replace(second=0, microsecond=0) <= at < opened:
            return opened.isoformat()
    except OverflowError:  # a year at the ends of the range with a large offset: the model refuses it, naming it
        pass
    return value


def now_input(now: datetime) -> str:
    """Now, as a ``datetime-local`` field shows it (Beijing time, to the minute)."""
    return now.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M")


def defaults(action: Action, now: datetime) -> dict[str, str]:
    """What a fresh form shows filled in: the times, as now."""
    return {f.name: now_input(now) for f in FORMS.get(action, ()) if f.kind == "datetime"}


def body_from(action: Action, form, data: CaseData | None = None) -> dict:
    """The body a posted form says, as the API would receive it."""
    if action is Action.assess:
        return assessment_from(form)
    body: dict[str, Any] = {}
    for f in FORMS[action]:
        raw = (form.get(f.name) or "").strip() if f.kind != "check" else form.get(f.name)
        if f.kind == "check":
            _put(body, f.name, raw in ("on", "true", "1"))
        elif f.kind == "lines":
            items = [line.strip() for line in raw.splitlines() if line.strip()]
            if items or f.required:
                _put(body, f.name, items)
        elif raw == "":
            if f.required:
                continue  # missing: the model says so, beside the field
        elif f.kind == "datetime":
            _put(body, f.name, _within_case(beijing_input(raw), data) or raw)
        else:
            _put(body, f.name, raw)
    if action is Action.close and data is not None:
        reasons = {o.value: form.get(f"unmet.{o.value}", "").strip() for o in unmet_at_close(data)}
        body["unmet_reasons"] = {k: v for k, v in reasons.items() if v}
    return body


def assessment_from(form) -> dict:
    instrument = form.get("instrument") or ""
    body: dict[str, Any] = {"instrument": instrument, "answers": {},
                            "expert_consulted": form.get("expert_consulted") in ("on", "true")}
    for name, _ in QUESTIONS.get(instrument, ()):
        value = form.get(f"{instrument}.{name}")  # each instrument's questions are their own radio groups
        if value in ("true", "false"):
            body["answers"][name] = value == "true"
    if form.get("risk_level"):
        body["risk_level"] = form.get("risk_level")
    if (form.get("rationale") or "").strip():
        body["rationale"] = form.get("rationale").strip()
    return body


def open_case_from(form, school_id: str, classes: dict[str, tuple[str, str]]) -> dict:
    """The body of ``POST /cases`` from the open-case form; the class comes from the directory."""
    class_id = form.get("class_id") or ""
    grade, class_name = classes.get(class_id, (form.get("grade", "").strip(), form.get("class_name", "").strip()))
    student = {"ref": form.get("ref", "").strip(), "name": form.get("name", "").strip(), "school_id": school_id,
               "grade": grade, "class_name": class_name}
    if class_id:
        student["class_id"] = class_id
    return {"student": student, "risk_factors": form.getlist("risk_factors"),
            "warning_signals": form.getlist("warning_signals"), "summary": form.get("summary", "").strip()}


# -------------------------------------------------------------- errors in words

_MESSAGES = {
    "missing": "必填",
    "string_too_short": "必填",
    "too_short": "至少填写一项",
    "literal_error": "请选择一项",
    "enum": "请选择一项",
    "datetime_from_date_parsing": "请填写有效的时间",
    "datetime_parsing": "请填写有效的时间",
    "string_pattern_mismatch": "只能使用字母、数字和 - _ .",
    "bool_type": "请选择是或否",
    "bool_parsing": "请选择是或否",
}

#: A model-level rule's failure (``models.validation.FieldError``: its code and parameters) in words.
FIELD_ERROR_ZH = {
    "reason_required": "请至少选择一项高危因素或预警信号",
    "return_needs_comment": "退回结案申请时，请说明退回的理由",
    "answer_missing": "此题尚未作答",
    "yes_or_no": "请选择是或否",
    "no_such_question": "没有这道题",
    "answer_after_yes": "{after}回答“是”后，此题必答",
    "stated_needed_asq": "ASQ 筛查阳性但非紧急时，请选择评估者判断的风险等级（简短自杀风险评估决定低、中或高）",
    "stated_needed_clinical": "临床访谈评估时，请选择风险等级",
    "rationale_needed_clinical": "临床访谈评估时，请填写评估依据",
    "stated_below_result": "评估者判断的等级（{stated}）不能低于{instrument}结果（{result}），只能上调",
    "group_needs_police_and_expert": "调查工作小组须联合公安部门和有关专家：请至少填写一位公安人员和一位专家",
    "member_twice": "同一人不能重复列入",
    "invalid": "填写有误，请检查",
}

_QUESTION_ZH = {"q1-q4": "第1至4题任一题", "q2": "第2题", "q6": "第6题"}


def _field_error_words(error: FieldError) -> str:
    params = {}
    for name, value in error.params.items():
        if name in ("stated", "result"):
            params[name] = word(Lang.zh, "risk", value)
        elif name == "instrument":
            params[name] = word(Lang.zh, "instrument", value)
        elif name == "after":
            params[name] = _QUESTION_ZH.get(value, value)
        else:
            params[name] = value
    return FIELD_ERROR_ZH.get(error.code, FIELD_ERROR_ZH["invalid"]).format(**params)


#: the models' own value errors (the API's words), as a page says them
_VALUE_WORDS = {
    "must carry a timezone offset": "请填写有效的时间",
    "must be a time between the years": f"时间须在 {EARLIEST_YEAR} 年至 {LATEST_YEAR} 年之间",
    "has no visible characters": "请填写内容（不能只有空格或不可见字符）",
    "contains the control character": "含有不可见的控制字符，请删除后重新填写",
    "contains the text-direction control": "含有改变文字方向的控制字符，请删除后重新填写",
    "contains an unpaired surrogate": "含有无法识别的字符，请删除后重新填写",
    "lists each code once": "每项只能选择一次",
}


def _value_words(message: str) -> str:
    """A model's value error in Chinese: its words where we have them, never the English."""
    message = message.removeprefix("Value error, ")
    known = next((words for start, words in _VALUE_WORDS.items() if message.startswith(start)), None)
    return known or (message if not message.isascii() else "填写有误，请检查")


def _words(error: dict) -> str:
    """One of pydantic's errors in Chinese; a limit says the limit and how far over the text is."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "string_too_long":
        size = len(error["input"]) if isinstance(error.get("input"), str) else None
        line = next((p for p in error["loc"] if isinstance(p, int)), None)
        head = f"第 {line + 1} 行太长：每行" if line is not None else ""
        return f"{head}最多 {ctx.get('max_length')} 字" + (f"，现在 {size} 字，请删减" if size else "")
    if kind == "too_long":
        return f"最多 {ctx.get('max_length')} 项（每行一项），现在 {ctx.get('actual_length')} 项"
    return _MESSAGES.get(kind) or _value_words(str(error.get("msg", "")))


def errors_of(exc: ValidationError) -> dict[str, str]:
    """Field name (as the form names it) -> what is wrong, in Chinese."""
    found: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(p) for p in error["loc"] if not isinstance(p, int)]
        raised = (error.get("ctx") or {}).get("error")
        if isinstance(raised, FieldError):
            loc += raised.path.split(".")
            message = _field_error_words(raised)
        else:
            message = _words(error)
        name = ".".join(loc) or "form"
        found.setdefault(name, message)
    return found


def validate(action: Action, body: dict) -> tuple[BaseModel | None, dict[str, str]]:
    """The command (or the open-case body) a form's body makes, or the errors by field."""
    model = OpenCaseBody if action is Action.open else COMMANDS[action]
    try:
        return model.model_validate(body if action is Action.open else {**body, "action": action.value}), {}
    except ValidationError as exc:
        return None, errors_of(exc)


def preview_risk(form) -> tuple[RiskLevel | None, dict[str, str]]:
    """The risk level an assessment form would record, by the API's own rules, or what is missing."""
    try:
        return AssessmentBody.model_validate(assessment_from(form)).resolved_risk(), {}
    except ValidationError as exc:
        return None, errors_of(exc)


def still_needed(errors: dict[str, str]) -> str:
    """What an assessment form still lacks before it has a result, in words."""
    name = next(iter(errors), "")
    if name == "instrument":
        return "请先选择评估工具。"
    if name.startswith("answers."):
        question = name.removeprefix("answers.")
        if question == "q6_within_3_months":
            return "第6题回答“是”后，请回答是否在过去三个月内。"
        return f"第{question.removeprefix('q')}题尚未作答。"
    if name == "risk_level":
        if "不能低于" in errors[name]:
            return "评估者判断的等级不能低于量表结果，只能上调。"
        return "请选择评估者判断的风险等级（ASQ 筛查阳性但非紧急时，或临床访谈评估时必选）。"
    if name == "rationale":
        return "请填写评估依据。"
    return errors.get(name, "")
