"""The administrators' registers: the 科研失信 list (R10) and the 违诺 records with 信用修复 (R3), admin only; each
unit's posts and 编制 (R8, R4: read by 编办 and 人社 too, 编制 adjusted by 编办); R9's achievements (read by everyone
signed in: the start form's choices)."""

from __future__ import annotations

from flask import g, request

from webapp.api import openapi as oa
from webapp.api import route
from webapp.api.parsing import body, only_fields, page_args, reply, str_field
from webapp.api.serialize import iso_date, iso_time, page_out
from webapp.db import db_session
from workflows.domain.clock import today_local
from workflows.domain.models import BreachRecord, CreditRecord
from workflows.infra.db import transaction
from workflows.services import achievements, posts, registers

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
    page = registers.list_credit(db_session(), _q(), **page_args(registers.PER_PAGE))
    return reply(page_out(page, credit_out))


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
    page = registers.list_breach(db_session(), _q(), **page_args(registers.PER_PAGE))
    return reply(page_out(page, breach_out))


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


# -- each unit's posts and 编制 (R8, R4) -------------------------------------------------------------------------------
_COUNT = {"type": "integer", "minimum": 0, "maximum": posts.MAX_COUNT}
_BASIS = {"type": "string", "minLength": 1, "maxLength": 200, "description": "调整依据（文号或说明）"}
oa.SCHEMAS.update(
    {
        "UnitPost": {
            "type": "object",
            "required": ["id", "unit_code", "post_type", "level", "approved", "filled", "vacant"],
            "properties": {
                "id": {"type": "integer"},
                "unit_code": {"type": "string"},
                "post_type": {"type": "string", "enum": list(posts.POST_TYPES)},
                "post_type_label": {"type": "string"},
                "level": {"type": "string", "description": "岗位等级，如 专业技术七级"},
                "approved": {"type": "integer", "description": "核定"},
                "filled": {"type": "integer", "description": "实有"},
                "vacant": {"type": "integer", "description": "空缺 = 核定 − 实有（负数为超岗）"},
                "source_document": {"type": ["string", "null"]},
            },
        },
        "Establishment": {
            "type": "object",
            "required": ["approved", "filled", "reserved", "vacant"],
            "properties": {
                "approved": {"type": "integer", "description": "编制核定数"},
                "filled": {"type": "integer", "description": "编制实有数"},
                "reserved": {"type": "integer", "description": "列编办件预留数（R4）"},
                "vacant": {"type": "integer", "description": "空编 = 核定 − 实有 − 预留"},
            },
        },
        "UnitPosts": {
            "type": "object",
            "required": ["unit_code", "unit_name", "posts"],
            "properties": {
                "unit_code": {"type": "string"},
                "unit_name": {"type": "string"},
                "establishment": {"oneOf": [oa.ref("Establishment"), {"type": "null"}]},
                "posts": {"type": "array", "items": oa.ref("UnitPost")},
            },
        },
        "UnitPostRequest": {
            "type": "object",
            "required": ["unit_code", "level", "approved", "filled", "basis"],
            "additionalProperties": False,
            "properties": {
                "unit_code": {"type": "string", "minLength": 1, "maxLength": 32},
                "post_type": {"type": "string", "maxLength": 16},
                "level": {"type": "string", "minLength": 1, "maxLength": 32},
                "approved": _COUNT,
                "filled": _COUNT,
                "basis": _BASIS,
            },
        },
        "EstablishmentRequest": {
            "type": "object",
            "required": ["unit_code", "approved", "filled", "basis"],
            "additionalProperties": False,
            "properties": {
                "unit_code": {"type": "string", "minLength": 1, "maxLength": 32},
                "approved": _COUNT,
                "filled": _COUNT,
                "basis": _BASIS,
            },
        },
    }
)


def post_out(p) -> dict:
    return {
        "id": p.id,
        "unit_code": p.unit_code,
        "post_type": p.post_type,
        "post_type_label": posts.POST_TYPES.get(p.post_type, p.post_type),
        "level": p.level,
        "approved": p.approved,
        "filled": p.filled,
        "vacant": posts.vacancy(p),
        "source_document": p.source_document,
    }


def _establishment_out(e) -> dict | None:
    if e is None:
        return None
    return {"approved": e.approved, "filled": e.filled, "reserved": e.reserved, "vacant": e.vacant}


@route(
    "/registers/posts",
    "GET",
    summary="各单位岗位（按等级）与编制台账：核定、实有、空缺（R8、R4）",
    tags=["registers"],
    roles=("admin", "bianban", "hrss"),
    parameters=[oa.query("unit", "单位代码（不填为全部事业单位）", {"type": "string", "maxLength": 32})],
    errors=(400,),
    responses={"200": oa.json_response(oa.list_of("UnitPosts"), "各单位的编制与岗位")},
)
def list_posts():
    unit = (request.args.get("unit") or "").strip()
    views = posts.units_view(db_session(), unit or None)
    return reply(
        {
            "items": [
                {
                    "unit_code": v.unit.code,
                    "unit_name": v.unit.name,
                    "establishment": _establishment_out(v.establishment),
                    "posts": [post_out(p) for p in v.posts],
                }
                for v in views
            ]
        }
    )


