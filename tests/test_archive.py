"""The document archive: 文号 numbering (gap-free per office per year, also under concurrency), immutable archived
PDFs, re-issue, public verification (/verify/<code>), which step issues which document, and rendering through
webapp.issuing (only a few real PDFs, to stay fast)."""

from __future__ import annotations

import hashlib
import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

import documents
from workflows.domain.errors import Conflict, ValidationFailed
from workflows.domain.models import Case, CaseEvent
from workflows.infra.db import transaction
from workflows.services import archive
from workflows.services.archive import Document, DocumentCounter

from .helpers import act, registration, reload, special_post, start, start_as, title

REG, SP, TT = "green_channel_registration", "special_post", "senior_title_direct"
FAKE_PDF = b"%PDF-1.4\n% archive test\n%%EOF\n"


def _docs(session, case_no: str | None = None) -> list[Document]:
    session.expire_all()
    q = select(Document).order_by(Document.id)
    if case_no:
        q = q.join(Case, Case.id == Document.case_id).where(Case.case_no == case_no)
    out = list(session.scalars(q))
    session.commit()
    return out


def _plan(session, case_no: str, office: str = "BB", kind: str = "completion_notice", **kw) -> Document:
    with transaction(session):
        case = session.scalar(select(Case).where(Case.case_no == case_no))
        return archive.plan_document(session, case, kind, office, **kw)


def _attach(session, doc_id: int, pdf: bytes = FAKE_PDF) -> Document:
    with transaction(session):
        return archive.attach_pdf(session, doc_id, pdf)


def _pdf_text(pdf: bytes) -> str:
    return "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


# ---- numbering -----------------------------------------------------------------------------------------------------


def test_numbers_are_gap_free_per_office_and_per_year(session, clock):
    c = start(session, REG, registration())  # 即收即办: the acceptance notice takes 内人社字〔2026〕1号
    [acc] = _docs(session, c.case_no)
    assert (acc.kind, acc.office_code, acc.doc_no, acc.status) == (
        "acceptance_notice",
        "RS",
        "内人社字〔2026〕1号",
        "pending",
    )
    a, b = _plan(session, c.case_no, "RS"), _plan(session, c.case_no, "RS")
    bb = _plan(session, c.case_no, "BB")
    assert [a.seq, b.seq, bb.seq] == [2, 3, 1]
    assert (b.doc_no, bb.doc_no) == ("内人社字〔2026〕3号", "内编字〔2026〕1号")
    assert _plan(session, c.case_no, "D02").doc_no == "内教字〔2026〕1号"
    assert _plan(session, c.case_no, "PW").doc_no == "内职评字〔2026〕1号"

    # a rolled-back transaction gives its number back: no gap
    case = session.scalar(select(Case).where(Case.case_no == c.case_no))
    archive.plan_document(session, case, "completion_notice", "RS")
    session.rollback()
    assert _plan(session, c.case_no, "RS").doc_no == "内人社字〔2026〕4号"

    clock.to(2027, 1, 4, 9)  # a new year starts every register at 1
    assert _plan(session, c.case_no, "RS").doc_no == "内人社字〔2027〕1号"
    assert _plan(session, c.case_no, "BB").doc_no == "内编字〔2027〕1号"
    counters = {(r.office_code, r.year): r.value for r in session.scalars(select(DocumentCounter))}
    session.commit()
    assert counters[("RS", 2026)] == 4 and counters[("RS", 2027)] == 1 and counters[("BB", 2026)] == 1


def test_prefix_setting_overrides_the_built_in_table(session, clock):
    from workflows.domain.models import Setting

    c = start(session, SP, special_post(unit_has_vacancy_at_level=True))  # refused at once
    with transaction(session):
        session.merge(Setting(key="doc_prefixes", value={"U0101": "农科院人字"}))
    assert _plan(session, c.case_no, "U0101").doc_no == "农科院人字〔2026〕1号"
    with pytest.raises(ValidationFailed):
        _plan(session, c.case_no, "NOPE")


@pytest.fixture(params=["sqlite", "postgres"])
def any_factory(request):
    return request.getfixturevalue("factory" if request.param == "sqlite" else "pg_factory")


