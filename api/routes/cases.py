"""Cases: open, act, read, list. Action routes are generated from one list.

Who may call what is ``api/access.py`` (for actions, the transition table's
roles); whether an action is allowed *now* is the workflow's answer (its
update validator), so a refusal writes nothing and comes back as 409 with
what is allowed. Roles that may not see who the student is get the view
without name and narrative.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse

from api.access import sees_identity
from api.auth import Principal
from api.deps import ActorDep, DoorDep, EngineDep
from api.errors import MAX_OFFSET, error_response
from db import directory, store
from models.case import BODIES, COMMANDS, ActionCommand, CasePage, CaseView, OpenCaseBody
from models.domain import Action, CaseState, RiskLevel, StaffRole
from models.errors import Invalid, Refused
from workflows.machine import ACTIONS, STAFF_ACTIONS, roles_for

router = APIRouter(prefix="/cases", tags=["cases"])

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
    """The view with only the fields this caller may see: a reporter, what they reported and the state."""
    if principal.role is StaffRole.staff:
        return view.for_reporter()
    return view if sees_identity(principal) else view.without_identity()


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CaseView)
async def open_case(
    request: Request,
    body: OpenCaseBody,
    actor: ActorDep,
    door: DoorDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> CaseView:
    """Open a case for a student at risk; any staff of the student's school."""
    view, replayed = await door.open_case(body, actor.actor(), idempotency_key)
    request.state.access.case_id = view.case_id
    if replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return shown(view, actor)


@router.get("", response_model=CasePage)
async def list_cases(
    actor: ActorDep,
    engine: EngineDep,
    state: CaseState | None = None,
    school_id: str | None = None,
    risk_level: RiskLevel | None = None,
    overdue: bool | None = None,
    mine: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> CasePage:
    """Cases of your school you may see, newest first; ``overdue=true`` for cases with a missed deadline,
    ``mine=true`` for the cases you own (负责心理教师)."""
    if school_id is not None and school_id != actor.school_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "school_id: you may list cases of your own school only")
    if actor.role is StaffRole.staff:  # a reporter's list says nothing of risk or deadlines, filtered or not
        risk_level, overdue = None, None
    listing = store.list_cases(
        engine,
        classes=directory.visible_classes(engine, actor.staff_id, actor.role),
        me=actor.staff_id,
        owned_by=actor.staff_id if mine else None,
        school_id=actor.school_id,
        now=datetime.now(UTC),
        state=state,
        risk_level=risk_level,
        overdue=overdue,
        limit=limit,
        offset=offset,
    )
    if actor.role is StaffRole.staff:  # a reporter follows the state of the cases they reported
        listing.items = [item.for_reporter() for item in listing.items]
    return listing


@router.get("/{case_id}", response_model=CaseView)
async def get_case(case_id: str, actor: ActorDep, door: DoorDep) -> CaseView:
    """The case view: state, deadlines with escalation levels, allowed actions, events."""
    return shown(door.read(case_id), actor)


async def answer(door, case_id: str, command: ActionCommand, principal: Principal,
                 idempotency_key: str | None) -> JSONResponse:
    """An action through the door, as the JSON API answers it: the case (200; 202 for a closure that
    waits for leadership), or the door's domain error in the API's one shape."""
    try:
        acted = await door.act(case_id, command, idempotency_key)
    except (Refused, Invalid) as error:
        response = error_response(error)
        if error.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response
    headers = {"Idempotent-Replayed": "true"} if acted.replayed else None
    return JSONResponse(shown(acted.view, principal).model_dump(mode="json"),
                        status_code=202 if acted.proposed else 200, headers=headers)


def _action_route(action: Action) -> None:
    path = ACTIONS[action].path
    roles = ", ".join(sorted(r.value for r in roles_for(action)))
    body_model = BODIES[action]
    command_model = COMMANDS[action]

    async def endpoint(
        case_id: str,
        body: body_model,  # type: ignore[valid-type]
        actor: ActorDep,
        door: DoorDep,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ):
        command = ActionCommand(actor=actor.actor(), body=command_model.model_validate(body.model_dump()))
        return await answer(door, case_id, command, actor, idempotency_key)

    endpoint.__name__ = f"{action}_case"
    router.add_api_route(
        f"/{{case_id}}/{path}",
        endpoint,
        methods=["POST"],
        response_model=CaseView,
        responses=CONFLICT_RESPONSE,
        summary=ACTIONS[action].summary,
        description=f"Roles: {roles}. Answers with the case view after the action.",
    )


for _action in STAFF_ACTIONS:
    _action_route(_action)
