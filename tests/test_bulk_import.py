"""Bulk import of units and users (onboarding a region): the CSV parsers (encodings, header, limits), the
all-or-nothing import services (every error with its line number, nothing written), and the CLI commands
`flask import-units` / `flask import-users`. Real SQLite database with the demo reference data (tests/conftest.py)."""

from __future__ import annotations

import os
import re
import stat

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from webapp import create_app
from workflows.domain.errors import ValidationFailed
from workflows.domain.models import Unit, User
from workflows.infra.db import transaction
from workflows.services import bulk_import as svc
from workflows.services import directory

UNITS_CSV = """单位代码,单位名称,主管部门代码,类型
U0901,内蒙古自治区草原研究院,D09,事业单位
D09,内蒙古自治区林业和草原局,,主管部门
O09,内蒙古自治区大数据中心,,office
U0101,内蒙古自治区农牧业科学院（新名称）,D01,
U0102,内蒙古自治区科技信息研究所,D01,事业单位
U0202,内蒙古工业大学,D01,unit
"""

USERS_CSV = """用户名,姓名,角色,单位代码,邮箱
hr_cyy,王五（草原研究院人事处）,用人单位人事专员,U0101,wangwu@example.cn
dept_lcj,赵六（林草局人事处）,dept,D02,
bb_2,钱七（编办）,编办,BB,
"""


def units_count(session) -> int:
    n = session.scalar(select(func.count()).select_from(Unit))
    session.commit()
    return n


def users_count(session) -> int:
    n = session.scalar(select(func.count()).select_from(User))
    session.commit()
    return n


def refused(fn, *args) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as e:
        fn(*args)
    return e.value


def import_units(session, text: str, encoding: str = "utf-8"):
    rows = svc.parse_units_file(text.encode(encoding), "units.csv")
    with transaction(session):
        return svc.import_units(session, rows)


def import_users(session, text: str, encoding: str = "utf-8"):
    rows = svc.parse_users_file(text.encode(encoding), "users.csv")
    with transaction(session):
        return svc.import_users(session, rows, generate_password_hash)


# -- units ---------------------------------------------------------------------------------------------------------


def test_units_created_and_updated_parents_may_come_later_in_the_file(session):
    before = units_count(session)
    r = import_units(session, UNITS_CSV)
    assert sorted(r.created) == ["D09", "O09", "U0901"]
    assert sorted(r.updated) == ["U0101", "U0202"] and r.unchanged == ["U0102"]
    assert units_count(session) == before + 3
    u = session.get(Unit, "U0901")
    assert (u.name, u.parent_code, u.kind) == ("内蒙古自治区草原研究院", "D09", "unit")
    assert session.get(Unit, "D09").kind == "dept" and session.get(Unit, "O09").kind == "office"
    assert session.get(Unit, "U0101").name.endswith("（新名称）") and session.get(Unit, "U0101").kind == "unit"
    assert session.get(Unit, "U0202").parent_code == "D01"  # moved from 教育厅 to 科技厅
    tree = {u.code: depth for depth, u in directory.unit_tree(session)}
    assert tree["D09"] == 0 and tree["U0901"] == 1
    session.commit()
    again = import_units(session, UNITS_CSV)  # the same file again: nothing to do
    assert again.created == [] and again.updated == [] and len(again.unchanged) == 6


def test_units_reparenting_is_applied_parents_first(session):
    """DX sits under DY; the file turns it round (DY under DX): in file order the first row would make a cycle."""
    with transaction(session):
        directory.create_unit(session, "DY", "乙厅", None, "dept")
        directory.create_unit(session, "DX", "甲厅", "DY", "dept")
    r = import_units(session, "code,name,parent_code,kind\nDY,乙厅,DX,dept\nDX,甲厅,,dept\n")
    assert sorted(r.updated) == ["DX", "DY"]
    assert session.get(Unit, "DY").parent_code == "DX" and session.get(Unit, "DX").parent_code is None


UNITS_BAD = """单位代码,单位名称,主管部门代码,类型
X1,甲,X2,dept
X2,乙,X1,dept
X3,丙,NOPE,unit
X3,丙二,D01,unit
bad code,丁,,office
U0102,科技信息研究所,D01,dept
X4,戊,BB,unit
X5,己,,
X6,庚,D01,部门
X7,,D01,unit
X8,辛,,unit
X9,壬,X9,dept
D01,科技厅,U0101,dept
X10,癸,D01,unit,多出来的一列
"""


