"""WatchWorkflow: one student on the watch list (重点关注), reviewed by their owner until released.

Started, or joined, by ``add`` (signal-with-start: the screening import, a case closed with follow-up
advised). Each addition is recorded once (by reason and source); the first names the owner, a later one
with a named owner names it where none was. The class's head teacher and the owner are told, content-free,
when the student is added. The review (``watch_review``) is due every ``watch_review_every`` (30 days, the
school's choice); unmet, it climbs the warning ladder at the policy's ``escalation_step`` like any duty
(``workflows/deadlines.py``: the first rung tells the owner and the head teacher). The owner's review keeps
the student on the list (the next review due) or releases them. Deterministic: I/O is in activities.
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
    from models.io import Io
    from models.watch import WatchAdd, WatchData, WatchEntry, WatchReview, WatchReviewed, WatchStart
    from workflows import deadlines
    from workflows.case_workflow import FORBIDDEN, REFUSED

#: Who reviews a watch-listed student: the school's psychology teachers and experts, head teachers, leadership.
REVIEWERS = frozenset({StaffRole.psychology_teacher, StaffRole.expert, StaffRole.head_teacher,
                       StaffRole.leadership})
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
_TIMEOUT = timedelta(seconds=30)


@workflow.defn
class WatchWorkflow:
    @workflow.init
    def __init__(self, start: WatchStart) -> None:
        self._data = WatchData(watch_id=start.watch_id, school_id=start.school_id, student=start.student,
                               policy=start.policy)
        self._added: list[WatchAdd] = []  # additions not yet taken in (a signal may come before run)
        self._told: list[asyncio.Task] = []

    @workflow.run
    async def run(self, start: WatchStart) -> WatchData:
        while self._data.state == "watching":
            if self._added:
                await self._take_additions()
                continue
            wake = None if self._data.deadline is None else deadlines.next_escalation(
                self._data.deadline, self._data.policy.escalation_step)
            timeout = None if wake is None else max(timedelta(0), wake - workflow.now())
            seq = self._data.seq
            try:
                await workflow.wait_condition(lambda seq=seq: self._data.seq != seq or bool(self._added),
                                              timeout=timeout)
            except TimeoutError:
                await self._climb()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self._told)
        return self._data

    @workflow.signal
    def add(self, addition: WatchAdd) -> None:
        self._added.append(addition)

    async def _take_additions(self) -> None:
        now, data = workflow.now(), self._data
        new = []
        for addition in self._added:
            if any((r.reason, r.source) == (addition.reason, addition.source) for r in data.reasons):
                continue  # the same batch imported again, the same closure retried
            data.reasons.append(WatchEntry(**addition.model_dump(), at=now))
            data.owner = data.owner or addition.owner
            new.append(addition)
        self._added = []
        if not new:
            return
        if data.deadline is None:
            data.deadline = self._review_due(now)
        data.seq += 1
        await self._project()
        self._tell(NotificationEvent.watch_added, [Recipient.head_teacher, Recipient.owner], f"added-{data.seq}")

    def _review_due(self, now) -> Deadline:
        owner = Recipient.owner if self._data.owner else Recipient.psychology_teacher
        return Deadline(obligation=Obligation.watch_review, responsible_role=owner,
                        due_at=now + self._data.policy.watch_review_every)

    async def _climb(self) -> None:
        deadline = self._data.deadline
        level = deadlines.climb(deadline, workflow.now())
        workflow.logger.warning("watch review overdue", extra={"watch_id": self._data.watch_id,
                                                               "escalation_level": level})
        told = deadlines.told_at(level, deadline)
        if level == 1 and self._data.owner and Recipient.owner not in told:
            told.insert(1, Recipient.owner)
        self._data.seq += 1
        await self._project()
        what = NotificationEvent.deadline_missed if level == 1 else NotificationEvent.deadline_escalated
        self._tell(what, told, f"escalated-{self._data.seq}", level)

    # ------------------------------------------------------------ the review

    @workflow.update
    async def review(self, review: WatchReview) -> WatchData:
        now, data = workflow.now(), self._data
        data.reviews.append(WatchReviewed(**review.body.model_dump(), by=review.actor.staff_id, at=now))
        data.deadline.met_at = now
        if review.body.decision == "release":
            data.state = "released"
        else:
            data.deadline = self._review_due(now)
        data.seq += 1
        await self._project()
        return data

    @review.validator
    def _may_review(self, review: WatchReview) -> None:
        actor = review.actor
        if actor.school_id != self._data.school_id or actor.role not in REVIEWERS:
            raise ApplicationError(
                "only the school's psychology teachers, experts, head teachers and leadership review the watch list",
                Forbidden("", actor.role.value, "watch_review",
                          "role" if actor.school_id == self._data.school_id else "school").as_details(),
                type=FORBIDDEN, non_retryable=True)
        if self._data.state != "watching" or self._data.deadline is None:
            raise ApplicationError("the student is not on the watch list",
                                   Refused("", self._data.state, [], "watch_review", ("not_watched",)).as_details(),
                                   type=REFUSED, non_retryable=True)

    @workflow.query
    def view(self) -> WatchData:
        return self._data

    # ------------------------------------------------------------ effects

    async def _project(self) -> None:
        await workflow.execute_activity(Io.project_watch.value, self._data, start_to_close_timeout=_TIMEOUT,
                                        retry_policy=_RETRY)

    def _tell(self, what: NotificationEvent, recipients: list[Recipient], key: str, level: int = 0) -> None:
        data = self._data
        named = {Recipient.owner.value: data.owner} if data.owner else {}
        recipients = [r if r is not Recipient.owner or data.owner else Recipient.psychology_teacher
                      for r in recipients]
        request = NotificationRequest(
            notification_id=f"watch-{data.watch_id}-{key}", case_id=data.watch_id, school_id=data.school_id,
            event=what, recipient_roles=list(dict.fromkeys(recipients)), obligation=Obligation.watch_review,
            due_at=data.deadline.due_at, escalation_level=level, created_at=workflow.now(), named=named,
            class_id=data.student.class_id)
        self._told.append(asyncio.create_task(workflow.execute_activity(
            Io.notify.value, request, start_to_close_timeout=_TIMEOUT, retry_policy=_RETRY)))
