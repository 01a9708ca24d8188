"""The floor a case is measured against: a bare Temporal workflow of the same shape, nothing of ours.

``BareCase`` is started, then takes one update per staff call; each update runs one local activity
and queues one ordinary activity beside it (a case's projection and its effects, with no database,
no documents, no encryption). It ends once it has taken ``calls`` updates and its queued activities
are done. ``BareTimer`` only waits on a durable timer: the floor of an open case in a worker's memory.
Only ``temporalio`` is imported, so the workflow sandbox loads this module as it is.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

TASK_QUEUE = "bench-bare"


@activity.defn
async def bare_step(n: int) -> int:
    return n


@activity.defn
async def bare_effect(n: int) -> None:
    return None


@workflow.defn
class BareCase:
    def __init__(self) -> None:
        self.calls = 0
        self.pending = 0

    @workflow.run
    async def run(self, calls: int) -> int:
        await workflow.wait_condition(lambda: self.calls >= calls and self.pending == 0)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.calls

    @workflow.update
    async def act(self, n: int) -> int:
        await workflow.execute_local_activity(bare_step, n, start_to_close_timeout=timedelta(seconds=10))
        self.calls += 1
        self.pending += 1
        asyncio.create_task(self._effect(n))
        return self.calls

    async def _effect(self, n: int) -> None:
        try:
            await workflow.execute_activity(bare_effect, n, start_to_close_timeout=timedelta(seconds=10))
        finally:
            self.pending -= 1


@workflow.defn
class BareTimer:
    @workflow.run
    async def run(self, days: int) -> None:
        await workflow.sleep(timedelta(days=days))


ACTIVITIES = [bare_step, bare_effect]
WORKFLOWS = [BareCase, BareTimer]
