"""Incidents (administrators): the open ones, one with the case's position and data, and the repairs — set a case
variable, retry, skip, cancel (workflows/services/incident_actions.py: one transaction each, in the case's audit
chain). A repair that fails again answers 422 `engine_incident` with the new message (a new incident is open)."""

from __future__ import annotations

import json

from flask import g

from webapp.api import openapi as oa
from webapp.api import route
from webapp.api.parsing import body, only_fields, reply, str_field
from webapp.api.serialize import iso_time
from webapp.db import db_session
from workflows.domain.errors import ValidationFailed
from workflows.domain.models import CaseIncident
from workflows.services import incident_actions as actions
from workflows.services import incidents as incidents_svc

_STR_OR_NULL = {"type": ["string", "null"]}
_REASON = {"type": "string", "maxLength": actions.MAX_REASON}
oa.PATH_PARAMS.setdefault("incident_id", ("异常记录 ID", {"type": "integer", "minimum": 1, "maximum": 2147483647}))
oa.SCHEMAS.update(
    {
        "Incident": {
            "type": "object",
            "required": ["id", "case_no", "message", "source", "created_at"],
            "properties": {
                "id": {"type": "integer"},
                "case_no": {"type": "string"},
                "case_status": {"type": "string"},
                "element_id": _STR_OR_NULL,
                "element_name": _STR_OR_NULL,
                "message": {"type": "string"},
                "source": {"type": "string", "description": "timer（定时器扫描）或 action（办理操作）"},
                "created_at": {"type": "string", "format": "date-time"},
                "resolved_at": {"type": ["string", "null"], "format": "date-time"},
                "resolved_by": _STR_OR_NULL,
                "resolution": {
                    "type": ["string", "null"],
                    "description": "retry 重试、skip 跳过、cancel 终止办理、superseded 再次出错（见新记录）",
                },
                "resolution_reason": _STR_OR_NULL,
            },
        },
        "IncidentDetail": {
            "allOf": [
                {"$ref": "#/components/schemas/Incident"},
                {
                    "type": "object",
                    "properties": {
                        "relevant": {"type": "object", "description": "出错环节读取的办件变量"},
                        "variables": {"type": "object", "description": "办件当前的全部变量"},
                        "waiting": {"type": "array", "items": {"type": "string"}, "description": "等待中的环节"},
                        "done": {"type": "array", "items": {"type": "string"}, "description": "已完成的环节"},
                        "can_skip": {"type": "boolean"},
                        "case_version": {"type": ["integer", "null"]},
                        "published_version": {"type": ["integer", "null"]},
                        "load_error": _STR_OR_NULL,
                    },
                },
            ]
        },
        "IncidentRetryRequest": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "use_published": {
                    "type": "boolean",
                    "default": False,
                    "description": "改用流程的当前发布版本继续（已到达的环节须在该版本中存在且类型相同）",
                },
                "reason": _REASON,
            },
        },
        "IncidentReasonRequest": {
            "type": "object",
            "required": ["reason"],
            "additionalProperties": False,
            "properties": {"reason": {**_REASON, "minLength": 1}},
        },
        "IncidentVariableRequest": {
            "type": "object",
            "required": ["name", "value"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]{0,63}$"},
                "value": {"description": "新值（任意 JSON）"},
                "reason": _REASON,
            },
        },
    }
)


def incident_out(i: CaseIncident) -> dict:
    return {
        "id": i.id,
        "case_no": i.case.case_no,
        "case_status": i.case.status,
        "element_id": i.element_id,
        "element_name": i.element_name,
        "message": i.message,
        "source": i.source,
        "created_at": iso_time(i.created_at),
        "resolved_at": iso_time(i.resolved_at),
        "resolved_by": i.resolved_by,
        "resolution": i.resolution,
        "resolution_reason": i.resolution_reason,
    }


def _jsonable(value):
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


@route(
    "/incidents",
    "GET",
    summary="未处理的异常办件",
    tags=["incidents"],
    roles=("admin",),
    responses={"200": oa.json_response(oa.list_of("Incident"), "未处理的异常（最新在前）")},
)
def list_incidents():
    return reply({"items": [incident_out(i) for i in incidents_svc.open_incidents(db_session())]})


