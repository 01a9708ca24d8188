"""OpeningsDigestWorkflow: one school's day of new cases with risk factors only, told to the leadership group
at once at the school's ``digest_at`` (models/digest.py). Joined by signal-with-start from each such opening;
a case joins once. Content-free: the message names the cases by their short reference."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.case import NotificationRequest
    from models.digest import DigestStart
    from models.domain import NotificationEvent, Recipient
    from models.io import Io

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


@workflow.defn
class OpeningsDigestWorkflow:
    @workflow.init
    def __init__(self, start: DigestStart) -> None:
        self._cases: list[str] = []

    @workflow.signal
    def add(self, case_id: str) -> None:
        if case_id not in self._cases:
            self._cases.append(case_id)

    @workflow.run
    async def run(self, start: DigestStart) -> list[str]:
        wait = start.send_at - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait)
        await workflow.wait_condition(lambda: bool(self._cases))
        await workflow.wait_condition(workflow.all_handlers_finished)
        request = NotificationRequest(
            notification_id=f"digest-{start.school_id}-{start.day}-{workflow.info().run_id[:8]}",
            case_id=start.day, school_id=start.school_id, event=NotificationEvent.openings_digest,
            recipient_roles=[Recipient.leadership], created_at=workflow.now(), items=list(self._cases))
        await workflow.execute_activity(Io.notify.value, request, start_to_close_timeout=timedelta(seconds=30),
                                        retry_policy=_RETRY)
        return self._cases
