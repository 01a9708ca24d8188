"""Every sentence the paper quotes from the policy, in one place, with where it stands.

A document quotes the policy only through here: the text exactly as the policy texts have it (the comma
printed full-width), the document it comes from and the section. ``tests/test_paper_fidelity.py`` finds each
text, title and section verbatim in the policy texts (``../shared/seeds/`` beside the checkout, else the
repository's copy in ``docs/policy-texts/``, or a school's own folder named by ``CRISISFLOW_POLICY_TEXTS``),
ignoring only whitespace and the comma's width. What the school adds (its deadlines, its advice) is never put in
quotation marks.
"""

from __future__ import annotations

from typing import NamedTuple


class Quote(NamedTuple):
    text: str
    source: str  # the document's title, as the policy texts give it
    section: str  # the section heading it stands under


QUOTES: dict[str, Quote] = {
    # the refusal report rests on this sentence [seed 002, 心理健康干预工作方案, 六(三)]
    "refusal": Quote("如监护人或学生拒绝就医，学校及时向教育主管部门汇报", "心理健康干预工作方案",
                     "转介及危机干预流程"),
    # the principle the guardian's notice opens with [seed 002, 心理健康干预工作方案, 二、工作原则 (the text
    # reads 工作原那么, a scan's misreading of 原则: the section is named by its number)]
    "life_first": Quote("生命第一", "心理健康干预工作方案", "二、工作原"),
    # one student, one plan [seed 000, 2023年学生突出心理问题防治工作专班, 成员职责 6]
    "one_plan": Quote("落实“一人一策”，重点关注，并及时与监护人保持沟通联系", "学生突出心理问题防治工作专班",
                      "成员职责"),
    "one_plan_term": Quote("一人一策", "学生突出心理问题防治工作专班", "成员职责"),
    # the education authority's duty after an extreme event [seed 000, 重点事项清单, 一 5]
    "investigation": Quote(
        "联合公安部门和有关专家建立学生心理健康极端事件调查工作小组，对属地发生的每一起学生心理健康极端事件开展调查复盘研究工作，"
        "形成内容全面、分析透彻、有针对性、有务实举措、篇幅不少于3000字的个案调查复盘报告，并于事件发生两周内上报省教育厅",
        "中小学心理健康教育和生命健康关爱工作重点事项清单", "开展调查复盘工作"),
}


def quotes() -> dict[str, dict[str, str]]:
    """The quotes as a template reads them (``data.quotes.refusal.text``)."""
    return {key: quote._asdict() for key, quote in QUOTES.items()}
