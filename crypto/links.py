"""Secrets a person carries on paper or a phone: the guardian's one-time link and its code, and the keyed
fingerprints the public pages log instead of an address.

A link's token is derived, never stored: HMAC-SHA256 under a key derived (HKDF) from a keyring key, over the
case and the notice's event, 256 bits, URL-safe. Only its SHA-256 is kept (the link's id, ``link_id``); the
same notice made again (a retried or remade document) prints the same link, and the staff app can show the
link and code of a notice it made without keeping either. The 6-digit code is derived from the token the same
way. A fingerprint (of an address, a user agent) is keyed, so the access log cannot be searched for a guessed
address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.keyring import Keyring

CODE_DIGITS = 6


def _subkey(keyring: Keyring, key_id: str, purpose: str) -> bytes:
    root = keyring.keys().keys[key_id]
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"crisisflow/{purpose}".encode()).derive(root)


def current_key(keyring: Keyring) -> str:
    return keyring.keys().current


def link_token(keyring: Keyring, key_id: str, case_id: str, event_seq: int) -> str:
    """The one-time link's secret (256 bits, URL-safe), for the guardian notice of this case's event."""
    mac = hmac.new(_subkey(keyring, key_id, "guardian-link"), f"{case_id}\x00{event_seq}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode("ascii").rstrip("=")


def link_id(token: str) -> str:
    """What the database keeps of a link: its token's SHA-256."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def link_code(keyring: Keyring, key_id: str, token: str) -> str:
    """The 6-digit code printed beside the link (told by phone, never sent with the link)."""
    mac = hmac.new(_subkey(keyring, key_id, "guardian-code"), token.encode("ascii"), hashlib.sha256).digest()
    return f"{int.from_bytes(mac[:8], 'big') % 10 ** CODE_DIGITS:0{CODE_DIGITS}d}"


def codes_equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def fingerprint(keyring: Keyring, value: str | None) -> str:
    """A keyed fingerprint of an address or a user agent (12 hex digits): the same value, the same mark."""
    if not value:
        return "-"
    keys = keyring.keys()
    mac = hmac.new(_subkey(keyring, keys.current, "fingerprint"), value.encode("utf-8", "replace"), hashlib.sha256)
    return mac.hexdigest()[:12]
