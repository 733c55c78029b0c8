"""Flask app factory. Routes are thin: they parse, authorise and call `workflows` services."""
from __future__ import annotations

import logging
import os
import threading

from flask import Flask, g, jsonify
from sqlalchemy.orm import scoped_session

from workflows.db import create_all, database_url, make_engine, make_session_factory
from workflows.errors import DomainError

log = logging.getLogger(__name__)


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(
        DATABASE_URL=database_url(),
        SECRET_KEY=os.environ.get("SECRET_KEY") or "dev-only-not-secret",
        SWEEP_INTERVAL_SECONDS=int(os.environ.get("SWEEP_INTERVAL_SECONDS", "30")),
        SWEEP_IN_PROCESS=os.environ.get("SWEEP_IN_PROCESS", "") == "1",
        JSON_AS_ASCII=False,
    )
    if config:
        app.config.update(config)
    engine = make_engine(app.config["DATABASE_URL"])
    factory = make_session_factory(engine)
    app.extensions["db_engine"] = engine
    app.extensions["db_factory"] = factory
    app.extensions["db_session"] = scoped_session(factory)
    create_all(engine)

    @app.teardown_appcontext
    def _remove_session(_exc):
        app.extensions["db_session"].remove()

    @app.errorhandler(DomainError)
    def _domain_error(e: DomainError):
        log.warning("request refused: %s", e.message)
        return jsonify({"error": e.to_dict()}), e.status

    from .cli import register_cli
    from .views import bp
    register_cli(app)
    app.register_blueprint(bp)

    if app.config["SWEEP_IN_PROCESS"]:
        start_sweeper(app)
    return app


def db_session():
    from flask import current_app
    return current_app.extensions["db_session"]()


def start_sweeper(app: Flask) -> threading.Thread:
    """The embedded default runs the timer sweep in the web process (production runs `flask worker`)."""
    from workflows.services.timers import fire_due_timers
    stop = threading.Event()

    def loop():
        while not stop.wait(app.config["SWEEP_INTERVAL_SECONDS"]):
            try:
                fire_due_timers(app.extensions["db_factory"])
            except Exception:  # keep sweeping; the failure is logged
                log.exception("timer sweep failed")

    t = threading.Thread(target=loop, name="timer-sweep", daemon=True)
    t.start()
    app.extensions["sweeper_stop"] = stop
    return t
