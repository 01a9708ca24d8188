"""``crisisflow directory``: the school directory (schools, classes, staff) from a YAML or JSON file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import settings_from_env
from db import directory
from db.engine import migrate, open_engine
from models.directory import DirectoryError, read_directory

app = typer.Typer(help="The school directory: who works where, in which role, for which classes.",
                  no_args_is_help=True)


def load_file(settings, file: Path) -> dict[str, int]:
    engine = open_engine(settings)
    migrate(engine)
    return directory.load(engine, read_directory(file))


@app.command("load")
def load(file: Annotated[Path, typer.Argument(help="the directory file (YAML or JSON)")]) -> None:
    """Make the database's directory of each school in FILE what FILE says (idempotent)."""
    try:
        counts = load_file(settings_from_env(), file)
    except DirectoryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    moved = f" ({counts['moved']} moved from another school)" if counts["moved"] else ""
    typer.echo(f"directory loaded: {counts['schools']} school(s), {counts['classes']} class(es), "
               f"{counts['staff']} staff{moved}")
