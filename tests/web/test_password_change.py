"""Changing one's own password (/account/password), the change required at first use (`must_change_password`: an
administrator's reset or form, the bulk import), and sessions that end when the password changes.

Flask test client on a copy of the demo database (tests/web/conftest.py); CSRF is off except where tested."""

from __future__ import annotations

import html
import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from tests.web.conftest import login, make_web_app, signed_in
from webapp.demo.accounts import DEMO_PASSWORD
from workflows.domain.models import User
from workflows.infra.db import transaction
from workflows.services import accounts, bulk_import, directory

PAGE = "/account/password"
OLD = "Old-pass-2026"  # a password that already follows the rules
NEW = "Neue-Losung-2026"
WANG = "officer_wang"  # long enough a user name to test the "not the user name" rule


def text(r) -> str:
    return html.unescape(r.get_data(as_text=True))


def user_row(db, username: str) -> User:
    db.expire_all()
    u = db.scalar(select(User).where(User.username == username))
    db.commit()  # end the read (SQLite) before the app writes
    return u


def can_sign_in(app, username: str, password: str) -> bool:
    r = app.test_client().post("/login", data={"username": username, "password": password})
    return r.status_code in (302, 303)


def create_wang(db, must_change: bool = False) -> int:
    with transaction(db):
        u = directory.create_user(
            db, WANG, "王科员", "unit_hr", "U0101", generate_password_hash(OLD), must_change_password=must_change
        )
    uid = u.id
    db.commit()
    return uid


def change(client, current, new, confirm=None, **kwargs):
    return client.post(
        PAGE,
        data={
            "current_password": current,
            "new_password": new,
            "confirm_password": new if confirm is None else confirm,
        },
        **kwargs,
    )


def goes_to_password_page(r) -> bool:
    return r.status_code == 302 and r.headers["Location"].split("?")[0].endswith(PAGE)


def goes_to_login(r) -> bool:
    return r.status_code == 302 and "/login" in r.headers["Location"]


# -- the page ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["zhangwei", "hr_nky", "dept_kjt", "bianban", "renshe", "pingwei", "admin"])
def test_every_role_has_the_page_and_the_header_link(web_app, username):
    c = signed_in(web_app, username)
    r = c.get(PAGE)
    page = text(r)
    assert r.status_code == 200
    assert 'href="/account/password"' in page  # the header link
    for name, autocomplete in (
        ("current_password", "current-password"),
        ("new_password", "new-password"),
        ("confirm_password", "new-password"),
    ):
        field = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
        assert field, name
        assert 'type="password"' in field.group(0) and f'autocomplete="{autocomplete}"' in field.group(0)
        assert re.search(rf'<label for="{name}">', page), name  # every field has its label
    assert "autofocus" in re.search(r'<input[^>]*name="current_password"[^>]*>', page).group(0)
    assert "至少 10 位" in page and 'data-testid="must-change"' not in page


def test_the_page_needs_a_session(client):
    assert goes_to_login(client.get(PAGE))
    assert goes_to_login(change(client, DEMO_PASSWORD, NEW))


# -- a successful change -------------------------------------------------------------------------------------------


def test_change_succeeds_old_password_stops_working_new_one_works(web_app, db, caplog):
    c = signed_in(web_app, "hr_nky")
    before = user_row(db, "hr_nky").password_hash
    with caplog.at_level(logging.INFO, logger="workflows.services.accounts"):
        r = change(c, DEMO_PASSWORD, NEW)
    assert r.status_code == 302 and r.headers["Location"].endswith("/officer/")
    u = user_row(db, "hr_nky")
    assert u.password_hash != before and check_password_hash(u.password_hash, NEW)
    assert u.must_change_password is False
    assert not can_sign_in(web_app, "hr_nky", DEMO_PASSWORD)
    assert can_sign_in(web_app, "hr_nky", NEW)
    # this session stays signed in and is told so
    r = c.get("/officer/")
    assert r.status_code == 200 and "密码已修改" in text(r)
    # one audit line, without the password
    lines = [rec for rec in caplog.records if rec.getMessage() == "password changed"]
    assert len(lines) == 1 and lines[0].username == "hr_nky" and lines[0].how == "self"
    assert all(DEMO_PASSWORD not in str(v) and NEW not in str(v) for v in vars(lines[0]).values())


