"""``crisisflow token``: bearer tokens for the API's integrations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.auth import TokenError, issue_token
from cli.common import settings_from_env
from db import directory
from db.engine import make_engine
from models.case import Actor
from models.domain import StaffRole
from models.policy import parse_duration

app = typer.Typer(help="Bearer tokens for the API.", no_args_is_help=True)


@app.command("issue")
def issue(
    staff_id: Annotated[str, typer.Option(help="the staff member's id (from the directory, when one is loaded)")],
    role: Annotated[StaffRole | None, typer.Option(help="the role; a person of the directory: one of theirs")] = None,
    school: Annotated[str | None, typer.Option(help="the school id; a person of the directory: theirs")] = None,
    ttl: Annotated[str, typer.Option(help="lifetime, e.g. 8h")] = "8h",
    data_dir: Annotated[Path | None, typer.Option(help="sign with the secret kept in this dev data dir")] = None,
    auditor_pii: Annotated[bool, typer.Option(help="an auditor may see students' names and narratives")] = False,
) -> None:
    """Print a signed bearer token (at most 7 days).

    With a directory loaded, a school's staff get tokens as the directory has them (role and school
    from it); someone not in it gets none. Auditors belong to no school's directory.
    """
    settings = settings_from_env(data_dir=data_dir)
    engine = make_engine(settings.resolved_database_url)
    try:
        lifetime = parse_duration(ttl)
        if role is not StaffRole.auditor and directory.has_people(engine):
            person = directory.person(engine, staff_id)
            if person is None:
                raise ValueError(f"{staff_id} is not in the school directory; load it with the person first")
            if role is not None and role.value not in person.roles:
                raise ValueError(f"{staff_id} holds {', '.join(person.roles)} in the directory, not {role.value}")
            role, school = role or StaffRole(person.roles[0]), person.school_id
        if role is None:
            raise ValueError("--role is needed for someone outside a directory")
        actor = Actor(staff_id=staff_id, role=role, school_id=school)
        typer.echo(issue_token(settings.signing_secret, actor, lifetime, pii_grant=auditor_pii))
    except (ValueError, TokenError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