def test_parallel_issuers_get_distinct_gap_free_numbers(any_factory, clock):
    """8 threads number documents of one office at the same moment (the counter row does not exist yet, so they
    also race on creating it): no duplicate, no gap."""
    s = any_factory()
    try:
        case_no = start(s, REG, registration()).case_no
    finally:
        s.close()
    n = 8
    barrier = threading.Barrier(n)

    def issue(_):
        s = any_factory()
        try:
            barrier.wait()
            with transaction(s):
                case = s.scalar(select(Case).where(Case.case_no == case_no))
                return archive.plan_document(s, case, "completion_notice", "BB").seq
        finally:
            s.close()

    with ThreadPoolExecutor(n) as ex:
        seqs = list(ex.map(issue, range(n)))
    assert sorted(seqs) == list(range(1, n + 1))
    s = any_factory()
    try:
        rows = s.execute(select(Document.seq, Document.doc_no).where(Document.office_code == "BB")).all()
        assert sorted(r.seq for r in rows) == list(range(1, n + 1))
        assert len({r.doc_no for r in rows}) == n
        assert s.scalar(select(DocumentCounter.value).where(DocumentCounter.office_code == "BB")) == n
    finally:
        s.close()


# ---- immutability and re-issue --------------------------------------------------------------------------------------


def test_archived_pdf_is_immutable(session, clock):
    c = start(session, REG, registration())
    [doc] = _docs(session, c.case_no)
    with pytest.raises(ValidationFailed):
        _attach(session, doc.id, b"not a pdf")
    doc = _attach(session, doc.id)
    assert doc.status == "issued" and doc.sha256 == hashlib.sha256(FAKE_PDF).hexdigest() and doc.issued_at
    with pytest.raises(Conflict):
        _attach(session, doc.id, FAKE_PDF + b"changed")
    # and not through the ORM either
    with pytest.raises(Conflict):
        with transaction(session):
            d = session.get(Document, doc.id)
            d.pdf = FAKE_PDF + b"x"
    with pytest.raises(Conflict):
        with transaction(session):
            d = session.get(Document, doc.id)
            d.data = {**d.data, "applicant_name": "李四"}
    session.expire_all()
    d = session.get(Document, doc.id)
    assert d.pdf == FAKE_PDF and d.data["applicant_name"] == "张伟"
    session.commit()


def test_reissue_supersedes_with_a_new_number_and_keeps_the_old(session, clock):
    c = start(session, REG, registration())
    [old] = _docs(session, c.case_no)
    _attach(session, old.id)
    with pytest.raises(ValidationFailed):
        with transaction(session):
            archive.reissue(session, old.id, "  ", by="renshe")
    clock.to(2026, 3, 5, 10)
    with transaction(session):
        new = archive.reissue(session, old.id, "承诺办结日期有误，更正", by="renshe")
    assert (new.version, new.supersedes_id, new.doc_no, new.status) == (2, old.id, "内人社字〔2026〕2号", "pending")
    assert new.verify_code != old.verify_code and new.reissue_reason.startswith("承诺办结日期有误")
    assert new.data["issue_date"] == "2026-03-05" and new.data["doc_no"] == new.doc_no
    session.expire_all()
    o = session.get(Document, old.id)
    assert (o.status, o.sha256, o.pdf, o.doc_no) == (
        "superseded",
        hashlib.sha256(FAKE_PDF).hexdigest(),
        FAKE_PDF,
        "内人社字〔2026〕1号",
    )
    session.commit()
    with pytest.raises(Conflict):
        with transaction(session):
            archive.reissue(session, old.id, "再次更正", by="renshe")
    view = archive.public_view(session, archive.lookup(session, old.verify_code))
    assert view["current"] is False and view["superseded_by"] == "内人社字〔2026〕2号"
    with transaction(session):
        third = archive.reissue(session, new.id, "再次更正", by="renshe")
    assert third.version == 3
    assert archive.public_view(session, archive.lookup(session, old.verify_code))["superseded_by"] == third.doc_no
    session.commit()


# ---- verification ---------------------------------------------------------------------------------------------------


def test_masking():
    assert archive.mask_name("张伟") == "张*" and archive.mask_name("欧阳娜娜") == "欧***"
    assert archive.mask_id_number("150102199001011234") == "1501**********1234"
    assert archive.mask_id_number("12345") == "*****"


def test_lookup_shows_masked_holder_and_upload_check(session, clock):
    c = start(session, REG, registration())
    [doc] = _docs(session, c.case_no)
    code = doc.verify_code
    assert len(code) >= 16 and set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert archive.lookup(session, archive.display_code(code).lower()).id == doc.id  # as printed, any case
    assert archive.lookup(session, "A" * 16) is None and archive.lookup(session, "short") is None
    v = archive.public_view(session, archive.lookup(session, code))
    assert (v["holder_name"], v["holder_id"], v["doc_no"], v["current"]) == (
        "张*",
        "1501**********1234",
        "内人社字〔2026〕1号",
        True,
    )
    assert archive.verify_upload(session, code, FAKE_PDF) is False  # nothing archived yet
    _attach(session, doc.id)
    assert archive.verify_upload(session, code, FAKE_PDF) is True
    assert archive.verify_upload(session, code, FAKE_PDF + b" ") is False
    assert archive.verify_upload(session, "A" * 16, FAKE_PDF) is False
    session.commit()


