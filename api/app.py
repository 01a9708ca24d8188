"""The FastAPI application: one Temporal client and one engine for its lifetime."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

import structlog
from fastapi import APIRouter, FastAPI, Request
from temporalio.client import Client

from api import errors
from api.routes import audit, cases, dashboard, documents, ui
from models.db import make_engine, migrate
from models.policy import load_policy
from models.settings import Settings
from models.temporal import connect

PREFIX = "/api/v1"
log = structlog.get_logger("api")


def create_app(settings: Settings, client: Client | None = None, engine=None) -> FastAPI:
    """Build the app; ``client`` and ``engine`` may be handed in (tests, ``crisisflow dev``)."""
    policy = load_policy(settings.policy_file)  # a bad policy file stops start-up here
    settings.signing_secret  # noqa: B018 - no secret, no start

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = engine or make_engine(settings.resolved_database_url)
        migrate(app.state.engine)
        app.state.client = client or await connect(settings)
        log.info("api ready", temporal=settings.temporal_address, policy_version=policy.version)
        yield

    app = FastAPI(
        title="crisisflow",
        version="0.1.0",
        summary="School psychological-crisis cases as durable workflows",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    errors.install(app)
    app.state.settings = settings
    app.state.policy = policy

    @app.middleware("http")
    async def request_log(request: Request, call_next):
        structlog.contextvars.clear_contextvars()
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        log.info(
            "request",
            method=request.method,
            route=getattr(route, "path", None),
            status=response.status_code,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        structlog.contextvars.clear_contextvars()
        return response

    v1 = APIRouter(prefix=PREFIX)

    @v1.get("/health", tags=["meta"])
    async def health() -> dict:
        return {"status": "ok", "policy_version": policy.version}

    v1.include_router(cases.router)
    v1.include_router(documents.router)
    v1.include_router(audit.router)
    v1.include_router(dashboard.router)
    app.include_router(v1)
    app.include_router(ui.router)
    return app
