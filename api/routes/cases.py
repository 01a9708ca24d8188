"""Cases: open, act, read, list. Action routes are generated from one list.

Who may call what is ``api/access.py`` (for actions, the transition table's
roles); whether an action is allowed *now* is the workflow's answer (its
update validator), so a refusal writes nothing and comes back as 409 with
what is allowed. Roles that may not see who the student is get the view
without name and narrative.
"""

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.access import ACTION_PATHS, sees_identity
from api.auth import Principal
from api.deps import ActorDep, ClientDep, EngineDep, PolicyDep, SettingsDep
from api.errors import MAX_OFFSET, unprocessable
from config.temporal import workflow_id
from db import directory, store
from models.case import (
    ActionCommand,
    AssessCommand,
    AssessmentBody,
    CasePage,
    CaseStart,
    CaseView,
    CloseCommand,
    ClosureBody,
    ClosureDecisionBody,
    ClosureDecisionCommand,
    ContactBody,
    ContactCommand,
    GuardianNoticeBody,
    GuardianNoticeCommand,
    GuardianResponseBody,
    GuardianResponseCommand,
    InterveneCommand,
    InterventionBody,
    OpenCaseBody,
    PlanCommand,
    ReferCommand,
    ReferralBody,
    ReferralOutcomeBody,
    ReferralOutcomeCommand,
    ReopenBody,
    ReturnMeetingBody,
    ReturnMeetingCommand,
    ReviewBody,
    ReviewCommand,
)
from models.domain import Action, CaseState, RiskLevel
from workflows.case_workflow import FORBIDDEN, INVALID, REFUSED, CaseWorkflow
from workflows.machine import ALL_FEATURES, CaseMachine, Forbidden, Refused, roles_for
from workflows.view import case_view

router = APIRouter(prefix="/cases", tags=["cases"])
log = structlog.get_logger(__name__)

CONFLICT_RESPONSE = {
    409: {
        "description": "the action is not allowed in the case's current state",
        "content": {
            "application/json": {
                "example": {"detail": "close is not allowed in state identified", "state": "identified",
                            "allowed_actions": ["assess"]}
            }
        },
    }
}


def shown(view: CaseView, principal: Principal) -> CaseView:
    """The view with only the fields this caller may see."""
    return view if sees_identity(principal) else view.without_identity()


def _view_from_db(engine, case_id: str) -> CaseView:
    data = store.load_case(engine, case_id)
    if data is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"case {case_id} not found")
    return case_view(data, datetime.now(UTC))


