"""CaseWorkflow: one durable workflow per case, on the transition table.

Staff actions arrive as the ``act`` update; its validator asks the machine,
so a refused action leaves no trace in history. Deadlines are durable
timers (``wait_condition`` with a timeout); when one passes unmet the case
climbs the warning ladder. All I/O is in activities: the read-model
projection (awaited by the update, so the API answers with the database in
step), and notifications and documents (run in order by a side task so a
slow receiver never holds up a timer).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from models import search_attributes as sa
    from models.case import (
        REQUESTS_KEPT,
        ActionCommand,
        CaseData,
        CaseEvent,
        CaseStart,
        CaseView,
        ClosureProposal,
        DeliveryBatch,
        DocumentRequest,
        EventLink,
        FailedEffect,
        NotificationRequest,
        OnlineAnswer,
        StepRecord,
        case_times,
    )
    from models.digest import DigestRequest, digest_of
    from models.domain import (
        GUARDIAN,
        SYSTEM,
        Action,
        CaseState,
        ClosureReason,
        DocumentKind,
        NotificationEvent,
        Obligation,
        Recipient,
    )
    from models.errors import Forbidden, Invalid, Refused
    from models.io import Io
    from models.watch import WatchAdd, WatchReason, WatchRequest
    from workflows import deadlines
    from workflows.machine import (
        CASEWORK,
        DE_FACTO,
        EVERY_OPENING,
        EXTREME_EVENT,
        GUARDIAN_ONLINE,
        HIGH_ONCE,
        OBLIGATIONS,
        OWNER,
        REPORT_CONFIRMED,
        RISK_PACE,
        WATCH,
        CaseMachine,
        Fact,
        Rule,
        rule_for,
    )
    from workflows.view import case_view

#: Bumped whenever the workflow's behaviour changes; recorded in each case.
WORKFLOW_CODE_VERSION = "9"

REFUSED = "TransitionRefused"
FORBIDDEN = "Forbidden"
INVALID = "InvalidInput"

#: Workflows whose history has this marker (every case started or continued since) project through
#: an ordinary activity, which runs only once the workflow task that decided it is in the history,
#: and run their effects independently of each other. Older histories replay their old path.
DURABLE = "durable-projection-independent-effects"
#: Workflows whose history has this marker write each step in one transaction: the projection
#: (``project_step``) carries the step's notifications and writes them with their outbox rows, and
#: one ``deliver`` per step sends what has somewhere to go. Older histories notify one by one.
STEP_OUTBOX = "step-outbox-2026-12"
#: Workflows whose history has this marker take a request once (issue 26): each action's request id
#: (``ActionCommand.request``, an ``Idempotency-Key``'s) is kept on its event and in ``CaseData.requests``,
#: carried from run to run, and the same request again is answered with the case as it stands. Older
#: histories took every update Temporal handed them.
REQUESTS = "requests-kept-2026-12"
#: Workflows whose history has this marker keep one wake-up timer and start another only when an escalation falls
#: due before it (issue 30): a duty met leaves the timer standing, and a timer that wakes the case early finds
#: nothing due and is set again for the next. Older histories cancelled and restarted it on every event.
ONE_TIMER = "one-timer-2026-12"

_IO_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
#: Each I/O attempt: a webhook gets 10 s; a worker that died mid-attempt is retried after this.
_IO_TIMEOUT = timedelta(seconds=20)
#: The projection is a short upsert: retried quickly, so the read model catches up within seconds.
_PROJECT_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=5))
_PROJECT_TIMEOUT = timedelta(seconds=10)
#: How far ahead of the workflow's clock a stated time may lie (clocks of phones and servers differ).
_CLOCK_SKEW = timedelta(minutes=5)


@dataclass
class _Notify:
    request: NotificationRequest


@dataclass
class _Document:
    request: DocumentRequest


@dataclass
class _Deliver:
    batch: DeliveryBatch


@dataclass
class _Watch:
    """The student goes on the watch list (the closure advised follow-up)."""

    request: WatchRequest


@dataclass
class _Digest:
    """The case goes into its school's daily digest of new cases (the school's choice)."""

    request: DigestRequest


@dataclass
class _Step:
    """The workflow's own step (a rule with no roles), taken after the effects before it."""

    action: Action


