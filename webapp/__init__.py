"""The web layer: the Flask app factory. Routes are thin: they parse, authorise and call `workflows` services.

May import `workflows.domain`, `workflows.infra`, `workflows.services` and `documents` — never `workflows.engine`
(tests/test_layers.py). What lives where: webapp/README.md.
"""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask
from flask_babel import Babel
from flask_wtf import CSRFProtect

from webapp.config import Config, ConfigurationError, check_production  # noqa: F401  (ConfigurationError: re-exported)

log = logging.getLogger(__name__)
csrf = CSRFProtect()
babel = Babel()


def create_app(config: dict | None = None, settings: Config | None = None) -> Flask:
    """The app with `settings` (default: read from the environment once, webapp/config.py), then `config` on top
    (tests). Everything reads its settings from `app.config` afterwards."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping((settings or Config.from_env()).flask_config())
    if config:
        app.config.update(config)
    if not app.config["UPLOAD_DIR"]:
        app.config["UPLOAD_DIR"] = os.path.join(app.instance_path, "uploads")
    from webapp import input_guard

    # malformed input (NUL, out-of-range integers, JSON nested too deep) is a 400 in one place; before the
    # blueprints, whose <int:…> rules take its bounded converter. Its JSON writes Chinese as itself.
    input_guard.install(app)
    check_production(app.config, testing=app.testing)
    from webapp.logs import configure_logging

    configure_logging(app)
    from webapp import db

    db.init_app(app)
    from webapp import uploads

    uploads.init_app(app)  # the upload store (UPLOAD_STORE): a wrong setting stops the start

    from webapp.security import login_manager, register_error_handlers

    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_locale)
    register_error_handlers(app)
    _security_headers(app)
    if app.config["TRUSTED_PROXIES"] > 0:  # the client's address (sign-in throttling, logs) is the proxy's otherwise
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]

    @app.before_request
    def _matters_registry():  # 事项配置: matters another process published (looked at every few seconds)
        from sqlalchemy.exc import SQLAlchemyError

        from webapp.db import db_session
        from workflows.services import matters

        try:
            matters.refresh(db_session())
        except SQLAlchemyError:  # a schema not migrated yet (no matter table): the declared procedures only
            log.warning("matters not loaded", exc_info=True)
            db_session().rollback()
        from webapp.api.openapi import refresh_procedures

        refresh_procedures()

    app.jinja_env.filters["localtime"] = _localtime
    app.jinja_env.filters["date_cn"] = _date_cn
    app.jinja_env.filters["legal_date"] = _legal_date
    app.jinja_env.tests["provisional"] = _is_provisional

    @app.context_processor
    def _layout_context():
        from flask_login import current_user

        from webapp.db import db_session
        from workflows.domain.actors import ROLE_LABELS
        from workflows.services.notifications import unread_count

        unread = 0
        if current_user.is_authenticated:
            try:
                unread = unread_count(db_session(), current_user.actor)
            except Exception:  # the bell must never break a page
                log.exception("unread count failed")
        from flask_babel import get_locale

        html_lang = "en" if str(get_locale() or "") == "en" else "zh-CN"  # ?lang= of this very request counts
        return {"role_labels": ROLE_LABELS, "unread_notifications": unread, "html_lang": html_lang}

    from webapp import (
        admin,
        admin_matters,  # noqa: F401  (事项配置's pages on admin.bp)
        admin_migration,  # noqa: F401  (the case migration page on admin.bp)
        admin_signing,  # noqa: F401  (adds the certificate and render-queue pages to admin.bp)
        api,
        applicant,
        auth,
        documents_web,
        officer,
        rights_window,  # noqa: F401  (the complaint window's pages on the applicant, officer and admin blueprints)
        statistics,
        verify,
        views,
    )
    from webapp.cli import register_cli

    register_cli(app)
    for module in (views, auth, applicant, officer, admin, api, verify, documents_web, statistics):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)  # the API authenticates with a bearer token or the session + X-CSRFToken (checked there)

    if app.config["SWEEP_IN_PROCESS"]:  # the one-process set-up (`make run`): no `flask worker` beside it
        from webapp import issuing

        issuing.start_renderer(app)
        start_sweeper(app)
    return app


def _localtime(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """UTC in the database (or an ISO 8601 text kept in JSON), Asia/Shanghai on the page."""
    from datetime import datetime

    from workflows.domain.clock import LOCAL_TZ, as_utc

    if isinstance(value, str) and value:
        value = datetime.fromisoformat(value)
    return as_utc(value).astimezone(LOCAL_TZ).strftime(fmt) if value else "—"


def _date_cn(value) -> str:
    from datetime import date

    if not value:
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value.year}年{value.month}月{value.day}日"


def _legal_date(value) -> str:
    """A deadline as a date; one in a year whose holiday arrangement is not known yet says it is provisional
    (DESIGN §3: 暂计至…，以国务院公布的节假日安排为准)."""
    from datetime import date

    from flask_babel import gettext

    if not value:
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    text = _date_cn(value)
    if _is_provisional(value):
        return gettext("暂计至%(date)s，以国务院公布的节假日安排为准", date=text)
    return text


def _is_provisional(value) -> bool:
    """`{% if d is provisional %}`: the date lies in a year whose holiday arrangement is not known yet."""
    from datetime import date

    from flask import g

    if not value:
        return False
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    cal = getattr(g, "legal_calendar", None)
    if cal is None:
        from webapp.db import db_session
        from workflows.services.settings import params_and_calendar

        cal = g.legal_calendar = params_and_calendar(db_session())[1]
    return cal.is_provisional(value)


def _locale():
    from flask import has_request_context, request, session

    if not has_request_context():  # CLI, the sweeper, documents rendered after the response: the default language
        return "zh_CN"
    lang = request.args.get("lang")
    if lang in ("zh_CN", "en"):
        session["lang"] = lang
    return session.get("lang") or request.accept_languages.best_match(["zh_CN", "en"]) or "zh_CN"


def _security_headers(app: Flask) -> None:
    hsts = app.config.get("HSTS_SECONDS") or 0

    @app.after_request
    def _headers(resp):
        if hsts > 0:  # production: browsers then refuse plain HTTP to this host (ignored on an HTTP response)
            resp.headers.setdefault("Strict-Transport-Security", f"max-age={hsts}")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; object-src 'none'; frame-ancestors 'none'",
        )
        return resp


def start_sweeper(app: Flask) -> threading.Thread:
    """The embedded default runs the timer sweep in the web process (production runs `flask worker`); the PDFs the
    timers plan are rendered by the in-process render queue (webapp/issuing.py `start_renderer`)."""
    from webapp.issuing import wake
    from webapp.mailer import notification_round, smtp_settings
    from workflows.services.quarterly import issue_due
    from workflows.services.statistics import refresh_round
    from workflows.services.timers import fire_due_timers

    stop = threading.Event()
    smtp = smtp_settings(app.config)  # the thread has no app context

    def loop():
        while not stop.wait(app.config["SWEEP_INTERVAL_SECONDS"]):
            try:
                if fire_due_timers(app.extensions["db_factory"]):
                    wake(app)
                notification_round(app.extensions["db_factory"], smtp)
                refresh_round(app.extensions["db_factory"])
                if issue_due(app.extensions["db_factory"]):  # after a quarter's end: its 季度调度通报
                    wake(app)
            except Exception:  # keep sweeping; the failure is logged
                log.exception("timer sweep failed")

    t = threading.Thread(target=loop, name="timer-sweep", daemon=True)
    t.start()
    app.extensions["sweeper_stop"] = stop
    return t
