"""ReminderWorkflow: a 催办, someone the warning ladder told of an overdue duty reminding its owner.

No step of the case (its state and deadlines are unchanged, and its workflow is not woken): one
notification through the notify activity, as every message goes out. The workflow's id names the case,
the duty and the hour (``door.Door.remind``), so a duty is reminded at most once an hour, however often
the button is pressed.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.case import NotificationRequest
    from models.io import Io

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


@workflow.defn
class ReminderWorkflow:
    @workflow.run
    async def run(self, request: NotificationRequest) -> str:
        await workflow.execute_activity(Io.notify.value, request, start_to_close_timeout=timedelta(seconds=30),
                                        retry_policy=_RETRY)
        return request.notification_id
