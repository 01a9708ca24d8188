"""The one host-side door to the workflows: every face comes in here.

The JSON API (``api/routes``), the staff app's pages (``api/web``), the screening importer
(``intake/``) and the command line open cases, take actions, reopen cases and run extreme-event
reviews through :class:`Door`, and nothing else in the project starts or updates a workflow (a
test greps for it). The door answers with the case as the read model holds it once Temporal took
the action, or raises a domain error (``models/errors.py``): :class:`~models.errors.Refused`
(the state and what is allowed), :class:`~models.errors.Invalid` (the field, a reason code and its
parameters), :class:`~models.errors.Forbidden`, :class:`~models.errors.NotFound`. Each face words
those errors once; none reads another face's answer.

An ``Idempotency-Key`` (a form posts one too) makes the same request by the same person one
action however often it arrives: the key names the Temporal update and the request, and the first
outcome, a view or a domain error, is kept sealed and given again. When the first answer was lost
(the API died after the case took the action), the case knows the request: its event carries it in
the read model, and the workflow keeps its latest requests from run to run, so a retry after a
continue-as-new, a closure or a reopening is answered with the case, never taken twice.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from channels.config import ChannelsFile, read_channels
from channels.sms import MOBILE
from config.settings import Settings
from config.temporal import workflow_id
from db import directory, guardian_links, help_requests, store
from models.case import (
    ActionCommand,
    Actor,
    CaseStart,
    CaseView,
    DocumentRequest,
    EventLink,
    GuardianResponseBody,
    GuardianResponseCommand,
    LinkSms,
    NotificationRequest,
    OnlineAnswer,
    OpenCaseBody,
    ReopenBody,
)
from models.digest import DigestRequest, digest_workflow_id
from models.domain import Action, CaseState, DocumentKind, NotificationEvent, Obligation, Recipient, StaffRole
from models.errors import DomainError, Forbidden, Invalid, NotFound, Refused
from models.help import HelpBody, HelpResolve, HelpStart, help_workflow_id
from models.incident import (
    FactsBody,
    FactsSubmission,
    GroupBody,
    GroupForming,
    IncidentBody,
    IncidentData,
    IncidentStart,
    ReportDraft,
    ReportSubmission,
    ReviewReport,
)
from models.incident import report_errors as incident_report_errors
from models.policy import DeadlinePolicy
from models.term_report import TermReportRequest, term_of
from models.watch import WatchData, WatchRequest, WatchReview, WatchStart, watch_id_for, watch_workflow_id
from paper.facts import TITLES
from paper.words import Lang
from workflows.case_workflow import FORBIDDEN, INVALID, REFUSED, CaseWorkflow
from workflows.deadlines import duty_owner, told_from
from workflows.digest_workflow import OpeningsDigestWorkflow
from workflows.help_workflow import HelpRequestWorkflow
from workflows.incident_workflow import IncidentReviewWorkflow, incident_workflow_id
from workflows.machine import ALL_FEATURES, CaseMachine
from workflows.remake_workflow import RemakeWorkflow, remake_workflow_id
from workflows.reminder_workflow import ReminderWorkflow
from workflows.sms_workflow import LinkSmsWorkflow
from workflows.term_report_workflow import TermReportWorkflow, term_workflow_id
from workflows.view import case_view
from workflows.watch_workflow import WatchWorkflow

BEIJING_TIME = ZoneInfo("Asia/Shanghai")
log = structlog.get_logger(__name__)

_CODES = {REFUSED: Refused.code, INVALID: Invalid.code, FORBIDDEN: Forbidden.code}
#: How a kept answer's kind is numbered in ``idempotency_keys.status_code`` (the numbers are HTTP's,
#: which every face already knows; answers kept before the door are read back by them too).
_KEPT = {"done": 200, "proposed": 202, Refused.code: 409, Invalid.code: 422}


def domain_error(exc: WorkflowUpdateFailedError) -> DomainError | None:
    """The domain error a workflow's update failed with, or None for any other failure."""
    cause = exc.cause
    if not isinstance(cause, ApplicationError) or cause.type not in _CODES:
        return None
    details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
    return DomainError.from_details(_CODES[cause.type], cause.message, details)


