"""``crisisflow screening``: a screening platform's result file, read and scored before anything is opened."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.common import settings_from_env
from config.logs import configure_logging
from config.temporal import connect
from db import directory
from db.engine import migrate, open_engine
from intake import jobs, reader
from models.case import Actor
from models.policy import PolicyFileError, load_policy
from models.screening import RulesFileError, load_rules

app = typer.Typer(help="Screening results: preview what an import would do, and import them.", no_args_is_help=True)


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
    for warning in result.warnings:  # flagged students taken without a class: their cases open all the same
        typer.echo(f"warning          line {warning.line}: {warning.reason}")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="the result file: .csv (UTF-8) or .xlsx", exists=True, dir_okay=False)],
    school: Annotated[str, typer.Option(help="the school id the results are for")],
    batch: Annotated[str, typer.Option(help="the batch's name (2026-autumn): importing it again opens nothing new")],
    by: Annotated[str, typer.Option(help="who imports: a leadership member or psychology teacher of the directory")],
    dry_run: Annotated[bool, typer.Option(help="only the preview: counts and the errors file")] = False,
    concurrency: Annotated[int, typer.Option(help="cases started at once", min=1, max=512)] = 32,
    errors: Annotated[Path | None, typer.Option(help="the errors file (default: FILE.errors.csv)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="the dev data dir (its database and keyring)")] = None,
) -> None:
    """Record every result in the student archive and open a case for each student the rules flag
    (concurrently, through Temporal's normal start path). Run it again after a failure or a kill: it
    completes the batch without duplicates."""
    settings = settings_from_env(data_dir=data_dir)
    configure_logging(settings.log_format, "WARNING")
    if not 1 <= len(batch) <= 100:
        typer.echo("error: --batch: 1 to 100 characters", err=True)
        raise typer.Exit(2)
    try:
        screening_rules = load_rules(settings.screening_rules_file)
        policy = load_policy(settings.policy_file)
    except (RulesFileError, PolicyFileError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    engine = open_engine(settings)
    migrate(engine)
    person = directory.person(engine, by)
    if person is None or person.school_id != school or not set(person.roles) & {r.value for r in jobs.IMPORTERS}:
        typer.echo(f"error: --by: {by} is not a leadership member or psychology teacher of {school}", err=True)
        raise typer.Exit(2)
    role = next(r for r in person.roles if r in {i.value for i in jobs.IMPORTERS})
    actor = Actor(staff_id=by, role=role, school_id=school)
    console = Console(stderr=True)

    async def main():
        client = None if dry_run else await connect(settings)
        job_id = jobs.start(engine, school, batch, dry_run, by)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as bar:
            reading = bar.add_task(f"reading {file.name}", total=None)
            opening = bar.add_task("opening cases", total=None, visible=False)

            def read_progress(n: int) -> None:
                bar.update(reading, completed=n)

            def open_progress() -> None:
                bar.update(opening, advance=1, visible=True)

            preview = await jobs.run(engine, client, settings, policy, screening_rules, file, school, batch, actor,
                                     job_id, dry_run, read_progress, open_progress, concurrency)
        return job_id, preview

    try:
        job_id, found = asyncio.run(main())
    except reader.FileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    errors_file = reader.write_errors(found, errors or file.with_name(file.name + ".errors.csv"))
    row = jobs.get(open_engine(settings), job_id)
    typer.echo(f"job              {job_id}")
    typer.echo(f"rules            {screening_rules.version}")
    typer.echo(f"rows             {row.rows}")
    typer.echo(f"flagged          {row.flagged}")
    typer.echo(f"cases to open    {found.cases}")
    if not dry_run:
        typer.echo(f"opened           {row.opened}")
        typer.echo(f"annotated        {row.annotated}")
        typer.echo(f"watch-listed     {row.watched}")
    typer.echo(f"unreadable rows  {len(found.errors)}  (each with its line and reason: {errors_file})")
    for warning in found.warnings:  # flagged students taken without a class: their cases are open
        typer.echo(f"warning          line {warning.line}: {warning.reason}")
