"""Officers' documents pages (/officer/cases/<case_no>/documents, webapp/documents_web.py): 样稿 preview (nothing
stored, no number), issue by hand (next 文号, rendered at once), re-issue with a reason (new number, old one
superseded and shown so on /verify), download, the 补正材料通知书 planned by a return to the applicant, scope (404),
roles (403) and CSRF (400).

Demo data (tests/web/conftest.py): the 人社 register (RS) stands at 内人社字〔2026〕12号; L…001 (张伟, U0101, 容缺)
waits for 主管部门审核 by dept_kjt; L…003 is completed. Only four real PDFs are rendered (≈0.1 s each)."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import pytest
from pypdf import PdfReader
from sqlalchemy import select

import documents
from tests.web.conftest import make_web_app, signed_in
from webapp import documents_web, issuing
from workflows.domain.models import Case, CaseEvent, DocumentCounter, OpenTask
from workflows.services import archive
from workflows.services.archive import Document

L1, L2, L3 = "150000L260302000001", "150000L260302000002", "150000L260302000003"
BASE = f"/officer/cases/{L1}/documents"
DOC_NO = re.compile(r"〔2026〕\d+号")


def _with_blueprint(app):
    if "documents_web" not in app.blueprints:  # until webapp/__init__.py registers it
        app.register_blueprint(documents_web.bp)
    return app


@pytest.fixture
def app(tmp_path, clock, demo_db_template):
    # no render queue runs here: a test drains it with issuing.drain(app) where it wants the PDFs
    a = _with_blueprint(make_web_app(tmp_path, demo_db_template))
    yield a
    a.extensions["db_session"].remove()
    a.extensions["db_engine"].dispose()


@pytest.fixture
def db(app):
    s = app.extensions["db_factory"]()
    yield s
    s.close()


def _pdf_text(pdf: bytes) -> str:
    return "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def _snapshot(db) -> tuple:
    """What issuing could change: the documents (id, status) and the 文号 registers."""
    db.expire_all()
    docs = tuple(db.execute(select(Document.id, Document.status, Document.sha256).order_by(Document.id)).all())
    counters = tuple(
        db.execute(
            select(
                DocumentCounter.office_code, DocumentCounter.kind_group, DocumentCounter.year, DocumentCounter.value
            ).order_by(DocumentCounter.office_code, DocumentCounter.kind_group)
        ).all()
    )
    db.commit()
    return docs, counters


def _docs(db, case_no: str, kind: str | None = None) -> list[SimpleNamespace]:
    db.expire_all()
    q = select(Document).join(Case, Case.id == Document.case_id).where(Case.case_no == case_no).order_by(Document.id)
    if kind:
        q = q.where(Document.kind == kind)
    # plain copies: touching an expired ORM object later would open a read (and on SQLite take the write lock)
    out = [
        SimpleNamespace(
            **{
                k: getattr(d, k)
                for k in (
                    "id",
                    "kind",
                    "doc_no",
                    "status",
                    "step",
                    "created_by",
                    "data",
                    "sha256",
                    "verify_code",
                    "version",
                    "supersedes_id",
                    "reissue_reason",
                )
            }
        )
        for d in db.scalars(q)
    ]
    db.commit()
    return out


def _rs_counter(db, group: str = "acceptance") -> int:
    v = db.scalar(
        select(DocumentCounter.value).where(
            DocumentCounter.office_code == "RS", DocumentCounter.kind_group == group, DocumentCounter.year == 2026
        )
    )
    db.commit()
    return v or 0


# ---- list ------------------------------------------------------------------------------------------------------------
def test_list_shows_documents_previews_and_what_may_be_issued(app, db):
    html = signed_in(app, "dept_kjt").get(BASE + "/").get_data(as_text=True)
    for d in _docs(db, L1):
        assert (d.doc_no or "（无发文字号）") in html and f'href="/verify/{d.verify_code}"' in html
        assert f'href="{BASE}/{d.id}/pdf"' in html
    assert "当前有效" in html and "第1版" in html and "2026年3月2日" in html
    # a 样稿 link for every kind of the procedure; none for another procedure's kinds
    assert f'href="{BASE}/preview/rongque_acceptance_notice"' in html
    assert f'href="{BASE}/preview/correction_notice"' in html
    assert "preview/title_filing_receipt" not in html and "preview/special_post_form" not in html
    # the desk of the current step may issue the 补正材料通知书 by hand and re-issue
    assert f'action="{BASE}/issue/correction_notice"' in html
    assert f'action="{BASE}/{_docs(db, L1)[0].id}/reissue"' in html
    # 编办 sees the case (region-wide) but neither holds its step nor issues 人社 documents
    html = signed_in(app, "bianban").get(BASE + "/").get_data(as_text=True)
    assert "预览样稿" in html and "/issue/" not in html and "/reissue" not in html


def test_issuable_kinds_follow_the_steps_that_ran(app, db):
    case = db.scalar(select(Case).where(Case.case_no == L3))  # completed: every step's document is current
    assert set(documents_web.steps_run(db, case)) == {
        "acceptance_notice",
        "registration_filing_form",
        "completion_notice",
    }
    assert documents_web.issuable_kinds(db, case) == []  # closed: no 补正 either
    case1 = db.scalar(select(Case).where(Case.case_no == L1))
    assert set(documents_web.steps_run(db, case1)) == {"rongque_acceptance_notice", "rongque_commitment"}
    assert documents_web.issuable_kinds(db, case1) == ["correction_notice"]
    db.commit()


def test_case_page_partial_lists_documents_with_download_and_manage_links(app, db):
    """officer/_documents.html, which officer/case.html includes, with the case page's context."""
    from flask import render_template

    from webapp.officer import DOC_STATUS

    case = db.scalar(select(Case).where(Case.case_no == L1))
    docs = archive.documents_of_case(db, case.id)
    with app.test_request_context(f"/officer/cases/{L1}"):
        html = render_template("officer/_documents.html", case=case, documents=docs, doc_status=DOC_STATUS)
    db.commit()
    assert f'href="{BASE}/"' in html and "预览样稿、出具与重新出具" in html
    for d in docs:
        assert (
            (d.doc_no or "（无发文字号）") in html
            and f'href="/verify/{d.verify_code}"' in html
            and f'href="{BASE}/{d.id}/pdf"' in html
        )


