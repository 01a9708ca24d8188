"""ArchiverWorkflow: copies closed cases' histories into the archive before retention deletes them.

A Temporal Schedule (``SCHEDULE_ID``, every ``ARCHIVE_EVERY``) starts it;
``crisisflow setup`` and ``crisisflow dev`` create the schedule (cli/setup.py).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from models.io import Io

SCHEDULE_ID = "crisisflow-archiver"
ARCHIVE_EVERY = timedelta(minutes=10)


@workflow.defn
class ArchiverWorkflow:
    @workflow.run
    async def run(self) -> int:
        added = await workflow.execute_activity(
            Io.archive_closed_cases.value,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(minutes=1)),
            result_type=int,
        )
        workflow.logger.info("archive run finished", extra={"histories_added": added})
        return added
