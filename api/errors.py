"""The JSON API's error shapes: one 409, one 422, and 403/404 in words, for cases and incidents alike.

The door's domain errors (``models/errors.py``) become these shapes here, once: a
:class:`~models.errors.Refused` is 409 with the state and the actions allowed now, an
:class:`~models.errors.Invalid` is 422 naming the field exactly as FastAPI's own 422 does.

422s name the field even when a model-level rule found the problem.

Model validators (the assessment rules, "at least one reason") raise
:class:`models.validation.FieldError`, which knows its field; this handler
appends that field to ``loc``, so every 422 points at the offending field.
"""

from __future__ import annotations

import math

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from models.errors import DomainError, Forbidden, Invalid, NotFound, Refused
from models.validation import FieldError


def _echo(value):
    """The offending input, when it is a plain value that JSON can carry; else nothing.

    Containers are never echoed (a deeply nested one would recurse), nor are
    NaN, infinities or strings that are not valid Unicode.
    """
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value if not isinstance(value, int) or abs(value) < 2**53 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return value[:200]
    return None


def _precise(error: dict) -> dict:
    raised = (error.get("ctx") or {}).get("error")
    loc = list(error["loc"])
    if isinstance(raised, FieldError):
        loc += raised.path.split(".")
        return {"type": "value_error", "loc": loc, "msg": str(raised), "input": _echo(error.get("input"))}
    message = str(error.get("msg", ""))
    return {"type": error.get("type"), "loc": [p if isinstance(p, (int, str)) else str(p) for p in loc],
            "msg": message.encode("utf-8", "replace").decode("utf-8"), "input": _echo(error.get("input"))}


#: The largest ``offset`` a list accepts: past it a database integer overflows (SQLite: 2**63), and no
#: school has that many rows; a larger one is a 422 naming ``offset``.
MAX_OFFSET = 1_000_000_000


class Problem(BaseModel):
    """Every 4xx but 422 and 409: what is wrong, in words."""

    detail: str


#: Answers any route may give; documented so clients (and the schema fuzzer) know them.
ERROR_RESPONSES: dict = {
    400: {"model": Problem, "description": "the body cannot be parsed (not UTF-8 JSON)"},
    401: {"model": Problem, "description": "missing, expired or invalid bearer token"},
    403: {"model": Problem, "description": "the role, the school or a missing grant does not allow this"},
    404: {"model": Problem, "description": "no such case, document or route"},
    413: {"model": Problem, "description": "the request body is larger than allowed"},
    429: {"model": Problem, "description": "too many writes by this staff member; see Retry-After"},
    503: {"model": Problem, "description": "the access could not be recorded, so nothing is answered"},
}


def unprocessable(where: str, path: str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own, naming the field (``where``: body, header, query)."""
    loc = [where, *(int(p) if p.isdigit() else p for p in path.split("."))]
    return HTTPException(422, [{"type": "value_error", "loc": loc, "msg": f"{path}: {message}", "input": None}])


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=422, content=jsonable_encoder({"detail": [_precise(e) for e in exc.errors()]})
        )


def refused_body(error: Refused) -> dict:
    """The one 409 shape: why in words, the state, what is allowed now, and the codes behind it."""
    return {"detail": str(error), "state": error.state_code, "allowed_actions": error.allowed,
            "action": error.action, "reasons": list(error.reasons)}


def invalid_body(error: Invalid) -> dict:
    """The one 422 shape (FastAPI's), naming each field; a review report names every problem."""
    problems = getattr(error, "problems", None) or [error]
    return {"detail": [{"type": "value_error", "loc": [p.where, *(int(x) if x.isdigit() else x
                                                                   for x in p.field.split("."))],
                        "msg": str(p), "input": None, "reason": p.reason} for p in problems]}


def error_response(error: DomainError) -> JSONResponse:
    """A domain error as the JSON API answers it."""
    if isinstance(error, Refused):
        return JSONResponse(status_code=409, content=refused_body(error))
    if isinstance(error, Invalid):
        return JSONResponse(status_code=422, content=jsonable_encoder(invalid_body(error)))
    if isinstance(error, NotFound):
        return JSONResponse(status_code=404, content={"detail": str(error)})
    if isinstance(error, Forbidden):
        return JSONResponse(status_code=403, content={"detail": str(error)})
    raise error
