"""Decision tables in the administrator console and the API: the dmn-js page, save a draft (a bad cell refused with
its id), publish, the processes' new versions, compare, roll back. Flask test client on a real SQLite file."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.test_decisions import CATEGORY7_RULE, with_category7
from tests.web.conftest import bearer, signed_in
from workflows.domain.models import DecisionDefinition, ProcessDefinition

TABLE = "talent_eligibility"
REG = "green_channel_registration"


@pytest.fixture
def admin(web_app):
    return signed_in(web_app, "admin")


def table_versions(db) -> list[tuple[int, str]]:
    db.expire_all()
    out = [(r.version, r.status) for r in db.scalars(select(DecisionDefinition).order_by(DecisionDefinition.version))]
    db.commit()
    return out


def published_xml(admin) -> str:
    return admin.get(f"/admin/decisions/{TABLE}/versions/1/dmn").get_data(as_text=True)


def test_the_processes_page_links_to_the_tables_and_the_editor_loads_dmn_js(admin):
    assert "/admin/decisions" in admin.get("/admin/processes").get_data(as_text=True)
    page = admin.get("/admin/decisions").get_data(as_text=True)
    assert "人才类别与通道资格" in page and f"/admin/decisions/{TABLE}/edit" in page
    r = admin.get(f"/admin/decisions/{TABLE}/edit")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "/vendor/dmn-js/dist/dmn-modeler.production.min.js" in html and "js/admin-dmn.js" in html
    inline = [m for m in re.findall(r"<script([^>]*)>", html) if "src=" not in m]
    assert inline == [' type="application/json" id="admin-dmn-config"']
    for asset in (
        "/vendor/dmn-js/dist/dmn-modeler.production.min.js",
        "/vendor/dmn-js/dist/assets/dmn-js-decision-table.css",
        "/vendor/dmn-js/dist/assets/dmn-font/css/dmn.css",
        "/static/js/admin-dmn.js",
    ):
        assert admin.get(asset).status_code == 200, asset
    dmn = admin.get(f"/admin/decisions/{TABLE}/versions/1/dmn?download=1")
    assert dmn.headers["Content-Disposition"] == f'attachment; filename="{TABLE}-v1.dmn"'
    assert '<decision id="talent_eligibility"' in dmn.get_data(as_text=True)


def test_save_refuses_a_bad_cell_naming_it_then_stores_a_draft_and_publishes(admin, db):
    xml = published_xml(admin)
    bad = with_category7(xml).replace("<text>? == 7</text>", "<text>[7..7]</text>", 1)
    r = admin.post(f"/admin/decisions/{TABLE}/draft", json={"xml": bad})
    assert r.status_code == 422
    body = r.get_json()
    assert body["message"].startswith("决策表未通过校验")
    [err] = body["errors"]
    assert err["element_id"] == "InputEntry_12_2" and "「人才类别」输入列单元格" in err["message"]
    assert table_versions(db) == [(1, "published")]
    assert admin.post(f"/admin/decisions/{TABLE}/draft", json={}).status_code == 422
    assert admin.post("/admin/decisions/nope/draft", json={"xml": xml}).status_code == 404

    r = admin.post(f"/admin/decisions/{TABLE}/draft", json={"xml": with_category7(xml)})
    assert r.status_code == 200 and r.get_json()["message"] == "已保存为草稿 v2"
    assert table_versions(db) == [(1, "published"), (2, "draft")]
    same = admin.post(f"/admin/decisions/{TABLE}/draft", json={"xml": xml}).get_json()
    assert same["changed"] is False and "v1" in same["message"]

    r = admin.post(
        f"/admin/decisions/{TABLE}/versions/2/publish", data={"note": "类别 7 可申请"}, follow_redirects=True
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "已发布决策表 v2" in page and f"{REG} v2" in page
    assert table_versions(db) == [(1, "retired"), (2, "published")]
    reg = db.scalar(
        select(ProcessDefinition).where(ProcessDefinition.process_id == REG, ProcessDefinition.status == "published")
    )
    assert reg.version == 2 and "Rule_12" in reg.source["dmn"]["talent_eligibility.dmn"]
    db.commit()
    versions_page = admin.get(f"/admin/decisions/{TABLE}").get_data(as_text=True)
    assert "使用决策表 v2" in versions_page

    cmp = admin.get(f"/admin/decisions/{TABLE}/compare?a=1&b=2").get_data(as_text=True)
    assert 'data-element-id="Rule_12"' in cmp and "? == 7" in cmp and "新增 1" in cmp

    r = admin.post(f"/admin/decisions/{TABLE}/versions/1/publish", data={"note": "回滚"}, follow_redirects=True)
    assert "已回滚到决策表 v1" in r.get_data(as_text=True)
    assert table_versions(db) == [(1, "published"), (2, "retired")]
    # publishing the published one again is refused on the page, nothing changed
    r = admin.post(f"/admin/decisions/{TABLE}/versions/1/publish")
    assert r.status_code == 409 and "已是当前发布版本" in r.get_data(as_text=True)


def test_discard_a_draft(admin, db):
    admin.post(f"/admin/decisions/{TABLE}/draft", json={"xml": with_category7(published_xml(admin))})
    assert admin.post(f"/admin/decisions/{TABLE}/draft/discard").status_code == 302
    assert table_versions(db) == [(1, "published")]
    assert admin.post(f"/admin/decisions/{TABLE}/draft/discard").status_code == 404


def test_officers_cannot_reach_the_tables(web_app):
    hr = signed_in(web_app, "renshe")
    assert hr.get("/admin/decisions").status_code == 403
    assert hr.post(f"/admin/decisions/{TABLE}/draft", json={"xml": "x"}).status_code == 403


def test_api_draft_publish_compare(api_app, dbs):
    c = api_app.test_client()
    h = bearer(api_app, "admin")
    listed = c.get("/api/v1/decisions", headers=h).get_json()["items"]
    assert listed[0]["decision_id"] == TABLE and listed[0]["published_version"] == 1
    assert {p["process_id"] for p in listed[0]["processes"]} >= {REG}
    xml = c.get(f"/api/v1/decisions/{TABLE}/versions/1/xml", headers=h).get_data(as_text=True)

    bad = c.post(
        f"/api/v1/decisions/{TABLE}/draft",
        headers=h,
        json={"dmn_xml": xml.replace("<text>True</text>", "<text>True +</text>", 1)},
    )
    assert bad.status_code == 422
    assert bad.get_json()["error"]["details"]["errors"][0]["element_id"] == "OutputEntry_1_0"

    r = c.post(f"/api/v1/decisions/{TABLE}/draft", headers=h, json={"dmn_xml": with_category7(xml)})
    assert r.status_code == 201 and r.get_json()["status"] == "draft" and r.get_json()["version"] == 2
    r = c.post(f"/api/v1/decisions/{TABLE}/versions/2/publish", headers=h, json={"note": "类别 7 可申请"})
    assert r.status_code == 200
    assert {p["process_id"] for p in r.get_json()["processes"]} == {
        "green_channel_registration",
        "senior_title_direct",
        "senior_post_level2",
    }
    assert c.post(f"/api/v1/decisions/{TABLE}/versions/2/publish", headers=h, json={"note": "再发"}).status_code == 409
    diff = c.get(f"/api/v1/decisions/{TABLE}/compare?a=1&b=2", headers=h).get_json()
    added = [x for x in diff["changes"] if x["change"] == "added"]
    assert [x["element_id"] for x in added] == ["Rule_12"]
    versions = c.get(f"/api/v1/decisions/{TABLE}/versions", headers=h).get_json()["items"]
    assert [(v["version"], v["status"]) for v in versions] == [(2, "published"), (1, "retired")]
    # officers are refused
    assert c.get("/api/v1/decisions", headers=bearer(api_app, "renshe")).status_code == 403
    assert "Rule_12" in CATEGORY7_RULE


def test_a_database_from_before_decision_versions_registers_its_table_on_first_visit(admin, db):
    from sqlalchemy import delete

    db.execute(delete(DecisionDefinition))
    db.commit()
    page = admin.get("/admin/decisions").get_data(as_text=True)
    assert f'data-decision="{TABLE}"' in page
    assert table_versions(db) == [(1, "published")]
