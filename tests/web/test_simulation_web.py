"""The 模拟 page and API: a draft replayed against the demo's finished cases, the options refused in Chinese."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.web.conftest import bearer, signed_in
from tests.web.test_admin import REG, bundled_xml, save
from workflows.domain.models import Case, CaseEvent, ProcessDefinition

STRICTER = bundled_xml().replace(
    ">eligibility_ok</bpmn:conditionExpression>",
    ">eligibility_ok and talent_category &lt;= 2</bpmn:conditionExpression>",
)


@pytest.fixture
def admin(web_app):
    return signed_in(web_app, "admin")


def _draft(admin) -> int:
    r = save(admin, STRICTER)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()["version"]


def _fingerprint(web_app) -> tuple:
    s = web_app.extensions["db_factory"]()
    try:
        return (
            s.scalar(select(func.count()).select_from(CaseEvent)),
            s.scalar(select(func.coalesce(func.sum(Case.version), 0))),
            s.scalar(select(func.count()).select_from(ProcessDefinition)),
        )
    finally:
        s.close()


def test_a_draft_is_simulated_from_the_versions_page(web_app, admin):
    version = _draft(admin)
    page = admin.get(f"/admin/processes/{REG}").get_data(as_text=True)
    link = f"/admin/processes/{REG}/versions/{version}/simulation"
    assert link in page and "模拟" in page
    before = _fingerprint(web_app)
    r = admin.get(link + "?limit=50&running=1")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert 'data-testid="simulation-summary"' in html and "共回放" in html
    # the demo's completed category-3 case would now be refused at intake: was → would be, where, which steps
    assert 'data-verdict="different"' in html
    assert "关闭办件（不符合条件）" in html and "自「符合绿色通道条件？」之后分岔" in html and "不再经过：" in html
    english = admin.get(link + "?lang=en").get_data(as_text=True)
    assert "Different outcome" in english and "Path difference" in english
    assert _fingerprint(web_app) == before  # nothing written


def test_the_api_gives_the_same_report_and_refuses_bad_options(web_app, admin):
    version = _draft(admin)
    s = web_app.extensions["db_factory"]()
    def_id = s.scalar(
        select(ProcessDefinition.id).where(ProcessDefinition.process_id == REG, ProcessDefinition.version == version)
    )
    s.close()
    auth = bearer(web_app, "admin")
    c = web_app.test_client()
    r = c.get(f"/api/v1/definitions/{def_id}/simulation?include_running=1", headers=auth)
    assert r.status_code == 200
    body = r.get_json()
    assert body["version"] == version and body["definition_status"] == "draft"
    assert sum(body["counts"].values()) == len(body["cases"])
    for case in body["cases"]:
        if case["verdict"] == "different":  # a category-3 case refused at intake by the stricter condition
            assert case["would_be"]["status"] == "not_accepted"
    assert c.get(f"/api/v1/definitions/{def_id}/simulation?limit=0", headers=auth).status_code == 422
    assert c.get("/api/v1/definitions/999999/simulation", headers=auth).status_code == 404
    assert c.get(f"/api/v1/definitions/{def_id}/simulation", headers=bearer(web_app, "renshe")).status_code == 403
    page = admin.get(f"/admin/processes/{REG}/versions/{version}/simulation?limit=9999")
    assert page.status_code == 422 and "模拟的办件数须为" in page.get_data(as_text=True)
