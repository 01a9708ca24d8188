"""TermReportWorkflow: a school's report to its education authority, once a term (issue 28).

No case's: the term's figures are counted, masked under 5 and typeset by one activity (``render_term_report``),
then the authority's people are told, by the notify activity as every message goes. The workflow's id names the
school and the term (``door.Door.send_term_report``): a term is reported once.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.case import NotificationRequest
    from models.domain import NotificationEvent, Recipient
    from models.io import Io
    from models.term_report import TermReportRequest

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1),
                     maximum_attempts=5)


def term_workflow_id(school_id: str, request: TermReportRequest) -> str:
    return f"term-report-{school_id}-{request.term.start:%Y%m%d}"


@workflow.defn
class TermReportWorkflow:
    @workflow.run
    async def run(self, request: TermReportRequest) -> str:
        document_id = await workflow.execute_activity(
            Io.render_term_report.value, request, result_type=str, start_to_close_timeout=timedelta(seconds=60),
            retry_policy=_RETRY)
        told = NotificationRequest(
            notification_id=document_id, case_id=document_id, school_id=request.school_id,
            event=NotificationEvent.term_report_sent, recipient_roles=[Recipient.education_authority],
            created_at=workflow.now(), items=[request.term.name],
            named={"by": request.sent_by, "by_role": request.sent_by_role})
        await workflow.execute_activity(Io.notify.value, told, start_to_close_timeout=timedelta(seconds=30),
                                        retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)))
        return document_id
