"""``crisisflow worker`` and ``crisisflow api``: the long-running services, configured by CRISISFLOW_*."""

from __future__ import annotations

import asyncio

from api.app import create_app
from cli.common import (
    check_policy,
    refuse_weak_production,
    settings_from_env,
    stop_on_signals,
)
from cli.startup import check_fonts
from config.logs import configure_logging
from ops.server import http_server
from worker import run_worker


def worker() -> None:
    """Run a worker against CRISISFLOW_TEMPORAL_ADDRESS (scale by running more)."""
    settings = settings_from_env()
    configure_logging(settings.log_format, settings.log_level)
    refuse_weak_production(settings, "crisisflow worker")
    check_policy(settings)
    check_fonts(settings)

    async def main() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        await run_worker(settings, stop)

    asyncio.run(main())


def api() -> None:
    """Run the HTTP API against CRISISFLOW_TEMPORAL_ADDRESS."""
    settings = settings_from_env()
    configure_logging(settings.log_format, settings.log_level)
    refuse_weak_production(settings, "crisisflow api")
    check_policy(settings)
    server = http_server(create_app(settings), settings.api_host, settings.api_port)

    async def main() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        serving = asyncio.create_task(server.serve())
        await asyncio.wait([serving, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        await serving

    asyncio.run(main())
