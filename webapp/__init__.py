"""Flask app factory. Routes are thin: they parse, authorise and call `workflows` services."""
from __future__ import annotations

import logging
import os
import threading

from flask import Flask
from flask_babel import Babel
from flask_wtf import CSRFProtect

from workflows.infra.db import DEFAULT_URL

log = logging.getLogger(__name__)
csrf = CSRFProtect()
babel = Babel()


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(
        DATABASE_URL=os.environ.get("DATABASE_URL") or DEFAULT_URL,
        SECRET_KEY=os.environ.get("SECRET_KEY") or "dev-only-not-secret",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("SESSION_COOKIE_SECURE", "") == "1",
        REMEMBER_COOKIE_HTTPONLY=True,
        MAX_CONTENT_LENGTH=int(os.environ.get("MAX_UPLOAD_MB", "20")) * 1024 * 1024,
        UPLOAD_DIR=os.environ.get("UPLOAD_DIR") or os.path.join(app.instance_path, "uploads"),
        BABEL_DEFAULT_LOCALE="zh_CN",
        BABEL_TRANSLATION_DIRECTORIES=os.path.join(os.path.dirname(__file__), "translations"),
        WTF_CSRF_TIME_LIMIT=None,
        RENDER_AFTER_REQUEST=os.environ.get("RENDER_AFTER_REQUEST", "1") == "1",
        SWEEP_INTERVAL_SECONDS=int(os.environ.get("SWEEP_INTERVAL_SECONDS", "30")),
        SWEEP_IN_PROCESS=os.environ.get("SWEEP_IN_PROCESS", "") == "1",
        JSON_AS_ASCII=False,
    )
    if config:
        app.config.update(config)
    app.json.ensure_ascii = False  # Chinese in JSON as itself (Flask 3 ignores JSON_AS_ASCII)
    _refuse_unsafe_production(app)
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

    app.jinja_env.filters["localtime"] = _localtime
    app.jinja_env.filters["date_cn"] = _date_cn

    @app.context_processor
    def _layout_context():
        from flask_login import current_user
        from workflows.domain.actors import ROLE_LABELS
        from workflows.services.notifications import unread_count
        from webapp.db import db_session
        unread = 0
        if current_user.is_authenticated:
            try:
                unread = unread_count(db_session(), current_user.actor)
            except Exception:  # the bell must never break a page
                log.exception("unread count failed")
        from flask_babel import get_locale
        html_lang = "en" if str(get_locale() or "") == "en" else "zh-CN"  # ?lang= of this very request counts
        return {"role_labels": ROLE_LABELS, "unread_notifications": unread, "html_lang": html_lang}

    from webapp.cli import register_cli
    from webapp import views, auth, applicant, officer, admin, api, verify, documents_web
    register_cli(app)
    for module in (views, auth, applicant, officer, admin, api, verify, documents_web):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)
    if app.config["RENDER_AFTER_REQUEST"]:
        from webapp import issuing
        issuing.install(app)  # the API authenticates with a bearer token or the session + X-CSRFToken (checked there)

    if app.config["SWEEP_IN_PROCESS"]:
        start_sweeper(app)
    return app


class ConfigurationError(RuntimeError):
    pass


def _refuse_unsafe_production(app: Flask) -> None:
    """In production (APP_ENV=production) a missing SECRET_KEY or the SQLite default must stop the start."""
    if os.environ.get("APP_ENV") != "production" or app.testing:
        return
    if not os.environ.get("SECRET_KEY") or app.config["SECRET_KEY"] == "dev-only-not-secret":
        raise ConfigurationError("生产环境必须设置 SECRET_KEY 环境变量（例如 python -c 'import secrets; "
                                 "print(secrets.token_hex(32))' 生成）/ SECRET_KEY must be set in production")
    if not str(app.config["DATABASE_URL"]).startswith("postgresql"):
        raise ConfigurationError("生产环境须使用 PostgreSQL：请设置 DATABASE_URL / production needs DATABASE_URL "
                                 "pointing to PostgreSQL")


def _localtime(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """UTC in the database, Asia/Shanghai on the page."""
    from workflows.domain.clock import LOCAL_TZ, as_utc
    return as_utc(value).astimezone(LOCAL_TZ).strftime(fmt) if value else "—"


def _date_cn(value) -> str:
    from datetime import date
    if not value:
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value.year}年{value.month}月{value.day}日"


def _locale():
    from flask import has_request_context, request, session
    if not has_request_context():  # CLI, the sweeper, documents rendered after the response: the default language
        return "zh_CN"
    lang = request.args.get("lang")
    if lang in ("zh_CN", "en"):
        session["lang"] = lang
    return session.get("lang") or request.accept_languages.best_match(["zh_CN", "en"]) or "zh_CN"


def _security_headers(app: Flask) -> None:
    @app.after_request
    def _headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                "script-src 'self'; object-src 'none'; frame-ancestors 'none'")
        return resp


def start_sweeper(app: Flask) -> threading.Thread:
    """The embedded default runs the timer sweep in the web process (production runs `flask worker`)."""
    from workflows.services.timers import fire_due_timers
    from webapp.issuing import render_pending
    from webapp.mailer import notification_round
    stop = threading.Event()

    def loop():
        while not stop.wait(app.config["SWEEP_INTERVAL_SECONDS"]):
            try:
                fire_due_timers(app.extensions["db_factory"])
                render_pending(app.extensions["db_factory"])
                notification_round(app.extensions["db_factory"])
            except Exception:  # keep sweeping; the failure is logged
                log.exception("timer sweep failed")

    t = threading.Thread(target=loop, name="timer-sweep", daemon=True)
    t.start()
    app.extensions["sweeper_stop"] = stop
    return t
