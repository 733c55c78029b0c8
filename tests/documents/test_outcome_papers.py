"""Each way a case ends, read back from the issued PDF as its recipient reads it (issue #11 items 1 and 3, issue #12
items 4 and 6): the paper's title, the rule that decided with its clause quoted exactly from the seeds, the desk's
reason, the remedy sentence with the configured 行政复议机关, the addressee (the person or the unit, never "你（单位）"),
the filled opinion boxes of the 备案表, and one page where the text fits (nothing after the 版记).

Set KEEP_PAPERS=DIR to keep every PDF and its PNG pages there (to look at them)."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from webapp.demo.accounts import actor_for
from workflows.domain.models import Document
from workflows.domain.rules import RULES
from workflows.infra.db import transaction
from workflows.services import settings as settings_svc

from ..helpers import act, find_task, registration, reload, special_post, start, title

REG, SP, TT = "green_channel_registration", "special_post", "senior_title_direct"
REMEDY = (
    "根据《中华人民共和国行政许可法》第三十八条的规定，如对本决定不服，可以自收到{paper}之日起六十日内向{body}申请行政复议，"
    "或者自收到{paper}之日起六个月内依法向人民法院提起行政诉讼。"
)


def _flat(text: str) -> str:
    """pdftotext-like text without line breaks and spaces (a sentence may wrap anywhere)."""
    return re.sub(r"\s+", "", text)


def _papers(session, factory, case_no: str) -> list[tuple[Document, str, int]]:
    """Render what the case has pending and read each PDF back: (document, its text, its page count)."""
    from webapp.issuing import render_pending

    render_pending(factory)
    session.expire_all()
    case = reload(session, case_no)
    docs = list(session.scalars(select(Document).where(Document.case_id == case.id).order_by(Document.id)))
    out = []
    for d in docs:
        assert d.pdf, f"{d.kind} not rendered: {d.render_error}"
        _keep(d)
        reader = PdfReader(io.BytesIO(d.pdf))
        pages = [p.extract_text() for p in reader.pages]
        _assert_banji_last(pages[-1])
        if len(pages) > 1:  # a page 2 carries text with the 署名, never the 署名 alone (GB/T 9704 7.3.5)
            body = _flat(pages[-1]).split("扫码核验")[0]
            assert body.count("。") >= 1 and len(body) > 40, pages[-1]
        assert "你（单位）" not in "".join(pages)  # every notice knows whom it addresses
        # read as one text without the page numbers (a paragraph may run from one page onto the next)
        out.append((d, _flat("".join(re.sub(r"—\s*\d+\s*—", "", p) for p in pages)), len(pages)))
    session.commit()
    return out


def _keep(d: Document) -> None:
    keep = os.environ.get("KEEP_PAPERS")
    if not keep:
        return
    from documents import render_png_pages

    stem = f"{d.case.case_no}-{d.kind}"
    Path(keep).mkdir(parents=True, exist_ok=True)
    (Path(keep) / f"{stem}.pdf").write_bytes(d.pdf)
    render_png_pages(d.pdf, keep, stem)


def _last(session, factory, case_no: str) -> tuple[Document, str, int]:
    return _papers(session, factory, case_no)[-1]


def _quoted(rule_id: str) -> list[str]:
    return [_flat(q.text) for q in RULES[rule_id].quotes]


def _assert_banji_last(page_text: str) -> None:
    """GB/T 9704 7.4: the 版记 (its last line: 印发机关 … 印发) is the last thing; only the page number follows."""
    lines = [ln.strip() for ln in page_text.splitlines() if ln.strip()]
    last = max(i for i, ln in enumerate(lines) if ln.endswith("印发") or ln.endswith("日")) if lines else 0
    assert all(re.fullmatch(r"[—\-\s\d]+", ln) for ln in lines[last + 1 :]), lines[last:]


def _assert_adverse(text: str, pages: int, *, rule_id: str | None, addressee: str, paper: str, body: str):
    # GB/T 9704's 22 lines of 三号 leave about eight lines of body on a first page under the 版头: a paper with its
    # clause quoted and the remedy runs onto a second page, which then holds whole paragraphs and the 署名
    assert pages <= 2
    assert text.count(_flat(addressee) + "：") == 1  # 主送: the person or the unit, once
    assert "你（单位）" not in text
    if rule_id:
        assert f"规则编号：{rule_id}" in text
        for q in _quoted(rule_id):
            assert q in text, f"clause of {rule_id} not quoted exactly"
    assert _flat(REMEDY.format(paper=paper, body=body)) in text


# ---- 不予受理: refused before acceptance ------------------------------------------------------------------------------


def test_r1_flexible_is_not_accepted_and_pointed_to_the_flexible_agreement(session, factory, clock):
    c = start(session, REG, registration(introduction_mode="flexible"))
    case = reload(session, c.case_no)
    assert (case.status, case.outcome_rule) == ("not_accepted", "R1")
    [(doc, text, pages)] = _papers(session, factory, c.case_no)
    assert doc.kind == "refusal_notice" and doc.title == "不予受理通知书"
    assert "不予受理通知书" in text and "决定不予受理" in text
    _assert_adverse(text, pages, rule_id="R1", addressee="张伟", paper="本通知书", body="内蒙古自治区人民政府")
    assert "你于2026年3月2日提交的" in text and "你单位" not in text
    assert "柔性引进协议" in text and "不通过任何途径办理列编注册" in text
    assert "公开招聘" not in text  # the other R1 refusal's route is not offered to 柔性引进 talent


def test_r1_category_7_is_pointed_to_open_recruitment(session, factory, clock):
    c = start(session, REG, registration(talent_category=7))
    [(doc, text, pages)] = _papers(session, factory, c.case_no)
    assert doc.kind == "refusal_notice"
    _assert_adverse(text, pages, rule_id="R1", addressee="张伟", paper="本通知书", body="内蒙古自治区人民政府")
    assert "公开招聘" in text and "编制外聘用" in text and "柔性引进协议" not in text


def test_the_reconsideration_body_comes_from_the_setting(session, factory, clock):
    from workflows.domain.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="行政复议机关"), transaction(session):
        settings_svc.set_params(session, {"reconsideration_body": "  "})
    with transaction(session):
        settings_svc.set_params(session, {"reconsideration_body": "呼和浩特市人民政府"})
    c = start(session, REG, registration(talent_category=7))
    [(_doc, text, pages)] = _papers(session, factory, c.case_no)
    _assert_adverse(text, pages, rule_id="R1", addressee="张伟", paper="本通知书", body="呼和浩特市人民政府")


def test_special_post_not_meeting_r8_is_not_accepted_and_addressed_to_the_unit(session, factory, clock):
    c = start(session, SP, special_post(unit_has_vacancy_at_level=True))
    assert reload(session, c.case_no).status == "not_accepted"
    [(doc, text, pages)] = _papers(session, factory, c.case_no)
    assert doc.kind == "refusal_notice"
    _assert_adverse(
        text, pages, rule_id="R8", addressee="内蒙古自治区农牧业科学院", paper="本通知书", body="内蒙古自治区人民政府"
    )
    assert "你单位于2026年3月2日提交的" in text and "涉及人员：陈晨" in text


# ---- 不予批准: refused after acceptance, in the procedure's words -----------------------------------------------------


def test_registration_refused_by_the_department_is_a_decision_not_to_register(session, factory, clock):
    c = start(session, REG, registration())
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_dept_review", {"dept_decision": "refuse", "dept_opinion": "该岗位已另行安排"})
    case = reload(session, c.case_no)
    assert (case.status, case.outcome_rule) == ("refused", None)
    acceptance, refusal = _papers(session, factory, c.case_no)
    assert acceptance[0].kind == "acceptance_notice" and "张伟：你于2026年3月2日提交的" in acceptance[1]
    doc, text, pages = refusal
    assert doc.kind == "refusal_decision" and doc.title == "不予列编决定书"
    assert "不予列编决定书" in text and "决定不予列编" in text and "不予受理" not in text
    assert "已依法受理" in text and "经主管部门审核，该岗位已另行安排" in text
    _assert_adverse(text, pages, rule_id=None, addressee="张伟", paper="本决定书", body="内蒙古自治区人民政府")
    assert "R1" not in text  # the eligibility rule favoured the applicant: it did not decide


def test_special_post_refused_by_hrss_is_a_decision_not_to_approve(session, factory, clock):
    c = start(session, SP, special_post())
    act(session, c.case_no, "Task_dept_review")
    act(session, c.case_no, "Task_hrss_approval", {"hrss_decision": "refuse", "hrss_opinion": "设置理由不充分"})
    assert reload(session, c.case_no).status == "refused"
    doc, text, pages = _last(session, factory, c.case_no)
    assert doc.kind == "refusal_decision" and doc.title == "不予核准决定书"
    assert "决定不予核准" in text and "设置理由不充分" in text
    _assert_adverse(
        text, pages, rule_id="R8", addressee="内蒙古自治区农牧业科学院", paper="本决定书", body="内蒙古自治区人民政府"
    )


def test_title_vote_below_two_thirds_is_a_decision_that_the_review_failed(session, factory, clock):
    from workflows.services.timers import fire_due_timers

    c = start(session, TT, title())
    act(session, c.case_no, "Task_unit_review")
    clock.to(2026, 3, 7, 0, 5)
    assert fire_due_timers(factory) == 1
    act(session, c.case_no, "Task_dept_review")
    vote = {"experts_expected": 9, "experts_present": 9, "votes_for": 5, "votes_against": 3, "votes_abstain": 1}
    act(session, c.case_no, "Task_committee_vote", vote)
    case = reload(session, c.case_no)
    assert (case.status, case.outcome_rule) == ("refused", "R9")
    doc, text, pages = _last(session, factory, c.case_no)
    assert doc.kind == "refusal_decision" and doc.title == "评审未通过决定书"
    assert (
        "决定评审未通过" in text and "经评审表决，实到专家9人，同意5票，不同意3票，弃权1票，未达到通过所需票数" in text
    )
    _assert_adverse(text, pages, rule_id="R9", addressee="张伟", paper="本决定书", body="内蒙古自治区人民政府")


# ---- 终止办理 ------------------------------------------------------------------------------------------------------


def test_rongque_lapse_terminates_with_the_commitment_and_the_lapsed_items(session, factory, clock):
    from workflows.services.timers import fire_due_timers

    mats = [m for m in registration()["materials"] if m not in ("health_check", "no_crime_record")]
    c = start(session, REG, registration(materials=mats))
    act(session, c.case_no, "Task_rongque_commitment")
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_dept_review")
    clock.to(2026, 4, 15, 0, 5)
    assert fire_due_timers(factory) == 1
    case = reload(session, c.case_no)
    assert (case.status, case.outcome_rule) == ("terminated", "R3")
    doc, text, pages = _last(session, factory, c.case_no)
    assert doc.kind == "termination_notice" and "终止办理通知书" in text
    assert "容缺材料逾期未补齐：你于2026年3月2日签署《容缺受理承诺书》" in text and "2026年4月14日前补齐" in text
    assert "体检报告" in text and "无犯罪记录证明" in text and "决定终止办理" in text
    _assert_adverse(text, pages, rule_id="R3", addressee="张伟", paper="本通知书", body="内蒙古自治区人民政府")


def test_upheld_objection_terminates_the_case(session, factory, clock):
    from workflows.services.cases import record_objection

    c = start(session, REG, registration(outside_establishment=True))
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_assessment")
    record_objection(session, c.case_no, "反映其考核材料不实", "匿名", "obj-1")
    t = find_task(session, c.case_no, "Task_publicity_objection")
    act(session, c.case_no, t.spec_name, {"objection_finding": "upheld", "objection_note": "考核材料与事实不符"})
    case = reload(session, c.case_no)
    assert (case.status, case.outcome_rule) == ("terminated", "R7")
    doc, text, pages = _last(session, factory, c.case_no)
    assert doc.kind == "termination_notice"
    assert "公示期间收到异议" in text and "异议成立：考核材料与事实不符" in text and "决定终止办理" in text
    assert "公示异议处理的通行做法" in text
    _assert_adverse(text, pages, rule_id="R7", addressee="张伟", paper="本通知书", body="内蒙古自治区人民政府")


# ---- 撤回 and 办结 -------------------------------------------------------------------------------------------------


def test_withdrawal_issues_no_paper(session, factory, clock):
    from workflows.services.cases import withdraw

    c = start(session, REG, registration())
    withdraw(session, c.case_no, actor_for(session, "zhangwei"), "个人原因")
    assert reload(session, c.case_no).status == "withdrawn"
    assert [d.kind for d, _t, _p in _papers(session, factory, c.case_no)] == ["acceptance_notice"]


def test_completion_fills_every_opinion_box_of_the_filing_form(session, factory, clock):
    c = start(session, REG, registration())
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_dept_review", {"dept_decision": "approve"})  # no text typed: the decision speaks
    act(session, c.case_no, "Task_filing")
    assert reload(session, c.case_no).status == "completed"
    papers = {d.kind: (d, text, pages) for d, text, pages in _papers(session, factory, c.case_no)}
    doc, text, pages = papers["registration_filing_form"]
    assert pages == 1
    boxes = {o["stage"]: o for o in doc.data["opinions"]}
    assert list(boxes) == ["用人单位意见", "主管部门意见", "机构编制部门意见", "人力资源社会保障部门备案意见"]
    assert boxes["用人单位意见"]["text"] == "经单位党委会研究，同意" and boxes["主管部门意见"]["text"] == "同意"
    assert boxes["人力资源社会保障部门备案意见"]["text"] == "材料齐全，予以备案"
    assert "本单位空余编制" in boxes["机构编制部门意见"]["text"]
    for stage in ("用人单位意见", "主管部门意见", "人力资源社会保障部门备案意见"):
        assert boxes[stage]["handler"] and boxes[stage]["date"] == "2026-03-02"
        assert f"经办人：{boxes[stage]['handler']}" in text
    assert "经单位党委会研究，同意" in text and "材料齐全，予以备案" in text
    assert text.count("2026年3月2日") >= 4
    _d, notice, notice_pages = papers["completion_notice"]
    assert notice_pages == 1 and "办结通知书" in notice


def test_the_seal_is_printed_over_the_office_when_uploaded(session, factory, clock):
    """Another part of the product stores the office's seal and puts it into the render data (`seal_image`)."""
    import base64

    import documents
    from webapp.issuing import render_data

    png = base64.b64encode(_red_circle_png()).decode()
    c = start(session, REG, registration(talent_category=7))
    [(doc, _text, pages)] = _papers(session, factory, c.case_no)
    data = render_data(doc)
    assert 'class="seal"' not in documents.render_html(doc.kind, data)
    html = documents.render_html(doc.kind, {**data, "seal_image": f"data:image/png;base64,{png}"})
    assert html.count('class="seal"') == 1  # over the 署名 (the office and the date)
    pdf = documents.render(doc.kind, {**data, "seal_image": f"data:image/png;base64,{png}"})
    assert len(PdfReader(io.BytesIO(pdf)).pages) == pages  # laid over the text: it moves nothing
    if os.environ.get("KEEP_PAPERS"):
        from documents import render_png_pages

        render_png_pages(pdf, os.environ["KEEP_PAPERS"], "sealed-refusal_notice")

    # a form: over the issuing office's own opinion box and its 署名
    c = start(
        session, REG, registration(applicant_name="刘娜", id_number="150104198805052345", unit_code="U0201"), "liuna"
    )
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_dept_review")
    act(session, c.case_no, "Task_filing")
    form = next(d for d, _t, _p in _papers(session, factory, c.case_no) if d.kind == "registration_filing_form")
    data = {**render_data(form), "seal_image": f"data:image/png;base64,{png}"}
    assert documents.render_html(form.kind, data).count('class="seal"') == 2
    if os.environ.get("KEEP_PAPERS"):
        from documents import render_png_pages

        render_png_pages(documents.render(form.kind, data), os.environ["KEEP_PAPERS"], "sealed-filing_form")


