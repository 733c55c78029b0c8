"""The registers' pages and API (R3, R10) as an administrator uses them; nobody else may."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from tests.web.conftest import bearer, signed_in
from workflows.domain.models import AdminEvent, BreachRecord, CreditRecord

LI = "150102198506065125"


@pytest.fixture
def admin(web_app):
    return signed_in(web_app, "admin")


def test_demo_registers_are_populated_and_shown_with_their_state(admin):
    page = admin.get("/admin/registers/credit").get_data(as_text=True)
    assert "钱某" in page and "内科发〔2025〕8号" in page and 'data-state="active"' in page  # barred now
    assert "孔某" in page and "弄虚作假撤销职称" in page  # title revoked within three years
    assert "冯某" in page and 'data-state="ended"' in page  # the bar has ended
    page = admin.get("/admin/registers/breach").get_data(as_text=True)
    assert 'data-state="active"' in page and 'data-state="lifted"' in page
    assert "经审核予以信用修复" in page


def test_search_and_empty_result(admin):
    page = admin.get("/admin/registers/credit?q=孔某").get_data(as_text=True)
    assert "孔某" in page and "钱某" not in page
    page = admin.get("/admin/registers/credit?q=nobody").get_data(as_text=True)
    assert "没有符合条件的记录" in page
    assert admin.get("/admin/registers/credit?page=99999999999999999999").status_code == 200  # the first page
    assert admin.get("/admin/registers/credit?q=%00").status_code == 400  # a NUL byte: a clear refusal, never a 500


def test_add_listing_through_the_form_and_refusal_changes_nothing(admin, db):
    form = {
        "name": "李某",
        "id_number": LI,
        "kind": "misconduct",
        "listed_on": "2026-02-01",
        "until": "",
        "source_document": "内科发〔2026〕3号",
        "note": "经费违规",
    }
    r = admin.post("/admin/registers/credit", data={**form, "id_number": LI[:-1] + "6"})
    assert r.status_code == 422 and "校验位不正确" in r.get_data(as_text=True)
    assert db.scalar(select(CreditRecord).where(CreditRecord.name == "李某")) is None
    db.commit()
    r = admin.post("/admin/registers/credit", data=form, follow_redirects=True)
    assert r.status_code == 200 and "已将 李某 列入名单" in r.get_data(as_text=True)
    db.commit()
    rec = db.scalar(select(CreditRecord).where(CreditRecord.name == "李某"))
    assert rec.source_document == "内科发〔2026〕3号" and rec.created_by == "admin"
    ev = db.scalar(select(AdminEvent).where(AdminEvent.target == f"credit:{rec.id}"))
    assert ev.action == "credit_create" and ev.actor == "admin"


def test_csv_import_lists_line_errors_then_imports(admin, db):
    head = "身份证号,姓名,类别,列入日期,惩戒截止日期,依据文件,事由\n"
    bad = head + f"{LI},李某,科研失信,2026-02-30,,内科发〔2026〕3号,\n"
    r = admin.post(
        "/admin/registers/credit/import",
        data={"file": (io.BytesIO(bad.encode()), "c.csv")},
        content_type="multipart/form-data",
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "第 2 行" in page and "列入日期格式不正确" in page
    good = head + f"{LI},李某,科研失信,2026-02-01,,内科发〔2026〕3号,\n"
    r = admin.post(
        "/admin/registers/credit/import",
        data={"file": (io.BytesIO(good.encode()), "c.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "已导入 1 条记录" in r.get_data(as_text=True)
    tpl = admin.get("/admin/registers/credit/template.csv")
    assert tpl.mimetype == "text/csv" and "身份证号,姓名,类别" in tpl.get_data(as_text=True)


def test_lift_a_breach_with_reason(admin, db):
    rec = db.scalar(select(BreachRecord).where(BreachRecord.lifted_on.is_(None)))
    db.commit()
    r = admin.post(f"/admin/registers/breach/{rec.id}/lift", data={"lifted_on": "2026-03-02", "reason": ""})
    assert r.status_code == 422 and "请填写修复理由" in r.get_data(as_text=True)
    r = admin.post(
        f"/admin/registers/breach/{rec.id}/lift",
        data={"lifted_on": "2026-03-02", "reason": "已补齐材料"},
        follow_redirects=True,
    )
    assert "已信用修复" in r.get_data(as_text=True)
    db.commit()
    db.expire_all()
    assert db.get(BreachRecord, rec.id).lifted_by == "admin"
    assert admin.post("/admin/registers/breach/99999999999/lift", data={"reason": "x"}).status_code == 404


@pytest.mark.parametrize("who", ["hr_nky", "renshe", "zhangwei"])
def test_only_administrators_reach_the_registers(web_app, who):
    c = signed_in(web_app, who)
    for url in ("/admin/registers/credit", "/admin/registers/breach"):
        assert c.get(url).status_code == 403
    assert c.post("/admin/registers/credit", data={"name": "x"}).status_code == 403
    r = c.get("/api/v1/registers/credit", headers=bearer(web_app, who))
    assert r.status_code == 403


def test_api_lists_adds_and_lifts(web_app):
    auth = bearer(web_app, "admin")
    c = web_app.test_client()
    r = c.get("/api/v1/registers/credit?q=钱某", headers=auth)
    assert r.status_code == 200 and r.json["total"] == 1
    (item,) = r.json["items"]
    assert item["active"] is True and item["source_document"] == "内科发〔2025〕8号"
    body = {"id_number": LI, "name": "李某", "kind": "title_revoked", "listed_on": "2025-01-10", "source_document": "X"}
    r = c.post("/api/v1/registers/credit", json=body, headers=auth)
    assert r.status_code == 201 and r.json["bar_ends_on"] == "2028-01-10"
    assert c.post("/api/v1/registers/credit", json=body, headers=auth).status_code == 409
    r = c.post("/api/v1/registers/credit", json={**body, "listed_on": "soon"}, headers=auth)
    assert r.status_code == 422 and r.json["error"]["code"] == "validation_failed"
    r = c.get("/api/v1/registers/breach", headers=auth)
    active = [i for i in r.json["items"] if i["active"]]
    r = c.post(f"/api/v1/registers/breach/{active[0]['id']}/lift", json={"reason": "已补齐"}, headers=auth)
    assert r.status_code == 200 and r.json["lifted_on"] == "2026-03-02" and r.json["active"] is False
    r = c.post(f"/api/v1/registers/breach/{active[0]['id']}/lift", json={"reason": "again"}, headers=auth)
    assert r.status_code == 409