def test_units_every_error_with_its_line_and_nothing_written(session):
    before = [(u.code, u.name, u.parent_code, u.kind) for u in session.scalars(select(Unit).order_by(Unit.code))]
    session.commit()
    e = refused(import_units, session, UNITS_BAD)
    errors = e.details["errors"]
    expected = [
        (2, "上级关系形成循环：X1 → X2 → X1（第 2、3 行）"),
        (4, "主管部门 NOPE 不存在"),
        (5, "单位代码 X3 与第 4 行重复"),
        (6, "单位代码“bad code”须为"),
        (7, "单位 U0102 现为“事业单位”，导入不能修改类型"),
        (8, "事业单位的上级须为主管部门，BB 是“职能机构”"),
        (9, "新单位须填写类型"),
        (10, "类型“部门”无效"),
        (11, "请填写单位名称"),
        (12, "事业单位须填写主管部门代码"),
        (13, "上级单位不能是本单位"),
        (14, "上级关系形成循环：D01 → U0101 → D01"),  # through a unit of the database
        (15, "列数多于表头"),
    ]
    for line, text in expected:
        assert any(x.startswith(f"第 {line} 行：") and text in x for x in errors), (line, text, errors)
    assert e.details["error_count"] == len(errors) == len(expected)
    assert e.message.startswith(f"导入文件有误（共 {len(expected)} 处），未做任何修改：第 2 行：")
    session.rollback()
    after = [(u.code, u.name, u.parent_code, u.kind) for u in session.scalars(select(Unit).order_by(Unit.code))]
    assert after == before


def test_at_most_50_errors_are_listed_all_are_counted(session):
    text = "单位代码,单位名称,主管部门代码,类型\n" + "".join(f"Z{i},名称{i},NOPE,unit\n" for i in range(60))
    e = refused(import_units, session, text)
    assert e.details["error_count"] == 60 and len(e.details["errors"]) == 50
    assert e.details["errors"][0].startswith("第 2 行：") and e.details["errors"][-1].startswith("第 51 行：")
    assert "（另有 40 处）" in e.message  # the message quotes the first 20


# -- parsing: encodings, header, limits ------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_encodings_excel_writes(session, encoding):
    text = UNITS_CSV if encoding != "utf-16" else UNITS_CSV.replace(",", "\t")  # Excel "Unicode 文本"
    rows = svc.parse_units_file(text.encode(encoding), "units.csv")
    assert rows[0] == {
        "line": 2,
        "code": "U0901",
        "name": "内蒙古自治区草原研究院",
        "parent_code": "D09",
        "kind": "事业单位",
    }
    assert len(rows) == 6


def test_gb18030_file_imports_chinese_names(session):
    import_units(session, UNITS_CSV, "gb18030")
    assert session.get(Unit, "D09").name == "内蒙古自治区林业和草原局"
    created = import_users(session, USERS_CSV, "gb18030")
    assert created[0].display_name == "王五（草原研究院人事处）"


def test_english_and_annotated_headers_blank_and_comment_lines_quoted_cells():
    text = (
        "Code , Name,parent_code,KIND,备注\n\n# 第一批\n"
        'U0903,"内蒙古自治区某研究院,分院",D01,unit,说明\n'
        '"U0904","多行\n名称",D01,unit,\n'
        "U0905,研究所,D01,unit,\n"
    )
    rows = svc.parse_units_file(text.encode(), "u.csv")
    assert [(r["line"], r["code"], r["name"]) for r in rows] == [
        (4, "U0903", "内蒙古自治区某研究院,分院"),
        (5, "U0904", "多行\n名称"),
        (7, "U0905", "研究所"),
    ]
    users = svc.parse_users_file("用户名*,姓名,角色,所属单位,邮箱（可选）\nhr_x,某,unit_hr,U0101,\n".encode(), "x.csv")
    assert users == [
        {"line": 2, "username": "hr_x", "display_name": "某", "role": "unit_hr", "unit_code": "U0101", "email": ""}
    ]


@pytest.mark.parametrize(
    "content,filename,msg",
    [
        (b"", "x.csv", "请选择要导入的文件"),
        (b"\n\n# only a comment\n", "x.csv", "文件为空"),
        ("单位代码,单位名称,主管部门代码,类型\n".encode(), "x.csv", "只有表头，没有数据行"),
        ("单位代码,单位名称,类型\nU1,甲,unit\n".encode(), "x.csv", "第 1 行（表头）缺少列：主管部门代码"),
        ("单位代码,单位名称,主管部门代码,类型,级别\nU1,甲,D01,unit,正处\n".encode(), "x.csv", "无法识别的列：级别"),
        ("单位代码,代码,单位名称,主管部门代码,类型\n".encode(), "x.csv", "与另一列重复"),
        (b"PK\x03\x04 a zip", "units.xlsx", "暂不支持 Excel 工作簿"),
        (b"code,name,parent_code,kind\n", "units.xls", "另存为"),
        (b"code,name,parent_code,kind\nU1,\xff\xfe\xfa,D01,unit\n", "x.csv", "无法识别文件编码"),
    ],
)
def test_file_level_errors(content, filename, msg):
    e = refused(svc.parse_units_file, content, filename)
    assert msg in e.message, e.message


