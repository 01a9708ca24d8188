"""ArchiverWorkflow: copies closed cases' histories into the archive before retention deletes them.

A Temporal Schedule (``crisisflow-archiver``, every ``ARCHIVE_EVERY``) starts it;
``crisisflow setup`` and ``crisisflow dev`` create the schedule.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities import CaseActivities

SCHEDULE_ID = "crisisflow-archiver"
ARCHIVE_EVERY = timedelta(minutes=10)


@workflow.defn
class ArchiverWorkflow:
    @workflow.run
    async def run(self) -> int:
        added = await workflow.execute_activity_method(
            CaseActivities.archive_closed_cases,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(minutes=1)),
        )
        workflow.logger.info("archive run finished", extra={"histories_added": added})
        return added


async def ensure_schedule(client, task_queue: str) -> bool:
    """Create the archiver's schedule once; True when it was created now."""
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleAlreadyRunningError,
        ScheduleIntervalSpec,
        ScheduleOverlapPolicy,
        SchedulePolicy,
        ScheduleSpec,
    )

    try:
        await client.create_schedule(
            SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(ArchiverWorkflow.run, id=f"{SCHEDULE_ID}-run", task_queue=task_queue),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=ARCHIVE_EVERY)]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            ),
        )
        return True
    except ScheduleAlreadyRunningError:
        return False
