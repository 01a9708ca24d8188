"""The school's report to its authority, once a term (issue 28): the term's casework in counts, anonymised.

Cases opened and closed by risk, the 90 % measure with its counts, refusals and reports, overdue duties by the
rung they reached, screenings: no name, no student number, no case reference, and every count under 5 as "<5".
A leader sends it from the term's last day (once); the authority is told and reads it in the app and as PDF.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from activities import documents
from activities.case_activities import typesetter_for
from db import directory, store, term_report
from db.tables import NotificationRow
from models.directory import read_directory
from models.domain import DocumentKind
from models.policy import Term
from models.term_report import TermReportRequest
from paper.facts import term_facts
from tests import a11y
from tests.conftest import DIRECTORY_FILE, OTHER_SCHOOL, auth, make_settings, running_stack
from tests.support import ASSESS_HIGH, ASSESS_LOW, REFUSE, open_body, open_case, step
from tests.test_incidents import INVESTIGATOR
from tests.test_staff_app import _shots
from tests.web import browser_sign_in, give_sign_in, load_people, site

TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()
#: a term whose last day is today (its report may go), and the next, not begun
TERMS = [{"name": "本学期（测试）", "start": str(TODAY - timedelta(days=120)), "end": str(TODAY)},
         {"name": "下学期（测试）", "start": str(TODAY + timedelta(days=30)), "end": str(TODAY + timedelta(days=150))}]
NAMES = ["赵一", "钱二", "孙三", "李四", "周五", "吴六"]


async def test_a_term_report_counts_the_term_masks_small_numbers_and_goes_to_the_authority_once(
        dev_env, webhook, tmp_path, browser):
    policy = tmp_path / "terms.json"
    policy.write_text(json.dumps({"version": "school-terms", "terms": TERMS}))
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", webhook.url, policy_file=policy)
    async with running_stack(dev_env.client, settings) as stack:
        load_people(stack.engine)
        directory.load(stack.engine, read_directory(DIRECTORY_FILE))
        opened = [(await open_case(stack, open_body(name=name)))["case_id"] for name in NAMES]
        for case_id in opened[:5]:
            await step(stack, case_id, "assess", ASSESS_HIGH)
        await step(stack, opened[5], "assess", ASSESS_LOW)
        for action in ("guardian_notice", "intervene", "refer"):
            await step(stack, opened[0], action)
        await step(stack, opened[0], "guardian_response", REFUSE)
        await step(stack, opened[0], "send_report")
        other = await stack.http.post("/cases", json=open_body(school=OTHER_SCHOOL),
                                      headers=auth("head_teacher", OTHER_SCHOOL))  # another school's: not counted
        assert other.status_code == 201

        listed = (await stack.http.get("/term-reports", headers=auth("leadership"))).json()
        assert [r["figures"]["term"]["name"] for r in listed] == ["本学期（测试）"]  # the next has not begun
        (term,) = listed
        figures = term["figures"]
        assert figures["opened"] == {"imminent": "<5", "high": "5", "moderate": "<5", "low": "<5",
                                     "unassessed": "<5"}
        assert figures["opened_total"] == "6" and figures["refusals"] == "<5" and figures["reported"] == "<5"
        assert figures["in_time_share"] is None  # fewer than 5 decided: no share that would point at a child
        assert term["reportable"] and term["document_id"] is None
        # the authority reads the school's figures; not another school's, nor without naming one
        city = (await stack.http.get("/term-reports", params={"school": "school-a"}, headers=INVESTIGATOR)).json()
        assert city[0]["figures"]["opened"] == figures["opened"]
        assert (await stack.http.get("/term-reports", headers=INVESTIGATOR)).status_code == 422
        assert (await stack.http.get("/term-reports", params={"school": OTHER_SCHOOL}, headers=INVESTIGATOR)
                ).status_code == 403
        # not before the term's last day; a psychology teacher does not send it; a leader does, once
        early = await stack.http.post("/term-reports", json={"term": "下学期（测试）"}, headers=auth("leadership"))
        assert early.status_code == 409
        assert (await stack.http.post("/term-reports", json={"term": "本学期（测试）"},
                                      headers=auth("psychology_teacher"))).status_code == 403
        sent = await stack.http.post("/term-reports", json={"term": "本学期（测试）"}, headers=auth("leadership"))
        assert sent.status_code == 200, sent.text
        document_id = sent.json()["document_id"]
        again = await stack.http.post("/term-reports", json={"term": "本学期（测试）"}, headers=auth("leadership"))
        assert again.status_code == 409

        text = (await stack.http.get(f"/documents/{document_id}",
                                     headers={**INVESTIGATOR, "Accept": "text/plain"})).text
        squeezed = "".join(text.split())
        assert squeezed.startswith("学生心理危机干预工作学期报告某市教育局：") and "本学期（测试）" in squeezed
        assert "高风险55" not in squeezed and "高风险5<5" in squeezed  # opened 5, closed none (under 5)
        assert "合计6<5" in squeezed and "人数少于5" in squeezed
        assert not any(name in text for name in NAMES) and "2026-07" not in text  # no names, no numbers
        with Session(stack.engine) as session:
            told = session.exec(select(NotificationRow).where(NotificationRow.event == "term_report_sent")).one()
        assert "e-liu" in told.recipient_staff and "本学期（测试）" in told.text and "心理危机干预领导小组" in told.text

        save_term_pages(stack, document_id, tmp_path)

        # the authority's page, on a phone: the figures and the report it was sent
        context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                            timezone_id="Asia/Shanghai", bypass_csp=True)  # axe runs inline
        page = await context.new_page()
        await browser_sign_in(page, site(stack), "e-liu", give_sign_in(stack.engine, stack.settings, "e-liu"))
        await page.goto(f"{site(stack)}/ui/reports/terms")
        shown = await page.locator("section.term").inner_text()
        assert "本学期（测试）" in shown and "<5" in shown and "查看报告 PDF" in shown
        assert not any(name in shown for name in NAMES)
        await page.screenshot(path=str(_shots(tmp_path) / "staff-term-report-phone.png"), full_page=True)
        assert await a11y.violations(page) == []
        await page.context.close()


def save_term_pages(stack, document_id: str, tmp_path) -> None:
    """The sent report's pages as the school prints them (``docs/images/paper-term_report-<page>.png``)."""
    if not os.environ.get("CRISISFLOW_SHOTS"):
        return
    row = store.get_document(stack.engine, document_id)
    request = TermReportRequest(school_id="school-a", term=Term.model_validate(TERMS[0]), sent_by="l-sun",
                                sent_by_role="leadership", sent_at=row.created_at)
    school, lang = documents.school_facts(stack.engine, "school-a", DocumentKind.term_report)
    facts = term_facts(term_report.figures(stack.engine, "school-a", request.term, row.created_at), request, school,
                       directory.names(stack.engine, {"l-sun"}), lang)
    pages = typesetter_for(stack.settings).png(DocumentKind.term_report, facts, row.created_at, ppi=96)
    for number, png in enumerate(pages, start=1):
        (_shots(tmp_path) / f"paper-term_report-{number}.png").write_bytes(png)