async def _update(handle, update, argument, gone, **options):
    """An update through the door: a domain error the workflow refused with, as itself; a workflow that
    is no longer running, ``gone()``'s error."""
    try:
        return await handle.execute_update(update, argument, **options)
    except WorkflowUpdateFailedError as exc:
        error = domain_error(exc)
        if error is None:
            raise
        raise error from None
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        raise gone() from None


async def digest_opening(client: Client, task_queue: str, request: DigestRequest) -> None:
    """A case into its school's daily digest of new cases: the day's OpeningsDigestWorkflow started with it,
    or sent it while it waits (signal-with-start); one that has gone out starts again (a late opening)."""
    await client.start_workflow(OpeningsDigestWorkflow.run, request.start, id=digest_workflow_id(request.start),
                                task_queue=task_queue, start_signal="add", start_signal_args=[request.case_id],
                                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE)


async def watch_student(client: Client, task_queue: str, request: WatchRequest) -> str:
    """A student on the watch list: their WatchWorkflow started with the addition, or sent it while it runs
    (signal-with-start), so the screening import and a closing case reach the one entry; a released entry
    starts again. Returns the watch id."""
    watch_id = watch_id_for(request.school_id, request.student.ref)
    start = WatchStart(watch_id=watch_id, school_id=request.school_id, student=request.student,
                       policy=request.policy)
    await client.start_workflow(WatchWorkflow.run, start, id=watch_workflow_id(watch_id), task_queue=task_queue,
                                start_signal="add", start_signal_args=[request.addition],
                                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE)
    return watch_id


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class Acted:
    """What an action came to: the case after it; ``proposed`` when it waits for a second person
    (a high-risk closure); ``replayed`` when an earlier request under the same key took it."""

    view: CaseView
    proposed: bool = False
    replayed: bool = False


def _kept(status_code: int, response: str) -> Acted | DomainError:
    """An answer kept under an idempotency key, as the door gave it (or as the API kept it before)."""
    payload = json.loads(response)
    if "error" in payload:
        error = payload["error"]
        return DomainError.from_details(error["code"], error["message"], error["details"])
    if status_code in (200, 202):
        return Acted(CaseView.model_validate(payload.get("view", payload)), status_code == 202, True)
    if status_code == 409:
        return Refused(payload.get("detail", ""), payload.get("state"), payload.get("allowed_actions", []))
    first = (payload.get("detail") or [{}])[0]
    return Invalid(".".join(str(p) for p in first.get("loc", ["body"])[1:]) or "body", "invalid", {},
                   first.get("msg"))


