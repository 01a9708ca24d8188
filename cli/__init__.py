"""The ``crisisflow`` command: one module per command group, each imported only when it runs.

- ``dev`` (cli/dev.py): everything on embedded defaults;
- ``worker``, ``api`` (cli/services.py) and ``setup`` (cli/setup.py): the parts alone;
- ``history`` and ``audit ...`` (cli/audit.py), ``token ...`` (cli/tokens.py), ``keys ...`` (cli/keys.py),
  ``outbox`` (cli/outbox.py), ``directory load`` (cli/directory.py), ``staff invite`` (cli/staff.py),
  ``screening preview|import`` (cli/screening.py).

``crisisflow --help`` lists the commands from ``COMMANDS`` below without importing any of them (a
group's module pulls in Temporal, Typst or the web app); running one imports its module alone.
tests/test_cli.py keeps each line here equal to the command's own help.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import click
import typer
from typer.core import TyperGroup


@dataclass(frozen=True)
class Entry:
    """A command of ``crisisflow``: where it lives (``module:attribute``, a function or a Typer app)
    and the line ``--help`` shows for it."""

    target: str
    help: str


COMMANDS: dict[str, Entry] = {
    "dev": Entry("cli.dev:dev", "Everything on embedded defaults: Temporal dev server (SQLite file, UI), worker "
                                "and API."),
    "worker": Entry("cli.services:worker", "Run a worker against CRISISFLOW_TEMPORAL_ADDRESS (scale by running "
                                           "more)."),
    "api": Entry("cli.services:api", "Run the HTTP API against CRISISFLOW_TEMPORAL_ADDRESS."),
    "setup": Entry("cli.setup:setup", "Migrate the database and register the search attributes (idempotent; run "
                                      "before api and worker)."),
    "history": Entry("cli.audit:show_history", "Print a case's timeline (from its Temporal history, or the "
                                               "archive) as a table."),
    "outbox": Entry("cli.outbox:outbox", "List deliveries that are pending, failing (retried with backoff) or "
                                         "refused, oldest first."),
    "audit": Entry("cli.audit:app", "For auditors: export, replay and archive case histories."),
    "token": Entry("cli.tokens:app", "Bearer tokens for the API."),
    "keys": Entry("cli.keys:app", "The payload keyring: encryption keys for everything stored in Temporal."),
    "directory": Entry("cli.directory:app", "The school directory: who works where, in which role, for which "
                                            "classes."),
    "staff": Entry("cli.staff:app", "People's sign-in to the staff app."),
    "screening": Entry("cli.screening:app", "Screening results: preview what an import would do, and import them."),
}


def load(name: str) -> click.Command:
    """The click command of ``crisisflow NAME``, its module imported now."""
    module, _, attribute = COMMANDS[name].target.partition(":")
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:
        single = typer.Typer()
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """Lists the commands from ``COMMANDS``; imports a command's module only to run it (or to show its
    own help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        # the listing needs only the name and the line; the command itself is loaded to run
        return click.Command(cmd_name, help=entry.help, short_help=entry.help)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else None
        if name in COMMANDS:
            return name, load(name), args[1:]
        return super().resolve_command(ctx, args)


app = typer.Typer(cls=LazyGroup, help="crisisflow: school psychological-crisis cases as durable workflows.",
                  no_args_is_help=True, rich_markup_mode=None, add_completion=False)


@app.callback()
def main() -> None:
    """crisisflow: school psychological-crisis cases as durable workflows."""
