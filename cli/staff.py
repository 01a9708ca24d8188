"""``crisisflow staff``: people's sign-in to the staff app."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer

from api.web import accounts
from cli.common import settings_from_env
from db.engine import migrate, open_engine

app = typer.Typer(help="People's sign-in to the staff app.", no_args_is_help=True)


@app.command("invite")
def invite(
    staff_id: Annotated[str, typer.Argument(help="the person's id in the school directory")],
    data_dir: Annotated[Path | None, typer.Option(help="the dev data dir (its database and keyring)")] = None,
) -> None:
    """Print a one-time code, and the link that carries it, with which the person sets their own password
    (and enrols their authenticator app). A new code for someone who has a password resets it."""
    settings = settings_from_env(data_dir=data_dir)
    engine = open_engine(settings)
    migrate(engine)
    try:
        code = accounts.invite(engine, staff_id, datetime.now(UTC), settings)
    except accounts.AccountError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    typer.echo(f"invitation for {staff_id}, good for {settings.invite_valid_hours} hours, once:")
    typer.echo(f"  code  {code}")
    typer.echo(f"  link  {settings.public_url.rstrip('/')}/ui/setup?code={quote(code)}")
