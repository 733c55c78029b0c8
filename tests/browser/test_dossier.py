"""The dossier at every desk, in Chromium: unit HR, 主管部门, 编办, 人社 (a registration on a unit without vacant
posts, so 编办 decides on the talent pool) and 评委会 (a 职称 case) each open their task, see the application data
and open a material before deciding; an internal return (主管部门 → 单位审核) and a return to the applicant are
visible to the desk and to the applicant with why and until when. Screenshots at 1366 and 390 px:
test-output/browser/<test>/.

The demo cases' materials may have no stored file: the cases here are applied for through the applicant's form
(the app's test client on the served database) with real files."""

from __future__ import annotations

import io
import re
from datetime import datetime

import pytest
import time_machine
from sqlalchemy import select

from tests.browser.conftest import SH, login
from tests.browser.test_journeys import approve_task, console_errors, db_case, flash_text, open_task_names

pytestmark = pytest.mark.browser

WIDE, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def files():
    """A real one-page PDF (its text is checked in the preview) and a real PNG."""
    from PIL import Image
    from weasyprint import HTML

    pdf = HTML(string="<p style='font-size:40px'>DOSSIER SAMPLE 学位证书</p>").write_pdf()
    buf = io.BytesIO()
    Image.new("RGB", (240, 150), (30, 120, 200)).save(buf, "PNG")
    return pdf, buf.getvalue()


def _csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    assert m, page[:500]
    return m.group(1)


def apply_as_zhangwei(live, procedure: str, fields: dict, materials: list[str], files) -> str:
    pdf, png = files
    c = live.app.test_client()
    login_data = {"username": "zhangwei", "password": "lvse-2026", "csrf_token": _csrf(c, "/login")}
    assert c.post("/login", data=login_data).status_code in (302, 303)
    data = {**fields, "action": "submit", "csrf_token": _csrf(c, f"/my/new/{procedure}")}
    for code in materials:
        data[f"file_{code}"] = (
            (io.BytesIO(png), "身份证.png") if code == "id_card" else (io.BytesIO(pdf), f"{code}.pdf")
        )
    r = c.post(f"/my/new/{procedure}", data=data, content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)[:800]
    return re.search(r"/my/case/([0-9A-Z]+)", r.headers["Location"]).group(1)


def desk_page(new_page, live, username: str, viewport=WIDE):
    p = new_page(viewport=viewport)
    login(p, live, username)
    return p


def open_task(page, live, case_no: str):
    page.goto(f"{live.url}/officer/")
    row = page.locator(f'tr[data-case="{case_no}"]').first
    row.wait_for()
    row.get_by_role("link", name="办理").click()
    page.wait_for_load_state()
    assert "/tasks/" in page.url, page.url


def sees_dossier_and_opens_a_material(page, shot, name: str, expect: list[str], code: str, phone_page=None):
    """The application data are on the page; the material's preview opens and its file is served inline."""
    dossier = page.get_by_test_id("dossier")
    data = page.get_by_test_id("application-data").inner_text()
    for text in expect:
        assert text in data, (text, data)
    for raw in ("rigid", "pool", "approve"):
        assert not re.search(rf"\b{raw}\b", dossier.inner_text()), raw
    item = dossier.locator(f'li[data-material="{code}"]')
    item.locator("details.dm-preview > summary").click()
    viewer = item.locator("details.dm-preview iframe, details.dm-preview img").first
    viewer.wait_for(state="visible")
    src = viewer.evaluate("e => e.src")  # absolute
    r = page.request.get(src)
    assert r.ok and r.headers["content-disposition"].startswith("inline"), r.headers
    assert r.headers["content-type"] in ("application/pdf", "image/png")
    if viewer.evaluate("e => e.tagName") == "IMG":
        assert viewer.evaluate("e => e.complete && e.naturalWidth > 0")
    item.locator("details.dm-history > summary").click()
    assert re.search(r"[0-9a-f]{64}", item.inner_text())
    shot(page, f"{name}-1366")
    if phone_page is not None:
        phone_page.goto(page.url)
        phone_page.get_by_test_id("dossier").wait_for()
        width, inner = phone_page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width <= inner + 1, (width, inner)
        shot(phone_page, f"{name}-390")


