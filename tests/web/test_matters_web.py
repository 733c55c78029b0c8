"""事项配置 pages: an administrator configures and publishes a matter with forms only, the unit files it from its
inbox, a material of the wrong type is refused by the matter's own rule; export and import through the pages."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.web.conftest import signed_in
from tests.web.test_pages import PDF, text, with_files
from webapp.issuing import render_pending
from workflows.domain import procedures
from workflows.domain.models import Case, Document, OpenTask
from workflows.services import matters as svc

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _registry():
    yield
    procedures.install({})
    svc._stamp.clear()


def matter_form(**over) -> dict:
    d = {
        "name": "高层次人才延迟退休",
        "name_en": "Delayed retirement of high-level talent",
        "letter": "Y",
        "basis_source": "关于进一步支持事业单位引进急需紧缺高层次人才的若干措施 二、（二）",
        "basis_clause": "根据工作需要，可按国家规定延迟退休",
        "conditions": "经认定的高层次人才，根据工作需要由用人单位申请。",
        "promise_days": "10",
        "legal_days": "20",
        "applicant": "unit",
        "desks": ["unit_hr", "dept", "hrss"],
        "office": "RS",
        "m-0-code": "application_letter",
        "m-0-name": "单位延迟退休申请函",
        "m-0-is_key": "1",
        "m-0-type-pdf": "1",
        "m-1-code": "",
        "m-1-name": "",
        "f-0-key": "extend_years",
        "f-0-title": "延迟退休年限（年）",
        "f-0-type": "integer",
        "f-0-required": "1",
        "f-0-choices": "",
        "f-1-key": "",
        "f-1-title": "",
        "f-1-type": "text",
        "f-1-choices": "",
        "doc-issue_documents:approve-approval_notice": "1",
        "doc-issue_documents:approve-office": "RS",
        "doc-close_case:completed-office": "RS",
        "notice_title": "关于同意高层次人才延迟退休的通知",
        "notice_body": "同意{applicant_name}同志延迟退休{extend_years}年。",
    }
    d.update(over)
    return d


def configure(web_app):
    admin = signed_in(web_app, "admin")
    r = admin.post(
        "/admin/matters",
        data={"code": "delayed_retirement", "name": "高层次人才延迟退休", "template": "unit_dept_hrss_filing"},
    )
    assert r.status_code == 303, text(r)
    r = admin.post("/admin/matters/delayed_retirement", data=matter_form())
    assert r.status_code == 303, text(r)
    r = admin.post("/admin/matters/delayed_retirement/publish", data={"note": "发布"})
    assert r.status_code == 303
    return admin


def test_configured_in_pages_filed_by_the_unit(web_app, db):
    admin = configure(web_app)
    assert "v1" in text(admin.get("/admin/matters"))
    hr = signed_in(web_app, "hr_nky")
    assert 'href="/officer/apply/delayed_retirement"' in text(hr.get("/officer/"))
    page = text(hr.get("/officer/apply/delayed_retirement"))
    assert "根据工作需要，可按国家规定延迟退休" in page and "延迟退休年限（年）" in page
    form = {"applicant_name": "孙丽", "id_number": "150102198702024444", "extend_years": "3"}
    refused = hr.post(
        "/officer/apply/delayed_retirement",
        data=with_files(form, {"application_letter": PNG}, "{code}.png"),
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422 and "只接受 PDF 文件" in text(refused)
    r = hr.post(
        "/officer/apply/delayed_retirement",
        data=with_files(form, {"application_letter": PDF}),
        content_type="multipart/form-data",
    )
    assert r.status_code == 303, text(r)
    case = db.scalar(select(Case).where(Case.procedure == "delayed_retirement"))
    assert case.applicant_name == "孙丽" and case.start_data["extend_years"] == 3


def test_bad_input_is_shown_on_the_page_and_nothing_is_saved(web_app, db):
    admin = signed_in(web_app, "admin")
    admin.post(
        "/admin/matters", data={"code": "delayed_retirement", "name": "延迟退休", "template": "unit_dept_hrss_filing"}
    )
    r = admin.post("/admin/matters/delayed_retirement", data=matter_form(promise_days="30", letter="L"))
    assert r.status_code == 422
    page = text(r)
    assert "承诺时限不能长于法定时限" in page and "不与已有事项" in page
    assert admin.get("/admin/matters/unknown_matter").status_code == 404
    assert (
        admin.post("/admin/matters", data={"code": "Bad Code", "name": "x", "template": "dept_hrss"}).status_code == 303
    )


def test_export_and_import_through_the_pages(web_app, tmp_path, demo_db_template):
    from tests.web.conftest import make_web_app

    admin = configure(web_app)
    exported = admin.get("/admin/matters/delayed_retirement/export")
    assert exported.status_code == 200 and json.loads(exported.data)["matter"]["letter"] == "Y"
    procedures.install({})
    svc._stamp.clear()
    (tmp_path / "other").mkdir()
    other = make_web_app(tmp_path / "other", demo_db_template)
    try:
        admin2 = signed_in(other, "admin")
        r = admin2.post(
            "/admin/matters/import",
            data={"file": (io.BytesIO(exported.data), "m.json"), "publish": "1"},
            content_type="multipart/form-data",
        )
        assert r.status_code == 303
        assert "高层次人才延迟退休" in text(signed_in(other, "hr_nky").get("/officer/apply/delayed_retirement"))
        bad = admin2.post(
            "/admin/matters/import", data={"file": (io.BytesIO(b"{}"), "m.json")}, content_type="multipart/form-data"
        )
        assert "格式标识不符" in text(admin2.get(bad.headers["Location"]))
    finally:
        other.extensions["db_session"].remove()
        other.extensions["db_engine"].dispose()


def test_a_declared_procedures_checklist_is_edited_in_the_page(web_app):
    admin = signed_in(web_app, "admin")
    page = text(admin.get("/admin/matters/green_channel_registration"))
    assert "居民身份证" in page and "申请表字段" in page  # the start form is data too (its own test below)
    body = svc.matters.declared_body(procedures.DECLARED["green_channel_registration"])
    form = {}
    for i, m in enumerate(
        [
            *body["materials"],
            {
                "code": "overseas_degree_cert",
                "name": "国（境）外学历学位认证书",
                "is_key": False,
                "rongque": True,
                "file_types": ["pdf"],
            },
        ]
    ):
        form.update({f"m-{i}-code": m["code"], f"m-{i}-name": m["name"], f"m-{i}-type-pdf": "1"})
        if m["is_key"]:
            form[f"m-{i}-is_key"] = "1"
        if m["rongque"]:
            form[f"m-{i}-rongque"] = "1"
    assert admin.post("/admin/matters/green_channel_registration", data=form).status_code == 303
    assert admin.post("/admin/matters/green_channel_registration/publish", data={"note": "发布"}).status_code == 303
    assert (
        procedures.get("green_channel_registration").material_name("overseas_degree_cert") == "国（境）外学历学位认证书"
    )


def test_a_matter_the_person_applies_for_is_on_the_applicants_page(web_app, db):
    admin = signed_in(web_app, "admin")
    admin.post(
        "/admin/matters", data={"code": "delayed_retirement", "name": "高层次人才延迟退休", "template": "dept_hrss"}
    )
    r = admin.post("/admin/matters/delayed_retirement", data=matter_form(applicant="person", desks=["dept", "hrss"]))
    assert r.status_code == 303, text(r)
    admin.post("/admin/matters/delayed_retirement/publish", data={"note": "发布"})
    me = signed_in(web_app, "zhangwei")
    assert "高层次人才延迟退休" in text(me.get("/my/new"))
    page = me.get("/my/new/delayed_retirement")
    assert page.status_code == 200 and "延迟退休年限（年）" in text(page)


def test_the_api_starts_a_published_matter(api_app):
    from tests.web.test_api import Api

    s = api_app.extensions["db_factory"]()
    try:
        from tests.test_matters import configure

        configure(s)
    finally:
        s.close()
    r = Api(api_app, "hr_nky").post(
        "/cases",
        json_body={
            "procedure": "delayed_retirement",
            "data": {
                "applicant_name": "孙丽",
                "id_number": "150102198702024444",
                "unit_code": "U0101",
                "birth_date": "1966-05-01",
                "extend_years": 2,
            },
            "received_in_person": ["application_letter", "talent_recognition", "personal_consent"],
        },
    )
    assert r.status_code == 201, r.json
    assert r.json["case_no"][6] == "Y"


def page_form(html: str, testid: str = "matter-form") -> dict:
    """The values a browser would submit from the page's form (text inputs, checked boxes, textareas, selects)."""
    import lxml.html

    form = lxml.html.fromstring(html).cssselect(f'form[data-testid="{testid}"]')[0]
    return {k: v for k, v in form.form_values() if k != "csrf_token"}


