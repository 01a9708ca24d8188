"""structlog: JSON lines (with case_id bound where there is one), a console renderer on a TTY.

Both structlog loggers and the standard library's (Temporal's
``workflow.logger`` and ``activity.logger``, uvicorn) go through the same
renderer; ``extra={"case_id": ...}`` becomes a field of the line.

``drop_personal_data`` runs last before rendering on every line, whatever its
source: fields that can hold a student's name, narrative or contacts are
removed (their names are listed in ``PERSONAL_FIELDS``), and the line says
which were dropped. Nothing in crisisflow logs them on purpose; this is the
net under a mistake.
"""

from __future__ import annotations

import logging
import sys

import structlog
from temporalio import activity, workflow

#: Field names that may carry personal data (the API's body fields and models).
PERSONAL_FIELDS = frozenset({
    "name", "student", "student_name", "summary", "narrative", "rationale", "notes", "outcome", "plan",
    "warning_signs", "coping_strategies", "support_contacts", "professional_contacts", "environment_safety",
    "answers", "guardian_relation", "guardian", "institution", "reason", "contact", "phone", "email",
    "address", "body", "payload", "payloads", "args", "input", "result",
})


def drop_personal_data(_logger, _method, event: dict) -> dict:
    dropped = sorted(k for k in event if k.lower() in PERSONAL_FIELDS)
    for key in dropped:
        del event[key]
    if dropped:
        event["dropped_fields"] = dropped
    return event


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer = (
        # plain tracebacks: rich's show every frame's locals (slow, and they may hold student data)
        structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
        if use_console
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    common = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*common, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*common, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                drop_personal_data,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Temporal adds the workflow or activity info as a field; keep the message clean.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    for noisy in ("httpx", "httpcore", "uvicorn.access", "alembic.runtime.migration", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