def test_size_and_row_limits():
    header = "单位代码,单位名称,主管部门代码,类型\n"
    ok = header + "".join(f"U{i},单位{i},D01,unit\n" for i in range(svc.MAX_IMPORT_ROWS))
    assert len(svc.parse_units_file(ok.encode(), "x.csv")) == 5000
    e = refused(svc.parse_units_file, (ok + "U9x,多一行,D01,unit\n").encode(), "x.csv")
    assert "文件有 5001 行数据，超过上限 5000 行" in e.message
    big = header + "U1," + "名" * (svc.MAX_IMPORT_BYTES // 3) + ",D01,unit\n"
    e = refused(svc.parse_units_file, big.encode(), "x.csv")
    assert "文件超过 2 MB 的上限" in e.message
    users = "用户名,姓名,角色,单位代码\n" + "".join(f"hr_{i},某,unit_hr,U0101\n" for i in range(11))
    e = refused(svc.parse_users_file, users.encode(), "x.csv", 10)
    assert "文件有 11 行数据，超过上限 10 行" in e.message


def test_templates_are_excel_friendly_and_parse():
    for kind, parse in (("units", svc.parse_units_file), ("users", svc.parse_users_file)):
        content = svc.import_template_csv(kind)
        assert content.startswith(b"\xef\xbb\xbf")
        assert len(parse(content, f"{kind}.csv")) == 1


# -- users ---------------------------------------------------------------------------------------------------------


def test_users_created_with_a_one_time_password_each(session):
    before = users_count(session)
    created = import_users(session, USERS_CSV)
    assert [(u.username, u.role, u.unit_code) for u in created] == [
        ("hr_cyy", "unit_hr", "U0101"),
        ("dept_lcj", "dept", "D02"),
        ("bb_2", "bianban", "BB"),
    ]
    assert users_count(session) == before + 3
    passwords = [u.password for u in created]
    assert len(set(passwords)) == 3 and all(len(p) == 12 and p.isalnum() for p in passwords)
    for u in created:
        row = session.scalar(select(User).where(User.username == u.username))
        assert row.active and row.password_hash.startswith("scrypt:")  # the app's hash, never the plain text
        assert check_password_hash(row.password_hash, u.password) and u.password not in row.password_hash
    assert session.scalar(select(User).where(User.username == "hr_cyy")).email == "wangwu@example.cn"
    csv_text = svc.initial_passwords_csv(created)
    assert csv_text.splitlines()[0] == "用户名,姓名,初始密码"
    assert f"hr_cyy,王五（草原研究院人事处）,{passwords[0]}" in csv_text


def test_users_of_units_imported_before(session):
    import_units(session, UNITS_CSV)
    created = import_users(
        session, "username,display_name,role,unit_code\nhr_u0901,某,unit_hr,U0901\ndept_d09,某某,主管部门审核员,D09\n"
    )
    assert [u.unit_code for u in created] == ["U0901", "D09"]


USERS_BAD = """用户名,姓名,角色,单位代码,邮箱,身份证号
hr_nky,重名,unit_hr,U0101,,
hr_new,甲,unit_hr,U0101,,
hr_new,乙,unit_hr,U0102,,
9bad,丙,unit_hr,U0101,,
hr_c,,unit_hr,U0101,,
hr_d,丁,boss,U0101,,
root2,戊,admin,,,
dept_x,己,dept,U0101,,
hr_e,庚,unit_hr,,,
hr_f,辛,unit_hr,NOPE,,
hr_g,壬,unit_hr,U0101,not-an-email,
appl_1,癸,applicant,,,
appl_2,子,applicant,,,1.50102E+17
hrss_1,丑,hrss,RS,,,多余
"""


def test_users_every_error_with_its_line_and_nothing_written(session):
    before = users_count(session)
    e = refused(import_users, session, USERS_BAD)
    errors = e.details["errors"]
    expected = [
        (2, "用户名 hr_nky 已存在"),
        (4, "用户名 hr_new 与第 3 行重复"),
        (5, "用户名“9bad”须以字母开头"),
        (6, "请填写姓名"),
        (7, "角色“boss”无效"),
        (8, "系统管理员账号不能批量导入"),
        (9, "主管部门审核员须属于主管部门类单位"),
        (10, "须指定所属单位"),
        (11, "单位 NOPE 不存在"),
        (12, "电子邮箱格式不正确"),
        (13, "申请人账号须填写身份证号"),
        (14, "身份证号须为 18 位"),
        (15, "列数多于表头"),
    ]
    for line, text in expected:
        assert any(x.startswith(f"第 {line} 行：") and text in x for x in errors), (line, text, errors)
    assert e.details["error_count"] == len(expected)
    session.rollback()
    assert users_count(session) == before
    assert session.scalar(select(User).where(User.username == "hr_new")) is None
    session.commit()


def test_a_refused_write_rolls_back_everything(session, monkeypatch):
    """Should a row pass the checks and still be refused while writing, the earlier rows are not kept either."""
    before = users_count(session)
    real = svc.create_user

    def flaky(s, username, *args, **kwargs):
        if username == "bb_2":
            raise ValidationFailed("模拟的写入失败")
        return real(s, username, *args, **kwargs)

    monkeypatch.setattr(svc, "create_user", flaky)
    e = refused(import_users, session, USERS_CSV)
    assert e.message == "第 4 行：模拟的写入失败（未做任何修改）"
    assert users_count(session) == before


def test_passwords_are_hashed_outside_the_transaction_and_checked_again(session):
    """The web page and the CLI: check (reads only), hash with no transaction open, then write — checking again,
    since an account may have been created meanwhile."""
    before = users_count(session)
    rows = svc.parse_users_file(USERS_CSV.encode(), "users.csv")
    valid = svc.check_users(session, rows)
    session.rollback()
    assert [r["username"] for r in valid] == ["hr_cyy", "dept_lcj", "bb_2"] and users_count(session) == before
    passwords = svc.hash_initial_passwords([r["username"] for r in valid], generate_password_hash)
    assert all(check_password_hash(h, p) for p, h in passwords.values())
    with transaction(session):  # meanwhile, someone creates bb_2 by hand
        directory.create_user(session, "bb_2", "手工创建", "bianban", "BB", generate_password_hash("x" * 10))
    e = refused(lambda: svc.import_users(session, rows, initial_passwords=passwords))
    assert e.details["errors"] == [
        "第 4 行：用户名 bb_2 已存在（导入只新建账号：请删去此行，已有账号在“用户与角色”页修改）"
    ]
    session.rollback()
    rows = rows[:2]
    with transaction(session):
        created = svc.import_users(session, rows, initial_passwords=passwords)
    assert [(u.username, u.password) for u in created] == [(u, passwords[u][0]) for u in ("hr_cyy", "dept_lcj")]
    assert session.scalar(select(User).where(User.username == "hr_cyy")).password_hash == passwords["hr_cyy"][1]
    with pytest.raises(ValueError):  # neither a password nor a way to hash one
        svc.import_users(session, svc.parse_users_file("用户名,姓名,角色,单位代码\nhr_zz,某,unit_hr,U0101\n".encode()))
    session.rollback()


# -- CLI -----------------------------------------------------------------------------------------------------------


@pytest.fixture
def cli_app(tmp_path):
    """A fresh install: `flask init-db` (no demo data, no units, no users)."""
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3", "TESTING": True})
    assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    yield app
    app.extensions["db_engine"].dispose()


REGION_UNITS = """单位代码,单位名称,主管部门代码,类型
U0101,内蒙古自治区农牧业科学院,D01,事业单位
D01,内蒙古自治区科学技术厅,,主管部门
RS,内蒙古自治区人力资源和社会保障厅,,职能机构
"""
REGION_USERS = """用户名,姓名,角色,单位代码,邮箱
hr_nky,王芳,unit_hr,U0101,wangfang@example.cn
dept_kjt,赵敏,dept,D01,
renshe,吴静,人社部门审核员,RS,
"""


def _write(tmp_path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def _sign_in(app, username: str, password: str) -> int:
    client = app.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token.group(1)}
    ).status_code


