"""The 卷宗 (issue #10, deliverable 3) and the demo's sample files (deliverable 8).

The 卷宗 is read back with pypdf as an officer would use it: its bookmarks name the sections, each issued document
and each material; the pages are the own pages plus every appended file's pages; an appended material's own text is
in it; the case number is on every page. Who may have it: officers whose scope includes the case (404 outside it, 403
for applicants and administrators), on the page and in the API. The demo: no material is "received" without a stored
file. Pages are rendered to PNG in test-output/case-file/ to be looked at.
"""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

import documents
from tests.web.conftest import bearer, make_web_app, signed_in
from webapp import uploads
from workflows.domain.models import Case, Document, Material

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-output" / "case-file"
SECTIONS = ["一、申请信息", "二、办理意见与决定", "三、办理记录（审计轨迹）", "四、已出具文书", "五、申请材料"]


@pytest.fixture
def app(tmp_path, clock, demo_db_template, demo_upload_dir):
    a = make_web_app(tmp_path, demo_db_template, UPLOAD_DIR=str(demo_upload_dir))
    yield a
    a.extensions["db_session"].remove()
    a.extensions["db_engine"].dispose()


def _case(app, *conds) -> Case:
    s = app.extensions["db_factory"]()
    try:
        case = s.scalar(select(Case).where(*conds).order_by(Case.id))
        assert case is not None
        s.expunge(case)
        return case
    finally:
        s.close()


def _outline(reader: PdfReader) -> list[tuple[str, int, list[tuple[str, int]]]]:
    """[(title, page index, [(child title, page index)])] of the top-level bookmarks."""
    out: list = []
    for item in reader.outline:
        if isinstance(item, list):
            out[-1][2].extend((c.title, reader.get_destination_page_number(c)) for c in item)
        else:
            out.append((item.title, reader.get_destination_page_number(item), []))
    return out


def _pages_of(content: bytes) -> int:
    return (
        1
        if content.startswith(b"\x89PNG") or content.startswith(b"\xff\xd8\xff")
        else len(PdfReader(io.BytesIO(content)).pages)
    )


# ---------------------------------------------------------------------------------------------------- the demo
def test_every_material_the_demo_marks_received_has_a_stored_file(app):
    s = app.extensions["db_factory"]()
    rows = list(s.scalars(select(Material).order_by(Material.id)))
    s.close()
    received = [m for m in rows if m.status == "received"]
    assert len(received) >= 50  # twelve cases, most with their whole checklist
    kinds = set()
    with app.app_context():
        for m in received:
            assert m.sha256 and m.file_name, f"{m.name} of case {m.case_id} is received without a file"
            stored = uploads.read(m.sha256)
            assert stored is not None, f"the file of {m.name} (case {m.case_id}) is not in the store"
            assert hashlib.sha256(stored.content).hexdigest() == m.sha256
            kinds.add(stored.mimetype)
    assert kinds == {"application/pdf", "image/png"}  # ID cards come as images, the rest as PDFs
    assert all(m.sha256 is None for m in rows if m.status in ("owed", "missing"))  # nothing owed has a file


# ---------------------------------------------------------------------------------------------------- the 卷宗
def test_case_file_of_a_completed_case_read_back(app):
    case = _case(app, Case.applicant_name == "王磊", Case.status == "completed")
    officer = signed_in(app, "renshe")
    page = officer.get(f"/officer/cases/{case.case_no}").get_data(as_text=True)
    link = f"/officer/cases/{case.case_no}/documents/case-file"
    assert f'href="{link}"' in page and 'data-testid="case-file"' in page

    r = officer.get(link)
    assert r.status_code == 200 and r.mimetype == "application/pdf", r.get_data(as_text=True)[:300]
    assert "no-store" in r.headers["Cache-Control"]
    pdf = r.data
    reader = PdfReader(io.BytesIO(pdf))
    for p in reader.pages:  # A4 throughout
        assert (round(float(p.mediabox.width)), round(float(p.mediabox.height))) == (595, 842)

    outline = _outline(reader)
    assert [t for t, _p, _c in outline] == ["封面", "目录", *SECTIONS]
    by_title = {t: (p, c) for t, p, c in outline}
    assert by_title["封面"][0] == 0 and by_title["目录"][0] == 1

    # the appended parts: the issued documents, then the materials in checklist order
    s = app.extensions["db_factory"]()
    docs = list(s.scalars(select(Document).where(Document.case_id == case.id).order_by(Document.id)))
    mats = list(s.scalars(select(Material).where(Material.case_id == case.id).order_by(Material.id)))
    doc_files = [bytes(d.pdf) for d in docs]
    doc_titles = [f"{d.title}（{d.doc_no}）" for d in docs]
    s.close()
    with app.app_context():
        mat_files = [uploads.read(m.sha256).content for m in mats]
    assert [t for t, _p in by_title["四、已出具文书"][1]] == doc_titles
    assert [t for t, _p in by_title["五、申请材料"][1]] == [m.name for m in mats]
    starts = [p for _t, p in by_title["四、已出具文书"][1] + by_title["五、申请材料"][1]]
    sizes = [_pages_of(f) for f in doc_files + mat_files]
    own = starts[0]  # the own pages come first: cover, contents, the five sections
    assert own >= 2 + len(SECTIONS)
    assert starts == [own + sum(sizes[:i]) for i in range(len(sizes))]  # each part right after the one before
    assert len(reader.pages) == own + sum(sizes)  # page count = own pages + appended pages

    # an appended material's own text is in the 卷宗, on its bookmarked page
    talent = next(p for t, p in by_title["五、申请材料"][1] if t == "人才类别认定文件")
    text = reader.pages[talent].extract_text()
    assert "样例材料" in text and "人才类别认定文件" in text and "王磊" in text
    # an appended document's text too
    notice = next(p for t, p in by_title["四、已出具文书"][1] if t.startswith("受理通知书"))
    assert "受理通知书" in reader.pages[notice].extract_text()

    # the case number (and the page number) on every page, own and appended alike
    total = len(reader.pages)
    for i, p in enumerate(reader.pages, 1):
        t = p.extract_text()
        assert case.case_no in t, f"page {i} lacks the case number"
        assert f"第 {i} 页 / 共 {total} 页" in t
    # the verify code printed is the latest issued document's (the 卷宗 itself is not archived)
    latest = docs[-1]
    code = "-".join(latest.verify_code[i : i + 4] for i in range(0, len(latest.verify_code), 4))
    assert code in reader.pages[0].extract_text() and code in reader.pages[-1].extract_text()

    # the sections hold the record: the rule clauses, the opinions, the audit trail
    body = "".join(reader.pages[i].extract_text() for i in range(own))
    for words in ("生成时间", "R1", "R6", "经单位党委会研究", "材料齐全，予以备案", "一个月内完成备案", "提交申请"):
        assert words in body.replace("\n", ""), words

    pngs = documents.render_png_pages(pdf, OUT, "completed", dpi=60)
    assert len(pngs) == total
    # the pages to look at: the cover, the contents, the first appended material (an ID card image)
    first_material = by_title["五、申请材料"][1][0][1]
    for name, index in (("cover", 0), ("toc", 1), ("material", first_material), ("material-pdf", talent)):
        shutil.copy(pngs[index], OUT / f"look-{name}.png")


