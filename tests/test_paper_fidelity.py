"""Paper a school can sign and send (issue 28): read from each document's text layer, what it says holds.

- every sentence quoted from the policy is the policy's, word for word, with its source;
- each paper's mark fits its reader (internal papers only are marked internal);
- official tables show what people did and what the school decided, never the system's own rows;
- the closure report carries the whole history: the refusal, the returned closure, the approval;
- each paper goes to its addressee by the directory's name, and gives the school's contact and hotlines;
- the last paragraph, the school, the seal's space and the date are on one page;
- any text a form accepts prints (emoji, a CJK Extension B name, a character no font has);
- a document that failed is made again once its cause is mended.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

import pypdfium2 as pdfium
from sqlmodel import Session

from activities import documents
from activities.case_activities import typesetter_for
from db import directory, store
from db.tables import SchoolRow
from models.case import CaseEvent, DocumentRequest
from models.directory import Directory, Staff
from models.domain import SYSTEM, Action, DocumentKind, StaffRole
from paper.facts import case_facts
from paper.quotes import QUOTES
from paper.typeset import DEFAULT_TEMPLATES, PDFIUM, SUBSTITUTE
from paper.words import Lang
from tests.conftest import SCHOOL, SCHOOLS, auth, token
from tests.support import (
    ASSESS_HIGH,
    CLOSE,
    PLAN,
    REFERRAL,
    REFUSE,
    act,
    document_text,
    eventually,
    open_body,
    open_case,
    paper_of,
    step,
    workflow_view,
)
from tests.web import csrf_of, give_sign_in, sign_in, site
from tests.web import load_people as load_directory_people

ROOT = Path(__file__).resolve().parent.parent
#: the policy texts the quotes are checked against: a school's own folder, else the seeds beside the checkout (as CI
#: has them), else the copy the repository keeps of them (a clone anywhere else)
SEEDS = ROOT.parent / "shared" / "seeds"
KEPT = ROOT / "docs" / "policy-texts"
POLICY_TEXTS = Path(os.environ.get("CRISISFLOW_POLICY_TEXTS") or (SEEDS if SEEDS.is_dir() else KEPT))
#: a student whose name has a CJK Extension B character (𠮷, U+20BB7)
NAME = "林𠮷"
#: a plan typed with an emoji, and a character no installed font has (Mongolian ᠮ)
COPING = ["听音乐🎵", "写日记ᠮ"]
INTERNAL = "内部·涉及未成年人心理健康信息，不得外传"
KEEP = "请妥善保管，仅用于学生就医"


def squeezed(text: str) -> str:
    """The text without whitespace, its commas full-width: how a quote is compared with the policy."""
    return re.sub(r"\s+", "", text).replace(",", "，")


def test_every_quote_is_the_policy_word_for_word_and_no_template_quotes_on_its_own():
    texts = sorted(POLICY_TEXTS.glob("*.txt"))
    assert texts, f"no policy texts in {POLICY_TEXTS}"
    policy = squeezed("\n".join(p.read_text(encoding="utf-8") for p in texts))
    for key, quote in QUOTES.items():
        for part in (quote.text, quote.source, quote.section):
            assert squeezed(part) in policy, (key, part)
    # a template quotes only through paper/quotes.py: no Chinese in quotation marks typed into a template
    for template in DEFAULT_TEMPLATES.glob("*.typ"):
        typed = re.findall(r"[“\"「『][\u4e00-\u9fff][^”\"」』\n]*[”\"」』]", template.read_text(encoding="utf-8"))
        assert typed == [], (template.name, typed)


def test_the_repository_s_copy_of_the_policy_texts_is_the_seeds_word_for_word():
    """The copy in docs/policy-texts is the seeds as they are (where the seeds are beside the checkout)."""
    kept = {p.name: p.read_bytes() for p in KEPT.glob("*.txt")}
    assert kept, "docs/policy-texts is empty"
    if SEEDS.is_dir():
        assert kept == {p.name: p.read_bytes() for p in SEEDS.glob("*.txt")}


def pages_of(pdf: bytes) -> list[str]:
    with PDFIUM:
        document = pdfium.PdfDocument(pdf)
        try:
            return [squeezed(page.get_textpage().get_text_range()) for page in document]
        finally:
            document.close()


def load_people(stack) -> None:
    """The test directory's schools and authorities, with the tokens' people named."""
    people = [Staff(id="psychology-teacher-1", name="陈静", school=SCHOOL, roles=[StaffRole.psychology_teacher]),
              Staff(id="leadership-1", name="孙校长", school=SCHOOL, roles=[StaffRole.leadership]),
              Staff(id="head-teacher-1", name="张老师", school=SCHOOL, roles=[StaffRole.head_teacher])]
    directory.load(stack.engine, Directory(schools=SCHOOLS.schools, staff=people, authorities=SCHOOLS.authorities))


async def docs_of(stack, case_id: str, kinds: set[str]) -> dict[str, dict]:
    async def made():
        found = (await stack.http.get(f"/cases/{case_id}/documents", headers=auth("leadership"))).json()
        latest = {d["kind"]: d for d in sorted(found, key=lambda d: d["created_at"])}
        return latest if kinds <= set(latest) else None

    return await eventually(made, timeout=40)


async def test_a_refused_then_closed_case_s_paper_says_what_the_policy_and_the_school_say(sqlite_stack):
    stack = sqlite_stack
    load_people(stack)
    case = await open_case(stack, open_body(name=NAME))
    case_id = case["case_id"]
    for action in ("assess", "guardian_notice"):
        await step(stack, case_id, action)
    await step(stack, case_id, "intervene", {**PLAN, "plan": {**PLAN["plan"], "coping_strategies": COPING}})
    await step(stack, case_id, "refer", REFERRAL)
    await step(stack, case_id, "guardian_response", REFUSE)
    await step(stack, case_id, "send_report", {"note": "学校将继续与家长沟通，班主任每日关注"})
    # a closure proposed, sent back with a reason, proposed again and approved
    assert (await act(stack, case_id, "close", CLOSE)).status_code == 202
    sent_back = {"decision": "return", "comment": "监护人尚未同意就医，请再随访两周"}
    returned = await act(stack, case_id, "closure_decision", sent_back)
    assert returned.status_code == 200, returned.text
    assert (await act(stack, case_id, "close", CLOSE)).status_code == 202
    assert (await act(stack, case_id, "closure_decision", {"decision": "approve", "comment": "同意结案，转入重点关注"})
            ).status_code == 200
    docs = await docs_of(stack, case_id, {"guardian_notice", "referral_letter", "authority_report",
                                          "closure_summary", "followup_report"})
    text = {kind: squeezed(await document_text(stack, d["document_id"])) for kind, d in docs.items()}
    save_pages(stack, docs.values())
    # the mark heads every printed page: internal on the school's and the authority's papers; the family's and
    # the hospital's say how to keep them
    for kind, d in docs.items():
        pdf = (await stack.http.get(f"/documents/{d['document_id']}", headers=auth("leadership"))).content
        expected, other = (KEEP, INTERNAL) if kind in ("guardian_notice", "referral_letter") else (INTERNAL, KEEP)
        assert all(expected in page and other not in page for page in pages_of(pdf)), kind

    # the refusal report: the policy's sentence, exactly, with its source; to the authority by its directory name
    report = text["authority_report"]
    refusal = "“如监护人或学生拒绝就医，学校及时向教育主管部门汇报”"
    assert f"根据《心理健康干预工作方案》中{refusal}的规定" in report
    assert "拒绝治疗" not in report and "转介及危机干预流程》" not in report
    assert "某市教育局：" in report
    assert "联系人及电话：孙校长，0371-60001234" in report
    # the leader who confirmed and sent it, and their note, go with it
    assert "学校说明：学校将继续与家长沟通，班主任每日关注" in report
    assert "报送人：孙校长（心理危机干预领导小组）" in report
    # the closure of the reported case follows it up: to the same authority, naming the report it follows
    followup = text["followup_report"]
    number = docs["authority_report"]["document_id"].rsplit("-", 1)[1]
    assert followup.startswith(squeezed("关于学生拒绝就医情况的续报某市教育局："))
    assert f"-{int(number):02d}）所涉学生{NAME}" in followup and "变化结案审批（批准）情况危机已解除" in followup
    # the guardian's notice: no invented consequence; kept, not marked internal; every line under its own name
    notice = text["guardian_notice"]
    assert "后果由监护人承担" not in notice
    assert "全国心理援助热线12356" in notice and "学校心理咨询室热线0371-60001235" in notice
    assert "学校联系人：孙校长，0371-60001234" in notice
    assert "学校建议" in notice  # the window to seek care is the school's advice, not the policy's
    assert f"本人已知悉学校《心理健康干预工作方案》的规定：{refusal}" in notice
    # the hospital's letter: kept, the school's contact, and a feedback slip to return
    letter = text["referral_letter"]
    assert "请贵单位接诊后将诊疗意见反馈我校" in letter and "诊疗意见反馈单" in letter and "接诊医师签名" in letter
    assert "学校联系人孙校长，0371-60001234" in letter
    # any text prints: the emoji, the Extension B name, and a mark where no font has the character
    assert "听音乐🎵" in letter and NAME in letter and f"写日记{SUBSTITUTE}" in letter
    # the closure report: the whole story, in words, with lines to sign
    closure = text["closure_summary"]
    assert "拒绝就医监护人" in closure and squeezed(REFUSE["notes"]) in closure
    assert "退回孙校长（心理危机干预领导小组）" in closure and "监护人尚未同意就医，请再随访两周" in closure
    assert "批准孙校长（心理危机干预领导小组）" in closure and "意见：同意结案，转入重点关注" in closure
    bare_zero = r"(?<![0-9A-Za-z:年月日-])0(?![0-9A-Za-z:年月日-])"  # not a digit of a number, time or reference
    assert "最高预警级别未预警" in closure and not re.search(bare_zero, closure)
    assert "结案提出人：陈静（心理教师）签字" in closure and "审批人：孙校长（心理危机干预领导小组）签字" in closure
    assert "提出结案" in closure and "结案审批（退回）" in closure and "结案审批（批准）" in closure
    assert "听音乐" not in closure  # the plan's content stays with the school's record; its revisions are listed
    assert "一人一策" in closure and "制定或修订时间" in closure
    # no official table shows the system's own rows: the report is the school's (by its name)
    for paper in (report, closure):
        assert "系统" not in paper and "通知或文书未能完成" not in paper and "逾期预警升级" not in paper
    assert "确认并报送教育主管部门孙校长（心理危机干预领导小组）" in closure


def save_pages(stack, docs) -> None:
    """Every page of each document, as the school prints it, to ``$CRISISFLOW_SHOTS`` when set
    (``docs/images/paper-<kind>-<page>.png``)."""
    folder = os.environ.get("CRISISFLOW_SHOTS")
    if not folder:
        return
    typesetter = typesetter_for(stack.settings)
    for doc in docs:
        request, school, lang, people = paper_of(stack, doc)
        # the notice as the worker made it: with its one-time answer link (made once; the same link again)
        facts = case_facts(request, school, people, lang,
                           documents.answer_link(stack.engine, request, stack.settings.public_url))
        for number, png in enumerate(typesetter.png(request.kind, facts, request.created_at, ppi=96), start=1):
            (Path(folder) / f"paper-{doc['kind']}-{number}.png").write_bytes(png)


async def _state_is(stack, case_id: str, state: str) -> bool:
    return (await workflow_view(stack, case_id))["state"] == state


async def test_the_system_s_own_rows_stay_out_and_the_seal_shares_the_last_paragraph_s_page(sqlite_stack):
    """Official tables leave out a failed notice or a warning that climbed; and however long the letter, its
    last paragraph, the school, the seal's space and the date are printed on one page."""
    stack = sqlite_stack
    load_people(stack)
    case = await open_case(stack)
    case_id = case["case_id"]
    for action in ("assess", "guardian_notice", "intervene", "refer"):
        await step(stack, case_id, action)
    await step(stack, case_id, "guardian_response", REFUSE)
    await step(stack, case_id, "send_report")
    data = store.load_case(stack.engine, case_id)
    last = data.events[-1]
    internal = [CaseEvent(seq=last.seq + 1, at=last.at, action=Action.escalate, actor=SYSTEM, actor_role=SYSTEM,
                          from_state=last.to_state, to_state=last.to_state, escalation_level=2),
                CaseEvent(seq=last.seq + 2, at=last.at, action=Action.effect_failed, actor=SYSTEM, actor_role=SYSTEM,
                          from_state=last.to_state, to_state=last.to_state)]
    data.events += internal
    school, _ = documents.school_facts(stack.engine, data.school_id, DocumentKind.referral_letter)
    people = directory.names(stack.engine, {e.actor for e in data.events})
    typesetter = typesetter_for(stack.settings)
    made_at = datetime.fromisoformat("2026-12-05T10:00:00+08:00")
    request = DocumentRequest(document_id="x", kind=DocumentKind.authority_report, case=data,
                              event_seq=last.seq + 2, created_at=made_at)
    report = squeezed(typesetter.text(request.kind, case_facts(request, school, people, Lang.zh), made_at))
    assert "逾期预警升级" not in report and "通知或文书未能完成" not in report and "系统" not in report

    closes = {DocumentKind.referral_letter: "请贵单位接诊后将诊疗意见反馈我校",
              DocumentKind.authority_report: "学校将继续落实"}
    refer = next(e for e in data.events if e.action is Action.refer)
    crossed = set()
    for kind, closing in closes.items():
        seq = refer.seq if kind is DocumentKind.referral_letter else last.seq
        for lines in range(0, 120, 3):  # a longer and longer reason walks the close across the page's foot
            request = DocumentRequest(document_id="x", kind=kind, case=data, event_seq=seq, created_at=made_at)
            facts = case_facts(request, school, people, Lang.zh)
            longer = "学生近两周情绪低落，多次提到活着没有意思。" * lines
            facts["referral"]["reason"] = facts["response"]["notes"] = longer
            pages = pages_of(typesetter.pdf(kind, facts, made_at))
            seal = squeezed(f"某市第一中学（盖章）{facts['issued_on']}")
            close_page = next(i for i, p in enumerate(pages) if closing in p)
            seal_page = next(i for i, p in enumerate(pages) if seal in p)
            assert close_page == seal_page, (kind, lines, close_page, seal_page)
            crossed.add((kind, close_page))
    # the walk did cross a page's foot: each kind's close was printed on two pages, one after the other
    assert all(len({p for k, p in crossed if k is kind}) >= 2 for kind in closes), crossed


