"""For supervisors and auditors: a case's timeline, export, replay, the archive and the access log."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from activities.archive import archive_closed
from audit import access_log, archive, history
from cli.common import client_settings, finish
from config.temporal import connect, data_converter
from db.engine import make_engine, migrate, open_engine
from workflows import replay

app = typer.Typer(help="For auditors: export, replay and archive case histories.", no_args_is_help=True)


def show_history(case_id: str) -> None:
    """Print a case's timeline (from its Temporal history, or the archive) as a table."""
    settings = client_settings()

    async def main():
        return await history.case_timeline(await connect(settings), open_engine(settings), case_id)

    try:
        timeline = asyncio.run(main())
    except history.HistoryGone as exc:
        typer.echo(f"error: {exc}", err=True)
        finish(1)
    rows = [("time (UTC)", "kind", "actor", "role", "state", "obligation / level", "note")]
    for e in timeline.entries:
        states = f"{e.from_state.value if e.from_state else ''} -> {e.to_state.value}" if e.to_state else ""
        duty = f"{e.obligation or ''}{' L' + str(e.escalation_level) if e.escalation_level else ''}"
        rows.append(
            (e.at.strftime("%Y-%m-%d %H:%M:%S"), e.kind, e.actor or "", e.role or "", states, duty, e.note or "")
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    finish(0)


@app.command("export")
def audit_export(
    case_id: str,
    output: Annotated[Path, typer.Option("-o", "--output", help="file to write; runs after the first get .2, .3 ...")],
) -> None:
    """Export a case's history as `temporal workflow show --output json` does (payloads stay encoded)."""
    settings = client_settings()

    async def main():
        return await history.case_runs(await connect(settings), open_engine(settings), case_id)

    runs = asyncio.run(main())
    for n, run in enumerate(runs, start=1):
        target = output if n == 1 else output.with_suffix(f".{n}{output.suffix}")
        target.write_text(history.export_json(run))
        typer.echo(f"wrote {target} (run {n} of {len(runs)}, {len(run.events)} events)")
    finish(0)


def _print_reports(reports) -> bool:
    for r in reports:
        verdict = "deterministic" if r.deterministic else "malformed" if r.malformed else "NOT deterministic"
        typer.echo(f"{r.source}: {verdict}  workflow {r.workflow_id}  "
                   f"policy {r.policy_version}  code v{r.workflow_code_version}")
        if r.divergence:
            typer.echo(f"  {'what is wrong' if r.malformed else 'first divergence'}: {r.divergence}")
        for t in r.transitions:
            states = f"{t.from_state.value if t.from_state else '-'} -> {t.to_state.value if t.to_state else '?'}"
            typer.echo(f"  {t.at:%Y-%m-%d %H:%M:%S}  {t.action:<18} {t.actor:<22} {states}")
    ok = all(r.deterministic for r in reports)
    typer.echo(f"{sum(r.deterministic for r in reports)} of {len(reports)} histories replayed cleanly")
    return ok


@app.command("replay")
def audit_replay(
    files: Annotated[list[Path] | None, typer.Argument(help="exported histories")] = None,
    closed_since: Annotated[datetime | None, typer.Option(help="replay every case closed on the server since")] = None,
    from_archive: Annotated[bool, typer.Option(help="replay every history in the archive")] = False,
) -> None:
    """Replay histories against this code; exit 0 only when every one replays."""
    settings = client_settings()
    if not files and closed_since is None and not from_archive:
        raise typer.BadParameter("name files, --closed-since DATE or --from-archive")

    async def main():
        conv = data_converter(settings.payload_keyring)
        reports = await replay.replay_files(files or [], conv)
        if closed_since is not None:
            reports += await replay.replay_closed_since(await connect(settings), closed_since)
        if from_archive:
            rows = archive.histories(make_engine(settings.resolved_database_url))
            reports += await replay.replay_all(
                [
                    (history.load_history(row.history, row.workflow_id), f"archive row {row.seq} (case {row.case_id})")
                    for row in rows
                ],
                conv,
            )
        return reports

    reports = asyncio.run(main())
    if not reports:
        typer.echo("no histories to replay")
    finish(0 if _print_reports(reports) else 1)


@app.command("archive")
def audit_archive() -> None:
    """Archive every finished, closed case now (the schedule does this every 10 minutes)."""
    settings = client_settings()
    engine = open_engine(settings)
    migrate(engine)

    async def main() -> int:
        return await archive_closed(await connect(settings), engine)

    typer.echo(f"archived {asyncio.run(main())} history run(s)")
    finish(0)


def _verify_chain(verify, what: str) -> None:
    settings = client_settings()
    checked, problems = verify(make_engine(settings.resolved_database_url))
    for problem in problems:
        typer.echo(str(problem))
    typer.echo(f"{checked} {what} checked, {len(problems)} problem(s)")
    raise typer.Exit(1 if problems else 0)


@app.command("verify-archive")
def audit_verify_archive() -> None:
    """Check the archive's hash chain; names every removed or altered row; exit 1 on any."""
    _verify_chain(archive.verify, "archived histories")


@app.command("verify-access-log")
def audit_verify_access_log() -> None:
    """Check the access log's hash chain; names every removed or altered row; exit 1 on any."""
    _verify_chain(access_log.verify, "access log entries")
