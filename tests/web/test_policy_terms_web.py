"""Issue 12 item 2 on the officer pages and the API: 核销 with or without a vacant regular post, the move recorded
later, the special post ledger, the start date on the filing form (demo T…002: 60 months from 2 March 2026)."""

from __future__ import annotations

import io
import re

from sqlalchemy import select

from tests.helpers import find_task, registration, task_names
from tests.web.conftest import signed_in
from tests.web.test_api import Api, assert_error
from workflows.domain.models import Case, SpecialPost

T2 = "150000T260302000002"


def text(r) -> str:
    return r.get_data(as_text=True)


def post_of(db) -> SpecialPost:
    db.expire_all()
    p = db.scalar(select(SpecialPost).join(Case, SpecialPost.case_id == Case.id).where(Case.case_no == T2))
    db.commit()
    return p


def _register_shows_a_vacancy(web_app) -> None:
    """The administrator records that a 专业技术二级 holder of 农牧业科学院 retired (实有 2 → 1)."""
    r = signed_in(web_app, "admin").post(
        "/admin/registers/posts",
        data={"unit_code": "U0101", "level": "专业技术二级", "approved": "2", "filled": "1", "basis": "原岗位人员退休"},
    )
    assert r.status_code == 303


def test_writeoff_with_a_vacant_regular_post_moves_the_holder(web_app, db):
    hr = signed_in(web_app, "hr_nky")
    page = text(hr.get(f"/officer/cases/{T2}"))
    assert "计划于 2031年3月1日 期满核销" in page and "自核准之日起聘" in page
    form = text(hr.get(f"/officer/cases/{T2}/writeoff"))
    assert 'value="term_end"' not in form  # 期满 is the timer's, not yet
    assert "2031年3月1日 届满" in form and "核定 2，实有 2，空缺 0" in form  # the register, not a checkbox
    r = hr.post(f"/officer/cases/{T2}/writeoff", data={"reason": "term_end"})
    assert r.status_code == 422
    _register_shows_a_vacancy(web_app)
    assert "核定 2，实有 1，空缺 1" in text(hr.get(f"/officer/cases/{T2}/writeoff"))
    r = hr.post(f"/officer/cases/{T2}/writeoff", data={"reason": "task_done"})
    assert r.status_code == 303
    p = post_of(db)
    assert (p.writeoff_reason_code, p.regular_post_status, str(p.regular_post_on)) == (
        "task_done",
        "moved",
        "2026-03-02",
    )
    page = text(hr.get(f"/officer/cases/{T2}"))
    assert "已转聘至正常岗位" in page and 'data-testid="regular-post-link"' not in page


def test_writeoff_without_a_vacancy_leaves_the_move_pending_until_recorded(web_app, db):
    hr = signed_in(web_app, "hr_nky")
    assert hr.post(f"/officer/cases/{T2}/writeoff", data={"reason": "task_done"}).status_code == 303
    assert post_of(db).regular_post_status == "pending"
    page = text(hr.get(f"/officer/cases/{T2}"))
    assert "待出现相应等级空缺岗位后转聘" in page and f'href="/officer/cases/{T2}/regular-post"' in page
    assert signed_in(web_app, "dept_kjt").get(f"/officer/cases/{T2}/regular-post").status_code == 403
    assert signed_in(web_app, "hr_nmgu").get(f"/officer/cases/{T2}/regular-post").status_code == 404
    r = hr.post(f"/officer/cases/{T2}/regular-post", data={"regular_post_on": "2026-03-01"})
    assert r.status_code == 422 and "不能早于核销日期" in text(r) and post_of(db).regular_post_status == "pending"
    r = hr.post(f"/officer/cases/{T2}/regular-post", data={"regular_post_on": "2026-03-02", "note": "原岗位人员调出"})
    assert r.status_code == 409 and "该等级空缺岗位为0个" in text(r) and post_of(db).regular_post_status == "pending"
    _register_shows_a_vacancy(web_app)
    r = hr.post(f"/officer/cases/{T2}/regular-post", data={"regular_post_on": "2026-03-02", "note": "原岗位人员调出"})
    assert r.status_code == 303
    p = post_of(db)
    assert (p.regular_post_status, str(p.regular_post_on), p.regular_post_note) == (
        "moved",
        "2026-03-02",
        "原岗位人员调出",
    )
    assert hr.get(f"/officer/cases/{T2}/regular-post").status_code == 303  # nothing pending any more


