"""``crisisflow keys``: the payload keyring that encrypts everything stored in Temporal and at rest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import settings_from_env
from crypto.keyring import KEYRING_FILE, KeyringError, ensure_file, rotate

app = typer.Typer(help="The payload keyring: encryption keys for everything stored in Temporal.", no_args_is_help=True)


@app.command("init")
def init(keyring: Annotated[Path, typer.Argument(help="the keyring file to create (mode 0600)")]) -> None:
    """Create a keyring file with one fresh AES-256 key; refuses to overwrite one."""
    if keyring.exists():
        typer.echo(f"error: {keyring} exists; rotate it with `crisisflow keys rotate --keyring {keyring}`", err=True)
        raise typer.Exit(2)
    ensure_file(keyring)
    typer.echo(f"wrote {keyring}; keep it secret and backed up: without it no history can be read")


@app.command("rotate")
def rotate_keyring(
    keyring: Annotated[
        Path | None, typer.Option(help="the keyring file (default: CRISISFLOW_KEYRING, else the data dir's)")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="the dev data dir whose keyring to rotate")] = None,
) -> None:
    """Add a new current key; older keys stay so earlier histories still decode and replay.

    Workers and APIs reading the same file pick the new key up without a restart.
    """
    settings = settings_from_env(data_dir=data_dir)
    path = keyring
    if path is None:
        source = settings.keyring.get_secret_value() if settings.keyring else str(settings.data_dir / KEYRING_FILE)
        if source.lstrip().startswith("{"):
            typer.echo(
                "error: CRISISFLOW_KEYRING holds the keys inline; rotate the file it came from "
                "(crisisflow keys rotate --keyring FILE) and set it again",
                err=True,
            )
            raise typer.Exit(2)
        path = Path(source)
    try:
        kid = rotate(path)
    except (KeyringError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"new current key {kid} in {path}; earlier keys kept for decrypting")
