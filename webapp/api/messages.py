"""Messages to a running case: 公示期异议 (R7, idempotent by a required key) and 特设岗位核销 (R8); after 核销, the
holder's move to a regular post (R8)."""

from __future__ import annotations

from flask import g
from sqlalchemy import select

from webapp.api import actor, route, scoped_case
from webapp.api import openapi as oa
from webapp.api.errors import field_error
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
    only_fields(data, ("reason", "regular_post_vacancy"))
    reason = str_field(data, "reason", required=True, max_len=32)
    vacancy = data.get("regular_post_vacancy", False)
    if not isinstance(vacancy, bool):
        raise field_error("regular_post_vacancy", "类型不正确（须为 true 或 false）")
    key = idempotency_key(required=False)
    case = case_svc.request_writeoff(
        db_session(), case_no, reason, scoped_key("writeoff", case_no, key or ""), actor(), regular_post_vacancy=vacancy
    )
    return reply(committed_case(case))


@route(
    "/cases/<case_no>/regular-post",
    "POST",
    summary="登记特设岗位人员转聘正常岗位（R8）",
    tags=["cases"],
    roles=("unit_hr", "hrss", "admin"),
    body=oa.json_body(oa.ref("RegularPostRequest")),
    errors=(404, 409, 422),
    description="核销时本单位无相应等级空缺岗位、转聘待定的，出现空缺后登记转聘日期（不早于核销日期，不晚于今天）。",
    responses=CASE_OK,
)
def regular_post(case_no: str):
    scoped_case(case_no)
    data = body()
    only_fields(data, ("regular_post_on", "note"))
    on = str_field(data, "regular_post_on", required=True, max_len=10)
    note = str_field(data, "note", max_len=200)
    s = db_session()
    case_svc.record_regular_post(s, case_no, actor(), on, note)
    return reply(committed_case(scoped_case(case_no)))