async def test_a_failed_document_is_made_again_once_its_cause_is_mended(sqlite_stack):
    """A school missing from the directory: the notice cannot be made, and says so in Chinese; once the
    directory has the school, the case's owner makes it again (another psychology teacher may not)."""
    stack = sqlite_stack
    school = "school-c"
    case = (await stack.http.post("/cases", json=open_body(school=school), headers=auth("head_teacher", school))
            ).json()
    case_id = case["case_id"]
    assessed = await stack.http.post(f"/cases/{case_id}/assessment", json=ASSESS_HIGH,
                                     headers=auth("psychology_teacher", school))
    assert assessed.status_code == 200, assessed.text

    async def failed():
        view = await workflow_view(stack, case_id)
        return view["failed_effects"] or None

    (failure,) = await eventually(failed, timeout=30)
    assert "学校不在名录中" in failure["reason"]
    path = f"/cases/{case_id}/documents/guardian_notice/remake"
    still = await stack.http.post(path, headers=auth("psychology_teacher", school))
    assert still.status_code == 409 and "仍未能生成：学校不在名录中" in still.json()["detail"]
    other = await stack.http.post(path, headers={"Authorization": f"Bearer {_token_of('p-other', school)}"})
    assert other.status_code == 403

    directory.load(stack.engine, Directory(schools=[SCHOOLS.schools[0].model_copy(update={"id": school})]))
    remade = await stack.http.post(path, headers=auth("psychology_teacher", school))
    assert remade.status_code == 200, remade.text
    assert remade.json()["kind"] == "guardian_notice" and remade.json()["document_id"] == failure["effect_id"]
    text = await stack.http.get(f"/documents/{remade.json()['document_id']}",
                                headers={**auth("leadership", school), "Accept": "text/plain"})
    assert "监护人签名" in text.text
    again = await stack.http.post(path, headers=auth("leadership", school))
    assert again.status_code == 409 and "没有未能生成" in again.json()["detail"]


