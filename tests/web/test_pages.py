"""Issue #10, deliverables 4 and 5: pages for what only the API did (a special post filed by unit HR, its early 核销,
a 公示 objection), the committee's vote counts checked on the form, the applicant's own data and the opinions on the
status page, the confirmation before a submission that would be refused, and files kept across a validation error.

Demo cases (tests/web/conftest.py, 2026-03-02): L…001 张伟 U0101 registration at 主管部门审核 (unit opinion given);
L…006 U0101 registration in its unit 公示; T…002 U0101 special post registered (聘期内); Z…001 张伟 U0101 title at
用人单位审核.
"""

from __future__ import annotations

import hashlib
import io
import re

from sqlalchemy import func, select

from tests.helpers import act, find_task, task_names
from tests.web.conftest import login, make_web_app, signed_in
from workflows.domain.models import Case, CaseEvent, Draft, OpenTask, SpecialPost
from workflows.services.timers import fire_due_timers

L1, L6 = "150000L260302000001", "150000L260302000006"
T2, Z1 = "150000T260302000002", "150000Z260302000001"
PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"
EXE = b"MZ\x90\x00" + b"\x00" * 64
REG = "green_channel_registration"
ALL_REG = (
    "id_card",
    "talent_recognition",
    "employment_contract",
    "assessment_material",
    "degree_certificate",
    "health_check",
    "no_crime_record",
    "resume",
)


def text(r) -> str:
    return r.get_data(as_text=True)


def case_of(db, case_no: str) -> Case:
    db.expire_all()
    c = db.scalar(select(Case).where(Case.case_no == case_no))
    c.materials, c.open_tasks  # noqa: B018  (load before the read ends)
    db.commit()
    return c


def field_error(html: str, name: str) -> str:
    m = re.search(rf'data-field="{name}".*?class="[^"]*field-error[^"]*"[^>]*>(.*?)</', html, re.S)
    return m.group(1).strip() if m else ""


def sp_form(**over) -> dict:
    d = {
        "post_name": "荒漠化防治首席专家",
        "post_level": "专业技术二级",
        "term_months": "36",
        "holder_name": "孙丽",
        "holder_id_number": "150102198702024444",
        "reason": "重大科研项目急需",
    }
    d.update(over)
    return d


def with_files(data: dict, files: dict[str, bytes], name: str = "{code}.pdf") -> dict:
    out = dict(data)
    for code, content in files.items():
        out[f"file_{code}"] = (io.BytesIO(content), name.format(code=code))
    return out


# ------------------------------------------------------------------------------------------------ 特设岗位 from the page
def test_unit_hr_files_a_special_post_that_reaches_the_departments_inbox(web_app, db):
    hr = signed_in(web_app, "hr_nky")
    assert 'href="/officer/special-posts/new"' in text(hr.get("/officer/"))
    page = text(hr.get("/officer/special-posts/new"))
    for label in ("岗位名称", "岗位等级", "聘期（月）", "拟聘人员姓名", "公民身份号码", "设置理由", "特设岗位设置方案"):
        assert label in page
    assert "内蒙古自治区农牧业科学院" in page  # the unit is the officer's own, not a choice
    before = db.scalar(select(func.count()).select_from(Case))
    db.commit()

    # field errors, the typed values kept, nothing started
    r = hr.post(
        "/officer/special-posts/new",
        data=with_files(sp_form(term_months="abc", post_name=""), {"post_plan": PDF}),
        content_type="multipart/form-data",
    )
    assert r.status_code == 422
    html = text(r)
    assert field_error(html, "term_months") and field_error(html, "post_name") == "此项为必填项"
    assert 'value="孙丽"' in html and "重大科研项目急需" in html
    assert "请上传“拟聘人员身份证”（必备材料）" in html
    assert db.scalar(select(func.count()).select_from(Case)) == before
    db.commit()

    r = hr.post(
        "/officer/special-posts/new",
        data=with_files(sp_form(), {"post_plan": PDF, "holder_id_card": PDF}),
        content_type="multipart/form-data",
    )
    assert r.status_code == 303, text(r)[:500]
    case_no = re.search(r"/officer/cases/([0-9A-Z]+)", r.headers["Location"]).group(1)
    c = case_of(db, case_no)
    assert c.procedure == "special_post" and c.unit_code == "U0101" and c.applicant_name == "孙丽"
    got = {m.code: m for m in c.materials}
    assert got["post_plan"].status == "received" and got["post_plan"].sha256 == hashlib.sha256(PDF).hexdigest()
    assert got["talent_recognition"].status == "missing"
    assert task_names(db, case_no) == ["Task_dept_review"]
    db.commit()
    inbox = text(signed_in(web_app, "dept_kjt").get("/officer/"))
    assert case_no in inbox


