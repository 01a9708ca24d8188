"""The codec server for the Temporal UI: ``POST /codec/decode`` and ``/codec/encode``.

The UI (``--ui-codec-endpoint http://<api>/codec``) posts payloads as
``{"payloads": [{"metadata": {...}, "data": "..."}]}`` (protobuf JSON, bytes in
base64). Decoding shows student data, so it is allowed only to roles that
see who the student is (``api/access.py``), and only for payloads of cases
in the caller's scope (their school, and for a head teacher or grade head
their classes, as every case route: ``store.sees_case``): each encrypted
payload names its case in the metadata. A caller without a token gets 401; the UI then shows ciphertext.
CORS admits the UI's origins only (``CRISISFLOW_UI_ORIGINS``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, status
from google.protobuf import json_format
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload

from api.access import RULES, in_scope
from api.deps import ActorDep, EngineDep
from api.errors import unprocessable
from crypto.codec import CodecError, EncryptionCodec, is_encrypted, payload_case
from db import directory, store

router = APIRouter(prefix="/codec", tags=["codec"])

MAX_PAYLOADS = 500


class PayloadJSON(BaseModel):
    metadata: dict[str, Annotated[str, Field(max_length=4096)]] = {}
    data: Annotated[str, Field(max_length=8 * 1024 * 1024)] = ""


class Payloads(BaseModel):
    payloads: Annotated[list[PayloadJSON], Field(max_length=MAX_PAYLOADS)]


def _parse(body: Payloads) -> list[Payload]:
    out = []
    for i, item in enumerate(body.payloads):
        try:
            out.append(json_format.ParseDict(item.model_dump(), Payload()))
        except json_format.ParseError as exc:
            raise unprocessable("body", f"payloads.{i}", f"not a payload ({exc})") from None
    return out


def _render(payloads: list[Payload]) -> Payloads:
    return Payloads(payloads=[PayloadJSON(**json_format.MessageToDict(p)) for p in payloads])


def _codec(request: Request) -> EncryptionCodec:
    return request.app.state.client.data_converter.payload_codec


@router.post("/decode", response_model=Payloads)
def decode(body: Payloads, actor: ActorDep, engine: EngineDep, request: Request) -> Payloads:
    """Decrypt payloads of cases the caller may read; any other case's payload refuses the whole call."""
    payloads = _parse(body)
    cases = sorted({payload_case(p) or "" for p in payloads if is_encrypted(p)})
    classes = directory.visible_classes(engine, actor.staff_id, actor.role)
    for case_id in cases:
        school = store.case_school(engine, case_id) if case_id else None
        # the school's scope, then the class's: the codec reveals a case as its page does (store.sees_case)
        if not in_scope(RULES["POST /codec/decode"], actor, school) or (
                case_id and not store.sees_case(engine, case_id, actor.staff_id, classes)):
            which = f"case {case_id}" if case_id else "no case"
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"payloads of {which}: outside what you may read")
    if len(cases) == 1 and cases[0]:
        request.state.access.case_id = cases[0]
    try:
        return _render(_codec(request).decode_sync(payloads))
    except CodecError as exc:
        raise unprocessable("body", "payloads", str(exc)) from None


@router.post("/encode", response_model=Payloads)
def encode(body: Payloads, request: Request) -> Payloads:
    """Encrypt payloads (what the UI sends, e.g. a query's arguments) with the current key."""
    return _render(_codec(request).for_case(None).encode_sync(_parse(body)))