def test_kind_titles_agree_with_the_renderer():
    assert archive.KIND_TITLES == {k: v.title for k, v in documents.KINDS.items()}


# ---- which step issues which document -------------------------------------------------------------------------------


def _kinds(session, case_no):
    return [(d.kind, d.office_code) for d in _docs(session, case_no)]


def _valid(session, case_no):
    """Every planned document's snapshot passes the renderer's validation (no rendering: fast)."""
    from webapp.issuing import render_data

    for d in _docs(session, case_no):
        documents.validate(d.kind, render_data(d))


def test_registration_documents_from_acceptance_to_completion(session, clock):
    c = start(session, REG, registration())
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_dept_review")
    act(session, c.case_no, "Task_filing")
    assert reload(session, c.case_no).status == "completed"
    assert _kinds(session, c.case_no) == [
        ("acceptance_notice", "RS"),
        ("registration_filing_form", "RS"),
        ("completion_notice", "RS"),
    ]
    _valid(session, c.case_no)
    form = _docs(session, c.case_no)[1]
    assert form.data["gender"] == "男" and form.data["birth_date"] == "1990-01-01"
    assert form.data["quota_source"] == "own" and form.data["filing_deadline"] == "2026-04-02"
    assert [o["stage"] for o in form.data["opinions"]][:2] == ["用人单位意见", "主管部门意见"]
    assert [d.doc_no for d in _docs(session, c.case_no)] == [
        "内人社字〔2026〕1号",
        "内人社字〔2026〕2号",
        "内人社字〔2026〕3号",
    ]
    audit = [e for e in session.scalars(select(CaseEvent).where(CaseEvent.action == "document"))]
    session.commit()
    assert len(audit) == 3 and audit[0].payload["doc_no"] == "内人社字〔2026〕1号"


def test_refusal_and_termination_notices(session, factory, clock):
    from workflows.services.timers import fire_due_timers

    r1 = start(session, REG, registration(introduction_mode="flexible"))
    assert _kinds(session, r1.case_no) == [("refusal_notice", "RS")]
    refusal = _docs(session, r1.case_no)[0]
    assert refusal.data["rule_id"] == "R1" and "刚性引进" in refusal.data["clause"]
    _valid(session, r1.case_no)

    unit_no = start(session, REG, registration())
    act(session, unit_no.case_no, "Task_unit_review", {"unit_decision": "refuse", "unit_opinion": "岗位已调整"})
    assert [k for k, _ in _kinds(session, unit_no.case_no)] == ["acceptance_notice", "refusal_notice"]
    _valid(session, unit_no.case_no)

    mats = [m for m in registration()["materials"] if m not in ("health_check", "no_crime_record")]
    c = start(session, REG, registration(materials=mats))
    act(session, c.case_no, "Task_rongque_commitment")
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_dept_review")
    clock.to(2026, 4, 15, 0, 5)
    assert fire_due_timers(factory) == 1
    kinds = [k for k, _ in _kinds(session, c.case_no)]
    assert kinds == ["rongque_acceptance_notice", "rongque_commitment", "termination_notice"]
    term = _docs(session, c.case_no)[-1]
    assert term.data["deadline"] == "2026-04-14" and "体检报告" in term.data["lapsed_items"]
    assert "释放" in term.data["quota_released"]
    _valid(session, c.case_no)


