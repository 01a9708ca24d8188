"""The keyring: AES-256 keys for Temporal payloads, one of them current.

Encrypt with the current key, decrypt with any listed key; ``crisisflow keys
rotate`` adds a new current key and keeps the old ones, so histories written
before a rotation still decode and replay. The keyring is a small JSON
document, in a file (mode 0600) or inline in ``CRISISFLOW_KEYRING``::

    {"current": "k20261123-1a2b", "keys": {"k20261123-1a2b": "<base64 of 32 bytes>", ...}}

A file keyring is re-read when it changes on disk, so running workers pick up
a rotation without a restart.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
KEYRING_FILE = "keyring.json"
NONCE_BYTES = 12


class KeyringError(Exception):
    """The keyring is missing, malformed or too weak to use."""


@dataclass(frozen=True)
class Keys:
    current: str
    keys: dict[str, bytes]


class Unreadable(Exception):
    """Ciphertext that does not open under the key: altered, or bound to other associated data."""


def encrypt(key: bytes, plain: bytes, aad: bytes) -> bytes:
    """AES-256-GCM with a fresh random nonce; returns nonce + ciphertext (the one cipher crisisflow uses)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plain, aad)


def decrypt(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise Unreadable from None


def new_key_id(now: datetime | None = None) -> str:
    return f"k{(now or datetime.now(UTC)):%Y%m%d}-{secrets.token_hex(3)}"


def parse(text: str, where: str) -> Keys:
    try:
        raw = json.loads(text)
        current, encoded = raw["current"], raw["keys"]
        keys = {str(kid): base64.b64decode(value, validate=True) for kid, value in encoded.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyringError(f"{where}: not a keyring ({exc.__class__.__name__}: {exc})") from None
    if current not in keys:
        raise KeyringError(f"{where}: the current key {current!r} is not among the keys")
    for kid, key in keys.items():
        if len(key) != KEY_BYTES:
            raise KeyringError(f"{where}: key {kid!r} has {len(key)} bytes; AES-256 needs {KEY_BYTES}")
        if len(set(key)) < 8:
            raise KeyringError(f"{where}: key {kid!r} is not random (too few distinct bytes)")
    return Keys(current=current, keys=keys)


def dump(keys: Keys) -> str:
    return json.dumps(
        {"current": keys.current, "keys": {kid: base64.b64encode(k).decode() for kid, k in keys.keys.items()}},
        indent=2,
    )


def generate() -> Keys:
    kid = new_key_id()
    return Keys(current=kid, keys={kid: secrets.token_bytes(KEY_BYTES)})


def _write(path: Path, keys: Keys) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(dump(keys))
    os.replace(tmp, path)  # readers see the old or the new keyring, never half of one


def ensure_file(path: Path) -> Path:
    """Create a keyring file with one fresh key, unless one is there."""
    if not path.exists():
        _write(path, generate())
    return path


def rotate(path: Path) -> str:
    """Add a new current key to the keyring file; the old keys stay for decrypting."""
    keys = parse(path.read_text(), str(path))
    kid = new_key_id()
    while kid in keys.keys:
        kid = new_key_id()
    _write(path, Keys(current=kid, keys={**keys.keys, kid: secrets.token_bytes(KEY_BYTES)}))
    return kid


class Keyring:
    """The keys in force; a file source is re-read when its modification time changes."""

    def __init__(self, source: str) -> None:
        self._lock = threading.Lock()
        inline = source.lstrip().startswith("{")
        self._raw_inline = source if inline else ""
        self._path = None if inline else Path(source)
        self._stamp: tuple[int, int] | None = None
        self._keys = self._load()

    @property
    def source(self) -> str:
        return "CRISISFLOW_KEYRING" if self._path is None else str(self._path)

    def _load(self) -> Keys:
        if self._path is None:
            return parse(self._raw_inline, "CRISISFLOW_KEYRING")
        try:
            stat = self._path.stat()
            keys = parse(self._path.read_text(), str(self._path))
        except OSError as exc:
            raise KeyringError(f"{self._path}: cannot read the keyring ({exc.strerror})") from None
        self._stamp = (stat.st_mtime_ns, stat.st_size)
        return keys

    def keys(self) -> Keys:
        if self._path is not None:
            try:
                stat = self._path.stat()
            except OSError:
                return self._keys  # a file being replaced; keep the keys we have
            if (stat.st_mtime_ns, stat.st_size) != self._stamp:
                with self._lock:
                    self._keys = self._load()
        return self._keys


