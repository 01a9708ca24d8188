"""A staff action is declared in few places, and nothing else restates it (docs/architecture.md,
"Adding an action"): its entry in ``workflows.machine.ACTIONS``, its rows in ``RULES``, its body
model in ``models/case.py``, and its form in ``api/web/forms.py``. The routes, the access rules, the
buttons a page offers, the docs tables and the words are read from those; these tests fail when an
action lacks one of its parts, and when a face goes round the one door to the workflows.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.access import ACTION_PATHS, PREFIX
from api.access import RULES as ACCESS
from api.web import forms
from api.web.words import INVALID_ZH, REFUSAL_ZH, forbidden_words, invalid_words, refusal_words
from models.case import BODIES, COMMANDS
from models.domain import Action, CaseState
from models.errors import Forbidden, Invalid, Refused
from paper.words import Lang, word
from workflows.machine import ACTIONS, CONDITION_TEXT, CONDITION_ZH, RULES, STAFF_ACTIONS, Rule

ROOT = Path(__file__).resolve().parents[1]


def missing_parts(rules: tuple[Rule, ...], actions: dict, bodies: dict, access: dict, form_of: dict) -> list[str]:
    """What each staff action of ``rules`` lacks: its catalogue entry, body model, access rule, form."""
    missing = []
    for action in dict.fromkeys(r.action for r in rules if r.roles and r.source):
        spec = actions.get(action)
        if spec is None or not spec.path:
            missing.append(f"{action.value}: no entry with a path in workflows.machine.ACTIONS")
            continue
        if action not in bodies:
            missing.append(f"{action.value}: no body model in models/case.py")
        if f"POST {PREFIX}/cases/{{case_id}}/{spec.path}" not in access:
            missing.append(f"{action.value}: no access rule in api/access.py")
        if action not in form_of:
            missing.append(f"{action.value}: no form in api/web/forms.py")
    return missing


#: The staff app's forms: FORMS, and the assessment's own template (its questions are the instruments').
FORM_OF = {**forms.FORMS, Action.assess: "action.html (the instruments' questions)"}


def test_every_staff_action_has_all_its_parts():
    assert missing_parts(RULES, ACTIONS, BODIES, ACCESS, FORM_OF) == []


@pytest.mark.parametrize("part", ["catalogue", "body", "access", "form"])
def test_a_row_without_one_of_its_parts_is_found(part):
    """A new row whose action lacks one part is named, with the part it lacks."""
    action = Action.contact
    actions = {a: s for a, s in ACTIONS.items() if not (part == "catalogue" and a is action)}
    bodies = {a: b for a, b in BODIES.items() if not (part == "body" and a is action)}
    access = {k: v for k, v in ACCESS.items() if not (part == "access" and k.endswith(f"/{ACTIONS[action].path}"))}
    form_of = {a: f for a, f in FORM_OF.items() if not (part == "form" and a is action)}
    found = missing_parts(RULES, actions, bodies, access, form_of)
    assert len(found) == 1 and found[0].startswith("contact:")


def test_routes_paths_and_words_are_read_from_the_table():
    assert set(ACTION_PATHS) == set(STAFF_ACTIONS)
    assert all(ACTION_PATHS[a] == ACTIONS[a].path for a in STAFF_ACTIONS)
    assert set(BODIES) == set(COMMANDS) == set(STAFF_ACTIONS)
    for action, spec in ACTIONS.items():
        assert word(Lang.zh, "action", action.value) == spec.zh and word(Lang.en, "action", action.value) == spec.en
    texts = [spec.zh for spec in ACTIONS.values()]
    assert len(texts) == len(set(texts)), "two actions share one name"


def test_every_condition_and_reason_has_chinese_words():
    assert set(CONDITION_ZH) == set(CONDITION_TEXT)
    for code, text in {**REFUSAL_ZH, **INVALID_ZH}.items():
        assert re.search(r"[\u4e00-\u9fff]", text), f"{code} has no Chinese words"
        bare = re.sub(r"\{[a-z_]+\}", "", text)  # the slots a parameter fills
        assert not re.search(r"[a-z]+_[a-z_]+", bare), f"{code}'s words name an internal field"


def test_a_refusal_reads_in_chinese_with_beijing_time():
    refused = Refused("refer is not allowed in state assessed: ...", CaseState.assessed, ["guardian_notice", "plan"],
                      "refer", ("guardian_notified_if_high",))
    text = refusal_words(refused, Action.refer)
    assert text == ("未能办理“转介”：个案目前处于“已评估”状态。原因：高风险或紧急风险个案转介前，须先记录已告知监护人。"
                    "现在可以：告知监护人、修订安全计划。")
    late = Invalid("notified_at", "outside_case_time", {"opened_at": "2026-12-04T17:43:00+00:00",
                                                        "latest": "2026-12-04T18:00:00+00:00"})
    # 17:43 UTC is 01:43 the next day in Beijing
    assert invalid_words(late) == "时间须在个案建档（北京时间 2026-12-05 01:43）之后，且不能晚于现在"
    unmet = Invalid("unmet_reasons.guardian_notice", "unmet_reason_missing", {"obligation": "guardian_notice"})
    assert invalid_words(unmet) == "“告知监护人”尚未完成：结案时请说明原因"
    assert forbidden_words(Forbidden("x", "head_teacher", "refer")) == "您的角色不能办理“转介”。"


_DOOR_CALLS = re.compile(r"\.(start_workflow|execute_update|start_update|execute_workflow|signal_with_start)\(")


def test_one_door_to_the_workflows():
    """Only door/ starts or updates a workflow (tests, the benchmarks and the history recorders aside),
    and no page reads another face's error text back."""
    outside = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in {".venv", "tests", "bench", "door", "build"}:
            continue
        if _DOOR_CALLS.search(path.read_text(encoding="utf-8")):
            outside.append(str(relative))
    assert not outside, f"workflows started or updated outside door/: {outside}"
    for path in (ROOT / "api" / "web").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert 'split(": "' not in text and "json.loads(answer" not in text, f"{path.name} parses an error's text"


