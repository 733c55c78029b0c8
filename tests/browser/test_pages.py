"""Issue #10 in Chromium, at 1366 and 390 px: unit HR files a 特设岗位 application from its page (it reaches 主管部门),
and an applicant who leaves out a key material is shown what will happen before anything is submitted, with the
files already chosen kept.

Screenshots: test-output/browser/<test>/.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import login

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n% green channel browser test\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
WIDE = {"viewport": {"width": 1366, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def pdf_file(name: str) -> dict:
    return {"name": name, "mimeType": "application/pdf", "buffer": PDF}


def width_of(page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth")


def test_unit_hr_files_a_special_post_from_the_page(live_server, new_page, shot):
    live = live_server
    for size, ctx in (("1366", WIDE), ("390", PHONE)):
        p = new_page(**ctx)
        login(p, live, "hr_nky")
        p.goto(f"{live.url}/officer/")
        p.get_by_role("link", name="申请设置特设岗位").first.click()
        p.wait_for_load_state()
        assert p.url.endswith("/officer/special-posts/new")
        form = p.get_by_test_id("special-post-form")
        form.get_by_label("岗位名称").fill(f"荒漠化防治首席专家（{size}）")
        form.get_by_label("岗位等级").fill("专业技术二级")
        form.get_by_label("聘期（月）").fill("0")  # a mistake first: the values stay, the error is at the field
        form.get_by_label("拟聘人员姓名").fill("孙丽")
        form.get_by_label("公民身份号码").fill("150102198702024444")
        form.get_by_label("设置理由").fill("重大科研项目急需")
        shot(p, f"special-post-form-{size}")
        assert width_of(p) <= int(size), f"the form is wider than {size}px"
        form.get_by_role("button", name="提交申请").click()
        p.wait_for_load_state()
        assert p.locator('[data-field="term_months"] .field-error').is_visible()
        assert p.get_by_label("拟聘人员姓名").input_value() == "孙丽"
        shot(p, f"special-post-errors-{size}")
        form = p.get_by_test_id("special-post-form")
        form.get_by_label("聘期（月）").fill("36")
        form.locator('input[name="file_post_plan"]').set_input_files(pdf_file("设置方案.pdf"))
        form.locator('input[name="file_holder_id_card"]').set_input_files(pdf_file("身份证.pdf"))
        form.get_by_role("button", name="提交申请").click()
        p.wait_for_load_state()
        m = re.search(r"/officer/cases/([0-9A-Z]+)", p.url)
        assert m, p.url
        assert "已送主管部门审核" in " ".join(p.locator(".flash").all_inner_texts())
        shot(p, f"special-post-filed-{size}")
        case_no = m.group(1)
        dept = new_page(**ctx)
        login(dept, live, "dept_kjt")
        dept.goto(f"{live.url}/officer/")
        assert dept.locator(f'[data-case="{case_no}"]').count() >= 1, "主管部门 does not see the new special post"


def test_applicant_sees_the_confirmation_page_before_a_refusal(live_server, new_page, shot):
    live = live_server
    for size, ctx in (("1366", WIDE), ("390", PHONE)):
        p = new_page(**ctx)
        login(p, live, "zhangwei")
        p.goto(f"{live.url}/my/new/green_channel_registration")
        p.get_by_role("combobox", name="用人单位").select_option("U0101")
        p.get_by_role("combobox", name="人才类别").select_option("3")
        p.get_by_role("combobox", name="引进方式").select_option("rigid")
        for inp in p.locator("input.js-file").all():
            code = inp.get_attribute("name").removeprefix("file_")
            if code != "talent_recognition":
                inp.set_input_files(pdf_file(f"{code}.pdf"))
        p.get_by_role("button", name="提交申请").click()
        p.wait_for_load_state()
        box = p.get_by_test_id("confirm-submit")
        assert box.is_visible()
        assert "缺少关键材料：人才类别认定文件，提交后将不予受理" in box.inner_text()
        assert not p.dialogs, "no browser dialog: the page itself explains"
        assert p.get_by_test_id("back-to-edit").is_visible() and p.get_by_test_id("submit-anyway").is_visible()
        assert width_of(p) <= int(size)
        shot(p, f"confirm-{size}")
        p.get_by_test_id("back-to-edit").click()
        p.wait_for_load_state()
        assert p.get_by_test_id("kept-id_card").is_visible()  # the files chosen are kept with the draft
        assert p.get_by_role("combobox", name="人才类别").input_value() == "3"
        shot(p, f"back-to-edit-{size}")


def test_objection_writeoff_and_status_pages_at_both_widths(live_server, new_page, shot):
    """The other new pages, looked at as their users do (nothing submitted here: the web tests act on them)."""
    live = live_server
    from sqlalchemy import select

    from workflows.domain.models import Case, MessageSubscription

    s = live.session()
    in_publicity = s.scalar(
        select(Case.case_no)
        .join(MessageSubscription, MessageSubscription.case_id == Case.id)
        .where(MessageSubscription.message_name == "objection", Case.unit_code == "U0101")
    )
    post_case = s.scalar(
        select(Case.case_no)
        .join(MessageSubscription, MessageSubscription.case_id == Case.id)
        .where(MessageSubscription.message_name == "special_post_writeoff", Case.unit_code == "U0101")
    )
    own = s.scalar(select(Case.case_no).where(Case.applicant_name == "张伟").order_by(Case.id))
    s.commit()
    s.close()
    for size, ctx in (("1366", WIDE), ("390", PHONE)):
        hr = new_page(**ctx)
        login(hr, live, "hr_nky")
        hr.goto(f"{live.url}/officer/cases/{in_publicity}")
        hr.get_by_test_id("record-objection").click()
        hr.wait_for_load_state()
        hr.get_by_role("button", name="登记异议").click()  # empty: the errors at their fields
        hr.wait_for_load_state()
        assert hr.locator(".field-error").count() >= 2
        assert width_of(hr) <= int(size)
        shot(hr, f"objection-errors-{size}")
        hr.goto(f"{live.url}/officer/cases/{post_case}")
        hr.get_by_test_id("writeoff-link").click()
        hr.wait_for_load_state()
        for label in ("任务完成", "辞聘", "解聘"):
            assert hr.get_by_label(label, exact=True).is_visible()
        assert hr.get_by_label("期满", exact=True).count() == 0  # the term-end timer's, on the term's last day
        assert hr.get_by_test_id("register-vacancy").is_visible()  # the posts register decides the move (R8)
        assert width_of(hr) <= int(size)
        shot(hr, f"writeoff-{size}")
        ap = new_page(**ctx)
        login(ap, live, "zhangwei")
        ap.goto(f"{live.url}/my/case/{own}#own-data")
        assert ap.get_by_test_id("own-data").is_visible()
        assert width_of(ap) <= int(size)
        shot(ap, f"status-{size}")
