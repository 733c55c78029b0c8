"""The request's database session: one scoped session per app, removed at the end of each request or CLI context.

Blueprints import `db_session` from here (never from `webapp/__init__`); background work (sweeper, renderer, mailer)
takes `app.extensions["db_factory"]` and opens its own sessions.
"""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy.orm import Session, scoped_session

from workflows.infra.db import create_all, make_engine, make_session_factory


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    factory = make_session_factory(engine)
    app.extensions["db_engine"] = engine
    app.extensions["db_factory"] = factory
    app.extensions["db_session"] = scoped_session(factory)
    if app.config.get("CREATE_TABLES", app.config.get("TESTING")):  # tests may skip `flask init-db`
        create_all(engine)

    @app.teardown_appcontext
    def _remove_session(_exc):
        app.extensions["db_session"].remove()


def db_session() -> Session:
    return current_app.extensions["db_session"]()
