"""Drafts: an application being prepared, and the material files uploaded to it. A case started from a draft
(POST /cases with draft_id) counts as received exactly the materials that have a file here."""

from __future__ import annotations

from webapp import uploads
from webapp.api import actor, route
from webapp.api import openapi as oa
from webapp.api.errors import field_error
from webapp.api.materials import checked_upload
from webapp.api.parsing import body, only_fields, reply, str_field
from webapp.api.serialize import iso_time
from webapp.db import db_session
from workflows.domain import procedures
from workflows.domain.errors import NotFound
from workflows.domain.models import Draft
from workflows.services import handling

DRAFT_OK = {"200": oa.json_response(oa.ref("Draft"), "草稿（申请表数据和已上传的材料文件）")}


def draft_out(d: Draft) -> dict:
    return {
        "id": d.id,
        "procedure": d.procedure,
        "data": handling.draft_fields(d),
        "files": {
            c: {"file_name": f.get("file_name") or "", "sha256": f["sha256"]}
            for c, f in handling.draft_files(d).items()
        },
        "updated_at": iso_time(d.updated_at),
    }


def own_draft(draft_id: int) -> Draft:
    draft = next((d for d in handling.drafts_of(db_session(), actor()) if d.id == draft_id), None)
    if draft is None:
        raise NotFound("草稿不存在")
    return draft


@route(
    "/drafts",
    "POST",
    summary="新建申请草稿",
    tags=["drafts"],
    roles=("applicant", "unit_hr", "admin"),
    body=oa.json_body(oa.ref("DraftRequest")),
    errors=(422,),
    description="先建草稿，再把每项材料的文件上传到草稿（POST /drafts/{draft_id}/materials/{code}），"
    "最后以 POST /cases 的 draft_id 提交：只有上传了文件的材料才计为已收到。",
    responses={"201": oa.json_response(oa.ref("Draft"), "新建的草稿")},
)
def create_draft():
    data = body()
    only_fields(data, ("procedure", "data"))
    procedure = str_field(data, "procedure", required=True, max_len=64)
    if procedure not in procedures.PROCEDURES:
        raise field_error("procedure", "没有此事项")
    form = data.get("data", {})
    if not isinstance(form, dict):
        raise field_error("data", "须为 JSON 对象（申请表）")
    draft = handling.save_draft(db_session(), actor(), procedure, form)
    return reply(draft_out(draft), 201)


@route(
    "/drafts/<int:draft_id>",
    "GET",
    summary="草稿",
    tags=["drafts"],
    roles=("applicant", "unit_hr", "admin"),
    errors=(404,),
    responses=DRAFT_OK,
)
def get_draft(draft_id: int):
    return reply(draft_out(own_draft(draft_id)))


@route(
    "/drafts/<int:draft_id>/materials/<code>",
    "POST",
    summary="上传草稿的材料文件",
    tags=["drafts"],
    roles=("applicant", "unit_hr", "admin"),
    body=oa.FILE_UPLOAD,
    errors=(404, 413, 415, 422),
    description="字段 file：PDF、JPEG 或 PNG（按文件头判断），不超过 10 MB；同一材料再次上传则替换。",
    responses=DRAFT_OK,
)
def upload_draft_material(draft_id: int, code: str):
    draft = own_draft(draft_id)
    if procedures.get(draft.procedure).material(code) is None:
        raise NotFound(f"材料清单中没有此项：{code}")
    checked = checked_upload()
    uploads.store(checked)
    files = {**handling.draft_files(draft), code: {"sha256": checked.sha256, "file_name": checked.display_name}}
    s = db_session()
    saved = handling.save_draft(s, actor(), draft.procedure, handling.draft_fields(draft), draft.id, files=files)
    return reply(draft_out(saved))
