"""Sign-in throttling and lockout, server-side sessions, API token revocation and expiry, production cookies and HSTS
(issue 13, items 5, 6 and 8).

Flask test client on a copy of the demo database (tests/web/conftest.py); CSRF is off. Each failed sign-in of an
existing or unknown name costs one scrypt hash (~0.1 s), so the loops stay short."""

from __future__ import annotations

import html
import logging
import statistics
import time
from datetime import timedelta
from urllib.parse import unquote

import pytest
from sqlalchemy import func, select

from tests.web.conftest import make_web_app, signed_in
from webapp.config import Config
from webapp.demo.accounts import DEMO_PASSWORD
from workflows.domain import passwords
from workflows.domain.clock import now_utc
from workflows.domain.models import ApiToken, SignInThrottle, User, UserSession
from workflows.infra.db import transaction

WRONG = "not-the-password"


def text(r) -> str:
    return html.unescape(r.get_data(as_text=True))


def attempt(app, username: str, password: str, address: str = "127.0.0.1"):
    return app.test_client().post(
        "/login", data={"username": username, "password": password}, environ_base={"REMOTE_ADDR": address}
    )


def user_id(db, username: str) -> int:
    db.expire_all()
    uid = db.scalar(select(User.id).where(User.username == username))
    db.commit()
    return uid


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def new_token(db, username: str, days: int | None = None) -> tuple[int, str]:
    from webapp.api import new_token as make

    db.expire_all()
    row, secret = make(db, db.scalar(select(User).where(User.username == username)), "test", days)
    db.commit()
    return row.id, secret


# -- item 5: throttling and lockout ----------------------------------------------------------------------------------


def test_thirty_wrong_passwords_lock_the_account_and_the_right_one_is_refused_while_locked(web_app, db, caplog):
    statuses, messages = [], []
    with caplog.at_level(logging.INFO, logger="workflows.services.sign_in"):
        for _ in range(30):
            r = attempt(web_app, "hr_nky", WRONG)
            statuses.append(r.status_code)
            messages.append(text(r))
    limit = web_app.config["SIGN_IN_MAX_FAILURES"]
    assert statuses == [200] * (limit - 1) + [429] * (31 - limit)
    assert "用户名或密码错误" in messages[0] and "再错" not in messages[0]
    assert "再错 1 次，账号将被锁定 15 分钟" in messages[limit - 2]  # the last try is announced
    page = messages[-1]
    assert 'data-code="account_locked"' in page and "账号已锁定" in page
    assert "该账号因密码连续错误次数过多已被锁定" in page and "联系系统管理员解锁" in page
    # the right password is refused while locked, without being checked
    r = attempt(web_app, "hr_nky", DEMO_PASSWORD)
    assert r.status_code == 429 and "已被锁定" in text(r)
    assert 0 < int(r.headers["Retry-After"]) <= 15 * 60
    locks = [rec for rec in caplog.records if getattr(rec, "event", None) == "account_locked"]
    assert len(locks) == 1 and locks[0].username == "hr_nky" and locks[0].failures == limit
    # another account is not affected (the limit per address is higher)
    assert attempt(web_app, "hr_kjxx", DEMO_PASSWORD).status_code == 302


def test_the_lock_runs_out_and_a_success_clears_the_count(web_app, db, clock):
    clock.to(2026, 3, 2, 9, 0)
    for _ in range(web_app.config["SIGN_IN_MAX_FAILURES"]):
        attempt(web_app, "hr_nky", WRONG)
    assert attempt(web_app, "hr_nky", DEMO_PASSWORD).status_code == 429
    clock.to(2026, 3, 2, 9, 14)
    r = attempt(web_app, "hr_nky", DEMO_PASSWORD)
    assert r.status_code == 429 and "请于 09:15 后再试" in text(r)  # Asia/Shanghai wall time
    clock.to(2026, 3, 2, 9, 16)
    assert attempt(web_app, "hr_nky", DEMO_PASSWORD).status_code == 302
    # a success forgets the account's failures: a new run of mistakes starts from the full count
    for _ in range(3):
        attempt(web_app, "hr_nky", WRONG)
    assert attempt(web_app, "hr_nky", DEMO_PASSWORD).status_code == 302
    db.expire_all()
    assert db.get(SignInThrottle, ("account", "hr_nky")) is None


