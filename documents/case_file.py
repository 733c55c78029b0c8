"""The 卷宗 (case file) of one case as one A4 PDF: data in, PDF out.

``render_case_file(data)`` takes the dict of ``workflows.services.case_file.gather`` and returns the PDF bytes:

1. **Own pages** (WeasyPrint, templates/case_file.html + static/case_file.css): a cover (办件编号, 事项, 申请人, 单位,
   收件/受理/办结, 生成时间), a table of contents, the application data, every opinion and decision with its rule and
   clause, the audit trail, the lists of issued documents and materials. Rendered twice when needed so that the
   table of contents carries the final page numbers (the appended parts start after the own pages).
2. **Appended parts** (pypdf): the archived PDF of every issued document, then every uploaded material in checklist
   order — PDFs page by page, JPEG/PNG turned into one page each (Pillow). Each appended page is fitted onto an A4
   sheet above a 12 mm footer band (scaled down slightly, never cropped), so that the stamp below covers nothing. A
   file that cannot be read (missing, damaged, encrypted) becomes one page saying so, with its sha256.
3. **The stamp on every page**: one overlay document of N pages (N = the final page count, rendered once) carries
   the 办件编号, "第 i 页 共 N 页", the generation time and a verify code; page i of the overlay is merged onto page i.
4. **Bookmarks** (pypdf outline): 封面, 目录, the five sections, one child per issued document and per material file.

Which verify code: a 卷宗 is not an issued document — it is not numbered or archived, and its bytes change with every
generation (the generation time is on it), so no code can verify *it*; a hash of the assembled content cannot be
printed on pages that are themselves part of the content. Every page therefore carries what can honestly be checked:
the 办件编号 and the generation time ("生成时间", which says the 卷宗 is a view of the record at that moment), and — if
the case has an issued document — the verify code of its latest one (核验码, checkable at /verify), naming that
document on the cover. A case without an issued document shows "暂无已出具文书" in its place.

No database, no Flask. Renders share the process-wide WeasyPrint state of ``documents.renderer`` (its lock and fonts).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from markupsafe import escape

from .renderer import _RENDERER, STATIC_DIR, plain_document, render_plain

LOGGER = logging.getLogger(__name__)

A4_W, A4_H = 595.276, 841.89  # points
FOOTER_BAND = 12 / 25.4 * 72  # the stamp's band at the foot of every page (12 mm)
IMAGE_DPI = 150
MAX_IMAGE_PX = 2400  # a scan larger than this (longest side) is scaled down before it becomes a page
STYLESHEET = STATIC_DIR / "case_file.css"
SECTIONS = (
    ("sec-application", "一、申请信息"),
    ("sec-opinions", "二、办理意见与决定"),
    ("sec-events", "三、办理记录（审计轨迹）"),
    ("sec-documents", "四、已出具文书"),
    ("sec-materials", "五、申请材料"),
)


@dataclass
class Part:
    """One appended file: its pages (pypdf page objects, fitted to A4 later) and its bookmark."""

    section: str  # sec-documents | sec-materials
    title: str
    pages: list = field(default_factory=list)
    note: str = ""  # why the file is not appended as it is (shown in the lists and on its placeholder page)
    sha256: str = ""
    start: int = 0  # 1-based page number in the 卷宗


def _pdf_pages(content: bytes) -> list:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(content))
    if reader.is_encrypted:
        try:
            if not reader.decrypt(""):
                raise ValueError("encrypted")
        except Exception as e:
            raise ValueError("encrypted") from e
    pages = list(reader.pages)
    if not pages:
        raise ValueError("no pages")
    for p in pages:
        p.mediabox  # noqa: B018 - fails here (not half-way through the assembly) on a damaged page tree
    return pages


def _image_pages(content: bytes) -> list:
    """A JPEG/PNG as one PDF page (its size from IMAGE_DPI; fitted onto A4 later)."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(content)) as img:
        img.load()
        img = ImageOps.exif_transpose(img) or img
        if img.mode not in ("RGB", "L"):
            background = Image.new("RGB", img.size, "white")
            rgba = img.convert("RGBA")
            background.paste(rgba, mask=rgba.split()[-1])
            img = background
        if max(img.size) > MAX_IMAGE_PX:
            img.thumbnail((MAX_IMAGE_PX, MAX_IMAGE_PX))
        out = io.BytesIO()
        img.save(out, "PDF", resolution=IMAGE_DPI)
    return _pdf_pages(out.getvalue())


