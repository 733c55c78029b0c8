"""The dossier on the officer pages, the inline material preview route, return banners and the applicant's
退回补正 state, through the Flask test client on a fresh database (reference data, no demo cases)."""

from __future__ import annotations

import hashlib
import io
import re

import pytest

from tests.helpers import ALL_REG_MATERIALS, find_task, reload
from webapp.demo.accounts import actor_for
from workflows.domain.models import Document
from workflows.services import handling

REG = "green_channel_registration"
PASSWORD = "lvse-2026"
PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def dapp(tmp_path, clock):
    from webapp import create_app
    from webapp.demo.accounts import load_reference_data

    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/d.sqlite3",
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "UPLOAD_DIR": str(tmp_path / "up"),
            "SWEEP_IN_PROCESS": False,
        }
    )
    assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    s = app.extensions["db_factory"]()
    load_reference_data(s)
    s.close()
    yield app
    app.extensions["db_session"].remove()
    app.extensions["db_engine"].dispose()


@pytest.fixture
def ddb(dapp):
    s = dapp.extensions["db_factory"]()
    yield s
    s.close()


def as_user(app, username):
    c = app.test_client()
    assert c.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    return c


def text(r) -> str:
    return r.get_data(as_text=True)


def apply(client, files: dict[str, tuple[bytes, str]]) -> str:
    data = {"unit_code": "U0101", "talent_category": "3", "introduction_mode": "rigid", "action": "submit"}
    for code, (content, name) in files.items():
        data[f"file_{code}"] = (io.BytesIO(content), name)
    r = client.post(f"/my/new/{REG}", data=data, content_type="multipart/form-data")
    assert r.status_code == 302, text(r)[:500]
    return re.search(r"/my/case/([0-9A-Z]+)", r.headers["Location"]).group(1)


def full_case(app) -> str:
    files = {c: (PDF + c.encode(), f"{c}.pdf") for c in ALL_REG_MATERIALS}
    files["id_card"] = (PNG, "身份证.png")
    return apply(as_user(app, "zhangwei"), files)


def test_task_page_shows_the_dossier_and_previews_inline(dapp, ddb):
    case_no = full_case(dapp)
    t = find_task(ddb, case_no, "Task_unit_review")
    hr = as_user(dapp, "hr_nky")
    page = text(hr.get(f"/officer/cases/{case_no}/tasks/{t.task_id}"))
    assert 'data-testid="dossier"' in page and "申请信息" in page
    assert "刚性引进" in page and "第三类" in page and "现为编制外聘用" in page
    assert ">rigid<" not in page
    assert f'<iframe src="/officer/cases/{case_no}/materials/degree_certificate"' in page
    assert f'<img src="/officer/cases/{case_no}/materials/id_card"' in page
    sha = hashlib.sha256(PDF + b"resume").hexdigest()
    assert sha in page and "原件（随申请提交）" in page

    r = hr.get(f"/officer/cases/{case_no}/materials/resume")
    assert r.status_code == 200 and r.data == PDF + b"resume" and r.mimetype == "application/pdf"
    assert r.headers["Content-Disposition"].startswith("inline")
    assert "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]
    r = hr.get(f"/officer/cases/{case_no}/materials/id_card")
    assert r.status_code == 200 and r.mimetype == "image/png"
    # the case page carries the same dossier
    assert 'data-testid="dossier"' in text(hr.get(f"/officer/cases/{case_no}"))
    # the API download stays an attachment
    assert hr.get(f"/api/v1/cases/{case_no}/materials/resume").headers["Content-Disposition"].startswith("attachment")


def test_preview_route_scope_and_role(dapp, ddb):
    case_no = full_case(dapp)
    assert as_user(dapp, "hr_nmgu").get(f"/officer/cases/{case_no}/materials/resume").status_code == 404
    assert as_user(dapp, "dept_jyt").get(f"/officer/cases/{case_no}/materials/resume").status_code == 404
    assert as_user(dapp, "zhangwei").get(f"/officer/cases/{case_no}/materials/resume").status_code == 403
    assert as_user(dapp, "bianban").get(f"/officer/cases/{case_no}/materials/resume").status_code == 200
    hr = as_user(dapp, "hr_nky")
    assert hr.get(f"/officer/cases/{case_no}/materials/nope").status_code == 404
    assert hr.get("/officer/cases/L2099000001/materials/resume").status_code == 404
    assert dapp.test_client().get(f"/officer/cases/{case_no}/materials/resume").status_code in (302, 401)


