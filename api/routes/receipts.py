"""The signed paper comes back: a scan or photo of the guardian's receipt, sealed at rest.

Its arrival can record the guardian notice or the guardian's answer, when the staff member
uploading it says so (``records``): the action goes through the workflow like any other, and
only once it is taken is the copy kept, so a refused action leaves nothing behind.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from activities.documents import store_sealed
from api.deps import ActorDep, DoorDep, EngineDep, SettingsDep
from api.errors import error_response, unprocessable
from api.routes.documents import read_form
from db import store
from db.tables import SignedCopyRow
from models.case import ActionCommand, GuardianNoticeCommand, GuardianResponseCommand, Strict
from models.domain import DocumentKind
from models.errors import Invalid, Refused
from models.records import SignedCopyFields
from paper.scans import EXTENSIONS, MAGIC, ScanError, clean

router = APIRouter(tags=["documents"])

class SignedCopyView(SignedCopyFields, Strict):
    uploaded_at: datetime


def keep_copy(engine, settings, case_id: str, document_id: str, data: bytes, media: str, staff_id: str,
              records: str | None, now: datetime) -> SignedCopyRow:
    """Seal the copy at rest (its SHA-256 recorded) and record it."""
    copy_id = uuid.uuid4().hex
    path = settings.documents_dir / case_id / f"{document_id}.signed-{copy_id}.sealed"
    digest = store_sealed(engine, path, data, f"documents/{document_id}/signed/{copy_id}")
    return store.add_signed_copy(engine, SignedCopyRow(
        copy_id=copy_id, document_id=document_id, case_id=case_id, media_type=media, size=len(data), sha256=digest,
        path=str(path.resolve()), uploaded_by=staff_id, uploaded_at=now, records=records))


@router.post("/cases/{case_id}/documents/{document_id}/signed", status_code=status.HTTP_201_CREATED,
             response_model=SignedCopyView)
async def upload_signed(
    request: Request,
    case_id: str,
    document_id: str,
    actor: ActorDep,
    engine: EngineDep,
    door: DoorDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="the scan or photo: PDF, JPEG or PNG")],
    records: Annotated[Literal["guardian_notice", "guardian_response"] | None,
                       Form(description="record this action by the paper's arrival")] = None,
    guardian_relation: Annotated[str | None, Form(max_length=200)] = None,
    decision: Annotated[Literal["consent", "refuse"] | None, Form()] = None,
    notes: Annotated[str | None, Form(max_length=4000)] = None,
) -> SignedCopyView | JSONResponse:
    """Upload the signed receipt of a guardian notice (size-capped, sealed at rest); optionally record
    the guardian notice (the paper reached the guardian) or the guardian's answer written on it."""
    document = store.get_document(engine, document_id)
    if document is None or document.case_id != case_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"document {document_id} is not a document of case {case_id}")
    if document.kind != DocumentKind.guardian_notice.value:
        raise unprocessable("path", "document_id", "only a guardian notice has a receipt to sign")
    data = await file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"file: more than the {settings.max_upload_bytes} bytes allowed")
    try:  # never kept as it came: a photo encoded afresh, a PDF drawn again (no script, no hybrid)
        data, media = await run_in_threadpool(clean, data)
    except ScanError as exc:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"file: {exc}") from None
    now = datetime.now(UTC)
    if records is not None:
        try:
            if records == "guardian_notice":
                body = GuardianNoticeCommand(notified_at=now, channel="letter", guardian_relation=guardian_relation)
            else:
                body = GuardianResponseCommand(decision=decision, by="guardian", notes=notes or None)
        except ValidationError as exc:
            field = str(exc.errors()[0]["loc"][0]) if exc.errors() else "records"
            raise unprocessable("body", field, exc.errors()[0]["msg"] if exc.errors() else "invalid") from None
        try:
            await door.act(case_id, ActionCommand(actor=actor.actor(), body=body))
        except (Refused, Invalid) as error:
            return error_response(error)  # refused (409) or invalid: nothing is kept
    row = keep_copy(engine, settings, case_id, document_id, data, media, actor.staff_id, records, now)
    return SignedCopyView.model_validate(row, from_attributes=True)


@router.get("/cases/{case_id}/documents/{document_id}/signed/{copy_id}", response_class=Response,
            responses={200: {"content": {m: {} for m in MAGIC.values()}, "description": "the signed copy"}})
async def get_signed(case_id: str, document_id: str, copy_id: str, engine: EngineDep) -> Response:
    row = store.get_signed_copy(engine, copy_id)
    if row is None or row.document_id != document_id or row.case_id != case_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"signed copy {copy_id} not found")
    document = store.get_document(engine, document_id)
    data = read_form(engine, document, row.path, row.sha256, f"documents/{document_id}/signed/{copy_id}")
    extension = EXTENSIONS.get(row.media_type, "bin")
    return Response(data, media_type=row.media_type, headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'attachment; filename="{document_id}.signed.{extension}"'})