@route(
    "/incidents/<int:incident_id>",
    "GET",
    summary="一条异常：出错环节、信息、时间，办件位置与相关数据",
    tags=["incidents"],
    roles=("admin",),
    errors=(404,),
    responses={"200": oa.json_response(oa.ref("IncidentDetail"), "异常记录")},
)
def get_incident(incident_id: int):
    return _detail(incident_id)


def _detail(incident_id: int):
    s = db_session()
    v = actions.view(s, incident_id, g.api_actor)
    return reply(
        {
            **incident_out(v.incident),
            "relevant": _jsonable(v.relevant),
            "variables": _jsonable(v.variables),
            "waiting": sorted(v.waiting),
            "done": sorted(v.done),
            "can_skip": v.can_skip,
            "case_version": v.case_version,
            "published_version": v.published_version,
            "load_error": v.load_error,
        }
    )


def _with_reason(incident_id: int, act):
    """A repair whose body is its reason alone (skip, cancel)."""
    data = body()
    only_fields(data, ("reason",))
    act(db_session(), incident_id, g.api_actor, str_field(data, "reason", max_len=actions.MAX_REASON))
    return _resolved(incident_id)


def _resolved(incident_id: int):
    s = db_session()
    s.expire_all()
    return reply(incident_out(actions.get_incident(s, incident_id)))


@route(
    "/incidents/<int:incident_id>/retry",
    "POST",
    summary="重试：从办件当前位置重新执行（可改用当前发布版本）",
    tags=["incidents"],
    roles=("admin",),
    body=oa.json_body(oa.ref("IncidentRetryRequest"), required=False),
    errors=(404, 409, 422),
    description="再次出错时返回 422（engine_incident），办件仍暂停，并记录新的异常。",
    responses={"200": oa.json_response(oa.ref("Incident"), "已处理的异常")},
)
def retry_incident(incident_id: int):
    data = body()
    only_fields(data, ("use_published", "reason"))
    use_published = data.get("use_published", False)
    if not isinstance(use_published, bool):
        raise ValidationFailed("use_published 须为布尔值")
    reason = str_field(data, "reason", max_len=actions.MAX_REASON)
    actions.retry(db_session(), incident_id, g.api_actor, use_published=use_published, reason=reason)
    return _resolved(incident_id)


@route(
    "/incidents/<int:incident_id>/skip",
    "POST",
    summary="跳过出错环节（定时器视为到期，脚本或服务环节视为完成），须填写原因",
    tags=["incidents"],
    roles=("admin",),
    body=oa.json_body(oa.ref("IncidentReasonRequest")),
    errors=(404, 409, 422),
    responses={"200": oa.json_response(oa.ref("Incident"), "已处理的异常")},
)
def skip_incident(incident_id: int):
    return _with_reason(incident_id, actions.skip)


@route(
    "/incidents/<int:incident_id>/cancel",
    "POST",
    summary="终止办理出错的办件，须填写原因",
    tags=["incidents"],
    roles=("admin",),
    body=oa.json_body(oa.ref("IncidentReasonRequest")),
    errors=(404, 409, 422),
    responses={"200": oa.json_response(oa.ref("Incident"), "已处理的异常")},
)
def cancel_incident(incident_id: int):
    return _with_reason(incident_id, actions.cancel)


@route(
    "/incidents/<int:incident_id>/variables",
    "POST",
    summary="修复数据：修改办件的一个变量（JSON 值，修改前后记入审计）",
    tags=["incidents"],
    roles=("admin",),
    body=oa.json_body(oa.ref("IncidentVariableRequest")),
    errors=(404, 409, 422),
    description="等待中的定时器按新值重新计算；办件仍暂停，须再重试。",
    responses={"200": oa.json_response(oa.ref("IncidentDetail"), "修改后的异常记录与办件数据")},
)
def set_incident_variable(incident_id: int):
    data = body()
    only_fields(data, ("name", "value", "reason"))
    if "value" not in data:
        raise ValidationFailed("请提供变量的新值 value")
    name = str_field(data, "name", required=True, max_len=64)
    actions.check_value(data["value"])
    reason = str_field(data, "reason", max_len=actions.MAX_REASON)
    actions.set_variable(db_session(), incident_id, g.api_actor, name, data["value"], reason)
    db_session().expire_all()
    return _detail(incident_id)