def test_case_file_in_the_api_and_who_may_have_it(app):
    case = _case(app, Case.applicant_name == "张伟", Case.procedure == "green_channel_registration")  # U0101
    base = f"/officer/cases/{case.case_no}/documents/case-file"
    assert signed_in(app, "zhangwei").get(base).status_code == 403  # his own case, but applicants have no 卷宗
    assert signed_in(app, "admin").get(base).status_code == 403
    assert signed_in(app, "dept_jyt").get(base).status_code == 404  # 教育厅: another department's unit
    assert signed_in(app, "hr_kjxx").get(base).status_code == 404  # another unit of the same department
    assert signed_in(app, "dept_kjt").get(base).status_code == 200

    api = app.test_client()
    url = f"/api/v1/cases/{case.case_no}/case-file"
    assert api.get(url).status_code == 401
    r = api.get(url, headers=bearer(app, "zhangwei"))
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"
    r = api.get(url, headers=bearer(app, "dept_jyt"))
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
    r = api.get(url, headers=bearer(app, "hr_nky"))
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert "attachment" in r.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(r.data))
    mats = dict((t, p) for t, p in _outline(reader)[-1][2])
    # 容缺: two items owed, so six files appended (the ID card as an image page)
    assert list(mats) == [
        "居民身份证",
        "人才类别认定文件",
        "聘用合同或拟聘决定",
        "考察材料",
        "学历学位证书",
        "个人简历",
    ]
    assert all(case.case_no in p.extract_text() for p in reader.pages)
    spec = app.test_client().get("/api/v1/openapi.json").json
    op = spec["paths"]["/api/v1/cases/{case_no}/case-file"]["get"]
    assert "application/pdf" in op["responses"]["200"]["content"]


def test_an_unreadable_file_is_listed_not_merged(tmp_path, clock, demo_db_template, demo_upload_dir):
    """A damaged PDF and a file missing from the store: the 卷宗 is still made, each says why on its page."""
    up = tmp_path / "up"
    shutil.copytree(demo_upload_dir, up)
    app = make_web_app(tmp_path, demo_db_template, UPLOAD_DIR=str(up))
    junk = b"%PDF-1.4 this is not a PDF at all"
    sha = hashlib.sha256(junk).hexdigest()
    (up / sha).write_bytes(junk)
    s = app.extensions["db_factory"]()
    case = s.scalar(select(Case).where(Case.applicant_name == "王磊"))
    case_no = case.case_no
    by_code = {m.code: m for m in case.materials}
    by_code["resume"].sha256 = sha
    by_code["health_check"].sha256 = "0" * 64  # not in the store
    s.commit()
    s.close()
    r = signed_in(app, "renshe").get(f"/officer/cases/{case_no}/documents/case-file")
    assert r.status_code == 200
    reader = PdfReader(io.BytesIO(r.data))
    mats = dict((t, p) for t, p in _outline(reader)[-1][2])
    assert "文件已损坏或已加密" in reader.pages[mats["个人简历"]].extract_text()
    assert "存储中未找到" in reader.pages[mats["体检报告"]].extract_text()
    assert mats["个人简历"] == len(reader.pages) - 1  # one placeholder page each, numbering intact
    app.extensions["db_session"].remove()
    app.extensions["db_engine"].dispose()
