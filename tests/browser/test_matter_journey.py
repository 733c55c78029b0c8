"""事项配置 in Chromium (issue 16): an administrator configures 高层次人才延迟退休 (seed 000 §二(二): "根据工作需要，
可按国家规定延迟退休") in the browser only — basic information, materials, the start form, a flow from a template
(the unit applies → 主管部门审核 → 人社核准 → 备案) seen in the modeler, a 核准 notice — and publishes it; the unit
applies, the officers decide, the notice is issued and verifiable at /verify. No file of the repository changes.
Screens at 1366 and 390 px."""

from __future__ import annotations

import subprocess

import pytest
from sqlalchemy import select

from tests.browser.conftest import OUTPUT, login
from tests.browser.test_journeys import (
    approve_task,
    console_errors,
    db_case,
    flash_text,
    no_horizontal_overflow,
    officer_page,
    open_task_from_inbox,
    open_task_names,
    pdf_file,
)
from workflows.domain import procedures
from workflows.services import matters as matters_svc

pytestmark = pytest.mark.browser
CODE = "delayed_retirement"
CLAUSE = "根据工作需要，可按国家规定延迟退休"


@pytest.fixture(autouse=True)
def _registry():
    yield
    procedures.install({})
    matters_svc._stamp.clear()


def fill_row(form, prefix: str, i: int, values: dict[str, str], checks: dict[str, bool] | None = None):
    for key, value in values.items():
        form.locator(f'[name="{prefix}-{i}-{key}"]').fill(value) if key != "type" else form.locator(
            f'[name="{prefix}-{i}-{key}"]'
        ).select_option(value)
    for key, on in (checks or {}).items():
        box = form.locator(f'[name="{prefix}-{i}-{key}"]')
        box.check() if on else box.uncheck()


