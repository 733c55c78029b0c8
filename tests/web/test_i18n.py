"""The English second locale: `?lang=en` switches the pages (kept in the session), `?lang=zh_CN` switches back, and the
English catalog is complete (every message of the templates and route modules translated, nothing fuzzy).

The .mo is build output (git-ignored; `scripts/compile-translations.sh` at `make setup`); this module compiles the
catalog itself when the .mo is missing or older than the .po, so it passes on a fresh clone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tests.web.conftest import signed_in

WEBAPP = Path(__file__).resolve().parents[2] / "webapp"
TRANSLATIONS = WEBAPP / "translations"
PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")

# Chinese words of the top navigation that must not appear in it once the page is English.
NAV_ZH = ("待办", "办件总览", "通知", "退出", "我的办件", "我要申请", "管理控制台", "人才绿色通道办理系统", "跳到正文")


def _read_po():
    with PO.open("rb") as f:
        return read_po(f, locale="en")


def compile_catalog() -> None:
    """What scripts/compile-translations.sh does (pybabel compile), through babel's API."""
    if MO.exists() and MO.stat().st_mtime >= PO.stat().st_mtime:
        return
    catalog = _read_po()
    tmp = MO.with_name(MO.name + ".tmp")
    with tmp.open("wb") as f:
        write_mo(f, catalog)
    tmp.replace(MO)


@pytest.fixture(scope="module", autouse=True)
def _compiled_catalog():
    compile_catalog()


def nav(html: str) -> str:
    """The page header: brand, main navigation, user box."""
    m = re.search(r'<a class="skip".*?</header>', html, re.S)
    assert m, html[:500]
    return m.group(0)


def page(client, url: str) -> str:
    r = client.get(url)
    assert r.status_code == 200, (url, r.status_code)
    return r.get_data(as_text=True)


def assert_english_nav(html: str, *expected: str) -> None:
    head = nav(html)
    assert '<html lang="en">' in html
    for word in ("Talent Green Channel System", "Skip to content", *expected):
        assert word in head, word
    for word in NAV_ZH:
        assert word not in head, word


# ---------------------------------------------------------------------------------------------------------------
# The catalog
# ---------------------------------------------------------------------------------------------------------------
def test_english_catalog_has_no_untranslated_or_fuzzy_entries():
    catalog = _read_po()
    assert not catalog.fuzzy
    messages = [m for m in catalog if m.id]
    assert len(messages) > 500
    untranslated = [m.id for m in messages if not (all(m.string) if m.pluralizable else m.string)]
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert untranslated == [] and fuzzy == []
    obsolete = list(catalog.obsolete)
    assert obsolete == []
    for m in messages:  # the placeholders survive translation (a missing %(name)s would raise at render time)
        assert set(re.findall(r"%\(\w+\)s", m.id)) == set(re.findall(r"%\(\w+\)s", m.string)), m.id
        assert not re.search(r"[\u4e00-\u9fff]", m.string) or "容缺" in m.string or "张伟" in m.string, m.id


def test_every_marked_message_of_the_source_is_in_the_catalog():
    """Run the extraction of scripts/update-translations.sh (webapp/babel.cfg): nothing marked is missing."""
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    found = {
        (context, msgid if isinstance(msgid, str) else msgid[0])
        for _file, _line, msgid, _comments, context in extract_from_dir(str(WEBAPP), method_map, keywords=keywords)
    }
    known = {(m.context, m.id) for m in _read_po() if m.id}
    assert found - known == set(), "run scripts/update-translations.sh and translate the new entries"


def test_the_mo_is_git_ignored_build_output():
    compile_catalog()
    assert MO.exists() and MO.stat().st_size > 1000