@route(
    "/registers/posts",
    "POST",
    summary="登记或调整单位某一等级的岗位核定数、实有数（记录依据与调整前后数值）",
    tags=["registers"],
    roles=("admin",),
    body=oa.json_body(oa.ref("UnitPostRequest")),
    errors=(422,),
    responses={"200": oa.json_response(oa.ref("UnitPost"), "调整后的岗位记录")},
)
def set_post():
    data = body()
    only_fields(data, ("unit_code", "post_type", "level", "approved", "filled", "basis"))
    s = db_session()
    with transaction(s):
        p = posts.set_post(
            s,
            str_field(data, "unit_code", required=True, max_len=32),
            str_field(data, "post_type", max_len=16),
            str_field(data, "level", required=True, max_len=32),
            data.get("approved"),
            data.get("filled"),
            str_field(data, "basis", required=True, max_len=200),
            g.api_user.username,
        )
    return reply(post_out(p))


@route(
    "/registers/establishment",
    "POST",
    summary="调整单位编制核定数、实有数（编办、系统管理员；不得少于实有与列编预留之和）",
    tags=["registers"],
    roles=("admin", "bianban"),
    body=oa.json_body(oa.ref("EstablishmentRequest")),
    errors=(422,),
    responses={"200": oa.json_response(oa.ref("Establishment"), "调整后的编制")},
)
def set_establishment():
    data = body()
    only_fields(data, ("unit_code", "approved", "filled", "basis"))
    s = db_session()
    with transaction(s):
        pool = posts.set_establishment(
            s,
            str_field(data, "unit_code", required=True, max_len=32),
            data.get("approved"),
            data.get("filled"),
            str_field(data, "basis", required=True, max_len=200),
            g.api_user.username,
            g.api_user.role,
        )
    return reply(_establishment_out(posts.Establishment(pool.total, pool.used, pool.reserved)))


# -- R9's major achievements and awards --------------------------------------------------------------------------------
oa.SCHEMAS.update(
    {
        "Achievement": {
            "type": "object",
            "required": ["id", "code", "name", "category", "active_from", "active"],
            "properties": {
                "id": {"type": "integer"},
                "code": {"type": "string", "description": "申请表 achievement 字段填写的代码"},
                "name": {"type": "string"},
                "category": {"type": "string", "enum": list(achievements.CATEGORIES)},
                "category_label": {"type": "string"},
                "level": {"type": "string"},
                "source_document": {"type": "string"},
                "active_from": {"type": "string", "format": "date"},
                "active_to": _DATE_OR_NULL,
                "active": {"type": "boolean", "description": "今天是否可选（R9）"},
            },
        },
        "AchievementRequest": {
            "type": "object",
            "required": ["name", "category", "source_document", "active_from"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,48}$"},
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "category": {"type": "string", "enum": list(achievements.CATEGORIES)},
                "level": {"type": "string", "maxLength": 32},
                "source_document": {"type": "string", "minLength": 1, "maxLength": 200},
                "active_from": {"type": "string", "format": "date"},
                "active_to": _DATE_OR_NULL,
            },
        },
        "AchievementEndRequest": {
            "type": "object",
            "required": ["basis"],
            "additionalProperties": False,
            "properties": {"active_to": {**_DATE_OR_NULL, "description": "最后有效日（null 为长期）"}, "basis": _BASIS},
        },
    }
)


def achievement_out(r) -> dict:
    return {
        "id": r.id,
        "code": r.code,
        "name": r.name,
        "category": r.category,
        "category_label": achievements.CATEGORIES.get(r.category, r.category),
        "level": r.level,
        "source_document": r.source_document,
        "active_from": r.active_from.isoformat(),
        "active_to": iso_date(r.active_to),
        "active": achievements.active(r, today_local()),
    }


@route(
    "/registers/achievements",
    "GET",
    summary="重大成果和奖项目录（职称绿色通道 R9）：申请表 achievement 可选当日有效的条目",
    tags=["registers"],
    parameters=[oa.query("q", "检索：名称、代码、依据文件", {"type": "string", "maxLength": 50}), *oa.PAGE_PARAMS],
    errors=(400,),
    responses={"200": oa.json_response(oa.page_of("Achievement"), "目录条目（按列入先后）")},
)
def list_achievements():
    page = achievements.list_entries(db_session(), _q(), **page_args(registers.PER_PAGE))
    return reply(page_out(page, achievement_out))


@route(
    "/registers/achievements",
    "POST",
    summary="列入一个重大成果或奖项（R9）",
    tags=["registers"],
    roles=("admin",),
    body=oa.json_body(oa.ref("AchievementRequest")),
    errors=(409, 422),
    responses={"201": oa.json_response(oa.ref("Achievement"), "已列入的条目")},
)
def add_achievement():
    data = body()
    allowed = ("code", "name", "category", "level", "source_document", "active_from", "active_to")
    only_fields(data, allowed)
    fields = {k: str_field(data, k, max_len=200) if data.get(k) is not None else None for k in data}
    s = db_session()
    with transaction(s):
        rec = achievements.add(s, fields, g.api_user.username)
    return reply(achievement_out(rec), 201)


@route(
    "/registers/achievements/<int:record_id>/end",
    "POST",
    summary="调整目录条目的截止日期（停止适用或延长；记录依据）",
    tags=["registers"],
    roles=("admin",),
    body=oa.json_body(oa.ref("AchievementEndRequest")),
    errors=(404, 422),
    responses={"200": oa.json_response(oa.ref("Achievement"), "调整后的条目")},
)
def end_achievement(record_id: int):
    data = body()
    only_fields(data, ("active_to", "basis"))
    active_to = str_field(data, "active_to", max_len=10) if data.get("active_to") is not None else None
    s = db_session()
    with transaction(s):
        rec = achievements.set_end(
            s, record_id, active_to, str_field(data, "basis", required=True, max_len=200), g.api_user.username
        )
    return reply(achievement_out(rec))
