"""The `flask …` commands (FLASK_APP=webapp), one module per area:

- `database`     init-db, db-upgrade
- `accounts`     create-user, import-units, import-users, create-token, revoke-token
- `cases`        cases, tasks, complete, supply, verify-audit
- `definitions`  deploy, migrate-cases
- `timers`       sweep, worker
- `scale`        generate
- `uploads`      copy-uploads
- `signing`      verify-document, signing-rekey
- `common`       what they share: `service_session()` (the one way a command opens a session: closed at the end, a
                 refused service call becomes the error message and exit 1), `actor()` for `--as USER`, the engine.

Each area module collects its commands in a Flask `AppGroup` named `cli` (which runs every command inside the app
context). The groups only organise the code: `register_cli` adds every command to `app.cli` under its own name, so
the command line stays flat — `flask db-upgrade`, `flask worker`, … exactly as README.md, the Makefile, scripts and
tests call them (tests/test_cli_commands.py holds the README's table to that). A new command goes into the module
of its area, or a new area module listed in `AREAS`; command names are unique across areas.
"""

from __future__ import annotations

from flask import Flask

from webapp.cli import accounts, cases, database, definitions, scale, signing, timers, uploads

AREAS = (database, accounts, cases, definitions, timers, scale, uploads, signing)


def register_cli(app: Flask) -> None:
    for area in AREAS:
        for name, command in area.cli.commands.items():
            if name in app.cli.commands:
                raise RuntimeError(f"flask {name}: defined twice (webapp/cli/{area.__name__.rsplit('.', 1)[-1]}.py)")
            app.cli.add_command(command)