def test_every_rule_a_model_checks_is_worded_in_chinese_beside_its_field():
    """The models' own rules (``FieldError``: a code and its parameters) as the staff app words them."""
    from api.web.forms import FIELD_ERROR_ZH, errors_of
    from models.case import AssessmentBody, ClosureDecisionBody, OpenCaseBody
    from tests.support import open_body

    def said(model, body) -> dict:
        with pytest.raises(ValidationError) as raised:
            model.model_validate(body)
        return errors_of(raised.value)

    yes = dict.fromkeys(("q1", "q2", "q3", "q4"), True)
    cases = [
        (OpenCaseBody, {**open_body(), "risk_factors": [], "warning_signals": []},
         {"risk_factors": "请至少选择一项高危因素或预警信号"}),
        (ClosureDecisionBody, {"decision": "return"}, {"comment": "退回结案申请时，请说明退回的理由"}),
        (AssessmentBody, {"instrument": "cssrs", "answers": {"q1": True, "q2": True, "q6": False}},
         {"answers.q3": "第2题回答“是”后，此题必答"}),
        (AssessmentBody, {"instrument": "cssrs", "answers": {"q1": True, "q2": False}}, {"answers.q6": "此题尚未作答"}),
        (AssessmentBody, {"instrument": "cssrs", "answers": {"q1": "yes", "q2": False, "q6": False}},
         {"answers.q1": "请选择是或否"}),
        (AssessmentBody, {"instrument": "asq", "answers": {**yes, "q5": False}},
         {"risk_level": FIELD_ERROR_ZH["stated_needed_asq"]}),
        (AssessmentBody, {"instrument": "clinical", "answers": {}}, {"risk_level": "临床访谈评估时，请选择风险等级"}),
        (AssessmentBody, {"instrument": "clinical", "answers": {}, "risk_level": "high"},
         {"rationale": "临床访谈评估时，请填写评估依据"}),
        (AssessmentBody, {"instrument": "cssrs", "answers": {"q1": True, "q2": True, "q3": True, "q4": True,
                                                            "q5": False, "q6": False}, "risk_level": "low"},
         {"risk_level": "评估者判断的等级（低风险）不能低于"
                        "哥伦比亚自杀严重程度评定量表（C-SSRS）结果（高风险），只能上调"}),
    ]
    for model, body, expected in cases:
        assert said(model, body) == expected
    for code, text in FIELD_ERROR_ZH.items():
        assert re.search(r"[\u4e00-\u9fff]", text) and not re.search(r"[a-z]+_[a-z_]+", text), code
