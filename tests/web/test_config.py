"""One settings object: read from the environment once (webapp/config.py), loaded into app.config by create_app,
and every reader takes its settings from there."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from webapp import ConfigurationError, create_app
from webapp.config import DEV_SECRET, SETTINGS, Config, check_production

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_switches_and_numbers_from_the_environment():
    c = Config.from_env({})
    assert (c.SECRET_KEY, c.MAX_UPLOAD_MB, c.SIGNING_KEY_PASSPHRASE, c.SWEEP_IN_PROCESS, c.SMTP_HOST) == (
        DEV_SECRET,
        20,
        None,
        False,
        None,
    )
    assert c.DATABASE_URL.startswith("sqlite") and c.flask_config()["PUBLIC_BASE_URL"] == "http://127.0.0.1:5000"
    c = Config.from_env(
        {
            "MAX_UPLOAD_MB": "5",
            "SWEEP_IN_PROCESS": "1",
            "SMTP_HOST": "mail.example.org",
            "SMTP_PORT": "587",
            "SECRET_KEY": "",
            "BPMN_DIR": "/srv/bpmn",
        }
    )
    assert (c.MAX_UPLOAD_MB, c.SWEEP_IN_PROCESS, c.SMTP_PORT, c.BPMN_DIR) == (
        5,
        True,
        587,
        "/srv/bpmn",
    )
    assert c.SECRET_KEY == DEV_SECRET  # set to nothing counts as not set
    assert Config.from_env({"SWEEP_IN_PROCESS": ""}).SWEEP_IN_PROCESS is False  # a switch is on only with 1
    assert Config.from_env({"SWEEP_IN_PROCESS": "yes"}).SWEEP_IN_PROCESS is False
    assert c.flask_config()["MAX_CONTENT_LENGTH"] == 5 * 1024 * 1024
    with pytest.raises(ConfigurationError, match="SMTP_PORT"):
        Config.from_env({"SMTP_PORT": "twenty-five"})


def test_create_app_loads_the_settings_and_the_readers_use_them(tmp_path):
    from webapp import issuing, mailer

    settings = Config(
        DATABASE_URL=f"sqlite:///{tmp_path}/c.sqlite3",
        PUBLIC_BASE_URL="https://rsj.example.gov.cn/",
        SMTP_HOST="mail.example.org",
        SMTP_STARTTLS=True,
        MAIL_FROM="rsj@example.gov.cn",
        SWEEP_IN_PROCESS=False,
    )
    app = create_app({"TESTING": True}, settings=settings)
    try:
        assert app.config["UPLOAD_DIR"] == str(Path(app.instance_path) / "uploads")
        assert app.config["SWEEP_IN_PROCESS"] is False and app.config["SECRET_KEY"] == DEV_SECRET
        with app.app_context():
            assert issuing.verify_url("ABC") == "https://rsj.example.gov.cn/verify/ABC"
            smtp = mailer.smtp_settings()
        assert (smtp["host"], smtp["port"], smtp["starttls"], smtp["sender"]) == (
            "mail.example.org",
            25,
            True,
            "rsj@example.gov.cn",
        )
        assert mailer.smtp_settings(Config().flask_config()) is None  # no SMTP_HOST: no e-mail
    finally:
        app.extensions["db_engine"].dispose()


def test_production_refuses_the_dev_secret_and_sqlite(tmp_path):
    sqlite = f"sqlite:///{tmp_path}/p.sqlite3"
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        create_app(settings=Config(APP_ENV="production", DATABASE_URL=sqlite))
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        create_app(settings=Config(APP_ENV="production", DATABASE_URL=sqlite, SECRET_KEY="s" * 64))
    pg = "postgresql+psycopg://gc@db/green_channel"
    base = {"APP_ENV": "production", "SECRET_KEY": "s" * 64, "DATABASE_URL": pg, "PUBLIC_BASE_URL": "https://a.gov.cn"}
    with pytest.raises(ConfigurationError, match="SIGNING_KEY_PASSPHRASE"):
        check_production(base)
    with pytest.raises(ConfigurationError, match="SIGNING_KEY_PASSPHRASE"):  # too short to resist guessing
        check_production({**base, "SIGNING_KEY_PASSPHRASE": "short"})
    check_production(
        {
            "APP_ENV": "production",
            "SECRET_KEY": "s" * 64,
            "DATABASE_URL": pg,
            "PUBLIC_BASE_URL": "https://rsj.example.gov.cn",
            "SIGNING_KEY_PASSPHRASE": "p" * 32,
        }
    )
    check_production({"APP_ENV": "production", "SECRET_KEY": DEV_SECRET, "DATABASE_URL": sqlite}, testing=True)


def test_readme_production_lists_every_setting():
    readme = (ROOT / "README.md").read_text("utf-8")
    production = readme[readme.index("## Production") :]
    production = production[: production.index("\n## ", 1)]
    missing = [name for name in SETTINGS if f"`{name}" not in production]
    assert not missing, f"README Production does not list {missing}"


def test_only_the_config_module_reads_the_environment():
    """gunicorn_conf.py is gunicorn's own file (read before any app exists); nothing else reads os.environ for a
    setting."""
    readers = []
    for folder in ("webapp", "workflows"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            # the script sandbox hands its child process a stripped copy of the environment (no secrets); it reads
            # no setting from it
            if rel in ("webapp/config.py", "webapp/gunicorn_conf.py", "workflows/engine/sandbox.py"):
                continue
            if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text("utf-8")):
                readers.append(rel)
    assert readers == []


def test_production_refuses_to_start_without_a_public_address(tmp_path):
    """Archived PDFs never change: a deployment that printed http://127.0.0.1:5000 under every QR code would issue
    unverifiable papers for good. So production refuses to start without PUBLIC_BASE_URL, like without SECRET_KEY."""
    pg = "postgresql+psycopg://gc@db/green_channel"
    settings = dict(APP_ENV="production", DATABASE_URL=pg, SECRET_KEY="s" * 64, SIGNING_KEY_PASSPHRASE="p" * 32)
    with pytest.raises(ConfigurationError, match="PUBLIC_BASE_URL"):
        create_app(settings=Config(**settings))
    assert Config.from_env({"APP_ENV": "production"}).flask_config()["PUBLIC_BASE_URL"] is None  # no default
    for bad in ("http://127.0.0.1:5000", "https://localhost/", "ftp://rsj.example.gov.cn", "rsj.example.gov.cn"):
        with pytest.raises(ConfigurationError, match="PUBLIC_BASE_URL"):
            check_production({**settings, "PUBLIC_BASE_URL": bad})
    check_production({**settings, "PUBLIC_BASE_URL": "https://rsj.example.gov.cn/gc/"})
    # outside production the local default stays
    assert Config.from_env({}).flask_config()["PUBLIC_BASE_URL"] == "http://127.0.0.1:5000"


def test_the_wsgi_entry_point_refuses_without_public_base_url(tmp_path):
    """The real start (gunicorn imports webapp.wsgi) with the production environment minus PUBLIC_BASE_URL."""
    import subprocess
    import sys

    env = {
        "PATH": os.environ.get("PATH", ""),
        "APP_ENV": "production",
        "SECRET_KEY": "s" * 64,
        "DATABASE_URL": "postgresql+psycopg://gc@127.0.0.1:1/none",
    }
    r = subprocess.run(
        [sys.executable, "-c", "import webapp.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode != 0 and "PUBLIC_BASE_URL" in r.stderr
