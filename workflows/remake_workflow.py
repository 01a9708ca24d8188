"""RemakeWorkflow: a case's document made again, once what made it fail is mended (issue 28).

No step of the case (its state, deadlines and history are unchanged, and its workflow is not woken): the
render activity once more, for the same request (the same document id, the same event, the same time), so
the document is the one the case asked for. The workflow's id names the document; a failed remake may be
tried again, a successful one never runs twice (``door.Door.remake``).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.case import DocumentRequest
    from models.io import Io

#: a few tries for a passing fault; a fault that stays (RenderFailed) ends the remake at once
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10),
                     maximum_attempts=3)


def remake_workflow_id(document_id: str) -> str:
    return f"remake-{document_id}"


@workflow.defn
class RemakeWorkflow:
    @workflow.run
    async def run(self, request: DocumentRequest) -> str:
        await workflow.execute_activity(Io.render_document.value, request, start_to_close_timeout=timedelta(
            seconds=60), retry_policy=_RETRY)
        return request.document_id
