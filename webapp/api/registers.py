"""The administrators' registers (R3, R10): the 科研失信 list and the 违诺 records with 信用修复 (admin only)."""

from __future__ import annotations

from flask import g, request

from webapp.api import openapi as oa
from webapp.api import route
from webapp.api.parsing import MAX_PER_PAGE, body, int_arg, only_fields, reply, str_field
from webapp.api.serialize import iso_date, iso_time
from webapp.db import db_session
from workflows.domain.clock import today_local
from workflows.domain.models import BreachRecord, CreditRecord
from workflows.infra.db import transaction
from workflows.services import registers

_DATE_OR_NULL = {"type": ["string", "null"], "format": "date"}
oa.PATH_PARAMS.setdefault("record_id", ("记录 ID", {"type": "integer", "minimum": 1, "maximum": 2147483647}))
oa.SCHEMAS.update(
    {
        "CreditRecord": {
            "type": "object",
            "required": ["id", "id_number", "name", "kind", "listed_on", "active"],
            "properties": {
                "id": {"type": "integer"},
                "id_number": {"type": "string"},
                "name": {"type": "string"},
                "kind": {"type": "string", "enum": list(registers.CREDIT_KINDS)},
                "kind_label": {"type": "string"},
                "listed_on": {"type": "string", "format": "date"},
                "until": _DATE_OR_NULL,
                "bar_ends_on": {**_DATE_OR_NULL, "description": "限制截止日（撤销职称为撤销之日起三年；null 为长期）"},
                "source_document": {"type": ["string", "null"]},
                "note": {"type": ["string", "null"]},
                "active": {"type": "boolean", "description": "今天是否限制申请（R10）"},
            },
        },
        "CreditRecordRequest": {
            "type": "object",
            "required": ["id_number", "name", "kind", "listed_on", "source_document"],
            "additionalProperties": False,
            "properties": {
                "id_number": {"type": "string", "pattern": "^[0-9]{17}[0-9Xx]$"},
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "kind": {"type": "string", "enum": list(registers.CREDIT_KINDS)},
                "listed_on": {"type": "string", "format": "date"},
                "until": _DATE_OR_NULL,
                "source_document": {"type": "string", "minLength": 1, "maxLength": 200},
                "note": {"type": "string", "maxLength": 200},
            },
        },
        "BreachRecord": {
            "type": "object",
            "required": ["id", "id_number", "at", "active"],
            "properties": {
                "id": {"type": "integer"},
                "id_number": {"type": "string"},
                "case_id": {"type": ["integer", "null"]},
                "at": {"type": "string", "format": "date-time"},
                "note": {"type": ["string", "null"]},
                "expires_on": _DATE_OR_NULL,
                "lifted_on": _DATE_OR_NULL,
                "lifted_by": {"type": ["string", "null"]},
                "lift_reason": {"type": ["string", "null"]},
                "active": {"type": "boolean", "description": "今天是否限制容缺受理（R3）"},
            },
        },
        "BreachLiftRequest": {
            "type": "object",
            "required": ["reason"],
            "additionalProperties": False,
            "properties": {
                "lifted_on": {"type": "string", "format": "date", "description": "修复日期（默认今天，不能晚于今天）"},
                "reason": {"type": "string", "minLength": 1, "maxLength": 200},
            },
        },
    }
)
_SEARCH = [oa.query("q", "检索：姓名、身份证号、依据文件", {"type": "string", "maxLength": 50}), *oa.PAGE_PARAMS]


def credit_out(r: CreditRecord) -> dict:
    end = registers.credit_bar_end(r)
    return {
        "id": r.id,
        "id_number": r.id_number,
        "name": r.name,
        "kind": r.kind,
        "kind_label": registers.CREDIT_KINDS.get(r.kind, r.kind),
        "listed_on": r.listed_on.isoformat(),
        "until": iso_date(r.until),
        "bar_ends_on": iso_date(end),
        "source_document": r.source_document,
        "note": r.note,
        "active": registers.credit_active(r, today_local()),
    }


def breach_out(r: BreachRecord) -> dict:
    return {
        "id": r.id,
        "id_number": r.id_number,
        "case_id": r.case_id,
        "at": iso_time(r.at),
        "note": r.note,
        "expires_on": iso_date(r.expires_on),
        "lifted_on": iso_date(r.lifted_on),
        "lifted_by": r.lifted_by,
        "lift_reason": r.lift_reason,
        "active": registers.breach_active(r, today_local()),
    }


def _page(page, out) -> dict:
    return {"items": [out(r) for r in page.items], "total": page.total, "page": page.page, "per_page": page.per_page}


def _q() -> str:
    return (request.args.get("q") or "")[:50]  # NUL bytes are refused before (webapp/input_guard.py)


@route(
    "/registers/credit",
    "GET",
    summary="科研失信名单与撤销职称记录（R10）",
    tags=["registers"],
    roles=("admin",),
    parameters=_SEARCH,
    errors=(400,),
    responses={"200": oa.json_response(oa.page_of("CreditRecord"), "记录（按列入日期倒序）")},
)
def list_credit():
    page = registers.list_credit(
        db_session(), _q(), int_arg("page", 1), int_arg("per_page", registers.PER_PAGE, 1, MAX_PER_PAGE)
    )
    return reply(_page(page, credit_out))


@route(
    "/registers/credit",
    "POST",
    summary="登记一条失信或撤销职称记录（R10）",
    tags=["registers"],
    roles=("admin",),
    body=oa.json_body(oa.ref("CreditRecordRequest")),
    errors=(409, 422),
    responses={"201": oa.json_response(oa.ref("CreditRecord"), "已登记的记录")},
)
def add_credit():
    data = body()
    only_fields(data, ("id_number", "name", "kind", "listed_on", "until", "source_document", "note"))
    fields = {k: str_field(data, k, max_len=200) if data.get(k) is not None else None for k in data}
    s = db_session()
    with transaction(s):
        rec = registers.add_credit(s, fields, g.api_user.username)
    return reply(credit_out(rec), 201)


@route(
    "/registers/breach",
    "GET",
    summary="违诺记录（R3）",
    tags=["registers"],
    roles=("admin",),
    parameters=_SEARCH,
    errors=(400,),
    responses={"200": oa.json_response(oa.page_of("BreachRecord"), "记录（按违诺时间倒序）")},
)
def list_breach():
    page = registers.list_breach(
        db_session(), _q(), int_arg("page", 1), int_arg("per_page", registers.PER_PAGE, 1, MAX_PER_PAGE)
    )
    return reply(_page(page, breach_out))


@route(
    "/registers/breach/<int:record_id>/lift",
    "POST",
    summary="信用修复：解除一条违诺记录的限制（R3）",
    tags=["registers"],
    roles=("admin",),
    body=oa.json_body(oa.ref("BreachLiftRequest")),
    errors=(404, 409, 422),
    responses={"200": oa.json_response(oa.ref("BreachRecord"), "修复后的记录")},
)
def lift_breach(record_id: int):
    data = body()
    only_fields(data, ("lifted_on", "reason"))
    reason = str_field(data, "reason", required=True, max_len=200)
    lifted_on = str_field(data, "lifted_on", max_len=10) or today_local().isoformat()
    s = db_session()
    with transaction(s):
        rec = registers.lift_breach(s, record_id, lifted_on, reason, g.api_user.username)
    return reply(breach_out(rec))
