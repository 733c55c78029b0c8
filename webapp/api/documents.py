"""Documents of a case and the archived PDF of one (webapp/issuing.py renders them into the archive)."""

from __future__ import annotations

import io

from flask import send_file, url_for

from webapp.api import actor, route, scoped_case
from webapp.api import openapi as oa
from webapp.api.parsing import reply
from webapp.api.serialize import iso_date, iso_time
from webapp.db import db_session
from webapp.security import OFFICER_ROLES
from workflows.domain.errors import Conflict, NotFound
from workflows.services import queries

try:  # the document archive (webapp/issuing.py renders into it)
    from workflows.services import archive
except ImportError:  # pragma: no cover - the archive is optional for the API
    archive = None


def document_out(d) -> dict:
    return {
        "id": d.id,
        "case_no": d.case.case_no if d.case is not None else None,
        "kind": d.kind,
        "title": d.title,
        "doc_no": d.doc_no,
        "status": d.status,
        "version": d.version,
        "supersedes_id": d.supersedes_id,
        "sha256": d.sha256,
        "verify_code": archive.display_code(d.verify_code),
        "issue_date": iso_date(d.issue_date),
        "issued_at": iso_time(d.issued_at),
        "pdf_size": d.pdf_size,
        "pdf_url": url_for("api.document_pdf", doc_id=d.id) if d.sha256 else None,
    }


@route(
    "/cases/<case_no>/documents",
    "GET",
    summary="办件的文书",
    tags=["documents"],
    errors=(404,),
    responses={"200": oa.json_response(oa.list_of("Document"), "文书（含已被替代的旧版本）")},
)
def case_documents(case_no: str):
    case = scoped_case(case_no)
    if archive is None:
        return reply({"items": []})
    return reply({"items": [document_out(d) for d in archive.documents_of_case(db_session(), case.id)]})


@route(
    "/documents/<int(max=2147483647):doc_id>/pdf",
    "GET",
    summary="下载文书 PDF（归档版本）",
    tags=["documents"],
    errors=(404, 409),
    responses={
        "200": {
            "description": "归档的 PDF（ETag 为其 sha256）",
            "content": {"application/pdf": {"schema": {"type": "string", "contentMediaType": "application/pdf"}}},
        }
    },
)
def document_pdf(doc_id: int):
    s = db_session()
    doc = s.get(archive.Document, doc_id) if archive is not None else None
    if doc is None or doc.case is None:  # an office document (季度调度通报): administrators download it on its page
        raise NotFound("文书不存在或您无权查看")
    try:
        queries.get_case(s, actor(), doc.case.case_no)
    except NotFound:
        raise NotFound("文书不存在或您无权查看") from None
    if doc.sha256 is None or doc.pdf is None:
        raise Conflict("文书正在生成，请稍后再试")
    pdf, sha, name = bytes(doc.pdf), doc.sha256, f"{doc.doc_no or doc.title}.pdf"
    resp = send_file(
        io.BytesIO(pdf),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=name,
        etag=sha,
        conditional=True,
        max_age=0,
    )
    resp.headers["X-Content-SHA256"] = sha
    return resp


@route(
    "/cases/<case_no>/case-file",
    "GET",
    summary="办件卷宗（PDF）",
    tags=["documents"],
    roles=OFFICER_ROLES,
    errors=(403, 404),
    description="办件的全部记录汇编为一个 A4 PDF：封面（办件编号、事项、申请人、单位、收件/受理/办结时间）、目录（含 PDF "
    "书签）、申请信息、每条办理意见与决定（适用规则及条款原文）、审计轨迹、已出具文书（附归档 PDF）、申请材料"
    "（按清单顺序附原文件：PDF 逐页合并，JPEG/PNG 每张一页）。每页页脚载明办件编号、页码、生成时间，以及本办件最新"
    "出具文书的核验码（如有）。卷宗是生成时刻的记录视图：不编文号、不归档，每次请求重新生成。仅限办件在其查看范围内的"
    "经办人员（申请人与系统管理员 403）。",
    responses={
        "200": oa.binary_response(
            "卷宗 PDF（附件，文件名 卷宗_<办件编号>.pdf；Cache-Control: no-store）", ("application/pdf",)
        )
    },
)
def case_file(case_no: str):
    from webapp.documents_web import case_file_response

    return case_file_response(actor(), case_no, as_attachment=True)