def test_every_registration_desk_sees_the_dossier_and_returns(live_server, new_page, shot, files):
    live = live_server
    mats = [
        "id_card",
        "talent_recognition",
        "employment_contract",
        "assessment_material",
        "degree_certificate",
        "health_check",
        "no_crime_record",
        "resume",
    ]
    fields = {"unit_code": "U0102", "talent_category": "3", "introduction_mode": "rigid"}
    case_no = apply_as_zhangwei(live, "green_channel_registration", fields, mats, files)
    assert open_task_names(live, case_no) == ["Task_unit_review"]
    expect = ["张伟", "第三类", "刚性引进", "科技信息研究所"]

    # 用人单位
    hr, hr_phone = desk_page(new_page, live, "hr_kjxx"), desk_page(new_page, live, "hr_kjxx", PHONE)
    open_task(hr, live, case_no)
    sees_dossier_and_opens_a_material(hr, shot, "unit-hr", expect, "id_card", hr_phone)
    approve_task(hr, "同意", ("单位意见说明", "经单位研究，同意引进"))

    # 主管部门: reads the unit's opinion, then sends the case back to 单位审核
    dept = desk_page(new_page, live, "dept_kjt")
    open_task(dept, live, case_no)
    sees_dossier_and_opens_a_material(dept, shot, "dept", expect, "degree_certificate")
    assert "经单位研究，同意引进" in dept.get_by_test_id("opinions").inner_text()
    form = dept.locator("form.return-form")
    form.get_by_label("退回至").select_option("Task_unit_review")
    form.get_by_label("退回理由").fill("请补充单位党委会研究纪要")
    form.get_by_role("button", name="退回").click()
    dept.wait_for_load_state()
    assert "退回" in flash_text(dept)

    # the unit desk sees why, from whom and when, in the inbox and on the task
    hr.goto(f"{live.url}/officer/")
    flag = hr.locator(f'tr[data-case="{case_no}"]').get_by_test_id("returned-flag")
    assert "请补充单位党委会研究纪要" in flag.inner_text()
    shot(hr, "unit-inbox-returned-1366")
    hr_phone.goto(f"{live.url}/officer/")
    shot(hr_phone, "unit-inbox-returned-390")
    open_task(hr, live, case_no)
    banner = hr.get_by_test_id("returned-banner").inner_text()
    assert "请补充单位党委会研究纪要" in banner and "主管部门审核" in banner and "退回人" in banner
    assert "要求补正的材料" not in banner  # an internal return asks for no files
    shot(hr, "unit-returned-task-1366")
    hr_phone.goto(hr.url)
    shot(hr_phone, "unit-returned-task-390")
    approve_task(hr, "同意", ("单位意见说明", "已补充党委会纪要，同意"))
    open_task(dept, live, case_no)
    approve_task(dept, "同意", ("主管部门意见说明", "同意"))

    # 编办: U0102 has no vacant post of its own → the talent pool (or, when the pool is used up, 调剂)
    bb = desk_page(new_page, live, "bianban")
    names = open_task_names(live, case_no)
    assert names and names[0] in ("Task_pool_review", "Task_quota_adjust"), names
    open_task(bb, live, case_no)
    sees_dossier_and_opens_a_material(bb, shot, "bianban", expect, "talent_recognition")
    decided = bb.get_by_test_id("decided").inner_text()
    assert "编制来源" in decided and ("自治区人才专项编制" in decided or "待编办调剂" in decided)
    if names[0] == "Task_pool_review":
        approve_task(bb, "同意使用人才专项编制", ("审批意见说明", "同意"))
    else:
        approve_task(bb, "已调剂，重新核定编制", ("调剂情况说明", "已调剂"))
        open_task(bb, live, case_no)
        approve_task(bb, "同意使用人才专项编制")

    # 人社: reads every earlier opinion and opens the files before ticking 已核对材料并完成备案
    rs, rs_phone = desk_page(new_page, live, "renshe"), desk_page(new_page, live, "renshe", PHONE)
    assert open_task_names(live, case_no) == ["Task_filing"]
    open_task(rs, live, case_no)
    sees_dossier_and_opens_a_material(rs, shot, "hrss", expect, "resume", rs_phone)
    opinions = rs.get_by_test_id("opinions").inner_text()
    for text in ("已补充党委会纪要，同意", "用人单位人事专员", "主管部门审核员", "编办"):
        assert text in opinions, text
    assert (
        "备案期限" in rs.get_by_test_id("decided").inner_text()
        or "承诺办结日期" in rs.get_by_test_id("decided").inner_text()
    )
    approve_task(rs, None, ("备案说明", "材料齐全，予以备案"), check="已核对材料并完成备案")
    assert db_case(live, case_no).status == "completed"
    assert not console_errors(new_page), console_errors(new_page)


