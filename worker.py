"""The worker: runs the workflows (in the sandbox) and the activities on the case task queue."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import structlog
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities import CaseActivities
from config.settings import Settings
from config.temporal import connect
from db.engine import migrate, open_engine
from ops import metrics, service_options
from ops import server as ops_server
from ops.health import Probes
from workflows.archiver import ArchiverWorkflow
from workflows.case_workflow import CaseWorkflow
from workflows.digest_workflow import OpeningsDigestWorkflow
from workflows.help_workflow import HelpRequestWorkflow
from workflows.incident_workflow import IncidentReviewWorkflow
from workflows.remake_workflow import RemakeWorkflow
from workflows.reminder_workflow import ReminderWorkflow
from workflows.sandbox import workflow_runner
from workflows.sms_workflow import LinkSmsWorkflow
from workflows.term_report_workflow import TermReportWorkflow
from workflows.watch_workflow import WatchWorkflow

log = structlog.get_logger(__name__)


def build_worker(
    client: Client, settings: Settings, engine: Engine | None = None, executor: ThreadPoolExecutor | None = None
) -> Worker:
    engine = engine or open_engine(settings)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[CaseWorkflow, ArchiverWorkflow, IncidentReviewWorkflow, WatchWorkflow, OpeningsDigestWorkflow,
                   ReminderWorkflow, RemakeWorkflow, TermReportWorkflow, LinkSmsWorkflow,
                   HelpRequestWorkflow],
        activities=CaseActivities(engine, settings).all(),
        activity_executor=executor or ThreadPoolExecutor(max_workers=16),
        workflow_runner=workflow_runner(),
        # a deploy or a test's end lets an activity finish its transaction rather than being cut off
        # mid-write by the cancellation the SDK raises into its thread
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_shutdown_grace_seconds),
    )


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    engine = open_engine(settings)
    migrate(engine)
    client = await connect(settings, **service_options(settings))
    worker = build_worker(client, settings, engine)
    log.info("worker started", task_queue=settings.task_queue, temporal=settings.temporal_address)
    # the operations port: ready while this worker polls (the read model's gauges are the API's)
    probes = Probes(settings, engine, client, worker_identity=client.identity)
    async with worker, ops_server.serving(probes, state=False, sdk_address=metrics.sdk_address_of(client)):
        await (stop.wait() if stop else asyncio.Event().wait())
    log.info("worker stopped")
