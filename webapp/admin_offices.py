"""Administrator console, 发文机关: each issuing office's number series (prefix per kind group, this year's last
number, the next one) and its seal image. Routes on the admin blueprint, kept out of webapp/admin.py.

Thin routes: parse, call workflows/services/doc_series.py in one transaction, render. Every change leaves an
administrator's audit event (shown on the office's page). A seal image goes through webapp/uploads.py's check
(type by content) and store, and is then checked as a PNG of sensible size before the office's record points to it.
"""

from __future__ import annotations

import io

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from webapp import uploads
from webapp.admin import _refused, bp
from webapp.db import db_session
from webapp.security import roles_required
from workflows.domain import register
from workflows.domain.errors import DomainError, NotFound, ValidationFailed
from workflows.domain.models import Unit
from workflows.infra.db import transaction
from workflows.services import doc_series
from workflows.services.audit import admin_events
from workflows.services.paging import Page

PER_PAGE = 20
EVENTS_PER_PAGE = 15
ACTION_LABELS = {
    "office_added": "设为发文机关",
    "series_prefix_changed": "修改文号代字",
    "seal_uploaded": "上传印章图片",
    "seal_removed": "删除印章图片",
}


def _pager(total: int, per_page: int) -> Page:
    return Page.of(total, per_page, request.args.get("page", 1, type=int))


@bp.get("/offices")
@roles_required("admin")
def offices():
    s = db_session()
    codes = doc_series.office_codes(s)
    pager = _pager(len(codes), PER_PAGE)
    rows = [doc_series.office(s, c) for c in codes[pager.offset : pager.offset + PER_PAGE]]
    listed = set(codes)
    candidates = [u for u in s.query(Unit).order_by(Unit.code) if u.code not in listed]
    return render_template(
        "admin/offices.html", rows=rows, pager=pager, candidates=candidates, groups=register.SERIES_GROUPS
    )


@bp.post("/offices")
@roles_required("admin")
def add_office():
    s = db_session()
    code = request.form.get("office_code", "")
    try:
        with transaction(s):
            unit = doc_series.add_office(s, code, current_user.username)
    except DomainError as e:
        return _refused(e, offices)
    flash(_("已将 %(name)s 设为发文机关（文号代字取默认值，可在下方修改）", name=unit.name), "success")
    return redirect(url_for("admin.office", code=unit.code), code=303)


def _office_page(code: str, status: int = 200, errors: dict | None = None, typed: dict | None = None):
    s = db_session()
    view = doc_series.office(s, code)  # NotFound: the app's 404 page
    total = admin_events(s, f"office:{code}", 0, 1)[1]
    pager = _pager(total, EVENTS_PER_PAGE)
    events, _total = admin_events(s, f"office:{code}", pager.offset, EVENTS_PER_PAGE)
    return render_template(
        "admin/office.html",
        o=view,
        groups=register.SERIES_GROUPS,
        kinds_of=_kinds_of_group(),
        events=events,
        pager=pager,
        actions=ACTION_LABELS,
        errors=errors or {},
        typed=typed or {},
        max_seal_kb=doc_series.MAX_SEAL_BYTES // 1024,
        seal_px=(doc_series.SEAL_MIN_PX, doc_series.SEAL_MAX_PX),
    ), status


def _kinds_of_group() -> dict[str, list[str]]:
    from workflows.domain.models import KIND_TITLES

    out: dict[str, list[str]] = {g: [] for g in register.SERIES_GROUPS}
    for kind, title in KIND_TITLES.items():
        group = register.series_group(kind)
        if group is not None:
            out[group].append(title)
    return out


@bp.get("/offices/<code>")
@roles_required("admin")
def office(code: str):
    return _office_page(code)


@bp.post("/offices/<code>/series/<group>")
@roles_required("admin")
def set_series_prefix(code: str, group: str):
    s = db_session()
    prefix = (request.form.get("prefix") or "").strip()
    try:
        with transaction(s):
            row = doc_series.set_prefix(s, code, group, prefix, current_user.username)
    except NotFound:
        raise
    except DomainError as e:
        flash(e.message, "error")
        return _office_page(code, e.status, errors={group: e.message}, typed={group: prefix})
    label = register.SERIES_GROUPS[group].label
    flash(
        _(
            "已将%(label)s文号代字设为“%(prefix)s”，自下一个文号起使用；已出具的文号不变",
            label=label,
            prefix=row.prefix,
        ),
        "success",
    )
    return redirect(url_for("admin.office", code=code), code=303)