def _refused(detail: str, state: str, allowed: list[str]) -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_409_CONFLICT,
        content={"detail": detail, "state": state, "allowed_actions": allowed},
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CaseView)
async def open_case(
    request: Request,
    body: OpenCaseBody,
    actor: ActorDep,
    engine: EngineDep,
    client: ClientDep,
    settings: SettingsDep,
    policy: PolicyDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> CaseView:
    """Open a case for a student at risk; any staff of the student's school."""
    view, replayed = await start_case(request, body, actor, engine, client, settings, policy, idempotency_key)
    if replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return view


async def start_case(request: Request, body: OpenCaseBody, actor: Principal, engine, client, settings, policy,
                     idempotency_key: str | None) -> tuple[CaseView, bool]:
    """Start the case's workflow and answer with its view once opened; with an ``Idempotency-Key``
    the same request opens one case however often it is sent (the form posts one, too).
    Returns the view and whether it is an earlier request's case."""
    if body.student.school_id != actor.school_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "student.school_id: you may open cases of your own school only")
    known = directory.of_school(engine, actor.school_id).schools
    if body.student.class_id and known and body.student.class_id not in {c.id for c in known[0].classes}:
        raise unprocessable("body", "student.class_id", "not a class of this school in the directory")
    case_id = uuid.uuid4().hex
    replayed = False
    if idempotency_key:
        digest = hashlib.sha256(
            json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()
        try:
            claimed = store.claim_idempotency_key(
                engine, actor.staff_id, idempotency_key, digest, case_id, datetime.now(UTC)
            )
        except store.IdempotencyConflict as exc:
            raise unprocessable("header", "Idempotency-Key", str(exc)) from None
        if claimed.case_id != case_id:
            case_id, replayed = claimed.case_id, True
            request.state.access.case_id = case_id
            if store.case_school(engine, case_id) is not None:
                return shown(_view_from_db(engine, case_id), actor), True
    structlog.contextvars.bind_contextvars(case_id=case_id)
    request.state.access.case_id = case_id
    start = CaseStart(
        case_id=case_id,
        opened_by=actor.actor(),
        case=body,
        policy=policy,
        history_event_limit=settings.history_event_limit,
    )
    try:
        handle = await client.start_workflow(
            CaseWorkflow.run,
            start,
            id=workflow_id(case_id),
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return shown(_view_from_db(engine, case_id), actor), replayed
    view = await handle.execute_update(CaseWorkflow.opened)
    log.info("case opened", role=actor.role.value)
    return shown(view, actor), replayed


@router.get("", response_model=CasePage)
async def list_cases(
    actor: ActorDep,
    engine: EngineDep,
    state: CaseState | None = None,
    school_id: str | None = None,
    risk_level: RiskLevel | None = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> CasePage:
    """Cases of your school, newest first; ``overdue=true`` for cases with a missed deadline."""
    if school_id is not None and school_id != actor.school_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "school_id: you may list cases of your own school only")
    return store.list_cases(
        engine,
        classes=directory.visible_classes(engine, actor.staff_id, actor.role),
        school_id=actor.school_id,
        now=datetime.now(UTC),
        state=state,
        risk_level=risk_level,
        overdue=overdue,
        limit=limit,
        offset=offset,
    )


@router.get("/{case_id}", response_model=CaseView)
async def get_case(case_id: str, actor: ActorDep, engine: EngineDep) -> CaseView:
    """The case view: state, deadlines with escalation levels, allowed actions, events."""
    return shown(_view_from_db(engine, case_id), actor)


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


async def _act(request: Request, case_id: str, command: ActionCommand, principal: Principal, engine, client,
               idempotency_key: str | None) -> Response:
    """Ask the workflow; answer with the case as the read model holds it once the action is in it.

    With an ``Idempotency-Key`` the same request gets the first answer again (the key also names
    the Temporal update, so concurrent retries become one update); another request under the key
    is a 422.
    """
    structlog.contextvars.bind_contextvars(case_id=case_id)
    action = command.body.action
    update_id = None
    if idempotency_key:
        digest = _digest(request.url.path, command.body.model_dump(mode="json"))
        try:
            claimed = store.claim_idempotency_key(
                engine, principal.staff_id, idempotency_key, digest, case_id, datetime.now(UTC)
            )
        except store.IdempotencyConflict as exc:
            raise unprocessable("header", "Idempotency-Key", str(exc)) from None
        if claimed.status_code is not None:
            return JSONResponse(json.loads(claimed.response), status_code=claimed.status_code,
                                headers={"Idempotent-Replayed": "true"})
        update_id = f"idem-{_digest(principal.staff_id, idempotency_key)[:40]}"
    answer = await _answer(case_id, command, principal, engine, client, update_id)
    if idempotency_key and answer.status_code in (200, 202, 409, 422):
        store.save_idempotent_answer(engine, principal.staff_id, idempotency_key, answer.status_code,
                                     answer.body.decode())
    log.info("action accepted" if answer.status_code in (200, 202) else "action refused", action=action,
             status=answer.status_code)
    return answer


async def _answer(case_id: str, command: ActionCommand, principal: Principal, engine, client,
                  update_id: str | None) -> JSONResponse:
    action = command.body.action
    handle = client.get_workflow_handle(workflow_id(case_id))
    try:
        await handle.execute_update(CaseWorkflow.act, command, id=update_id)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == REFUSED:
            details = cause.details[0] if cause.details else {}
            return _refused(cause.message, details.get("state"), details.get("allowed_actions", []))
        if isinstance(cause, ApplicationError) and cause.type == INVALID:
            where = (cause.details[0] if cause.details else {}).get("loc", ["body"])
            return JSONResponse(status_code=422, content={
                "detail": [{"type": "value_error", "loc": where, "msg": cause.message, "input": None}]})
        if isinstance(cause, ApplicationError) and cause.type == FORBIDDEN:
            raise HTTPException(status.HTTP_403_FORBIDDEN, cause.message) from None
        raise
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        # the workflow has finished (closed) or is gone; the read model knows the state
        view = _view_from_db(engine, case_id)
        return _refused(f"{action} is not allowed in state {view.state.value}", view.state.value,
                        view.allowed_actions)
    # the update returned after its projection: the read model holds the action
    view = shown(_view_from_db(engine, case_id), principal)
    # a closure proposed, not yet decided: accepted, the case as it was
    proposed = action is Action.close and view.state is not CaseState.closed
    return JSONResponse(view.model_dump(mode="json"), status_code=202 if proposed else 200)


#: Take an action on a case as the API does (the signed-paper upload records actions too).
take_action = _act


def _action_route(body_model: type[BaseModel], command_model: type[BaseModel], summary: str) -> None:
    action = command_model.model_fields["action"].default
    path = ACTION_PATHS[action]
    roles = ", ".join(sorted(r.value for r in roles_for(action)))

    async def endpoint(
        request: Request,
        case_id: str,
        body: body_model,  # type: ignore[valid-type]
        actor: ActorDep,
        engine: EngineDep,
        client: ClientDep,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ):
        command = ActionCommand(actor=actor.actor(), body=command_model.model_validate(body.model_dump()))
        return await _act(request, case_id, command, actor, engine, client, idempotency_key)

    endpoint.__name__ = f"{action}_case"
    router.add_api_route(
        f"/{{case_id}}/{path}",
        endpoint,
        methods=["POST"],
        response_model=CaseView,
        responses=CONFLICT_RESPONSE,
        summary=summary,
        description=f"Roles: {roles}. Answers with the case view after the action.",
    )


_action_route(AssessmentBody, AssessCommand, "Record a crisis assessment, or a reassessment")
_action_route(GuardianNoticeBody, GuardianNoticeCommand, "Record that the guardian was notified")
_action_route(InterventionBody, InterveneCommand, "Start an intervention (one student, one plan)")
_action_route(InterventionBody, PlanCommand, "Make or revise the safety plan once past the assessment")
_action_route(ContactBody, ContactCommand, "Record a session or contact (the consultation ledger)")
_action_route(ReviewBody, ReviewCommand, "Record a follow-up review; a worse trend asks for a reassessment")
_action_route(ReferralBody, ReferCommand,
              "Refer to a medical institution (urgent: straight from an imminent assessment)")
_action_route(GuardianResponseBody, GuardianResponseCommand, "Record the answer to a referral (also a later consent)")
_action_route(ReferralOutcomeBody, ReferralOutcomeCommand, "Record what came of the referral")
_action_route(ReturnMeetingBody, ReturnMeetingCommand, "Record the return-to-school meeting after a discharge")
_action_route(ClosureBody, CloseCommand,
              "Close the case; for a high or imminent case, propose closing it (202, for leadership to decide)")
_action_route(ClosureDecisionBody, ClosureDecisionCommand, "Approve or send back a proposed closure")


@router.post(f"/{{case_id}}/{ACTION_PATHS[Action.reopen]}", response_model=CaseView, responses=CONFLICT_RESPONSE)
async def reopen_case(
    case_id: str, body: ReopenBody, actor: ActorDep, engine: EngineDep, client: ClientDep, settings: SettingsDep
) -> Response:
    """Take a closed case up again (leadership, within the policy's reopen_within): the same case and
    history, in a new run, back in assessed with a reassessment due."""
    structlog.contextvars.bind_contextvars(case_id=case_id)
    data = store.load_case(engine, case_id)
    if data is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"case {case_id} not found")
    machine = CaseMachine.of(data, datetime.now(UTC))
    machine.features = ALL_FEATURES  # the reopened case runs as a new run, with every feature
    try:
        machine.check(Action.reopen, None, actor.role, actor.staff_id)
    except Refused as refused:
        return _refused(str(refused), refused.state.value, refused.allowed)
    except Forbidden as denied:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(denied)) from None
    handle = client.get_workflow_handle(workflow_id(case_id))
    if (await handle.describe()).status is not WorkflowExecutionStatus.COMPLETED:
        return _refused("reopen is not allowed yet: the case is still finishing its closure", data.state.value, [])
    start = CaseStart.reopening(data, actor.actor(), body.reason, settings.history_event_limit)
    try:
        handle = await client.start_workflow(
            CaseWorkflow.run, start, id=workflow_id(case_id), task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        view = _view_from_db(engine, case_id)
        return _refused("reopen is not allowed: the case was reopened already", view.state.value,
                        view.allowed_actions)
    await handle.execute_update(CaseWorkflow.caught_up)
    log.info("case reopened", role=actor.role.value)
    return JSONResponse(shown(_view_from_db(engine, case_id), actor).model_dump(mode="json"))
