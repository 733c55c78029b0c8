"""Applicant portal (/my) through the Flask test client on a real SQLite database: apply (即收即办 and 容缺),
sign the commitment, supply owed items, upload checks, drafts, withdraw, resubmit after a return, notices, 好差评,
and scope (another applicant's case is 404).

The app is fresh per test: `flask init-db` (no demo cases) plus the reference data (units, users, quota pools),
under the frozen `clock` (Monday 2 March 2026, 09:00 Asia/Shanghai)."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from tests.helpers import ALL_REG_MATERIALS, act, find_task, reload
from tests.web.conftest import login
from webapp.demo.accounts import actor_for
from workflows.domain.legal_time import LegalCalendar
from workflows.domain.models import Case, Draft, Material, Rating
from workflows.services import handling

REG = "green_channel_registration"
TITLE = "senior_title_direct"
PASSWORD = "lvse-2026"
PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64


# ---- fixtures (own names: tests/web/conftest.py belongs to the demo-data web tests) ----------------------------
@pytest.fixture
def ap_app(tmp_path, clock):
    from webapp import create_app
    from webapp.demo.accounts import load_reference_data

    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/a.sqlite3",
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "UPLOAD_DIR": str(tmp_path / "up"),
            "SWEEP_IN_PROCESS": False,
        }
    )
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    s = app.extensions["db_factory"]()
    load_reference_data(s)
    s.close()
    yield app
    app.extensions["db_session"].remove()
    app.extensions["db_engine"].dispose()


@pytest.fixture
def ap_db(ap_app):
    """A session on the app's database for services and checks; every read is closed with commit()."""
    s = ap_app.extensions["db_factory"]()
    yield s
    s.close()


def _login(app, username: str):
    c = app.test_client()
    r = c.post("/login", data={"username": username, "password": PASSWORD})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    return c


@pytest.fixture
def zhang(ap_app):
    return _login(ap_app, "zhangwei")


@pytest.fixture
def liuna(ap_app):
    return _login(ap_app, "liuna")


@pytest.fixture
def up_dir(ap_app, tmp_path):
    return tmp_path / "up"


# ---- helpers --------------------------------------------------------------------------------------------------
def reg_fields(**over) -> dict:
    d = {"unit_code": "U0101", "talent_category": "3", "introduction_mode": "rigid"}
    d.update(over)
    return d


def post_application(client, procedure: str, fields: dict, files: dict[str, bytes], action: str = "submit", **extra):
    data = {**fields, "action": action, **extra}
    for code, content in files.items():
        data[f"file_{code}"] = (io.BytesIO(content), f"{code}.pdf")
    return client.post(f"/my/new/{procedure}", data=data, content_type="multipart/form-data")


def case_no_from(resp) -> str:
    m = re.search(r"/my/case/([0-9A-Z]+)", resp.headers["Location"])
    assert m, resp.headers["Location"]
    return m.group(1)


def text(resp) -> str:
    return resp.get_data(as_text=True)


def stored_files(up_dir) -> list:
    return sorted(p.name for p in up_dir.iterdir() if not p.name.startswith(".")) if up_dir.exists() else []


def count(db, model) -> int:
    n = db.scalar(select(func.count()).select_from(model)) or 0
    db.commit()
    return n


def materials(db, case_no) -> dict[str, Material]:
    return {m.code: m for m in reload(db, case_no).materials}


