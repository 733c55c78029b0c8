"""Sign in and out (Flask-Login sessions, hashed passwords, CSRF-protected form)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.security import check_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from workflows.models import User

from . import db_session
from .security import LoginUser

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(_l("请输入用户名")), Length(max=64)])
    password = PasswordField(_l("密码"), validators=[DataRequired(_l("请输入密码")), Length(max=128)])


def home_for(role: str) -> str:
    if role == "applicant":
        return url_for("applicant.home")
    if role == "admin":
        return url_for("admin.home")
    return url_for("officer.inbox")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    form = LoginForm()
    if form.validate_on_submit():
        user = db_session().scalar(select(User).where(User.username == form.username.data.strip()))
        if user is None or not user.active or not check_password_hash(user.password_hash, form.password.data):
            flash(_("用户名或密码错误"), "error")
        else:
            login_user(LoginUser(user))
            target = request.args.get("next") or ""
            parts = urlsplit(target)
            if not target.startswith("/") or parts.netloc or parts.scheme or target.startswith("//"):
                target = home_for(user.role)  # never redirect off-site
            return redirect(target)
    return render_template("auth/login.html", form=form), (200 if request.method == "GET" or form.errors == {} else 422)


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash(_("已退出登录"), "info")
    return redirect(url_for("auth.login"))


@bp.get("/")
def root():
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    return redirect(url_for("auth.login"))
