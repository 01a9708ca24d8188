"""``crisisflow screening``: a screening platform's result file, read and scored before anything is opened."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.common import settings_from_env
from db.engine import migrate, open_engine
from intake import reader
from models import directory
from models.screening import RulesFileError, load_rules

app = typer.Typer(help="Screening results: preview what an import would do.", no_args_is_help=True)


@app.command("preview")
def preview(
    file: Annotated[Path, typer.Argument(help="the result file: .csv (UTF-8) or .xlsx", exists=True, dir_okay=False)],
    school: Annotated[str, typer.Option(help="the school id the results are for")],
    errors: Annotated[Path | None, typer.Option(help="where to write the rows that cannot be read "
                                                     "(default: FILE.errors.csv)")] = None,
    rules: Annotated[Path | None, typer.Option(help="a screening rules file (default: the configured one)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="the dev data dir (its database and keyring)")] = None,
) -> None:
    """Read and score every row: how many rows, how many flagged, how many cases would open, who goes
    on the watch list, and every row that cannot be read, with its line and the reason. Writes nothing
    but the errors file."""
    settings = settings_from_env(data_dir=data_dir)
    try:
        screening_rules = load_rules(rules or settings.screening_rules_file)
    except RulesFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    engine = open_engine(settings)
    migrate(engine)
    found = directory.of_school(engine, school).schools
    engine.dispose()
    classes = {c.id for c in found[0].classes} if found and found[0].classes else None
    console = Console(stderr=True)
    with Progress(TextColumn("reading {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(file.name, total=None)
        try:
            result = reader.read(file, school, screening_rules, classes,
                                 progress=lambda n: bar.update(task, completed=n))
        except reader.FileError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    errors_file = reader.write_errors(result, errors or file.with_name(file.name + ".errors.csv"))
    typer.echo(f"rules            {screening_rules.version}")
    typer.echo(f"rows             {result.rows}")
    typer.echo(f"flagged          {result.flagged}")
    typer.echo(f"cases to open    {result.cases}")
    typer.echo(f"watch list       {result.watch}")
    typer.echo(f"unreadable rows  {len(result.errors)}  (each with its line and reason: {errors_file})")
