"""Materials: upload an owed item, download a stored file. webapp/uploads.py checks the file and stores it in the
blob store every web host reads (UPLOAD_STORE); this module only turns its refusals into the API's statuses."""

from __future__ import annotations

import io

from flask import request, send_file
from sqlalchemy import select

from webapp import uploads
from webapp.api import actor, route, scoped_case
from webapp.api import openapi as oa
from webapp.api.errors import PayloadTooLarge, UnsupportedMediaType, field_error
from webapp.api.openapi import CASE_OK
from webapp.api.parsing import idempotency_key, reply, scoped_key
from webapp.api.serialize import committed_case
from webapp.db import db_session
from workflows.domain.errors import Conflict, NotFound
from workflows.domain.models import Case, InboundMessage
from workflows.services import cases as case_svc

MAX_FILE = uploads.MAX_FILE_BYTES
MATERIAL = "/cases/<case_no>/materials/<code>"


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"上传的文件过大：单个文件不能超过 {MAX_FILE // (1024 * 1024)} MB", details={"max_bytes": MAX_FILE}
    )


def checked_upload() -> uploads.Checked:
    """The request's multipart `file`, checked by webapp/uploads.py; its refusals as the API's 413 / 415 / 422."""
    if request.content_length is not None and request.content_length > MAX_FILE + 64 * 1024:
        raise _too_large()
    request.max_content_length = MAX_FILE + 64 * 1024  # the multipart envelope on top of the file
    if not (request.mimetype or "").startswith("multipart/form-data"):
        raise UnsupportedMediaType("请以 multipart/form-data 上传，文件字段名为 file")
    upload = request.files.get("file")
    try:
        checked = uploads.check(upload)
    except uploads.FileTooLarge:
        raise _too_large() from None
    except uploads.FileTypeRefused:
        raise UnsupportedMediaType(
            "文件类型不支持：只接受 PDF、JPEG、PNG 文件", details={"accepted": list(uploads.MIMETYPES)}
        ) from None
    except uploads.FileEmpty:
        raise field_error("file", "文件为空") from None
    if checked is None:
        raise field_error("file", "请选择要上传的文件")
    return checked


@route(
    MATERIAL,
    "POST",
    summary="补交材料（上传文件）",
    tags=["materials"],
    roles=("applicant", "unit_hr", "admin"),
    body=oa.FILE_UPLOAD,
    parameters=[oa.IDEMPOTENCY_KEY_OPTIONAL],
    errors=(404, 409, 413, 415, 422),
    description="字段 file：PDF、JPEG 或 PNG（按文件头判断，不看扩展名），不超过 10 MB。文件按 sha256 存放，"
    "该材料项记为已收到；最后一项欠缺材料补齐后流程继续。不带 Idempotency-Key 时，"
    "同一文件重复上传只生效一次。",
    responses=CASE_OK,
)
def upload_material(case_no: str, code: str):
    case = scoped_case(case_no)
    key = idempotency_key(required=False)
    item = next((m for m in case.materials if m.code == code), None)
    if item is None:
        raise NotFound(f"材料清单中没有此项：{code}")
    checked = checked_upload()
    sha = checked.sha256
    stored_key = scoped_key("supply", case_no, code, key or sha)
    s = db_session()
    replayed = s.scalar(select(InboundMessage.id).where(InboundMessage.idempotency_key == stored_key)) is not None
    if not replayed and item.status not in ("owed", "missing"):
        raise Conflict(f"“{item.name}”无需补交（当前状态：{item.status}）")
    created = uploads.store(checked) if not replayed else False
    try:
        case = case_svc.supply_material(
            s, case_no, code, actor(), file_name=checked.display_name, sha256=sha, idempotency_key=stored_key
        )
    except BaseException:
        if created:
            uploads.forget_unreferenced(s, sha)
        raise
    return reply(committed_case(case), headers={"Idempotent-Replayed": "true" if replayed else "false"})


@route(
    MATERIAL,
    "GET",
    summary="下载材料文件",
    tags=["materials"],
    errors=(404,),
    description="该材料项收到的文件（原样）；类型按文件头判断。ETag 与 X-Content-SHA256 为其 sha256。"
    "文件存放在所有 Web 主机共用的存储中（UPLOAD_STORE），任一主机都可下载。",
    responses={
        "200": oa.binary_response(
            "材料文件（附件）",
            uploads.MIMETYPES,
            headers={
                "X-Content-SHA256": {
                    "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "description": "文件的 sha256",
                }
            },
        )
    },
)
def material_file(case_no: str, code: str):
    return send_material(scoped_case(case_no), code)


def send_material(case: Case, code: str, *, inline: bool = False):
    """The stored file of a checklist item of `case` (the caller has checked scope); 404 for an unknown item or
    one without a file. `inline`: shown in the browser (the officer's preview), framable by our own pages only."""
    item = next((m for m in case.materials if m.code == code), None)
    if item is None:
        raise NotFound(f"材料清单中没有此项：{code}")
    stored = uploads.read(item.sha256) if item.sha256 else None
    if stored is None:
        raise NotFound(f"“{item.name}”没有可下载的文件")
    name = item.file_name or f"{item.name}{stored.ext}"
    resp = send_file(
        io.BytesIO(stored.content),
        mimetype=stored.mimetype,
        as_attachment=not inline,
        download_name=name,
        etag=stored.sha256,
        conditional=True,
        max_age=0,
    )
    resp.headers["X-Content-SHA256"] = stored.sha256
    if inline:
        resp.headers["X-Frame-Options"] = "SAMEORIGIN"
        resp.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; frame-ancestors 'self'"
    return resp
