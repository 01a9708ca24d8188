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
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

from models.keyring import Keyring

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


def seal(keyring: Keyring, plain: bytes, context: str) -> str:
    keys = keyring.keys()
    nonce = os.urandom(12)
    sealed = AESGCM(keys.keys[keys.current]).encrypt(nonce, plain, f"crisisflow/db|{context}".encode())
    return f"{PREFIX}{keys.current}:{base64.b64encode(nonce + sealed).decode()}"


def unseal(keyring: Keyring, stored: str, context: str) -> bytes:
    key_id, _, body = stored.removeprefix(PREFIX).partition(":")
    key = keyring.keys().keys.get(key_id)
    if key is None:
        raise SealError(f"{context}: sealed with key {key_id!r}, which is not in the keyring")
    raw = base64.b64decode(body)
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], f"crisisflow/db|{context}".encode())
    except InvalidTag:
        raise SealError(f"{context}: a sealed value failed authentication (altered or moved)") from None


class _Sealed(TypeDecorator):
    impl = Text
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode(self, plain: bytes) -> Any:
        raise NotImplementedError

    def legacy(self, stored: str) -> Any:
        raise NotImplementedError

    def process_bind_param(self, value: Any, dialect) -> str | None:
        if value is None:
            return None
        return seal(_keyring(dialect), self.encode(value), self.context)

    def process_result_value(self, value: str | None, dialect) -> Any:
        if value is None:
            return None
        if not value.startswith(PREFIX):
            return self.legacy(value)
        return self.decode(unseal(_keyring(dialect), value, self.context))


class SealedJSON(_Sealed):
    cache_ok = True

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()

    def decode(self, plain: bytes) -> Any:
        return json.loads(plain)

    def legacy(self, stored: str) -> Any:
        return json.loads(stored)


class SealedText(_Sealed):
    cache_ok = True

    def encode(self, value: Any) -> bytes:
        return str(value).encode()

    def decode(self, plain: bytes) -> Any:
        return plain.decode()

    def legacy(self, stored: str) -> Any:
        return stored
