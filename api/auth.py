"""Bearer tokens: HS256 JWTs signed with CRISISFLOW_SECRET. The actor of every action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from models.case import Actor
from models.domain import SCHOOL_ROLES, StaffRole

ISSUER = "crisisflow"
ALGORITHM = "HS256"


class TokenError(Exception):
    pass


def issue_token(secret: str, actor: Actor, ttl: timedelta, now: datetime | None = None) -> str:
    if actor.role in SCHOOL_ROLES and not actor.school_id:
        raise TokenError(f"a {actor.role.value} token needs a school")
    now = now or datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "sub": actor.staff_id,
        "role": actor.role.value,
        "school": actor.school_id,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(secret: str, token: str) -> Actor:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["exp", "iat", "sub"]}
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired") from None
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token: {exc}") from None
    try:
        return Actor(staff_id=claims["sub"], role=StaffRole(claims.get("role")), school_id=claims.get("school"))
    except ValueError:
        raise TokenError("invalid token: unknown role or staff id") from None
