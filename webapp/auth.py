"""Sign in and out, and change one's own password (Flask-Login sessions, hashed passwords, CSRF-protected forms).

An account whose password someone else chose (`User.must_change_password`: an administrator's reset or form, the bulk
import) is sent to the password page from every page until it has changed it (`_password_change_gate`); the JSON
API answers such a session 403 ``password_change_required``, while bearer-token clients are unaffected.

Signing in goes through `workflows.services.sign_in` (failures counted per account name and per client address in
the database, a lock after too many, the same hashing cost for unknown names); a session is a server-side row
(`workflows.services.sessions`) that signing out, a password change or reset and a deactivation delete.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from webapp.db import db_session
from webapp.security import sign_out, start_session
from workflows.domain.clock import now_utc
from workflows.domain.errors import Forbidden
from workflows.infra.db import transaction
from workflows.services import accounts, sign_in

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(_l("请输入用户名")), Length(max=64)])
    password = PasswordField(_l("密码"), validators=[DataRequired(_l("请输入密码")), Length(max=128)])


class PasswordForm(FlaskForm):
    """The rules are checked by `workflows.services.accounts` (one place for the web and any other caller)."""

    current_password = PasswordField(_l("当前密码"))
    new_password = PasswordField(_l("新密码"))
    confirm_password = PasswordField(_l("再次输入新密码"))


# The refusals of `accounts.change_password`, by rule code, in the visitor's language.
PASSWORD_RULE_MESSAGES = {
    "current_required": _l("请输入当前密码"),
    "current_wrong": _l("当前密码不正确"),
    "new_required": _l("请输入新密码"),
    "too_short": _l("新密码至少 %(n)s 位", n=accounts.MIN_LENGTH),
    "too_long": _l("新密码不能超过 %(n)s 位", n=accounts.MAX_LENGTH),
    "is_username": _l("新密码不能与用户名相同"),
    "unchanged": _l("新密码不能与当前密码相同"),
    "confirm_required": _l("请再次输入新密码"),
    "mismatch": _l("两次输入的新密码不一致"),
}

# Reachable while the password must be changed: the password page, signing out, files, health checks.
GATE_OPEN = {
    "auth.change_password",
    "auth.logout",
    "static",
    "views.vendor",
    "views.favicon",
    "views.healthz",
    "views.readyz",
}


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"


def _safe_target(target: str | None, role: str) -> str:
    """A local path to go on to, never off-site; else the role's home page."""
    target = target or ""
    parts = urlsplit(target)
    if not target.startswith("/") or parts.netloc or parts.scheme or target.startswith("//") or "\\" in target:
        return home_for(role)
    return target


@bp.before_app_request
def _password_change_gate():
    if request.endpoint in GATE_OPEN:
        return None
    api = request.path.startswith("/api/")
    if api and request.headers.get("Authorization"):
        return None  # a bearer token (checked by the API itself): API clients are not people at a sign-in form
    if not current_user.is_authenticated or not getattr(current_user, "must_change_password", False):
        return None
    if api:
        raise PasswordChangeRequired(
            "须先修改密码才能继续使用：请在网页上修改密码（/account/password）",
            details={"url": url_for("auth.change_password")},
        )
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    if target in (None, "/", url_for("auth.login")):
        return redirect(url_for("auth.change_password"))
    return redirect(url_for("auth.change_password", next=target))


def home_for(role: str) -> str:
    if role == "applicant":
        return url_for("applicant.home")
    if role == "admin":
        return url_for("admin.home")
    return url_for("officer.inbox")


def sign_in_limits() -> sign_in.Limits:
    c = current_app.config
    return sign_in.Limits(
        max_failures=c["SIGN_IN_MAX_FAILURES"],
        address_max_failures=c["SIGN_IN_ADDRESS_MAX_FAILURES"],
        window=timedelta(minutes=c["SIGN_IN_WINDOW_MINUTES"]),
        lock=timedelta(minutes=c["SIGN_IN_LOCK_MINUTES"]),
    )


def refusal_message(e: sign_in.SignInRefused) -> str:
    """The service's refusal in the visitor's language."""
    if e.code == "account_locked" and e.until:
        return _(
            "该账号因密码连续错误次数过多已被锁定，请于 %(time)s 后再试，或联系系统管理员解锁",
            time=sign_in.local_time(e.until),
        )
    if e.code == "address_locked" and e.until:
        return _("本机登录失败次数过多，已暂停登录，请于 %(time)s 后再试", time=sign_in.local_time(e.until))
    if e.left is not None and 0 < e.left <= sign_in.WARN_WHEN_LEFT:
        return _(
            "用户名或密码错误（再错 %(n)s 次，账号将被锁定 %(minutes)s 分钟）",
            n=e.left,
            minutes=current_app.config["SIGN_IN_LOCK_MINUTES"],
        )
    return _("用户名或密码错误")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    form = LoginForm()
    refused = None
    if form.validate_on_submit():
        try:
            user = sign_in.authenticate(
                db_session(), form.username.data, form.password.data, request.remote_addr, sign_in_limits()
            )
        except sign_in.SignInRefused as e:
            refused = e
        else:
            start_session(user)
            return redirect(_safe_target(request.args.get("next"), user.role))  # never off-site
    if refused is not None:
        page = render_template("auth/login.html", form=form, refused=refused, refused_message=refusal_message(refused))
        if refused.until is None:
            return page, 200  # a wrong name or password: the form again, as always
        retry = max(1, int((refused.until - now_utc()).total_seconds()))
        return page, 429, {"Retry-After": str(retry)}
    return render_template("auth/login.html", form=form), (200 if request.method == "GET" or form.errors == {} else 422)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Any signed-in person changes their own password. Refused: 422 with every problem on its field, nothing
    changed. Done: this session is signed in again under the new identity; every other session of the account ends."""
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():  # the CSRF token (CSRFProtect checks it for the whole app too)
        s = db_session()
        try:
            with transaction(s):
                user = accounts.change_password(
                    s,
                    current_user.user_id,
                    form.current_password.data,
                    form.new_password.data,
                    form.confirm_password.data,
                    keep_session_key=current_user.session_key,
                )
        except accounts.PasswordRejected as e:
            for field, code in e.codes.items():
                getattr(form, field).errors = [PASSWORD_RULE_MESSAGES.get(code) or e.details["fields"][field]]
            status = 422
        else:
            flash(_("密码已修改。使用旧密码的其他登录已自动退出。"), "success")
            return redirect(_safe_target(request.args.get("next"), user.role))
    elif request.method == "POST":
        status = 400 if form.errors.get("csrf_token") else 422
    return render_template(
        "auth/password.html", form=form, min_length=accounts.MIN_LENGTH, must_change=current_user.must_change_password
    ), status


@bp.post("/logout")
@login_required
def logout():
    sign_out()  # the server-side session ends: a copy of the cookie no longer works
    flash(_("已退出登录"), "info")
    return redirect(url_for("auth.login"))


@bp.get("/")
def root():
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    return redirect(url_for("auth.login"))
