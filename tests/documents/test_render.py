"""documents/: every kind renders to a GB/T 9704 A4 PDF with embedded fonts, its data and no missing glyph.

PNG previews of every document are written to test-output/documents/ (git-ignored) for a human look.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader

import documents
from documents import KINDS, DocumentDataError, cn_date, render, render_png_pages
from documents.renderer import TEMPLATE_DIR, VENDOR_FONT_DIR, VENDOR_FONTS

from . import SAMPLES

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "test-output" / "documents"

# Fields whose value must appear in the text of a document, when the kind has them.
DATE_FIELDS = (
    "deadline",
    "promised_date",
    "filing_deadline",
    "period_start",
    "period_end",
    "term_start",
    "term_end",
    "writeoff_date",
    "completed_date",
    "signed_date",
    "review_date",
)
TEXT_FIELDS = (
    "doc_no",
    "case_no",
    "applicant_name",
    "unit_name",
    "approval_doc_no",
    "committee",
    "recognition_doc",
    "post_name",
    "rule_id",
    "reason",
    "outcome",
    "applied_title",
)


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def _render_with_log(kind: str, data: dict) -> tuple[bytes, list[logging.LogRecord]]:
    logger = logging.getLogger("weasyprint")
    handler = _Capture()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        pdf = render(kind, data)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    return pdf, [r for r in handler.records if r.levelno >= logging.WARNING]


@pytest.fixture(scope="module")
def rendered() -> dict[str, tuple[bytes, list[logging.LogRecord]]]:
    return {kind: _render_with_log(kind, SAMPLES[kind]) for kind in KINDS}


def _squash(s: str) -> str:
    """Text as pypdf extracts it, without the white space that line breaks and letter-spacing insert."""
    return re.sub(r"\s+", "", s)


def _text(pdf: bytes) -> str:
    return _squash("".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages))


def _fonts(pdf: bytes) -> list[tuple[str, object]]:
    """(BaseFont, FontDescriptor) of every font used on any page."""
    out = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources = page.get("/Resources") or {}
        fonts = resources.get_object().get("/Font") or {}
        for ref in fonts.get_object().values():
            font = ref.get_object()
            fonts_to_check = [font]
            if "/DescendantFonts" in font:
                fonts_to_check = [d.get_object() for d in font["/DescendantFonts"]]
            for f in fonts_to_check:
                out.append((str(f.get("/BaseFont")), f.get("/FontDescriptor").get_object()))
    return out


def test_every_kind_is_described():
    assert len(KINDS) == 15  # + 事项配置's approval_notice
    for key, kind in KINDS.items():
        assert kind.key == key
        assert re.search(r"[\u4e00-\u9fff]", kind.title), kind.title
        assert (TEMPLATE_DIR / kind.template).is_file()
        assert kind.office and kind.procedure
        # a paper the applicant signs carries no office number (issue #11)
        assert ("doc_no" in kind.required) is kind.numbered and kind.numbered is (key != "rongque_commitment")
        for field in (
            "issue_date",
            "issuer",
            "verify_code",
            "verify_url",
            "case_no",
            "applicant_name",
            "unit_name",
        ):
            assert field in kind.required
        assert set(kind.required) <= set(SAMPLES[key]), key
        assert set(kind.labels) == set(kind.required)


@pytest.mark.parametrize("kind", list(KINDS))
def test_render_kind(kind, rendered):
    pdf, warnings = rendered[kind]
    notdef = [r.getMessage() for r in warnings if ".notdef" in r.getMessage()]
    assert not notdef, f"missing glyphs in {kind}: {notdef}"
    assert not warnings, [r.getMessage() for r in warnings]
    assert pdf.startswith(b"%PDF-")

    data = SAMPLES[kind]
    text = _text(pdf)
    for field in TEXT_FIELDS:
        if field == "unit_name" and kind == "correction_notice":
            continue  # addressed to the applicant about their own application: no unit line (it stays one page)
        if field in data and (field != "doc_no" or KINDS[kind].numbered):
            assert _squash(str(data[field])) in text, (kind, field, data[field])
    for field in DATE_FIELDS:
        if field in data:
            assert cn_date(data[field]) in text, (kind, field, cn_date(data[field]))
    for item in data.get("owed_items", []):
        assert _squash(item["name"]) in text and cn_date(item["deadline"]) in text
    assert cn_date(data["issue_date"]) in text  # 成文日期 in Chinese form
    if KINDS[kind].numbered:
        assert "〔" in data["doc_no"] and data["doc_no"] in text
    else:  # even when the data carries one, the applicant's paper prints no office number
        assert data["doc_no"] not in text and "编号：" not in text.replace("办件编号：", "")
    # under the QR code, the page where a holder of the paper types the code
    assert "扫码或访问" in text and _squash(data["verify_url"].rsplit("/", 1)[0]) in text
    if KINDS[kind].layout == "notice":
        assert _squash(data["issuer"]) in text
        assert "印发" in text  # 版记
        if data.get("cc"):
            assert "抄送：" + "，".join(data["cc"]) in text

    reader = PdfReader(io.BytesIO(pdf))
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - 595.28) <= 1 and abs(height - 841.89) <= 1, (width, height)

    fonts = _fonts(pdf)
    assert fonts
    for name, descriptor in fonts:
        assert "/FontFile2" in descriptor or "/FontFile3" in descriptor, f"font not embedded: {name}"

    pngs = render_png_pages(pdf, OUT_DIR, kind)
    assert len(pngs) == len(reader.pages) and all(p.stat().st_size > 5000 for p in pngs)


def test_one_page_notices_fit_one_page(rendered):
    for kind in (
        "acceptance_notice",
        "completion_notice",
        "special_post_writeoff_notice",
        "title_filing_receipt",
        "registration_filing_form",
        "special_post_form",
        "title_application_form",
        "rongque_commitment",
    ):
        assert len(PdfReader(io.BytesIO(rendered[kind][0])).pages) == 1, kind


def test_page_numbers_alternate(rendered):
    reader = PdfReader(io.BytesIO(rendered["refusal_notice"][0]))
    assert len(reader.pages) == 2
    assert "—1—" in _squash(reader.pages[0].extract_text())
    assert "—2—" in _squash(reader.pages[1].extract_text())


def test_rare_name_characters_fall_back_to_a_font_that_has_them(rendered):
    # 䶮 (Ext. A) and 𠈌 (Ext. B) are not in the Fandol fonts: Noto CJK must supply them, without .notdef.
    assert "刘䶮" in _text(rendered["acceptance_notice"][0])
    assert "王𠈌" in _text(rendered["refusal_notice"][0])
    names = " ".join(name for name, _ in _fonts(rendered["acceptance_notice"][0]))
    assert "Noto" in names
    if all((VENDOR_FONT_DIR / f).is_file() for _, f, _ in VENDOR_FONTS):
        assert "GW-Fang" in names and "GW-Song-Bold" in names  # Fandol 仿宋 body, 小标宋-like title


def test_missing_fields_raise_a_chinese_error():
    data = dict(SAMPLES["rongque_acceptance_notice"])
    del data["deadline"]
    data["doc_no"] = "  "
    with pytest.raises(DocumentDataError) as err:
        render("rongque_acceptance_notice", data)
    message = str(err.value)
    assert "缺少必填字段" in message and "文号（doc_no）" in message and "补交期限（deadline）" in message
    assert set(err.value.fields) == {"doc_no", "deadline"}


def test_malformed_data_raises():
    with pytest.raises(DocumentDataError, match="未知的文书类型"):
        render("no_such_kind", {})
    bad_date = dict(SAMPLES["acceptance_notice"], promised_date="21/12/2026")
    with pytest.raises(DocumentDataError, match="承诺办结日期"):
        render("acceptance_notice", bad_date)
    bad_item = dict(SAMPLES["rongque_commitment"], owed_items=[{"name": "学历证书", "supply_form": "原件"}])
    with pytest.raises(DocumentDataError, match="补交期限"):
        render("rongque_commitment", bad_item)
    bad_source = dict(SAMPLES["registration_filing_form"], quota_source="borrowed")
    with pytest.raises(DocumentDataError, match="编制来源"):
        render("registration_filing_form", bad_source)


def test_iso_strings_are_accepted_for_dates():
    data = dict(SAMPLES["completion_notice"], issue_date="2026-12-18", completed_date=dt.date(2026, 12, 18))
    text = _text(render("completion_notice", data))
    assert "2026年12月18日" in text


def test_text_is_escaped():
    data = dict(SAMPLES["completion_notice"], outcome="<b>已办结</b> & 归档")
    text = _text(render("completion_notice", data))
    assert "<b>已办结</b>&归档" in text


def test_public_api():
    assert callable(documents.render) and callable(documents.render_png_pages)
    assert shutil.which("pdftoppm"), "poppler-utils is needed for render_png_pages"


def test_noto_only_fallback_without_vendor_fonts(tmp_path, monkeypatch):
    """Without scripts/fetch-fonts.sh (no Fandol), documents still render with every glyph, from Noto CJK."""
    from documents import renderer

    monkeypatch.setattr(renderer, "VENDOR_FONT_DIR", tmp_path)
    noto_only = renderer.Renderer()
    logger = logging.getLogger("weasyprint")
    handler = _Capture()
    logger.addHandler(handler)
    try:
        pdf = noto_only.render("refusal_notice", SAMPLES["refusal_notice"])
    finally:
        logger.removeHandler(handler)
    assert noto_only.vendor_fonts == []
    assert not [r.getMessage() for r in handler.records if r.levelno >= logging.WARNING]
    names = {name for name, _ in _fonts(pdf)}
    assert names and all("Noto" in n for n in names), names
    assert "王𠈌" in _text(pdf)