def test_return_to_the_applicant_is_visible_with_its_deadline(live_server, new_page, shot, files):
    live = live_server
    fields = {"unit_code": "U0101", "talent_category": "2", "introduction_mode": "rigid"}
    mats = [
        "id_card",
        "talent_recognition",
        "employment_contract",
        "assessment_material",
        "degree_certificate",
        "health_check",
        "no_crime_record",
        "resume",
    ]
    case_no = apply_as_zhangwei(live, "green_channel_registration", fields, mats, files)
    hr = desk_page(new_page, live, "hr_nky")
    open_task(hr, live, case_no)
    form = hr.locator("form.return-form")
    form.get_by_label("无犯罪记录证明").check()
    form.get_by_label("退回理由").fill("无犯罪记录证明已过有效期")
    form.get_by_role("button", name="退回").click()
    hr.wait_for_load_state()

    from workflows.domain.models import Document

    s = live.session()
    deadline = s.scalar(select(Document.data).where(Document.kind == "correction_notice").order_by(Document.id.desc()))[
        "deadline"
    ]
    s.commit()
    s.close()
    y, m, d = (int(x) for x in deadline.split("-"))
    for viewport, label in ((WIDE, "1366"), (PHONE, "390")):
        ap = desk_page(new_page, live, "zhangwei", viewport)
        ap.goto(f"{live.url}/my/case/{case_no}")
        step = ap.get_by_test_id("returned-step").inner_text()
        assert "待申请人补正" in step and f"{y}年{m}月{d}日" in step and "无犯罪记录证明" in step
        assert "无犯罪记录证明已过有效期" in ap.get_by_test_id("returned").inner_text()
        assert "待申请人补正" in ap.locator(".ap-stages").inner_text()
        shot(ap, f"applicant-returned-{label}")
    assert not console_errors(new_page), console_errors(new_page)


def test_committee_sees_the_title_dossier_before_voting(live_server, new_page, shot, files):
    live = live_server
    fields = {
        "unit_code": "U0101",
        "talent_category": "3",
        "introduction_mode": "rigid",
        "achievement": "key_core_technology",
        "target_level": "正高",
        "major": "作物遗传育种",
    }
    case_no = apply_as_zhangwei(live, "senior_title_direct", fields, ["id_card", "achievement_proof"], files)
    hr = desk_page(new_page, live, "hr_nky")
    open_task(hr, live, case_no)
    assert "作物遗传育种" in hr.get_by_test_id("application-data").inner_text()
    approve_task(hr, "同意", ("单位意见说明", "推荐申报"))
    # the unit's 公示 (5 working days) ends: fire its timer as the worker would, a week later
    from workflows.services.timers import fire_due_timers

    with time_machine.travel(datetime(2026, 3, 9, 0, 5, tzinfo=SH), tick=True):
        assert fire_due_timers(live.app.extensions["db_factory"]) >= 1
    dept = desk_page(new_page, live, "dept_kjt")
    open_task(dept, live, case_no)
    approve_task(dept, "同意", ("主管部门意见说明", "同意推荐"))
    assert open_task_names(live, case_no) == ["Task_committee_vote"]

    pw, pw_phone = desk_page(new_page, live, "pingwei"), desk_page(new_page, live, "pingwei", PHONE)
    open_task(pw, live, case_no)
    expect = ["正高级", "作物遗传育种", "突破关键核心技术", "刚性引进"]
    sees_dossier_and_opens_a_material(pw, shot, "committee", expect, "achievement_proof", pw_phone)
    opinions = pw.get_by_test_id("opinions").inner_text()
    assert "推荐申报" in opinions and "同意推荐" in opinions
    form = pw.locator("form.task-form")
    form.get_by_label("应到专家人数").fill("11")
    form.get_by_label("实到专家人数").fill("9")
    form.locator("[name=votes_for]").fill("7")  # (the label 同意票数 is also part of 不同意票数)
    form.get_by_label("不同意票数").fill("1")
    form.get_by_label("弃权票数").fill("1")
    form.get_by_role("button", name="提交办理结果").click()
    pw.wait_for_load_state()
    assert "已提交" in flash_text(pw)
    pw.goto(f"{live.url}/officer/cases/{case_no}")
    votes = pw.get_by_test_id("votes").inner_text()
    assert "实到专家人数" in votes and "通过" in votes
    shot(pw, "committee-case-after-vote-1366")
    assert not console_errors(new_page), console_errors(new_page)