def test_special_post_page_is_for_unit_hr_only(web_app):
    for user in ("dept_kjt", "renshe", "pingwei", "admin", "zhangwei"):
        c = signed_in(web_app, user)
        assert c.get("/officer/special-posts/new").status_code == 403, user
        assert c.post("/officer/special-posts/new", data=sp_form()).status_code == 403, user
    assert web_app.test_client().get("/officer/special-posts/new").status_code == 302  # → login


def test_new_pages_refuse_a_post_without_csrf_token(tmp_path, clock, demo_db_template):
    app = make_web_app(tmp_path, demo_db_template, WTF_CSRF_ENABLED=True)
    try:
        hr = app.test_client()
        login(hr, "hr_nky")
        assert hr.post("/officer/special-posts/new", data=sp_form()).status_code == 400
        assert hr.post(f"/officer/cases/{T2}/writeoff", data={"reason": "resigned"}).status_code == 400
        assert hr.post(f"/officer/cases/{L6}/objection", data={"by": "x", "text": "y"}).status_code == 400
        s = app.extensions["db_factory"]()
        post = s.scalar(select(SpecialPost).join(Case, SpecialPost.case_id == Case.id).where(Case.case_no == T2))
        assert post.status == "active"
        s.close()
    finally:
        app.extensions["db_session"].remove()
        app.extensions["db_engine"].dispose()