# ---- preview ---------------------------------------------------------------------------------------------------------
def test_preview_is_an_unnumbered_watermarked_pdf_and_stores_nothing(app, db):
    before = _snapshot(db)
    c = signed_in(app, "dept_kjt")
    r = c.get(BASE + "/preview/rongque_acceptance_notice")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"].startswith("inline")
    text = _pdf_text(r.data)
    assert "样稿" in text and "张伟" in text
    assert not DOC_NO.search(text), text
    assert _snapshot(db) == before  # nothing stored, no number used
    assert c.get(BASE + "/preview/no_such_kind").status_code == 404
    assert c.get(BASE + "/preview/title_filing_receipt").status_code == 404  # another procedure's kind


# ---- issue, download, re-issue, verify -------------------------------------------------------------------------------
def test_issue_numbers_renders_and_reissue_supersedes(app, db):
    c = signed_in(app, "dept_kjt")
    n = _rs_counter(db)  # the demo's receipts so far (a 补正通知 is numbered with them: 内人社受字)
    no, next_no = f"内人社受字〔2026〕{n + 1}号", f"内人社受字〔2026〕{n + 2}号"
    r = c.post(
        BASE + "/issue/correction_notice",
        data={"reason": "体检报告须为三级医院出具的原件", "items": ["health_check"]},
        follow_redirects=True,
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and f"已出具《补正材料通知书》，文号 {no}" in html
    [doc] = _docs(db, L1, "correction_notice")
    assert (doc.doc_no, doc.status, doc.step, doc.created_by) == (
        no,
        "pending",  # the request did not wait for the PDF: the render queue makes it
        "manual",
        "dept_kjt",
    )
    assert "生成中" in html
    assert issuing.drain(app) == 1
    [doc] = _docs(db, L1, "correction_notice")
    assert doc.status == "issued"
    assert doc.data["items"] == [{"name": "体检报告", "requirement": "体检报告须为三级医院出具的原件"}]
    assert _rs_counter(db) == n + 1
    # the archived PDF reads back with its number
    r = c.get(f"{BASE}/{doc.id}/pdf")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    assert r.data.startswith(b"%PDF-")
    text = _pdf_text(r.data)
    assert no in text and "样稿" not in text
    # the step's document is current: issuing it again by hand is refused, nothing stored
    before = _snapshot(db)
    html = c.post(BASE + "/issue/rongque_acceptance_notice", follow_redirects=True).get_data(as_text=True)
    assert "已出具" in html and "重新出具" in html and _snapshot(db) == before

    # re-issue: a new number, the old one superseded (never changed), the verify page says so
    r = c.post(
        f"{BASE}/{doc.id}/reissue", data={"category": "correction", "reason": "补正期限写错"}, follow_redirects=True
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and f"新文号 {next_no}" in html
    assert issuing.drain(app) == 1
    old, new = _docs(db, L1, "correction_notice")
    assert (old.id, old.status, old.doc_no, old.sha256) == (doc.id, "superseded", doc.doc_no, doc.sha256)
    assert (new.doc_no, new.status, new.version, new.supersedes_id, new.reissue_reason) == (
        next_no,
        "issued",
        2,
        old.id,
        "补正期限写错",
    )
    assert "已被替代" in html and "补正期限写错" in html and "记载事项有误更正" in html  # internal: both
    verify = c.get(f"/verify/{old.verify_code}").get_data(as_text=True)
    assert "已被新版本替代" in verify and next_no in verify
    verify = c.get(f"/verify/{new.verify_code}").get_data(as_text=True)
    assert "记载事项有误更正" in verify and "补正期限写错" not in verify  # public: the category only
    # a superseded document is not re-issued again
    before = _snapshot(db)
    html = c.post(
        f"{BASE}/{old.id}/reissue", data={"category": "other", "reason": "再来一次"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "已被新版本替代" in html and _snapshot(db) == before


def test_reissue_without_a_category_or_other_without_reason_is_422_and_changes_nothing(app, db):
    doc = _docs(db, L1)[0]
    before = _snapshot(db)
    c = signed_in(app, "dept_kjt")
    r = c.post(f"{BASE}/{doc.id}/reissue", data={"reason": "   "})
    assert r.status_code == 422 and "请选择重新出具的原因类别" in r.get_data(as_text=True)
    r = c.post(f"{BASE}/{doc.id}/reissue", data={"category": "made-up", "reason": "x"})
    assert r.status_code == 422 and "请选择重新出具的原因类别" in r.get_data(as_text=True)
    r = c.post(f"{BASE}/{doc.id}/reissue", data={"category": "other", "reason": "  "})
    assert r.status_code == 422 and "须说明理由" in r.get_data(as_text=True)
    assert _snapshot(db) == before


def test_pdf_not_yet_rendered_is_409(app, db):
    case = db.scalar(select(Case).where(Case.case_no == L1))
    doc = archive.plan_document(db, case, "completion_notice", "RS", data={"procedure_name": "x"})
    db.commit()
    r = signed_in(app, "renshe").get(f"{BASE}/{doc.id}/pdf")
    assert r.status_code == 409 and "正在生成" in r.get_data(as_text=True)
    # another case's document is not reachable through this case
    other = _docs(db, L2)[0]
    assert signed_in(app, "renshe").get(f"{BASE}/{other.id}/pdf").status_code == 404


def test_issue_refuses_data_the_renderer_rejects_and_keeps_the_number(app, db):
    # no reason typed and no return on record: the 补正材料通知书 has nothing to name
    before = _snapshot(db)
    html = (
        signed_in(app, "dept_kjt")
        .post(BASE + "/issue/correction_notice", data={}, follow_redirects=True)
        .get_data(as_text=True)
    )
    assert "须填写补正要求" in html and _snapshot(db) == before


# ---- the step that returns a case to the applicant issues the 补正材料通知书 --------------------------------------------
def test_return_to_applicant_plans_a_correction_notice_with_the_reason(app, db):
    t = db.scalar(select(OpenTask).join(Case).where(Case.case_no == L1, OpenTask.spec_name == "Task_dept_review"))
    task_id = t.task_id
    db.commit()
    counter = _rs_counter(db)
    reason = "学历证书扫描件不清晰，请重新上传"
    r = signed_in(app, "dept_kjt").post(
        f"/officer/cases/{L1}/tasks/{task_id}/return",
        data={"reason": reason, "target": "applicant", "items": ["degree_certificate"]},
    )
    assert r.status_code == 303
    [doc] = _docs(db, L1, "correction_notice")
    assert (doc.step, doc.status, doc.doc_no) == (
        "return_for_correction",
        "pending",
        f"内人社受字〔2026〕{counter + 1}号",
    )
    [item] = doc.data["items"]
    assert item == {"name": "学历学位证书", "requirement": reason}
    assert doc.data["deadline"] > "2026-03-02"
    documents.validate("correction_notice", issuing.render_data(doc, seal=None))  # renders when the worker gets to it
    db.expire_all()
    status = db.scalar(select(Case.status).where(Case.case_no == L1))
    events = db.execute(
        select(CaseEvent.action, CaseEvent.payload)
        .join(Case)
        .where(Case.case_no == L1)
        .order_by(CaseEvent.seq.desc())
        .limit(2)
    ).all()
    db.commit()
    assert status == "returned"
    assert [a for a, _ in events] == ["document", "returned"] or [a for a, _ in events] == ["returned", "document"]
    assert any(p.get("doc_no") == doc.doc_no for _, p in events)


# ---- scope, roles, CSRF ----------------------------------------------------------------------------------------------
def test_out_of_scope_officer_gets_404_and_applicant_403(app, db):
    doc = _docs(db, L1)[0]
    before = _snapshot(db)
    urls = [
        ("get", BASE + "/"),
        ("get", BASE + "/preview/correction_notice"),
        ("get", f"{BASE}/{doc.id}/pdf"),
        ("post", BASE + "/issue/correction_notice"),
        ("post", f"{BASE}/{doc.id}/reissue"),
    ]
    other_unit = signed_in(app, "hr_kjxx")  # U0102; L…001 belongs to U0101
    applicant = signed_in(app, "zhangwei")  # the holder himself: his downloads are under /my
    for method, url in urls:
        assert (
            getattr(other_unit, method)(url, data={"reason": "x"} if method == "post" else None).status_code == 404
        ), url
        assert getattr(applicant, method)(url, data={"reason": "x"} if method == "post" else None).status_code == 403, (
            url
        )
    # in scope but neither the step's desk nor the issuing office: 403, nothing stored
    unit_hr = signed_in(app, "hr_nky")
    assert unit_hr.get(BASE + "/").status_code == 200
    assert unit_hr.post(BASE + "/issue/correction_notice", data={"reason": "x"}).status_code == 403
    assert unit_hr.post(f"{BASE}/{doc.id}/reissue", data={"category": "other", "reason": "x"}).status_code == 403
    assert _snapshot(db) == before


def test_post_without_csrf_token_is_400(tmp_path, clock, demo_db_template):
    strict = _with_blueprint(make_web_app(tmp_path, demo_db_template, WTF_CSRF_ENABLED=True))
    try:
        s = strict.extensions["db_factory"]()
        before = _snapshot(s)
        c = signed_in(strict, "dept_kjt")
        assert c.post(BASE + "/issue/correction_notice", data={"reason": "x"}).status_code == 400
        doc_id = _docs(s, L1)[0].id
        assert c.post(f"{BASE}/{doc_id}/reissue", data={"reason": "x"}).status_code == 400
        assert _snapshot(s) == before
        s.close()
    finally:
        strict.extensions["db_session"].remove()
        strict.extensions["db_engine"].dispose()