def test_an_administrator_unlocks_on_the_users_page_and_by_command(web_app, db, caplog):
    admin = signed_in(web_app, "admin")
    for _ in range(web_app.config["SIGN_IN_MAX_FAILURES"]):
        attempt(web_app, "hr_nky", WRONG)
    page = text(admin.get("/admin/users"))
    assert page.count('data-testid="locked"') == 1 and "登录已锁定至" in page
    uid = user_id(db, "hr_nky")
    with caplog.at_level(logging.INFO, logger="workflows.services.sign_in"):
        r = admin.post(f"/admin/users/{uid}/unlock", follow_redirects=True)
    assert r.status_code == 200 and "已解除 hr_nky 的登录锁定" in text(r)
    assert 'data-testid="locked"' not in text(r)
    unlocks = [rec for rec in caplog.records if getattr(rec, "event", None) == "account_unlocked"]
    assert len(unlocks) == 1 and unlocks[0].username == "hr_nky" and unlocks[0].by == "admin"
    assert attempt(web_app, "hr_nky", DEMO_PASSWORD).status_code == 302
    # the same from the command line
    for _ in range(web_app.config["SIGN_IN_MAX_FAILURES"]):
        attempt(web_app, "hr_nky", WRONG)
    assert attempt(web_app, "hr_nky", DEMO_PASSWORD).status_code == 429
    result = web_app.test_cli_runner().invoke(args=["unlock-user", "hr_nky"])
    assert result.exit_code == 0 and "已解除 hr_nky 的登录锁定" in result.output
    assert attempt(web_app, "hr_nky", DEMO_PASSWORD).status_code == 302
    # an officer cannot unlock
    assert signed_in(web_app, "hr_kjxx").post(f"/admin/users/{uid}/unlock").status_code == 403