def row_of(form: dict, key: str) -> int:
    return next(int(k.split("-")[1]) for k, v in form.items() if k.startswith("f-") and k.endswith("-key") and v == key)


def test_a_built_procedures_form_title_and_promise_are_edited_in_the_page(web_app):
    admin = signed_in(web_app, "admin")
    page = admin.get("/admin/matters/green_channel_registration")
    html = text(page)
    assert "R1 人才类别与通道资格判定表" in html and "受理（即收即办或容缺受理）时计算承诺办结日期" in html
    assert "申请主体" in html and "（只读" in html  # who applies and the desks: read-only, with why
    form = page_form(html)
    i = row_of(form, "talent_category")
    form.update({f"f-{i}-title": "人才类别（以认定文件为准）", "promise_days": "15"})
    r = admin.post("/admin/matters/green_channel_registration", data=form)
    assert r.status_code == 303, text(r)
    assert (
        admin.post("/admin/matters/green_channel_registration/publish", data={"note": "改承诺时限"}).status_code == 303
    )
    proc = procedures.get("green_channel_registration")
    assert proc.info["promise_days"] == 15
    assert proc.start_schema["properties"]["talent_category"]["title"] == "人才类别（以认定文件为准）"
    applicant = signed_in(web_app, "zhangwei")
    assert "人才类别（以认定文件为准）" in text(applicant.get("/my/new/green_channel_registration"))
    # the choice labels still come through (the schema's, or the built-in ones)
    assert "刚性引进" in text(applicant.get("/my/new/green_channel_registration"))


