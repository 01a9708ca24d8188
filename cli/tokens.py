"""``crisisflow token``: bearer tokens for the API's integrations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.auth import TokenError, issue_token
from cli.common import settings_from_env
from models.case import Actor
from models.domain import StaffRole
from models.policy import parse_duration

app = typer.Typer(help="Bearer tokens for the API.", no_args_is_help=True)


@app.command("issue")
def issue(
    staff_id: Annotated[str, typer.Option(help="the staff member's id")],
    role: Annotated[StaffRole, typer.Option(help="the staff member's role")],
    school: Annotated[str | None, typer.Option(help="the school id (all roles but auditor)")] = None,
    ttl: Annotated[str, typer.Option(help="lifetime, e.g. 8h")] = "8h",
    data_dir: Annotated[Path | None, typer.Option(help="sign with the secret kept in this dev data dir")] = None,
    auditor_pii: Annotated[bool, typer.Option(help="an auditor may see students' names and narratives")] = False,
) -> None:
    """Print a signed bearer token (at most 7 days)."""
    settings = settings_from_env(data_dir=data_dir)
    try:
        lifetime = parse_duration(ttl)
        actor = Actor(staff_id=staff_id, role=role, school_id=school)
        typer.echo(issue_token(settings.signing_secret, actor, lifetime, pii_grant=auditor_pii))
    except (ValueError, TokenError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
