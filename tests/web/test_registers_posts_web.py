"""The posts/编制 and achievements registers' pages and API (issue 12 item 7): administrators keep both, 编办 reads
the posts register and adjusts 编制, applicants choose from the achievements the register has active."""

from __future__ import annotations

import io

from sqlalchemy import select

from tests.web.conftest import signed_in
from tests.web.test_api import Api, assert_error
from workflows.domain.models import AdminEvent, QuotaPool, UnitPost


def text(r) -> str:
    return r.get_data(as_text=True)


def test_demo_posts_register_shows_establishment_posts_vacancies_and_their_trail(web_app):
    page = text(signed_in(web_app, "admin").get("/admin/registers/posts"))
    assert 'data-testid="establishment-U0101"' in page and 'data-testid="posts-U0201"' in page
    assert "专业技术四级" in page and "内人社函〔2026〕8号 核增专业技术四级岗位1个" in page  # the demo's adjustment
    assert "核定 8 → 9" in page  # before → after in the trail
    one = text(signed_in(web_app, "admin").get("/admin/registers/posts?unit=U0102"))
    assert 'data-unit="U0102"' in one and 'data-unit="U0101"' not in one


def test_admin_adjusts_a_level_and_a_refusal_changes_nothing(web_app, db):
    admin = signed_in(web_app, "admin")
    form = {"unit_code": "U0201", "level": "专业技术七级", "approved": "62", "filled": "57", "basis": ""}
    r = admin.post("/admin/registers/posts", data=form)
    assert r.status_code == 422 and "请填写调整依据" in text(r)
    r = admin.post("/admin/registers/posts", data={**form, "level": "首席科学家", "basis": "x"})
    assert r.status_code == 422 and "不在岗位等级表中" in text(r)
    r = admin.post("/admin/registers/posts", data={**form, "basis": "内人社函〔2026〕30号"})
    assert r.status_code == 303 and r.headers["Location"].endswith("#unit-U0201")
    row = db.scalar(select(UnitPost).where(UnitPost.unit_code == "U0201", UnitPost.level == "专业技术七级"))
    ev = db.scalar(select(AdminEvent).where(AdminEvent.target == f"post:{row.id}").order_by(AdminEvent.seq.desc()))
    db.commit()
    assert (row.approved, row.filled) == (62, 57)
    assert (ev.actor, ev.payload["before"], ev.payload["after"], ev.payload["basis"]) == (
        "admin",
        {"approved": 60, "filled": 57},
        {"approved": 62, "filled": 57},
        "内人社函〔2026〕30号",
    )


