"""``crisisflow setup``: what a namespace and a database need before the services start (idempotent)."""

from __future__ import annotations

import asyncio

import typer
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from cli.common import finish, settings_from_env
from config.logs import configure_logging
from config.temporal import connect
from db.engine import migrate, open_engine
from models import search_attributes as sa
from workflows.archiver import ARCHIVE_EVERY, SCHEDULE_ID, ArchiverWorkflow


async def register_search_attributes(client: Client) -> list[str]:
    """Register the case search attributes on the namespace; returns the ones added."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = {k.name: k.indexed_value_type.value for k in sa.ALL if k.name not in existing.custom_attributes}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)


async def ensure_schedule(client: Client, task_queue: str) -> bool:
    """Create the archiver's schedule once; True when it was created now."""
    try:
        await client.create_schedule(
            SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    ArchiverWorkflow.run, id=f"{SCHEDULE_ID}-run", task_queue=task_queue
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=ARCHIVE_EVERY)]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            ),
        )
        return True
    except ScheduleAlreadyRunningError:
        return False


def setup() -> None:
    """Migrate the database and register the search attributes (idempotent; run before api and worker)."""
    settings = settings_from_env()
    configure_logging(settings.log_format, settings.log_level)
    migrate(open_engine(settings))

    async def main() -> tuple[list[str], bool]:
        client = await connect(settings)
        return await register_search_attributes(client), await ensure_schedule(client, settings.task_queue)

    added, scheduled = asyncio.run(main())
    typer.echo(
        f"database migrated; search attributes added: {', '.join(added) or 'none (all present)'}; "
        f"archiver schedule {'created' if scheduled else 'present'}"
    )
    finish(0)