def test_admin_configures_delayed_retirement_and_it_runs(make_live_server, page, new_page, shot):
    live = make_live_server()  # its own database: the new matter must not reach the other journeys
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, live, "admin")
    page.goto(f"{live.url}/admin/")
    page.get_by_role("link", name="事项配置").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("matters").locator("tr", has_text="绿色通道列编注册").count() == 1
    shot(page, "matters-1366")

    # 1. a new matter from the flow template the administrator picks
    new = page.get_by_test_id("new-matter")
    new.get_by_label("事项代码（小写字母、数字、下划线，即流程编号）").fill(CODE)
    new.get_by_label("事项名称").fill("高层次人才延迟退休")
    new.get_by_label("用人单位申请 → 主管部门审核 → 人社部门核准（出具核准文书）→ 人社部门备案 → 办结").check()
    new.get_by_role("button", name="创建").click()
    page.wait_for_load_state()
    assert "事项已创建" in flash_text(page), flash_text(page)

    # 2. basic information, materials, the start form, the documents
    form = page.get_by_test_id("matter-form")
    form.get_by_label("英文名称").fill("Delayed retirement of high-level talent")
    form.get_by_label("办件编号字母（一个大写字母）").fill("Y")
    form.get_by_label("设定依据（文件名称及条款）").fill(
        "《关于进一步支持事业单位引进急需紧缺高层次人才的若干措施》二、（二）"
    )
    form.get_by_label("依据条款原文").fill(CLAUSE)
    form.get_by_label("受理条件").fill(
        "经认定的高层次人才，根据工作需要，由所在用人单位申请，经主管部门审核、人社部门核准。"
    )
    form.get_by_label("承诺时限（工作日）").fill("10")
    form.get_by_label("法定时限（工作日）").fill("20")
    form.get_by_label("用人单位（为本单位人员申请）").check()
    for desk in ("用人单位", "主管部门", "人社部门"):
        form.locator("fieldset", has_text="办理岗位").get_by_label(desk, exact=True).check()
    form.get_by_label("办理机关（受理、决定、办结并出具文书）").select_option("RS")
    fill_row(form, "m", 0, {"code": "application_letter", "name": "单位延迟退休申请函"}, {"is_key": True})
    form.locator('[name="m-0-type-jpg"]').uncheck()
    form.locator('[name="m-0-type-png"]').uncheck()
    fill_row(form, "m", 1, {"code": "talent_recognition", "name": "人才类别认定文件"}, {"is_key": True})
    fill_row(form, "m", 2, {"code": "personal_consent", "name": "本人同意延迟退休的书面意见"}, {"rongque": True})
    fill_row(form, "f", 0, {"key": "birth_date", "title": "出生日期", "type": "date"}, {"required": True})
    fill_row(
        form, "f", 1, {"key": "extend_years", "title": "延迟退休年限（年）", "type": "integer"}, {"required": True}
    )
    fill_row(form, "f", 2, {"key": "reason", "title": "工作需要说明", "type": "long_text"})
    form.get_by_test_id("doc-issue_documents:approve-approval_notice").check()
    form.get_by_label("核准通知书标题").fill("关于同意高层次人才延迟退休的通知")
    form.get_by_label("核准通知书正文（可用 {字段代码}，如 {applicant_name}）").fill(
        "经审核，同意{applicant_name}同志根据工作需要延迟退休{extend_years}年。\n请用人单位按规定办理相关手续。"
    )
    shot(page, "matter-form-filled-1366")
    form.get_by_test_id("save-matter").click()
    page.wait_for_load_state()
    assert "草稿 v1 已保存" in flash_text(page), flash_text(page)
    page.locator("details", has_text="生成的 JSON Schema").locator("summary").click()
    assert '"extend_years"' in page.get_by_test_id("schema-preview").inner_text()
    shot(page, "matter-saved-1366")

    # 3. the flow, drawn from the template, in the modeler: lanes are roles
    page.get_by_test_id("edit-flow").click()
    page.wait_for_load_state()
    page.locator('body[data-modeler-ready="1"]').wait_for(timeout=20_000)
    lanes = page.evaluate(
        "() => window.adminModeler.get('elementRegistry').filter(e => e.type === 'bpmn:Lane')"
        ".map(e => e.businessObject.name)"
    )
    assert lanes == ["用人单位", "主管部门", "人社部门"], lanes
    shot(page, "matter-flow-1366")
    page.go_back()
    page.wait_for_load_state()

    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "matter-edit-390")  # the tables scroll inside their frame; the page itself does not
    width, inner = no_horizontal_overflow(page)
    assert width <= inner + 1, (width, inner)
    page.set_viewport_size({"width": 1366, "height": 900})

    # 4. publish
    page.get_by_test_id("matter-note").fill("高层次人才延迟退休事项首次发布")
    page.get_by_test_id("publish-matter").click()
    page.wait_for_load_state()
    assert "v1 已发布" in flash_text(page), flash_text(page)

    # 5. the unit applies from its inbox (the phone width first: the form must fit)
    hr = officer_page(new_page, live, "hr_nky")
    hr.set_viewport_size({"width": 390, "height": 844})
    hr.get_by_test_id(f"apply-{CODE}").click()
    hr.wait_for_load_state()
    assert CLAUSE in hr.get_by_test_id("matter-info").inner_text()
    width, inner = no_horizontal_overflow(hr)
    assert width <= inner + 1, (width, inner)
    shot(hr, "unit-apply-390")
    hr.set_viewport_size({"width": 1366, "height": 900})
    f = hr.get_by_test_id("unit-filing-form")
    f.get_by_label("姓名").fill("孙丽")
    f.get_by_label("公民身份号码").fill("150102196605014444")
    f.get_by_label("出生日期").fill("1966-05-01")
    f.get_by_label("延迟退休年限（年）").fill("3")
    f.get_by_label("工作需要说明").fill("承担国家重点研发计划项目，项目周期至2029年。")
    for code in ("application_letter", "talent_recognition", "personal_consent"):
        f.locator(f"#file-{code}").set_input_files(pdf_file(f"{code}.pdf"))
    shot(hr, "unit-apply-filled-1366")
    f.get_by_role("button", name="提交申请").click()
    hr.wait_for_load_state()
    assert "申请已提交" in flash_text(hr), flash_text(hr)
    case_no = hr.url.rstrip("/").rsplit("/", 1)[-1]
    assert case_no[6] == "Y" and open_task_names(live, case_no) == ["Task_dept_review"]

    # 6. 主管部门 returns it for correction (the letter again, a reason); the unit corrects and resubmits
    dept = officer_page(new_page, live, "dept_kjt")
    open_task_from_inbox(dept, live, case_no)
    back = dept.locator("form.return-form")
    back.get_by_label("单位延迟退休申请函").check()
    back.get_by_label("退回理由").fill("申请函未加盖单位公章，请重新上传")
    back.get_by_role("button", name="退回").click()
    dept.wait_for_load_state()
    assert "退回用人单位补正" in flash_text(dept), flash_text(dept)
    assert db_case(live, case_no).status == "returned"
    hr.goto(f"{live.url}/officer/cases/{case_no}")
    hr.get_by_test_id("resubmit").click()
    hr.wait_for_load_state()
    assert "申请函未加盖单位公章" in hr.get_by_test_id("correction").inner_text()
    hr.locator("#file-application_letter").set_input_files(pdf_file("application_letter.pdf"))
    shot(hr, "unit-resubmit-1366")
    hr.set_viewport_size({"width": 390, "height": 844})
    shot(hr, "unit-resubmit-390")
    hr.set_viewport_size({"width": 1366, "height": 900})
    hr.get_by_role("button", name="重新提交", exact=True).click()
    hr.wait_for_load_state()
    assert "重新提交" in flash_text(hr), flash_text(hr)
    assert db_case(live, case_no).status == "running"

    # 7. 主管部门 reviews, 人社 approves (the notice is issued) and files
    open_task_from_inbox(dept, live, case_no)
    approve_task(dept, "同意", ("主管部门意见说明", "同意延迟退休"))
    rs = officer_page(new_page, live, "renshe")
    open_task_from_inbox(rs, live, case_no)
    shot(rs, "hrss-approval-1366")
    approve_task(rs, "核准", ("核准意见说明", "符合规定，予以核准"))
    open_task_from_inbox(rs, live, case_no)
    approve_task(rs, None, ("备案说明", "已备案"), check="已核对材料并完成备案")
    assert db_case(live, case_no).status == "completed"

    # 8. the notice: rendered, archived, verifiable by anyone
    from webapp import issuing
    from workflows.domain.models import Document

    issuing.drain(live.app)
    s = live.session()
    try:
        notice = s.scalar(select(Document).where(Document.kind == "approval_notice"))
        code, doc_no, raw = notice.verify_code, notice.doc_no, notice.pdf
        assert notice.title == "关于同意高层次人才延迟退休的通知" and notice.sha256 and raw
        assert "同意孙丽同志根据工作需要延迟退休3年" in notice.data["body"]
    finally:
        s.close()
    out = OUTPUT / "test_matter_journey"
    out.mkdir(parents=True, exist_ok=True)
    (out / "approval_notice.pdf").write_bytes(raw)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "1",
            str(out / "approval_notice.pdf"),
            str(out / "approval_notice"),
        ],
        check=False,
    )
    anyone = new_page()
    anyone.set_viewport_size({"width": 390, "height": 844})
    anyone.goto(f"{live.url}/verify")
    anyone.get_by_label("核验码").fill(code)
    anyone.get_by_role("button", name="核验").click()
    anyone.wait_for_load_state()
    assert anyone.get_by_test_id("verify-doc-no").inner_text().strip() == doc_no
    assert "关于同意高层次人才延迟退休的通知" in anyone.get_by_test_id("verify-document").inner_text()
    shot(anyone, "verify-390")
    assert not console_errors(new_page), console_errors(new_page)


