"""Bulk import pages of the administrator console: upload on /admin/units and /admin/users, 422 with every line
error and nothing changed, the one-time initial passwords page, the template downloads, CSRF, and who may use them.
Flask test client on a copy of the demo database (tests/web/conftest.py)."""

from __future__ import annotations

import html
import io
import re

import pytest
from sqlalchemy import func, select

from tests.web.conftest import login, make_web_app, signed_in
from workflows.domain.models import Unit, User
from workflows.services import bulk_import

UNITS_CSV = """单位代码,单位名称,主管部门代码,类型
U0901,内蒙古自治区草原研究院,D09,事业单位
D09,内蒙古自治区林业和草原局,,主管部门
U0101,内蒙古自治区农牧业科学院（新名称）,D01,
"""
USERS_CSV = """用户名,姓名,角色,单位代码,邮箱
hr_cyy,王五（农牧业科学院人事处）,用人单位人事专员,U0101,wangwu@example.cn
dept_jyt2,赵六（教育厅人事处）,dept,D02,
"""


@pytest.fixture
def admin(web_app):
    return signed_in(web_app, "admin")


def upload(client, url: str, content: bytes, filename: str = "import.csv"):
    return client.post(url, data={"file": (io.BytesIO(content), filename)}, content_type="multipart/form-data")


def counts(db) -> tuple[int, int]:
    db.expire_all()
    out = (db.scalar(select(func.count()).select_from(Unit)), db.scalar(select(func.count()).select_from(User)))
    db.commit()
    return out


def text(r) -> str:
    return html.unescape(r.get_data(as_text=True))


# -- units ---------------------------------------------------------------------------------------------------------


def test_units_page_offers_the_import_form(admin):
    page = text(admin.get("/admin/units"))
    assert 'action="/admin/import/units"' in page and 'enctype="multipart/form-data"' in page
    assert 'type="file" name="file"' in page and 'name="csrf_token"' in page
    assert "批量导入单位（CSV）" in page and 'href="/admin/import/units/template.csv"' in page


def test_units_import_gb18030_then_flash_with_counts(admin, db):
    units, users = counts(db)
    r = upload(admin, "/admin/import/units", UNITS_CSV.encode("gb18030"))
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/units")
    page = text(admin.get("/admin/units"))
    assert "已导入单位：新增 2 个，更新 1 个，未变 0 个" in page and "内蒙古自治区草原研究院" in page
    assert counts(db) == (units + 2, users)
    assert db.get(Unit, "U0901").parent_code == "D09"
    db.commit()


def test_units_import_errors_422_listed_by_line_nothing_changed(admin, db):
    before = counts(db)
    bad = "单位代码,单位名称,主管部门代码,类型\nX1,甲,X2,dept\nX2,乙,X1,dept\nX3,丙,NOPE,unit\nX4,丁,D01,部门\n"
    r = upload(admin, "/admin/import/units", bad.encode("utf-8-sig"))
    assert r.status_code == 422
    page = text(r)
    assert "导入文件有误（3 处），未做任何修改" in page
    assert 'data-testid="import-errors"' in page and "文件中的问题（共 3 处，未做任何修改）" in page
    for line in ("第 2 行：上级关系形成循环：X1 → X2 → X1", "第 4 行：主管部门 NOPE 不存在", "第 5 行：类型“部门”无效"):
        assert line in page, line
    assert re.search(r'<details class="card" id="import"\s+open', page)  # the form stays open with the errors
    assert counts(db) == before and db.get(Unit, "X1") is None
    db.commit()


def test_units_import_file_level_errors(admin, db):
    before = counts(db)
    r = admin.post("/admin/import/units", data={}, content_type="multipart/form-data")
    assert r.status_code == 422 and "请选择要导入的文件" in text(r)
    big = b"code,name,parent_code,kind\n" + b"x" * (bulk_import.MAX_IMPORT_BYTES + 10)
    r = upload(admin, "/admin/import/units", big)
    assert r.status_code == 422 and "文件超过 2 MB 的上限" in text(r)
    r = upload(admin, "/admin/import/units", b"PK\x03\x04...", "units.xlsx")
    assert r.status_code == 422 and "暂不支持 Excel 工作簿" in text(r)
    assert counts(db) == before


# -- users ---------------------------------------------------------------------------------------------------------


def test_users_import_shows_each_password_once_and_they_work(admin, web_app, db):
    units, users = counts(db)
    r = upload(admin, "/admin/import/users", USERS_CSV.encode("utf-8"))
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    page = text(r)
    assert "已导入 2 个用户" in page and "只显示这一次" in page and 'data-testid="once-warning"' in page
    rows = re.findall(
        r"<tr><td><code>([^<]+)</code></td><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td>"
        r"<td><code>([^<]+)</code></td></tr>",
        page,
    )
    assert [(u, role, unit) for u, role, unit, _p in rows] == [
        ("hr_cyy", "用人单位人事专员", "U0101"),
        ("dept_jyt2", "主管部门审核员", "D02"),
    ]
    passwords = {u: p for u, _r, _unit, p in rows}
    assert f"hr_cyy,王五（农牧业科学院人事处）,{passwords['hr_cyy']}" in page  # the CSV text to copy
    assert 'download="initial-passwords.csv"' in page and 'href="data:text/csv;charset=utf-8,' in page
    with admin.session_transaction() as sess:  # not flashed into the (signed, readable) session cookie
        assert not any(p in repr(dict(sess)) for p in passwords.values())
    assert counts(db) == (units, users + 2)
    stored = db.scalar(select(User).where(User.username == "hr_cyy"))
    assert passwords["hr_cyy"] not in stored.password_hash and stored.unit_code == "U0101"
    db.commit()
    login(web_app.test_client(), "hr_cyy", passwords["hr_cyy"])  # can sign in with the shown password
    assert admin.get("/admin/users").status_code == 200
    assert passwords["hr_cyy"] not in text(admin.get("/admin/users"))  # never shown again


