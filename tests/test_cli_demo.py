"""The Flask CLI the README promises: init-db with demo data, list, complete, supply, sweep, verify-audit."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from webapp import create_app
from workflows.domain.models import Case, OpenTask


@pytest.fixture
def app(tmp_path, clock):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3", "TESTING": True})
    yield app
    app.extensions["db_engine"].dispose()


def test_init_db_demo_and_case_commands(app):
    runner = app.test_cli_runner()
    r = runner.invoke(args=["init-db", "--demo-if-empty"])
    assert r.exit_code == 0, r.output
    assert "已加载演示数据：13 个办件" in r.output
    r = runner.invoke(args=["init-db", "--demo-if-empty"])  # idempotent: no second load
    assert r.exit_code == 0 and "演示数据" not in r.output
    s = app.extensions["db_factory"]()
    statuses = sorted(s.scalars(select(Case.status)).all())
    assert {"running", "completed", "not_accepted"} <= set(statuses)
    owed_case = s.scalar(select(Case).where(Case.rongque_deadline.is_not(None)))
    unit_task = s.scalar(
        select(OpenTask).where(OpenTask.spec_name == "Task_dept_review", OpenTask.case_id == owed_case.id)
    )
    s.close()
    r = runner.invoke(args=["cases"])
    assert owed_case.case_no in r.output
    r = runner.invoke(args=["tasks", "--case", owed_case.case_no])
    assert "主管部门审核" in r.output
    r = runner.invoke(
        args=[
            "complete",
            owed_case.case_no,
            unit_task.task_id,
            "--data",
            json.dumps({"dept_decision": "maybe"}),
            "--as",
            "dept_kjt",
        ]
    )
    assert r.exit_code != 0 and "填写有误" in r.output
    r = runner.invoke(
        args=[
            "complete",
            owed_case.case_no,
            unit_task.task_id,
            "--data",
            json.dumps({"dept_decision": "approve"}),
            "--as",
            "dept_kjt",
        ]
    )
    assert r.exit_code == 0, r.output
    for code in ("health_check", "no_crime_record"):
        r = runner.invoke(args=["supply", owed_case.case_no, code, "--as", "zhangwei"])
        assert r.exit_code == 0, r.output
    r = runner.invoke(args=["tasks", "--case", owed_case.case_no])
    assert "列编备案" in r.output
    r = runner.invoke(args=["sweep"])
    assert r.exit_code == 0 and "定时器扫描" in r.output
    r = runner.invoke(args=["verify-audit"])
    assert r.exit_code == 0 and "审计链完整" in r.output


def test_deploy_refuses_a_broken_definition(app, tmp_path):
    bad = tmp_path / "broken.bpmn"
    bad.write_text("<bpmn:definitions xmlns:bpmn='http://www.omg.org/spec/BPMN/20100524/MODEL'><oops", "utf-8")
    r = app.test_cli_runner().invoke(args=["deploy", str(bad), "--note", "试部署"])
    assert r.exit_code != 0 and "未通过校验" in r.output


def test_deploy_asks_for_a_release_note(app, tmp_path):
    from workflows.services.definitions import bpmn_dir

    runner = app.test_cli_runner()
    r = runner.invoke(args=["deploy", str(bpmn_dir() / "special_post.bpmn")])
    assert r.exit_code == 2 and "--note" in r.output  # required
    r = runner.invoke(args=["deploy", str(bpmn_dir() / "special_post.bpmn"), "--note", "  "])
    assert r.exit_code == 1 and "请填写发布说明" in r.output and "未部署" in r.output


def test_overview_page_and_health(app):
    app.test_cli_runner().invoke(args=["init-db", "--demo-if-empty"])
    client = app.test_client()
    assert client.get("/overview").status_code == 302  # sign in first
    page = client.get("/login").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"username": "renshe", "password": "lvse-2026", "csrf_token": token})
    assert r.status_code == 302
    r = client.get("/overview")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "办件总览" in html and "绿色通道列编注册" in html
    assert client.get("/overview?q=不存在的人").status_code == 200
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready"}


def test_create_user_for_a_fresh_install(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["init-db"]).exit_code == 0
    r = runner.invoke(args=["create-user", "chief", "--role", "admin", "--name", "系统管理员", "--password", "short"])
    assert r.exit_code != 0 and "至少 10 位" in r.output
    r = runner.invoke(
        args=["create-user", "chief", "--role", "admin", "--name", "系统管理员", "--password", "a-long-secret"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["create-user", "chief", "--role", "admin", "--name", "重复", "--password", "a-long-secret"])
    assert r.exit_code != 0 and "已存在" in r.output
    client = app.test_client()
    import re

    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    r = client.post("/login", data={"username": "chief", "password": "a-long-secret", "csrf_token": token.group(1)})
    assert r.status_code == 302 and "/admin" in r.headers["Location"]