def test_one_address_trying_many_accounts_is_throttled(web_app, db):
    limit = web_app.config["SIGN_IN_ADDRESS_MAX_FAILURES"]
    per_name = web_app.config["SIGN_IN_MAX_FAILURES"] - 1  # never enough to lock any one account
    names = [f"guess{i}" for i in range(limit // per_name + 1)]
    statuses = []
    for i in range(limit):
        statuses.append(attempt(web_app, names[i // per_name], WRONG, "203.0.113.7").status_code)
    assert statuses == [200] * (limit - 1) + [429]
    # every account is refused from that address, the right password too; other addresses are not affected
    r = attempt(web_app, "zhangwei", DEMO_PASSWORD, "203.0.113.7")
    assert r.status_code == 429 and 'data-code="address_locked"' in text(r) and "本机登录失败次数过多" in text(r)
    assert attempt(web_app, "zhangwei", DEMO_PASSWORD, "198.51.100.9").status_code == 302
    result = web_app.test_cli_runner().invoke(args=["unlock-address", "203.0.113.7"])
    assert result.exit_code == 0 and "已解除地址 203.0.113.7 的登录限制" in result.output
    assert attempt(web_app, "zhangwei", DEMO_PASSWORD, "203.0.113.7").status_code == 302


def test_unknown_names_lock_like_real_ones(web_app):
    """Otherwise the lock itself would tell which names exist."""
    for _ in range(web_app.config["SIGN_IN_MAX_FAILURES"] - 1):
        attempt(web_app, "nobody_here", WRONG)
    r = attempt(web_app, "nobody_here", WRONG)
    assert r.status_code == 429 and 'data-code="account_locked"' in text(r)


def test_an_unknown_name_costs_the_same_hashing_as_a_wrong_password(web_app, db, monkeypatch):
    calls = []
    real = passwords._derive

    def counting(method, salt, password):
        calls.append(method)
        return real(method, salt, password)

    monkeypatch.setattr(passwords, "_derive", counting)

    def cost(username: str) -> tuple[float, list]:
        calls.clear()
        t = time.perf_counter()
        r = attempt(web_app, username, WRONG, f"192.0.2.{len(username)}")
        elapsed = time.perf_counter() - t
        assert r.status_code == 200 and "用户名或密码错误" in text(r)
        return elapsed, list(calls)

    with transaction(db):  # an inactive account answers like an unknown name too
        db.scalar(select(User).where(User.username == "liuna")).active = False
    cost("nobody_at_all")  # the dummy hash is made once per process: not timed
    unknown = [cost(f"nobody{i}") for i in range(3)]
    wrong = [cost("hr_nky") for _ in range(3)]
    inactive = [cost("liuna") for _ in range(3)]
    stored = db.scalar(select(User.password_hash).where(User.username == "hr_nky")).split("$")[0]
    db.commit()
    for _elapsed, methods in unknown + wrong + inactive:
        assert methods == [stored]  # one hash each, with the method and cost of the real accounts
    ratio = statistics.median(e for e, _ in unknown) / statistics.median(e for e, _ in wrong)
    assert 0.5 < ratio < 2, ratio  # was 10 ms vs 136 ms (0.07)


# -- item 6: sessions and tokens -------------------------------------------------------------------------------------


def test_a_session_cookie_copied_before_logout_is_refused_afterwards(web_app):
    c = signed_in(web_app, "hr_nky")
    assert c.get("/officer/").status_code == 200
    copied = c.get_cookie("session").value
    assert c.post("/logout").status_code == 302
    thief = web_app.test_client()
    thief.set_cookie("session", copied)
    r = thief.get("/officer/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert thief.get("/api/v1/auth/me").status_code == 401


def test_a_password_change_ends_the_other_sessions_on_the_server(web_app, db):
    here, elsewhere = signed_in(web_app, "zhangwei"), signed_in(web_app, "zhangwei")
    copied = elsewhere.get_cookie("session").value
    uid = user_id(db, "zhangwei")
    assert db.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == uid)) == 2
    db.commit()
    r = here.post(
        "/account/password",
        data={
            "current_password": DEMO_PASSWORD,
            "new_password": "Neue-Losung-2026",
            "confirm_password": "Neue-Losung-2026",
        },
    )
    assert r.status_code == 302
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == uid)) == 1
    db.commit()
    thief = web_app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/my/").status_code == 302
    assert here.get("/my/").status_code == 200


def test_sessions_end_after_session_hours(web_app, clock):
    clock.to(2026, 3, 2, 9, 0)
    c = signed_in(web_app, "hr_nky")
    clock.to(2026, 3, 2, 9 + web_app.config["SESSION_HOURS"] - 1, 59)
    assert c.get("/officer/").status_code == 200
    clock.to(2026, 3, 2, 9 + web_app.config["SESSION_HOURS"], 1)
    assert c.get("/officer/").status_code == 302


@pytest.mark.parametrize("how", ["reset", "deactivate"])
def test_a_token_minted_before_a_reset_or_deactivation_is_refused(web_app, db, how):
    _tid, secret = new_token(db, "hr_nky")
    api = web_app.test_client()
    assert api.get("/api/v1/auth/me", headers=bearer(secret)).status_code == 200
    session = signed_in(web_app, "hr_nky")
    admin = signed_in(web_app, "admin")
    uid = user_id(db, "hr_nky")
    if how == "reset":
        assert admin.post(f"/admin/users/{uid}/password", data={"password": "temp-pass-1"}).status_code == 302
    else:
        assert admin.post(f"/admin/users/{uid}/active", data={"active": "0"}).status_code == 302
        assert admin.post(f"/admin/users/{uid}/active", data={"active": "1"}).status_code == 302  # revives nothing
    r = api.get("/api/v1/auth/me", headers=bearer(secret))
    assert r.status_code == 401 and r.get_json()["error"]["message"] == "API 令牌无效或已吊销"
    assert session.get("/officer/").status_code == 302  # the browser session ended too
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == uid)) == 0
    db.commit()
    page = text(admin.get(f"/admin/users/{uid}/tokens"))
    assert "已吊销" in page


