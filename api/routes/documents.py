"""Notifications and documents of a case (the content stays behind the API)."""

import hashlib
from pathlib import Path

import structlog
from fastapi import APIRouter, HTTPException, status
from fastapi.responses import Response

from api.deps import EngineDep
from crypto.sealed import SealError, engine_keyring, open_stored
from models import store
from models.case import DocumentView, NotificationView

router = APIRouter(tags=["documents"])
log = structlog.get_logger(__name__)


@router.get("/cases/{case_id}/notifications", response_model=list[NotificationView])
async def case_notifications(case_id: str, engine: EngineDep) -> list[NotificationView]:
    """The case's outbox: who was told to act, on what, by when, and whether it was delivered."""
    return store.notifications_for(engine, case_id)


@router.get("/cases/{case_id}/documents", response_model=list[DocumentView])
async def case_documents(case_id: str, engine: EngineDep) -> list[DocumentView]:
    return store.documents_for(engine, case_id)


@router.get(
    "/documents/{document_id}",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}, "description": "the document, as rendered"}},
)
async def get_document(document_id: str, engine: EngineDep) -> Response:
    """The document itself; its SHA-256 is checked against the one recorded when it was made."""
    found = store.get_document(engine, document_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"document {document_id} not found")
    meta, path = found
    try:
        stored = Path(path).read_bytes()
    except OSError:
        log.error("document file missing", case_id=meta.case_id, document_id=document_id)
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "document file is missing") from None
    try:
        data = open_stored(engine_keyring(engine), stored, f"documents/{document_id}")
    except SealError:
        log.error("document cannot be unsealed", case_id=meta.case_id, document_id=document_id)
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "document failed its integrity check") from None
    if hashlib.sha256(data).hexdigest() != meta.sha256:
        log.error("document failed integrity check", case_id=meta.case_id, document_id=document_id)
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "document failed its integrity check")
    return Response(
        content=data,
        media_type=meta.media_type,
        headers={"ETag": f'"{meta.sha256}"', "Cache-Control": "no-store", "X-Document-Kind": meta.kind.value},
    )
