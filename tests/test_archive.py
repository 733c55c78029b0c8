"""The document archive: 文号 numbering (gap-free per office per year, also under concurrency), immutable archived
PDFs, re-issue, public verification (/verify/<code>), which step issues which document, and rendering through
webapp.issuing (only a few real PDFs, to stay fast)."""

from __future__ import annotations

import hashlib
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

import documents
from workflows.domain.clock import as_utc
from workflows.domain.errors import Conflict, ValidationFailed
from workflows.domain.models import Case, CaseEvent, DocumentCounter
from workflows.infra.db import transaction
from workflows.services import archive
from workflows.services.archive import Document

from .conftest import SH
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


def test_numbers_are_gap_free_per_series_and_per_year(session, clock):
    c = start(session, REG, registration())  # 即收即办: the acceptance notice opens RS's series of receipts
    [acc] = _docs(session, c.case_no)
    assert (acc.kind, acc.office_code, acc.kind_group, acc.doc_no, acc.status) == (
        "acceptance_notice",
        "RS",
        "acceptance",
        "内人社受字〔2026〕1号",
        "pending",
    )
    a, b = _plan(session, c.case_no, "RS"), _plan(session, c.case_no, "RS")  # decisions: a series of their own
    bb = _plan(session, c.case_no, "BB")
    assert [a.seq, b.seq, bb.seq] == [1, 2, 1]
    assert (a.doc_no, b.doc_no, bb.doc_no) == ("内人社字〔2026〕1号", "内人社字〔2026〕2号", "内编字〔2026〕1号")
    assert _plan(session, c.case_no, "RS", "refusal_notice").doc_no == "内人社受字〔2026〕2号"
    assert _plan(session, c.case_no, "RS", "registration_filing_form").doc_no == "内人社备字〔2026〕1号"
    assert _plan(session, c.case_no, "RS", "title_filing_receipt").doc_no == "内人社备字〔2026〕2号"
    assert _plan(session, c.case_no, "U0101", "publicity_notice").doc_no == "内农牧科院公字〔2026〕1号"
    assert _plan(session, c.case_no, "D02").doc_no == "内教字〔2026〕1号"
    assert _plan(session, c.case_no, "PW").doc_no == "内职评字〔2026〕1号"

    # a rolled-back transaction gives its number back: no gap
    case = session.scalar(select(Case).where(Case.case_no == c.case_no))
    archive.plan_document(session, case, "completion_notice", "RS")
    session.rollback()
    assert _plan(session, c.case_no, "RS").doc_no == "内人社字〔2026〕3号"

    clock.to(2027, 1, 4, 9)  # a new year starts every register at 1
    assert _plan(session, c.case_no, "RS").doc_no == "内人社字〔2027〕1号"
    assert _plan(session, c.case_no, "RS", "acceptance_notice").doc_no == "内人社受字〔2027〕1号"
    assert _plan(session, c.case_no, "BB").doc_no == "内编字〔2027〕1号"
    counters = {(r.office_code, r.kind_group, r.year): r.value for r in session.scalars(select(DocumentCounter))}
    session.commit()
    assert counters[("RS", "decision", 2026)] == 3 and counters[("RS", "acceptance", 2026)] == 2
    assert counters[("RS", "filing", 2026)] == 2 and counters[("RS", "decision", 2027)] == 1
    assert counters[("RS", "acceptance", 2027)] == 1 and counters[("BB", "decision", 2026)] == 1


def test_the_applicants_commitment_carries_no_office_number(session, clock):
    mats = [m for m in registration()["materials"] if m not in ("health_check", "no_crime_record")]
    c = start(session, REG, registration(materials=mats))
    act(session, c.case_no, "Task_rongque_commitment")
    notice, commitment = _docs(session, c.case_no)
    assert (notice.kind, notice.doc_no) == ("rongque_acceptance_notice", "内人社受字〔2026〕1号")
    assert commitment.kind == "rongque_commitment"
    assert (commitment.doc_no, commitment.kind_group, commitment.year, commitment.seq) == (None, None, None, None)
    assert "doc_no" not in commitment.data and commitment.verify_code  # still verifiable by its code
    # and it took no number from any series: the next receipt is 2
    assert _plan(session, c.case_no, "RS", "correction_notice").doc_no == "内人社受字〔2026〕2号"
    with transaction(session):
        again = archive.reissue(session, commitment.id, "", by="renshe", category="layout")
    assert again.doc_no is None and again.version == 2 and again.reissue_category == "layout"
    session.commit()


