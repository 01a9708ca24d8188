"""Sealed columns: a student's name, the narrative and action details, encrypted at rest.

The read model keeps what the API must show (``cases.student``,
``cases.summary``, ``case_events.detail``) as AES-256-GCM ciphertext under
the payload keyring, so a database dump or backup reads as noise. The engine
carries the keyring (``make_engine(url, keyring=...)``); a column's name is
bound in as associated data, so a value cannot be moved to another column.
Stored form: ``sealed:v1:<key id>:<base64(nonce + ciphertext)>``. Values
written before sealing (plain JSON or text) still read.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

from crypto.keyring import Keyring, Unreadable, decrypt, encrypt

PREFIX = "sealed:v1:"


class SealError(Exception):
    pass


def _keyring(dialect) -> Keyring:
    keyring = getattr(dialect, "crisisflow_keyring", None)
    if keyring is None:
        raise SealError("this engine has no keyring: make_engine(url, keyring=...) to read or write sealed columns")
    return keyring


def engine_keyring(engine) -> Keyring:
    """The keyring an engine seals with (documents on disk use it too)."""
    return _keyring(engine.dialect)


def open_stored(keyring: Keyring, stored: bytes, context: str) -> bytes:
    """A stored blob: unsealed if sealed, as it is if written before sealing."""
    if stored.startswith(PREFIX.encode()):
        return unseal(keyring, stored.decode("ascii"), context)
    return stored


def _aad(context: str) -> bytes:
    return f"crisisflow/db|{context}".encode()


def seal(keyring: Keyring, plain: bytes, context: str) -> str:
    keys = keyring.keys()
    sealed = encrypt(keys.keys[keys.current], plain, _aad(context))
    return f"{PREFIX}{keys.current}:{base64.b64encode(sealed).decode()}"


def unseal(keyring: Keyring, stored: str, context: str) -> bytes:
    key_id, _, body = stored.removeprefix(PREFIX).partition(":")
    key = keyring.keys().keys.get(key_id)
    if key is None:
        raise SealError(f"{context}: sealed with key {key_id!r}, which is not in the keyring")
    try:
        return decrypt(key, base64.b64decode(body), _aad(context))
    except Unreadable:
        raise SealError(f"{context}: a sealed value failed authentication (altered or moved)") from None


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class Sealed(TypeDecorator):
    """A text column holding sealed values; ``dump`` and ``load`` say how a value becomes bytes and back."""

    impl = Text
    cache_ok = True

    def __init__(self, context: str, dump: Callable[[Any], bytes], load: Callable[[bytes], Any]) -> None:
        super().__init__()
        self.context, self.dump, self.load = context, dump, load

    def process_bind_param(self, value: Any, dialect) -> str | None:
        if value is None:
            return None
        return seal(_keyring(dialect), self.dump(value), self.context)

    def process_result_value(self, value: str | None, dialect) -> Any:
        if value is None:
            return None
        plain = unseal(_keyring(dialect), value, self.context) if value.startswith(PREFIX) else value.encode()
        return self.load(plain)


def SealedJSON(context: str) -> Sealed:  # noqa: N802 - reads as a column type
    return Sealed(context, _json_bytes, json.loads)


def SealedText(context: str) -> Sealed:  # noqa: N802 - reads as a column type
    return Sealed(context, lambda v: str(v).encode(), lambda b: b.decode())
