"""``crisisflow outbox``: the messages not yet through, channel by channel."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import settings_from_env
from db import store
from db.engine import migrate, open_engine
from models.case import case_ref
from paper.messages import local_time

STATUSES = ("pending", "failing", "refused", "sent")


def outbox(
    status: Annotated[list[str] | None, typer.Option(help="pending, failing, refused or sent (repeatable)")] = None,
    school: Annotated[str | None, typer.Option(help="one school's (or authority's) deliveries")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 200,
) -> None:
    """List deliveries that are pending, failing (retried with backoff) or refused, oldest first."""
    wanted = tuple(status or ("pending", "failing", "refused"))
    unknown = sorted(set(wanted) - set(STATUSES))
    if unknown:
        typer.echo(f"error: --status: unknown {', '.join(unknown)}; one of {', '.join(STATUSES)}", err=True)
        raise typer.Exit(2)
    engine = open_engine(settings_from_env())
    migrate(engine)
    rows = store.outbox(engine, wanted, {school} if school else None, limit)
    if not rows:
        typer.echo(f"no deliveries {' or '.join(wanted)}")
        return
    typer.echo(f"{'case':<10} {'channel':<9} {'recipient':<26} {'status':<8} {'tries':>5}  {'last attempt':<27} error")
    for r in rows:
        when = local_time(r.last_attempt_at) if r.last_attempt_at else "—"
        case = case_ref(r.case_id) if r.case_id else "—"
        typer.echo(f"{case:<10} {r.channel:<9} {r.recipient:<26} {r.status:<8} {r.attempts:>5}  {when:<27} "
                   f"{r.last_error or ''}")