def test_prefix_setting_of_earlier_releases_is_still_the_base(session, clock):
    from workflows.domain.models import Setting

    c = start(session, SP, special_post(unit_has_vacancy_at_level=True))  # refused at once
    with transaction(session):
        session.merge(Setting(key="doc_prefixes", value={"U0101": "农科院人字"}))
    assert _plan(session, c.case_no, "U0101").doc_no == "农科院人字〔2026〕1号"
    assert _plan(session, c.case_no, "U0101", "publicity_notice").doc_no == "农科院人公字〔2026〕1号"
    with pytest.raises(ValidationFailed):
        _plan(session, c.case_no, "NOPE")


def test_an_administrators_prefix_applies_from_the_next_number_and_never_renumbers(session, clock):
    from workflows.domain.models import AdminEvent
    from workflows.services import audit, doc_series

    c = start(session, REG, registration())
    [first] = _docs(session, c.case_no)
    _attach(session, first.id)
    assert first.doc_no == "内人社受字〔2026〕1号"
    with transaction(session):
        doc_series.set_prefix(session, "RS", "acceptance", "内人社审字", by="admin")
    assert _plan(session, c.case_no, "RS", "acceptance_notice").doc_no == "内人社审字〔2026〕2号"  # the year goes on
    session.expire_all()
    again = session.get(Document, first.id)
    assert again.doc_no == "内人社受字〔2026〕1号" and again.data["doc_no"] == "内人社受字〔2026〕1号"
    session.commit()
    # the old prefix has printed numbers: no other series may take it; nor one another series uses
    for office, group, prefix in (("RS", "decision", "内人社受字"), ("BB", "decision", "内人社审字")):
        with pytest.raises(ValidationFailed, match="已被"):
            with transaction(session):
                doc_series.set_prefix(session, office, group, prefix, by="admin")
    for bad in ("", "内人社〔字", "内 人社字", "字"):
        with pytest.raises(ValidationFailed):
            with transaction(session):
                doc_series.set_prefix(session, "RS", "decision", bad, by="admin")
    events = list(session.scalars(select(AdminEvent).order_by(AdminEvent.seq)))
    session.commit()
    assert [(e.action, e.target, e.payload["old"], e.payload["new"]) for e in events] == [
        ("series_prefix_changed", "office:RS", "内人社受字", "内人社审字")
    ]
    assert audit.verify_admin_chain(session) == []


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
        assert s.scalar(select(DocumentCounter.kind_group).where(DocumentCounter.office_code == "BB")) == "decision"
    finally:
        s.close()


