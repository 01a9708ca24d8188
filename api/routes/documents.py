"""Notifications and documents of a case (the content stays behind the API)."""

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from activities import documents
from activities.case_activities import typesetter_for
from api.access import PrincipalDep
from api.deps import ActorDep, DoorDep, EngineDep
from db import store
from db.tables import DocumentRow
from models.case import DocumentView, NotificationView
from models.domain import AUTHORITY_READS, DocumentKind, StaffRole
from paper.typeset import TypesetFailed

router = APIRouter(tags=["documents"])
log = structlog.get_logger(__name__)

PDF = "application/pdf"
TEXT_TYPES = ("text/plain", "text/markdown")


@router.get("/cases/{case_id}/notifications", response_model=list[NotificationView])
async def case_notifications(case_id: str, engine: EngineDep) -> list[NotificationView]:
    """The case's outbox: who was told to act, on what, by when, and whether it was delivered."""
    return store.notifications_for(engine, case_id)


@router.get("/cases/{case_id}/documents", response_model=list[DocumentView])
async def case_documents(case_id: str, engine: EngineDep) -> list[DocumentView]:
    return store.documents_for(engine, case_id)


@router.post("/cases/{case_id}/documents/{kind}/remake", response_model=DocumentView)
async def remake_document(case_id: str, kind: DocumentKind, actor: ActorDep, engine: EngineDep,
                          door: DoorDep) -> DocumentView:
    """Make again a document of the case that failed for good, once its cause is mended (leadership, or the
    case's owner; another psychology teacher is refused). 409 when none failed, or when it fails again,
    saying why in Chinese."""
    document_id = await door.remake(case_id, kind, actor.actor())
    return next(d for d in store.documents_for(engine, case_id) if d.document_id == document_id)


_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?", re.ASCII)


def _wanted(accept: str | None) -> str:
    """The media type to answer with: the PDF unless the caller prefers a text form."""
    best, best_q = PDF, -1.0
    for part in (accept or PDF).split(","):
        media, *params = (p.strip() for p in part.split(";"))
        stated = next((p[2:] for p in params if p.lower().startswith("q=")), "1")
        if not _QVALUE.fullmatch(stated):  # RFC 9110: 0 to 1, three decimals at most, ASCII digits
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"Accept: the q-value of {media[:40]!r} is not a "
                                                             "number from 0 to 1 (q=0.5)")
        q = float(stated)
        media = media.lower()
        if media in (PDF, "application/*", "*/*") and q > best_q:
            best, best_q = PDF, q
        elif (media in TEXT_TYPES or media == "text/*") and q > best_q:
            best, best_q = ("text/plain" if media == "text/*" else media), q
    if best_q <= 0:
        raise HTTPException(status.HTTP_406_NOT_ACCEPTABLE,
                            "Accept: a document is served as application/pdf, text/plain or text/markdown")
    return best


def read_form(engine, row: DocumentRow, path: str, sha256: str, context: str) -> bytes:
    """A stored form, unsealed and checked against the SHA-256 recorded when it was made."""
    try:
        return documents.read_stored(engine, row, path, sha256, context)
    except documents.DocumentDamaged as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc)) from None


async def form_of(request: Request, row: DocumentRow, media: str, language: str) -> tuple[bytes, str] | None:
    """A document's form (made on first request when it is not yet kept) and its SHA-256; None if it has none."""
    typesetter = typesetter_for(request.app.state.settings)
    try:
        return await run_in_threadpool(documents.form, request.app.state.engine, typesetter, row, media, language)
    except documents.DocumentDamaged as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc)) from None
    except TypesetFailed:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR,
                            "this form of the document cannot be typeset") from None


@router.get(
    "/documents/{document_id}",
    response_class=Response,
    responses={200: {"content": {PDF: {}, "text/plain": {}, "text/markdown": {}},
                     "description": "the document: PDF/A by default, its text on request"},
               406: {"description": "an Accept no form matches"}},
)
async def get_document(
    request: Request,
    document_id: str,
    engine: EngineDep,
    principal: PrincipalDep,
    lang: Annotated[Literal["zh-CN", "en"] | None, Query(description="the language; the school's by default")] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The document itself (PDF/A, or its text form); every form is checked against its recorded SHA-256."""
    row = store.get_document(engine, document_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"document {document_id} not found")
    if principal.role is StaffRole.edu_authority and DocumentKind(row.kind) not in AUTHORITY_READS:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "role edu_authority may read authority reports and incident reviews, not this document")
    media = _wanted(accept)
    language = lang or row.language
    headers = {"Cache-Control": "no-store", "X-Document-Kind": row.kind, "Content-Language": language}
    if not row.forms:  # made before paper: the Markdown it was made as
        if media == PDF and accept is not None and "text/" not in accept:
            raise HTTPException(status.HTTP_406_NOT_ACCEPTABLE,
                                "this document was made before PDFs: it is served as text/markdown")
        data = read_form(engine, row, row.path, row.sha256, f"documents/{document_id}")
        return Response(data, media_type=row.media_type, headers={**headers, "ETag": f'"{row.sha256}"'})
    found = await form_of(request, row, PDF if media == PDF else "text/plain", language)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"lang: document {document_id} has no {language} form")
    data, sha256 = found
    store.mark_read(engine, principal.staff_id, row.document_id, datetime.now(UTC))  # the reports page's 未读
    media_type = PDF if media == PDF else f"{media}; charset=utf-8"
    headers["ETag"] = f'"{sha256}"'
    if media == PDF:
        headers["Content-Disposition"] = f'inline; filename="{document_id}.pdf"'
    return Response(data, media_type=media_type, headers=headers)