def test_an_expired_token_is_refused(web_app, db, clock):
    clock.to(2026, 3, 2, 9, 0)
    tid, secret = new_token(db, "hr_nky")
    _tid, short = new_token(db, "hr_nky", days=1)
    db.expire_all()
    token = db.get(ApiToken, tid)
    assert token.expires_at.replace(tzinfo=None) == (now_utc() + timedelta(days=90)).replace(tzinfo=None)
    db.commit()
    api = web_app.test_client()
    clock.to(2026, 3, 3, 8, 59)
    assert api.get("/api/v1/auth/me", headers=bearer(short)).status_code == 200
    clock.to(2026, 3, 3, 9, 1)
    r = api.get("/api/v1/auth/me", headers=bearer(short))
    assert r.status_code == 401 and "已过期" in r.get_json()["error"]["message"]
    assert api.get("/api/v1/auth/me", headers=bearer(secret)).status_code == 200
    clock.to(2026, 6, 1, 9, 0)  # 91 days
    assert api.get("/api/v1/auth/me", headers=bearer(secret)).status_code == 401


def test_token_lifetime_is_configurable_and_the_cli_names_the_expiry(tmp_path, clock, demo_db_template):
    clock.to(2026, 3, 2, 9, 0)
    app = make_web_app(tmp_path, demo_db_template, API_TOKEN_DAYS=7)
    try:
        result = app.test_cli_runner().invoke(args=["create-token", "hr_nky"])
        assert result.exit_code == 0 and "有效至 2026-03-09 09:00" in result.output
        result = app.test_cli_runner().invoke(args=["create-token", "hr_nky", "--days", "30"])
        assert "有效至 2026-04-01 09:00" in result.output
    finally:
        app.extensions["db_engine"].dispose()


def test_a_tokens_last_use_is_recorded_and_shown(web_app, db, clock):
    clock.to(2026, 3, 2, 9, 0)
    tid, secret = new_token(db, "hr_nky")
    admin = signed_in(web_app, "admin")
    uid = user_id(db, "hr_nky")
    assert "从未使用" in text(admin.get(f"/admin/users/{uid}/tokens"))
    clock.to(2026, 3, 2, 10, 30)
    assert web_app.test_client().get("/api/v1/cases", headers=bearer(secret)).status_code == 200
    db.expire_all()
    assert db.get(ApiToken, tid).last_used_at is not None
    db.commit()
    page = text(admin.get(f"/admin/users/{uid}/tokens"))
    assert "2026-03-02 10:30" in page and "从未使用" not in page and "有效" in page
    listed = web_app.test_client().get("/api/v1/auth/tokens", headers=bearer(secret)).get_json()["items"]
    assert listed[0]["last_used_at"].startswith("2026-03-02T02:30") and listed[0]["expired"] is False
    # revoked from the page
    r = admin.post(f"/admin/tokens/{tid}/revoke", follow_redirects=True)
    assert r.status_code == 200 and "已吊销令牌" in text(r)
    assert web_app.test_client().get("/api/v1/cases", headers=bearer(secret)).status_code == 401


# -- item 8: CSV exports and production settings ---------------------------------------------------------------------