def test_parallel_issuers_in_two_series_of_one_office_stay_gap_free(any_factory, clock):
    """8 threads at once, half numbering RS receipts (内人社受字) and half RS decisions (内人社字): each series gets
    1..4 without a gap or a duplicate, and neither takes the other's numbers."""
    s = any_factory()
    try:
        case_no = start(s, REG, registration()).case_no  # 即收即办: its acceptance notice is 内人社受字 1
    finally:
        s.close()
    n = 8
    barrier = threading.Barrier(n)
    kinds = ["acceptance_notice", "completion_notice"] * (n // 2)

    def issue(i):
        s = any_factory()
        try:
            barrier.wait()
            with transaction(s):
                case = s.scalar(select(Case).where(Case.case_no == case_no))
                d = archive.plan_document(s, case, kinds[i], "RS")
                return d.kind_group, d.seq, d.doc_no
        finally:
            s.close()

    with ThreadPoolExecutor(n) as ex:
        got = list(ex.map(issue, range(n)))
    by_group = {g: sorted(seq for gg, seq, _ in got if gg == g) for g in ("acceptance", "decision")}
    assert by_group == {"acceptance": [2, 3, 4, 5], "decision": [1, 2, 3, 4]}
    assert {no for _, _, no in got} == {f"内人社受字〔2026〕{i}号" for i in range(2, 6)} | {
        f"内人社字〔2026〕{i}号" for i in range(1, 5)
    }


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
    assert (new.version, new.supersedes_id, new.doc_no, new.status) == (2, old.id, "内人社受字〔2026〕2号", "pending")
    assert new.verify_code != old.verify_code and new.reissue_reason.startswith("承诺办结日期有误")
    assert new.data["issue_date"] == "2026-03-05" and new.data["doc_no"] == new.doc_no
    session.expire_all()
    o = session.get(Document, old.id)
    assert (o.status, o.sha256, o.pdf, o.doc_no) == (
        "superseded",
        hashlib.sha256(FAKE_PDF).hexdigest(),
        FAKE_PDF,
        "内人社受字〔2026〕1号",
    )
    session.commit()
    with pytest.raises(Conflict):
        with transaction(session):
            archive.reissue(session, old.id, "再次更正", by="renshe")
    view = archive.public_view(session, archive.lookup(session, old.verify_code))
    assert view["current"] is False and view["superseded_by"] == "内人社受字〔2026〕2号"
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
        "内人社受字〔2026〕1号",
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
    assert _kinds(session, c.case_no) == [  # one step's papers in series order (decision before filing)
        ("acceptance_notice", "RS"),
        ("completion_notice", "RS"),
        ("registration_filing_form", "RS"),
    ]
    _valid(session, c.case_no)
    form = _docs(session, c.case_no)[2]
    assert form.data["gender"] == "男" and form.data["birth_date"] == "1990-01-01"
    assert form.data["quota_source"] == "own" and form.data["filing_deadline"] == "2026-04-02"
    assert [o["stage"] for o in form.data["opinions"]][:2] == ["用人单位意见", "主管部门意见"]
    assert [d.doc_no for d in _docs(session, c.case_no)] == [  # receipts, decisions and filings: three series
        "内人社受字〔2026〕1号",
        "内人社字〔2026〕1号",
        "内人社备字〔2026〕1号",
    ]
    audit = [e for e in session.scalars(select(CaseEvent).where(CaseEvent.action == "document"))]
    session.commit()
    assert len(audit) == 3 and audit[0].payload["doc_no"] == "内人社受字〔2026〕1号"


def test_refusal_and_termination_notices(session, factory, clock):
    from workflows.services.timers import fire_due_timers

    r1 = start(session, REG, registration(introduction_mode="flexible"))
    assert _kinds(session, r1.case_no) == [("refusal_notice", "RS")]
    refusal = _docs(session, r1.case_no)[0]
    assert refusal.data["rule_id"] == "R1" and "刚性引进" in refusal.data["quotes"][0]["text"]
    _valid(session, r1.case_no)

    unit_no = start(session, REG, registration())
    act(session, unit_no.case_no, "Task_unit_review", {"unit_decision": "refuse", "unit_opinion": "岗位已调整"})
    assert [k for k, _ in _kinds(session, unit_no.case_no)] == ["acceptance_notice", "refusal_decision"]
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
    clock.to(2029, 3, 1, 0, 1)  # 36 months from 2 March 2026 end on 1 March 2029, the day of the 核销
    assert fire_due_timers(factory) == 1
    assert _kinds(session, sp.case_no) == [("special_post_form", "RS"), ("special_post_writeoff_notice", "RS")]
    form, wo = _docs(session, sp.case_no)
    assert form.data["term_end"] == "2029-03-01" and form.data["applicant_name"] == "陈晨"
    assert wo.data["approval_doc_no"] == form.doc_no and wo.data["writeoff_reason"] == "聘期届满"
    assert form.doc_no == "内人社备字〔2026〕1号" and wo.doc_no == "内人社字〔2029〕1号"
    _valid(session, sp.case_no)

    clock.to(2026, 3, 2, 9)
    t = start(session, TT, title())
    act(session, t.case_no, "Task_unit_review")
    clock.to(2026, 3, 7, 0, 5)
    assert fire_due_timers(factory) == 1
    act(session, t.case_no, "Task_dept_review")
    act(
        session,
        t.case_no,
        "Task_committee_vote",
        {"experts_expected": 11, "experts_present": 9, "votes_for": 7, "votes_against": 1, "votes_abstain": 1},
    )
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
    assert (unit_pub.doc_no, result_pub.doc_no) == ("内农牧科院公字〔2026〕1号", "内职评公字〔2026〕1号")
    assert receipt.doc_no == "内人社备字〔2026〕2号" and unit_pub.data["period_start"] == "2026-03-02"
    assert "评审结果" in result_pub.data["subject"]
    assert (receipt.data["experts_total"], receipt.data["experts_present"], receipt.data["votes_for"]) == (11, 9, 7)
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
        assert "2026年4月14日" in text and "体检报告" in text
        flat = text.replace("\n", "")
        assert archive.display_code(d.verify_code) in flat
        # under the QR code: where to type the code without a scanner
        assert "扫码或访问" in flat and "https://rsj.example.gov.cn/verify" in flat and "输入核验码核验真伪" in flat
        if d.kind == "rongque_commitment":  # the applicant's paper: no office number
            assert d.doc_no is None and "编号：" not in flat.replace("办件编号：", "")
        else:
            assert d.doc_no == "内人社受字〔2026〕1号" and d.doc_no in text

    case = reload(session, c.case_no)
    before = session.scalar(select(func.count()).select_from(Document))
    pdf = preview(session, case, "acceptance_notice")
    session.commit()
    assert pdf.startswith(b"%PDF-") and "样稿" in _pdf_text(pdf)
    assert session.scalar(select(func.count()).select_from(Document)) == before  # a preview stores nothing
    session.commit()


def test_render_failure_is_retried_with_growing_pauses_then_left_for_an_administrator(session, factory, clock, caplog):
    from webapp.issuing import MAX_RENDER_ATTEMPTS, RETRY_DELAYS, render_pending

    c = start(session, REG, registration())
    [doc] = _docs(session, c.case_no)
    with transaction(session):
        d = session.get(Document, doc.id)
        d.data = {k: v for k, v in d.data.items() if k != "materials"}

    def state():
        session.expire_all()
        d = session.get(Document, doc.id)
        out = (d.render_attempts, as_utc(d.render_next_at))
        session.commit()
        return out

    assert render_pending(factory) == 0
    assert state() == (1, datetime(2026, 3, 2, 9, 0, 10, tzinfo=SH).astimezone(UTC))
    assert render_pending(factory) == 0 and state()[0] == 1  # waiting out its pause: not tried again at once
    moment = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    for attempt, pause in enumerate(RETRY_DELAYS, start=2):  # 10 s, 1 min, 5 min, 30 min
        moment += pause
        clock.to(*moment.timetuple()[:6])
        assert render_pending(factory) == 0 and state()[0] == attempt
    assert state()[0] == MAX_RENDER_ATTEMPTS
    clock.to(2026, 3, 9, 9, 0)  # a week later: bounded, no further attempt
    assert render_pending(factory) == 0 and state()[0] == MAX_RENDER_ATTEMPTS
    session.expire_all()
    d = session.get(Document, doc.id)
    assert d.status == "pending" and "已收材料" in d.render_error
    assert [f.id for f in archive.render_failures(session)] == [doc.id]  # what the administrators' page lists
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
    assert "受理通知书" in page and "内人社受字〔2026〕1号" in page and "2026年3月2日" in page
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
    """The public page shows a re-issue's category, never the officer's words (an ID number typed into a reason
    was once published)."""
    doc = _issued(session)
    typed = "身份证号150102199001011234录入有误"
    with transaction(session):
        new = archive.reissue(session, doc.id, typed, by="renshe", category="correction")
    page = client.get(f"/verify/{doc.verify_code}").get_data(as_text=True)
    assert "已被新版本替代" in page and new.doc_no in page
    page = client.get(f"/verify/{new.verify_code}").get_data(as_text=True)
    assert "第2版" in page and "记载事项有误更正" in page
    assert typed not in page and "150102199001011234" not in page and "录入有误" not in page
    with transaction(session):
        third = archive.reissue(session, new.id, "按张伟本人要求补发", by="renshe")  # no category: 其他原因
    page = client.get(f"/verify/{third.verify_code}").get_data(as_text=True)
    assert "第3版" in page and "其他原因" in page and "张伟" not in page and "补发" not in page
    assert archive.public_view(session, third)["reissue_category"] == "其他原因"
    assert "reissue_reason" not in archive.public_view(session, third)
    session.commit()


def test_verify_form_carries_the_csrf_token_when_protection_is_on(session, clock, factory):
    from webapp import create_app

    app = create_app({"DATABASE_URL": factory.kw["bind"].url.render_as_string(hide_password=False), "TESTING": True})
    doc = _issued(session)
    page = app.test_client().get(f"/verify/{doc.verify_code}").get_data(as_text=True)
    app.extensions["db_engine"].dispose()
    assert 'name="csrf_token"' in page


def _starting_app(factory, **config):
    from webapp import create_app
    from webapp.db import db_session
    from webapp.demo.accounts import actor_for

    url = factory.kw["bind"].url.render_as_string(hide_password=False)
    app = create_app({"DATABASE_URL": url, "TESTING": True, "WTF_CSRF_ENABLED": False, **config})

    @app.post("/_test/start")
    def _start():
        s = db_session()
        case = start_as(s, REG, registration(), actor_for(s, "zhangwei"))
        s.scalar(select(func.count()).select_from(Case))  # a read left open by the view, as real views do
        return case.case_no

    return app


def test_a_submission_returns_before_its_pdf_exists_and_the_queue_archives_it(session, clock, factory):
    """Issue 11 item 6: the request plans the document and returns; WeasyPrint runs in the render queue (drained
    here synchronously with `issuing.drain`, as the worker or the in-process thread would a moment later)."""
    from webapp.issuing import drain

    app = _starting_app(factory)
    try:
        r = app.test_client().post("/_test/start")
        assert r.status_code == 200
        [doc] = _docs(session, r.get_data(as_text=True))
        assert (doc.status, doc.sha256, doc.pdf) == ("pending", None, None)  # the response came first
        session.commit()
        assert drain(app) == 1
    finally:
        app.extensions["db_engine"].dispose()
    session.expire_all()
    [doc] = _docs(session, r.get_data(as_text=True))
    assert doc.status == "issued" and doc.pdf.startswith(b"%PDF-") and "受理通知书" in _pdf_text(doc.pdf)
    assert doc.signer_fingerprint and doc.sha256 == hashlib.sha256(doc.pdf).hexdigest()


def test_verify_form_finds_a_document_by_the_typed_code(session, clock, client):
    """A holder of the paper who cannot scan types the code at /verify: dashes, spaces, case and the look-alikes
    0/1/8 do not matter."""
    doc = _issued(session)
    page = client.get("/verify")
    assert page.status_code == 200 and 'name="code"' in page.get_data(as_text=True)
    printed = archive.display_code(doc.verify_code)  # ABCD-EFGH-IJKL-MNOP
    spaced = " ".join(printed.replace("-", "")[i : i + 4] for i in range(0, 16, 4)).lower()
    typo = printed.replace("O", "0").replace("I", "1").replace("B", "8")
    for typed in (printed, doc.verify_code, spaced, f"  {printed}  ", typo):
        r = client.get("/verify", query_string={"code": typed})
        assert r.status_code == 303 and r.headers["Location"].endswith(f"/verify/{doc.verify_code}"), typed
    page = client.get("/verify", query_string={"code": printed}, follow_redirects=True).get_data(as_text=True)
    assert "受理通知书" in page and doc.doc_no in page and "张*" in page
    r = client.get("/verify", query_string={"code": "AAAA-AAAA-AAAA-AAAA"})
    assert r.status_code == 404 and "未找到该核验码对应的文书" in r.get_data(as_text=True)
    r = client.get("/verify", query_string={"code": "ABC-123"})
    assert r.status_code == 404 and "应为 16 位" in r.get_data(as_text=True)
    assert client.get("/verify", query_string={"code": "x" * 5000}).status_code == 404


def test_every_kind_has_its_series_declared():
    """A new kind must say which series numbers it (or None: unnumbered); the fallback only keeps issuing safe."""
    from workflows.domain import register

    assert set(archive.KIND_TITLES) <= set(register.KIND_SERIES)
    assert set(register.KIND_SERIES.values()) - {None} <= set(register.SERIES_GROUPS)
    unnumbered = {k for k, g in register.KIND_SERIES.items() if g is None and k in documents.KINDS}
    assert unnumbered == {k for k, spec in documents.KINDS.items() if not spec.numbered} == {"rongque_commitment"}
    assert register.series_group("a_kind_not_declared_yet") == register.DEFAULT_GROUP


def test_each_kind_draws_from_its_series_with_its_prefix(session, clock):
    from workflows.domain import register

    c = start(session, SP, special_post(unit_has_vacancy_at_level=True))  # refused at once (by RS; BB untouched)
    expected = {"acceptance": "内编受字", "decision": "内编字", "filing": "内编备字", "publicity": "内编公字"}
    seen: dict[str, int] = {}
    for kind in archive.KIND_TITLES:
        group = register.series_group(kind)
        doc = _plan(session, c.case_no, "BB", kind, data={"procedure_name": "x"})
        if group is None:
            assert doc.doc_no is None, kind
            continue
        seen[group] = seen.get(group, 0) + 1
        assert doc.kind_group == group and doc.doc_no == f"{expected[group]}〔2026〕{seen[group]}号", kind
    assert seen == {"acceptance": 4, "decision": 4, "filing": 5, "publicity": 1}  # + 事项配置's 核准通知书
