"""Documents: a case's paper (and an extreme event's review), typeset as PDF/A and sealed on disk.

A document is made once, off the click's path, by the worker: its PDF in the school's language and
its facts in every language (what each form prints, sealed as one file) go in atomically under
names made from its deterministic id, then its row; a rerun finds the row and stops. Its other
forms (the text form, the other language) are made from those facts on first request
(:func:`form`), sealed and kept: the same facts and time give the same bytes, so they say what
the paper said the day it was made. What it prints comes from ``paper.facts`` (words, never
codes); the school's name, its authority and the people's names come from the directory at
render time.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

import structlog
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from crypto.sealed import SealError, engine_keyring, open_stored, seal
from db import directory, guardian_links, store, term_report
from db.tables import DocumentRow
from models.case import DocumentRequest
from models.domain import DocumentKind
from models.incident import IncidentData
from models.term_report import TermReportRequest, term_document_id
from ops import metrics
from paper.facts import TITLES, SchoolFacts, case_facts, incident_facts, term_facts
from paper.typeset import TypesetFailed, Typesetter
from paper.words import Lang
from workflows.machine import GUARDIAN_ONLINE

log = structlog.get_logger(__name__)

PDF = "application/pdf"
TEXT = "text/plain; charset=utf-8"
#: The key of a document's sealed facts among its forms (``DocumentRow.forms``).
FACTS = "facts"


class DocumentDamaged(RuntimeError):
    """A stored form is missing, or fails its seal or its recorded SHA-256."""


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it into place. A process killed mid-write
    leaves its temporary file behind: the write that succeeds after it (the activity's retry) removes
    those of the same target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for left in path.parent.glob(f".tmp-{glob.escape(path.name)}-*"):
        left.unlink(missing_ok=True)


def store_sealed(engine: Engine, path: Path, data: bytes, context: str) -> str:
    """Write ``data`` sealed (it names a student) and return its SHA-256 (of the plain bytes)."""
    _write_atomically(path, seal(engine_keyring(engine), data, context).encode("ascii"))
    return hashlib.sha256(data).hexdigest()


def _failed(kind: DocumentKind, why: str) -> ApplicationError:
    """The same request fails the same way every time: say so once, in Chinese (the message is what a remake
    answers and what the case's record keeps), and let the case go on."""
    return ApplicationError(why, type="RenderFailed", non_retryable=True)


def school_facts(engine: Engine, school_id: str, kind: DocumentKind) -> tuple[SchoolFacts, Lang]:
    """The school as its paper names it: its name, its contact and hotlines, and its two addressees by name from
    the directory (the local authority it reports to; the province the policy names, 上报省教育厅)."""
    school = directory.school(engine, school_id)
    if school is None:
        raise _failed(kind, "学校不在名录中：请系统管理员载入学校名录（crisisflow directory load）后重新生成")
    over = directory.authorities_of(engine, school_id)
    local = next((a.name for a in over if a.level == "local"), school.authority)
    province = next((a.name for a in over if a.level == "province"), None)
    return (SchoolFacts(name=school.name, authority=local, contact_name=school.contact_name,
                        contact_phone=school.contact_phone, hotlines=school.hotlines or [],
                        province=province or ("省教育厅" if school.language == Lang.zh else "Provincial Education "
                                              "Department")),
            Lang(school.language))


def make(engine: Engine, typesetter: Typesetter, documents_dir: Path, *, document_id: str, kind: DocumentKind,
         school_id: str, main: Lang, facts_for, created_at: datetime, case_id: str | None = None,
         incident_id: str | None = None) -> DocumentRow:
    """Typeset the document in the school's language, seal it and its facts in every language on disk, then
    record it (once). A case's and an event's documents are kept in their own folder; a school's own (its term
    reports) in the school's."""
    bound = log.bind(case_id=case_id, incident_id=incident_id, document_id=document_id, kind=kind.value)
    started = time.perf_counter()
    folder = documents_dir / (case_id or (f"incident-{incident_id}" if incident_id else f"school-{school_id}"))
    try:
        facts = {lang.value: facts_for(lang) for lang in (main, *(lang for lang in Lang if lang is not main))}
        pdf = typesetter.pdf(kind, facts[main.value], created_at)
        sealed_facts = json.dumps({"made_at": created_at.isoformat(), "facts": facts}, ensure_ascii=False)
    except TypesetFailed as exc:
        bound.error("document cannot be typeset", error=str(exc)[:200])
        raise _failed(kind, "文书模板出错：请系统管理员检查学校的文书模板后重新生成") from None
    except (ValueError, OverflowError, KeyError, TypeError) as exc:  # facts that cannot be put in words
        bound.error("document cannot be rendered", error=type(exc).__name__)
        raise _failed(kind, "文书内容无法排版：请系统管理员查看日志后重新生成") from None
    forms: dict[str, dict] = {}
    for key, name, data in ((f"{PDF};{main.value}", f"{main.value}.pdf", pdf),
                            (FACTS, "facts.json", sealed_facts.encode("utf-8"))):
        path = folder / f"{document_id}.{name}.sealed"
        forms[key] = {"path": str(path.resolve()),
                      "sha256": store_sealed(engine, path, data, f"documents/{document_id}/{name}")}
    forms[FACTS]["languages"] = list(facts)
    first = forms[f"{PDF};{main.value}"]
    row = DocumentRow(document_id=document_id, case_id=case_id, incident_id=incident_id, school_id=school_id,
                      kind=kind.value, title=TITLES[main][kind], path=first["path"], media_type=PDF,
                      sha256=first["sha256"], language=main.value, forms=forms, created_at=created_at)
    row = store.add_document(engine, row)
    metrics.document_rendered(kind.value, time.perf_counter() - started)
    bound.info("document made")
    return row


def read_stored(engine: Engine, row: DocumentRow, path: str, sha256: str, context: str) -> bytes:
    """A stored form, unsealed and checked against the SHA-256 recorded when it was made."""
    try:
        stored = Path(path).read_bytes()
    except OSError:
        log.error("document file missing", case_id=row.case_id, document_id=row.document_id)
        raise DocumentDamaged("document file is missing") from None
    try:
        data = open_stored(engine_keyring(engine), stored, context)
    except SealError:
        log.error("document cannot be unsealed", case_id=row.case_id, document_id=row.document_id)
        raise DocumentDamaged("document failed its integrity check") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        log.error("document failed integrity check", case_id=row.case_id, document_id=row.document_id)
        raise DocumentDamaged("document failed its integrity check")
    return data


def form(engine: Engine, typesetter: Typesetter, row: DocumentRow, media: str, lang: str) -> tuple[bytes, str] | None:
    """A form of a document (``media``: application/pdf or text/plain) and its SHA-256: as stored, or made now from
    the facts sealed with it (the first request for it), sealed beside it and kept. None when the document has no
    such form (one made before its facts were kept has the forms it was made with)."""
    suffix = "pdf" if media == PDF else "txt"
    key, forms = f"{media};{lang}", row.forms or {}
    if key in forms:
        data = read_stored(engine, row, forms[key]["path"], forms[key]["sha256"],
                           f"documents/{row.document_id}/{lang}.{suffix}")
        return data, forms[key]["sha256"]
    if FACTS not in forms:
        return None
    kept = json.loads(read_stored(engine, row, forms[FACTS]["path"], forms[FACTS]["sha256"],
                                  f"documents/{row.document_id}/facts.json"))
    if lang not in kept["facts"]:
        return None
    kind, facts, made_at = DocumentKind(row.kind), kept["facts"][lang], datetime.fromisoformat(kept["made_at"])
    started = time.perf_counter()
    data = (typesetter.pdf(kind, facts, made_at) if media == PDF
            else typesetter.text(kind, facts, made_at).encode("utf-8"))
    path = Path(forms[FACTS]["path"]).parent / f"{row.document_id}.{lang}.{suffix}.sealed"
    digest = store_sealed(engine, path, data, f"documents/{row.document_id}/{lang}.{suffix}")
    store.add_form(engine, row.document_id, key, {"path": str(path.resolve()), "sha256": digest})
    log.info("document form made", case_id=row.case_id, document_id=row.document_id, form=key,
             ms=round((time.perf_counter() - started) * 1000))
    return data, digest


def whole_history(engine: Engine, request: DocumentRequest) -> DocumentRequest:
    """The request with every event of the case up to its own, from every run: the workflow carries only
    the latest event of each action, the read model keeps them all (and the request's own events, which
    the read model may not hold yet, are added)."""
    stored = store.case_events(engine, request.case.case_id, upto=request.event_seq)
    carried = {e.seq: e for e in request.case.events if e.seq <= request.event_seq}
    events = sorted({**{e.seq: e for e in stored}, **carried}.values(), key=lambda e: e.seq)
    return request.model_copy(update={"case": request.case.model_copy(update={"events": events})})


def answer_link(engine: Engine, request: DocumentRequest, public_url: str) -> dict | None:
    """The guardian notice's one-time answer link (GUARDIAN_ONLINE), made once with the notice (the same notice
    made again prints the same link); None for other documents and for cases without online answers."""
    case = request.case
    if request.kind is not DocumentKind.guardian_notice or GUARDIAN_ONLINE not in case.features:
        return None
    token, code = guardian_links.make(engine, case_id=case.case_id, school_id=case.school_id,
                                      event_seq=request.event_seq, document_id=request.document_id,
                                      created_at=request.created_at, valid_for=case.policy.guardian_answer_within)
    return {"url": link_url(public_url, token), "code": code,
            "expires_at": request.created_at + case.policy.guardian_answer_within}


def link_url(public_url: str, token: str) -> str:
    """Where the guardian answers: the public page of the link (api/web/guardian.py)."""
    return f"{public_url.rstrip('/')}/g/{token}"


def render(engine: Engine, request: DocumentRequest, documents_dir: Path, typesetter: Typesetter,
           public_url: str = "http://127.0.0.1:8000") -> None:
    """A case's document, as its transition asked."""
    if store.get_document(engine, request.document_id) is not None:
        log.info("document already made", case_id=request.case.case_id, document_id=request.document_id)
        return
    request = whole_history(engine, request)
    case = request.case
    school, main = school_facts(engine, case.school_id, request.kind)
    people = directory.names(engine, {e.actor for e in case.events} | {case.opened_by.staff_id})
    link = answer_link(engine, request, public_url)
    make(engine, typesetter, documents_dir, document_id=request.document_id, kind=request.kind,
         school_id=case.school_id, main=main, case_id=case.case_id, created_at=request.created_at,
         facts_for=lambda lang: case_facts(request, school, people, lang, link))


def render_incident(engine: Engine, data: IncidentData, documents_dir: Path, typesetter: Typesetter) -> None:
    """An extreme event's submitted review report."""
    if store.get_document(engine, data.document_id) is not None:
        return
    kind = DocumentKind.incident_review
    school, main = school_facts(engine, data.school_id, kind)
    people = directory.names(engine, ({data.submitted_by.staff_id} if data.submitted_by else set())
                             | set(data.group.members if data.group else []))
    investigator = directory.authority(engine, data.investigators[0]) if data.investigators else None
    author = investigator.name if investigator is not None and data.by_authority else None
    make(engine, typesetter, documents_dir, document_id=data.document_id, kind=kind, school_id=data.school_id,
         main=main, incident_id=data.incident_id, created_at=data.submitted_at,
         facts_for=lambda lang: incident_facts(data, school, people, lang, author))


def render_term(engine: Engine, request: TermReportRequest, documents_dir: Path, typesetter: Typesetter) -> str:
    """A school's term report: its figures counted now (masked under 5), typeset, recorded once."""
    document_id = term_document_id(request.school_id, request.term)
    if store.get_document(engine, document_id) is not None:
        return document_id
    kind = DocumentKind.term_report
    school, main = school_facts(engine, request.school_id, kind)
    counted = term_report.figures(engine, request.school_id, request.term, request.sent_at)
    people = directory.names(engine, {request.sent_by})
    make(engine, typesetter, documents_dir, document_id=document_id, kind=kind, school_id=request.school_id,
         main=main, created_at=request.sent_at,
         facts_for=lambda lang: term_facts(counted, request, school, people, lang))
    return document_id
