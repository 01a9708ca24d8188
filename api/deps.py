"""Dependencies: settings, engine, Temporal client, the authorized caller (see api/access.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from temporalio.client import Client

from api.access import PrincipalDep
from config.settings import Settings
from door import Door
from models.policy import DeadlinePolicy


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_policy(request: Request) -> DeadlinePolicy:
    """The deadline policy in force; a new case copies it."""
    return request.app.state.policy


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_client(request: Request) -> Client:
    return request.app.state.client


def get_door(request: Request) -> Door:
    """The one door to the workflows (``door/``)."""
    return request.app.state.door


ActorDep = PrincipalDep
EngineDep = Annotated[Engine, Depends(get_engine)]
ClientDep = Annotated[Client, Depends(get_client)]
DoorDep = Annotated[Door, Depends(get_door)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PolicyDep = Annotated[DeadlinePolicy, Depends(get_policy)]
