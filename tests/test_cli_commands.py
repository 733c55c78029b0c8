"""The command line is a contract: every `flask …` command that README.md, the Makefile, CI, scripts/ and bench/ name
exists under that very name, the README's table lists every command the app has, and each command is defined in
exactly one area module of webapp/cli/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from webapp import cli, create_app

ROOT = Path(__file__).resolve().parents[1]
FLASK_OWN = {"run", "shell", "routes"}  # Flask's built-in commands
COMMAND = re.compile(r"\bflask ([a-z][a-z0-9-]*)")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('cli')}/cli.sqlite3", "TESTING": True})
    yield app
    app.extensions["db_engine"].dispose()


def _readme_table() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## Command line (Flask CLI)", 1)[1].split("\n## ", 1)[0]
    return {name for line in table.splitlines() if line.startswith("| `flask ") for name in COMMAND.findall(line)}


def _named_elsewhere() -> dict[str, set[str]]:
    files = [
        ROOT / "README.md",
        ROOT / "Makefile",
        *sorted((ROOT / ".ci").glob("*")),
        *sorted((ROOT / "scripts").glob("*")),
        *sorted((ROOT / "bench").glob("*.py")),
    ]
    out: dict[str, set[str]] = {}
    for path in files:
        for name in COMMAND.findall(path.read_text(encoding="utf-8")):
            out.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return out


def test_every_command_the_docs_and_scripts_name_exists_under_that_name(app):
    missing = {
        name: where
        for name, where in _named_elsewhere().items()
        if name not in app.cli.commands and name not in FLASK_OWN
    }
    assert not missing


def test_the_readme_table_lists_every_command_and_only_those(app):
    assert _readme_table() == set(app.cli.commands)


def test_each_command_comes_from_exactly_one_area():
    names = [name for area in cli.AREAS for name in area.cli.commands]
    assert len(names) == len(set(names))
    assert {"db-upgrade", "worker", "sweep", "init-db", "create-user", "generate"} <= set(names)
