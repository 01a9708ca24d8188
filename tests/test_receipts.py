"""The guardian's signed receipt comes back as a scan or photo: sealed at rest, size-capped, and, when
staff say so, recording the guardian notice; a refused action keeps nothing."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image
from sqlmodel import Session, select

from db.tables import SignedCopyRow
from tests.conftest import auth
from tests.support import ASSESS_HIGH, eventually, open_case, step, workflow_view


def png(width: int = 4, height: int = 4) -> bytes:
    """A real (tiny, grey) PNG, as a phone's photo would be."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


async def test_the_signed_receipt_is_kept_sealed_and_records_the_notice(sqlite_stack):
    stack = sqlite_stack
    case_id = (await open_case(stack))["case_id"]
    await step(stack, case_id, "assess", ASSESS_HIGH)

    async def notice():
        docs = (await stack.http.get(f"/cases/{case_id}/documents", headers=auth("head_teacher"))).json()
        return next((d for d in docs if d["kind"] == "guardian_notice"), None)

    doc = await eventually(notice, timeout=30)
    url = f"/cases/{case_id}/documents/{doc['document_id']}/signed"
    photo = png()

    # the answer cannot be recorded before a referral: refused, and nothing kept
    r = await stack.http.post(url, files={"file": ("receipt.png", photo, "image/png")},
                              data={"records": "guardian_response", "decision": "consent"},
                              headers=auth("head_teacher"))
    assert r.status_code == 409 and "guardian_notice" in r.json()["allowed_actions"]
    with Session(stack.engine) as session:
        assert session.exec(select(SignedCopyRow)).all() == []
    # not a scan or a photo; too large
    r = await stack.http.post(url, files={"file": ("x.gif", b"GIF89a....", "image/png")}, headers=auth("head_teacher"))
    assert r.status_code == 415 and "file" in r.json()["detail"]
    big = b"%PDF-" + b"0" * (10 * 1024 * 1024)
    r = await stack.http.post(url, files={"file": ("big.pdf", big, "application/pdf")}, headers=auth("head_teacher"))
    assert r.status_code == 413

    r = await stack.http.post(url, files={"file": ("receipt.png", photo, "image/png")},
                              data={"records": "guardian_notice", "guardian_relation": "母亲"},
                              headers=auth("head_teacher"))
    assert r.status_code == 201, r.text
    copy = r.json()
    assert copy["media_type"] == "image/png" and copy["records"] == "guardian_notice"
    view = await workflow_view(stack, case_id)
    assert any(e["action"] == "guardian_notice" for e in view["events"])
    assert next(d for d in view["deadlines"] if d["obligation"] == "guardian_notice")["met_at"] is not None
    stored = next((stack.settings.documents_dir / case_id).glob(f"*signed-{copy['copy_id']}.sealed")).read_bytes()
    assert stored.startswith(b"sealed:v1:") and photo not in stored
    back = await stack.http.get(f"{url}/{copy['copy_id']}", headers=auth("head_teacher"))
    assert back.status_code == 200 and back.headers["content-type"] == "image/png"
    # the photo as kept: encoded afresh (nothing but its pixels), served as a download that is never sniffed
    assert Image.open(io.BytesIO(back.content)).tobytes() == Image.open(io.BytesIO(photo)).convert("RGB").tobytes()
    assert back.headers["x-content-type-options"] == "nosniff"
    assert back.headers["content-disposition"].startswith("attachment;")
