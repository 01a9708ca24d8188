"""The operations port: ``/metrics``, ``/livez`` and ``/readyz``, apart from the public API.

Every long-running process (``crisisflow api``, ``crisisflow worker``, ``crisisflow dev``) serves it
on ``CRISISFLOW_METRICS_HOST:CRISISFLOW_METRICS_PORT`` (0: off). The API also answers ``/livez``
and ``/readyz`` on its own port for an orchestrator that probes only that one; there the answer
names the failing checks without their reasons, which stay on this port and in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
import uvicorn
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ops import metrics
from ops.health import Probes

log = structlog.get_logger("ops")


def http_server(app, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server that leaves signals to the process (it stops everything in order)."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, server_header=False))
    server.capture_signals = contextlib.nullcontext
    return server


async def readiness_answer(probes: Probes, reasons: bool) -> JSONResponse:
    ready, checks = await probes.readiness()
    if not ready:
        log.warning("not ready", failing={k: v for k, v in checks.items() if v != "ok"})
    shown = checks if reasons else {k: ("ok" if v == "ok" else "failing") for k, v in checks.items()}
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": shown},
                        status_code=200 if ready else 503)


def ops_app(probes: Probes, state: bool, sdk_address: str | None) -> FastAPI:
    """``state``: also export the read model's and the task queue's gauges (one process role does)."""
    app = FastAPI(title="crisisflow operations", openapi_url=None, docs_url=None, redoc_url=None)
    gauges = metrics.StateGauges(probes.engine) if state else None

    @app.get("/livez")
    async def livez() -> dict:
        return {"status": "live"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        return await readiness_answer(probes, reasons=True)

    @app.get("/metrics")
    async def scrape() -> Response:
        parts = [metrics.ours()]
        if gauges is not None:
            pollers = None
            try:
                pollers = {kind: len(ids) for kind, ids in (await probes.pollers()).items()}
            except Exception as exc:  # noqa: BLE001 - the server unreachable: the gauge is absent, readyz says why
                log.warning("task queue not described", error=type(exc).__name__)
            parts.append(metrics.exposition(await run_in_threadpool(gauges.collect, pollers)))
        parts.append(await metrics.sdk_text(sdk_address))
        return Response(b"".join(parts), media_type=CONTENT_TYPE_LATEST)

    return app


@contextlib.asynccontextmanager
async def serving(probes: Probes, state: bool, sdk_address: str | None) -> AsyncIterator[str | None]:
    """Serve the operations port for the length of the block; yields its address (None: off)."""
    settings = probes.settings
    if not settings.metrics_port:
        yield None
        return
    server = http_server(ops_app(probes, state, sdk_address), settings.metrics_host, settings.metrics_port)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if task.done():  # the port is taken (uvicorn has said so): stop
        with contextlib.suppress(SystemExit):
            task.result()
        raise RuntimeError(f"the operations port {settings.metrics_host}:{settings.metrics_port} could not be bound")
    address = f"http://{settings.metrics_host}:{settings.metrics_port}"
    log.info("operations port", metrics=f"{address}/metrics", ready=f"{address}/readyz")
    try:
        yield address
    finally:
        server.should_exit = True
        await task
