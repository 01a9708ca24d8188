"""How every part of crisisflow talks to Temporal: one data converter, one connect."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from models.settings import Settings


def data_converter() -> DataConverter:
    """The project's converter: pydantic JSON payloads (a codec joins it later)."""
    return pydantic_data_converter


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address, namespace=settings.namespace, data_converter=data_converter()
    )


def workflow_id(case_id: str) -> str:
    return f"case-{case_id}"
