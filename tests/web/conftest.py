"""Web tests: a Flask app on a real SQLite file with the demo data (`flask init-db --demo`), frozen at Monday
2026-03-02 09:00 Asia/Shanghai like the `clock` fixture.

`flask init-db --demo` runs once per test session into a template database (under the same frozen time); each test
gets its own copy, so tests stay independent and fast."""

from __future__ import annotations

import re
import shutil
from datetime import datetime

import pytest
import time_machine

from tests.conftest import SH
from webapp import create_app
from webapp.demo.accounts import DEMO_PASSWORD

DEMO_INSTANT = datetime(2026, 3, 2, 9, 0, tzinfo=SH)


@pytest.fixture(scope="session")
def demo_db_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("web-demo") / "demo.sqlite3"
    with time_machine.travel(DEMO_INSTANT, tick=False):
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{path}",
                "TESTING": True,
                "WTF_CSRF_ENABLED": False,
                # the demo's sample files (webapp/demo/cases.py) land here, not in the repository's instance folder;
                # a test that reads them passes UPLOAD_DIR=demo_upload_dir (the others start with an empty store)
                "UPLOAD_DIR": str(path.parent / "uploads"),
                "UPLOAD_STORE": "filesystem",
            }
        )
        result = app.test_cli_runner().invoke(args=["init-db", "--demo"])
        app.extensions["db_engine"].dispose()
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="session")
def demo_upload_dir(demo_db_template):
    """The folder holding the demo's stored sample files (UPLOAD_DIR of the template database)."""
    return demo_db_template.parent / "uploads"


def _copy_db(template, tmp_path):
    target = tmp_path / "w.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        src = template.parent / (template.name + suffix)
        if src.exists():
            shutil.copy(src, tmp_path / ("w.sqlite3" + suffix))
    return target


def make_web_app(tmp_path, template, **config):
    path = _copy_db(template, tmp_path)
    return create_app({"DATABASE_URL": f"sqlite:///{path}", "TESTING": True, "WTF_CSRF_ENABLED": False, **config})


@pytest.fixture
def web_app(tmp_path, clock, demo_db_template):
    app = make_web_app(tmp_path, demo_db_template)
    yield app
    app.extensions["db_session"].remove()
    app.extensions["db_engine"].dispose()


@pytest.fixture
def client(web_app):
    return web_app.test_client()


def login(client, username: str, password: str = DEMO_PASSWORD):
    """Sign in through the login form (with its CSRF token when the app checks it)."""
    data = {"username": username, "password": password}
    page = client.get("/login").get_data(as_text=True)
    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    if m:
        data["csrf_token"] = m.group(1)
    r = client.post("/login", data=data)
    assert r.status_code in (302, 303), r.get_data(as_text=True)[:500]
    return r


def bearer(app, username: str) -> dict:
    """API request headers with a new token of `username`."""
    from sqlalchemy import select

    from webapp.api import new_token
    from workflows.domain.models import User

    s = app.extensions["db_factory"]()
    try:
        _row, secret = new_token(s, s.scalar(select(User).where(User.username == username)), "test")
    finally:
        s.close()
    return {"Authorization": f"Bearer {secret}"}


def signed_in(app, username: str):
    """A new test client signed in as `username`."""
    c = app.test_client()
    login(c, username)
    return c


@pytest.fixture
def db(web_app):
    """A session on the test app's database (close the read with `.commit()` before acting through the app)."""
    s = web_app.extensions["db_factory"]()
    yield s
    s.close()


@pytest.fixture
def api_app(tmp_path, clock, demo_db_template):
    """The app for API tests: CSRF checking on, its own UPLOAD_DIR (documents are left to the render queue)."""
    app = make_web_app(tmp_path, demo_db_template, WTF_CSRF_ENABLED=True, UPLOAD_DIR=str(tmp_path / "up"))
    yield app
    app.extensions["db_session"].remove()
    app.extensions["db_engine"].dispose()


@pytest.fixture
def dbs(api_app):
    s = api_app.extensions["db_factory"]()
    yield s
    s.close()