def test_special_post_and_title_documents(session, factory, clock):
    from workflows.services.timers import fire_due_timers

    sp = start(session, SP, special_post(term_months=36))
    act(session, sp.case_no, "Task_dept_review")
    act(session, sp.case_no, "Task_hrss_approval")
    clock.to(2029, 3, 3, 0, 1)
    assert fire_due_timers(factory) == 1
    assert _kinds(session, sp.case_no) == [("special_post_form", "RS"), ("special_post_writeoff_notice", "RS")]
    form, wo = _docs(session, sp.case_no)
    assert form.data["term_end"] == "2029-03-02" and form.data["applicant_name"] == "陈晨"
    assert wo.data["approval_doc_no"] == form.doc_no and wo.data["writeoff_reason"] == "聘期届满"
    assert wo.doc_no == "内人社字〔2029〕1号"
    _valid(session, sp.case_no)

    clock.to(2026, 3, 2, 9)
    t = start(session, TT, title())
    act(session, t.case_no, "Task_unit_review")
    clock.to(2026, 3, 7, 0, 5)
    assert fire_due_timers(factory) == 1
    act(session, t.case_no, "Task_dept_review")
    act(session, t.case_no, "Task_committee_vote", {"experts_present": 9, "votes_for": 7, "vote_note": ""})
    clock.to(2026, 3, 14, 0, 5)
    assert fire_due_timers(factory) == 1
    act(session, t.case_no, "Task_filing")
    assert _kinds(session, t.case_no) == [
        ("publicity_notice", "U0101"),
        ("publicity_notice", "PW"),
        ("completion_notice", "PW"),
        ("title_filing_receipt", "RS"),
    ]
    unit_pub, result_pub, _, receipt = _docs(session, t.case_no)
    assert unit_pub.doc_no == "内农牧科院字〔2026〕1号" and unit_pub.data["period_start"] == "2026-03-02"
    assert "评审结果" in result_pub.data["subject"]
    assert (receipt.data["experts_present"], receipt.data["votes_for"]) == (9, 7)
    _valid(session, t.case_no)


# ---- rendering through webapp.issuing (real PDFs) -------------------------------------------------------------------


def test_rongque_case_renders_notice_and_commitment_with_the_deadline(session, factory, clock, monkeypatch):
    from webapp.issuing import preview, render_pending

    monkeypatch.setenv("PUBLIC_BASE_URL", "https://rsj.example.gov.cn/")
    mats = [m for m in registration()["materials"] if m not in ("health_check", "no_crime_record")]
    c = start(session, REG, registration(materials=mats))
    assert _docs(session, c.case_no) == []  # nothing before the commitment is signed and the case accepted
    act(session, c.case_no, "Task_rongque_commitment")
    assert [k for k, _ in _kinds(session, c.case_no)] == ["rongque_acceptance_notice", "rongque_commitment"]
    assert render_pending(factory) == 2
    assert render_pending(factory) == 0  # nothing left, nothing rendered twice
    for d in _docs(session, c.case_no):
        session.expire_all()
        d = session.get(Document, d.id)
        assert d.status == "issued" and d.sha256 == hashlib.sha256(d.pdf).hexdigest()
        text = _pdf_text(d.pdf)
        session.commit()
        assert "2026年4月14日" in text and d.doc_no in text and "体检报告" in text
        assert archive.display_code(d.verify_code) in text.replace("\n", "")

    case = reload(session, c.case_no)
    before = session.scalar(select(func.count()).select_from(Document))
    pdf = preview(session, case, "acceptance_notice")
    session.commit()
    assert pdf.startswith(b"%PDF-") and "样稿" in _pdf_text(pdf)
    assert session.scalar(select(func.count()).select_from(Document)) == before  # a preview stores nothing
    session.commit()


def test_render_failure_is_recorded_and_not_retried_forever(session, factory, clock, caplog):
    from webapp.issuing import MAX_RENDER_ATTEMPTS, render_pending

    c = start(session, REG, registration())
    [doc] = _docs(session, c.case_no)
    with transaction(session):
        d = session.get(Document, doc.id)
        d.data = {k: v for k, v in d.data.items() if k != "materials"}
    for _ in range(MAX_RENDER_ATTEMPTS + 1):
        assert render_pending(factory) == 0
    session.expire_all()
    d = session.get(Document, doc.id)
    assert d.status == "pending" and d.render_attempts == MAX_RENDER_ATTEMPTS and "已收材料" in d.render_error
    session.commit()


# ---- the public verification page ----------------------------------------------------------------------------------


@pytest.fixture
def client(factory):
    from webapp import create_app

    url = factory.kw["bind"].url.render_as_string(hide_password=False)
    app = create_app({"DATABASE_URL": url, "TESTING": True, "WTF_CSRF_ENABLED": False})
    if "verify" not in app.blueprints:
        from webapp.verify import bp

        app.register_blueprint(bp)
    yield app.test_client()
    app.extensions["db_engine"].dispose()


def _issued(session) -> Document:
    c = start(session, REG, registration())
    [doc] = _docs(session, c.case_no)
    return _attach(session, doc.id)


