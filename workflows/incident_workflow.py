"""IncidentReviewWorkflow: an extreme event's review report, due 14 days after the event.

open --save_draft--> open --submit--> submitted. While open, the report's deadline
(``policy.review_report_within`` after the event) climbs the same warning ladder as a case's
deadlines (workflows/deadlines.py). On submission the report is typeset (PDF/A) and the
education authority and the province's recipient are told. Deterministic: every I/O is an
activity; the state is mirrored into the read model after each change.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.case import Deadline, NotificationRequest
    from models.domain import NotificationEvent, Obligation, Recipient, StaffRole
    from models.errors import Forbidden, Refused
    from models.incident import (
        IncidentData,
        IncidentStart,
        ReportDraft,
        ReportSubmission,
        report_errors,
        report_problems,
    )
    from models.io import Io
    from workflows import deadlines
    from workflows.case_workflow import FORBIDDEN, INVALID, REFUSED
    from workflows.machine import OBLIGATIONS

#: The patch that took an extreme event's ladder off the case ladder's head teachers and grade heads.
LEADERSHIP_LADDER = "incident-leadership-ladder-2026-12"

#: Who writes the review: the school's leadership group and its psychology teachers (the API's rule too).
WRITERS = frozenset({StaffRole.leadership, StaffRole.psychology_teacher})
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
_TIMEOUT = timedelta(seconds=30)


def incident_workflow_id(incident_id: str) -> str:
    return f"incident-{incident_id}"


@workflow.defn
class IncidentReviewWorkflow:
    def __init__(self) -> None:
        self._data: IncidentData | None = None
        self._told: list[asyncio.Task] = []  # notices run on their own: a channel down holds up nothing

    @workflow.run
    async def run(self, start: IncidentStart) -> IncidentData:
        due = start.event.occurred_at + start.policy.review_report_within
        self._data = IncidentData(
            incident_id=start.incident_id, school_id=start.school_id, recorded_by=start.recorded_by,
            recorded_at=start.recorded_at, event=start.event, policy=start.policy,
            deadline=Deadline(obligation=Obligation.review_report,
                              responsible_role=OBLIGATIONS[Obligation.review_report].owner, due_at=due),
        )
        await self._project()
        await self._tell(NotificationEvent.incident_recorded,
                         [Recipient.leadership, Recipient.education_authority], "recorded")
        while self._data.state == "open":
            wake = deadlines.next_escalation(self._data.deadline, self._data.policy.escalation_step)
            timeout = None if wake is None else max(timedelta(0), wake - workflow.now())
            seq = self._data.seq
            try:
                await workflow.wait_condition(lambda seq=seq: self._data.seq != seq, timeout=timeout)
            except TimeoutError:
                await self._climb()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self._told)
        return self._data

    async def _climb(self) -> None:
        deadline = self._data.deadline
        level = deadlines.climb(deadline, workflow.now())
        workflow.logger.warning("review report overdue", extra={"incident_id": self._data.incident_id,
                                                                "escalation_level": level})
        if workflow.patched(LEADERSHIP_LADDER):
            # an event, not a case: its ladder is the school's leadership group, then the authority too;
            # never every head teacher (an event has no class) [issue 25, 4]
            told = [Recipient.leadership] + ([Recipient.education_authority] if level >= 2 else [])
        else:
            told = deadlines.told_at(level, deadline)
            if level >= 2 and Recipient.education_authority not in told:
                told.append(Recipient.education_authority)  # the authority follows an overdue review
        what = NotificationEvent.deadline_missed if level == 1 else NotificationEvent.deadline_escalated
        await self._project()
        await self._tell(what, told, f"escalated-{level}", level)

    # ------------------------------------------------------------ updates

    @workflow.update
    async def save_draft(self, draft: ReportDraft) -> IncidentData:
        self._data.report = draft.report
        self._data.saved_by = draft.actor.staff_id
        self._data.seq += 1
        await self._project()
        return self._data

    @save_draft.validator
    def _check_draft(self, draft: ReportDraft) -> None:
        self._may_write(draft.actor)

    @workflow.update
    async def submit(self, submission: ReportSubmission) -> IncidentData:
        now = workflow.now()
        data = self._data.model_copy(deep=True)
        data.state = "submitted"
        data.submitted_at = now
        data.submitted_by = submission.actor
        data.deadline.met_at = now
        data.document_id = f"incident-{data.incident_id}-review"
        data.seq += 1
        # the paper first: a report that cannot be typeset is not submitted (the state stays as it was)
        await workflow.execute_activity(Io.render_incident_report.value, data, start_to_close_timeout=_TIMEOUT,
                                        retry_policy=RetryPolicy(maximum_attempts=3))
        self._data = data
        await self._project()
        await self._tell(NotificationEvent.incident_report_submitted,
                         [Recipient.education_authority, Recipient.provincial_authority, Recipient.leadership],
                         "submitted")
        return data

    @submit.validator
    def _check_submit(self, submission: ReportSubmission) -> None:
        self._may_write(submission.actor)
        problems = report_errors(self._data.report)
        if problems:
            first = problems[0]
            raise ApplicationError(str(first), {**first.as_details(), "problems": report_problems(self._data.report),
                                                "all": [p.as_details() for p in problems]},
                                   type=INVALID, non_retryable=True)

    @workflow.query
    def view(self) -> IncidentData:
        return self._data

    def _may_write(self, actor) -> None:
        if actor.school_id != self._data.school_id or actor.role not in WRITERS:
            raise ApplicationError("only the school's leadership group and psychology teachers write the review",
                                   Forbidden("", actor.role.value, "write_review",
                                             "role" if actor.school_id == self._data.school_id else "school")
                                   .as_details(), type=FORBIDDEN, non_retryable=True)
        if self._data.state != "open":
            raise ApplicationError("the review report was submitted; it cannot change",
                                   Refused("", self._data.state, [], "write_review", ("report_submitted",))
                                   .as_details(), type=REFUSED,
                                   non_retryable=True)

    # ------------------------------------------------------------ effects

    async def _project(self) -> None:
        await workflow.execute_activity(Io.project_incident.value, self._data, start_to_close_timeout=_TIMEOUT,
                                        retry_policy=_RETRY)

    async def _tell(self, what: NotificationEvent, recipients: list[Recipient], key: str, level: int = 0) -> None:
        data = self._data
        request = NotificationRequest(
            notification_id=f"incident-{data.incident_id}-{key}", case_id=data.incident_id,
            school_id=data.school_id, event=what, recipient_roles=recipients, obligation=Obligation.review_report,
            due_at=data.deadline.due_at, escalation_level=level, created_at=workflow.now(),
        )
        self._told.append(asyncio.create_task(workflow.execute_activity(
            Io.notify.value, request, start_to_close_timeout=_TIMEOUT, retry_policy=_RETRY)))