def _load(content: bytes | None) -> tuple[list, str]:
    """(pages, note): the pages of a stored file, or none and why."""
    if not content:
        return [], "文件不可读取（存储中未找到）"
    try:
        if content.startswith(b"%PDF-"):
            return _pdf_pages(content), ""
        if content.startswith(b"\xff\xd8\xff") or content.startswith(b"\x89PNG\r\n\x1a\n"):
            return _image_pages(content), ""
        return [], "文件类型无法合并（仅合并 PDF、JPEG、PNG）"
    except Exception as e:  # damaged or encrypted: listed, not merged
        LOGGER.info("case file: a file could not be merged: %s", e)
        return [], "文件已损坏或已加密，无法合并，请单独下载查看"


def _parts(data: Mapping[str, Any]) -> list[Part]:
    parts = []
    for d in data.get("documents") or ():
        if not d.get("sha256"):
            continue  # not rendered yet: listed, nothing to append
        title = (
            d["title"]
            + (f"（{d['doc_no']}）" if d.get("doc_no") else "")
            + ("（已被替代）" if d.get("superseded") else "")
        )
        pages, note = _load(d.get("content"))
        parts.append(Part("sec-documents", title, pages, note, d["sha256"]))
    for m in data.get("materials") or ():
        if not m.get("sha256"):
            continue
        pages, note = _load(m.get("content"))
        parts.append(Part("sec-materials", m["name"], pages, note, m["sha256"]))
    return parts


# ---------------------------------------------------------------------------------------------------------- render
def _html(data: Mapping[str, Any], parts: list[Part], numbers: Mapping[str, int], front: bool) -> str:
    with _RENDERER._lock:
        _RENDERER._setup()
        template = _RENDERER.env.get_template("case_file.html")
    doc_parts = iter([p for p in parts if p.section == "sec-documents"])
    mat_parts = iter([p for p in parts if p.section == "sec-materials"])
    documents = [dict(d, part=next(doc_parts) if d.get("sha256") else None) for d in data.get("documents") or ()]
    materials = [dict(m, part=next(mat_parts) if m.get("sha256") else None) for m in data.get("materials") or ()]
    return template.render(
        d=data,
        c=data["case"],
        sections=SECTIONS,
        numbers=numbers,
        documents=documents,
        materials=materials,
        parts=parts,
        front=front,
    )


def _render_own(source: str):
    with _RENDERER._lock:
        return plain_document(source, stylesheet=STYLESHEET)


def _anchor_pages(document) -> dict[str, int]:
    """anchor id → 1-based page number of the rendered own pages."""
    out: dict[str, int] = {}
    for i, page in enumerate(document.pages, 1):
        for name in page.anchors:
            out.setdefault(name, i)
    return out


def _numbers(own: dict[str, int], own_count: int, parts: list[Part]) -> dict[str, int]:
    numbers = dict(own)
    n = own_count
    for i, part in enumerate(parts):
        part.start = n + 1
        numbers[f"part-{i}"] = n + 1
        n += max(len(part.pages), 1)  # an unreadable file still gets its one placeholder page
    return numbers


def _stamp(data: Mapping[str, Any], total: int):
    """The overlay: `total` empty A4 pages whose foot carries the 办件编号, the page number and the verify code."""
    c = data["case"]
    verify = data.get("verify")
    code = f"核验码 {verify['code']}（{verify['title']}）" if verify else "暂无已出具文书"
    left = f"办件编号 {c['case_no']} · 卷宗生成时间 {data.get('generated_at', '')}"
    css = """
      @page { size: A4; margin: 0 0 0 0; }
      html { font-family: "GW Song", "FandolSong", "Noto Serif CJK SC", serif; font-size: 7.5pt; color: #333; }
      body { margin: 0; }
      .p { height: 297mm; position: relative; break-after: page; }
      .p:last-child { break-after: auto; }
      .f { position: absolute; left: 15mm; right: 15mm; bottom: 4.5mm; border-top: 0.4pt solid #999;
            padding-top: 1mm; line-height: 10pt; white-space: nowrap; }
      .f .n { float: right; font-family: "GW Hei", "FandolHei", "Noto Sans CJK SC", sans-serif; }
      .f .v { display: block; }
    """
    pages = "".join(
        f'<div class="p"><div class="f"><span class="n">第 {i} 页 / 共 {total} 页</span>'
        f'{escape(left)}<span class="v">{escape(code)}</span></div></div>'
        for i in range(1, total + 1)
    )
    source = f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"></head><body>{pages}</body></html>'
    from pypdf import PdfReader

    return PdfReader(io.BytesIO(render_plain(source, css))).pages