def test_cli_onboards_a_region(cli_app, tmp_path):
    runner = cli_app.test_cli_runner()
    r = runner.invoke(args=["import-units", _write(tmp_path, "units.csv", REGION_UNITS, "gb18030")])
    assert r.exit_code == 0, r.output
    assert "已导入单位：新增 3 个，更新 0 个，未变 0 个" in r.output
    out = tmp_path / "passwords.csv"
    r = runner.invoke(
        args=["import-users", _write(tmp_path, "users.csv", REGION_USERS, "utf-8-sig"), "--passwords-out", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert "已导入 3 个用户" in r.output and str(out) in r.output
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    lines = out.read_text("utf-8-sig").splitlines()
    assert lines[0] == "用户名,姓名,初始密码" and len(lines) == 4
    passwords = dict((line.split(",")[0], line.split(",")[2]) for line in lines[1:])
    assert passwords.keys() == {"hr_nky", "dept_kjt", "renshe"}
    for line in lines[1:]:
        assert line.split(",")[2] not in r.output  # the passwords go to the file only
    assert _sign_in(cli_app, "hr_nky", passwords["hr_nky"]) == 302
    assert _sign_in(cli_app, "renshe", "wrong-password") != 302
    # the same file again: the user names exist now → refused, nothing written, the new passwords file removed
    again = tmp_path / "again.csv"
    r = runner.invoke(args=["import-users", str(tmp_path / "users.csv"), "--passwords-out", str(again)])
    assert r.exit_code == 1 and "第 2 行：用户名 hr_nky 已存在" in r.output and not again.exists()
    # an existing passwords file is never overwritten
    r = runner.invoke(
        args=[
            "import-users",
            _write(tmp_path, "more.csv", "用户名,姓名,角色,单位代码\nhr_2,某,unit_hr,U0101\n"),
            "--passwords-out",
            str(out),
        ]
    )
    assert r.exit_code == 1 and "已存在" in r.output
    s = cli_app.extensions["db_factory"]()
    assert s.scalar(select(User).where(User.username == "hr_2")) is None
    s.close()


def test_cli_prints_the_passwords_csv_without_passwords_out(cli_app, tmp_path):
    runner = cli_app.test_cli_runner()
    runner.invoke(args=["import-units", _write(tmp_path, "units.csv", REGION_UNITS)])
    r = runner.invoke(args=["import-users", _write(tmp_path, "users.csv", REGION_USERS)])
    assert r.exit_code == 0, r.output
    rows = r.stdout.splitlines()
    assert rows[0] == "用户名,姓名,初始密码" and len(rows) == 4 and "已导入" not in r.stdout  # stdout: the CSV only
    assert "已导入 3 个用户；以上初始密码只输出这一次" in r.stderr
    username, _name, password = rows[2].split(",")
    assert _sign_in(cli_app, username, password) == 302


def test_cli_bad_files_exit_1_with_line_errors_and_write_nothing(cli_app, tmp_path):
    runner = cli_app.test_cli_runner()
    r = runner.invoke(args=["import-units", _write(tmp_path, "units.csv", UNITS_BAD)])
    assert r.exit_code == 1
    assert "第 4 行：主管部门 NOPE 不存在" in r.output and "第 9 行：新单位须填写类型" in r.output
    assert "导入文件有误（共" in r.output and "未做任何修改" in r.output
    r = runner.invoke(args=["import-units", _write(tmp_path, "bad.csv", "名称\n甲\n")])
    assert r.exit_code == 1 and "缺少列" in r.output
    r = runner.invoke(args=["import-users", _write(tmp_path, "users.csv", REGION_USERS)])
    assert r.exit_code == 1 and "第 2 行：单位 U0101 不存在" in r.output  # units not imported yet
    s = cli_app.extensions["db_factory"]()
    assert s.scalar(select(func.count()).select_from(Unit)) == 0
    assert s.scalar(select(func.count()).select_from(User)) == 0
    s.close()


def test_cli_dry_run_checks_and_writes_nothing(cli_app, tmp_path):
    runner = cli_app.test_cli_runner()
    r = runner.invoke(args=["import-units", _write(tmp_path, "units.csv", REGION_UNITS), "--dry-run"])
    assert r.exit_code == 0 and "检查通过（未写入）：将新增 3 个" in r.output
    r = runner.invoke(args=["import-units", str(tmp_path / "units.csv")])
    assert r.exit_code == 0
    out = tmp_path / "p.csv"
    r = runner.invoke(
        args=["import-users", _write(tmp_path, "users.csv", REGION_USERS), "--dry-run", "--passwords-out", str(out)]
    )
    assert r.exit_code == 0 and "检查通过（未写入）：将新建 3 个用户" in r.output and not out.exists()
    s = cli_app.extensions["db_factory"]()
    assert s.scalar(select(func.count()).select_from(Unit)) == 3
    assert s.scalar(select(func.count()).select_from(User)) == 0
    s.close()
