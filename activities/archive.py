"""Archiving closed histories (see audit/archive.py for the chain)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from audit import archive
from audit.history import case_histories, export_json
from config.temporal import workflow_id

log = structlog.get_logger(__name__)


async def archive_closed(client: Client, engine: Engine) -> int:
    """Append every finished, closed case's runs to the archive; idempotent, returns rows added."""
    added = 0
    for case_id, closed_at in await asyncio.to_thread(archive.closed_not_archived, engine):
        bound = log.bind(case_id=case_id)
        try:
            description = await client.get_workflow_handle(workflow_id(case_id)).describe()
            if description.status != WorkflowExecutionStatus.COMPLETED:
                continue  # closed in the read model, still finishing its last notices
            runs = await case_histories(client, case_id)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            bound.error("closed case's history is gone from the server before it was archived")
            continue
        added += await asyncio.to_thread(
            archive.append,
            engine,
            case_id=case_id,
            workflow_id=workflow_id(case_id),
            runs=[(h.run_id, export_json(h)) for h in runs],
            closed_at=closed_at,
            now=datetime.now(UTC),
        )
        bound.info("case history archived", runs=len(runs))
    return added
