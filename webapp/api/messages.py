"""Messages to a running case: 公示期异议 (R7, idempotent by a required key) and 特设岗位核销 (R8)."""

from __future__ import annotations

from flask import g
from sqlalchemy import select

from webapp.api import actor, route, scoped_case
from webapp.api import openapi as oa
from webapp.api.openapi import CASE_OK
from webapp.api.parsing import body, idempotency_key, only_fields, reply, scoped_key, str_field
from webapp.api.serialize import committed_case
from webapp.db import db_session
from webapp.security import OFFICER_ROLES
from workflows.domain.models import InboundMessage
from workflows.services import cases as case_svc


@route(
    "/cases/<case_no>/objections",
    "POST",
    summary="登记公示期异议（R7）",
    tags=["cases"],
    roles=OFFICER_ROLES + ("admin",),
    body=oa.json_body(oa.ref("ObjectionRequest")),
    parameters=[oa.IDEMPOTENCY_KEY],
    errors=(404, 409, 422),
    description="须带 Idempotency-Key 请求头：同一键重复提交只登记一次（第二次直接返回办件，"
    "响应头 Idempotent-Replayed: true）。",
    responses=CASE_OK,
)
def record_objection(case_no: str):
    scoped_case(case_no)
    data = body()
    only_fields(data, ("text", "by"))
    key = idempotency_key(required=True)
    text = str_field(data, "text", required=True, max_len=2000)
    by = str_field(data, "by", max_len=100).strip() or g.api_user.username
    stored = scoped_key("objection", case_no, key)
    s = db_session()
    replayed = s.scalar(select(InboundMessage.id).where(InboundMessage.idempotency_key == stored)) is not None
    case = case_svc.record_objection(s, case_no, text, by, stored, actor())
    return reply(committed_case(case), headers={"Idempotent-Replayed": "true" if replayed else "false"})


@route(
    "/cases/<case_no>/writeoff",
    "POST",
    summary="特设岗位提前核销（R8）",
    tags=["cases"],
    roles=("unit_hr", "hrss", "admin"),
    body=oa.json_body(oa.ref("WriteoffRequest")),
    parameters=[oa.IDEMPOTENCY_KEY_OPTIONAL],
    errors=(404, 409, 422),
    description="不带 Idempotency-Key 时，同一办件的核销只生效一次。",
    responses=CASE_OK,
)
def writeoff(case_no: str):
    scoped_case(case_no)
    data = body()
    only_fields(data, ("reason",))
    reason = str_field(data, "reason", required=True, max_len=32)
    key = idempotency_key(required=False)
    case = case_svc.request_writeoff(db_session(), case_no, reason, scoped_key("writeoff", case_no, key or ""), actor())
    return reply(committed_case(case))