_Effect = _Notify | _Deliver | _Document | _Watch | _Digest | _Step


@workflow.defn
class CaseWorkflow:
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        self._start = start
        self._effects: list[_Effect] = []
        self._running = 0  # effects started and not yet finished (independent effects)
        self._durable = False  # set by run(): the DURABLE path (every new history)
        # decided here, before the opening's notices: the STEP_OUTBOX path (every new history)
        self._step_outbox = workflow.patched(STEP_OUTBOX)
        self._notices: list[NotificationRequest] = []  # STEP_OUTBOX: this step's, for its projection
        self._projected_seq = 0
        # decided here, before a reopening's event: REQUESTS (every new history)
        self._requests = workflow.patched(REQUESTS)
        if start.reopen is not None:  # a closed case taken up again: a new run of the same case
            self._data = start.carried
            # decided here, before the reopening's notices: its owner hears of it (OWNER)
            self._data.features = [CASEWORK, OWNER] if workflow.patched(OWNER) else [CASEWORK]
            self._projected_seq = self._data.events[-1].seq
            # the window (reopen_within) was judged when leadership asked, by the API's clock
            self._machine = CaseMachine.of(self._data)
            actor = start.reopen.actor
            from_state = self._data.state
            rule = self._machine.fire(Action.reopen, None, actor.role, actor.staff_id)
            if Fact.no_closure_proposal in rule.sets:  # the closure approved before is behind the case
                self._data.closure_proposal = None
                self._machine.sync(self._data)
            event = self._take(rule, actor.staff_id, actor.role.value, from_state, workflow.now(),
                               {"reason": start.reopen.reason})
            self._remember(start.reopen.request, event)
        elif start.carried is not None:
            self._data = start.carried
            self._projected_seq = self._data.events[-1].seq
            self._machine = CaseMachine.of(self._data)
        else:
            self._data = CaseData(
                case_id=start.case_id,
                school_id=start.case.student.school_id,
                student=start.case.student,
                risk_factors=start.case.risk_factors,
                warning_signals=start.case.warning_signals,
                screening_flags=start.case.screening_flags,
                summary=start.case.summary,
                opened_by=start.opened_by,
                opened_at=workflow.now(),
                policy=start.policy,
                workflow_code_version=WORKFLOW_CODE_VERSION,
            )
            # decided here, before the opening's notices: leadership hears of every new case
            self._data.features = [EVERY_OPENING] if workflow.patched(EVERY_OPENING) else []
            self._machine = CaseMachine.of(self._data)
            opener = start.opened_by
            self._take(rule_for(Action.open, ()), opener.staff_id, opener.role.value, None, self._data.opened_at)

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, start: CaseStart) -> CaseView:
        log = {"case_id": self._data.case_id}
        self._durable = workflow.patched(DURABLE)
        # the behaviours of this run, decided once: histories recorded before a patch replay without it
        self._data.features = [CASEWORK] if workflow.patched(CASEWORK) else []
        if workflow.patched(RISK_PACE):  # the guardian notice and the ladder's pace follow the risk
            self._data.features.append(RISK_PACE)
        if workflow.patched(HIGH_ONCE):  # a case ever high closes as a high case
            self._data.features.append(HIGH_ONCE)
        if workflow.patched(OWNER):  # the assessor owns the case and its duties; leadership may reassign it
            self._data.features.append(OWNER)
        if workflow.patched(DE_FACTO):  # refusals on the receipt, and referrals not attended, are reported
            self._data.features.append(DE_FACTO)
        if workflow.patched(EVERY_OPENING):
            self._data.features.append(EVERY_OPENING)
        if workflow.patched(WATCH):  # a closure with follow-up advised puts the student on the watch list
            self._data.features.append(WATCH)
        if workflow.patched(EXTREME_EVENT):  # an extreme event recorded about the student changes the case
            self._data.features.append(EXTREME_EVENT)
        if workflow.patched(REPORT_CONFIRMED):  # a leader sends the refusal report; a reported case is followed up
            self._data.features.append(REPORT_CONFIRMED)
        if workflow.patched(GUARDIAN_ONLINE):  # the guardian answers through the notice's link, or asks for a call
            self._data.features.append(GUARDIAN_ONLINE)
        self._machine = CaseMachine.of(self._data)
        if start.carried is None or start.reopen is not None:
            self._upsert_search_attributes()
            await self._project()
            workflow.logger.info("case opened", extra=log)
        effects = asyncio.create_task(self._run_effects())
        one_timer = workflow.patched(ONE_TIMER)
        while not self._done():
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._should_continue_as_new():
                    workflow.logger.info("continuing as new", extra=log)
                    effects.cancel()
                    workflow.continue_as_new(
                        CaseStart(
                            case_id=self._data.case_id,
                            opened_by=self._data.opened_by,
                            case=start.case,
                            policy=self._data.policy,
                            history_event_limit=start.history_event_limit,
                            carried=self._bounded() if self._durable else self._data,
                        )
                    )
            wake_at = self._wake_at()
            timeout = None if wake_at is None else max(wake_at - workflow.now(), timedelta(0))
            seq = self._last_seq
            if one_timer:  # the timer stands unless an escalation falls due before it (ONE_TIMER)
                def woken(wake_at=wake_at) -> bool:
                    due = self._wake_at()
                    earlier = due is not None and (wake_at is None or due < wake_at)
                    return earlier or self._should_continue_as_new() or self._done()
            else:  # older histories: every event restarts it
                def woken(seq=seq) -> bool:
                    return self._last_seq != seq or self._should_continue_as_new() or self._done()
            try:
                await workflow.wait_condition(woken, timeout=timeout)
            except asyncio.TimeoutError:
                await self._escalate_due()
        await workflow.wait_condition(lambda: not self._effects_pending())
        effects.cancel()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.logger.info("case closed", extra=log)
        return self._view()

    def _wake_at(self) -> datetime | None:
        """When the case next wakes by itself: the earliest escalation due (none once closed)."""
        return None if self._data.state is CaseState.closed else deadlines.next_wakeup(self._data)

    def _effects_pending(self) -> bool:
        return bool(self._effects) or self._running > 0

    def _done(self) -> bool:
        return self._data.state is CaseState.closed and not self._effects_pending()

    def _should_continue_as_new(self) -> bool:
        if self._effects_pending() or self._data.state is CaseState.closed:
            return False
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._start.history_event_limit
        )

    # -------------------------------------------------------------- messages

    @workflow.query
    def view(self) -> CaseView:
        return self._view()

    @workflow.update
    async def opened(self) -> CaseView:
        """Answers once the case is in the read model (the API's open call waits on it)."""
        await workflow.wait_condition(lambda: self._projected_seq >= 1)
        return self._view()

    @workflow.update
    async def caught_up(self) -> CaseView:
        """Answers once the read model holds every event so far (the API's reopen waits on it)."""
        seq = self._last_seq
        await workflow.wait_condition(lambda: self._projected_seq >= seq)
        return self._view()

    @workflow.update
    async def link_event(self, link: EventLink) -> CaseView:
        """An extreme event recorded about the student (EXTREME_EVENT): the table's ``extreme_event`` row, taken
        for the event's recorder; the same event twice is recorded once."""
        if any(e.action is Action.extreme_event and e.detail.get("incident_id") == link.incident_id
               for e in self._data.events):
            return self._view()
        from_state, now = self._data.state, workflow.now()
        rule = self._machine.fire(Action.extreme_event)
        self._data.extreme_event = True
        self._machine.sync(self._data)
        self._take(rule, link.actor.staff_id, link.actor.role.value, from_state, now, {"incident_id": link.incident_id})
        self._upsert_search_attributes()
        await self._project()
        return self._view()

    @link_event.validator
    def _validate_link(self, link: EventLink) -> None:
        if link.actor.school_id != self._data.school_id:
            raise ApplicationError("this case belongs to another school",
                                   Forbidden("", link.actor.role.value, Action.extreme_event.value, "school")
                                   .as_details(), type=FORBIDDEN, non_retryable=True)
        try:
            self._machine.check(Action.extreme_event)
        except Refused as refused:
            raise self._refusal(refused) from None

    @workflow.update
    async def answer_online(self, answer: OnlineAnswer) -> CaseView:
        """The guardian's own answer through the notice's one-time link (GUARDIAN_ONLINE): the table's
        ``guardian_response`` row, as a staff member records it, by the guardian, channel online. The door has
        checked the link and its code; the same request twice is taken once."""
        if answer.request is not None and answer.request in self._data.requests:
            return self._view()
        from_state, now = self._data.state, workflow.now()
        body = answer.body.model_copy(update={"by": "guardian", "channel": "online"})
        try:
            rule = self._machine.fire(Action.guardian_response, answer.variant, None, GUARDIAN)
        except Refused as refused:
            raise self._refusal(refused) from None
        detail = {**body.model_dump(mode="json", exclude={"action"}), "link": answer.link}
        if Fact.guardian_consented in rule.sets:
            self._data.guardian_consented = True
        self._machine.sync(self._data)
        self._remember(answer.request, self._take(rule, GUARDIAN, GUARDIAN, from_state, now, detail))
        self._upsert_search_attributes()
        await self._project()
        return self._view()

    @answer_online.validator
    def _validate_online(self, answer: OnlineAnswer) -> None:
        if answer.request is not None and answer.request in self._data.requests:
            return
        if GUARDIAN_ONLINE not in self._data.features:
            raise self._refusal(Refused("this case takes no online answer", self._data.state,
                                        self._machine.allowed_actions(), Action.guardian_response.value))
        try:
            self._machine.check(Action.guardian_response, answer.variant, None, GUARDIAN)
        except Refused as refused:
            raise self._refusal(refused) from None

    @workflow.update
    async def act(self, command: ActionCommand) -> CaseView:
        if self._taken(command):  # the same request again (a retry, perhaps in a later run): taken once
            return self._view()
        try:
            self._apply(command)
        except Refused as refused:
            raise self._refusal(refused) from None
        await self._project()
        return self._view()

    @act.validator
    def _validate_act(self, command: ActionCommand) -> None:
        if self._taken(command):
            return
        actor = command.actor
        if actor.school_id != self._data.school_id:
            raise ApplicationError("this case belongs to another school",
                                   Forbidden("", actor.role.value, command.body.action.value, "school").as_details(),
                                   type=FORBIDDEN, non_retryable=True)
        try:
            rule = self._machine.check(command.body.action, command.variant, actor.role, actor.staff_id)
        except Refused as refused:
            raise self._refusal(refused) from None
        except Forbidden as denied:
            raise ApplicationError(str(denied), denied.as_details(), type=FORBIDDEN, non_retryable=True) from None
        if getattr(command.body, "channel", None) == "online" and rule.action is Action.guardian_response:
            raise ApplicationError(
                "channel: only the guardian's own answer through the notice's link is recorded as online",
                Invalid("channel", "online_is_the_guardians").as_details(), type=INVALID, non_retryable=True)
        if Fact.closure_proposal in rule.sets or rule.dest is CaseState.closed:
            self._need_reasons_for_unmet(command)
        if getattr(command.body, "reason", None) is ClosureReason.extreme_event and not self._data.extreme_event:
            raise ApplicationError(
                "reason: only a case an extreme event is recorded about closes for an extreme event",
                Invalid("reason", "no_extreme_event").as_details(), type=INVALID, non_retryable=True)
        if (rule.action is Action.refer and rule.variant == "urgent" and HIGH_ONCE in self._data.features
                and not self._data.guardian_notified and getattr(command.body, "emergency_reason", None) is None):
            raise ApplicationError(
                "emergency_reason: an urgent referral before the guardian is told needs its reason",
                Invalid("emergency_reason", "emergency_reason_required").as_details(),
                type=INVALID,
                non_retryable=True,
            )
        if rule.action is Action.reassign and command.body.owner == self._data.owner:
            raise ApplicationError(
                "owner: this person already owns the case",
                Invalid("owner", "already_owner").as_details(),
                type=INVALID,
                non_retryable=True,
            )
        latest = workflow.now() + _CLOCK_SKEW
        for name, at in case_times(command.body):
            if not self._data.opened_at <= at <= latest:
                raise ApplicationError(
                    f"{name}: must lie between the case's opening ({self._data.opened_at.isoformat()}) "
                    "and a few minutes from now",
                    Invalid(name, "outside_case_time", {"opened_at": self._data.opened_at.isoformat(),
                                                        "latest": latest.isoformat()}).as_details(),
                    type=INVALID,
                    non_retryable=True,
                )

    def _need_reasons_for_unmet(self, command: ActionCommand) -> None:
        """Closing (or proposing to close) with an obligation unmet needs a stated reason for each.

        Obligations that lapse at closure (``Duty.lapses_at_close``: reviews) need none.
        """
        if CASEWORK not in self._data.features:
            return
        proposal = self._data.closure_proposal
        given = getattr(command.body, "unmet_reasons", None) or (proposal.unmet_reasons if proposal else {})
        for obligation in dict.fromkeys(self._data.open_obligations):
            if not OBLIGATIONS[obligation].lapses_at_close and obligation not in given:
                raise ApplicationError(
                    f"unmet_reasons.{obligation.value}: the case closes with this obligation unmet; "
                    "say why in unmet_reasons",
                    Invalid(f"unmet_reasons.{obligation.value}", "unmet_reason_missing",
                            {"obligation": obligation.value}).as_details(),
                    type=INVALID,
                    non_retryable=True,
                )

    @staticmethod
    def _refusal(refused: Refused) -> ApplicationError:
        return ApplicationError(
            str(refused),
            refused.as_details(),
            type=REFUSED,
            non_retryable=True,
        )

    # ----------------------------------------------------------- transitions

    @property
    def _last_seq(self) -> int:
        return self._data.events[-1].seq

    def _apply(self, command: ActionCommand) -> None:
        """Fire the transition and take its consequences; no await, so atomic."""
        body, actor, now = command.body, command.actor, workflow.now()
        from_state = self._data.state
        rule = self._machine.fire(body.action, command.variant, actor.role, actor.staff_id)
        detail = body.model_dump(mode="json", exclude={"action"})
        for fact in rule.sets:
            if fact is Fact.risk_level:
                self._data.risk_level = body.resolved_risk()
                detail["resolved_risk_level"] = self._data.risk_level.value
            elif fact is Fact.closure_proposal:
                self._data.closure_proposal = ClosureProposal(
                    by=actor.staff_id, at=now, **body.model_dump(include={"reason", "outcome", "rationale",
                                                                           "unmet_reasons", "follow_up"}))
            elif fact is Fact.no_closure_proposal:
                self._data.closure_proposal = None
            elif fact is Fact.follow_up:
                self._data.follow_up = bool(getattr(body, "follow_up", False))
            elif fact is Fact.assessor:  # the first assessment: its assessor owns the case from now on
                self._data.assessor = self._data.assessor or actor.staff_id
                self._data.owner = self._data.owner or actor.staff_id
            elif fact is Fact.owner:
                detail["former_owner"] = self._data.owner
                self._data.owner = body.owner
            else:
                setattr(self._data, fact.value, True)
        self._machine.sync(self._data)
        self._remember(command.request, self._take(rule, actor.staff_id, actor.role.value, from_state, now, detail))
        self._upsert_search_attributes()

    def _taken(self, command: ActionCommand) -> bool:
        return self._requests and command.request is not None and command.request in self._data.requests

    def _remember(self, request: str | None, event: CaseEvent) -> None:
        """Keep the request that caused ``event`` (REQUESTS): on the event, and among the case's latest."""
        if self._requests and request is not None:
            event.request = request
            self._data.requests = [*self._data.requests, request][-REQUESTS_KEPT:]

    def _take(
        self,
        rule: Rule,
        actor: str,
        role: str,
        from_state: CaseState | None,
        now: datetime,
        detail: dict | None = None,
        rendered: bool = False,
    ) -> CaseEvent:
        """Everything a fired rule causes, in this order: the obligations it meets and opens
        (each opened one tells its owner), the documents it renders (unless already
        ``rendered``, as the workflow's own steps are), the step that follows, and who is
        told that it happened. A notice and a tell of the same event go out as one."""
        d, facts, machine = self._data, self._machine.facts, self._machine
        d.state = self._machine.state
        if d.state is CaseState.closed:
            d.closed_at = now
        elif d.closed_at is not None:  # reopened
            d.closed_at = None
        deadlines.meet(d, rule.meets, now)
        deadlines.reschedule(d, rule.reschedules, now)
        event = self._record(rule.action, actor, role, from_state, now, detail=detail)
        notices: dict[NotificationEvent, tuple[list[Recipient], Obligation | None]] = {}
        for opens in rule.opens:
            if not (machine.has(opens) and facts.holds(opens.when)):
                continue
            span = getattr(d.policy, opens.within) if opens.within else None
            # an obligation is open at most once at a time: a second opening keeps the first deadline (one with
            # its own window brings it forward)
            if opens.obligation not in d.open_obligations:
                deadlines.open_deadline(opens.obligation, d, now, span)
            elif span is None or not deadlines.bring_forward(d, opens.obligation, now + span):
                continue
            duty = OBLIGATIONS[opens.obligation]
            notices.setdefault(duty.notice, ([duty.owner], opens.obligation))
        self._machine.sync(d)
        told = []
        for tell in rule.tells:
            if not (machine.has(tell) and facts.holds(tell.when)):
                continue
            if tell.event in notices:
                notices[tell.event][0].extend(tell.to)
            else:
                told.append(tell)
        for what, (recipients, obligation) in notices.items():
            self._notify(what, recipients, event, obligation)
        if not rendered:
            for renders in rule.renders:
                if facts.holds(renders.when):
                    self._effects.append(_Document(self._document_request(renders.document, event)))
        for lists in rule.lists:
            if machine.has(lists) and facts.holds(lists.when):
                self._effects.append(_Watch(WatchRequest(
                    school_id=d.school_id, student=d.student, policy=d.policy,
                    addition=WatchAdd(reason=WatchReason.closed_with_follow_up, source=d.case_id, by=actor,
                                      owner=d.owner))))
        if rule.then is not None:
            self._effects.append(_Step(rule.then))
        for tell in told:
            if tell.event is NotificationEvent.openings_digest:  # told with the school's day, not now
                start = digest_of(d.school_id, event.at, d.policy.digest_at)
                self._effects.append(_Digest(DigestRequest(start=start, case_id=d.case_id)))
            else:
                self._notify(tell.event, list(tell.to), event)
        return event

    def _record(
        self,
        action: Action,
        actor: str,
        role: str,
        from_state: CaseState | None,
        at: datetime,
        *,
        detail: dict | None = None,
        obligation: Obligation | None = None,
        level: int | None = None,
    ) -> CaseEvent:
        event = CaseEvent(
            seq=self._data.events[-1].seq + 1 if self._data.events else 1,
            at=at,
            action=action,
            actor=actor,
            actor_role=role,
            from_state=from_state,
            to_state=self._data.state,
            obligation=obligation,
            escalation_level=level,
            detail=detail or {},
        )
        self._data.events.append(event)
        self._data.counts[action.value] = self._data.counts.get(action.value, 0) + 1
        self._data.first_at.setdefault(action.value, at)
        self._machine.facts.counts[action.value] = self._data.counts[action.value]
        return event

    def _document_request(self, kind: DocumentKind, event: CaseEvent) -> DocumentRequest:
        return DocumentRequest(
            document_id=f"{self._data.case_id}-{kind.value}-{event.seq}",
            kind=kind,
            case=self._bounded(),
            event_seq=event.seq,
            created_at=event.at,
        )

    def _notify(
        self,
        what: NotificationEvent,
        recipients: list[Recipient],
        event: CaseEvent,
        obligation: Obligation | None = None,
        level: int = 0,
    ) -> None:
        due_at = None
        if obligation is not None:
            due_at = next(d.due_at for d in reversed(self._data.deadlines) if d.obligation == obligation)
        recipients, named = self._people(recipients, event)
        request = NotificationRequest(
            notification_id=f"{self._data.case_id}-{event.seq}-{what.value}",
            case_id=self._data.case_id,
            school_id=self._data.school_id,
            event=what,
            recipient_roles=recipients,
            obligation=obligation,
            due_at=due_at,
            escalation_level=level,
            created_at=event.at,
            named=named,
        )
        if self._step_outbox:
            self._notices.append(request)  # written with the step's projection
        else:
            self._effects.append(_Notify(request))

    def _people(self, recipients: list[Recipient], event: CaseEvent) -> tuple[list[Recipient], dict[str, str]]:
        """The recipients with the people they name (``NotificationRequest.named``): the case's owner and,
        for a reassignment, the former one. Without a named owner (before the assessment, or a case before
        OWNER) the owner's notice goes to the school's psychology teachers; an unknown former owner, to nobody."""
        people = {Recipient.owner: self._data.owner, Recipient.former_owner: event.detail.get("former_owner")}
        named, kept = {}, []
        for recipient in recipients:
            if recipient not in people:
                kept.append(recipient)
            elif OWNER in self._data.features and people[recipient]:
                named[recipient.value] = people[recipient]
                kept.append(recipient)
            elif recipient is Recipient.owner:
                kept.append(Recipient.psychology_teacher)
        return list(dict.fromkeys(kept)), named

    async def _escalate_due(self) -> None:
        now = workflow.now()
        step = deadlines.step(self._data)
        climbed = False
        for deadline in self._data.deadlines:
            when = deadlines.next_escalation(deadline, step)
            if when is None or when > now:
                continue
            on_miss = OBLIGATIONS[deadline.obligation].on_miss
            if on_miss is not None and DE_FACTO in self._data.features:
                # the duty's own consequence instead of the ladder (a referral not attended: deemed refused)
                await self._step(on_miss)
                if deadline.met_at is None:  # overtaken: the step no longer applies; stop waking for it
                    deadline.escalation_level = deadlines.TOP_LEVEL
                continue
            level = deadlines.climb(deadline, now)
            event = self._record(
                Action.escalate, SYSTEM, SYSTEM, self._data.state, now, obligation=deadline.obligation, level=level
            )
            what = NotificationEvent.deadline_missed if level == 1 else NotificationEvent.deadline_escalated
            self._notify(what, deadlines.told_at(level, deadline, self._data), event, deadline.obligation, level)
            workflow.logger.warning(
                "deadline escalated",
                extra={
                    "case_id": self._data.case_id,
                    "obligation": deadline.obligation.value,
                    "escalation_level": level,
                },
            )
            climbed = True
        if climbed:
            self._upsert_search_attributes()
            await self._project()

    # -------------------------------------------------------------- effects

    async def _run_effects(self) -> None:
        """Start the queued effects: each on its own (DURABLE), else one after another (older histories)."""
        while True:
            await workflow.wait_condition(lambda: bool(self._effects))
            if self._durable:
                while self._effects:
                    self._running += 1
                    asyncio.create_task(self._independently(self._effects.pop(0)))
                continue
            await self._perform(self._effects[0])
            self._effects.pop(0)

    async def _independently(self, effect: _Effect) -> None:
        try:
            await self._perform(effect)
        finally:
            self._running -= 1

    async def _perform(self, effect: _Effect) -> None:
        if isinstance(effect, _Notify):
            await self._attempt("notification", effect.request.notification_id, Io.notify, effect.request)
        elif isinstance(effect, _Deliver):
            ids = ",".join(n.notification_id for n in effect.batch.notifications)
            await self._attempt("notification", ids, Io.deliver, effect.batch)
        elif isinstance(effect, _Document):
            await self._attempt("document", effect.request.document_id, Io.render_document, effect.request)
        elif isinstance(effect, _Digest):
            await self._attempt("notification", f"digest-{effect.request.start.day}", Io.digest_opening,
                                effect.request)
        elif isinstance(effect, _Watch):
            await self._attempt("watch", f"watch-{self._data.case_id}", Io.watch_student, effect.request)
        else:
            await self._step(effect.action)

    async def _attempt(self, kind: str, effect_id: str, activity: Io, argument) -> None:
        """Run an effect; one that fails for good (retrying cannot mend it) is recorded and shown, and
        the case goes on."""
        try:
            await _io(activity, argument)
        except ActivityError as failed:
            cause = failed.cause
            reason = cause.message if isinstance(cause, ApplicationError) else type(cause).__name__
            failure = FailedEffect(effect=kind, effect_id=effect_id, reason=reason[:300], at=workflow.now())
            self._data.failed_effects.append(failure)
            self._record(Action.effect_failed, SYSTEM, SYSTEM, self._data.state, failure.at,
                         detail=failure.model_dump(mode="json"))
            workflow.logger.warning("effect failed for good", extra={"case_id": self._data.case_id, "effect": kind})
            await self._project()

    async def _step(self, action: Action) -> None:
        """The workflow's own step (on refusal: the report to the education authority
        [seed 002, 六 3]). Its documents are made first, for the event that brought the
        case into the step's state; then it fires."""
        rule = rule_for(action, self._data.features)
        if self._data.state not in rule.source:  # overtaken (a refusal withdrawn before it was reported)
            workflow.logger.info("step overtaken", extra={"case_id": self._data.case_id, "step": action.value})
            return
        if not all(self._machine.facts.holds(c) for c in rule.guard):  # a leader sends it (REPORT_CONFIRMED)
            workflow.logger.info("step left to staff", extra={"case_id": self._data.case_id, "step": action.value})
            return
        cause = next(e for e in reversed(self._data.events) if e.to_state in rule.source)
        for renders in rule.renders:
            if self._machine.facts.holds(renders.when):
                request = self._document_request(renders.document, cause)
                await self._attempt("document", request.document_id, Io.render_document, request)
        from_state = self._data.state
        self._machine.fire(action)
        self._take(rule, SYSTEM, SYSTEM, from_state, workflow.now(), rendered=True)
        self._upsert_search_attributes()
        await self._project()

    async def _project(self) -> None:
        """Mirror the case into the read model and wait for it (the API answers from there).

        DURABLE: an ordinary activity, scheduled in the same workflow task as the change it
        mirrors, so it runs only once that change is in the history: the read model never
        shows what Temporal did not record. Older histories used a local activity.
        STEP_OUTBOX: the projection also writes the step's notifications and their outbox rows
        in the same commit; what has somewhere to go is then sent by one ``deliver``.
        """
        seq = self._last_seq
        if self._step_outbox:
            notices, self._notices = self._notices, []
            to_send = await workflow.execute_activity(
                Io.project_step.value,
                StepRecord(case=self._bounded(unprojected=True), notifications=notices),
                result_type=list[str],
                start_to_close_timeout=_PROJECT_TIMEOUT,
                retry_policy=_PROJECT_RETRY,
            )
            if to_send:
                self._effects.append(_Deliver(DeliveryBatch(
                    notifications=[n for n in notices if n.notification_id in to_send])))
        elif self._durable:
            await workflow.execute_activity(
                Io.project_case.value,
                self._bounded(unprojected=True),
                start_to_close_timeout=_PROJECT_TIMEOUT,
                retry_policy=_PROJECT_RETRY,
            )
        else:
            await workflow.execute_local_activity(
                Io.project_case.value,
                self._data.model_copy(deep=True),
                start_to_close_timeout=_IO_TIMEOUT,
                retry_policy=_IO_RETRY,
            )
        self._projected_seq = max(self._projected_seq, seq)

    def _bounded(self, unprojected: bool = False) -> CaseData:
        """The case as a payload carries it (``CaseData.bounded``; the projection also takes every
        event not yet projected). The history and the read model keep them all."""
        return self._data.bounded(self._projected_seq if unprojected else None)

    def _upsert_search_attributes(self) -> None:
        d = self._data
        workflow.upsert_search_attributes(
            [
                sa.CASE_STATE.value_set(d.state.value),
                sa.RISK_LEVEL.value_set(d.risk_level.value if d.risk_level else "unassessed"),
                sa.SCHOOL_ID.value_set(d.school_id),
                sa.ESCALATION_LEVEL.value_set(d.escalation_level),
            ]
        )

    def _view(self) -> CaseView:
        return case_view(self._data, workflow.now())


async def _io(activity: Io, argument) -> None:
    """Run an activity with the case's I/O options: retried until it succeeds."""
    await workflow.execute_activity(
        activity.value, argument, start_to_close_timeout=_IO_TIMEOUT, retry_policy=_IO_RETRY
    )



