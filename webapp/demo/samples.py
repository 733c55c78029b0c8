"""Sample data for the bundled processes, shared by the demo loader, the volume generator, tests and benchmarks:
an approving answer for every user-task form, and the full registration checklist."""

from __future__ import annotations

from functools import lru_cache

from workflows.domain.procedures import REGISTRATION

ALL_REG_MATERIALS = [m.code for m in REGISTRATION.materials]

APPROVE_FORMS: dict[str, dict] = {
    "Task_rongque_commitment": {"commitment_signed": True},
    "Task_unit_review": {"unit_decision": "approve", "unit_opinion": "经单位党委会研究，同意"},
    "Task_assessment": {"assessment_result": "pass", "assessment_note": "考核合格"},
    "Task_dept_review": {"dept_decision": "approve", "dept_opinion": "同意"},
    "Task_pool_review": {"pool_decision": "approve", "pool_opinion": "同意使用人才专项编制"},
    "Task_quota_adjust": {"adjust_decision": "retry", "adjust_note": "已调剂编制"},
    "Task_filing": {"filing_confirmed": True, "filing_note": "材料齐全，予以备案"},
    "Task_hrss_approval": {"hrss_decision": "approve", "hrss_opinion": "经审核，同意"},
    "Task_committee_vote": {
        "experts_expected": 11,
        "experts_present": 9,
        "votes_for": 8,
        "votes_against": 1,
        "votes_abstain": 0,
        "vote_note": "表决通过",
    },
    "Task_unit_hire": {"hire_date": "2026-04-01", "hire_document": "内农科人字〔2026〕8号", "hire_note": "聘期三年"},
}


# ---- sample material files (the demo's "received" items each have one) ------------------------------------------
SAMPLE_MARK = "样例材料 — 演示数据"
IMAGE_CODES = frozenset({"id_card", "holder_id_card"})  # scanned cards come as images, the rest as PDFs


def sample_pdfs(items: list[tuple[str, str, str]]) -> list[bytes]:
    """One single-page PDF per (material name, person, case number): rendered in one WeasyPrint pass and split with
    pypdf (a render per file would cost a second per case)."""
    if not items:
        return []
    import io

    from markupsafe import escape
    from pypdf import PdfReader, PdfWriter

    from documents import render_plain

    pages = "".join(
        f'<section><p class="mark">{SAMPLE_MARK}</p><h1>{escape(name)}</h1>'
        f"<p>姓名：{escape(person)}</p><p>办件编号：{escape(case_no)}</p>"
        f"<p>本页为系统演示数据自动生成的样例材料，代替申请人提交的“{escape(name)}”原件扫描件，不具有任何效力。</p>"
        f'<p class="foot">green-channel demo · {escape(name)} · {escape(person)}</p></section>'
        for name, person, case_no in items
    )
    css = (
        "@page { size: A4; margin: 30mm 25mm; } html { font-family: 'GW Fang', 'Noto Serif CJK SC', serif; font-size: 14pt; "
        "line-height: 26pt; } section { break-after: page; } section:last-child { break-after: auto; } "
        ".mark { color: #c00; border: 2pt solid #c00; padding: 2mm 4mm; display: inline-block; font-size: 16pt; } "
        "h1 { font-family: 'GW Hei', 'Noto Sans CJK SC', sans-serif; font-size: 26pt; margin: 20mm 0 12mm; } "
        ".foot { margin-top: 40mm; color: #666; font-size: 10pt; }"
    )
    html = f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"></head><body>{pages}</body></html>'
    reader = PdfReader(io.BytesIO(render_plain(html, css)))
    out = []
    for page in reader.pages:
        writer = PdfWriter()
        writer.add_page(page)
        buf = io.BytesIO()
        writer.write(buf)
        out.append(buf.getvalue())
    return out


@lru_cache(maxsize=8)
def _cjk_font(size: int):
    """A CJK font for the sample ID card: the vendored Fandol 黑体, else what fontconfig finds, else Pillow's own."""
    import subprocess

    from PIL import ImageFont

    from documents.renderer import VENDOR_FONT_DIR

    try:
        return ImageFont.truetype(str(VENDOR_FONT_DIR / "FandolHei-Regular.otf"), size)
    except OSError:
        pass
    try:
        found = subprocess.run(
            ["fc-match", "Noto Sans CJK SC", "--format=%{file}"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return ImageFont.truetype(found, size)
    except (OSError, subprocess.SubprocessError):
        return ImageFont.load_default(size)


def sample_id_card_png(name: str, id_number: str) -> bytes:
    """A PNG that looks like a scanned ID card, stamped as sample data."""
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (1012, 638), "#eef3f7")
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((8, 8, 1004, 630), radius=28, outline="#6b8bb0", width=4)
    big, mid, small = _cjk_font(44), _cjk_font(34), _cjk_font(28)
    draw.text((60, 60), "居民身份证（样例）", font=big, fill="#1f3b5c")
    draw.text((60, 170), f"姓名  {name}", font=mid, fill="#111")
    draw.text((60, 240), "公民身份号码", font=small, fill="#333")
    draw.text((60, 285), id_number, font=mid, fill="#111")
    draw.rectangle((700, 150, 940, 450), outline="#6b8bb0", width=3)
    draw.text((760, 280), "照片", font=mid, fill="#6b8bb0")
    draw.text((60, 520), SAMPLE_MARK, font=mid, fill="#c00000")
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()