def test_internal_return_shows_a_banner_to_the_returned_desk(dapp, ddb):
    case_no = full_case(dapp)
    hr, dept = as_user(dapp, "hr_nky"), as_user(dapp, "dept_kjt")
    t = find_task(ddb, case_no, "Task_unit_review")
    r = hr.post(f"/officer/cases/{case_no}/tasks/{t.task_id}/complete", data={"unit_decision": "approve"})
    assert r.status_code == 303
    d = find_task(ddb, case_no, "Task_dept_review")
    r = dept.post(
        f"/officer/cases/{case_no}/tasks/{d.task_id}/return",
        data={"target": "Task_unit_review", "reason": "请补充单位党委会纪要"},
    )
    assert r.status_code == 303
    t2 = find_task(ddb, case_no, "Task_unit_review")
    page = text(hr.get(f"/officer/cases/{case_no}/tasks/{t2.task_id}"))
    assert 'data-testid="returned-banner"' in page and "请补充单位党委会纪要" in page
    assert "退回重新办理" in page and "主管部门审核" in page
    inbox = text(hr.get("/officer/?tab=group"))
    row = re.search(rf'<tr data-case="{case_no}".*?</tr>', inbox, re.S).group(0)
    assert 'data-testid="returned-flag"' in row and "请补充单位党委会纪要" in row
    # the earlier unit opinion is in the dossier of the returned desk
    assert "单位审核意见" in page and "用人单位人事专员" in page


def test_applicant_returned_state_and_correction_history(dapp, ddb, clock):
    zhang = as_user(dapp, "zhangwei")
    case_no = full_case(dapp)
    t = find_task(ddb, case_no, "Task_unit_review")
    handling.return_for_correction(
        ddb, case_no, t.task_id, actor_for(ddb, "hr_nky"), "学位证书扫描件不清晰", items=["degree_certificate"]
    )
    ddb.commit()
    deadline = ddb.query(Document.data).filter(Document.kind == "correction_notice").one()[0]["deadline"]
    ddb.commit()
    y, m, d = (int(x) for x in deadline.split("-"))
    page = text(zhang.get(f"/my/case/{case_no}"))
    step = re.search(r'<tr data-testid="returned-step">.*?</tr>', page, re.S).group(0)
    assert "待申请人补正" in step and f"{y}年{m}月{d}日" in step and "学历学位证书" in step
    assert f"请于{y}年{m}月{d}日前补正" in page
    assert "单位审核" not in step

    clock.to(2026, 3, 3, 10)
    assert zhang.post("/login", data={"username": "zhangwei", "password": PASSWORD}).status_code == 302  # next day
    new = PDF + b"clear"
    r = zhang.post(
        f"/my/case/{case_no}/resubmit",
        data={
            "talent_category": "3",
            "introduction_mode": "rigid",
            "file_degree_certificate": (io.BytesIO(new), "学位证.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    hr = as_user(dapp, "hr_nky")
    t = find_task(ddb, case_no, "Task_unit_review")
    page = text(hr.get(f"/officer/cases/{case_no}/tasks/{t.task_id}"))
    assert 'data-testid="returned-banner"' in page and "学位证书扫描件不清晰" in page and "重新提交" in page
    api = hr.get(f"/api/v1/cases/{case_no}/dossier")
    assert api.status_code == 200
    dc = next(m for m in api.json["materials"] if m["code"] == "degree_certificate")
    assert [v["kind"] for v in dc["history"]] == ["original", "returned", "correction"]
    assert dc["history"][0]["sha256"] == hashlib.sha256(PDF + b"degree_certificate").hexdigest()
    assert dc["history"][2]["sha256"] == hashlib.sha256(new).hexdigest() and dc["history"][2]["current"]
    assert dc["history"][2]["by_name"] == "张伟" and dc["history"][2]["at"].endswith("Z")
    assert reload(ddb, case_no).status == "running"


def test_api_dossier_scope_and_role(dapp, ddb):
    case_no = full_case(dapp)
    assert as_user(dapp, "hr_nmgu").get(f"/api/v1/cases/{case_no}/dossier").status_code == 404
    assert as_user(dapp, "zhangwei").get(f"/api/v1/cases/{case_no}/dossier").status_code == 403
    r = as_user(dapp, "renshe").get(f"/api/v1/cases/{case_no}/dossier")
    assert r.status_code == 200
    labels = {f["label"]: f["display"] for f in r.json["application"]}
    assert labels["引进方式"] == "刚性引进" and labels["人才类别"] == "第三类"
