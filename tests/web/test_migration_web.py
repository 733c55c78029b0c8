"""Case migration through the administrators' page, the JSON API and `flask migrate-cases`: the dry run changes
nothing and lists every case; the real run moves what the dry run found movable; bad requests are clear 4xx."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.helpers import act, registration, start, start_as
from tests.migration_targets import REG, deploy_edited, v2_changes
from tests.web.conftest import signed_in
from tests.web.test_api import Api, assert_error
from webapp.demo.accounts import actor_for
from workflows.domain.models import Case, CaseEvent, ProcessDefinition


def _versions(db) -> dict[str, int]:
    db.expire_all()
    rows = db.execute(
        select(Case.case_no, ProcessDefinition.version)
        .join(ProcessDefinition, ProcessDefinition.id == Case.definition_id)
        .where(ProcessDefinition.process_id == REG, Case.status.in_(("running", "on_hold", "returned")))
    ).all()
    db.commit()
    return dict(rows)


def _two_cases(db) -> tuple[str, str]:
    """One case at 单位审核 (movable to v2), one at 编制外聘用考核 (removed in v2)."""
    movable = start(db, REG, registration()).case_no
    removed = start_as(db, REG, registration(outside_establishment=True), actor_for(db, "hr_nky")).case_no
    act(db, removed, "Task_unit_review")
    return movable, removed


def test_page_dry_run_then_migrate_then_the_case_page_says_so(web_app, db):
    movable, removed = _two_cases(db)
    v2 = deploy_edited(db, *v2_changes())
    admin = signed_in(web_app, "admin")
    page = admin.get(f"/admin/processes/{REG}").get_data(as_text=True)
    assert f"/admin/processes/{REG}/migrate?from=1" in page  # linked from the versions page

    before = _versions(db)
    r = admin.post(f"/admin/processes/{REG}/migrate", data={"from": 1, "to": v2, "mode": "dry_run"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-testid="migration-report"' in html
    assert re.search(rf'data-case="{movable}">.*?可迁移', html, re.S)
    assert re.search(rf'data-case="{removed}">.*?不能迁移.*?已删除', html, re.S)
    assert _versions(db) == before  # a dry run writes nothing
    hidden = re.search(r'name="cases" value="([^"]*)"', html.split('data-testid="migrate-form"', 1)[1]).group(1)
    assert movable in hidden.split() and removed not in hidden.split()

    r = admin.post(f"/admin/processes/{REG}/migrate", data={"from": 1, "to": v2, "mode": "migrate", "cases": hidden})
    assert r.status_code == 200 and "迁移完成" in r.get_data(as_text=True)
    after = _versions(db)
    assert after[movable] == v2 and after[removed] == 1
    assert all(after[n] == v2 for n in hidden.split())

    case_page = admin.get(f"/officer/cases/{movable}").get_data(as_text=True)
    assert "迁移流程版本" in case_page and f"v1 → v{v2}" in case_page


def test_page_refuses_bad_input_with_a_message(web_app, db):
    admin = signed_in(web_app, "admin")
    r = admin.post(f"/admin/processes/{REG}/migrate", data={})
    assert r.status_code == 422 and "请选择源版本和目标版本" in r.get_data(as_text=True)
    r = admin.post(f"/admin/processes/{REG}/migrate", data={"from": 1, "to": 1})
    assert r.status_code == 422 and "源版本与目标版本相同" in r.get_data(as_text=True)
    r = admin.post(f"/admin/processes/{REG}/migrate", data={"from": 1, "to": 2, "cases": "<script>"})
    assert r.status_code == 422 and "办件编号格式不正确" in r.get_data(as_text=True)
    assert admin.get(f"/admin/processes/{REG}/migrate?from=9").status_code == 200
    assert admin.get("/admin/processes/nope/migrate").status_code == 404
    officer = signed_in(web_app, "hr_nky")
    assert officer.post(f"/admin/processes/{REG}/migrate", data={"from": 1, "to": 2}).status_code == 403


def test_api_dry_run_by_default_then_migrate(api_app, dbs):
    movable, removed = _two_cases(dbs)
    v2 = deploy_edited(dbs, *v2_changes())
    api = Api(api_app, "admin")
    body = {"process_id": REG, "from_version": 1, "to_version": v2, "case_nos": [movable, removed]}
    r = api.post("/migrations", body)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.json["dry_run"] is True and r.json["counts"]["movable"] == 1 and r.json["counts"]["refused"] == 1
    assert _versions(dbs)[movable] == 1
    r = api.post("/migrations", {**body, "dry_run": False})
    assert r.status_code == 200 and r.json["counts"]["moved"] == 1
    assert _versions(dbs)[movable] == v2
    ev = dbs.scalar(select(CaseEvent).join(Case).where(Case.case_no == movable, CaseEvent.action == "migrated"))
    assert ev.actor == "admin" and ev.payload["to_version"] == v2
    dbs.commit()
    # and back
    r = api.post("/migrations", {**body, "from_version": v2, "to_version": 1, "dry_run": False})
    assert r.json["counts"]["moved"] == 1 and _versions(dbs)[movable] == 1

    assert_error(api.post("/migrations", {**body, "to_version": 1}), 422)
    assert_error(api.post("/migrations"), 422)  # an empty body
    assert_error(api.post("/migrations", {**body, "surprise": 1}), 422)
    assert_error(api.post("/migrations", {**body, "process_id": "nope"}), 404)
    assert_error(Api(api_app, "renshe").post("/migrations", body), 403)


def test_cli_dry_run_and_migrate(web_app, db):
    movable, removed = _two_cases(db)
    v2 = deploy_edited(db, *v2_changes())
    runner = web_app.test_cli_runner()
    args = ["migrate-cases", "--from", "1", "--to", str(v2), "--case", movable, "--case", removed]
    r = runner.invoke(args=[*args, "--dry-run"])
    assert r.exit_code == 0, r.output
    assert f"{movable}  可迁移" in r.output and f"{removed}  不能迁移" in r.output and "已删除" in r.output
    assert _versions(db)[movable] == 1
    r = runner.invoke(args=[*args, "--as", "admin"])
    assert r.exit_code == 0 and "已迁移 1" in r.output
    assert _versions(db)[movable] == v2
    r = runner.invoke(args=["migrate-cases", "--from", "1", "--to", str(v2)])
    assert r.exit_code != 0 and "--process" in r.output


def test_a_renamed_step_moves_every_running_demo_case_of_every_process(web_app, db):
    """A cosmetic edit (one element's name) must not refuse anyone: every demo case, whatever its position, moves
    and keeps its open tasks and timers."""
    from workflows.infra.db import transaction
    from workflows.services.case_migration import migrate_cases
    from workflows.services.definitions import deploy
    from workflows.services.versions import get_version

    moved = {}
    for pid in db.scalars(select(ProcessDefinition.process_id).distinct()).all():
        v1 = get_version(db, pid, 1)
        src = dict(v1.source)
        name = next(iter(src["bpmn"]))
        xml = re.sub(r'(<bpmn:userTask id="[^"]+" name=")', r"\1（新）", src["bpmn"][name], count=1)
        with transaction(db):
            v2 = deploy(db, pid, {name: xml}, src["dmn"], src["forms"], by="admin", note="改名").version
        report = migrate_cases(db, pid, 1, v2, actor_for(db, "admin"), dry_run=False)
        assert report.count("refused") == report.count("failed") == 0, [c.as_dict() for c in report.cases]
        for c in report.cases:
            assert c.opened == c.closed == [] and c.timers == [], c.as_dict()
        moved[pid] = report.count("moved")
    print(moved)
    assert sum(moved.values()) >= 8 and len([n for n in moved.values() if n]) >= 3, moved