def test_the_initial_passwords_csv_of_a_web_import_is_neutralised(web_app):
    import io
    import re

    admin = signed_in(web_app, "admin")
    content = '用户名,姓名,角色,单位代码\nhr_evil,"=HYPERLINK(""http://x.example"",""点此"")",unit_hr,U0101\n'
    r = admin.post(
        "/admin/import/users",
        data={"file": (io.BytesIO(content.encode()), "u.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 200
    href = re.search(r'href="data:text/csv;charset=utf-8,([^"]+)"', r.get_data(as_text=True)).group(1)
    csv_text = unquote(html.unescape(href))
    assert 'hr_evil,"\'=HYPERLINK(""http://x.example"",""点此"")",' in csv_text


def _production_app(tmp_path, demo_db_template, **settings):
    from tests.web.conftest import _copy_db
    from webapp import create_app

    folder = tmp_path / "production"
    folder.mkdir()
    path = _copy_db(demo_db_template, folder)
    config = Config(
        APP_ENV="production",
        SECRET_KEY="s" * 64,
        DATABASE_URL=f"sqlite:///{path}",
        UPLOAD_STORE="filesystem",
        **settings,
    )
    # TESTING skips the PostgreSQL refusal only; the cookie and header defaults are those of production
    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, settings=config)


def test_production_sends_hsts_and_secure_cookies_by_default(tmp_path, demo_db_template):
    app = _production_app(tmp_path, demo_db_template)
    try:
        c = app.test_client()
        assert c.get("/healthz").headers["Strict-Transport-Security"] == "max-age=31536000"
        r = c.post("/login", data={"username": "hr_nky", "password": DEMO_PASSWORD})
        assert r.status_code == 302
        cookie = r.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        app.extensions["db_engine"].dispose()


def test_outside_production_no_hsts_and_the_settings_override(tmp_path, demo_db_template, web_app):
    c = web_app.test_client()
    assert "Strict-Transport-Security" not in c.get("/healthz").headers
    r = c.post("/login", data={"username": "hr_nky", "password": DEMO_PASSWORD})
    assert "Secure" not in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
    app = _production_app(tmp_path, demo_db_template, HSTS_SECONDS=0, SESSION_COOKIE_SECURE=False)
    try:
        c = app.test_client()
        assert "Strict-Transport-Security" not in c.get("/healthz").headers
        r = c.post("/login", data={"username": "hr_nky", "password": DEMO_PASSWORD})
        assert "Secure" not in r.headers["Set-Cookie"]
    finally:
        app.extensions["db_engine"].dispose()
    assert (
        Config.from_env({"APP_ENV": "production", "SESSION_COOKIE_SECURE": "0"}).flask_config()["SESSION_COOKIE_SECURE"]
        is False
    )
    assert Config.from_env({"APP_ENV": "production"}).flask_config()["SESSION_COOKIE_SECURE"] is True
    assert Config.from_env({"HSTS_SECONDS": "600"}).flask_config()["HSTS_SECONDS"] == 600


def test_behind_a_trusted_proxy_the_forwarded_address_is_throttled(tmp_path, clock, demo_db_template):
    """TRUSTED_PROXIES=1: the client's address comes from X-Forwarded-For, so one client's failures do not pause
    everyone behind the same proxy."""
    app = make_web_app(tmp_path, demo_db_template, TRUSTED_PROXIES=1, SIGN_IN_ADDRESS_MAX_FAILURES=3)
    try:

        def post(username, password, client_address):
            return app.test_client().post(
                "/login",
                data={"username": username, "password": password},
                environ_base={"REMOTE_ADDR": "10.0.0.1"},
                headers={"X-Forwarded-For": client_address},
            )

        assert [post(f"guess{i}", WRONG, "203.0.113.9").status_code for i in range(3)] == [200, 200, 429]
        assert post("zhangwei", DEMO_PASSWORD, "203.0.113.9").status_code == 429
        assert post("zhangwei", DEMO_PASSWORD, "198.51.100.1").status_code == 302  # another client, same proxy
    finally:
        app.extensions["db_engine"].dispose()
