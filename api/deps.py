"""Dependencies: settings, engine, Temporal client, the authenticated actor."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from temporalio.client import Client

from api.auth import TokenError, read_token
from models import store
from models.case import Actor
from models.domain import SCHOOL_ROLES, StaffRole
from models.policy import DeadlinePolicy
from models.settings import Settings

_bearer = HTTPBearer(auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_policy(request: Request) -> DeadlinePolicy:
    """The deadline policy in force; a new case copies it."""
    return request.app.state.policy


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_client(request: Request) -> Client:
    return request.app.state.client


def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    unauthorized = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers=unauthorized)
    try:
        return read_token(request.app.state.settings.signing_secret, credentials.credentials)
    except TokenError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers=unauthorized) from None


def school_staff(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
    """Staff of a school (not an auditor)."""
    if actor.role not in SCHOOL_ROLES:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {actor.role.value} is not school staff")
    return actor


def require_role(actor: Actor, roles: frozenset[StaffRole], what: str) -> None:
    if actor.role not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"role {actor.role.value} may not {what}; allowed: {allowed}"
        )


def case_of_own_school(engine: Engine, case_id: str, actor: Actor) -> str:
    """404 for an unknown case, 403 for another school's; returns the school id."""
    school = store.case_school(engine, case_id)
    if school is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"case {case_id} not found")
    if school != actor.school_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this case belongs to another school")
    return school


ActorDep = Annotated[Actor, Depends(school_staff)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ClientDep = Annotated[Client, Depends(get_client)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PolicyDep = Annotated[DeadlinePolicy, Depends(get_policy)]
