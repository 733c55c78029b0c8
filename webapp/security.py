"""Who is signed in, what they may reach, and the error pages (Chinese; JSON under /api/)."""

from __future__ import annotations

from functools import wraps

from flask import Flask, abort, current_app, jsonify, make_response, render_template, request
from flask_babel import gettext
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.exceptions import HTTPException

from workflows.domain.actors import Actor
from workflows.domain.errors import DomainError
from workflows.domain.models import User
from workflows.infra.db import transaction
from workflows.services import sessions


def N_(message: str) -> str:
    """Marks a message for extraction (pybabel's default keywords include N_); translated where it is shown."""
    return message


login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = N_("请先登录")
login_manager.localize_callback = gettext  # the flashed message in the visitor's language
login_manager.login_message_category = "warning"

OFFICER_ROLES = ("unit_hr", "dept", "bianban", "hrss", "committee", "rights_office")


class LoginUser(UserMixin):
    def __init__(self, user: User, session_key: str):
        self.id = str(user.id)
        self.user_id = user.id
        self.username = user.username
        self.display_name = user.display_name
        self.role = user.role
        self.unit_code = user.unit_code
        self.id_number = user.id_number
        self.must_change_password = bool(user.must_change_password)
        self.session_key = session_key
        self._actor = Actor.from_user(user)

    def get_id(self) -> str:
        """The cookie keeps only the key of the server-side session (`workflows.services.sessions`): signing out,
        a password change or reset and a deactivation delete that session, and a copy of the cookie loads nothing."""
        return self.session_key

    @property
    def actor(self) -> Actor:
        return self._actor


@login_manager.user_loader
def _load_user(key: str):
    """The account of a live server-side session (one read); None signs the visitor out — also for the identities
    "<id>" and "<id>:<fingerprint>" older versions kept in the cookie."""
    from webapp.db import db_session

    user = sessions.session_user(db_session(), key)
    return LoginUser(user, key) if user is not None else None


def start_session(user: User) -> None:
    """Open a server-side session for the account (its own transaction) and sign this browser in with it."""
    from webapp.db import db_session

    s = db_session()
    with transaction(s):
        key = sessions.open_session(s, user.id, current_app.config["SESSION_HOURS"])
        login_user(LoginUser(user, key))  # before the commit expires the row


def sign_out() -> None:
    """End this browser's server-side session, then its cookie."""
    from webapp.db import db_session

    if current_user.is_authenticated:
        s = db_session()
        with transaction(s):
            sessions.end_session(s, current_user.session_key)
    logout_user()


def current_actor() -> Actor:
    if not current_user.is_authenticated:
        abort(401)
    return current_user.actor


def roles_required(*roles: str):
    """Signed in, with one of these roles; anything else is 403 (401 → the login page)."""

    def deco(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return fn(*args, **kwargs)

        return wrapper

    return deco


# Chinese in the JSON API; the HTML error pages show them in the visitor's language.
MESSAGES = {
    400: N_("请求无效"),
    401: N_("请先登录"),
    403: N_("您无权访问该页面"),
    404: N_("页面或办件不存在"),
    405: N_("不支持该操作"),
    409: N_("操作冲突，请刷新后重试"),
    413: N_("上传的文件过大"),
    422: N_("提交的内容有误"),
    429: N_("操作过于频繁，请稍后再试"),
    500: N_("系统内部错误，请稍后重试"),
}
CSRF_MESSAGE = N_("表单已过期或来源无效（CSRF 校验失败），请刷新页面后重试")


def wants_json() -> bool:
    return request.path.startswith("/api/")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(e: DomainError):
        app.logger.warning("refused %s %s: %s", request.method, request.path, e.message)
        if wants_json():
            return jsonify({"error": e.to_dict()}), e.status
        return render_template("errors/error.html", status=e.status, message=e.message, details=e.details), e.status

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        status = e.code or 500
        message = MESSAGES.get(status, e.name)
        if status == 400 and "CSRF" in (e.description or ""):
            message = CSRF_MESSAGE
        if wants_json():
            code = {
                400: "bad_request",
                401: "unauthorized",
                403: "forbidden",
                404: "not_found",
                405: "method_not_allowed",
                409: "conflict",
                413: "too_large",
                422: "validation_failed",
            }
            resp = jsonify({"error": {"code": code.get(status, "error"), "message": message}})
        else:
            page_message = gettext(message) if status in MESSAGES else message
            resp = make_response(
                render_template("errors/error.html", status=status, message=page_message, details=None)
            )
        resp.status_code = status
        # the exception's own headers: a 405 names the methods allowed (RFC 9110), a 401 its challenge
        for name, value in e.get_headers():
            if name.lower() != "content-type":
                resp.headers[name] = value
        return resp

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return jsonify({"error": {"code": "internal", "message": MESSAGES[500]}}), 500
        return render_template("errors/error.html", status=500, message=gettext(MESSAGES[500]), details=None), 500
