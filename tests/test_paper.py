"""Paper a school can print and sign: every document of a real case, as PDF/A, in Chinese and English.

The PDFs are read back with pypdf: they must name the school, the authority and the student where
the document needs them, and print no code (no action or role codes, no school id, no internal
ids); every font is embedded and the file declares PDF/A-2b.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from activities.case_activities import typesetter_for
from db import directory
from models.directory import Directory, Staff
from models.domain import Action, DocumentKind, Obligation, StaffRole
from paper.facts import case_facts
from paper.words import Lang
from tests.conftest import BIN, OTHER_SCHOOL, SCHOOL, SCHOOLS, auth
from tests.support import ASSESS_HIGH, document_text, eventually, open_body, open_case, paper_of, refusal_path

SCHOOL_NAME = "某市第一中学"
AUTHORITY = "某市教育局"
PSYCHOLOGIST = "陈静"
#: codes that must never reach paper (besides every enum value with an underscore, and hex ids)
CODES = {"assess", "cssrs", "asq", "school-a", "school-b", "head_teacher", "psychology-teacher-1", "system"}
CODES |= {v.value for enum in (Action, Obligation, StaffRole, DocumentKind) for v in enum if "_" in v.value}
HEX_ID = re.compile(r"[0-9a-f]{32}", re.IGNORECASE)
#: what each document must name
NEEDS = {
    DocumentKind.guardian_notice: [SCHOOL_NAME, "STUDENT", PSYCHOLOGIST],
    DocumentKind.referral_letter: [SCHOOL_NAME, "STUDENT", "市精神卫生中心"],
    DocumentKind.authority_report: [SCHOOL_NAME, AUTHORITY, "STUDENT"],
    DocumentKind.closure_summary: [SCHOOL_NAME, "STUDENT"],
    DocumentKind.followup_report: [SCHOOL_NAME, AUTHORITY, "STUDENT"],
}


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def squeezed(text: str) -> str:
    """The text without the spaces and line breaks that layout puts between characters."""
    return re.sub(r"\s+", "", text)


def codes_in(text: str, case_id: str) -> list[str]:
    found = [c for c in CODES if re.search(rf"(?<![A-Za-z_-]){re.escape(c)}(?![A-Za-z_-])", text)]
    return found + HEX_ID.findall(text) + ([case_id] if case_id in squeezed(text) else [])


def unembedded_fonts(pdf: bytes) -> list[str]:
    missing = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            described = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            descriptor = described["/FontDescriptor"].get_object()
            if not any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")):
                missing.append(str(font.get("/BaseFont")))
    return missing


def load_people(stack) -> None:
    directory.load(stack.engine, Directory(schools=SCHOOLS.schools, staff=[
        Staff(id="psychology-teacher-1", name=PSYCHOLOGIST, school=SCHOOL, roles=[StaffRole.psychology_teacher]),
    ]))


async def documents_of(stack, case_id: str, count: int) -> list[dict]:
    async def made():
        docs = (await stack.http.get(f"/cases/{case_id}/documents", headers=auth("leadership"))).json()
        return docs if len(docs) >= count else None

    return await eventually(made, timeout=30)


def save_first_page(stack, doc: dict, folder: Path) -> None:
    """Page 1 of a document as PNG (``CRISISFLOW_SAVE_PREVIEWS=docs/images pytest tests/test_paper.py``)."""
    request, school, lang, people = paper_of(stack, doc)
    typesetter = typesetter_for(stack.settings)
    for language in (lang, Lang.en):
        facts = case_facts(request, school, people, language)
        page = typesetter.png(request.kind, facts, request.created_at, ppi=110)[0]
        (folder / f"paper-{doc['kind']}-{language.value}.png").write_bytes(page)


async def test_every_document_prints_names_in_words_in_both_languages(sqlite_stack, preview_dir):
    stack = sqlite_stack
    load_people(stack)
    case = await open_case(stack)
    case_id, student = case["case_id"], case["student"]["name"]
    await refusal_path(stack, case_id)
    docs = await documents_of(stack, case_id, 5)
    assert sorted(d["kind"] for d in docs) == sorted(k.value for k in NEEDS)

    for doc in docs:
        assert doc["language"] == "zh-CN" and doc["media_type"] == "application/pdf"
        assert doc["forms"] == ["application/pdf;en", "application/pdf;zh-CN", "text/plain;en", "text/plain;zh-CN"]
        for lang in ("zh-CN", "en"):
            r = await stack.http.get(f"/documents/{doc['document_id']}", params={"lang": lang},
                                     headers=auth("leadership"))
            assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
            assert r.headers["content-language"] == lang
            pdf = r.content
            text = pdf_text(pdf)
            for needed in NEEDS[DocumentKind(doc["kind"])]:
                assert squeezed(needed if needed != "STUDENT" else student) in squeezed(text), (doc["kind"], lang)
            assert codes_in(text, case_id) == [], (doc["kind"], lang)
            assert unembedded_fonts(pdf) == [], doc["kind"]
            assert b"pdfaid:part" in pdf and b"<pdfaid:part>2</pdfaid:part>" in pdf.replace(b"\n", b"")
            # the text form says what the paper says, a line per paragraph
            form = await document_text(stack, doc["document_id"], lang=lang)
            assert codes_in(form, case_id) == []
            assert student in form
        if doc["kind"] == "guardian_notice" and preview_dir is not None:
            save_first_page(stack, doc, preview_dir)

    notice = next(d for d in docs if d["kind"] == "guardian_notice")
    text = squeezed(await document_text(stack, notice["document_id"]))
    assert "回执" in text and "监护人签名" in text and "不同意带孩子就医" in text  # the tear-off receipt
    assert "12356" in text  # the school's hotline


async def test_an_english_school_gets_english_paper_and_text_on_request(sqlite_stack):
    stack = sqlite_stack
    opened = await stack.http.post("/cases", json=open_body(school=OTHER_SCHOOL),
                                   headers=auth("head_teacher", OTHER_SCHOOL))
    case = opened.json()
    r = await stack.http.post(f"/cases/{case['case_id']}/assessment", json=ASSESS_HIGH,
                              headers=auth("psychology_teacher", OTHER_SCHOOL))
    assert r.status_code == 200, r.text
    (doc,) = await eventually(lambda: _docs(stack, case["case_id"]), timeout=30)
    assert doc["language"] == "en" and doc["title"].startswith("Notice to the Guardian")
    other = {"Authorization": auth("leadership", OTHER_SCHOOL)["Authorization"]}
    pdf = await stack.http.get(f"/documents/{doc['document_id']}", headers=other)
    assert pdf.headers["content-language"] == "en" and "某市第二中学" in squeezed(pdf_text(pdf.content))
    for accept in ("text/plain", "text/markdown", "text/*;q=0.9, application/pdf;q=0.1"):
        r = await stack.http.get(f"/documents/{doc['document_id']}", headers={**other, "Accept": accept})
        assert r.status_code == 200 and r.headers["content-type"].startswith(accept.split(";")[0].replace("*", "plain"))
        assert "Dear guardian of" in r.text
    r = await stack.http.get(f"/documents/{doc['document_id']}", headers={**other, "Accept": "image/png"})
    assert r.status_code == 406 and "application/pdf" in r.json()["detail"]


async def _docs(stack, case_id):
    r = await stack.http.get(f"/cases/{case_id}/documents", headers=auth("leadership", OTHER_SCHOOL))
    return r.json() or None


def test_no_cjk_font_stops_the_worker_at_start_up(tmp_path):
    """Without a CJK font a Chinese page prints as empty boxes: the worker refuses to start, saying why."""
    env = {**os.environ, "CRISISFLOW_ENV": "dev", "CRISISFLOW_DATA_DIR": str(tmp_path),
           "CRISISFLOW_DOCUMENT_FONTS": '["Nonexistent Song"]'}
    done = subprocess.run([str(BIN / "crisisflow"), "worker"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "no CJK font" in done.stderr and "fonts-noto-cjk" in done.stderr


@pytest.fixture
def preview_dir() -> Path | None:
    value = os.environ.get("CRISISFLOW_SAVE_PREVIEWS")
    return Path(value) if value else None
