"""The ``crisisflow`` command: one module per command group.

- ``dev`` (cli/dev.py): everything on embedded defaults;
- ``worker``, ``api`` (cli/services.py) and ``setup`` (cli/setup.py): the parts alone;
- ``history`` and ``audit ...`` (cli/audit.py), ``token ...`` (cli/tokens.py), ``keys ...`` (cli/keys.py),
  ``outbox`` (cli/outbox.py), ``staff invite`` (cli/staff.py), ``screening preview`` (cli/screening.py).
"""

from __future__ import annotations

import typer

from cli import audit, dev, directory, keys, outbox, screening, services, setup, staff, tokens

app = typer.Typer(help="crisisflow: school psychological-crisis cases as durable workflows.", no_args_is_help=True)
app.command()(dev.dev)
app.command()(services.worker)
app.command()(services.api)
app.command()(setup.setup)
app.command("history")(audit.show_history)
app.command("outbox")(outbox.outbox)
app.add_typer(audit.app, name="audit")
app.add_typer(tokens.app, name="token")
app.add_typer(keys.app, name="keys")
app.add_typer(directory.app, name="directory")
app.add_typer(staff.app, name="staff")
app.add_typer(screening.app, name="screening")

