"""The help page's simple question (no third-party captcha, no script): a sum of two small numbers, asked in
Chinese, with its answer sealed into a signed token the form carries back. A token is good for half an hour and
for its school only; it keeps scripts that post blindly out, and the rate limits do the rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from crypto.keyring import Keyring
from crypto.links import _subkey

VALID_FOR = timedelta(minutes=30)
_DIGITS = "零一二三四五六七八九十"


def _sign(keyring: Keyring, message: str) -> str:
    key_id = keyring.keys().current
    mac = hmac.new(_subkey(keyring, key_id, "help-question"), message.encode(), hashlib.sha256).digest()
    return f"{key_id}.{base64.urlsafe_b64encode(mac[:18]).decode()}"


def ask(keyring: Keyring, school_id: str, now: datetime) -> tuple[str, str]:
    """A question (``三加五等于几？``) and the token that carries its answer."""
    a, b = secrets.randbelow(9) + 1, secrets.randbelow(9) + 1
    expires = int((now + VALID_FOR).timestamp())
    message = f"{school_id}|{a + b}|{expires}"
    payload = base64.urlsafe_b64encode(f"{expires}".encode()).decode()
    return f"{_DIGITS[a]}加{_DIGITS[b]}等于几？", f"{payload}.{_sign(keyring, message).split('.', 1)[1]}"


def check(keyring: Keyring, school_id: str, token: str, answer: str, now: datetime) -> bool:
    """Whether ``answer`` answers the question of ``token``, for this school, in time."""
    try:
        payload, mac = token.split(".", 1)
        expires = int(base64.urlsafe_b64decode(payload.encode()).decode())
        given = int(answer.strip())
    except (ValueError, UnicodeDecodeError):
        return False
    if now.timestamp() > expires or not 2 <= given <= 18:
        return False
    expected = _sign(keyring, f"{school_id}|{given}|{expires}").split(".", 1)[1]
    return hmac.compare_digest(mac, expected)
