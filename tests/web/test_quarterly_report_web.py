"""The 季度调度通报 the worker issues after a quarter's end (issue 14 item 3), end to end on the demo: two worker rounds
(`flask sweep`) after 31 March give exactly one numbered report, rendered, signed and archived by the render queue;
administrators list and download it; its PDF carries its 文号 and the quarter's figures; the public verify page
knows it (an office document: no holder) and checks the file; the unnumbered preview still works."""

from __future__ import annotations

import io
import re
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import select

from tests.web.conftest import signed_in
from tests.web.test_rights_web import _file
from workflows.domain.models import Document, PeriodicReport
from workflows.infra.db import transaction
from workflows.services import archive


def _text(pdf: bytes) -> str:
    return re.sub(r"\s+", "", "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))


def _reports(db) -> list[Document]:
    db.expire_all()
    docs = list(db.scalars(select(Document).where(Document.kind == "dispatch_report")))
    db.commit()
    return docs


def test_worker_issues_the_quarterly_report_once(web_app, db, clock):
    zw = signed_in(web_app, "zhangwei")
    _file(zw)
    _file(zw, topic="children_school", anonymous="1")
    runner = web_app.test_cli_runner()
    assert runner.invoke(args=["sweep"]).exit_code == 0
    assert _reports(db) == []  # the quarter is not over

    clock.to(2026, 4, 1, 9)  # the first quarter has ended: each worker round looks for its report
    first = runner.invoke(args=["sweep"])
    assert first.exit_code == 0, first.output
    assert "季度调度通报：内科通字〔2026〕1号" in first.output
    (doc,) = _reports(db)
    assert doc.sha256 is None  # planned in this round, rendered by the next
    # a failed render of an office document is listed for the administrators like any other
    with transaction(db):
        archive.record_render_failure(db, doc.id, "测试：渲染失败")
    ad = signed_in(web_app, "admin")
    rendering = ad.get("/admin/rendering").get_data(as_text=True)
    assert "机关文书，不属于办件" in rendering and "内科通字〔2026〕1号" in rendering

    second = runner.invoke(args=["sweep"])  # a second worker round (or a second worker): no second report
    assert second.exit_code == 0, second.output
    (doc,) = _reports(db)
    assert len(db.scalars(select(PeriodicReport)).all()) == 1
    db.commit()
    assert doc.doc_no == "内科通字〔2026〕1号" and doc.case_id is None and doc.status == "issued"
    assert doc.sha256 and doc.signer_fingerprint

    page = ad.get("/admin/rights-report").get_data(as_text=True)
    assert "内科通字〔2026〕1号" in page and "2026年第1季度" in page and "已归档" in page
    r = ad.get(f"/admin/rights-report/{doc.id}.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    pdf = r.data
    out = Path("test-output/documents")  # looked at as pages: pdftoppm -png test-output/documents/dispatch_report.pdf
    out.mkdir(parents=True, exist_ok=True)
    (out / "dispatch_report.pdf").write_bytes(pdf)
    import hashlib

    assert hashlib.sha256(pdf).hexdigest() == doc.sha256
    text = _text(pdf)
    assert "内科通字〔2026〕1号" in text and "内蒙古自治区科学技术厅" in text and "2026年第一季度" in text
    assert "本季度共收到投诉和意见反馈2件" in text and "编制管理" in text and "子女入学" in text
    assert "人才“绿色通道”办理情况（一）收件与办理收件13" in text  # the demo's 13 cases, received on 2 March
    assert archive.display_code(doc.verify_code) in text  # under the QR code
    # not reachable through the API (no case) nor as any other kind
    assert ad.get(f"/api/v1/documents/{doc.id}/pdf").status_code == 404

    public = web_app.test_client()
    v = public.get(f"/verify/{doc.verify_code}").get_data(as_text=True)
    assert "内科通字〔2026〕1号" in v and "当前有效" in v and "各有关单位" in v and "持有人" not in v
    checked = public.post(
        f"/verify/{doc.verify_code}", data={"pdf": (io.BytesIO(pdf), "r.pdf")}, content_type="multipart/form-data"
    ).get_data(as_text=True)
    assert "一致" in checked and "——与归档原件完全相同" in checked and "有效" in checked

    # the preview of any quarter: not numbered, nothing stored
    preview = ad.get("/admin/rights-report/preview?year=2026&quarter=1")
    assert preview.status_code == 200 and preview.mimetype == "application/pdf"
    text = _text(preview.data)
    assert "样稿" in text and "内科通字" not in text and "本季度共收到投诉和意见反馈2件" in text
    assert len(_reports(db)) == 1
    assert ad.get("/admin/rights-report/999999.pdf").status_code == 404
