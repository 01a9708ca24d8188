"""HelpRequestWorkflow: a student's or parent's request for help, until a person opens a case from it or closes it.

No step of any case, and no word of what was written (that is sealed in the read model): the request's id, its
school and its deadline. The school's psychology teachers are told at once, content-free; the first to open the
request's page has looked at it (``look``), which stops the ladder; unmet by ``help_look_within`` (2 h, the
school's choice), the ladder climbs every ``help_escalation_step`` (1 h): the psychology teachers again
(``deadline_missed``), then leadership (``deadline_escalated``). ``resolve`` ends it: a case opened from it, or
closed with a reason. Deterministic: I/O is in activities.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.case import Actor, Deadline, NotificationRequest
    from models.domain import NotificationEvent, Obligation, Recipient, StaffRole
    from models.errors import Forbidden, Refused
    from models.help import HELP_LADDER, HelpData, HelpResolve, HelpStart
    from models.io import Io
    from workflows import deadlines
    from workflows.case_workflow import FORBIDDEN, REFUSED

#: Who looks at and resolves a help request: the school's psychology teachers and experts, and leadership.
HELPERS = frozenset({StaffRole.psychology_teacher, StaffRole.expert, StaffRole.leadership})
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
_TIMEOUT = timedelta(seconds=30)


@workflow.defn
class HelpRequestWorkflow:
    @workflow.init
    def __init__(self, start: HelpStart) -> None:
        self._policy = start.policy
        self._data = HelpData(help_id=start.help_id, school_id=start.school_id, deadline=Deadline(
            obligation=Obligation.help_look, responsible_role=Recipient.psychology_teacher,
            due_at=workflow.now() + start.policy.help_look_within))
        self._told: list[asyncio.Task] = []

    @workflow.run
    async def run(self, start: HelpStart) -> HelpData:
        await self._project()
        self._tell(NotificationEvent.help_requested, [Recipient.psychology_teacher], "asked")
        while self._data.state in ("open", "looked"):
            wake = deadlines.next_escalation(self._data.deadline, self._policy.help_escalation_step,
                                             top=max(HELP_LADDER))
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
        level = deadlines.climb(self._data.deadline, workflow.now())
        workflow.logger.warning("help request not looked at", extra={"help_id": self._data.help_id,
                                                                     "escalation_level": level})
        self._data.seq += 1
        await self._project()
        what = NotificationEvent.deadline_missed if level == 1 else NotificationEvent.deadline_escalated
        self._tell(what, list(HELP_LADDER[level]), f"escalated-{level}", level)

    # ------------------------------------------------------------ looking and resolving

    @workflow.update
    async def look(self, actor: Actor) -> HelpData:
        """A psychology teacher (or expert, or leader) opened the request: looked at, the ladder stops."""
        if self._data.deadline.met_at is None:
            self._data.deadline.met_at = workflow.now()
            self._data.looked_by = actor.staff_id
            self._data.state = "looked" if self._data.state == "open" else self._data.state
            self._data.seq += 1
            await self._project()
        return self._data

    @look.validator
    def _may_look(self, actor: Actor) -> None:
        self._check(actor)

    @workflow.update
    async def resolve(self, resolve: HelpResolve) -> HelpData:
        data = self._data
        if data.deadline.met_at is None:
            data.deadline.met_at = workflow.now()
            data.looked_by = resolve.actor.staff_id
        data.state = resolve.outcome
        data.case_id, data.closed_reason = resolve.case_id, resolve.reason
        data.resolved_by = resolve.actor.staff_id
        data.seq += 1
        await self._project()
        return data

    @resolve.validator
    def _may_resolve(self, resolve: HelpResolve) -> None:
        self._check(resolve.actor)
        if self._data.state not in ("open", "looked"):
            raise ApplicationError("the help request is resolved already",
                                   Refused("", self._data.state, [], "resolve_help", ()).as_details(),
                                   type=REFUSED, non_retryable=True)
        if resolve.outcome == "closed" and not resolve.reason:
            raise ApplicationError("reason: say why the request is closed",
                                   Refused("", self._data.state, [], "resolve_help", ()).as_details(),
                                   type=REFUSED, non_retryable=True)

    def _check(self, actor: Actor) -> None:
        if actor.school_id != self._data.school_id or actor.role not in HELPERS:
            raise ApplicationError(
                "only the school's psychology teachers, experts and leadership see help requests",
                Forbidden("", actor.role.value, "help_request",
                          "role" if actor.school_id == self._data.school_id else "school").as_details(),
                type=FORBIDDEN, non_retryable=True)

    @workflow.query
    def view(self) -> HelpData:
        return self._data

    # ------------------------------------------------------------ effects

    async def _project(self) -> None:
        await workflow.execute_activity(Io.project_help.value, self._data, start_to_close_timeout=_TIMEOUT,
                                        retry_policy=_RETRY)

    def _tell(self, what: NotificationEvent, recipients: list[Recipient], key: str, level: int = 0) -> None:
        data = self._data
        request = NotificationRequest(
            notification_id=f"help-{data.help_id}-{key}", case_id=data.help_id, school_id=data.school_id,
            event=what, recipient_roles=recipients, obligation=Obligation.help_look,
            due_at=data.deadline.due_at, escalation_level=level, created_at=workflow.now())
        self._told.append(asyncio.create_task(workflow.execute_activity(
            Io.notify.value, request, start_to_close_timeout=_TIMEOUT, retry_policy=_RETRY)))
