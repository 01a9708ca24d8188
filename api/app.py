"""The FastAPI application: one Temporal client and one engine for its lifetime.

Every route goes through ``api.access.authorize`` (token, role, school) and
every identified call is written to the access log before its response
leaves; bodies are capped, writes rate-limited per staff member, and the
OpenAPI schema is served only when ``CRISISFLOW_OPENAPI`` is on.
"""

from __future__ import annotations

import contextlib
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from opentelemetry import trace
from temporalio.client import Client

from api import errors, web
from api.access import PREFIX, authorize, bind_rules, route_template
from api.guards import BodyLimit, CodecCORS, WriteRate
from api.routes import (
    audit,
    cases,
    codec,
    dashboard,
    directory,
    documents,
    incidents,
    receipts,
    screenings,
    term_reports,
    watchlist,
)
from api.web import forms as web_forms
from audit import access_log
from config.settings import Settings
from config.temporal import connect
from db.engine import migrate, open_engine
from door import Door
from intake import jobs
from models.policy import load_policy
from ops import metrics, service_options
from ops import server as ops_server
from ops import tracing as ops_tracing
from ops.health import Probes
from ops.tracing import Tracing

log = structlog.get_logger("api")


def create_app(settings: Settings, client: Client | None = None, engine=None,
               tracing: Tracing | None = None) -> FastAPI:
    """Build the app; ``client`` and ``engine`` may be handed in (tests, ``crisisflow dev``), and
    ``tracing`` (else the process's, from ``OTEL_EXPORTER_OTLP_ENDPOINT``)."""
    traced = tracing or ops_tracing.from_env()
    policy = load_policy(settings.policy_file)  # a bad policy file stops start-up here
    settings.token_keys  # noqa: B018 - no secret, no start

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = engine or open_engine(settings)
        migrate(app.state.engine)
        jobs.fail_interrupted(app.state.engine)  # imports whose process died (this API's last run, say) say so
        app.state.client = client or await connect(settings, **service_options(settings))
        app.state.door = Door(app.state.client, app.state.engine, settings, policy)
        app.state.probes = Probes(settings, app.state.engine, app.state.client)
        # the operations port; this process exports the read model's gauges (workers do not)
        async with ops_server.serving(app.state.probes, state=True,
                                      sdk_address=metrics.sdk_address_of(app.state.client)):
            log.info("api ready", temporal=settings.temporal_address, policy_version=policy.version)
            yield

    app = FastAPI(
        title="crisisflow",
        version="0.1.0",
        summary="School psychological-crisis cases as durable workflows",
        openapi_url=f"{PREFIX}/openapi.json" if settings.openapi else None,
        docs_url=f"{PREFIX}/docs" if settings.openapi else None,
        redoc_url=None,
        lifespan=lifespan,
    )
    errors.install(app)
    app.state.settings = settings
    app.state.policy = policy
    app.state.write_rate = WriteRate(settings.write_rate_per_minute)
    app.state.screening_jobs = set()  # imports running in this process (kept until done)

    @app.middleware("http")
    async def request_log(request: Request, call_next):
        structlog.contextvars.clear_contextvars()
        started = time.perf_counter()
        span = traced.request_span(request.method, request.headers) if traced else None
        try:
            with trace.use_span(span, end_on_exit=False) if span else contextlib.nullcontext():
                response = await call_next(request)
        except Exception:  # an unexpected failure is answered, and recorded like any other answer
            log.exception("request failed", route=getattr(request.scope.get("route"), "path", None))
            response = JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)
        route = request.scope.get("route")
        access = getattr(request.state, "access", None)
        if access is not None:
            try:
                await run_in_threadpool(
                    access_log.append, request.app.state.engine,
                    at=datetime.now(UTC), **access.entry(), what=access.what, method=request.method,
                    path=request.url.path[:300], case_id=access.case_id,
                    client=request.client.host if request.client else None, status=response.status_code,
                )
            except Exception:  # noqa: BLE001 - no record, no answer
                log.exception("access log write failed", route=getattr(route, "path", None))
                response = JSONResponse({"detail": "the access could not be recorded; try again"}, status_code=503)
        elapsed = time.perf_counter() - started
        template = route_template(request)
        metrics.request_answered(request.method, template, response.status_code, elapsed)
        if span is not None:
            traced.finish(span, request.method, template, response.status_code)
        # no answer is read as anything but what it says it is (a stored copy, a document, JSON)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        log.info("request", method=request.method, route=template, status=response.status_code,
                 ms=round(elapsed * 1000, 1))
        structlog.contextvars.clear_contextvars()
        return response

    # the orchestrator's probes: plain routes outside the API (no token, no schema, no access rule);
    # the operations port answers the same, with the failing checks' reasons
    async def livez(request: Request) -> JSONResponse:
        return JSONResponse({"status": "live"})

    async def readyz(request: Request) -> JSONResponse:
        return await ops_server.readiness_answer(request.app.state.probes, reasons=False)

    app.add_route("/livez", livez, methods=["GET"])
    app.add_route("/readyz", readyz, methods=["GET"])

    v1 = APIRouter(prefix=PREFIX, dependencies=[Depends(authorize)], responses=errors.ERROR_RESPONSES)

    @v1.get("/health", tags=["meta"])
    async def health() -> dict:
        return {"status": "ok", "policy_version": policy.version}

    v1.include_router(cases.router)
    v1.include_router(documents.router)
    v1.include_router(audit.router)
    v1.include_router(dashboard.router)
    v1.include_router(directory.router)
    v1.include_router(incidents.router)
    v1.include_router(receipts.router)
    v1.include_router(screenings.router)
    v1.include_router(watchlist.router)
    v1.include_router(term_reports.router)
    app.include_router(v1)
    app.include_router(codec.router, dependencies=[Depends(authorize)], responses=errors.ERROR_RESPONSES)
    web.install(app)
    app.add_middleware(CodecCORS, origins=settings.ui_origins)
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        larger={
            f"{PREFIX}/audit/replay": settings.max_replay_bytes,
            "/codec/decode": settings.max_replay_bytes,
            "/codec/encode": settings.max_replay_bytes,
            rf"^{PREFIX}/cases/[^/]+/documents/[^/]+/signed": settings.max_upload_bytes + 64 * 1024,
            # the staff app's upload of the same paper, from a phone (a photo is 1 to 5 MB)
            r"^/ui/cases/[^/]+/documents/[^/]+/signed": settings.max_upload_bytes + 64 * 1024,
            # a case form filled to every field's limit is never refused for its size (the model says what
            # is too long, beside the field, and the form keeps the rest)
            r"^/ui/cases/[^/]+/act/[^/]+": web_forms.form_bytes_at_most(),
            "/ui/cases/new": web_forms.form_bytes_at_most(),
            "/ui/screenings": settings.max_screening_bytes + 64 * 1024,
            f"{PREFIX}/screenings": settings.max_screening_bytes + 64 * 1024,
        },
    )
    bind_rules(app)
    return app