def test_admin_edits_a_built_procedures_form_and_promise_in_the_browser(make_live_server, page, new_page, shot):
    """列编注册 (a built procedure) on the same page: a start-form title and the 承诺时限 changed in a draft and
    published; the applicant's form shows the new title; removing a field R1 reads is refused on the page."""
    live = make_live_server()
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, live, "admin")
    page.goto(f"{live.url}/admin/matters")
    page.get_by_test_id("matters").locator("tr", has_text="绿色通道列编注册").get_by_role("link").first.click()
    page.wait_for_load_state()
    form = page.get_by_test_id("matter-form")
    assert "R1 人才类别与通道资格判定表" in form.get_by_test_id("form-fields").inner_text()
    assert "（只读" in form.get_by_test_id("declared-readonly").inner_text()
    shot(page, "declared-edit-1366")

    # removing a field the rule reads: refused, naming it and the rule
    row = page.evaluate(
        "() => [...document.querySelectorAll('[name$=\"-key\"]')].find(e => e.value === 'introduction_mode').name"
    )
    i = int(row.split("-")[1])
    form.locator(f'[name="f-{i}-key"]').evaluate("e => { e.removeAttribute('readonly'); e.value = ''; }")
    form.get_by_test_id("save-matter").click()
    page.wait_for_load_state()
    assert "字段“introduction_mode”（引进方式）由 R1" in page.get_by_test_id("error-fields").inner_text()
    shot(page, "declared-refused-1366")

    page.goto(f"{live.url}/admin/matters/green_channel_registration")
    form = page.get_by_test_id("matter-form")
    row = page.evaluate(
        "() => [...document.querySelectorAll('[name$=\"-key\"]')].find(e => e.value === 'talent_category').name"
    )
    i = int(row.split("-")[1])
    form.locator(f'[name="f-{i}-title"]').fill("人才类别（以认定文件为准）")
    form.get_by_test_id("promise_days").fill("15")
    form.get_by_test_id("save-matter").click()
    page.wait_for_load_state()
    assert "草稿 v1 已保存" in flash_text(page), flash_text(page)
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "declared-edit-390")
    width, inner = no_horizontal_overflow(page)
    assert width <= inner + 1, (width, inner)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.get_by_test_id("matter-note").fill("承诺时限缩短为15个工作日；人才类别的标题")
    page.get_by_test_id("publish-matter").click()
    page.wait_for_load_state()
    assert "v1 已发布" in flash_text(page), flash_text(page)

    applicant = new_page()
    applicant.set_viewport_size({"width": 1366, "height": 900})
    login(applicant, live, "zhangwei")
    applicant.goto(f"{live.url}/my/new/green_channel_registration")
    assert applicant.get_by_label("人才类别（以认定文件为准）").count() == 1
    shot(applicant, "applicant-new-title-1366")
    errors = [e for e in console_errors(new_page) if "status of 422" not in e]  # the refused draft answers 422
    assert not errors, errors
