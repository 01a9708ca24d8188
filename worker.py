"""The worker: runs CaseWorkflow and the activities on the case task queue."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import structlog
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import CaseActivities
from models.db import migrate, open_engine
from models.settings import Settings
from models.temporal import connect
from workflows.archiver import ArchiverWorkflow
from workflows.case import CaseWorkflow

log = structlog.get_logger(__name__)

#: Modules the sandbox may share with the host: pure data and the machine library.
PASSTHROUGH = ("pydantic", "pydantic_core", "annotated_types", "transitions", "models", "activities", "sqlalchemy", "sqlmodel", "jinja2", "httpx", "structlog")


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox the worker and the auditors' replayer share."""
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


def build_worker(client: Client, settings: Settings, engine=None, executor: ThreadPoolExecutor | None = None) -> Worker:
    engine = engine or open_engine(settings)
    activities = CaseActivities(engine, settings)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[CaseWorkflow, ArchiverWorkflow],
        activities=[
            activities.project_case,
            activities.notify,
            activities.render_document,
            activities.archive_closed_cases,
        ],
        activity_executor=executor or ThreadPoolExecutor(max_workers=16),
        workflow_runner=workflow_runner(),
    )


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    engine = open_engine(settings)
    migrate(engine)
    client = await connect(settings)
    worker = build_worker(client, settings, engine)
    log.info("worker started", task_queue=settings.task_queue, temporal=settings.temporal_address)
    async with worker:
        await (stop.wait() if stop else asyncio.Event().wait())
    log.info("worker stopped")