def test_users_import_errors_422_listed_by_line_nothing_changed(admin, db):
    before = counts(db)
    bad = (
        "用户名,姓名,角色,单位代码\nhr_nky,重名,unit_hr,U0101\nhr_ok,甲,unit_hr,U0101\n"
        "dept_x,乙,dept,U0101\nroot2,丙,admin,\n"
    )
    r = upload(admin, "/admin/import/users", bad.encode("gb18030"))
    assert r.status_code == 422
    page = text(r)
    for line in (
        "第 2 行：用户名 hr_nky 已存在",
        "第 4 行：主管部门审核员须属于主管部门类单位",
        "第 5 行：系统管理员账号不能批量导入",
    ):
        assert line in page, line
    assert "hr_ok" not in page.split('data-testid="users"')[1]  # the valid row was not created either
    assert counts(db) == before


def test_users_import_web_limit_points_to_the_cli(admin, db, web_app):
    from webapp import admin as admin_views

    before = counts(db)
    n = admin_views.WEB_MAX_USER_ROWS + 1
    content = "用户名,姓名,角色,单位代码\n" + "".join(f"hr_bulk{i},某{i},unit_hr,U0101\n" for i in range(n))
    r = upload(admin, "/admin/import/users", content.encode())
    assert r.status_code == 422
    assert f"网页每次最多导入 {n - 1} 个用户（本文件 {n} 个）" in text(r) and "flask import-users" in text(r)
    assert counts(db) == before


# -- templates -----------------------------------------------------------------------------------------------------


def test_templates_download_and_import_as_they_are(admin, db):
    """The example lines fit the demo data: the units template, then the users template, import cleanly."""
    for url, header in (
        ("/admin/import/units/template.csv", "单位代码,单位名称,主管部门代码,类型"),
        ("/admin/import/users/template.csv", "用户名,姓名,角色,单位代码,邮箱,身份证号"),
    ):
        r = admin.get(url)
        assert r.status_code == 200 and r.mimetype == "text/csv"
        assert "attachment" in r.headers["Content-Disposition"]
        body = r.get_data()
        assert body.startswith(b"\xef\xbb\xbf") and body.decode("utf-8-sig").splitlines()[0] == header
        assert len(body.decode("utf-8-sig").splitlines()) == 2
    r = upload(admin, "/admin/import/units", admin.get("/admin/import/units/template.csv").get_data())
    assert r.status_code == 302
    r = upload(admin, "/admin/import/users", admin.get("/admin/import/users/template.csv").get_data())
    assert r.status_code == 200 and "hr_example" in text(r)
    assert db.get(Unit, "U0301").parent_code == "D01"
    db.commit()


# -- who may use them ----------------------------------------------------------------------------------------------

IMPORT_ROUTES = [
    ("post", "/admin/import/units"),
    ("post", "/admin/import/users"),
    ("get", "/admin/import/units/template.csv"),
    ("get", "/admin/import/users/template.csv"),
]


@pytest.mark.parametrize("username", ["hr_nky", "dept_kjt", "renshe", "zhangwei"])
def test_non_admin_refused_and_nothing_changed(web_app, db, username):
    before = counts(db)
    c = signed_in(web_app, username)
    for method, url in IMPORT_ROUTES:
        kwargs = (
            {"data": {"file": (io.BytesIO(UNITS_CSV.encode()), "u.csv")}, "content_type": "multipart/form-data"}
            if method == "post"
            else {}
        )
        r = getattr(c, method)(url, **kwargs)
        assert r.status_code == 403, (username, url, r.status_code)
    assert counts(db) == before


def test_anonymous_sent_to_login(client):
    for method, url in IMPORT_ROUTES:
        r = getattr(client, method)(url)
        assert r.status_code == 302 and "/login" in r.headers["Location"], url


def test_upload_without_csrf_token_is_refused(tmp_path, clock, demo_db_template):
    app = make_web_app(tmp_path, demo_db_template, WTF_CSRF_ENABLED=True)
    try:
        c = app.test_client()
        login(c, "admin")
        r = upload(c, "/admin/import/units", UNITS_CSV.encode())
        assert r.status_code == 400 and "CSRF" in text(r)
        page = c.get("/admin/units").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        r = c.post(
            "/admin/import/units",
            data={"csrf_token": token, "file": (io.BytesIO(UNITS_CSV.encode()), "u.csv")},
            content_type="multipart/form-data",
        )
        assert r.status_code == 302
    finally:
        app.extensions["db_session"].remove()
        app.extensions["db_engine"].dispose()


def test_import_forms_in_english(admin):
    page = text(admin.get("/admin/users?lang=en"))
    assert "Bulk import of users (CSV)" in page and "Import users" in page
    assert "Download the import template (CSV)" in page and "批量导入用户" not in page
    page = text(admin.get("/admin/units"))
    assert "Bulk import of units (CSV)" in page and "Import units" in page
    r = upload(admin, "/admin/import/units", "code,name,parent_code,kind\nX1,甲,NOPE,dept\n".encode())
    assert r.status_code == 422 and "Problems in the file (1 in all; nothing was changed)" in text(r)
    admin.get("/admin/units?lang=zh_CN")