def _fit_a4(writer, page):
    """Add `page` to the writer on a new A4 sheet, scaled to fit above the footer band and centred."""
    from pypdf import Transformation

    try:
        page.transfer_rotation_to_content()
    except Exception:  # an odd /Rotate: keep it as it is
        pass
    box = page.mediabox
    w, h = float(box.width), float(box.height)
    if w <= 0 or h <= 0:
        raise ValueError("empty page")
    avail_h = A4_H - FOOTER_BAND
    scale = min(1.0, A4_W / w, avail_h / h)  # never enlarged: a small scan stays its size
    tx = (A4_W - w * scale) / 2
    margin = min(20 / 25.4 * 72, max(avail_h - h * scale, 0) / 2)  # a card-sized scan is not glued to the edge
    ty = A4_H - h * scale - margin
    sheet = writer.add_blank_page(A4_W, A4_H)
    op = Transformation().translate(-float(box.left), -float(box.bottom)).scale(scale, scale).translate(tx, ty)
    sheet.merge_transformed_page(page, op)
    return sheet


def _placeholder(parts: list[Part]) -> dict[int, Any]:
    """One page per unreadable file, saying what it is and why it is not merged (rendered in one go)."""
    missing = [(i, p) for i, p in enumerate(parts) if not p.pages]
    if not missing:
        return {}

    items = "".join(
        f'<section class="ph"><h2>{escape(p.title)}</h2><p>{escape(p.note)}</p>'
        f'<p class="sha">sha256：{escape(p.sha256)}</p></section>'
        for _i, p in missing
    )
    source = f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"></head><body>{items}</body></html>'
    css = """
      @page { size: A4; margin: 37mm 26mm 35mm 28mm; }
      html { font-family: "GW Fang", "FandolFang", "Noto Serif CJK SC", serif; font-size: 14pt; line-height: 24pt; }
      .ph { break-after: page; }
      .ph:last-child { break-after: auto; }
      h2 { font-family: "GW Hei", "FandolHei", "Noto Sans CJK SC", sans-serif; font-weight: normal; font-size: 16pt; }
      .sha { font-size: 9pt; word-break: break-all; color: #333; }
    """
    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(render_plain(source, css))).pages
    return {i: pages[k] for k, (i, _p) in enumerate(missing)}


def render_case_file(data: Mapping[str, Any]) -> bytes:
    """The 卷宗 of `data` (workflows.services.case_file.gather) as PDF bytes (see the module docstring)."""
    from pypdf import PdfWriter

    parts = _parts(data)
    # the body (sections 一–五) once; then the cover and table of contents with the final page numbers (the front is
    # short: laid out again only if its own length changes the numbers)
    body = _render_own(_html(data, parts, {}, front=False))
    body_anchors = _anchor_pages(body)
    front_count = 2
    for _attempt in range(3):
        own = {k: v + front_count for k, v in body_anchors.items()}
        own["toc"] = 2
        numbers = _numbers(own, front_count + len(body.pages), parts)
        front = _render_own(_html(data, parts, numbers, front=True))
        if len(front.pages) == front_count:
            break
        front_count = len(front.pages)
    from pypdf import PdfReader

    own_pages = [*PdfReader(io.BytesIO(front.write_pdf())).pages, *PdfReader(io.BytesIO(body.write_pdf())).pages]
    placeholders = _placeholder(parts)

    writer = PdfWriter()
    for page in own_pages:
        writer.add_page(page)
    for i, part in enumerate(parts):
        for page in part.pages or [placeholders[i]]:
            try:
                _fit_a4(writer, page)
            except Exception:  # a page pypdf cannot place: an empty sheet keeps the numbering of the TOC
                LOGGER.info("case file: a page of %s could not be placed", part.title)
                writer.add_blank_page(A4_W, A4_H)
    total = len(writer.pages)
    for page, stamp in zip(writer.pages, _stamp(data, total), strict=True):
        page.merge_page(stamp)

    # bookmarks
    writer.add_outline_item(title="封面", page_number=0)
    if "toc" in numbers:
        writer.add_outline_item(title="目录", page_number=numbers["toc"] - 1)
    for anchor, title in SECTIONS:
        if anchor not in numbers:
            continue
        parent = writer.add_outline_item(title=title, page_number=numbers[anchor] - 1)
        for part in parts:
            if part.section == anchor:
                writer.add_outline_item(title=part.title, page_number=part.start - 1, parent=parent)
    c = data["case"]
    writer.add_metadata({"/Title": f"卷宗 {c['case_no']}", "/Subject": f"{c['procedure']} · {c['applicant_name']}"})
    writer.page_mode = "/UseOutlines"
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


__all__ = ["render_case_file", "SECTIONS"]
