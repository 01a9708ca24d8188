"""Documents: a case's paper (and an extreme event's review), typeset as PDF/A and sealed on disk.

A document is made once: every form of it (the PDF and its text, in Chinese and in English)
goes in atomically under a name made from its deterministic id, then its row; a rerun finds
the row and stops. What it prints comes from ``paper.facts`` (words, never codes); the school's
name, its authority and the people's names come from the directory at render time.
"""

from __future__ import annotations

import glob
import hashlib
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

import structlog
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from crypto.sealed import engine_keyring, seal
from db import directory, store
from db.tables import DocumentRow
from models.case import DocumentRequest
from models.domain import DocumentKind
from models.incident import IncidentData
from ops import metrics
from paper.facts import TITLES, SchoolFacts, case_facts, incident_facts
from paper.typeset import TypesetFailed, Typesetter
from paper.words import Lang

log = structlog.get_logger(__name__)

PDF = "application/pdf"
TEXT = "text/plain; charset=utf-8"


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
    # the same request fails the same way every time: say so once, and let the case go on
    return ApplicationError(f"the {kind.value} document could not be made: {why}", type="RenderFailed",
                            non_retryable=True)


def school_facts(engine: Engine, school_id: str, kind: DocumentKind) -> tuple[SchoolFacts, Lang]:
    school = directory.school(engine, school_id)
    if school is None:
        raise _failed(kind, f"school {school_id} is not in the directory (crisisflow directory load)")
    province = next((a.name for a in directory.authorities_of(engine, school_id) if a.level == "province"), None)
    return (SchoolFacts(name=school.name, authority=school.authority, hotline=school.hotline,
                        province=province or ("省教育厅" if school.language == Lang.zh else "Provincial Education "
                                              "Department")),
            Lang(school.language))


def make(engine: Engine, typesetter: Typesetter, documents_dir: Path, *, document_id: str, kind: DocumentKind,
         school_id: str, main: Lang, facts_for, created_at: datetime, case_id: str | None = None,
         incident_id: str | None = None) -> DocumentRow:
    """Typeset every form of a document, seal each on disk, then record it (once)."""
    bound = log.bind(case_id=case_id, incident_id=incident_id, document_id=document_id, kind=kind.value)
    started = time.perf_counter()
    forms: dict[str, dict[str, str]] = {}
    folder = documents_dir / (case_id or f"incident-{incident_id}")
    for lang in (main, *(lang for lang in Lang if lang is not main)):
        try:
            facts = facts_for(lang)
            pdf = typesetter.pdf(kind, facts, created_at)
            text = typesetter.text(kind, facts, created_at)
        except TypesetFailed as exc:
            bound.error("document cannot be typeset", error=str(exc)[:200])
            raise _failed(kind, "its template failed") from None
        except (ValueError, OverflowError, KeyError, TypeError) as exc:  # facts that cannot be put in words
            bound.error("document cannot be rendered", error=type(exc).__name__)
            raise _failed(kind, f"its facts cannot be printed ({type(exc).__name__})") from None
        for media, suffix, data in ((PDF, "pdf", pdf), (TEXT, "txt", text.encode("utf-8"))):
            path = folder / f"{document_id}.{lang.value}.{suffix}.sealed"
            digest = store_sealed(engine, path, data, f"documents/{document_id}/{lang.value}.{suffix}")
            forms[f"{media.split(';')[0]};{lang.value}"] = {"path": str(path.resolve()), "sha256": digest}
    first = forms[f"{PDF};{main.value}"]
    row = DocumentRow(document_id=document_id, case_id=case_id, incident_id=incident_id, school_id=school_id,
                      kind=kind.value, title=TITLES[main][kind], path=first["path"], media_type=PDF,
                      sha256=first["sha256"], language=main.value, forms=forms, created_at=created_at)
    row = store.add_document(engine, row)
    metrics.document_rendered(kind.value, time.perf_counter() - started)
    bound.info("document made")
    return row


def render(engine: Engine, request: DocumentRequest, documents_dir: Path, typesetter: Typesetter) -> None:
    """A case's document, as its transition asked."""
    if store.get_document(engine, request.document_id) is not None:
        log.info("document already made", case_id=request.case.case_id, document_id=request.document_id)
        return
    case = request.case
    school, main = school_facts(engine, case.school_id, request.kind)
    people = directory.names(engine, {e.actor for e in case.events} | {case.opened_by.staff_id})
    make(engine, typesetter, documents_dir, document_id=request.document_id, kind=request.kind,
         school_id=case.school_id, main=main, case_id=case.case_id, created_at=request.created_at,
         facts_for=lambda lang: case_facts(request, school, people, lang))


def render_incident(engine: Engine, data: IncidentData, documents_dir: Path, typesetter: Typesetter) -> None:
    """An extreme event's submitted review report."""
    if store.get_document(engine, data.document_id) is not None:
        return
    kind = DocumentKind.incident_review
    school, main = school_facts(engine, data.school_id, kind)
    people = directory.names(engine, {data.submitted_by.staff_id} if data.submitted_by else set())
    make(engine, typesetter, documents_dir, document_id=data.document_id, kind=kind, school_id=data.school_id,
         main=main, incident_id=data.incident_id, created_at=data.submitted_at,
         facts_for=lambda lang: incident_facts(data, school, people, lang))