def _token_of(staff_id: str, school: str) -> str:
    return token("psychology_teacher", school, staff_id=staff_id)


async def test_a_leader_makes_a_failed_notice_again_from_the_case_page(sqlite_stack):
    """The school's row missing from the directory: the notice fails, and the case page offers the leader a button
    that says why it fails again, in Chinese, until the directory is mended; then the notice is made."""
    stack = sqlite_stack
    load_directory_people(stack.engine)
    with Session(stack.engine) as session:  # the school's entry gone (its people stay, so they sign in)
        session.delete(session.get(SchoolRow, SCHOOL))
        session.commit()
    body = open_body()
    body["student"]["class_id"] = "8-3"
    case_id = (await stack.http.post("/cases", json=body, headers=auth("head_teacher"))).json()["case_id"]
    assert (await act(stack, case_id, "assess", ASSESS_HIGH)).status_code == 200
    await eventually(lambda: _failed(stack, case_id), timeout=30)
    http = await sign_in(site(stack), "l-sun", give_sign_in(stack.engine, stack.settings, "l-sun"))
    page = (await http.get(f"/ui/cases/{case_id}")).text
    assert "《学生心理健康情况告知书》未能生成" in page and "原因排除后，重新生成" in page
    path = f"/ui/cases/{case_id}/remake/guardian_notice"
    again = await http.post(path, data={"csrf": csrf_of(page)})
    assert again.status_code == 409 and "仍未能生成：学校不在名录中" in again.text
    load_directory_people(stack.engine)  # mended
    remade = await http.post(path, data={"csrf": csrf_of(page)})
    assert remade.status_code == 303
    page = (await http.get(remade.headers["location"])).text
    assert "已重新生成《学生心理健康情况告知书》" in page and "未能生成" not in page
    assert 'data-kind="guardian_notice"' in page  # the notice is among the case's documents
    await http.aclose()


async def _failed(stack, case_id: str) -> list:
    return (await workflow_view(stack, case_id))["failed_effects"]