def test_bianban_sees_the_register_and_adjusts_establishment_only(web_app, db):
    bb = signed_in(web_app, "bianban")
    page = text(bb.get("/admin/registers/posts"))
    assert 'data-testid="establishment-U0101"' in page and 'data-testid="add-post"' not in page
    assert "admin-tabs" not in page  # not the administrators' console
    pool = db.scalar(select(QuotaPool).where(QuotaPool.unit_code == "U0202"))
    total, used = pool.total, pool.used
    db.commit()
    r = bb.post(
        "/admin/registers/posts/establishment",
        data={"unit_code": "U0202", "approved": str(total + 3), "filled": str(used), "basis": "内编办发〔2026〕6号"},
    )
    assert r.status_code == 303
    db.expire_all()
    assert db.scalar(select(QuotaPool.total).where(QuotaPool.unit_code == "U0202")) == total + 3
    db.commit()
    assert bb.post("/admin/registers/posts", data={"unit_code": "U0202"}).status_code == 403
    bad = "单位代码,岗位类别,岗位等级,核定数,实有数,依据文件\nU0202,专业技术岗位,专业技术八级,20,13,x\n"
    r = bb.post(
        "/admin/registers/posts/import",
        data={"file": (io.BytesIO(bad.encode()), "p.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 422 and "第 2 行：编办只能导入编制行" in text(r)
    assert bb.get("/admin/registers/posts/template.csv").data.decode("utf-8-sig").startswith("单位代码,岗位类别")


def test_api_posts_and_establishment(web_app):
    rows = Api(web_app, "renshe").get("/registers/posts?unit=U0101").json["items"]
    assert rows[0]["unit_code"] == "U0101" and rows[0]["establishment"]["approved"] >= 0
    four = next(p for p in rows[0]["posts"] if p["level"] == "专业技术四级")
    assert (four["approved"], four["filled"], four["vacant"]) == (9, 7, 2)
    admin = Api(web_app, "admin")
    body = {"unit_code": "U0101", "level": "专技4级", "approved": 9, "filled": 8, "basis": "新聘1人"}
    r = admin.post("/registers/posts", json_body=body)
    assert r.status_code == 200 and (r.json["level"], r.json["vacant"]) == ("专业技术四级", 1)
    assert_error(admin.post("/registers/posts", json_body={**body, "filled": -1}), 422)
    assert_error(Api(web_app, "bianban").post("/registers/posts", json_body=body), 403)
    r = Api(web_app, "bianban").post(
        "/registers/establishment", json_body={"unit_code": "U0101", "approved": 0, "filled": 0, "basis": "x"}
    )
    assert r.status_code in (200, 422)  # 422 when running 列编 cases hold places (never below them)


def test_an_achievement_added_by_the_admin_is_offered_on_the_form_and_by_the_api(web_app, db):
    admin = signed_in(web_app, "admin")
    page = text(admin.get("/admin/registers/achievements"))
    assert "突破关键核心技术" in page and 'data-state="ended"' in page and "国家科学技术进步奖" in page
    form = {
        "name": "全国创新争先奖",
        "category": "key_core_technology",
        "level": "国家级",
        "source_document": "内人社发〔2026〕11号",
        "active_from": "2026-01-01",
    }
    r = admin.post("/admin/registers/achievements", data={**form, "active_to": "2025-01-01"})
    assert r.status_code == 422 and "截止日期不能早于生效日期" in text(r)
    assert admin.post("/admin/registers/achievements", data=form).status_code == 303
    apply_page = text(signed_in(web_app, "zhangwei").get("/my/new/senior_title_direct"))
    assert "全国创新争先奖" in apply_page and "自治区重大科技专项验收优秀" not in apply_page  # ended: not offered
    items = Api(web_app, "zhangwei").get("/registers/achievements?per_page=100").json["items"]
    entry = next(i for i in items if i["name"] == "全国创新争先奖")
    assert entry["active"] and entry["category"] == "key_core_technology"
    r = Api(web_app, "admin").post(
        f"/registers/achievements/{entry['id']}/end", json_body={"active_to": "2026-02-28", "basis": "目录调整"}
    )
    assert r.status_code == 200 and r.json["active"] is False
    assert "全国创新争先奖" not in text(signed_in(web_app, "zhangwei").get("/my/new/senior_title_direct"))
    assert_error(Api(web_app, "zhangwei").post("/registers/achievements", json_body=form), 403)
    r = Api(web_app, "admin").post("/registers/achievements", json_body={**form, "name": "另一个奖项", "code": "x1"})
    assert r.status_code == 201 and r.json["code"] == "x1"
    assert_error(Api(web_app, "admin").post("/registers/achievements", json_body={**form, "name": "另一个奖项"}), 409)


def test_achievements_csv_import_refused_by_line_then_accepted(web_app):
    admin = signed_in(web_app, "admin")
    head = "名称,类别,级别,依据文件,生效日期,截止日期,代码\n"
    bad = head + "草原生态奖,其他,,内人社发〔2026〕5号,2026-01-01,,\n" + "无依据,重大基础研究成果,,,2026-01-01,,\n"
    r = admin.post(
        "/admin/registers/achievements/import",
        data={"file": (io.BytesIO(bad.encode()), "a.csv")},
        content_type="multipart/form-data",
    )
    page = text(r)
    assert r.status_code == 422 and "第 2 行：成果类别须为" in page and "第 3 行：请填写依据文件" in page
    good = head + "草原生态奖,重大基础研究成果,自治区级,内人社发〔2026〕5号,2026-01-01,,\n"
    r = admin.post(
        "/admin/registers/achievements/import",
        data={"file": (io.BytesIO(good.encode()), "a.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "已导入 1 个目录条目" in text(r) and "草原生态奖" in text(r)


def test_a_quota_page_adjustment_is_in_the_establishment_trail_too(web_app, db):
    """/admin/quota and the posts register keep one ledger: an adjustment on either page is one trail."""
    pool = db.scalar(select(QuotaPool).where(QuotaPool.unit_code == "U0202"))
    pool_id, total = pool.id, pool.total
    db.commit()
    admin = signed_in(web_app, "admin")
    assert admin.post(
        f"/admin/quota/{pool_id}/adjust", data={"delta": "2", "note": "内编办发〔2026〕7号"}
    ).status_code in (
        302,
        303,
    )
    ev = db.scalar(select(AdminEvent).where(AdminEvent.target == "establishment:U0202").order_by(AdminEvent.seq.desc()))
    db.commit()
    assert (ev.action, ev.actor, ev.payload["before"]["approved"], ev.payload["after"]["approved"]) == (
        "establishment_adjust",
        "admin",
        total,
        total + 2,
    )
    page = text(admin.get("/admin/registers/posts?unit=U0202"))
    assert "内编办发〔2026〕7号" in page and f"核定 {total} → {total + 2}" in page