def test_other_sessions_end_this_one_stays(web_app, db):
    here, elsewhere = signed_in(web_app, "zhangwei"), signed_in(web_app, "zhangwei")
    assert elsewhere.get("/my/").status_code == 200
    assert change(here, DEMO_PASSWORD, NEW).status_code == 302
    assert goes_to_login(elsewhere.get("/my/"))  # opened before the change: signed out
    assert elsewhere.get("/api/v1/auth/me").status_code == 401
    assert here.get("/my/").status_code == 200  # the one that changed it
    assert here.get("/api/v1/auth/me").get_json()["username"] == "zhangwei"


def test_next_page_after_the_change_stays_on_site(web_app, db):
    c = signed_in(web_app, "zhangwei")
    r = change(c, DEMO_PASSWORD, NEW, query_string={"next": "/my/new"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/my/new")
    current = NEW
    for i, target in enumerate(("https://evil.example/", "//evil.example/", "/\\evil.example/", "my/")):
        new = f"{NEW}-{i}"
        r = change(c, current, new, query_string={"next": target})
        assert r.status_code == 302 and r.headers["Location"].endswith("/my/"), target
        assert "evil" not in r.headers["Location"]
        current = new


# -- every rule, refused with 422 and nothing changed -------------------------------------------------------------

RULES = [
    ({"current_password": "", "new_password": NEW, "confirm_password": NEW}, "current_password", "请输入当前密码"),
    (
        {"current_password": "wrong-password-1", "new_password": NEW, "confirm_password": NEW},
        "current_password",
        "当前密码不正确",
    ),
    ({"current_password": OLD, "new_password": "", "confirm_password": ""}, "new_password", "请输入新密码"),
    (
        {"current_password": OLD, "new_password": "Short-9ch", "confirm_password": "Short-9ch"},
        "new_password",
        "新密码至少 10 位",
    ),
    (
        {"current_password": OLD, "new_password": "x" * 129, "confirm_password": "x" * 129},
        "new_password",
        "新密码不能超过 128 位",
    ),
    (
        {"current_password": OLD, "new_password": WANG, "confirm_password": WANG},
        "new_password",
        "新密码不能与用户名相同",
    ),
    (
        {"current_password": OLD, "new_password": WANG.upper(), "confirm_password": WANG.upper()},
        "new_password",
        "新密码不能与用户名相同",
    ),
    (
        {"current_password": OLD, "new_password": OLD, "confirm_password": OLD},
        "new_password",
        "新密码不能与当前密码相同",
    ),
    ({"current_password": OLD, "new_password": NEW, "confirm_password": ""}, "confirm_password", "请再次输入新密码"),
    (
        {"current_password": OLD, "new_password": NEW, "confirm_password": NEW + "!"},
        "confirm_password",
        "两次输入的新密码不一致",
    ),
]


@pytest.mark.parametrize("form,field,message", RULES, ids=[r[2] for r in RULES])
def test_each_rule_is_refused_with_422_and_nothing_changes(web_app, db, form, field, message):
    create_wang(db, must_change=True)
    c = web_app.test_client()
    login(c, WANG, OLD)
    before = user_row(db, WANG).password_hash
    r = c.post(PAGE, data=form)
    page = text(r)
    assert r.status_code == 422
    assert message in page and "密码未修改" in page
    # the message sits under its field, which is marked invalid and described by it
    field_html = re.search(rf'<input[^>]*name="{field}"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in field_html and f"{field}-error" in field_html
    assert re.search(rf'<p class="error" id="{field}-error">{re.escape(message)}</p>', page)
    assert "autofocus" in field_html  # the first field with a problem has the focus
    assert 'value="' + OLD not in page  # a password is never echoed back
    u = user_row(db, WANG)
    assert u.password_hash == before and u.must_change_password is True
    assert can_sign_in(web_app, WANG, OLD)


def test_every_problem_is_listed_at_once(web_app, db):
    c = signed_in(web_app, "hr_nky")
    r = c.post(PAGE, data={"current_password": "", "new_password": "short", "confirm_password": "other"})
    page = text(r)
    assert r.status_code == 422
    for message in ("请输入当前密码", "新密码至少 10 位", "两次输入的新密码不一致"):
        assert message in page, message


def test_refusals_in_english(web_app, db):
    c = signed_in(web_app, "hr_nky")
    c.get("/officer/?lang=en")
    r = c.post(PAGE, data={"current_password": "nope", "new_password": "short", "confirm_password": "short"})
    page = text(r)
    assert r.status_code == 422
    assert "Change password" in page and "The current password is wrong" in page
    assert "The new password must have at least 10 characters" in page
    assert "当前密码不正确" not in page


def test_service_rules_without_the_web():
    assert accounts.password_problems("officer_wang", "Officer_Wang", "Officer_Wang") == {"new_password": "is_username"}
    assert accounts.password_problems("a", NEW, NEW, current=NEW) == {"new_password": "unchanged"}
    assert accounts.password_problems("a", NEW, NEW) == {}
    assert accounts.password_problems("a", "", "") == {
        "new_password": "new_required",
        "confirm_password": "confirm_required",
    }


# -- CSRF ----------------------------------------------------------------------------------------------------------


def test_csrf_token_is_required(tmp_path, clock, demo_db_template):
    app = make_web_app(tmp_path, demo_db_template, WTF_CSRF_ENABLED=True)
    try:
        c = app.test_client()
        login(c, "hr_nky")
        s = app.extensions["db_factory"]()
        before = user_row(s, "hr_nky").password_hash
        r = change(c, DEMO_PASSWORD, NEW)
        assert r.status_code == 400 and "CSRF" in text(r)
        assert user_row(s, "hr_nky").password_hash == before
        token = re.search(
            r'name="csrf_token" type="hidden" value="([^"]+)"|'
            r'name="csrf_token" value="([^"]+)"',
            text(c.get(PAGE)),
        )
        assert token
        r = c.post(
            PAGE,
            data={
                "csrf_token": token.group(1) or token.group(2),
                "current_password": DEMO_PASSWORD,
                "new_password": NEW,
                "confirm_password": NEW,
            },
        )
        assert r.status_code == 302
        assert check_password_hash(user_row(s, "hr_nky").password_hash, NEW)
        s.close()
    finally:
        app.extensions["db_session"].remove()
        app.extensions["db_engine"].dispose()


# -- must change at first use --------------------------------------------------------------------------------------


def _plain_get_urls(app, api: bool) -> list[str]:
    """Every GET route without URL parameters (the API's or the pages'), but the ones left open."""
    from webapp.auth import GATE_OPEN

    out = []
    for rule in app.url_map.iter_rules():
        if (
            "GET" in rule.methods
            and not rule.arguments
            and rule.endpoint not in GATE_OPEN
            and rule.rule.startswith("/api/") == api
        ):
            out.append(rule.rule)
    return sorted(out)


def test_admin_reset_flags_the_account_and_ends_its_session(web_app, db):
    admin = signed_in(web_app, "admin")
    hr = signed_in(web_app, "hr_nky")
    assert hr.get("/officer/").status_code == 200
    uid = user_row(db, "hr_nky").id
    r = admin.post(f"/admin/users/{uid}/password", data={"password": "temp-pass-1"}, follow_redirects=True)
    assert r.status_code == 200 and "下次登录时须修改密码" in text(r)
    assert user_row(db, "hr_nky").must_change_password is True
    assert goes_to_login(hr.get("/officer/"))  # the session opened before the reset is signed out
    users = admin.get("/admin/users")  # the administrator's is not, and sees who must still change
    assert users.status_code == 200
    assert text(users).count("待本人改密") == 1  # hr_nky's row, no other


def test_a_must_change_user_is_sent_to_the_password_page_from_everywhere(web_app, db):
    admin = signed_in(web_app, "admin")
    uid = user_row(db, "hr_nky").id
    assert admin.post(f"/admin/users/{uid}/password", data={"password": "temp-pass-1"}).status_code == 302
    c = web_app.test_client()
    r = login(c, "hr_nky", "temp-pass-1")
    assert goes_to_password_page(c.get(r.headers["Location"]))
    pages = _plain_get_urls(web_app, api=False)
    assert {"/", "/officer/", "/overview", "/notifications", "/admin/", "/my/"} <= set(pages)
    for url in pages:
        assert goes_to_password_page(c.get(url)), url
    r = c.get("/officer/?tab=all")
    assert goes_to_password_page(r)
    assert parse_qs(urlsplit(r.headers["Location"]).query)["next"] == ["/officer/?tab=all"]
    assert goes_to_password_page(c.get("/officer/cases/NO-SUCH-CASE"))  # pages with parameters too
    assert goes_to_password_page(c.post("/notifications/read"))  # and forms
    # what stays open: the page itself, signing out, static files
    page = c.get(PAGE)
    assert page.status_code == 200 and 'data-testid="must-change"' in text(page)
    assert c.get("/static/css/app.css").status_code == 200
    assert c.get("/healthz").status_code == 200
    # the change clears the flag and opens everything again, starting with the page asked for
    r = change(c, "temp-pass-1", NEW, query_string={"next": "/overview"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/overview")
    assert user_row(db, "hr_nky").must_change_password is False
    for url in ("/officer/", "/overview", "/notifications"):
        assert c.get(url).status_code == 200, url
    assert c.get("/api/v1/auth/me").status_code == 200


def test_api_refuses_a_must_change_session_but_not_a_bearer_token(web_app, db):
    from webapp.api import new_token

    hr = db.scalar(select(User).where(User.username == "hr_nky"))
    _row, secret = new_token(db, hr, "before the reset")
    db.commit()
    admin = signed_in(web_app, "admin")
    assert admin.post(f"/admin/users/{hr.id}/password", data={"password": "temp-pass-1"}).status_code == 302
    c = web_app.test_client()
    login(c, "hr_nky", "temp-pass-1")
    for url in _plain_get_urls(web_app, api=True):
        r = c.get(url)
        assert r.status_code == 403, url
        assert r.get_json()["error"]["code"] == "password_change_required", url
    r = c.post("/api/v1/auth/tokens", json={"name": "a way around"})  # no token can be made to get past it
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "password_change_required"
    err = c.get("/api/v1/cases").get_json()["error"]
    assert set(err) == {"code", "message", "details"} and "修改密码" in err["message"]
    assert err["details"]["url"] == PAGE
    bearer = web_app.test_client()
    # the token minted before the reset was revoked by it; one made afterwards (flask create-token) is not gated
    assert bearer.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    db.expire_all()
    _row, secret = new_token(db, db.get(User, hr.id), "after the reset")
    db.commit()
    r = bearer.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200 and r.get_json()["username"] == "hr_nky" and r.get_json()["auth"] == "token"
    assert bearer.get("/api/v1/cases", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    # a bad token stays a 401, whatever the session
    assert c.get("/api/v1/auth/me", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_admin_resetting_their_own_password_stays_signed_in_and_is_not_flagged(web_app, db):
    admin = signed_in(web_app, "admin")
    uid = user_row(db, "admin").id
    assert admin.post(f"/admin/users/{uid}/password", data={"password": "own-choice-2026"}).status_code == 302
    assert admin.get("/admin/users").status_code == 200
    assert user_row(db, "admin").must_change_password is False


def test_admin_created_and_imported_accounts_are_flagged_cli_and_demo_ones_not(web_app, db):
    admin = signed_in(web_app, "admin")
    r = admin.post(
        "/admin/users",
        data={
            "username": "hr_form",
            "display_name": "表单创建",
            "role": "unit_hr",
            "unit_code": "U0202",
            "password": "secret-123",
        },
    )
    assert r.status_code == 302
    csv = "用户名,姓名,角色,单位代码\nhr_csv1,导入一,unit_hr,U0101\nhr_csv2,导入二,dept,D02\n".encode()
    with transaction(db):
        created = bulk_import.import_users(
            db,
            bulk_import.parse_users_file(csv, "u.csv"),
            lambda p: generate_password_hash(p, method="pbkdf2:sha256:1000"),
        )
    db.commit()
    result = web_app.test_cli_runner().invoke(
        args=[
            "create-user",
            "hr_cli",
            "--role",
            "unit_hr",
            "--name",
            "命令行",
            "--unit",
            "U0101",
            "--password",
            "typed-by-me",
        ]
    )
    assert result.exit_code == 0, result.output
    flags = {
        u.username: u.must_change_password
        for u in (user_row(db, n) for n in ("hr_form", "hr_csv1", "hr_csv2", "hr_cli", "zhangwei", "hr_nky", "admin"))
    }
    assert flags == {
        "hr_form": True,
        "hr_csv1": True,
        "hr_csv2": True,
        "hr_cli": False,
        "zhangwei": False,
        "hr_nky": False,
        "admin": False,
    }
    # an imported account signs in with its initial password and is sent to change it
    c = web_app.test_client()
    r = login(c, "hr_csv1", created[0].password)
    assert goes_to_password_page(c.get(r.headers["Location"]))
    assert change(c, created[0].password, NEW).status_code == 302
    assert c.get("/officer/").status_code == 200


@pytest.mark.parametrize("kept", ["{id}", "{id}:0123456789abcdef"])
def test_a_session_from_before_server_side_sessions_is_signed_out(web_app, db, kept):
    c = web_app.test_client()
    with c.session_transaction() as sess:
        # what older versions kept: the bare id, then "<id>:<password fingerprint>"
        sess["_user_id"] = kept.format(id=user_row(db, "hr_nky").id)
        sess["_fresh"] = True
    assert goes_to_login(c.get("/officer/"))
