"""Documents per second: the Typst PDF/A paper beside the Markdown renderer it replaced, in one run.

    .venv/bin/python bench/documents.py [--rounds 200]

The floor is the Markdown renderer as it was at the last commit that had it (``FLOOR_COMMIT``): its
module and templates are read from git and run on the same case. For each of the four case
documents it reports the p50 of one render, and documents per second for the whole of what the
worker makes of one document: the PDF and its text form, in Chinese and in English. Each figure is
also given as a ratio to the floor measured in the same run (absolute times swing on shared machines).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jinja2 import DictLoader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.settings import Settings  # noqa: E402
from models.case import Actor, CaseData, CaseEvent, DocumentRequest, OpenCaseBody  # noqa: E402
from models.domain import Action, CaseState, DocumentKind, RiskLevel, StaffRole  # noqa: E402
from models.policy import DeadlinePolicy  # noqa: E402
from paper.facts import SchoolFacts, case_facts  # noqa: E402
from paper.typeset import Typesetter  # noqa: E402
from paper.words import Lang  # noqa: E402
from tests.support import open_body  # noqa: E402

FLOOR_COMMIT = "6a35853"
KINDS = [DocumentKind.guardian_notice, DocumentKind.referral_letter, DocumentKind.authority_report,
         DocumentKind.closure_summary]


def markdown_floor():
    """The replaced renderer's ``render_text``, loaded from git with its templates."""
    def show(path: str) -> str:
        return subprocess.run(["git", "show", f"{FLOOR_COMMIT}:{path}"], cwd=ROOT, check=True, capture_output=True,
                              text=True).stdout
    names = ["_header", *(k.value for k in KINDS)]
    loader = DictLoader({f"{n}.md.j2": show(f"activities/templates/{n}.md.j2") for n in names})
    source = show("activities/documents.py").replace('loader=PackageLoader("activities", "templates")',
                                                     "loader=_LOADER")
    # the modules it imported have moved since: the same functions, from where they live now
    for old, new in (("from activities.notify import local_time", "from paper.messages import local_time"),
                     ("from models import store", "from db import store"),
                     ("from models.tables import DocumentRow", "from db.tables import DocumentRow")):
        source = source.replace(old, new)
    namespace = {"_LOADER": loader, "__name__": "markdown_floor"}
    exec(compile(source, "markdown_floor", "exec"), namespace)  # noqa: S102 - our own code, from our history
    return namespace["render_text"]


def sample_case() -> CaseData:
    t0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    body = OpenCaseBody.model_validate(open_body())
    case = CaseData(case_id="3f2a9c1b" * 4, school_id="school-a", student=body.student, risk_factors=body.risk_factors,
                    warning_signals=body.warning_signals, summary=body.summary,
                    opened_by=Actor(staff_id="t-zhang", role=StaffRole.head_teacher, school_id="school-a"),
                    opened_at=t0, policy=DeadlinePolicy(), risk_level=RiskLevel.high, state=CaseState.closed)
    details = [
        (Action.open, "t-zhang", "head_teacher", CaseState.identified, {}),
        (Action.assess, "p-chen", "psychology_teacher", CaseState.assessed,
         {"instrument": "cssrs", "answers": {}, "risk_level": "high", "resolved_risk_level": "high",
          "rationale": "有自杀意念和计划，近期有告别行为", "expert_consulted": True}),
        (Action.guardian_notice, "t-zhang", "head_teacher", CaseState.assessed,
         {"notified_at": (t0 + timedelta(hours=2)).isoformat(), "channel": "phone", "guardian_relation": "母亲"}),
        (Action.intervene, "p-chen", "psychology_teacher", CaseState.intervened,
         {"plan": {"warning_signs": ["独处", "失眠"], "coping_strategies": ["运动", "找班主任谈话"],
                   "support_contacts": ["母亲"], "professional_contacts": ["心理教师"],
                   "environment_safety": "家中药品由家长保管"}}),
        (Action.refer, "p-chen", "psychology_teacher", CaseState.referred,
         {"institution": "市精神卫生中心", "reason": "需专业评估与治疗", "urgency": "urgent"}),
        (Action.guardian_response, "t-zhang", "head_teacher", CaseState.parent_refused,
         {"decision": "refuse", "by": "guardian", "notes": "家长认为孩子只是青春期情绪"}),
        (Action.report, "system", "system", CaseState.reported, {}),
        (Action.close, "l-sun", "leadership", CaseState.closed,
         {"reason": "resolved", "outcome": "门诊随访中，情绪稳定", "rationale": "连续四周评估为低风险"}),
    ]
    previous = None
    for seq, (action, actor, role, state, detail) in enumerate(details, start=1):
        case.events.append(CaseEvent(seq=seq, at=t0 + timedelta(hours=seq), action=action, actor=actor,
                                     actor_role=role, from_state=previous, to_state=state, detail=detail))
        previous = state
    return case


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    settings = Settings()
    typesetter = Typesetter(settings.templates_dir, tuple(settings.document_fonts), settings.font_paths)
    render_markdown = markdown_floor()
    case = sample_case()
    school = SchoolFacts(name="某市第一中学", authority="某市教育局", contact_name="孙校长",
                         contact_phone="0371-6000 1234", hotlines=[{"name": "全国心理援助热线", "number": "12356"}],
                         province="某省教育厅")
    people = {"t-zhang": "张老师", "p-chen": "陈老师", "l-sun": "孙校长"}
    made = datetime(2026, 11, 23, tzinfo=UTC)
    # the guardian notice prints its one-time answer link as a QR code, as the worker makes it (GUARDIAN_ONLINE)
    link = {"url": "https://crisis.school-a.edu.cn/g/7-6yUWu6TRz4qkd0ztltMggcvQYRAj71_Y4LzBsgl-Q", "code": "463631",
            "expires_at": made + timedelta(hours=72)}
    rows = []
    links = {DocumentKind.guardian_notice: link}
    for kind in KINDS:
        request = DocumentRequest(document_id=f"{case.case_id}-{kind.value}-8", kind=kind, case=case, event_seq=8,
                                  created_at=made)
        render_markdown(request)  # warm: templates compiled
        typesetter.pdf(kind, case_facts(request, school, people, Lang.zh, links.get(kind)), made)
        markdown, pdf, whole = [], [], []
        for _ in range(args.rounds):
            t = time.perf_counter()
            render_markdown(request)
            markdown.append(time.perf_counter() - t)
            t = time.perf_counter()
            typesetter.pdf(kind, case_facts(request, school, people, Lang.zh, links.get(kind)), made)
            pdf.append(time.perf_counter() - t)
            t = time.perf_counter()
            for lang in Lang:  # what the worker makes of one document: PDF and text, both languages
                facts = case_facts(request, school, people, lang, links.get(kind))
                typesetter.pdf(kind, facts, made)
                typesetter.text(kind, facts, made)
            whole.append(time.perf_counter() - t)
        rows.append({
            "document": kind.value,
            "markdown_p50_ms": round(p50(markdown), 3),
            "pdf_p50_ms": round(p50(pdf), 3),
            "pdf_vs_markdown": round(p50(pdf) / p50(markdown), 1),
            "markdown_docs_per_s": round(1 / statistics.mean(markdown)),
            "pdf_docs_per_s": round(1 / statistics.mean(pdf)),
            "all_forms_docs_per_s": round(1 / statistics.mean(whole), 1),
        })
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))
    out = ROOT / "bench" / "results" / f"documents-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rounds": args.rounds, "floor_commit": FLOOR_COMMIT, "rows": rows}, indent=2))
    print(f"results: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
