"""``crisisflow dev``: everything on embedded defaults, in one process, for a newcomer's first run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from api.app import create_app
from api.auth import issue_token
from cli import demo
from cli.common import check_policy, settings_from_env, stop_on_signals, temporal_cli
from cli.directory import load_file
from cli.setup import ensure_schedule
from cli.startup import check_fonts
from config.logs import configure_logging
from config.settings import Settings, ensure_dev_keyring, ensure_dev_secret
from config.temporal import connect
from db import directory as db_directory
from db.engine import migrate, open_engine
from models import search_attributes as sa
from models.case import Actor
from models.domain import SCHOOL_ROLES, StaffRole
from models.policy import PolicyFileError, load_policy, rehearsal
from ops import service_options
from ops.server import http_server
from worker import build_worker

DEMO_SCHOOL = demo.SCHOOL
DEMO_AUTHORITY = demo.AUTHORITY
DEV_TOKEN_TTL = timedelta(hours=12)


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
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with code {proc.returncode}")
        try:
            # connecting asks the server for its system info
            return await connect(settings, **service_options(settings))
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.3)


def _demo_tokens(settings: Settings) -> dict[str, str]:
    tokens = {}
    for role in StaffRole:
        school = DEMO_SCHOOL if role in SCHOOL_ROLES else DEMO_AUTHORITY if role is StaffRole.edu_authority else None
        actor = Actor(staff_id=f"demo-{role.value.replace('_', '-')}", role=role, school_id=school)
        tokens[role.value] = issue_token(settings.signing_secret, actor, DEV_TOKEN_TTL)
    auditor = Actor(staff_id="demo-auditor-pii", role=StaffRole.auditor)
    tokens["auditor+pii"] = issue_token(settings.signing_secret, auditor, DEV_TOKEN_TTL, pii_grant=True)
    return tokens


def dev(
    data_dir: Annotated[Path, typer.Option(help="where the databases, secret and documents live")] = Path("var"),
    api_port: Annotated[int, typer.Option(help="HTTP API port")] = 8000,
    temporal_port: Annotated[int, typer.Option(help="Temporal frontend port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal UI port")] = 8233,
    policy: Annotated[Path | None, typer.Option(help="deadline policy file (JSON or TOML)")] = None,
    directory: Annotated[Path | None, typer.Option(help="school directory file (YAML or JSON) to load")] = None,
    demo_cases: Annotated[bool, typer.Option(help="add a dozen demonstration cases in different states")] = False,
    totp: Annotated[bool, typer.Option(help="ask for TOTP codes at sign-in (--no-totp: a banner says so)")] = True,
    ops_port: Annotated[int | None, typer.Option(
        min=0, max=65535, help="operations port (/metrics, /livez, /readyz); 0 = off "
                               "[default: CRISISFLOW_METRICS_PORT, else 9464]")] = None,
    rehearsal: Annotated[int, typer.Option(
        min=0, max=86400, help="rehearse the warning ladder: the policy's time runs N times faster for the "
                               "cases opened now (60: an hour of the policy passes in a minute); 0 = off")] = 0,
) -> None:
    """Everything on embedded defaults: Temporal dev server (SQLite file, UI), worker and API."""
    ensure_dev_secret(data_dir)
    ensure_dev_keyring(data_dir)
    os.environ.setdefault("CRISISFLOW_ENV", "dev")
    policy = policy or os.environ.get("CRISISFLOW_POLICY_FILE")
    if rehearsal:
        policy = _rehearsal_policy(data_dir, policy, rehearsal)
    settings = settings_from_env(
        env="dev",
        data_dir=data_dir,
        temporal_address=f"127.0.0.1:{temporal_port}",
        api_port=api_port,
        policy_file=policy,
        openapi=True,
        ui_origins=[f"http://127.0.0.1:{ui_port}", f"http://localhost:{ui_port}"],
        public_url=os.environ.get("CRISISFLOW_PUBLIC_URL", f"http://127.0.0.1:{api_port}"),
        demo=directory is None,
        totp=totp,
        **({"metrics_port": ops_port} if ops_port is not None else {}),
    )
    configure_logging(settings.log_format, settings.log_level)
    check_policy(settings)
    check_fonts(settings)
    _check_ports(settings, temporal_port, ui_port)

    async def main() -> int:
        stop = asyncio.Event()
        stop_on_signals(stop)
        proc = subprocess.Popen(_dev_server_args(settings, temporal_port, ui_port), stdin=subprocess.DEVNULL)
        try:
            client = await _wait_for_temporal(settings, proc)
            engine = open_engine(settings)
            migrate(engine)
            if directory is not None:
                typer.echo(f"directory loaded: {load_file(settings, directory)}", err=True)
            else:  # the demo school, its classes and one person per role (their sign-ins are printed)
                demo.load_directory(engine)
            sign_ins = demo.sign_ins(engine, settings) if directory is None else []
            await ensure_schedule(client, settings.task_queue)
            server = http_server(create_app(settings, client, engine), settings.api_host, api_port)
            async with build_worker(client, settings, engine):
                serving = asyncio.create_task(server.serve())
                while not server.started and not serving.done():
                    await asyncio.sleep(0.05)
                if serving.done():
                    return 1
                if demo_cases:
                    opened = await demo.add_cases(engine, f"http://127.0.0.1:{api_port}/api/v1",
                                                  lambda staff_id: _token_of(settings, engine, staff_id))
                    typer.echo(f"demo cases opened: {opened}", err=True)
                _banner(settings, api_port, ui_port, sign_ins)
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


def _rehearsal_policy(data_dir: Path, policy: Path | str | None, speed: int) -> Path:
    """The policy in force, ``speed`` times faster (``models.policy.rehearsal``), as a file in the data dir."""
    try:
        faster = rehearsal(load_policy(policy), speed)
    except PolicyFileError as exc:
        typer.echo(f"crisisflow dev: {exc}", err=True)
        raise typer.Exit(2) from None
    path = Path(data_dir) / "rehearsal-policy.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(faster.model_dump(mode="json"), ensure_ascii=False, indent=2), encoding="utf-8")
    typer.echo(f"rehearsal: the policy runs {speed} times faster (policy {faster.version})", err=True)
    return path


def _taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: a closed port is free
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _check_ports(settings: Settings, temporal_port: int, ui_port: int) -> None:
    """Every port dev will listen on is free, before anything starts: else one line and exit 2, nothing
    left running (the Temporal server is not started yet)."""
    wanted = [("--api-port", settings.api_host, settings.api_port), ("--temporal-port", "127.0.0.1", temporal_port),
              ("--ui-port", "127.0.0.1", ui_port)]
    if settings.metrics_port:
        wanted.append(("--ops-port", settings.metrics_host, settings.metrics_port))
    ports = [port for _, _, port in wanted]
    for option, host, port in wanted:
        if ports.count(port) > 1:
            typer.echo(f"error: port {port} is given twice; {option} needs a port of its own", err=True)
            raise typer.Exit(2)
        if _taken(host, port):
            hint = " (0 switches the operations port off)" if option == "--ops-port" else ""
            typer.echo(f"error: port {port} on {host} is in use; choose another with {option}{hint}", err=True)
            raise typer.Exit(2)


def _token_of(settings: Settings, engine, staff_id: str) -> str:
    person = db_directory.person(engine, staff_id)
    actor = Actor(staff_id=staff_id, role=StaffRole(person.roles[0]), school_id=person.school_id)
    return issue_token(settings.signing_secret, actor, timedelta(minutes=10))


def _banner(settings: Settings, api_port: int, ui_port: int, sign_ins: list) -> None:
    lines = [
        "",
        "crisisflow dev is up",
        f"  Staff app    http://127.0.0.1:{api_port}/ui  (phone or desk; zh-CN)",
        f"  API          http://127.0.0.1:{api_port}/api/v1  (OpenAPI: /api/v1/openapi.json, docs: /api/v1/docs)",
        f"  Temporal UI  http://127.0.0.1:{ui_port}  payloads are encrypted; to read a case there, sign in at /ui,",
        f"               then in the UI's Codec Server settings use http://127.0.0.1:{api_port}/codec",
        "               with \"Include cross-origin credentials\" and reload",
        f"  Temporal     {settings.temporal_address}  namespace {settings.namespace}",
        (f"  Operations   http://{settings.metrics_host}:{settings.metrics_port}/metrics  (and /livez, /readyz;"
         " docs/operations.md)" if settings.metrics_port else "  Operations   off (--ops-port 0)"),
        f"  Data         {settings.data_dir.resolve()}",
    ]
    if sign_ins:
        lines.append(f"  Demo sign-ins (staff app; every password: {demo.PASSWORD}"
                     + ("; TOTP is OFF" if not settings.totp else "; add the TOTP seed to an authenticator app") + "):")
        lines += [f"    {staff_id:<26} {name}  {role:<20} {('TOTP seed ' + secret) if secret else ''}"
                  for staff_id, name, role, secret in sign_ins]
        lines.append("    a new person: crisisflow staff invite ID --data-dir var  (prints a one-time code)")
        lines.append("  Rehearsal    --demo-cases --rehearsal 60: the policy runs 60 times faster, so the demo "
                     "cases go overdue and climb the warning ladder in minutes")
    lines.append(f"  Demo tokens for the API (school {DEMO_SCHOOL}, valid {DEV_TOKEN_TTL}):")
    lines += [f"    {role:<22} {token}" for role, token in _demo_tokens(settings).items()]
    lines += ["  Ctrl-C stops everything.", ""]
    print("\n".join(lines), flush=True)