def test_removing_a_field_a_rule_reads_is_refused_on_the_page(web_app):
    admin = signed_in(web_app, "admin")
    form = page_form(text(admin.get("/admin/matters/senior_title_direct")))
    i = row_of(form, "achievement")
    form[f"f-{i}-key"] = ""  # the row emptied
    r = admin.post("/admin/matters/senior_title_direct", data=form)
    assert r.status_code == 422
    assert (
        "字段“achievement”（重大业绩）由 R9 人才类别与通道资格判定表（talent_eligibility.dmn） 读取，不能删除"
        in text(r)
    )
    assert svc.current(web_app.extensions["db_session"](), "senior_title_direct", "draft") is None


def test_returned_by_the_department_the_unit_corrects_in_its_pages(web_app, db):
    """退回补正 of a unit-filed configured matter through the pages: 主管部门 returns it naming the letter to supply
    again; the unit's HR desk (not another unit's) corrects a field, uploads the letter and resubmits."""
    configure(web_app)
    hr = signed_in(web_app, "hr_nky")
    form = {"applicant_name": "孙丽", "id_number": "150102198702024444", "extend_years": "5"}
    r = hr.post(
        "/officer/apply/delayed_retirement",
        data=with_files(form, {"application_letter": PDF}),
        content_type="multipart/form-data",
    )
    assert r.status_code == 303, text(r)
    case = db.scalar(select(Case).where(Case.procedure == "delayed_retirement"))
    case_no = case.case_no
    task_id = db.scalar(select(OpenTask.task_id).where(OpenTask.case_id == case.id))
    db.commit()
    dept = signed_in(web_app, "dept_kjt")
    r = dept.post(
        f"/officer/cases/{case_no}/tasks/{task_id}/return",
        data={"reason": "延迟年限超过规定，申请函未盖章", "target": "applicant", "items": ["application_letter"]},
    )
    assert r.status_code == 303, text(r)
    assert "等待用人单位补正" in text(dept.get(f"/officer/cases/{case_no}"))
    assert 'data-testid="resubmit"' in text(hr.get(f"/officer/cases/{case_no}"))
    notice = db.scalar(select(Document).where(Document.case_id == case.id, Document.kind == "correction_notice"))
    db.commit()
    with web_app.app_context():
        render_pending(web_app.extensions["db_factory"], case_id=case.id)
    pdf = hr.get(f"/officer/cases/{case_no}/documents/{notice.id}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    out = Path("test-output/documents")
    out.mkdir(parents=True, exist_ok=True)
    (out / "matter-correction-notice.pdf").write_bytes(pdf.data)  # the unit's 补正材料通知书, kept for a look
    other = signed_in(web_app, "hr_kjxx")  # another unit under the same department
    assert other.get(f"/officer/cases/{case_no}/resubmit").status_code in (403, 404)
    page = text(hr.get(f"/officer/cases/{case_no}/resubmit"))
    assert "延迟年限超过规定，申请函未盖章" in page and "单位延迟退休申请函" in page
    missing = hr.post(f"/officer/cases/{case_no}/resubmit", data={"extend_years": "3"})
    assert missing.status_code == 422 and "仍需补正的材料未提交" in text(missing)
    r = hr.post(
        f"/officer/cases/{case_no}/resubmit",
        data=with_files({"extend_years": "3"}, {"application_letter": PDF}),
        content_type="multipart/form-data",
    )
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/officer/cases/{case_no}"), text(r)
    db.expire_all()
    case = db.scalar(select(Case).where(Case.case_no == case_no))
    assert case.status == "running" and case.start_data["extend_years"] == 3
    db.commit()
    assert 'data-testid="resubmit"' not in text(hr.get(f"/officer/cases/{case_no}"))
    banner = text(dept.get(f"/officer/cases/{case_no}/tasks/{task_id}"))
    assert "本环节曾退回用人单位补正" in banner and "用人单位已于" in banner