def test_special_post_ledger_in_scope(web_app):
    page = text(signed_in(web_app, "hr_nky").get("/officer/special-posts"))
    assert T2 in page and "计划于 2031年3月1日 期满核销" in page
    assert T2 in text(signed_in(web_app, "renshe").get("/officer/special-posts"))
    assert T2 in text(signed_in(web_app, "admin").get("/officer/special-posts"))
    assert T2 not in text(signed_in(web_app, "hr_nmgu").get("/officer/special-posts"))
    assert signed_in(web_app, "zhangwei").get("/officer/special-posts").status_code == 403
    assert 'href="/officer/special-posts"' in text(signed_in(web_app, "hr_nky").get("/officer/"))


def test_api_writeoff_flag_and_regular_post(web_app):
    hr = Api(web_app, "hr_nky")
    assert_error(
        hr.post(f"/cases/{T2}/writeoff", json_body={"reason": "task_done", "regular_post_vacancy": "yes"}), 422
    )
    assert hr.post(f"/cases/{T2}/writeoff", json_body={"reason": "task_done"}).status_code == 200
    assert_error(hr.post(f"/cases/{T2}/regular-post", json_body={"regular_post_on": "不是日期"}), 422)
    assert_error(hr.post(f"/cases/{T2}/regular-post", json_body={"regular_post_on": "2026-03-02"}), 409)  # no vacancy
    _register_shows_a_vacancy(web_app)
    assert_error(
        Api(web_app, "hr_nmgu").post(f"/cases/{T2}/regular-post", json_body={"regular_post_on": "2026-03-02"}), 404
    )
    assert hr.post(f"/cases/{T2}/regular-post", json_body={"regular_post_on": "2026-03-02"}).status_code == 200
    assert_error(hr.post(f"/cases/{T2}/regular-post", json_body={"regular_post_on": "2026-03-02"}), 409)


def test_special_post_form_asks_for_the_start_date(web_app):
    page = text(signed_in(web_app, "hr_nky").get("/officer/special-posts/new"))
    assert '<input type="date" id="f-requested_start_on" name="requested_start_on"' in page


def test_over_long_term_from_the_page_goes_back_to_the_unit_and_resubmits(web_app, db):
    pdf = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"
    hr = signed_in(web_app, "hr_nky")
    data = {
        "post_name": "盐碱地改良首席专家",
        "post_level": "专业技术三级",
        "term_months": "72",
        "requested_start_on": "2026-07-01",
        "holder_name": "马骏",
        "holder_id_number": "150102198509096666",
        "reason": "急需紧缺",
        "file_post_plan": (io.BytesIO(pdf), "plan.pdf"),
        "file_holder_id_card": (io.BytesIO(pdf), "id.pdf"),
    }
    r = hr.post("/officer/special-posts/new", data=data, content_type="multipart/form-data")
    assert r.status_code == 303, text(r)[:300]
    case_no = re.search(r"/officer/cases/([0-9A-Z]+)", r.headers["Location"]).group(1)
    t = find_task(db, case_no, "Task_unit_revise")
    inbox = text(hr.get("/officer/"))
    assert case_no in inbox and "退回修改（聘期超限）" in inbox
    page = text(hr.get(f"/officer/cases/{case_no}/tasks/{t.task_id}"))
    assert "修改后的聘期（月）" in page and "2026年7月1日" in page  # the dossier shows the requested start
    url = f"/officer/cases/{case_no}/tasks/{t.task_id}/complete"
    assert hr.post(url, data={"term_months": "abc"}).status_code == 422
    r = hr.post(url, data={"term_months": "60", "revision_note": "按5年调整"})
    assert r.status_code in (302, 303)
    assert task_names(db, case_no) == ["Task_dept_review"]


def test_api_registration_checks_hire_type_and_original_date(web_app):
    hr = Api(web_app, "hr_nky")
    data = registration(applicant_name="吴桐", id_number="150102199204047777")
    data.pop("outside_establishment")
    bad = hr.post(
        "/cases",
        json_body={
            "procedure": "green_channel_registration",
            "data": {**data, "hire_type": "outside_establishment"},
            "received_in_person": data["materials"],  # the unit's officer received the papers at the desk
        },
    )
    assert "original_hire_date" in assert_error(bad, 422)["details"]["fields"]
    ok = hr.post(
        "/cases",
        json_body={
            "procedure": "green_channel_registration",
            "data": {**data, "hire_type": "outside_establishment", "original_hire_date": "2024-09-01"},
            "received_in_person": data["materials"],
        },
    )
    assert ok.status_code == 201, ok.get_data(as_text=True)[:300]
    assert ok.json["open_tasks"][0]["spec_name"] == "Task_unit_review"