# ------------------------------------------------------------------------------------------------ early 核销
def test_early_writeoff_with_a_reason(web_app, db):
    hr = signed_in(web_app, "hr_nky")
    case_page = text(hr.get(f"/officer/cases/{T2}"))
    assert f'href="/officer/cases/{T2}/writeoff"' in case_page
    page = text(hr.get(f"/officer/cases/{T2}/writeoff"))
    for label in ("任务完成", "辞聘", "解聘", "期满", "确认核销"):
        assert label in page
    r = hr.post(f"/officer/cases/{T2}/writeoff", data={})
    assert r.status_code == 422 and "请选择核销原因" in text(r)
    r = hr.post(f"/officer/cases/{T2}/writeoff", data={"reason": "bored"})
    assert r.status_code == 422
    # scope: another unit's HR does not see the case; other desks may not write off
    assert signed_in(web_app, "hr_nmgu").get(f"/officer/cases/{T2}/writeoff").status_code == 404
    assert (
        signed_in(web_app, "dept_kjt").post(f"/officer/cases/{T2}/writeoff", data={"reason": "resigned"}).status_code
        == 403
    )

    r = hr.post(f"/officer/cases/{T2}/writeoff", data={"reason": "resigned"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/officer/cases/{T2}")
    post = db.scalar(select(SpecialPost).join(Case, SpecialPost.case_id == Case.id).where(Case.case_no == T2))
    assert post.status == "written_off" and post.writeoff_reason == "聘用人员辞聘"
    db.commit()
    page = text(hr.get(f"/officer/cases/{T2}", follow_redirects=True))
    assert "已核销" in page and "聘用人员辞聘" in page
    assert f'href="/officer/cases/{T2}/writeoff"' not in page
    # once written off, the page says so instead of offering it again
    r = hr.get(f"/officer/cases/{T2}/writeoff")
    assert r.status_code == 303


# ------------------------------------------------------------------------------------------------ 公示 objection
def test_objection_recorded_during_publicity_and_visible_on_the_case(web_app, db):
    hr = signed_in(web_app, "hr_nky")
    assert f'href="/officer/cases/{L6}/objection"' in text(hr.get(f"/officer/cases/{L6}"))
    assert f'href="/officer/cases/{L1}/objection"' not in text(hr.get(f"/officer/cases/{L1}"))
    assert hr.get(f"/officer/cases/{L1}/objection").status_code == 303  # not in 公示
    assert signed_in(web_app, "hr_nmgu").get(f"/officer/cases/{L6}/objection").status_code == 404
    assert signed_in(web_app, "zhangwei").get(f"/officer/cases/{L6}/objection").status_code == 403

    page = text(hr.get(f"/officer/cases/{L6}/objection"))
    key = re.search(r'name="key" value="([0-9a-f]+)"', page).group(1)
    r = hr.post(
        f"/officer/cases/{L6}/objection",
        data={"by": "", "received_on": "2026-03-09", "text": "反映其学历造假", "key": key},
    )
    assert r.status_code == 422
    html = text(r)
    assert "此项为必填项" in html and "收到日期不能晚于今天" in html and "反映其学历造假" in html
    r = hr.post(
        f"/officer/cases/{L6}/objection",
        data={
            "by": "李某（来信）",
            "received_on": "2026-03-02",
            "text": "反映其学历造假",
            "key": key,
            "attachment": (io.BytesIO(EXE), "信.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 422 and "不是 PDF、JPG 或 PNG 文件" in text(r) and 'value="李某（来信）"' in text(r)
    data = {
        "by": "李某（来信）",
        "received_on": "2026-03-02",
        "text": "反映其学历造假",
        "key": key,
        "attachment": (io.BytesIO(PDF + b"letter"), "举报信.pdf"),
    }
    r = hr.post(f"/officer/cases/{L6}/objection", data=data, content_type="multipart/form-data")
    assert r.status_code == 303
    ev = db.scalar(
        select(CaseEvent)
        .join(Case, CaseEvent.case_id == Case.id)
        .where(Case.case_no == L6, CaseEvent.action == "message", CaseEvent.task_name == "objection")
    )
    sent = ev.payload["payload"]
    db.commit()
    assert sent["by"] == "李某（来信）" and sent["received_on"] == "2026-03-02" and sent["text"] == "反映其学历造假"
    sha = hashlib.sha256(PDF + b"letter").hexdigest()
    assert sent["attachment"] == {"file_name": "举报信.pdf", "sha256": sha}
    assert "Task_publicity_objection_review" in task_names(db, L6)  # the finding is the next step
    db.commit()
    page = text(hr.get(f"/officer/cases/{L6}"))
    table = re.search(r'data-testid="objections".*?</table>', page, re.S).group(0)
    assert "李某（来信）" in table and "2026年3月2日" in table and "反映其学历造假" in table and "举报信.pdf" in table
    f = hr.get(f"/officer/cases/{L6}/objection-files/{sha}")
    assert f.status_code == 200 and f.data == PDF + b"letter"
    assert hr.get(f"/officer/cases/{L6}/objection-files/{'0' * 64}").status_code == 404
    assert signed_in(web_app, "hr_nmgu").get(f"/officer/cases/{L6}/objection-files/{sha}").status_code == 404
    # the same form sent twice (its key) records one objection
    data["attachment"] = (io.BytesIO(PDF + b"letter"), "举报信.pdf")
    hr.post(f"/officer/cases/{L6}/objection", data=data, content_type="multipart/form-data")
    n = db.scalar(
        select(func.count())
        .select_from(CaseEvent)
        .join(Case, CaseEvent.case_id == Case.id)
        .where(Case.case_no == L6, CaseEvent.task_name == "objection")
    )
    db.commit()
    assert n == 1
    # the finding: the review step's form, by its desk (主管部门)
    t = find_task(db, L6, "Task_publicity_objection_review")
    db.commit()
    dept = signed_in(web_app, "dept_kjt")
    r = dept.post(
        f"/officer/cases/{L6}/tasks/{t.task_id}/complete",
        data={"objection_finding": "rejected", "objection_note": "经核查学历属实，异议不成立"},
    )
    assert r.status_code == 303
    assert "经核查学历属实，异议不成立" in text(hr.get(f"/officer/cases/{L6}"))


# ------------------------------------------------------------------------------------------------ the vote's counts
def test_vote_form_checks_expected_present_and_votes_keeping_the_values(web_app, db, clock):
    act(db, Z1, "Task_unit_review")
    clock.to(2026, 3, 7, 0, 5)  # the unit's 公示 is over
    assert fire_due_timers(web_app.extensions["db_factory"]) >= 1
    act(db, Z1, "Task_dept_review")
    t = find_task(db, Z1, "Task_committee_vote")
    db.commit()
    pw = signed_in(web_app, "pingwei")
    url = f"/officer/cases/{Z1}/tasks/{t.task_id}"
    form = text(pw.get(url))
    assert "应到专家人数" in form and "实到专家人数" in form and "同意票数" in form
    assert "不同意票数" in form and "弃权票数" in form

    r = pw.post(url + "/complete", data={"experts_expected": "9", "experts_present": "11", "votes_for": "12"})
    assert r.status_code == 422
    html = text(r)
    assert field_error(html, "experts_present") == "实到人数（11）不能多于应到人数（9）"
    assert 'value="9"' in html and 'value="11"' in html and 'value="12"' in html  # what was typed stays
    r = pw.post(url + "/complete", data={"experts_expected": "11", "experts_present": "9", "votes_for": "10"})
    assert r.status_code == 422 and field_error(text(r), "votes_for") == "同意票数（10）不能多于实到人数（9）"
    r = pw.post(url + "/complete", data={"experts_expected": "11", "experts_present": "9", "votes_for": "-1"})
    assert r.status_code == 422 and field_error(text(r), "votes_for")
    assert find_task(db, Z1, "Task_committee_vote").task_id == t.task_id  # nothing happened
    db.commit()
    counts = {
        "experts_expected": "11",
        "experts_present": "9",
        "votes_for": "7",
        "votes_against": "1",
        "votes_abstain": "1",
    }
    r = pw.post(  # 7 of 11 present: below two thirds, the meeting cannot vote
        url + "/complete",
        data={**counts, "experts_present": "7", "votes_for": "7", "votes_against": "0", "votes_abstain": "0"},
    )
    assert r.status_code == 422 and "不足法定人数" in field_error(text(r), "experts_present")
    r = pw.post(url + "/complete", data={**counts, "votes_abstain": "2"})  # 7 + 1 + 2 ≠ 9
    assert r.status_code == 422 and "须等于实到人数（9）" in field_error(text(r), "votes_abstain")
    r = pw.post(url + "/complete", data=counts)
    assert r.status_code == 303
    assert db.scalar(select(OpenTask.id).where(OpenTask.task_id == t.task_id)) is None
    db.commit()


# ------------------------------------------------------------------------------------------------ the applicant's view
def test_applicant_sees_own_data_and_the_opinions(web_app, db):
    zhang = signed_in(web_app, "zhangwei")
    page = text(zhang.get(f"/my/case/{L1}"))
    data = re.search(r'data-testid="own-data".*?</dl>', page, re.S).group(0)
    for label in ("人才类别", "引进方式", "现为编制外聘用", "用人单位", "内蒙古自治区农牧业科学院"):
        assert label in data
    assert "materials" not in data and "id_card" not in data
    opinions = re.search(r'data-testid="opinions".*?</ol>', page, re.S).group(0)
    assert "单位审核" in opinions and "经单位党委会研究，同意" in opinions
    assert "材料审查" in opinions  # the rule's decision, in words


# ------------------------------------------------------------------------------------------------ applicant: submit
def _apply(client, fields: dict, files: dict[str, bytes], **extra):
    data = with_files({"unit_code": "U0101", "action": "submit", **fields, **extra}, files)
    return client.post(f"/my/new/{REG}", data=data, content_type="multipart/form-data")


def test_key_material_missing_asks_first_then_refuses_as_before(web_app, db):
    zhang = signed_in(web_app, "zhangwei")
    before = db.scalar(select(func.count()).select_from(Case))
    db.commit()
    fields = {"talent_category": "3", "introduction_mode": "rigid"}
    r = _apply(zhang, fields, {c: PDF for c in ALL_REG if c not in ("talent_recognition", "assessment_material")})
    assert r.status_code == 200
    page = text(r)
    assert 'data-testid="confirm-submit"' in page
    assert "缺少关键材料：人才类别认定文件、考察材料，提交后将不予受理" in page
    assert "返回修改" in page and "仍然提交" in page
    assert db.scalar(select(func.count()).select_from(Case)) == before  # nothing submitted yet
    db.commit()
    draft_id = int(re.search(r'name="draft_id" value="(\d+)"', page).group(1))
    # 返回修改: the form with the values and the files kept
    back = re.search(r'href="([^"]+)" data-testid="back-to-edit"', page).group(1).replace("&amp;", "&")
    form = text(zhang.get(back))
    assert '<option value="3" selected>' in form and 'data-testid="kept-id_card"' in form
    assert 'data-testid="kept-talent_recognition"' not in form
    # 仍然提交: refused at once, as the rules say, with the files received
    r = zhang.post(
        f"/my/new/{REG}",
        data={**fields, "unit_code": "U0101", "action": "submit", "confirm": "1", "draft_id": str(draft_id)},
    )
    assert r.status_code == 302
    case_no = re.search(r"/my/case/([0-9A-Z]+)", r.headers["Location"]).group(1)
    c = case_of(db, case_no)
    assert c.status == "not_accepted" and "人才类别认定文件" in (c.outcome_reason or "")
    assert {m.code for m in c.materials if m.status == "received"} == set(ALL_REG) - {
        "talent_recognition",
        "assessment_material",
    }
    assert db.get(Draft, draft_id) is None
    db.commit()


def test_files_are_kept_across_a_validation_error(web_app, db):
    zhang = signed_in(web_app, "zhangwei")
    files = {c: PDF + c.encode() for c in ALL_REG}
    files_sent = with_files(
        {"unit_code": "U0101", "action": "submit", "talent_category": "3", "introduction_mode": ""}, files
    )
    files_sent["file_resume"] = (io.BytesIO(EXE), "简历.pdf")  # one refused by the server check
    r = zhang.post(f"/my/new/{REG}", data=files_sent, content_type="multipart/form-data")
    assert r.status_code == 422
    page = text(r)
    assert "不是 PDF、JPG 或 PNG 文件" in page
    assert "已上传：" in page and 'data-testid="kept-id_card"' in page and "id_card.pdf" in page
    assert 'data-testid="kept-resume"' not in page
    assert '<option value="3" selected>' in page  # the typed values stay too
    draft_id = int(re.search(r'name="draft_id" value="(\d+)"', page).group(1))
    # the mistakes mended: only the refused file chosen again, the field filled — nothing else re-chosen
    r = zhang.post(
        f"/my/new/{REG}",
        data=with_files(
            {
                "unit_code": "U0101",
                "action": "submit",
                "talent_category": "3",
                "introduction_mode": "rigid",
                "draft_id": str(draft_id),
            },
            {"resume": PDF + b"resume"},
        ),
        content_type="multipart/form-data",
    )
    assert r.status_code == 302, text(r)[:300]
    case_no = re.search(r"/my/case/([0-9A-Z]+)", r.headers["Location"]).group(1)
    c = case_of(db, case_no)
    assert c.accepted_on is not None  # 即收即办: everything arrived
    assert {m.code: m.sha256 for m in c.materials} == {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    got = {m.code: m.file_name for m in c.materials}
    assert got["id_card"] == "id_card.pdf"
    # a kept file can be removed or replaced
    r = _apply(zhang, {"talent_category": "3", "introduction_mode": ""}, {"id_card": PDF})
    draft_id = int(re.search(r'name="draft_id" value="(\d+)"', text(r)).group(1))
    r = zhang.post(
        f"/my/new/{REG}",
        data={"unit_code": "U0101", "action": "draft", "draft_id": str(draft_id), "remove_file": "id_card"},
    )
    assert r.status_code == 302
    d = db.get(Draft, draft_id)
    assert "_files" not in d.data
    db.commit()
