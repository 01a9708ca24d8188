"""How every part of crisisflow talks to Temporal: one data converter, one connect."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from config.settings import Settings
from crypto.codec import EncryptionCodec
from crypto.keyring import Keyring


def data_converter(keyring: Keyring) -> DataConverter:
    """The project's converter: pydantic JSON payloads, AES-GCM encrypted, failures encoded too.

    The worker, the API's client, the CLI, the replayer and the archive all use it.
    """
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keyring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address, namespace=settings.namespace, data_converter=data_converter(settings.payload_keyring)
    )


def workflow_id(case_id: str) -> str:
    return f"case-{case_id}"
