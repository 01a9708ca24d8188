"""Bearer tokens: HS256 JWTs signed with CRISISFLOW_SECRET. The actor of every action.

A token carries the signing key's id (``kid``, a fingerprint of the secret) so a
secret can be rotated: the new one signs, the previous ones
(``CRISISFLOW_PREVIOUS_SECRETS``) still verify until their tokens expire.
An auditor's token may carry the ``auditor_pii`` grant: only then does an
auditor see students' names and narratives.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from config.settings import key_id
from models.case import Actor
from models.domain import SCHOOL_ROLES, StaffRole

ISSUER = "crisisflow"
ALGORITHM = "HS256"
MAX_TTL = timedelta(days=7)
AUDITOR_PII = "auditor_pii"


class TokenError(Exception):
    pass


class Principal(Actor):
    """The bearer of a token: the actor, and the grants that travel only with the token."""

    pii_grant: bool = False

    def actor(self) -> Actor:
        """The actor as recorded in a case (grants are not part of the record)."""
        return Actor(staff_id=self.staff_id, role=self.role, school_id=self.school_id)


def issue_token(secret: str, actor: Actor, ttl: timedelta, now: datetime | None = None, pii_grant: bool = False) -> str:
    if actor.role in SCHOOL_ROLES and not actor.school_id:
        raise TokenError(f"a {actor.role.value} token needs a school")
    if pii_grant and actor.role is not StaffRole.auditor:
        raise TokenError("the auditor_pii grant is for auditors only")
    if not timedelta(0) < ttl <= MAX_TTL:
        raise TokenError(f"a token lives between 1 second and {MAX_TTL.days} days")
    now = now or datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "sub": actor.staff_id,
        "role": actor.role.value,
        "school": actor.school_id,
        "grants": [AUDITOR_PII] if pii_grant else [],
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"kid": key_id(secret)})


def _seconds(value) -> bool:
    """A time claim as RFC 7519 has it: a number (never a string, a boolean or a list), finite and sane."""
    return type(value) in (int, float) and 0 <= value < 2**40


def read_token(keys: dict[str, str], token: str) -> Principal:
    """Verify with the secret the token's ``kid`` names; ``keys`` maps key ids to secrets."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token: {exc}") from None
    if kid not in keys:
        raise TokenError("invalid token: signed with an unknown key (kid)")
    try:
        claims = jwt.decode(
            token, keys[kid], algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["exp", "iat", "sub"]}
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired") from None
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token: {exc}") from None
    except (TypeError, ValueError, OverflowError):  # a claim of a type PyJWT does not expect (iat: [])
        raise TokenError("invalid token: a time claim (exp, iat) is not a number of seconds") from None
    if not all(_seconds(claims[name]) for name in ("exp", "iat")):
        raise TokenError("invalid token: a time claim (exp, iat) is not a number of seconds")
    if not isinstance(claims["sub"], str) or not isinstance(claims.get("grants") or [], list) or not all(
            isinstance(claims.get(name), str | None) for name in ("role", "school")):
        raise TokenError("invalid token: sub, role and school are text, grants a list")
    if claims["exp"] - claims["iat"] > MAX_TTL.total_seconds():
        raise TokenError(f"invalid token: it lives longer than the {MAX_TTL.days} days a token may")
    if claims["iat"] > datetime.now(UTC).timestamp() + 300:
        raise TokenError("invalid token: issued in the future")
    try:
        return Principal(
            staff_id=claims["sub"],
            role=StaffRole(claims.get("role")),
            school_id=claims.get("school"),
            pii_grant=AUDITOR_PII in (claims.get("grants") or []),
        )
    except ValueError:
        raise TokenError("invalid token: unknown role or staff id") from None
