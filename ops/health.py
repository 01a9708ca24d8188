"""Liveness and readiness.

``/livez``: the process answers (nothing else is asked: a process that answers is not restarted for
what lies outside it). ``/readyz``: everything a request or a case needs is reachable, each check
bounded by ``CHECK_SECONDS``:

- ``database``: the read model answers a query;
- ``temporal``: the frontend's health service says it is serving;
- ``keyring``: the payload keyring can be read and its current key seals and opens a probe;
- ``worker``: the Temporal server saw a worker poll the case task queue lately (for a worker
  process: this worker itself).

An orchestrator sends traffic to, and compose waits for, a process that is ready; the answer names
what is not.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from config.settings import Settings
from crypto.keyring import Keyring, decrypt, encrypt

#: each check's limit: a probe answers within a few seconds whatever hangs
CHECK_SECONDS = 3.0
#: a worker long-polls for up to a minute: one seen within this long is polling
POLLED_WITHIN = timedelta(seconds=90)
KINDS = {"workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY}


@dataclass
class Probes:
    """What a process checks: its engine and client, and, for a worker, its own identity."""

    settings: Settings
    engine: Engine
    client: Client
    worker_identity: str | None = None  # a worker process: this worker must be among the pollers

    def _database(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1")).one()

    async def database(self) -> None:
        await asyncio.to_thread(self._database)

    async def temporal(self) -> None:
        if not await self.client.service_client.check_health(retry=False, timeout=timedelta(seconds=CHECK_SECONDS)):
            raise RuntimeError("the frontend says it is not serving")

    async def keyring(self) -> None:
        keys = Keyring(self.settings.keyring_source).keys()  # read afresh: the file as it is now
        probe = secrets.token_bytes(16)
        key = keys.keys[keys.current]
        if decrypt(key, encrypt(key, probe, b"readyz"), b"readyz") != probe:
            raise RuntimeError("the current key does not open what it sealed")

    async def pollers(self) -> dict[str, list[str]]:
        """The identities seen polling the task queue lately, by kind of task."""
        seen: dict[str, list[str]] = {}
        recent = datetime.now(UTC) - POLLED_WITHIN
        for kind, queue_type in KINDS.items():
            answer = await self.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(namespace=self.client.namespace,
                                         task_queue=TaskQueue(name=self.settings.task_queue),
                                         task_queue_type=queue_type),
                retry=False, timeout=timedelta(seconds=CHECK_SECONDS))
            seen[kind] = [p.identity for p in answer.pollers
                          if p.last_access_time.ToDatetime(tzinfo=UTC) >= recent]
        return seen

    async def worker(self) -> None:
        seen = await self.pollers()
        for kind, identities in seen.items():
            if self.worker_identity is None and not identities:
                raise RuntimeError(f"no worker has polled the {kind} tasks of {self.settings.task_queue} lately")
            if self.worker_identity is not None and self.worker_identity not in identities:
                raise RuntimeError(f"this worker has not polled the {kind} tasks lately")

    def checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {"database": self.database, "temporal": self.temporal, "keyring": self.keyring,
                "worker": self.worker}

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """Every check side by side: ``(ready, {check: "ok" or why not})``."""
        names, checks = zip(*self.checks().items(), strict=True)
        outcomes = await asyncio.gather(*(_bounded(check()) for check in checks))
        results = dict(zip(names, outcomes, strict=True))
        return all(r == "ok" for r in results.values()), results


async def _bounded(check: Awaitable[None]) -> str:
    started = time.monotonic()
    try:
        await asyncio.wait_for(check, CHECK_SECONDS)
    except TimeoutError:
        return f"no answer within {time.monotonic() - started:.1f} s"
    except Exception as exc:  # noqa: BLE001 - the reason is the answer
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else 'failed'}"
    return "ok"
