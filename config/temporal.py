"""How every part of crisisflow talks to Temporal: one data converter, one connect."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from threading import Lock

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    SerializationContext,
    WithSerializationContext,
)

from config.settings import Settings
from crypto.codec import EncryptionCodec, context_case
from crypto.keyring import Keyring

#: Converters bound to a case kept at once (the SDK asks for one per payload it converts).
_BOUND = 4096


@dataclasses.dataclass(frozen=True)
class CaseBoundConverter(DataConverter):
    """The SDK's converter, bound to a case once per case instead of once per payload.

    The codec binds the case id into each payload (``crypto/codec.py``), so the SDK asks for a
    converter "with context" for every payload it encodes or decodes. ``DataConverter.with_context``
    answers with a clone, and cloning runs ``__post_init__``, which builds a whole new payload
    converter chain that is then thrown away. Only the codec depends on the context here (by the
    case, nothing else), so the bound converter of each case is made once and kept (bounded).
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "_bound", OrderedDict())
        object.__setattr__(self, "_bound_lock", Lock())

    def with_context(self, context: SerializationContext) -> DataConverter:
        if (isinstance(self.failure_converter, WithSerializationContext) or self.external_storage is not None
                or self.payload_converter.with_context(context) is not self.payload_converter):
            return super().with_context(context)  # something beside the codec reads the context
        case = context_case(context)
        with self._bound_lock:
            bound = self._bound.get(case)
            if bound is not None:
                self._bound.move_to_end(case)
                return bound
        bound = super().with_context(context)
        with self._bound_lock:
            self._bound[case] = bound
            if len(self._bound) > _BOUND:
                self._bound.popitem(last=False)
        return bound


def data_converter(keyring: Keyring) -> DataConverter:
    """The project's converter: pydantic JSON payloads, AES-GCM encrypted, failures encoded too.

    The worker, the API's client, the CLI, the replayer and the archive all use it.
    """
    return CaseBoundConverter(
        payload_converter_class=pydantic_data_converter.payload_converter_class,
        payload_codec=EncryptionCodec(keyring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings, **options) -> Client:
    """A client with the project's converter; ``options`` go to ``Client.connect`` (a long-running
    service's runtime and interceptors: ``ops.service_options``)."""
    return await Client.connect(
        settings.temporal_address, namespace=settings.namespace,
        data_converter=data_converter(settings.payload_keyring), **options,
    )


def workflow_id(case_id: str) -> str:
    return f"case-{case_id}"