def _upload(client, code, content: bytes, name="doc.pdf"):
    return client.post(f"/verify/{code}", data={"pdf": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def test_verify_page_shows_the_document_with_the_holder_masked(session, clock, client):
    doc = _issued(session)
    r = client.get(f"/verify/{doc.verify_code}")
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "受理通知书" in page and "内人社字〔2026〕1号" in page and "2026年3月2日" in page
    assert "张*" in page and "1501**********1234" in page and "当前有效" in page
    assert "张伟" not in page and "150102199001011234" not in page
    assert client.get(f"/verify/{archive.display_code(doc.verify_code).lower()}").status_code == 200


def test_verify_unknown_code_is_a_chinese_404(client, session):
    r = client.get("/verify/AAAAAAAAAAAAAAAA")
    assert r.status_code == 404 and "未找到该核验码对应的文书" in r.get_data(as_text=True)
    assert client.get("/verify/x").status_code == 404
    assert _upload(client, "AAAAAAAAAAAAAAAA", FAKE_PDF).status_code == 404


def test_verify_pdf_download_is_not_public(session, clock, client):
    doc = _issued(session)
    assert client.get(f"/verify/{doc.verify_code}/pdf").status_code == 404


def test_verify_upload_match_mismatch_and_bad_files(session, clock, client):
    doc = _issued(session)

    def counts():
        return (
            session.scalar(select(func.count()).select_from(Document)),
            session.scalar(select(func.count()).select_from(CaseEvent)),
        )

    before = counts()
    session.commit()
    r = _upload(client, doc.verify_code, FAKE_PDF)
    assert r.status_code == 200 and "核对结果：<strong>一致</strong>" in r.get_data(as_text=True)
    r = _upload(client, doc.verify_code, FAKE_PDF + b"tampered")
    assert r.status_code == 200 and "<strong>不一致</strong>" in r.get_data(as_text=True)

    r = _upload(client, doc.verify_code, b"GIF89a not a pdf", name="x.pdf")
    assert r.status_code == 400 and "不是 PDF 文件" in r.get_data(as_text=True)
    r = _upload(client, doc.verify_code, b"%PDF-" + b"0" * (10 * 1024 * 1024))
    assert r.status_code == 413 and "不能超过 10 MB" in r.get_data(as_text=True)
    r = client.post(f"/verify/{doc.verify_code}", data={}, content_type="multipart/form-data")
    assert r.status_code == 400 and "请选择" in r.get_data(as_text=True)
    assert counts() == before  # nothing stored
    session.expire_all()
    assert session.get(Document, doc.id).sha256 == hashlib.sha256(FAKE_PDF).hexdigest()
    session.commit()


def test_verify_page_of_a_superseded_document_names_the_new_number(session, clock, client):
    doc = _issued(session)
    with transaction(session):
        new = archive.reissue(session, doc.id, "更正承诺办结日期", by="renshe")
    page = client.get(f"/verify/{doc.verify_code}").get_data(as_text=True)
    assert "已被新版本替代" in page and new.doc_no in page
    page = client.get(f"/verify/{new.verify_code}").get_data(as_text=True)
    assert "第2版" in page and "更正承诺办结日期" in page


def test_verify_form_carries_the_csrf_token_when_protection_is_on(session, clock, factory):
    from webapp import create_app

    app = create_app({"DATABASE_URL": factory.kw["bind"].url.render_as_string(hide_password=False), "TESTING": True})
    doc = _issued(session)
    page = app.test_client().get(f"/verify/{doc.verify_code}").get_data(as_text=True)
    app.extensions["db_engine"].dispose()
    assert 'name="csrf_token"' in page


def test_install_renders_what_a_request_planned_right_after_it(session, clock, factory):
    """`webapp.issuing.install(app)`: a successful POST that planned a document leaves it archived (a real PDF)."""
    from webapp import create_app
    from webapp.db import db_session
    from webapp.demo.accounts import actor_for
    from webapp.issuing import install

    app = create_app(
        {
            "DATABASE_URL": factory.kw["bind"].url.render_as_string(hide_password=False),
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
        }
    )
    install(app, limit=5)

    @app.post("/_test/start")
    def _start():
        s = db_session()
        case = start_as(s, REG, registration(), actor_for(s, "zhangwei"))
        s.scalar(select(func.count()).select_from(Case))  # a read left open by the view, as real views do
        return case.case_no

    r = app.test_client().post("/_test/start")
    app.extensions["db_engine"].dispose()
    assert r.status_code == 200
    [doc] = _docs(session, r.get_data(as_text=True))
    assert doc.status == "issued" and doc.pdf.startswith(b"%PDF-") and "受理通知书" in _pdf_text(doc.pdf)