def cn(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def rongque_case(zhang, missing=("health_check",)) -> str:
    files = {c: PDF for c in ALL_REG_MATERIALS if c not in missing}
    r = post_application(zhang, REG, reg_fields(), files)
    assert r.status_code == 302 and r.headers["Location"].endswith("/commitment")
    return case_no_from(r)


# ---- choosing a procedure -------------------------------------------------------------------------------------
def test_choose_a_procedure_special_posts_are_for_units(zhang, ap_app):
    page = text(zhang.get("/my/new"))
    assert "绿色通道列编注册" in page and "职称绿色通道直接申报" in page
    assert "由用人单位申请" in page  # 特设岗位 explained, not offered
    assert 'href="/my/new/green_channel_registration"' in page
    assert 'href="/my/new/special_post"' not in page
    r = zhang.get("/my/new/special_post")
    assert r.status_code == 302
    assert zhang.get("/my/new/nonsense").status_code == 404
    form = text(zhang.get("/my/new/green_channel_registration"))
    # labels from the schema titles, the fixed identity, a unit select of units only, category 1–7 or 未认定
    for label in ("人才类别", "引进方式", "用人单位", "聘用类型", "原聘用日期", "150102199001011234", "张伟"):
        assert label in form
    assert "内蒙古自治区农牧业科学院" in form and "内蒙古自治区科学技术厅" not in form
    assert 'value="none"' in form and "未认定" in form and "第七类" in form
    assert form.count('type="file"') == 8 and form.count("必备") >= 4
    assert "保存草稿" in form and "提交申请" in form and "容缺" in form
    assert "<script>" not in form and "onclick" not in form  # CSP: no inline scripts
    officer = _login(ap_app, "hr_nky")
    assert officer.get("/my/").status_code == 403


# ---- 即收即办 ----------------------------------------------------------------------------------------------------
def test_apply_with_all_materials_is_accepted_the_same_day(zhang, ap_db, up_dir):
    r = post_application(zhang, REG, reg_fields(), {c: PDF for c in ALL_REG_MATERIALS})
    assert r.status_code == 302
    case_no = case_no_from(r)
    c = reload(ap_db, case_no)
    assert c.status == "running" and c.accepted_on == date(2026, 3, 2)
    assert c.start_data["applicant_name"] == "张伟" and c.start_data["talent_category"] == 3
    mats = materials(ap_db, case_no)
    assert all(m.status == "received" for m in mats.values())
    sha = hashlib.sha256(PDF).hexdigest()
    assert all(m.sha256 == sha and m.file_name == f"{m.code}.pdf" for m in mats.values())
    assert stored_files(up_dir) == [sha]  # the same content is stored once

    page = text(zhang.get(f"/my/case/{case_no}"))
    assert case_no in page and "绿色通道列编注册" in page
    assert re.search(r'data-testid="accepted-on">2026年3月2日<', page)
    promised = LegalCalendar().add_working_days(date(2026, 3, 2), 40)
    assert c.promised_on == promised and cn(promised) + "前办结" in page
    assert "2026-03-02 09:00" in page  # 收件 time, local
    assert "尚未办结" in page
    # current step and who holds it, the timeline in Chinese with dates
    assert "单位审核" in page and "内蒙古自治区农牧业科学院 人事部门" in page
    assert "提交申请" in page and "即收即办" in page and "材料审查" in page
    assert "task_opened" not in page and "submitted" not in page
    # the applicant's own file can be downloaded back
    f = zhang.get(f"/my/case/{case_no}/materials/id_card")
    assert f.status_code == 200 and f.data == PDF and f.mimetype == "application/pdf"
    # home lists it
    home = text(zhang.get("/my/"))
    assert case_no in home and "办理中" in home


# ---- 容缺: commitment, owed with a deadline date, supply ---------------------------------------------------------
def test_rongque_commitment_then_owed_item_with_deadline_date_then_supply(zhang, ap_db, up_dir, clock):
    case_no = rongque_case(zhang)
    deadline = LegalCalendar().add_working_days(date(2026, 3, 2), 30)
    assert deadline == date(2026, 4, 14)  # across the 清明 break
    page = text(zhang.get(f"/my/case/{case_no}/commitment"))
    assert "容缺受理承诺书" in page and "体检报告" in page and cn(deadline) in page
    assert "逾期未补齐的，终止办理并记录违诺" in page
    assert "无犯罪记录证明" not in page  # only what is missing
    status_page = text(zhang.get(f"/my/case/{case_no}"))
    assert "阅读并签署承诺书" in status_page and "上传补交" not in status_page  # no supply before signing

    r = zhang.post(f"/my/case/{case_no}/commitment", data={})
    assert r.status_code == 422 and "请勾选" in text(r)
    assert reload(ap_db, case_no).accepted_on is None
    r = zhang.post(f"/my/case/{case_no}/commitment", data={"commitment_signed": "1"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/my/case/{case_no}")

    c = reload(ap_db, case_no)
    assert c.accepted_on == date(2026, 3, 2) and c.rongque_deadline == deadline
    page = text(zhang.get(f"/my/case/{case_no}"))
    assert 'data-testid="owed"' in page
    assert re.search(r'data-testid="owed-deadline">2026年4月14日<', page)
    assert "容缺受理" in page and "容缺待补" in page and "签署容缺承诺书" in page
    assert "单位审核" in page  # the main branch goes on

    clock.to(2026, 3, 10, 10)
    login(zhang, "zhangwei")  # a week later: the session ended on the server (SESSION_HOURS)
    r = zhang.post(
        f"/my/case/{case_no}/supply/health_check",
        data={"file": (io.BytesIO(PDF + b"health"), "体检报告.pdf")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 303
    mats = materials(ap_db, case_no)
    assert mats["health_check"].status == "received"
    assert mats["health_check"].sha256 == hashlib.sha256(PDF + b"health").hexdigest()
    assert mats["health_check"].file_name == "体检报告.pdf"  # Chinese name kept for display
    assert mats["health_check"].sha256 in stored_files(up_dir)
    c = reload(ap_db, case_no)
    assert c.complete_on == date(2026, 3, 10)  # the engine got rongque_supplied
    page = text(zhang.get(f"/my/case/{case_no}"))
    assert 'data-testid="owed"' not in page
    assert "收到补交材料：体检报告" in page and "容缺材料已全部补齐" in page
    # the same item cannot be supplied twice
    r = zhang.post(
        f"/my/case/{case_no}/supply/health_check",
        data={"file": (io.BytesIO(PDF + b"again"), "x.pdf")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 409


# ---- upload checks --------------------------------------------------------------------------------------------
def test_bad_upload_type_is_refused_in_chinese_and_nothing_is_stored(zhang, ap_db, up_dir):
    files = {c: PDF for c in ALL_REG_MATERIALS}
    data = {**reg_fields(), "action": "submit"}
    for code, content in files.items():
        data[f"file_{code}"] = (io.BytesIO(content), f"{code}.pdf")
    data["file_id_card"] = (io.BytesIO(EXE), "身份证.pdf")  # a renamed program
    r = zhang.post(f"/my/new/{REG}", data=data, content_type="multipart/form-data")
    assert r.status_code == 422
    assert "“居民身份证”不是 PDF、JPG 或 PNG 文件" in text(r)
    # issue #10: the refused file is never stored; the files that passed are kept with a draft (not chosen again)
    assert count(ap_db, Case) == 0 and stored_files(up_dir) == [hashlib.sha256(PDF).hexdigest()]
    assert count(ap_db, Draft) == 1 and 'data-testid="kept-id_card"' not in text(r)
    assert 'data-testid="kept-resume"' in text(r)

    case_no = rongque_case(zhang)
    zhang.post(f"/my/case/{case_no}/commitment", data={"commitment_signed": "1"})
    before = stored_files(up_dir)
    r = zhang.post(
        f"/my/case/{case_no}/supply/health_check",
        data={"file": (io.BytesIO(EXE), "a.exe")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "不是 PDF、JPG 或 PNG 文件" in text(r)
    assert materials(ap_db, case_no)["health_check"].status == "owed"
    assert stored_files(up_dir) == before
    # an empty choice is refused too
    r = zhang.post(f"/my/case/{case_no}/supply/health_check", data={}, follow_redirects=True)
    assert "请选择" in text(r)
    # PNG and JPEG are accepted
    r = zhang.post(
        f"/my/case/{case_no}/supply/health_check",
        data={"file": (io.BytesIO(PNG), "scan.png")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 303 and materials(ap_db, case_no)["health_check"].status == "received"


def test_oversize_file_is_refused(zhang, ap_db, ap_app, up_dir):
    big = b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024)
    r = post_application(zhang, REG, reg_fields(), {"id_card": big})
    assert r.status_code == 422 and "超过 10 MB" in text(r)
    assert count(ap_db, Case) == 0 and stored_files(up_dir) == []
    ap_app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024  # the request cap is checked before anything is read
    r = post_application(zhang, REG, reg_fields(), {"id_card": b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024)})
    assert r.status_code == 413 and "上传的文件过大" in text(r)
    assert stored_files(up_dir) == []


def test_schema_errors_come_back_on_the_form(zhang, ap_db):
    r = post_application(zhang, REG, reg_fields(talent_category=""), {"id_card": PDF})
    assert r.status_code == 422
    page = text(r)
    assert "申请表填写有误" in page and "此项为必填项" in page
    assert count(ap_db, Case) == 0


# ---- drafts ---------------------------------------------------------------------------------------------------
def test_draft_save_resume_submit_and_delete(zhang, liuna, ap_db):
    r = post_application(zhang, REG, reg_fields(talent_category="2", introduction_mode=""), {}, action="draft")
    assert r.status_code == 302 and "draft=" in r.headers["Location"]
    draft_id = int(r.headers["Location"].rsplit("=", 1)[1])
    d = ap_db.get(Draft, draft_id)
    assert d.data["talent_category"] == 2 and "introduction_mode" not in d.data
    ap_db.commit()
    assert count(ap_db, Case) == 0
    assert "继续填写草稿" in text(zhang.get("/my/new")) and "未提交的草稿" in text(zhang.get("/my/"))
    page = text(zhang.get(f"/my/new/{REG}?draft={draft_id}"))
    assert '<option value="2" selected>' in page and f'name="draft_id" value="{draft_id}"' in page
    assert liuna.get(f"/my/new/{REG}?draft={draft_id}").status_code == 404
    assert liuna.post(f"/my/drafts/{draft_id}/delete").status_code == 404
    # save again (same draft), then submit from it: the draft goes away
    post_application(zhang, REG, reg_fields(talent_category="2"), {}, action="draft", draft_id=str(draft_id))
    assert count(ap_db, Draft) == 1
    r = post_application(
        zhang, REG, reg_fields(talent_category="2"), {c: PDF for c in ALL_REG_MATERIALS}, draft_id=str(draft_id)
    )
    assert r.status_code == 302 and count(ap_db, Draft) == 0
    # another draft, deleted
    r = post_application(zhang, TITLE, {"unit_code": "U0101", "target_level": "正高"}, {}, action="draft")
    draft_id = int(r.headers["Location"].rsplit("=", 1)[1])
    assert zhang.post(f"/my/drafts/{draft_id}/delete").status_code == 302
    assert count(ap_db, Draft) == 0


# ---- withdraw -------------------------------------------------------------------------------------------------
def test_withdraw(zhang, ap_db):
    r = post_application(zhang, REG, reg_fields(), {c: PDF for c in ALL_REG_MATERIALS})
    case_no = case_no_from(r)
    assert "撤回申请" in text(zhang.get(f"/my/case/{case_no}"))
    r = zhang.post(f"/my/case/{case_no}/withdraw", data={"reason": "已另行安排"})
    assert r.status_code == 302
    c = reload(ap_db, case_no)
    assert c.status == "withdrawn" and c.outcome_reason == "已另行安排" and c.closed_at is not None
    page = text(zhang.get(f"/my/case/{case_no}"))
    assert "已撤回" in page and "申请人撤回申请：已另行安排" in page and "确认撤回" not in page
    assert zhang.post(f"/my/case/{case_no}/withdraw", data={}).status_code == 409


# ---- 好差评 ----------------------------------------------------------------------------------------------------
def test_rating_only_after_closing_reason_below_three_stars_once(zhang, ap_db):
    case_no = case_no_from(post_application(zhang, REG, reg_fields(), {c: PDF for c in ALL_REG_MATERIALS}))
    r = zhang.post(f"/my/case/{case_no}/rate", data={"stars": "5"}, follow_redirects=True)
    assert "办结后才能评价" in text(r) and count(ap_db, Rating) == 0
    assert "办结后可以对本次服务进行评价" in text(zhang.get(f"/my/case/{case_no}"))
    for step in ("Task_unit_review", "Task_dept_review", "Task_filing"):
        act(ap_db, case_no, step)
    c = reload(ap_db, case_no)
    assert c.status == "completed"
    page = text(zhang.get(f"/my/case/{case_no}"))
    assert "已办结" in page and "提交评价" in page and "尚未办结" not in page
    assert 'data-testid="closed-at">2026-03-02 09:00<' in page
    r = zhang.post(f"/my/case/{case_no}/rate", data={"stars": "2", "reason": "  "}, follow_redirects=True)
    assert "三星以下的评价须填写理由" in text(r) and count(ap_db, Rating) == 0
    r = zhang.post(f"/my/case/{case_no}/rate", data={"stars": "9"}, follow_redirects=True)
    assert "评价须为1至5星" in text(r) and count(ap_db, Rating) == 0
    r = zhang.post(f"/my/case/{case_no}/rate", data={"stars": "5"}, follow_redirects=True)
    assert "感谢您的评价" in text(r) and "★★★★★" in text(r)
    rating = ap_db.scalar(select(Rating))
    ap_db.commit()
    assert rating.stars == 5 and rating.reason is None
    r = zhang.post(f"/my/case/{case_no}/rate", data={"stars": "1", "reason": "再评一次"}, follow_redirects=True)
    assert "该办件已评价" in text(r) and count(ap_db, Rating) == 1


# ---- scope ----------------------------------------------------------------------------------------------------
def test_another_applicants_case_is_not_found(zhang, liuna, ap_app, ap_db):
    case_no = case_no_from(post_application(zhang, REG, reg_fields(), {c: PDF for c in ALL_REG_MATERIALS}))
    for path in (
        f"/my/case/{case_no}",
        f"/my/case/{case_no}/commitment",
        f"/my/case/{case_no}/resubmit",
        f"/my/case/{case_no}/materials/id_card",
        f"/my/case/{case_no}/documents/1",
    ):
        assert liuna.get(path).status_code == 404, path
    for path in (f"/my/case/{case_no}/withdraw", f"/my/case/{case_no}/rate", f"/my/case/{case_no}/supply/health_check"):
        assert liuna.post(path, data={"stars": "5"}).status_code == 404, path
    assert case_no not in text(liuna.get("/my/"))
    assert reload(ap_db, case_no).status == "running"
    anonymous = ap_app.test_client()
    assert anonymous.get(f"/my/case/{case_no}").status_code == 302  # → login
    # liuna cannot file in someone else's name either: the identity comes from the account
    r = post_application(
        liuna,
        REG,
        reg_fields(unit_code="U0201", applicant_name="张伟", id_number="150102199001011234"),
        {c: PDF for c in ALL_REG_MATERIALS},
    )
    c = reload(ap_db, case_no_from(r))
    assert c.id_number == "150104198805052345" and c.applicant_name == "刘娜"


# ---- returned for correction → resubmit -----------------------------------------------------------------------
def test_returned_case_resubmit_flow(zhang, ap_db, up_dir, clock):
    case_no = case_no_from(post_application(zhang, REG, reg_fields(), {c: PDF for c in ALL_REG_MATERIALS}))
    t = find_task(ap_db, case_no, "Task_unit_review")
    handling.return_for_correction(
        ap_db,
        case_no,
        t.task_id,
        actor_for(ap_db, "hr_nky"),
        "学历证书扫描件不清晰，请重新上传",
        items=["degree_certificate"],
    )
    ap_db.commit()
    page = text(zhang.get(f"/my/case/{case_no}"))
    assert "退回补正" in page and "学历证书扫描件不清晰" in page and "补正并重新提交" in page
    assert "学历学位证书" in page
    form = text(zhang.get(f"/my/case/{case_no}/resubmit"))
    assert "学历证书扫描件不清晰" in form and 'name="file_degree_certificate"' in form
    assert 'name="talent_category"' in form and 'name="unit_code"' not in form  # only correctable fields
    r = zhang.post(
        f"/my/case/{case_no}/resubmit",
        data={"talent_category": "3", "introduction_mode": "rigid"},
        content_type="multipart/form-data",
    )
    assert r.status_code == 422 and "仍需补正的材料未提交" in text(r)
    r = zhang.post(
        f"/my/case/{case_no}/resubmit",
        data={
            "talent_category": "3",
            "introduction_mode": "rigid",
            "file_degree_certificate": (io.BytesIO(EXE), "x.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 422 and "不是 PDF" in text(r)
    clock.to(2026, 3, 4, 9)
    login(zhang, "zhangwei")
    new_pdf = PDF + b"clear scan"
    r = zhang.post(
        f"/my/case/{case_no}/resubmit",
        data={
            "talent_category": "2",
            "introduction_mode": "rigid",
            "outside_establishment": "",
            "file_degree_certificate": (io.BytesIO(new_pdf), "学位证.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    c = reload(ap_db, case_no)
    assert c.status == "running" and c.start_data["talent_category"] == 2 and c.hold_days == 2
    m = materials(ap_db, case_no)["degree_certificate"]
    assert m.status == "received" and m.sha256 == hashlib.sha256(new_pdf).hexdigest() and m.file_name == "学位证.pdf"
    assert m.sha256 in stored_files(up_dir)
    page = text(zhang.get(f"/my/case/{case_no}"))
    assert "申请人已补正并重新提交" in page and "单位审核" in page
    assert zhang.get(f"/my/case/{case_no}/resubmit").status_code == 302  # nothing to correct any more


# ---- issued notices -------------------------------------------------------------------------------------------
def test_download_issued_notices_of_own_case_only(zhang, liuna, ap_app, ap_db):
    archive = pytest.importorskip("workflows.services.archive")
    case_no = case_no_from(post_application(zhang, REG, reg_fields(), {c: PDF for c in ALL_REG_MATERIALS}))
    other = case_no_from(
        post_application(liuna, REG, reg_fields(unit_code="U0201"), {c: PDF for c in ALL_REG_MATERIALS})
    )
    c, o = reload(ap_db, case_no), reload(ap_db, other)
    docs = archive.documents_of_case(ap_db, c.id)
    other_docs = archive.documents_of_case(ap_db, o.id)
    ap_db.commit()
    assert [d.kind for d in docs] == ["acceptance_notice"]
    page = text(zhang.get(f"/my/case/{case_no}"))
    assert "受理通知书" in page and docs[0].doc_no in page and "生成中" in page
    assert zhang.get(f"/my/case/{case_no}/documents/{docs[0].id}").status_code == 404  # not archived yet
    fake = b"%PDF-1.7\n% acceptance notice\n%%EOF\n"
    for d in docs + other_docs:
        archive.attach_pdf(ap_db, d.id, fake)
    ap_db.commit()
    page = text(zhang.get(f"/my/case/{case_no}"))
    assert f"/my/case/{case_no}/documents/{docs[0].id}" in page
    r = zhang.get(f"/my/case/{case_no}/documents/{docs[0].id}")
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data == fake
    assert "attachment" in r.headers["Content-Disposition"]
    # another case's document, through my case or through hers
    assert zhang.get(f"/my/case/{case_no}/documents/{other_docs[0].id}").status_code == 404
    assert zhang.get(f"/my/case/{other}/documents/{other_docs[0].id}").status_code == 404
    assert liuna.get(f"/my/case/{case_no}/documents/{docs[0].id}").status_code == 404


# ---- 职称 procedure: missing non-key items can be added later --------------------------------------------------
def test_title_application_and_adding_a_missing_item(zhang, ap_db):
    r = post_application(
        zhang,
        TITLE,
        {
            "unit_code": "U0101",
            "talent_category": "3",
            "introduction_mode": "rigid",
            "achievement": "none",
            "target_level": "正高",
            "major": "作物遗传育种",
        },
        {"id_card": PDF, "achievement_proof": PDF},
    )
    assert r.status_code == 302
    case_no = case_no_from(r)
    c = reload(ap_db, case_no)
    assert c.procedure == TITLE and c.start_data["achievement"] is None and c.status == "running"
    page = text(zhang.get(f"/my/case/{case_no}"))
    assert "职称绿色通道直接申报" in page and "未提交" in page and "上传补交" in page
    r = zhang.post(
        f"/my/case/{case_no}/supply/degree_certificate",
        data={"file": (io.BytesIO(PDF + b"deg"), "degree.pdf")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 303
    assert materials(ap_db, case_no)["degree_certificate"].status == "received"


def test_missing_key_item_is_refused_with_its_name(zhang, ap_db):
    files = {c: PDF for c in ALL_REG_MATERIALS if c != "talent_recognition"}
    r = post_application(zhang, REG, reg_fields(), files, follow_redirects=False)
    # issue #10: a confirmation page first; 仍然提交 (confirm=1 with the draft that kept the files) refuses as before
    assert r.status_code == 200 and "缺少关键材料：人才类别认定文件，提交后将不予受理" in text(r)
    draft_id = re.search(r'name="draft_id" value="(\d+)"', text(r)).group(1)
    r = post_application(zhang, REG, reg_fields(), {}, draft_id=draft_id, confirm="1")
    case_no = case_no_from(r)
    page = text(zhang.get(f"/my/case/{case_no}"))
    assert "不予受理" in page and "人才类别认定文件" in page and "未受理" in page


# ---- phone layout ---------------------------------------------------------------------------------------------
def test_pages_are_laid_out_for_phones(zhang, ap_app):
    case_no = case_no_from(post_application(zhang, REG, reg_fields(), {c: PDF for c in ALL_REG_MATERIALS}))
    page = text(zhang.get(f"/my/case/{case_no}"))
    assert 'name="viewport" content="width=device-width' in page
    assert "css/applicant.css" in page and "js/applicant.js" in page
    # every table can scroll sideways on a narrow screen
    assert page.count("<table") == page.count('<div class="table-wrap"><table')
    css = zhang.get("/static/css/applicant.css")
    body = css.get_data(as_text=True)
    css.close()
    assert "@media (max-width:640px)" in body and "min-height:44px" in body


# ---- uploads module -------------------------------------------------------------------------------------------
def test_upload_names_and_types():
    from webapp import uploads

    assert uploads.sniff(PDF) == ("application/pdf", ".pdf")
    assert uploads.sniff(b"\xff\xd8\xff\xe0rest") == ("image/jpeg", ".jpg")
    assert uploads.sniff(PNG) == ("image/png", ".png")
    assert uploads.sniff(EXE) is None and uploads.sniff(b"") is None
    assert uploads.display_name("../../etc/passwd", "材料", ".pdf") == "passwd.pdf"
    assert uploads.display_name("C:\\Users\\张\\体检报告.pdf", "材料", ".pdf") == "体检报告.pdf"
    assert uploads.display_name("scan 1.JPG", "材料", ".jpg") == "scan_1.JPG"
    assert uploads.display_name("", "居民身份证", ".png") == "居民身份证.png"
    assert uploads.display_name("report\x00.exe", "材料", ".pdf") == "report.exe.pdf"


# ---- R5: the hire type and the original hire date (issue 12 item 5) -------------------------------------------------
def test_registration_form_records_hire_type_and_original_hire_date(zhang, ap_db):
    page = text(zhang.get(f"/my/new/{REG}"))
    assert 'name="hire_type"' in page and "编制外聘用" in page and "新引进" in page
    assert '<input type="date" id="f-original_hire_date" name="original_hire_date"' in page
    assert 'name="outside_establishment"' not in page  # the older flag is derived, not asked twice
    files = {c: PDF for c in ALL_REG_MATERIALS}
    r = post_application(zhang, REG, reg_fields(hire_type="outside_establishment"), files)
    assert r.status_code == 422 and "此项为必填项" in text(r)
    r = post_application(
        zhang, REG, reg_fields(hire_type="outside_establishment", original_hire_date="2024-09-01"), files
    )
    assert r.status_code == 302, text(r)[:500]
    case = reload(ap_db, case_no_from(r))
    assert case.start_data["hire_type"] == "outside_establishment" and case.start_data["outside_establishment"] is True
    assert case.start_data["original_hire_date"] == "2024-09-01"