# ---------------------------------------------------------------------------------------------------------------
# The pages
# ---------------------------------------------------------------------------------------------------------------
def test_login_page_in_english_and_back(client):
    html = page(client, "/login?lang=en")
    assert '<html lang="en">' in html
    for word in ("Sign in", "User name", "Password", "Talent Green Channel System"):
        assert word in html, word
    for word in ("登录", "用户名", "密码", "人才绿色通道办理系统"):
        assert word not in html, word
    assert "Sign in" in page(client, "/login")  # the choice is kept in the session
    r = client.post("/login", data={"username": "zhangwei", "password": "wrong-password"})
    assert "Wrong user name or password" in r.get_data(as_text=True)

    html = page(client, "/login?lang=zh_CN")
    assert '<html lang="zh-CN">' in html
    assert "登录" in html and "用户名" in html and "Sign in" not in html
    assert "登录" in page(client, "/login")


def test_officer_inbox_in_english(web_app):
    c = signed_in(web_app, "hr_nky")
    html = page(c, "/officer/?lang=en")
    assert_english_nav(html, "Inbox", "Case overview", "Notifications", "Sign out")
    for word in (
        "My tasks",
        "Desk queue",
        "Overdue",
        "Case No.",
        "Clear filters" if "清除条件" in html else "Search",
        "All matters",
        "All statuses",
        "Due date colours",
    ):
        assert word in html, word
    for word in ("我的待办", "本岗待办", "办件编号", "全部事项", "期限颜色"):
        assert word not in html, word
    assert "Case overview" in page(c, "/overview")  # still English without the parameter

    html = page(c, "/officer/?lang=zh_CN")
    assert '<html lang="zh-CN">' in html
    head = nav(html)
    assert "待办" in head and "办件总览" in head and "Inbox" not in head
    assert "本岗待办" in html and "Desk queue" not in html


def test_officer_case_page_in_english(web_app):
    c = signed_in(web_app, "hr_nky")
    inbox = page(c, "/officer/?tab=all&lang=en")
    case_no = re.search(r'data-case="([^"]+)"', inbox)
    assert case_no, inbox[-2000:]
    html = page(c, f"/officer/cases/{case_no.group(1)}")
    for word in ("Case details", "Process diagram", "Document checklist", "Case record", "Add a comment"):
        assert word in html, word
    for word in ("办件信息", "流程图", "材料清单", "办理记录"):
        assert word not in html, word


def test_applicant_home_in_english(web_app):
    c = signed_in(web_app, "zhangwei")
    html = page(c, "/my/?lang=en")
    assert_english_nav(html, "My cases", "Apply", "Notifications", "Sign out")
    assert "Case No." in html and "Applied on" in html
    assert "Green Channel establishment registration" in html  # procedure names are page labels
    for word in ("办件编号", "申请日期", "绿色通道列编注册"):
        assert word not in html, word
    html = page(c, "/my/new")
    assert "Step 1: choose the matter to apply for" in html and "Apply for this" in html

    html = page(c, "/my/?lang=zh_CN")
    assert "我的办件" in nav(html) and "My cases" not in html


def test_admin_home_in_english(web_app):
    c = signed_in(web_app, "admin")
    html = page(c, "/admin/?lang=en")
    assert_english_nav(html, "Administration console", "Case overview")
    for word in ("Overview", "Process definitions", "Users and roles", "Public holidays", "Policy parameters"):
        assert word in html, word
    for word in ("流程定义", "用户与角色", "节假日", "政策参数"):
        assert word not in html, word

    html = page(c, "/admin/?lang=zh_CN")
    assert "管理控制台" in nav(html) and "Administration console" not in html


def test_error_page_and_flash_in_english(web_app):
    c = signed_in(web_app, "hr_nky")
    r = c.get("/officer/cases/NO-SUCH-CASE?lang=en")
    assert r.status_code == 404
    body = r.get_data(as_text=True)
    assert "Back to the home page" in body and "返回首页" not in body
    r = c.post("/logout", follow_redirects=True)
    assert "You have signed out" in r.get_data(as_text=True)


def test_api_errors_stay_chinese_whatever_the_page_language(web_app):
    c = signed_in(web_app, "hr_nky")
    page(c, "/officer/?lang=en")
    r = c.get("/api/v1/no-such-endpoint")
    assert r.status_code == 404
    assert r.get_json()["error"]["message"] == "页面或办件不存在"