@dataclass
class Door:
    """The door, with what it needs: the Temporal client, the read model, the settings and the
    deadline policy a new case copies."""

    client: Client
    engine: Engine
    settings: Settings
    policy: DeadlinePolicy

    # ------------------------------------------------------------------ cases

    def read(self, case_id: str, now: datetime | None = None) -> CaseView:
        """The case as the read model holds it (:class:`NotFound` if there is none)."""
        data = store.load_case(self.engine, case_id)
        if data is None:
            raise NotFound("case", case_id)
        return case_view(data, now or datetime.now(UTC))

    def check_opening(self, body: OpenCaseBody, by: Actor) -> OpenCaseBody:
        """What opening a case asks of who opens it and of the student's class. Returns the body with the
        student's grade and class as the directory names the class: the class id decides who hears of and
        sees the case, so the name every page and paper shows is the directory's, never another typed one."""
        if body.student.school_id != by.school_id:
            raise Forbidden("student.school_id: you may open cases of your own school only", by.role.value,
                            Action.open.value, "school")
        known = directory.of_school(self.engine, by.school_id).schools
        classes = {c.id for c in known[0].classes} if known else set()
        if body.student.class_id and classes and body.student.class_id not in classes:
            raise Invalid("student.class_id", "unknown_class", {"class_id": body.student.class_id},
                          "student.class_id: not a class of this school in the directory")
        if classes and not body.student.class_id:
            # the class scopes who hears of the case and who sees it: the directory lists the school's
            raise Invalid("student.class_id", "class_required", {},
                          "student.class_id: required; the directory lists this school's classes")
        named = next((c for c in known[0].classes if c.id == body.student.class_id), None) if known else None
        if named is None or (body.student.grade, body.student.class_name) == (named.grade, named.name):
            return body
        student = body.student.model_copy(update={"grade": named.grade, "class_name": named.name})
        return body.model_copy(update={"student": student})

    def check_owner(self, case_id: str, staff_id: str, by: Actor) -> None:
        """A case's owner is a psychology teacher (or crisis expert) of its school, in the directory. Asked
        once the table lets the reassignment happen now (a refusal says first what the case allows)."""
        data = store.load_case(self.engine, case_id)
        if data is None:
            raise NotFound("case", case_id)
        CaseMachine.of(data, datetime.now(UTC)).check(Action.reassign, None, by.role, by.staff_id)
        person = directory.person(self.engine, staff_id)
        if person is None or person.school_id != by.school_id or not (
                {StaffRole.psychology_teacher.value, StaffRole.expert.value} & set(person.roles)):
            raise Invalid("owner", "not_a_psychology_teacher", {"owner": staff_id},
                          "owner: not a psychology teacher of this school in the directory")

    async def open_case(self, body: OpenCaseBody, by: Actor, key: str | None = None) -> tuple[CaseView, bool]:
        """Open a case and answer with it once it is in the read model; with a ``key`` the same body
        opens one case however often it is sent. Returns the view and whether an earlier request
        under the key opened it."""
        body = self.check_opening(body, by)
        case_id, replayed = uuid.uuid4().hex, False
        if key:
            try:
                claimed = store.claim_idempotency_key(self.engine, by.staff_id, key,
                                                      _digest(body.model_dump(mode="json")), case_id,
                                                      datetime.now(UTC))
            except store.IdempotencyConflict as exc:
                raise Invalid("Idempotency-Key", "key_reused", {}, f"Idempotency-Key: {exc}", "header") from None
            if claimed.case_id != case_id:
                case_id, replayed = claimed.case_id, True
                if store.case_school(self.engine, case_id) is not None:
                    return self.read(case_id), True
        structlog.contextvars.bind_contextvars(case_id=case_id)
        start = CaseStart(case_id=case_id, opened_by=by, case=body, policy=self.policy,
                          history_event_limit=self.settings.history_event_limit)
        if not await self.start(start):
            return self.read(case_id), replayed
        view = await self.client.get_workflow_handle(workflow_id(case_id)).execute_update(CaseWorkflow.opened)
        log.info("case opened", role=by.role.value)
        return view, replayed

    async def start(self, start: CaseStart) -> bool:
        """Start a case's workflow without waiting for it (the importer's many starts); False when a
        workflow of that id ran already (opened before, and closed since)."""
        try:
            await self.client.start_workflow(
                CaseWorkflow.run, start, id=workflow_id(start.case_id), task_queue=self.settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        except WorkflowAlreadyStartedError:
            return False
        return True

    async def act(self, case_id: str, command: ActionCommand, key: str | None = None) -> Acted:
        """Take an action through the workflow (its validator decides), and answer with the case once
        the read model holds the action."""
        structlog.contextvars.bind_contextvars(case_id=case_id)
        by = command.actor
        update_id = None
        if key:
            digest = _digest(case_id, command.body.model_dump(mode="json"))
            try:
                claimed = store.claim_idempotency_key(self.engine, by.staff_id, key, digest, case_id,
                                                      datetime.now(UTC))
            except store.IdempotencyConflict as exc:
                raise Invalid("Idempotency-Key", "key_reused", {}, f"Idempotency-Key: {exc}", "header") from None
            if claimed.status_code is not None:
                kept = _kept(claimed.status_code, claimed.response)
                if isinstance(kept, DomainError):
                    kept.replayed = True
                    raise kept
                return kept
            update_id = f"idem-{_digest(by.staff_id, key)[:40]}"
            command = command.model_copy(update={"request": update_id})
            taken = store.request_taken(self.engine, case_id, update_id)
            if taken is not None:  # taken before its answer was kept: the case as it stands
                view = self.read(case_id)
                acted = Acted(view, taken == Action.close.value and view.state is not CaseState.closed, True)
                self._keep(by, key, _KEPT["proposed" if acted.proposed else "done"],
                           {"view": acted.view.model_dump(mode="json")})
                return acted
        try:
            if command.body.action is Action.reassign:
                self.check_owner(case_id, command.body.owner, by)
            if command.body.action is Action.reopen:  # a new run of the closed case's workflow
                acted = Acted(await self.reopen(case_id, ReopenBody(reason=command.body.reason), by, update_id))
            else:
                acted = await self._act(case_id, command, update_id)
        except (Refused, Invalid) as error:
            if key:
                self._keep(by, key, _KEPT[error.code], {"error": {"code": error.code, "message": str(error),
                                                                   "details": error.as_details()}})
            log.info("action refused", action=command.body.action, code=error.code)
            raise
        if key:
            self._keep(by, key, _KEPT["proposed" if acted.proposed else "done"],
                       {"view": acted.view.model_dump(mode="json")})
        log.info("action accepted", action=command.body.action)
        return acted

    def _keep(self, by: Actor, key: str, status_code: int, payload: dict) -> None:
        store.save_idempotent_answer(self.engine, by.staff_id, key, status_code,
                                     json.dumps(payload, ensure_ascii=False))

    async def _act(self, case_id: str, command: ActionCommand, update_id: str | None) -> Acted:
        def gone() -> Refused:  # the workflow has finished (closed) or is gone; the read model knows the state
            view = self.read(case_id)
            action = command.body.action.value
            return Refused(f"{action} is not allowed in state {view.state.value}", view.state, view.allowed_actions,
                           action)

        await _update(self.client.get_workflow_handle(workflow_id(case_id)), CaseWorkflow.act, command, gone,
                      id=update_id)
        # the update returned after its projection: the read model holds the action
        view = self.read(case_id)
        # a closure proposed, not yet decided: the case as it was, waiting for leadership
        return Acted(view, proposed=command.body.action is Action.close and view.state is not CaseState.closed)

    async def reopen(self, case_id: str, body: ReopenBody, by: Actor, request: str | None = None) -> CaseView:
        """Take a closed case up again (leadership, within the policy's ``reopen_within``): the same case
        and history, in a new run, back in assessed with a reassessment due. ``request``: as
        ``ActionCommand.request``."""
        structlog.contextvars.bind_contextvars(case_id=case_id)
        data = store.load_case(self.engine, case_id)
        if data is None:
            raise NotFound("case", case_id)
        machine = CaseMachine.of(data, datetime.now(UTC))
        machine.features = ALL_FEATURES  # the reopened case runs as a new run, with every feature
        machine.check(Action.reopen, None, by.role, by.staff_id)
        handle = self.client.get_workflow_handle(workflow_id(case_id))
        if (await handle.describe()).status is not WorkflowExecutionStatus.COMPLETED:
            if request is not None:  # perhaps this very request's run, its reopening not yet in the read model
                await handle.execute_update(CaseWorkflow.caught_up)
                if store.request_taken(self.engine, case_id, request) is not None:
                    return self.read(case_id)
            raise Refused("reopen is not allowed yet: the case is still finishing its closure", data.state, [],
                          Action.reopen.value, ("closure_finishing",))
        start = CaseStart.reopening(data, by, body.reason, self.settings.history_event_limit, request)
        try:
            handle = await self.client.start_workflow(
                CaseWorkflow.run, start, id=workflow_id(case_id), task_queue=self.settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
        except WorkflowAlreadyStartedError:
            view = self.read(case_id)
            raise Refused("reopen is not allowed: the case was reopened already", view.state, view.allowed_actions,
                          Action.reopen.value, ("reopened_already",)) from None
        await handle.execute_update(CaseWorkflow.caught_up)
        log.info("case reopened", role=by.role.value)
        return self.read(case_id)

    # ------------------------------------------------------------ reminders (催办)

    def may_remind(self, data, role: StaffRole, now: datetime) -> list:
        """The overdue duties of a case this role may remind their owners of: those the warning ladder has
        climbed to the rung that tells this role (the same rule that gives them the 督办 task)."""
        told = told_from(role.value)
        if told is None or data.state is CaseState.closed:
            return []
        return [d for d in data.deadlines if d.met_at is None and d.due_at <= now and d.escalation_level >= told]

    async def remind(self, case_id: str, obligation: Obligation, by: Actor) -> bool:
        """Remind an overdue duty's owner (a notification, no step of the case), at most once an hour per
        duty; False when it was reminded this hour already."""
        data = store.load_case(self.engine, case_id)
        if data is None:
            raise NotFound("case", case_id)
        now = datetime.now(UTC)
        deadline = next((d for d in self.may_remind(data, by.role, now) if d.obligation is obligation), None)
        if deadline is None:
            raise Refused(f"remind {obligation.value}: not an overdue duty this role is told of",
                          data.state, [], "remind", ("not_overdue_for_role",))
        owner = duty_owner(obligation, data)
        hour = now.astimezone(BEIJING_TIME).strftime("%Y%m%d%H")
        request = NotificationRequest(
            notification_id=f"remind-{case_id}-{obligation.value}-{hour}", case_id=case_id,
            school_id=data.school_id, event=NotificationEvent.duty_reminded, recipient_roles=[owner],
            obligation=obligation, due_at=deadline.due_at, escalation_level=deadline.escalation_level,
            created_at=now, named={**({Recipient.owner.value: data.owner} if data.owner else {}),
                                   "by": by.staff_id, "by_role": by.role.value})
        if not await self._send_once(request):
            return False
        log.info("duty reminded", obligation=obligation.value, role=by.role.value)
        return True

    async def _send_once(self, request: NotificationRequest) -> bool:
        """One notification that is no step of its case, from a ``ReminderWorkflow`` named by the notification's
        id (so the same id sends once); False when it was sent already."""
        try:
            await self.client.start_workflow(ReminderWorkflow.run, request, id=request.notification_id,
                                             task_queue=self.settings.task_queue,
                                             id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        except WorkflowAlreadyStartedError:
            return False
        return True

    # ------------------------------------------------------------ the guardian's answer link (GUARDIAN_ONLINE)

    async def tell(self, case_id: str, event: NotificationEvent, to: Recipient, key: str) -> bool:
        """One notification about a case that is no step of it (a locked link, an answer a person must record),
        sent once per ``key`` from a small workflow (as a 催办 is); False when that key was sent already."""
        data = store.load_case(self.engine, case_id)
        if data is None:
            raise NotFound("case", case_id)
        request = NotificationRequest(
            notification_id=f"tell-{case_id}-{event.value}-{key}"[:120], case_id=case_id, school_id=data.school_id,
            event=event, recipient_roles=[to], created_at=datetime.now(UTC),
            named={Recipient.owner.value: data.owner} if data.owner else {})
        if not await self._send_once(request):
            return False
        log.info("told about a case", notification_event=event.value)
        return True

    async def answer_online(self, case_id: str, link_id: str, body: GuardianResponseBody) -> bool:
        """The guardian's own answer through the notice's link, taken by the case as the staff-recorded
        ``guardian_response`` (by the guardian, channel online); True when the case took it. An answer the case
        cannot take as it stands (the state, an older case) is kept on the link, and the head teacher is told to
        read and record it: it is never lost."""
        structlog.contextvars.bind_contextvars(case_id=case_id)
        answer = OnlineAnswer(body=GuardianResponseCommand(**body.model_dump()), link=link_id,
                              request=f"link-{link_id[:40]}")
        handle = self.client.get_workflow_handle(workflow_id(case_id))
        try:
            await handle.execute_update(CaseWorkflow.answer_online, answer, id=f"link-{link_id}")
        except WorkflowUpdateFailedError as exc:
            if domain_error(exc) is None:
                raise
            taken = False
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            taken = False
        else:
            taken = True
        guardian_links.settle_answer(self.engine, link_id, "taken" if taken else "kept")
        if not taken:
            await self.tell(case_id, NotificationEvent.guardian_answered_online, Recipient.head_teacher, link_id[:16])
        log.info("guardian answered online", decision=body.decision, taken=taken)
        return taken

    @cached_property
    def _channels(self) -> ChannelsFile:
        return read_channels(self.settings.channels_file)

    def sends_sms(self, school_id: str) -> bool:
        """Whether the school has an SMS gateway (the case page offers to send the link by SMS)."""
        return self._channels.of(school_id).sms is not None

    async def send_link_sms(self, case_id: str, phone: str, by: Actor) -> None:
        """Keep the guardian's mobile number on the case (sealed) and send the case's open answer link to it by
        SMS, from a ``LinkSmsWorkflow`` (retried until the school's gateway takes it); one message a minute at
        most, however often the button is pressed. Invalid naming ``phone``; Refused when no link is open."""
        if not MOBILE.match(phone):
            raise Invalid("phone", "not_a_mobile", {}, "phone: an 11-digit mainland mobile number")
        data = store.load_case(self.engine, case_id)
        if data is None or data.school_id != by.school_id:
            raise NotFound("case", case_id)
        now = datetime.now(UTC)
        link = guardian_links.latest(self.engine, case_id)
        if link is None or guardian_links.standing(link, now) != "open" or not self.sends_sms(data.school_id):
            raise Refused("send the answer link: no open link, or no SMS gateway", data.state, [], "send_link_sms",
                          ())
        guardian_links.set_phone(self.engine, case_id, phone, by.staff_id, now)
        sent = now.astimezone(BEIJING_TIME).strftime("%Y%m%d%H%M")
        request = LinkSms(case_id=case_id, link=link.link_id, sent=sent)
        try:
            await self.client.start_workflow(LinkSmsWorkflow.run, request, id=f"sms-{link.link_id[:32]}-{sent}",
                                             task_queue=self.settings.task_queue,
                                             id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        except WorkflowAlreadyStartedError:
            pass
        log.info("answer link sent by sms", case_id=case_id)

    def revoke_link(self, case_id: str, by: Actor) -> bool:
        """Leadership ends the case's open answer link; False when none was open."""
        if by.role is not StaffRole.leadership:
            raise Forbidden("", by.role.value, "revoke the guardian's answer link", "role")
        data = store.load_case(self.engine, case_id)
        if data is None or data.school_id != by.school_id:
            raise NotFound("case", case_id)
        revoked = guardian_links.revoke(self.engine, case_id, by.staff_id, datetime.now(UTC))
        log.info("answer link revoked", case_id=case_id, revoked=revoked)
        return revoked

    # ------------------------------------------------------------ a student's or parent's help request

    async def ask_for_help(self, school_id: str, body: HelpBody, address: str) -> str:
        """Keep a help request (sealed) and start its ``HelpRequestWorkflow``, which tells the school's psychology
        teachers at once; the request's id. Kept first: a workflow that cannot start leaves the request in the
        list the psychology teachers read, never lost."""
        now, help_id = datetime.now(UTC), uuid.uuid4().hex
        help_requests.add(self.engine, help_id=help_id, school_id=school_id, body=body, address=address, now=now,
                          due_at=now + self.policy.help_look_within)
        await self.client.start_workflow(HelpRequestWorkflow.run,
                                         HelpStart(help_id=help_id, school_id=school_id, policy=self.policy),
                                         id=help_workflow_id(help_id), task_queue=self.settings.task_queue)
        log.info("help requested", school_id=school_id)
        return help_id

    async def look_at_help(self, help_id: str, by: Actor) -> None:
        """A psychology teacher (expert, leader) read the request: looked at, its ladder stops."""
        await self._help_update(help_id, HelpRequestWorkflow.look, by)

    async def resolve_help(self, help_id: str, resolve: HelpResolve) -> None:
        """A case opened from the request, or the request closed with a reason."""
        await self._help_update(help_id, HelpRequestWorkflow.resolve, resolve)

    async def _help_update(self, help_id: str, update, argument) -> None:
        def gone() -> Refused:  # the request was resolved (its workflow has finished)
            return Refused("the help request is resolved already", "closed", [], "resolve_help")

        await _update(self.client.get_workflow_handle(help_workflow_id(help_id)), update, argument, gone)

    # ------------------------------------------------------------ a failed document made again

    @staticmethod
    def may_remake(data, by: Actor) -> bool:
        """Who makes a failed document again: leadership, or the case's owner (the page offers it to them)."""
        return by.role is StaffRole.leadership or by.staff_id == data.owner

    async def remake(self, case_id: str, kind: DocumentKind, by: Actor) -> str:
        """Make a case's document again that failed for good, once its cause is mended (leadership, or the
        case's owner). The same request as the case made (its id, its event, its time); returns the document's
        id. Refused when no such document failed, and when it fails again (saying why, in Chinese)."""
        data = store.load_case(self.engine, case_id)
        if data is None or data.school_id != by.school_id:
            raise NotFound("case", case_id)
        if not self.may_remake(data, by):
            raise Forbidden("只有心理危机干预领导小组成员和个案的负责心理教师可以重新生成文书", by.role.value, "remake")
        failed = [f.effect_id for f in data.failed_effects
                  if f.effect == "document" and f.effect_id.startswith(f"{case_id}-{kind.value}-")]
        pending = [d for d in failed if store.get_document(self.engine, d) is None]
        if not pending:
            raise Refused(f"没有未能生成的《{TITLES[Lang.zh][kind]}》需要重新生成", data.state, [], "remake",
                          ("nothing_to_remake",))
        document_id = pending[-1]
        seq = int(document_id.rsplit("-", 1)[1])
        cause = next(e for e in data.events if e.seq == seq)
        request = DocumentRequest(document_id=document_id, kind=kind, case=data.bounded(seq), event_seq=seq,
                                  created_at=cause.at)
        try:
            await self.client.execute_workflow(
                RemakeWorkflow.run, request, id=remake_workflow_id(document_id), task_queue=self.settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
        except WorkflowFailureError as failure:
            cause_ = failure.cause.cause if isinstance(failure.cause, ActivityError) else failure.cause
            why = cause_.message if isinstance(cause_, ApplicationError) else "排版服务暂时不可用"
            log.warning("document remade and failed again", kind=kind.value)
            raise Refused(f"《{TITLES[Lang.zh][kind]}》仍未能生成：{why}", data.state, [], "remake",
                          ("document_failed",)) from None
        except WorkflowAlreadyStartedError:
            pass  # made already, by an earlier remake
        log.info("document remade", kind=kind.value, role=by.role.value)
        return document_id

    # ------------------------------------------------------------ the term report

    async def send_term_report(self, term_name: str, by: Actor) -> str:
        """A leader sends the school's report of a term to its authority (from the term's last day on; once a
        term). Returns the report's document id."""
        term = term_of(self.policy.terms, term_name)
        if term is None:
            raise Invalid("term", "unknown_term", {}, f"term: {term_name[:40]!r} is not a term of the school's policy")
        if not term.reportable(datetime.now(BEIJING_TIME).date()):
            raise Refused(f"the term {term.name} has not reached its last day", "open", [], "send_term_report",
                          ("term_not_over",))
        request = TermReportRequest(school_id=by.school_id, term=term, sent_by=by.staff_id,
                                    sent_by_role=by.role.value, sent_at=datetime.now(UTC))
        try:
            document_id = await self.client.execute_workflow(
                TermReportWorkflow.run, request, id=term_workflow_id(by.school_id, request),
                task_queue=self.settings.task_queue, id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
        except WorkflowAlreadyStartedError:
            raise Refused(f"the report of {term.name} was sent already", "sent", [], "send_term_report",
                          ("term_reported",)) from None
        except WorkflowFailureError:
            log.error("term report failed", term=term.name)
            raise Refused("学期报告未能生成，请稍后再试，或请系统管理员查看日志", "open", [], "send_term_report",
                          ("term_report_failed",)) from None
        log.info("term report sent", term=term.name)
        return document_id

    # ------------------------------------------------------------ extreme events

    async def record_incident(self, body: IncidentBody, by: Actor) -> str:
        """Record an extreme event; its review is due ``review_report_within`` after it. Returns its id
        once the read model holds it."""
        now = datetime.now(UTC)
        if body.occurred_at > now:
            raise Invalid("occurred_at", "in_future", {}, "occurred_at: must not lie in the future")
        if body.case_id is not None and store.case_school(self.engine, body.case_id) != by.school_id:
            raise Invalid("case_id", "not_own_case", {}, "case_id: not a case of your school")
        incident_id = uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(incident_id=incident_id)
        # who investigates: the local authorities over the school (属地), or any over it without a local one
        over = directory.authorities_of(self.engine, by.school_id)
        local = [a.authority_id for a in over if a.level == "local"] or [a.authority_id for a in over]
        start = IncidentStart(incident_id=incident_id, school_id=by.school_id, recorded_by=by, recorded_at=now,
                              event=body, policy=self.policy, investigators=local)
        handle = await self.client.start_workflow(IncidentReviewWorkflow.run, start,
                                                  id=incident_workflow_id(incident_id),
                                                  task_queue=self.settings.task_queue)
        # the workflow mirrors the incident first thing; wait for it (a second at most, normally)
        for _ in range(200):
            if store.get_incident(self.engine, incident_id) is not None:
                break
            await handle.query(IncidentReviewWorkflow.view)
        log.info("incident recorded", kind=body.kind.value)
        if body.case_id is not None:
            await self._link_case(body.case_id, EventLink(incident_id=incident_id, actor=by))
        return incident_id

    async def _link_case(self, case_id: str, link: EventLink) -> None:
        """The linked case hears of the event (a reassessment at once; closing by two people). A case closed, or
        whose run predates EXTREME_EVENT, is left as it is: the event's page names it, and leadership may reopen
        it."""
        handle = self.client.get_workflow_handle(workflow_id(case_id))
        try:
            await handle.execute_update(CaseWorkflow.link_event, link)
        except WorkflowUpdateFailedError as exc:
            error = domain_error(exc)
            if error is None:
                raise
            log.warning("extreme event not linked to its case", reason=type(error).__name__)
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            log.warning("extreme event not linked to its case", reason="case workflow finished")

    async def form_group(self, incident_id: str, group: GroupBody, by: Actor) -> IncidentData:
        """The authority forms the investigation group: its members must be people of the investigating
        authority (the directory)."""
        row = store.get_incident(self.engine, incident_id)
        if row is None:
            raise NotFound("incident", incident_id)
        ours = {p.staff_id for p in directory.people_of(self.engine, by.school_id or "")}
        strangers = [m for m in group.members if m not in ours]
        if strangers:
            raise Invalid("members", "not_authority_people", {"ids": ", ".join(strangers)},
                          f"members: {', '.join(strangers)} are not people of your authority")
        return await self._incident_update(incident_id, IncidentReviewWorkflow.form_group,
                                           GroupForming(actor=by, group=group))

    async def provide_facts(self, incident_id: str, facts: FactsBody, by: Actor) -> IncidentData:
        """The school's account of the facts, for the group."""
        return await self._incident_update(incident_id, IncidentReviewWorkflow.provide_facts,
                                           FactsSubmission(actor=by, facts=facts))

    async def save_report(self, incident_id: str, report: ReviewReport, by: Actor) -> IncidentData:
        """Save the review report as a draft (any section may still be empty)."""
        return await self._incident_update(incident_id, IncidentReviewWorkflow.save_draft,
                                           ReportDraft(actor=by, report=report))

    async def submit_report(self, incident_id: str, by: Actor) -> IncidentData:
        """Submit the saved report; :class:`Invalid` for each section missing or too few characters."""
        row = store.get_incident(self.engine, incident_id)
        if row is not None and row.state == "open":
            problems = incident_report_errors(ReviewReport.model_validate(row.report))
            if problems:
                raise InvalidAll(problems)
        return await self._incident_update(incident_id, IncidentReviewWorkflow.submit, ReportSubmission(actor=by))

    async def _incident_update(self, incident_id: str, update, argument) -> IncidentData:
        handle = self.client.get_workflow_handle(incident_workflow_id(incident_id))
        try:
            return await handle.execute_update(update, argument)
        except WorkflowUpdateFailedError as exc:
            error = domain_error(exc)
            if error is None:
                raise
            cause = exc.cause.details[0] if exc.cause.details else {}
            if isinstance(error, Invalid) and cause.get("all"):
                raise InvalidAll([DomainError.from_details(Invalid.code, "", d) for d in cause["all"]]) from None
            raise error from None

    # ------------------------------------------------------------------ the watch list

    async def watch(self, request: WatchRequest) -> str:
        """Put a student on the watch list (started or joined); their watch id."""
        return await watch_student(self.client, self.settings.task_queue, request)

    async def review_watch(self, watch_id: str, review: WatchReview) -> WatchData:
        """The owner's review of a watch-listed student: kept on the list (the next review due) or released."""
        return await _update(self.client.get_workflow_handle(watch_workflow_id(watch_id)), WatchWorkflow.review,
                             review, lambda: Refused("the student is not on the watch list", "released", [],
                                                     "watch_review", ("not_watched",)))


class InvalidAll(Invalid):
    """Several fields at once (a review report's empty sections): the first is this error's own."""

    def __init__(self, problems: list[Invalid]) -> None:
        first = problems[0]
        super().__init__(first.field, first.reason, first.params, str(first))
        self.problems = problems
