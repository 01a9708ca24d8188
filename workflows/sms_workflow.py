"""LinkSmsWorkflow: the guardian's one-time answer link sent by SMS (GUARDIAN_ONLINE).

No step of the case: one activity, retried until the school's SMS gateway takes the message (at most a day;
the link is valid for three). The door starts it when a head teacher sends the link from the case page; its
id names the link and the sending, so one press sends one message.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.case import LinkSms
    from models.io import Io

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5),
                     non_retryable_error_types=["NoSmsChannel"])


@workflow.defn
class LinkSmsWorkflow:
    @workflow.run
    async def run(self, request: LinkSms) -> str:
        await workflow.execute_activity(Io.send_link_sms.value, request, start_to_close_timeout=timedelta(seconds=30),
                                        schedule_to_close_timeout=timedelta(days=1), retry_policy=_RETRY)
        return request.sent
