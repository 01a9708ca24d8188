"""IncidentReviewWorkflow: an extreme event's investigation and review report, due 14 days after the event.

open --form_group / provide_facts / save_draft--> open --submit--> submitted. The education authority's duty
[seed 000, 重点事项清单, 一 5] (AUTHORITY): its people form the investigation group with the police and experts
(``form_group``), the school gives its account of the facts (``provide_facts``), the group's members draft and
submit the review; the province is told. Before AUTHORITY the school's leadership and psychology teachers wrote
it (histories recorded then replay so). While open, the report's deadline (``policy.review_report_within`` after
the event) climbs the same warning ladder as a case's deadlines (workflows/deadlines.py), telling the group (the
authority until it is formed) and the school's leadership. Deterministic: every I/O is an activity; the state is
mirrored into the read model after each change.
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
        FactsSubmission,
        GroupForming,
        IncidentData,
        IncidentStart,
        InvestigationGroup,
        ReportDraft,
        ReportSubmission,
        SchoolAccount,
        in_group,
        investigates,
        report_errors,
        report_problems,
    )
    from models.io import Io
    from workflows import deadlines
    from workflows.case_workflow import FORBIDDEN, INVALID, REFUSED
    from workflows.machine import OBLIGATIONS

#: The patch that took an extreme event's ladder off the case ladder's head teachers and grade heads.
LEADERSHIP_LADDER = "incident-leadership-ladder-2026-12"
#: The patch that gave the investigation to the education authority (issue 28): the group, the school's account.
AUTHORITY = "incident-authority-investigates-2026-12"

#: Who records an event and gives the school's account: the school's leadership group and its psychology teachers
#: (before AUTHORITY, they wrote the review too).
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
        by_authority = workflow.patched(AUTHORITY)
        self._data = IncidentData(
            incident_id=start.incident_id, school_id=start.school_id, recorded_by=start.recorded_by,
            recorded_at=start.recorded_at, event=start.event, policy=start.policy,
            deadline=Deadline(obligation=Obligation.review_report,
                              responsible_role=OBLIGATIONS[Obligation.review_report].owner if by_authority
                              else Recipient.leadership, due_at=due),
            by_authority=by_authority, investigators=start.investigators,
        )
        await self._project()
        await self._tell(NotificationEvent.incident_recorded,
                         [Recipient.leadership, Recipient.education_authority], "recorded",
                         by=start.recorded_by if by_authority else None)
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
        if self._data.by_authority:
            # the group investigates (the authority, until it forms one), the school's leadership follows
            told = [Recipient.investigation_group if self._data.group else Recipient.education_authority,
                    Recipient.leadership]
        elif workflow.patched(LEADERSHIP_LADDER):
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
    async def form_group(self, forming: GroupForming) -> IncidentData:
        """The authority forms (or re-forms) the investigation group; its members and the school's leadership are
        told."""
        self._data.group = InvestigationGroup(**forming.group.model_dump(), formed_by=forming.actor,
                                              formed_at=workflow.now())
        self._data.seq += 1
        await self._project()
        await self._tell(NotificationEvent.incident_group_formed,
                         [Recipient.investigation_group, Recipient.leadership], f"group-{self._data.seq}",
                         by=forming.actor)
        return self._data

    @form_group.validator
    def _check_group(self, forming: GroupForming) -> None:
        self._may_investigate(forming.actor, "form_group", member=False)

    @workflow.update
    async def provide_facts(self, submission: FactsSubmission) -> IncidentData:
        """The school gives the group its account of the facts (again, to correct it); the investigators are
        told."""
        self._data.school_account = SchoolAccount(**submission.facts.model_dump(), by=submission.actor,
                                                  at=workflow.now())
        self._data.seq += 1
        await self._project()
        await self._tell(NotificationEvent.incident_facts_provided,
                         [Recipient.investigation_group if self._data.group else Recipient.education_authority],
                         f"facts-{self._data.seq}", by=submission.actor)
        return self._data

    @provide_facts.validator
    def _check_facts(self, submission: FactsSubmission) -> None:
        actor = submission.actor
        if not self._data.by_authority or actor.school_id != self._data.school_id or actor.role not in WRITERS:
            raise _forbidden(actor, "provide_facts", actor.school_id == self._data.school_id)
        self._still_open()

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
                         "submitted", by=submission.actor if data.by_authority else None)
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
        if self._data.by_authority:  # the group's members write the review
            self._may_investigate(actor, "write_review", member=True)
            return
        if actor.school_id != self._data.school_id or actor.role not in WRITERS:
            raise _forbidden(actor, "write_review", actor.school_id == self._data.school_id)
        self._still_open()

    def _may_investigate(self, actor, action: str, member: bool) -> None:
        """The authority's people (of the authorities that investigate this school); the group's members, for the
        review."""
        data = self._data
        if not investigates(data, actor.role, actor.school_id):
            raise _forbidden(actor, action, actor.school_id in data.investigators)
        if member and not in_group(data, actor.staff_id):
            raise ApplicationError("only the investigation group's members write the review",
                                   Refused("", data.state, [], action, ("not_in_group",)).as_details(),
                                   type=REFUSED, non_retryable=True)
        self._still_open()

    def _still_open(self) -> None:
        if self._data.state != "open":
            raise ApplicationError("the review report was submitted; it cannot change",
                                   Refused("", self._data.state, [], "write_review", ("report_submitted",))
                                   .as_details(), type=REFUSED,
                                   non_retryable=True)

    # ------------------------------------------------------------ effects

    async def _project(self) -> None:
        await workflow.execute_activity(Io.project_incident.value, self._data, start_to_close_timeout=_TIMEOUT,
                                        retry_policy=_RETRY)

    async def _tell(self, what: NotificationEvent, recipients: list[Recipient], key: str, level: int = 0,
                    by=None) -> None:
        data = self._data
        request = NotificationRequest(
            notification_id=f"incident-{data.incident_id}-{key}", case_id=data.incident_id,
            school_id=data.school_id, event=what, recipient_roles=recipients, obligation=Obligation.review_report,
            due_at=data.deadline.due_at, escalation_level=level, created_at=workflow.now(),
            **({"named": {"by": by.staff_id, "by_role": by.role.value}} if by is not None else {}),
            **({"group": data.group.members} if data.group is not None else {}),
        )
        self._told.append(asyncio.create_task(workflow.execute_activity(
            Io.notify.value, request, start_to_close_timeout=_TIMEOUT, retry_policy=_RETRY)))


def _forbidden(actor, action: str, same_school: bool) -> ApplicationError:
    return ApplicationError("the education authority investigates and writes the review; the school records the "
                            "event and gives its account", Forbidden("", actor.role.value, action,
                                                                     "role" if same_school else "school").as_details(),
                            type=FORBIDDEN, non_retryable=True)
