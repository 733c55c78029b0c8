"""Administrator console: definitions (draft, validate, publish, compare, roll back, cases per version), users,
units, 编制 pools, the holiday table and policy parameters. Flask test client on a real SQLite file with demo data."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from tests.helpers import start_as
from tests.web.conftest import login, signed_in
from webapp.demo.accounts import actor_for
from workflows.domain.models import Case, Holiday, ProcessDefinition, QuotaMovement, QuotaPool, Setting, Unit, User
from workflows.services import holidays as holidays_svc
from workflows.services import versions as versions_svc
from workflows.services.definitions import bpmn_dir

REG = "green_channel_registration"
OLD_COND = "unit_decision == 'approve'"
NEW_COND = "unit_decision in ('approve',)"
FLOW = "Flow_unit_decision_to_outside"


def bundled_xml() -> str:
    return (bpmn_dir() / f"{REG}.bpmn").read_text("utf-8")


def registration_data() -> dict:
    return {
        "applicant_name": "张伟",
        "id_number": "150102199001011234",
        "unit_code": "U0101",
        "talent_category": 3,
        "introduction_mode": "rigid",
        "outside_establishment": False,
        "materials": [
            "id_card",
            "talent_recognition",
            "employment_contract",
            "assessment_material",
            "degree_certificate",
            "health_check",
            "no_crime_record",
            "resume",
        ],
    }


@pytest.fixture
def admin(web_app):
    return signed_in(web_app, "admin")


def versions_of(db, process_id=REG):
    db.expire_all()
    rows = db.scalars(
        select(ProcessDefinition).where(ProcessDefinition.process_id == process_id).order_by(ProcessDefinition.version)
    ).all()
    out = [(r.version, r.status) for r in rows]
    db.commit()
    return out


def save(client, xml, process_id=REG):
    return client.post(f"/admin/processes/{process_id}/draft", json={"xml": xml})


# -- definitions ---------------------------------------------------------------------------------------------------


def test_modeler_page_loads_assets_without_inline_script(admin):
    r = admin.get(f"/admin/processes/{REG}/edit")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "/vendor/bpmn-js/dist/bpmn-modeler.production.min.js" in html
    assert "/vendor/bpmn-js-properties-panel/dist/bpmn-js-properties-panel.umd.js" in html
    assert "js/admin-modeler.js" in html
    # the only <script> without src is the JSON config block (not executed, allowed by CSP)
    import re

    inline = [m for m in re.findall(r"<script([^>]*)>", html) if "src=" not in m]
    assert inline == [' type="application/json" id="admin-modeler-config"']
    cfg = json.loads(html.split('id="admin-modeler-config">', 1)[1].split("</script>", 1)[0])
    assert "unit_review.schema.json" in cfg["forms"] and "close_case" in cfg["operators"]
    assert cfg["lanes"] == ["申请人", "用人单位", "主管部门", "编办", "人社部门", "评委会办公室", "权益保障窗口"]
    assert cfg["decisions"] == ["talent_eligibility"]
    xml = admin.get(cfg["xmlUrl"])
    assert xml.status_code == 200 and OLD_COND in xml.get_data(as_text=True)
    assert admin.get(cfg["moddleUrl"]).status_code == 200
    for asset in (
        "/vendor/bpmn-js/dist/assets/bpmn-font/css/bpmn.css",
        "/static/js/admin-modeler.js",
        "/vendor/@bpmn-io/properties-panel/dist/assets/properties-panel.css",
        # token simulation: bundled at set-up (scripts/bundle-assets.mjs), its CSS from the npm package
        "/static/vendor/bpmn-js-token-simulation.js",
        "/vendor/bpmn-js-token-simulation/assets/css/bpmn-js-token-simulation.css",
    ):
        assert admin.get(asset).status_code == 200, asset
    assert 'data-testid="token-sim-toggle"' in html


def test_save_valid_edit_stores_a_draft_and_overwrites_it(admin, db):
    before = versions_of(db)
    r = save(admin, bundled_xml().replace(OLD_COND, NEW_COND))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "draft" and body["changed"] is True
    v = body["version"]
    assert versions_of(db) == before + [(v, "draft")]
    # saving again overwrites the same draft (no new version)
    r2 = save(admin, bundled_xml().replace(OLD_COND, "unit_decision != 'refuse'"))
    assert r2.status_code == 200 and r2.get_json()["version"] == v
    assert versions_of(db) == before + [(v, "draft")]
    row = db.scalar(
        select(ProcessDefinition).where(ProcessDefinition.process_id == REG, ProcessDefinition.version == v)
    )
    assert "unit_decision != 'refuse'" in versions_svc.main_bpmn(row)[1]
    db.commit()
    # the published version was not touched
    pub = db.scalar(
        select(ProcessDefinition).where(ProcessDefinition.process_id == REG, ProcessDefinition.status == "published")
    )
    assert OLD_COND in versions_svc.main_bpmn(pub)[1]
    db.commit()


def test_save_unchanged_content_stores_nothing(admin, db):
    before = versions_of(db)
    r = save(admin, bundled_xml())
    assert r.status_code == 200 and r.get_json()["changed"] is False
    assert versions_of(db) == before


def test_syntax_error_in_gateway_condition_is_refused_with_element_and_nothing_stored(admin, db):
    before = versions_of(db)
    r = save(admin, bundled_xml().replace(OLD_COND, "unit_decision == = 'approve'"))
    assert r.status_code == 422
    body = r.get_json()
    hits = [e for e in body["errors"] if e["element_id"] == FLOW]
    assert hits, body
    assert "条件表达式不合法" in hits[0]["message"] and hits[0]["line"]
    assert "未通过校验" in body["message"]
    assert versions_of(db) == before


def test_other_invalid_edits_are_refused(admin, db):
    before = versions_of(db)
    xml = bundled_xml()
    bad_lane = xml.replace('name="编办"', 'name="财政局"', 1)
    r = save(admin, bad_lane)
    assert r.status_code == 422 and any(
        e["element_id"] == "Lane_bianban" and "泳道名称" in e["message"] for e in r.get_json()["errors"]
    )
    bad_form = xml.replace('value="unit_review.schema.json"', 'value="nope.schema.json"', 1)
    r = save(admin, bad_form)
    assert r.status_code == 422 and any(
        "表单文件 nope.schema.json 不存在" in e["message"] for e in r.get_json()["errors"]
    )
    bad_op = xml.replace('serviceTaskOperator id="check_credit"', 'serviceTaskOperator id="os_system"', 1)
    r = save(admin, bad_op)
    assert r.status_code == 422 and any(e["element_id"] == "Task_check_credit" for e in r.get_json()["errors"])
    r = save(admin, "<not-xml")
    assert r.status_code == 422 and "XML 格式错误" in r.get_json()["errors"][0]["message"]
    r = save(admin, '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')
    assert r.status_code == 422 and "DOCTYPE" in r.get_json()["errors"][0]["message"]
    assert admin.post(f"/admin/processes/{REG}/draft", json={}).status_code == 422
    assert admin.post("/admin/processes/nope/draft", json={"xml": xml}).status_code == 404
    assert versions_of(db) == before


def test_publish_new_cases_take_it_old_case_stays_then_rollback(admin, db):
    hr = actor_for(db, "zhangwei")
    db.commit()
    old_case = start_as(db, REG, registration_data(), hr)
    old_def = old_case.definition_id
    old_no = old_case.case_no
    db.commit()

    v = save(admin, bundled_xml().replace(OLD_COND, NEW_COND)).get_json()["version"]
    page = admin.get(f"/admin/processes/{REG}").get_data(as_text=True)
    assert "发布此版本" in page
    # the release note is required: refused in Chinese, nothing published
    r = admin.post(f"/admin/processes/{REG}/versions/{v}/publish", data={"note": "  "})
    assert r.status_code == 422 and "请填写发布说明" in r.get_data(as_text=True)
    assert dict(versions_of(db))[v] == "draft"
    r = admin.post(f"/admin/processes/{REG}/versions/{v}/publish", data={"note": "放宽人才类别条件（R1 修订）"})
    assert r.status_code == 302
    statuses = dict(versions_of(db))
    assert statuses[v] == "published" and list(statuses.values()).count("published") == 1
    prev = max(k for k in statuses if k != v)
    assert statuses[prev] == "retired"

    new_case = start_as(db, REG, registration_data(), actor_for(db, "zhangwei"))
    new_def = db.get(ProcessDefinition, new_case.definition_id)
    assert new_def.version == v
    old = db.scalar(select(Case).where(Case.case_no == old_no))
    assert old.definition_id == old_def != new_case.definition_id
    new_no = new_case.case_no
    db.commit()

    # cases per version: counts and a list with links
    page = admin.get(f"/admin/processes/{REG}/versions/{v}/cases").get_data(as_text=True)
    assert new_no in page and old_no not in page and f"/overview?q={new_no}" in page
    page = admin.get(f"/admin/processes/{REG}/versions/{prev}/cases").get_data(as_text=True)
    assert old_no in page and new_no not in page

    # a published version cannot be published again (and is never edited by saving)
    r = admin.post(f"/admin/processes/{REG}/versions/{v}/publish")
    assert r.status_code == 409 and "已是当前发布版本" in r.get_data(as_text=True)

    # roll back: the older version is published again; the running case on v stays on v
    r = admin.post(f"/admin/processes/{REG}/versions/{prev}/publish", follow_redirects=True)
    assert r.status_code == 422 and "请填写发布说明" in r.get_data(as_text=True)
    r = admin.post(
        f"/admin/processes/{REG}/versions/{prev}/publish", data={"note": "条件修改有误，先回滚"}, follow_redirects=True
    )
    page = r.get_data(as_text=True)
    assert "已回滚到" in page
    # the version list shows each publication's note, the roll back's too; so does the compare view
    assert "放宽人才类别条件（R1 修订）" in page and "条件修改有误，先回滚" in page and "回滚" in page
    page = admin.get(f"/admin/processes/{REG}/compare?a={prev}&b={v}").get_data(as_text=True)
    assert "放宽人才类别条件（R1 修订）" in page and "条件修改有误，先回滚" in page
    statuses = dict(versions_of(db))
    assert statuses[prev] == "published" and statuses[v] == "retired"
    third = start_as(db, REG, registration_data(), actor_for(db, "zhangwei"))
    assert db.get(ProcessDefinition, third.definition_id).version == prev
    assert db.scalar(select(Case).where(Case.case_no == new_no)).definition_id == new_def.id
    db.commit()


def test_compare_lists_the_changed_element(admin, db):
    xml = bundled_xml().replace(OLD_COND, NEW_COND).replace('name="单位审核"', 'name="用人单位审核"', 1)
    v = save(admin, xml).get_json()["version"]
    pub = [ver for ver, st in versions_of(db) if st == "published"][0]
    r = admin.get(f"/admin/processes/{REG}/compare?a={pub}&b={v}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert f'data-element-id="{FLOW}"' in html and "条件表达式" in html
    assert "unit_decision == &#39;approve&#39;" in html and "unit_decision in (&#39;approve&#39;,)" in html
    assert 'data-element-id="Task_unit_review"' in html and "用人单位审核" in html
    # service level: added / removed / changed with fields
    d = versions_svc.compare_versions(db, REG, pub, v)
    db.commit()
    changed = {e.element_id: e for e in d.changed}
    assert set(changed) == {FLOW, "Task_unit_review"}
    assert ("条件表达式", OLD_COND, NEW_COND) in changed[FLOW].fields
    assert not d.added and not d.removed


def test_diff_finds_added_removed_timer_and_property_changes():
    a = bundled_xml()
    b = (
        a.replace("publicity['end_at']", "publicity['end_at'] or None")
        .replace('name="holdReason" value="公示异议核查中"', 'name="holdReason" value="异议核查"')
        .replace('<bpmn:endEvent id="End_credit_blocked"', '<bpmn:endEvent id="End_credit_blocked2"')
    )
    elements, _moved = versions_svc.diff_xml(a, b)
    by = {(e.element_id, e.change): e for e in elements}
    assert ("End_credit_blocked", "removed") in by and ("End_credit_blocked2", "added") in by
    timer = by[("Event_publicity_end", "changed")]
    assert ("定时器 timeDate", "publicity['end_at']", "publicity['end_at'] or None") in timer.fields
    assert any(f[0] == "属性 holdReason" for e in elements for f in e.fields)


def test_discard_draft(admin, db):
    before = versions_of(db)
    save(admin, bundled_xml().replace(OLD_COND, NEW_COND))
    assert len(versions_of(db)) == len(before) + 1
    assert admin.post(f"/admin/processes/{REG}/draft/discard").status_code == 302
    assert versions_of(db) == before
    assert admin.post(f"/admin/processes/{REG}/draft/discard").status_code == 404


def test_console_pages_render(admin):
    for url in (
        "/admin/",
        "/admin/processes",
        f"/admin/processes/{REG}",
        "/admin/users",
        "/admin/units",
        "/admin/quota",
        "/admin/holidays",
        "/admin/holidays?year=2027",
        "/admin/params",
        f"/admin/processes/{REG}/versions/1/cases",
        f"/admin/processes/{REG}/versions/1/bpmn",
    ):
        r = admin.get(url)
        assert r.status_code == 200, (url, r.get_data(as_text=True)[:300])
    assert admin.get("/admin/processes/nope").status_code == 404
    assert admin.get(f"/admin/processes/{REG}/versions/99/cases").status_code == 404


ADMIN_ROUTES = [
    ("get", "/admin/"),
    ("get", "/admin/processes"),
    ("get", f"/admin/processes/{REG}"),
    ("get", f"/admin/processes/{REG}/edit"),
    ("get", f"/admin/processes/{REG}/versions/1/bpmn"),
    ("post", f"/admin/processes/{REG}/draft"),
    ("post", f"/admin/processes/{REG}/versions/1/publish"),
    ("post", f"/admin/processes/{REG}/draft/discard"),
    ("get", f"/admin/processes/{REG}/compare?a=1&b=1"),
    ("get", f"/admin/processes/{REG}/versions/1/cases"),
    ("get", "/admin/decisions"),
    ("get", "/admin/decisions/talent_eligibility"),
    ("get", "/admin/decisions/talent_eligibility/versions/1/dmn"),
    ("get", "/admin/decisions/talent_eligibility/edit"),
    ("post", "/admin/decisions/talent_eligibility/draft"),
    ("post", "/admin/decisions/talent_eligibility/versions/1/publish"),
    ("post", "/admin/decisions/talent_eligibility/draft/discard"),
    ("get", "/admin/decisions/talent_eligibility/compare?a=1&b=1"),
    ("get", f"/admin/processes/{REG}/versions/1/simulation"),
    ("get", f"/admin/processes/{REG}/migrate"),
    ("post", f"/admin/processes/{REG}/migrate"),
    ("get", "/admin/users"),
    ("post", "/admin/users"),
    ("post", "/admin/users/1"),
    ("post", "/admin/users/1/password"),
    ("post", "/admin/users/1/active"),
    ("post", "/admin/users/1/unlock"),
    ("get", "/admin/users/1/tokens"),
    ("post", "/admin/tokens/1/revoke"),
    ("get", "/admin/units"),
    ("post", "/admin/units"),
    ("post", "/admin/units/U0101"),
    ("get", "/admin/quota"),
    ("post", "/admin/quota"),
    ("post", "/admin/quota/1/adjust"),
    ("get", "/admin/holidays"),
    ("post", "/admin/holidays/import"),
    ("get", "/admin/params"),
    ("post", "/admin/params"),
    ("get", "/admin/rights-topics"),
    ("post", "/admin/rights-topics"),
    ("get", "/admin/rights-report"),
    ("get", "/admin/rights-report/preview?year=2026&quarter=1"),
    ("get", "/admin/rights-report/1.pdf"),
    ("post", "/admin/import/units"),
    ("get", "/admin/import/units/template.csv"),
    ("post", "/admin/import/users"),
    ("get", "/admin/import/users/template.csv"),
    ("get", "/admin/registers/credit"),
    ("post", "/admin/registers/credit"),
    ("post", "/admin/registers/credit/1/end"),
    ("get", "/admin/registers/credit/template.csv"),
    ("post", "/admin/registers/credit/import"),
    ("get", "/admin/registers/breach"),
    ("post", "/admin/registers/breach/1/lift"),
    ("get", "/admin/registers/breach/template.csv"),
    ("post", "/admin/registers/breach/import"),
    ("post", "/admin/registers/posts"),
    ("get", "/admin/registers/achievements"),
    ("post", "/admin/registers/achievements"),
    ("post", "/admin/registers/achievements/1/end"),
    ("get", "/admin/registers/achievements/template.csv"),
    ("post", "/admin/registers/achievements/import"),
    ("get", "/admin/incidents"),
    ("get", "/admin/incidents/1"),
    ("post", "/admin/incidents/1/retry"),
    ("post", "/admin/incidents/1/skip"),
    ("post", "/admin/incidents/1/cancel"),
    ("post", "/admin/incidents/1/variable"),
    ("get", "/admin/offices"),
    ("post", "/admin/offices"),
    ("get", "/admin/offices/RS"),
    ("post", "/admin/offices/RS/series/acceptance"),
    ("post", "/admin/offices/RS/seal"),
    ("post", "/admin/offices/RS/seal/delete"),
    ("get", "/admin/offices/RS/seal.png"),
    ("get", "/admin/signing"),
    ("post", "/admin/signing/generate"),
    ("post", "/admin/signing/import"),
    ("get", "/admin/signing/1/certificate.pem"),
    ("get", "/admin/rendering"),
    ("post", "/admin/rendering/1/retry"),
    ("get", "/admin/matters"),
    ("post", "/admin/matters"),
    ("get", f"/admin/matters/{REG}"),
    ("post", f"/admin/matters/{REG}"),
    ("post", f"/admin/matters/{REG}/publish"),
    ("post", f"/admin/matters/{REG}/discard"),
    ("get", f"/admin/matters/{REG}/export"),
    ("post", "/admin/matters/import"),
]


# Admin pages 编办 uses too (the posts and 编制 register: it reads it and adjusts 编制): 403 for everyone else.
BIANBAN_ROUTES = [
    ("get", "/admin/registers/posts"),
    ("post", "/admin/registers/posts/establishment"),
    ("get", "/admin/registers/posts/template.csv"),
    ("post", "/admin/registers/posts/import"),
]


@pytest.mark.parametrize("username", ["bianban", "zhangwei", "hr_nky"])
def test_non_admin_gets_403_everywhere(web_app, username, db):
    c = signed_in(web_app, username)
    before = versions_of(db)
    for method, url in ADMIN_ROUTES + (BIANBAN_ROUTES if username != "bianban" else []):
        r = getattr(c, method)(url, data={"role": "admin", "delta": "5", "note": "x"})
        assert r.status_code == 403, (method, url, r.status_code)
    assert versions_of(db) == before
    adapter = web_app.url_map.bind("localhost")
    covered = {adapter.match(u.split("?")[0], method=m.upper())[0] for m, u in ADMIN_ROUTES + BIANBAN_ROUTES}
    assert covered == {ep for ep in web_app.view_functions if ep.startswith("admin.")}  # every admin route


def test_anonymous_is_sent_to_login(client):
    r = client.get("/admin/users")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


# -- users ---------------------------------------------------------------------------------------------------------


def test_users_create_change_reset_deactivate(admin, web_app, db):
    r = admin.post(
        "/admin/users",
        data={
            "username": "hr_new",
            "display_name": "新人事专员",
            "role": "unit_hr",
            "unit_code": "U0202",
            "password": "secret-123",
        },
    )
    assert r.status_code == 302
    u = db.scalar(select(User).where(User.username == "hr_new"))
    assert u.role == "unit_hr" and u.unit_code == "U0202" and check_password_hash(u.password_hash, "secret-123")
    uid = u.id
    db.commit()
    login(web_app.test_client(), "hr_new", "secret-123")  # can sign in
    r = admin.post(f"/admin/users/{uid}", data={"role": "dept", "unit_code": "D02", "display_name": "调任"})
    assert r.status_code == 302
    db.expire_all()
    u = db.get(User, uid)
    assert (u.role, u.unit_code, u.display_name) == ("dept", "D02", "调任")
    db.commit()
    assert admin.post(f"/admin/users/{uid}/password", data={"password": "another-456"}).status_code == 302
    db.expire_all()
    assert check_password_hash(db.get(User, uid).password_hash, "another-456")
    db.commit()
    assert admin.post(f"/admin/users/{uid}/active", data={"active": "0"}).status_code == 302
    db.expire_all()
    assert db.get(User, uid).active is False
    db.commit()
    c = web_app.test_client()
    r = c.post("/login", data={"username": "hr_new", "password": "another-456"})
    assert r.status_code != 302  # a deactivated account cannot sign in
    assert admin.post(f"/admin/users/{uid}/active", data={"active": "1"}).status_code == 302
    login(web_app.test_client(), "hr_new", "another-456")  # active again


def test_users_bad_input_changes_nothing(admin, db):
    n = db.scalar(select(func.count()).select_from(User))
    admin_id = db.scalar(select(User.id).where(User.username == "admin"))
    hr = db.scalar(select(User).where(User.username == "hr_nky"))
    hr_id, hr_hash = hr.id, hr.password_hash
    db.commit()
    cases = [
        (
            {"username": "x", "display_name": "甲", "role": "unit_hr", "unit_code": "U0101", "password": "secret-123"},
            "用户名",
        ),
        (
            {
                "username": "hr_nky",
                "display_name": "甲",
                "role": "unit_hr",
                "unit_code": "U0101",
                "password": "secret-123",
            },
            "已存在",
        ),
        (
            {
                "username": "newone",
                "display_name": "甲",
                "role": "root",
                "unit_code": "U0101",
                "password": "secret-123",
            },
            "未知的角色",
        ),
        (
            {"username": "newone", "display_name": "甲", "role": "unit_hr", "unit_code": "", "password": "secret-123"},
            "须指定所属单位",
        ),
        (
            {
                "username": "newone",
                "display_name": "甲",
                "role": "unit_hr",
                "unit_code": "NOPE",
                "password": "secret-123",
            },
            "不存在",
        ),
        (
            {"username": "newone", "display_name": "甲", "role": "unit_hr", "unit_code": "U0101", "password": "short"},
            "密码长度",
        ),
        (
            {
                "username": "newone",
                "display_name": "甲",
                "role": "applicant",
                "unit_code": "",
                "password": "secret-123",
            },
            "身份证号",
        ),
    ]
    for form, msg in cases:
        r = admin.post("/admin/users", data=form)
        assert r.status_code in (409, 422), form
        assert msg in r.get_data(as_text=True), (form, msg)
    r = admin.post(f"/admin/users/{admin_id}/active", data={"active": "0"})
    assert r.status_code == 422 and "不能停用自己的账号" in r.get_data(as_text=True)
    r = admin.post(f"/admin/users/{admin_id}", data={"role": "hrss", "unit_code": "RS", "display_name": "x"})
    assert r.status_code == 422 and "不能取消自己的管理员角色" in r.get_data(as_text=True)
    r = admin.post(f"/admin/users/{hr_id}", data={"role": "dept", "unit_code": "U0101", "display_name": "x"})
    assert r.status_code == 422 and "主管部门" in r.get_data(as_text=True)
    r = admin.post(f"/admin/users/{hr_id}/password", data={"password": "1234"})
    assert r.status_code == 422
    assert admin.post("/admin/users/99999/active", data={"active": "0"}).status_code == 404
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(User)) == n
    hr = db.get(User, hr_id)
    assert (hr.role, hr.unit_code, hr.password_hash, hr.display_name) == (
        "unit_hr",
        "U0101",
        hr_hash,
        "王芳（农牧业科学院人事处）",
    )
    assert db.get(User, admin_id).active and db.get(User, admin_id).role == "admin"
    db.commit()


# -- units ---------------------------------------------------------------------------------------------------------


def test_units_add_with_parent_and_move(admin, db):
    r = admin.post(
        "/admin/units", data={"code": "D03", "name": "内蒙古自治区卫生健康委员会", "kind": "dept", "parent_code": ""}
    )
    assert r.status_code == 302
    r = admin.post(
        "/admin/units", data={"code": "U0301", "name": "内蒙古医科大学附属医院", "kind": "unit", "parent_code": "D03"}
    )
    assert r.status_code == 302
    db.expire_all()
    assert db.get(Unit, "U0301").parent_code == "D03"
    db.commit()
    page = admin.get("/admin/units").get_data(as_text=True)
    assert page.index("D03") < page.index("U0301")
    r = admin.post("/admin/units/U0301", data={"name": "内蒙古医科大学附属医院", "parent_code": "D02"})
    assert r.status_code == 302
    db.expire_all()
    assert db.get(Unit, "U0301").parent_code == "D02"
    db.commit()


def test_units_bad_input_changes_nothing(admin, db):
    n = db.scalar(select(func.count()).select_from(Unit))
    db.commit()
    for form, msg in [
        ({"code": "U0101", "name": "重复", "kind": "unit", "parent_code": "D01"}, "已存在"),
        ({"code": "U9", "name": "", "kind": "unit", "parent_code": "D01"}, "单位名称"),
        ({"code": "U9", "name": "无上级", "kind": "unit", "parent_code": ""}, "须指定主管部门"),
        ({"code": "U9", "name": "错上级", "kind": "unit", "parent_code": "U0101"}, "上级须为主管部门"),
        ({"code": "U9", "name": "无此上级", "kind": "unit", "parent_code": "ZZZ"}, "不存在"),
        ({"code": "坏 代码", "name": "x", "kind": "dept", "parent_code": ""}, "单位代码"),
        ({"code": "U9", "name": "x", "kind": "bogus", "parent_code": ""}, "类别"),
    ]:
        r = admin.post("/admin/units", data=form)
        assert r.status_code in (409, 422) and msg in r.get_data(as_text=True), (form, r.status_code)
    r = admin.post("/admin/units/D01", data={"name": "科技厅", "parent_code": "U0101"})  # a cycle
    assert r.status_code == 422 and "下级" in r.get_data(as_text=True)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Unit)) == n
    assert db.get(Unit, "D01").parent_code is None and db.get(Unit, "D01").name == "内蒙古自治区科学技术厅"
    db.commit()


# -- 编制 pools ------------------------------------------------------------------------------------------------------


def test_quota_adjust_with_note(admin, db):
    pool = db.scalar(select(QuotaPool).where(QuotaPool.kind == "talent_pool"))
    pid, total = pool.id, pool.total
    db.commit()
    page = admin.get("/admin/quota").get_data(as_text=True)
    assert "自治区人才专项编制" in page
    r = admin.post(
        f"/admin/quota/{pid}/adjust", data={"delta": "3", "note": "内编办〔2026〕12号"}, follow_redirects=True
    )
    assert r.status_code == 200 and f"总数 {total + 3}" in r.get_data(as_text=True)
    db.expire_all()
    assert db.get(QuotaPool, pid).total == total + 3
    mv = db.scalar(select(QuotaMovement).where(QuotaMovement.pool_id == pid, QuotaMovement.kind == "adjust"))
    assert mv.amount == 3 and mv.note == "内编办〔2026〕12号"
    db.commit()


def test_quota_bad_input_changes_nothing(admin, db):
    pool = db.scalar(select(QuotaPool).where(QuotaPool.unit_code == "U0102"))  # total 0
    pid = pool.id
    talent = db.scalar(select(QuotaPool).where(QuotaPool.kind == "talent_pool"))
    tid, ttotal = talent.id, talent.total
    db.commit()
    for pool_id, form, msg in [
        (tid, {"delta": "abc", "note": "x"}, "整数"),
        (tid, {"delta": "0", "note": "x"}, "不能为 0"),
        (tid, {"delta": "1", "note": "  "}, "调整依据"),
        (pid, {"delta": "-1", "note": "核减"}, "不能少于"),
    ]:
        r = admin.post(f"/admin/quota/{pool_id}/adjust", data=form)
        assert r.status_code == 422 and msg in r.get_data(as_text=True), form
    assert admin.post("/admin/quota/9999/adjust", data={"delta": "1", "note": "x"}).status_code == 404
    db.expire_all()
    assert db.get(QuotaPool, tid).total == ttotal and db.get(QuotaPool, pid).total == 0
    assert db.scalar(select(func.count()).select_from(QuotaMovement).where(QuotaMovement.kind == "adjust")) == 0
    db.commit()


def test_quota_pool_for_a_new_unit(admin, db):
    admin.post("/admin/units", data={"code": "U0203", "name": "内蒙古师范大学", "kind": "unit", "parent_code": "D02"})
    assert "U0203" in admin.get("/admin/quota").get_data(as_text=True)
    assert admin.post("/admin/quota", data={"unit_code": "U0203", "total": "4"}).status_code == 302
    assert admin.post("/admin/quota", data={"unit_code": "U0203", "total": "4"}).status_code == 409
    assert admin.post("/admin/quota", data={"unit_code": "U0101", "total": "-1"}).status_code in (409, 422)
    db.expire_all()
    assert db.scalar(select(QuotaPool.total).where(QuotaPool.unit_code == "U0203")) == 4
    db.commit()


# -- holidays ------------------------------------------------------------------------------------------------------

CSV_2027 = """date,is_working_day,name
2027-01-01,0,元旦
2027-02-06,0,春节
2027-02-07,0,春节
2027-02-08,0,春节
2027-02-14,1,春节调休上班
2027-10-01,0,国庆节
"""


def _upload(admin, content: bytes, filename: str, year: int):
    return admin.post(
        "/admin/holidays/import",
        data={"year": str(year), "file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def test_holiday_import_csv_replaces_the_year(admin, db):
    db.add(Holiday(day=date(2027, 5, 1), is_working_day=False, name="旧数据"))
    db.add(Holiday(day=date(2026, 5, 1), is_working_day=False, name="劳动节"))
    db.commit()
    r = _upload(admin, CSV_2027.encode("utf-8"), "2027.csv", 2027)
    assert r.status_code == 302, r.get_data(as_text=True)
    db.expire_all()
    rows = db.scalars(select(Holiday).where(Holiday.day >= date(2027, 1, 1)).order_by(Holiday.day)).all()
    assert [(h.day.isoformat(), h.is_working_day) for h in rows] == [
        ("2027-01-01", False),
        ("2027-02-06", False),
        ("2027-02-07", False),
        ("2027-02-08", False),
        ("2027-02-14", True),
        ("2027-10-01", False),
    ]
    assert db.get(Holiday, date(2026, 5, 1)) is not None  # other years untouched
    db.commit()
    page = admin.get("/admin/holidays?year=2027").get_data(as_text=True)
    assert "春节调休上班" in page and "2027" in page and "旧数据" not in page
    # the legal calendar follows the table
    from workflows.services.settings import load_calendar

    cal = load_calendar(db)
    db.commit()
    assert not cal.is_working_day(date(2027, 2, 8)) and cal.is_working_day(date(2027, 2, 14))


def test_holiday_import_json(admin, db):
    data = [
        {"date": "2027-01-01", "is_working_day": False, "name": "元旦"},
        {"date": "2027-02-14", "is_working_day": True, "name": "调休"},
    ]
    r = _upload(admin, json.dumps(data, ensure_ascii=False).encode("utf-8"), "h.json", 2027)
    assert r.status_code == 302
    assert holidays_svc.holiday_years(db)[2027] == {"total": 2, "off": 1, "work": 1}
    db.commit()


@pytest.mark.parametrize(
    "content,msg",
    [
        ("2027-01-01,0,元旦\n2027-13-01,0,坏日期\n", "格式应为"),
        ("2027-01-01,0,元旦\n2028-01-01,0,元旦\n", "不属于 2027 年"),
        ("2027-01-01,maybe,元旦\n", "is_working_day"),
        ("2027-01-01,0,元旦\n2027-01-01,0,元旦\n", "重复"),
        ("2027-01-04,1,周一上班\n", "本是工作日"),
        ("date,is_working_day,name\n", "没有日期"),
        ("[1, 2]", "不是对象"),
    ],
)
def test_holiday_import_bad_file_changes_nothing(admin, db, content, msg):
    db.add(Holiday(day=date(2027, 5, 1), is_working_day=False, name="劳动节"))
    db.commit()
    before = [(h.day, h.name) for h in db.scalars(select(Holiday).order_by(Holiday.day))]
    db.commit()
    r = _upload(admin, content.encode("utf-8"), "x.csv", 2027)
    assert r.status_code == 422 and msg in r.get_data(as_text=True)
    db.expire_all()
    assert [(h.day, h.name) for h in db.scalars(select(Holiday).order_by(Holiday.day))] == before
    assert (date(2027, 5, 1), "劳动节") in before
    db.commit()


def test_holiday_page_shows_known_years(admin, db):
    from sqlalchemy import delete

    db.execute(delete(Holiday).where(Holiday.day >= date(2027, 1, 1)))
    db.add(Holiday(day=date(2026, 10, 1), is_working_day=False, name="国庆节"))
    db.commit()
    page = admin.get("/admin/holidays").get_data(as_text=True)
    assert "2026" in page and "尚未导入 2027 年安排" in page
    db.add(Holiday(day=date(2027, 1, 1), is_working_day=False, name="元旦"))
    db.commit()
    page = admin.get("/admin/holidays").get_data(as_text=True)
    assert "2027 年仅 1 条" in page


# -- parameters ----------------------------------------------------------------------------------------------------


def test_params_save_and_new_cases_use_them(admin, db):
    page = admin.get("/admin/params").get_data(as_text=True)
    assert "容缺补正期限" in page and "公示期" in page and "特设岗位聘期上限" in page
    r = admin.post(
        "/admin/params",
        data={
            "rongque_days": "20",
            "publicity_days": "7",
            "special_post_term_cap": "48",
            "special_post_term_mode": "cap",
            "vote_quorum": "3/4",
            "vote_threshold": "2/3",
        },
    )
    assert r.status_code == 302
    from workflows.services.settings import get_params

    db.expire_all()
    p = get_params(db)
    assert (p["rongque_days"], p["publicity_days"], p["special_post_term_cap"], p["special_post_term_mode"]) == (
        20,
        7,
        48,
        "cap",
    )
    assert (p["vote_quorum"], p["vote_threshold"]) == ("3/4", "2/3")  # R9: the committee's quorum and threshold
    db.commit()


@pytest.mark.parametrize(
    "form,msg",
    [
        ({"rongque_days": "abc"}, "须为正整数"),
        ({"publicity_days": "0"}, "1–3650"),
        ({"special_post_term_cap": "-5"}, "1–3650"),
        ({"special_post_term_mode": "ignore"}, "refuse 或 cap"),
        ({"rongque_days": "15", "special_post_term_mode": "ignore"}, "refuse 或 cap"),
        ({"vote_threshold": "3/2"}, "须在 0 与 1 之间"),
        ({"vote_quorum": "三分之二"}, "须写成分数"),
    ],
)
def test_params_bad_input_changes_nothing(admin, db, form, msg):
    from workflows.services.settings import get_params

    before = get_params(db)
    db.commit()
    r = admin.post("/admin/params", data=form)
    assert r.status_code == 422 and msg in r.get_data(as_text=True)
    db.expire_all()
    assert get_params(db) == before
    assert db.scalar(select(func.count()).select_from(Setting).where(Setting.key == "rongque_days")) == 0
    db.commit()


# -- in a real browser (Debian's Chromium through Playwright; skipped where either is missing) -------------------


def test_modeler_in_browser_edit_condition_error_marker_then_save(tmp_path, demo_db_template):
    """Edit a gateway condition through the 运行属性 form, see the 422 marked on the flow, fix it, save a draft."""
    import os
    import threading
    from pathlib import Path

    from tests.web.conftest import make_web_app

    chromium = os.environ.get("CHROMIUM_PATH", "/usr/lib/chromium/chromium")
    if not os.path.exists(chromium):
        pytest.skip("Chromium not installed (apt-get install chromium)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    from werkzeug.serving import make_server

    app = make_web_app(tmp_path, demo_db_template, WTF_CSRF_ENABLED=True, SECRET_KEY="browser")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    out = Path(__file__).resolve().parents[2] / "test-output" / "admin"
    out.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    failure: list[BaseException] = []

    def drive():
        try:
            _drive()
        except BaseException as e:  # re-raised in the test's thread
            failure.append(e)

    def _drive():
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                ],
            )
            page = browser.new_page(viewport={"width": 1440, "height": 1000}, locale="zh-CN")
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "console",
                lambda m: (
                    errors.append(m.text)
                    if m.type == "error" and "422" not in m.text and "favicon" not in m.text and "404" not in m.text
                    else None
                ),
            )
            page.goto(url + "/login")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", "lvse-2026")
            page.click("button[type=submit]")
            page.goto(url + f"/admin/processes/{REG}/edit")
            page.wait_for_selector("body[data-modeler-ready='1']", timeout=30000)
            select_js = (
                "id => { const m = window.adminModeler; m.get('selection').select(m.get('elementRegistry').get(id)); }"
            )
            page.evaluate(select_js, FLOW)
            cond = page.locator("#run-props textarea[data-field=condition]")
            assert cond.input_value() == OLD_COND
            cond.fill("unit_decision == = 'approve'")
            cond.press("Tab")
            page.click("#btn-save")
            page.wait_for_selector(".error-overlay", timeout=15000)
            assert page.evaluate(f"() => window.adminModeler.get('canvas').hasMarker('{FLOW}', 'has-error')")
            assert "条件表达式不合法" in page.text_content("#error-items")
            page.screenshot(path=str(out / "test-error-marker.png"))
            with app.app_context():
                assert [v for v, st in versions_of(app.extensions["db_factory"]()) if st == "draft"] == []
            cond = page.locator("#run-props textarea[data-field=condition]")
            cond.fill(NEW_COND)
            cond.press("Tab")
            page.evaluate(select_js, "Task_unit_review")
            due = page.locator("#run-props input[data-field=dueWorkingDays]")
            due.fill("7")
            due.press("Tab")
            page.click("#btn-save")
            page.wait_for_function(
                "() => document.querySelector('#save-status').classList.contains('ok')", timeout=15000
            )
            assert page.locator(".error-overlay").count() == 0
            page.screenshot(path=str(out / "test-saved.png"))
            browser.close()

    # Its own thread: the Sync API refuses to start where another Playwright (tests/browser) holds an event loop.
    try:
        t = threading.Thread(target=drive, name="admin-browser")
        t.start()
        t.join(180)
    finally:
        server.shutdown()
    if failure:
        raise failure[0]
    s = app.extensions["db_factory"]()
    draft = s.scalar(
        select(ProcessDefinition).where(ProcessDefinition.process_id == REG, ProcessDefinition.status == "draft")
    )
    xml = versions_svc.main_bpmn(draft)[1]
    s.close()
    app.extensions["db_engine"].dispose()
    assert "unit_decision in (&#39;approve&#39;,)" in xml or NEW_COND in xml
    assert 'name="dueWorkingDays" value="7"' in xml
    assert errors == []
