"""422s that name the field, even when a model-level rule found the problem.

Model validators (the assessment rules, "at least one reason") raise
messages of the form ``"field.path: what is wrong"``; this handler moves the
field into ``loc`` so every 422 points at the offending field.
"""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

_FIELD_MESSAGE = re.compile(r"^(?:Value error, )?([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*(?: or [a-z_]+)?): (.+)$", re.S)


def _precise(error: dict) -> dict:
    match = _FIELD_MESSAGE.match(error.get("msg", ""))
    if error.get("type") != "value_error" or not match:
        return {k: v for k, v in error.items() if k != "ctx"}
    path, message = match.groups()
    loc = list(error["loc"])
    for part in path.split(" or ")[0].split("."):
        loc.append(part)
    return {"type": "value_error", "loc": loc, "msg": f"{path}: {message}", "input": error.get("input")}


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=422, content=jsonable_encoder({"detail": [_precise(e) for e in exc.errors()]})
        )
