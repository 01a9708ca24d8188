"""AES-256-GCM payload codec: nothing about a student reaches Temporal readable.

Every payload the worker, the API, the CLI or the replayer hands to Temporal
is encrypted with the keyring's current key. The metadata says which key
(``encryption-key-id``) and, for a case's payloads, which case
(``crisisflow-case``: the random case id, never anything about the student);
both are bound into the cipher as associated data, so a payload cannot be
moved to another case or re-labelled without failing to decrypt. The codec
server uses the case id to decide whether a reader may see the payload.

Payloads without our encoding pass through ``decode`` unchanged: histories
recorded before encryption (``tests/histories/``) still decode and replay.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext

from crypto.keyring import Keyring, Unreadable, decrypt, encrypt

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
CASE = "crisisflow-case"
CASE_WORKFLOW_PREFIX = "case-"


class CodecError(Exception):
    """A payload that cannot be decrypted here; the message says why, never what it holds."""


def _aad(key_id: str, case_id: str | None) -> bytes:
    return f"crisisflow/v1|{key_id}|{case_id or ''}".encode()


def payload_case(payload: Payload) -> str | None:
    """The case an encrypted payload belongs to (None: not a case's, or not encrypted)."""
    raw = payload.metadata.get(CASE)
    return raw.decode() if raw else None


def context_case(context: SerializationContext) -> str | None:
    """The case a serialization context is for: its workflow's, if that is a case's (``case-<id>``)."""
    workflow_id = getattr(context, "workflow_id", None) or ""
    return workflow_id.removeprefix(CASE_WORKFLOW_PREFIX) if workflow_id.startswith(CASE_WORKFLOW_PREFIX) else None


def is_encrypted(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == ENCODING


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, keyring: Keyring, case_id: str | None = None) -> None:
        self.keyring = keyring
        self.case_id = case_id

    def with_context(self, context: SerializationContext) -> "EncryptionCodec":
        return EncryptionCodec(self.keyring, context_case(context))

    def for_case(self, case_id: str | None) -> "EncryptionCodec":
        return EncryptionCodec(self.keyring, case_id)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.encode_sync(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.decode_sync(payloads)

    def encode_sync(self, payloads: Sequence[Payload]) -> list[Payload]:
        keys = self.keyring.keys()
        key, aad = keys.keys[keys.current], _aad(keys.current, self.case_id)
        metadata = {"encoding": ENCODING, KEY_ID: keys.current.encode()}
        if self.case_id:
            metadata[CASE] = self.case_id.encode()
        return [Payload(metadata=metadata, data=encrypt(key, p.SerializeToString(), aad)) for p in payloads]

    def decode_sync(self, payloads: Sequence[Payload]) -> list[Payload]:
        keys = self.keyring.keys()
        out = []
        for payload in payloads:
            if not is_encrypted(payload):
                out.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode()
            key = keys.keys.get(key_id)
            if key is None:
                raise CodecError(f"payload encrypted with key {key_id!r}, which is not in the keyring")
            try:
                plain = decrypt(key, payload.data, _aad(key_id, payload_case(payload)))
            except Unreadable:
                raise CodecError(
                    f"payload with key {key_id!r} failed authentication: altered, or moved from another case"
                ) from None
            out.append(Payload.FromString(plain))
        return out
