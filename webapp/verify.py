"""Public document verification: /verify (type the code printed on the paper) and /verify/<code> (no login).

Shows what a holder of the paper needs to trust it — kind, 文号, date, issuing office, the holder masked
(张*、1501**********1234), current or superseded — and checks an uploaded PDF twice: its sha256 against the
archive and its PAdES signature against the issuing office's certificates (webapp/signing.py `check_file`).
Nothing is stored and no document content or download is offered here (downloads stay in the portals).
"""

from __future__ import annotations

import logging

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.db import db_session
from webapp.signing import check_file
from workflows.services import archive

log = logging.getLogger(__name__)
bp = Blueprint("verify", __name__)

MAX_UPLOAD = 10 * 1024 * 1024  # 10 MB
STATUS_LABELS = {
    "issued": _l("当前有效"),
    "pending": _l("当前有效（正在生成归档文件）"),
    "superseded": _l("已被新版本替代"),
}

# why a signature does not hold (documents/signing.py SignatureCheck.reason), for the public page
SIGNATURE_PROBLEMS = {
    "unreadable": _l("文件无法按 PDF 解析，签名无法核验。"),
    "unsigned": _l("文件未带电子签名。"),
    "malformed": _l("签名数据无法解析。"),
    "modified": _l("文件在签署后被改动过。"),
    "untrusted": _l("签名证书不是该发文机关的证书。"),
    "appended": _l("文件在签署后被追加了内容。"),
}


def _not_found():
    return render_template("verify/not_found.html"), 404


def _page(doc, status: int = 200, *, result: str | None = None, error: str | None = None, signature=None):
    s = db_session()
    view = archive.public_view(s, doc)
    code = archive.normalize_code(request.view_args.get("code", ""))
    return render_template(
        "verify/document.html",
        v=view,
        code=code,
        status_label=STATUS_LABELS.get(view["status"], ""),
        display_code=archive.display_code(code),
        result=result,
        signature=signature,
        signature_problem=SIGNATURE_PROBLEMS.get(signature.reason, "") if signature is not None else "",
        error=error,
        max_mb=MAX_UPLOAD // (1024 * 1024),
    ), status


@bp.get("/verify")
def form():
    """For a holder of the paper who cannot scan: type the code (dashes, spaces and case do not matter)."""
    typed = (request.args.get("code") or "").strip()[:64]
    if not typed:
        return render_template("verify/form.html", typed="", error=None)
    doc = archive.lookup(db_session(), typed)
    if doc is None:
        code = archive.normalize_code(typed)
        error = (
            _("核验码应为 16 位（字母 A–Z 和数字 2–7，可含短横线），您输入了 %(n)s 位有效字符。", n=len(code))
            if len(code) != 16
            else _("未找到该核验码对应的文书，请核对后重新输入。")
        )
        return render_template("verify/form.html", typed=typed, error=error), 404
    return redirect(url_for("verify.show", code=doc.verify_code), code=303)


@bp.get("/verify/<code>")
def show(code: str):
    doc = archive.lookup(db_session(), code)
    if doc is None:
        return _not_found()
    return _page(doc)


@bp.post("/verify/<code>")
def check(code: str):
    doc = archive.lookup(db_session(), code)
    if doc is None:
        return _not_found()
    if request.content_length is not None and request.content_length > MAX_UPLOAD + 64 * 1024:
        return _page(doc, 413, error=_("上传的文件过大：核验文件不能超过 %(n)s MB。", n=MAX_UPLOAD // (1024 * 1024)))
    try:
        request.max_content_length = MAX_UPLOAD + 64 * 1024  # the multipart envelope on top of the file
        upload = request.files.get("pdf")
    except RequestEntityTooLarge:
        return _page(doc, 413, error=_("上传的文件过大：核验文件不能超过 %(n)s MB。", n=MAX_UPLOAD // (1024 * 1024)))
    if upload is None or not upload.filename:
        return _page(doc, 400, error=_("请选择要核验的 PDF 文件。"))
    content = upload.stream.read(MAX_UPLOAD + 1)
    if len(content) > MAX_UPLOAD:
        return _page(doc, 413, error=_("上传的文件过大：核验文件不能超过 %(n)s MB。", n=MAX_UPLOAD // (1024 * 1024)))
    if not content.startswith(b"%PDF-"):
        return _page(doc, 400, error=_("上传的文件不是 PDF 文件，请上传从办理系统下载的 PDF 原件。"))
    checked = check_file(db_session(), content, code)  # the archive hash and the office's electronic signature
    same = checked.hash_matches
    log.info(
        "verification upload for %s: %s, signature %s",
        doc.doc_no,
        "match" if same else "mismatch",
        "valid" if checked.signature.valid else "invalid",
    )
    return _page(doc, result="一致" if same else "不一致", signature=checked.signature)