def _red_circle_png() -> bytes:
    """A tiny PNG (a red square stands for the seal) without an image library."""
    import struct
    import zlib

    w = h = 8
    raw = b"".join(b"\x00" + b"\xe6\x00\x12\xff" * w for _ in range(h))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("kind", ["publicity_notice", "correction_notice"])
def test_short_notices_fit_one_page_with_nothing_after_the_banji(kind):
    """GB/T 9704 7.4: the 版记 is last. A notice of a few paragraphs is one page, the 版记 at its foot."""
    import documents

    common = {
        "doc_no": "内人社字〔2026〕1号",
        "issue_date": "2026-03-02",
        "issuer": "内蒙古自治区人力资源和社会保障厅",
        "verify_code": "ABCD-EFGH-IJKL-MNOP",
        "verify_url": "https://rsj.example.gov.cn/verify/ABCDEFGHIJKLMNOP",
        "case_no": "150000L260302000001",
        "applicant_name": "张伟",
        "unit_name": "内蒙古自治区农牧业科学院",
        "procedure_name": "“绿色通道”列编注册",
        "submitted_date": "2026-03-02",
    }
    data = {
        "publicity_notice": {
            "subject": "“绿色通道”引进人才列编注册人选",
            "persons": [
                {"name": "张伟", "unit": "内蒙古自治区农牧业科学院", "detail": "刚性引进第3类人才，拟列编注册"}
            ],
            "period_start": "2026-03-02",
            "period_end": "2026-03-06",
            "objection_contact": "内蒙古自治区农牧业科学院",
        },
        "correction_notice": {
            "items": [
                {"name": "人才类别认定文件", "requirement": "请补正"},
                {"name": "考察材料", "requirement": "请补正"},
            ],
            "deadline": "2026-03-09",
        },
        "refusal_notice": {
            "reason": "柔性引进人才不占用编制，不适用“绿色通道”列编注册，请按柔性引进协议约定的方式服务",
            "rule_id": "R1",
            "quotes": [{"source": q.source, "text": q.text} for q in RULES["R1"].quotes],
            "alternative_route": "柔性引进人才按其与用人单位签订的柔性引进协议提供服务。",
            "remedy": REMEDY.format(paper="本通知书", body="内蒙古自治区人民政府"),
        },
    }[kind]
    pdf = documents.render(kind, {**common, **data})
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    _assert_banji_last(reader.pages[0].extract_text())