def check_seal(content: bytes) -> tuple[int, int]:
    """A seal must be a PNG (transparent background, usually) that decodes whole, of sensible pixel size."""
    from PIL import Image, UnidentifiedImageError

    if len(content) > doc_series.MAX_SEAL_BYTES:
        raise uploads.FileTooLarge(
            _("印章图片不能超过 %(n)s KB", n=doc_series.MAX_SEAL_BYTES // 1024),
            details={"fields": {"file": _("文件过大")}},
        )
    try:
        with Image.open(io.BytesIO(content)) as im:
            fmt, (w, h) = im.format, im.size
            if fmt != "PNG":
                raise uploads.FileTypeRefused(_("印章图片须为 PNG 格式（建议透明背景）"))
            if not (doc_series.SEAL_MIN_PX <= w <= doc_series.SEAL_MAX_PX) or not (
                doc_series.SEAL_MIN_PX <= h <= doc_series.SEAL_MAX_PX
            ):
                raise ValidationFailed(
                    _(
                        "印章图片的宽和高须在 %(lo)s–%(hi)s 像素之间（现为 %(w)s×%(h)s）",
                        lo=doc_series.SEAL_MIN_PX,
                        hi=doc_series.SEAL_MAX_PX,
                        w=w,
                        h=h,
                    )
                )
            # every chunk read and its CRC checked: a truncated or corrupt file fails here, not in a PDF
            # (verify, not load: WeasyPrint switches PIL's LOAD_TRUNCATED_IMAGES on for the whole process)
            im.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise uploads.FileTypeRefused(_("印章图片无法读取（文件不完整或不是有效的 PNG 图片）")) from e
    return w, h


@bp.post("/offices/<code>/seal")
@roles_required("admin")
def upload_seal(code: str):
    s = db_session()
    try:
        try:
            storage = request.files.get("file")
        except RequestEntityTooLarge:
            raise uploads.FileTooLarge(_("印章图片不能超过 %(n)s KB", n=doc_series.MAX_SEAL_BYTES // 1024)) from None
        item = uploads.check(storage, _("印章图片"))
        if item is None:
            raise ValidationFailed(_("请选择印章图片文件（PNG）"), details={"fields": {"file": _("此项为必填项")}})
        if item.mimetype != "image/png":
            raise uploads.FileTypeRefused(_("印章图片须为 PNG 格式（建议透明背景），不接受 PDF 或 JPG"))
        width, height = check_seal(item.content)
        uploads.store(item)
        with transaction(s):
            doc_series.set_seal(s, code, item.sha256, item.size, width, height, current_user.username)
    except NotFound:
        raise
    except DomainError as e:
        flash(e.message, "error")
        return _office_page(code, e.status, errors={"seal": e.message})
    flash(_("已上传印章图片：此后生成的文书使用新印章，已出具的文书不变"), "success")
    return redirect(url_for("admin.office", code=code), code=303)


@bp.post("/offices/<code>/seal/delete")
@roles_required("admin")
def delete_seal(code: str):
    s = db_session()
    try:
        with transaction(s):
            doc_series.remove_seal(s, code, current_user.username)
    except NotFound:
        raise
    except DomainError as e:
        flash(e.message, "error")
        return _office_page(code, e.status)
    flash(_("已删除印章图片：此后生成的文书不带印章图片"), "success")
    return redirect(url_for("admin.office", code=code), code=303)


@bp.get("/offices/<code>/seal.png")
@roles_required("admin")
def seal_png(code: str):
    from flask import abort, send_file

    row = doc_series.seal_of(db_session(), code)
    stored = uploads.read(row.sha256) if row is not None else None
    if stored is None:
        abort(404)
    return send_file(io.BytesIO(stored.content), mimetype="image/png", max_age=0, etag=stored.sha256)
