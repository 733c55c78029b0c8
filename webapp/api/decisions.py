"""Decision tables (DMN): their versions, the XML of one, saving a draft, publishing or rolling back, comparing two
versions rule by rule (administrators). The same services as /admin/decisions (`workflows.services.decisions`)."""

from __future__ import annotations

from flask import current_app, g, request, url_for

from webapp.api import openapi as oa
from webapp.api import route
from webapp.api.errors import definition_refused
from webapp.api.parsing import body, only_fields, reply, str_field
from webapp.api.serialize import iso_time
from webapp.db import db_session
from workflows.domain.errors import DefinitionInvalid
from workflows.domain.models import DecisionDefinition
from workflows.infra.db import transaction
from workflows.services import decisions

oa.PATH_PARAMS.setdefault(
    "decision_id", ("决策编号", {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"})
)
oa.PATH_PARAMS.setdefault("version", ("版本号", {"type": "integer", "minimum": 1, "maximum": 2147483647}))
oa.SCHEMAS.update(
    {
        "DecisionVersion": {
            "type": "object",
            "required": ["decision_id", "version", "status", "sha256"],
            "properties": {
                "decision_id": {"type": "string"},
                "name": {"type": "string"},
                "version": {"type": "integer"},
                "status": {"type": "string", "enum": ["draft", "published", "retired"]},
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "created_at": {"type": ["string", "null"]},
                "created_by": {"type": ["string", "null"]},
                "xml_url": {"type": "string"},
            },
        },
        "DecisionTable": {
            "type": "object",
            "required": ["decision_id", "name", "processes"],
            "properties": {
                "decision_id": {"type": "string"},
                "name": {"type": "string"},
                "published_version": {"type": ["integer", "null"]},
                "draft_version": {"type": ["integer", "null"]},
                "processes": {"type": "array", "items": oa.ref("DecisionUse")},
            },
        },
        "DecisionUse": {
            "type": "object",
            "description": "调用该决策的流程：其发布版本，以及该版本使用的决策表版本",
            "properties": {
                "process_id": {"type": "string"},
                "version": {"type": "integer"},
                "table_version": {"type": ["integer", "null"]},
            },
        },
        "DecisionDraftRequest": {
            "type": "object",
            "required": ["dmn_xml"],
            "additionalProperties": False,
            "properties": {"dmn_xml": {"type": "string", "minLength": 1}},
        },
        "DecisionPublishRequest": {
            "type": "object",
            "required": ["note"],
            "additionalProperties": False,
            "properties": {"note": {"type": "string", "minLength": 1, "maxLength": 1000, "description": "发布说明"}},
        },
        "DecisionPublished": {
            "type": "object",
            "required": ["decision", "processes"],
            "properties": {
                "decision": oa.ref("DecisionVersion"),
                "processes": {
                    "type": "array",
                    "description": "各调用流程此后新办件使用的版本",
                    "items": {
                        "type": "object",
                        "properties": {"process_id": {"type": "string"}, "version": {"type": "integer"}},
                    },
                },
            },
        },
        "DecisionDiff": {
            "type": "object",
            "required": ["a", "b", "changes"],
            "properties": {
                "a": {"type": "integer"},
                "b": {"type": "integer"},
                "changes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "kind": {"type": "string", "description": "规则 / 输入列 / 输出列 / 决策表"},
                            "element_id": {"type": "string"},
                            "name": {"type": "string"},
                            "change": {"type": "string", "enum": ["added", "removed", "changed"]},
                            "fields": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "label": {"type": "string"},
                                        "old": {"type": "string"},
                                        "new": {"type": "string"},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    }
)


def version_out(row: DecisionDefinition) -> dict:
    return {
        "decision_id": row.decision_id,
        "name": row.name,
        "version": row.version,
        "status": row.status,
        "sha256": row.sha256,
        "created_at": iso_time(row.created_at),
        "created_by": row.created_by,
        "xml_url": url_for("api.decision_version_xml", decision_id=row.decision_id, version=row.version),
    }


@route(
    "/decisions",
    "GET",
    summary="决策表（DMN）及调用它们的流程",
    tags=["decisions"],
    roles=("admin",),
    responses={"200": oa.json_response(oa.list_of("DecisionTable"), "按决策编号排列")},
)
def list_decisions():
    items = [
        {
            "decision_id": t["decision_id"],
            "name": t["name"],
            "published_version": t["published"].version if t["published"] else None,
            "draft_version": t["draft"].version if t["draft"] else None,
            "processes": [
                {"process_id": p["process_id"], "version": p["version"], "table_version": p["table_version"]}
                for p in t["processes"]
            ],
        }
        for t in decisions.overview(db_session())
    ]
    return reply({"items": items})


@route(
    "/decisions/<decision_id>/versions",
    "GET",
    summary="决策表的各版本（新→旧）",
    tags=["decisions"],
    roles=("admin",),
    responses={"200": oa.json_response(oa.list_of("DecisionVersion"), "新→旧")},
)
def list_decision_versions(decision_id: str):
    return reply({"items": [version_out(r) for r in decisions.list_versions(db_session(), decision_id)]})


@route(
    "/decisions/<decision_id>/versions/<int(max=2147483647):version>/xml",
    "GET",
    summary="决策表某版本的 DMN XML",
    tags=["decisions"],
    roles=("admin",),
    responses={"200": {"description": "DMN 1.3 XML", "content": {"application/xml": {"schema": {"type": "string"}}}}},
)
def decision_version_xml(decision_id: str, version: int):
    row = decisions.get_version(db_session(), decision_id, version)
    return current_app.response_class(row.xml, mimetype="application/xml")


@route(
    "/decisions/<decision_id>/draft",
    "POST",
    summary="校验并保存决策表草稿",
    tags=["decisions"],
    roles=("admin",),
    body=oa.json_body(oa.ref("DecisionDraftRequest")),
    errors=(422,),
    description="校验（DMN 模式、SpiffWorkflow 解析、每个单元格按脚本规则编译、调用它的流程随之解析）不通过时返回 422，"
    "details.errors 逐条列出问题，element_id 是出错单元格（或规则、列）的编号。内容与已有版本相同时返回该版本（200）。",
    responses={
        "201": oa.json_response(oa.ref("DecisionVersion"), "已保存的草稿"),
        "200": oa.json_response(oa.ref("DecisionVersion"), "内容相同的已有版本"),
    },
)
def save_decision_draft(decision_id: str):
    data = body()
    only_fields(data, ("dmn_xml",))
    xml = str_field(data, "dmn_xml", required=True, max_len=decisions.MAX_DMN_BYTES)
    s = db_session()
    try:
        with transaction(s):
            row, changed = decisions.save_draft(s, decision_id, xml, g.api_user.username)
            out = version_out(row)
    except DefinitionInvalid as e:
        raise definition_refused(e, "决策表", "未保存") from e
    return reply(out, 201 if changed else 200)


@route(
    "/decisions/<decision_id>/versions/<int(max=2147483647):version>/publish",
    "POST",
    summary="发布决策表版本（草稿发布或回滚到已停用版本）",
    tags=["decisions"],
    roles=("admin",),
    body=oa.json_body(oa.ref("DecisionPublishRequest")),
    errors=(409, 422),
    description="调用该决策的每个流程随之发布一个使用此表的版本：新办件使用它，办理中的办件仍按原版本运行。",
    responses={"200": oa.json_response(oa.ref("DecisionPublished"), "已发布")},
)
def publish_decision_version(decision_id: str, version: int):
    data = body()
    only_fields(data, ("note",))
    note = str_field(data, "note", required=True, max_len=1000)
    s = db_session()
    try:
        with transaction(s):
            done = decisions.publish_version(s, decision_id, version, g.api_user.username, note)
            out = {
                "decision": version_out(done.row),
                "processes": [{"process_id": p, "version": v} for p, v in done.processes],
            }
    except DefinitionInvalid as e:
        raise definition_refused(e, "决策表", "未发布") from e
    return reply(out)


@route(
    "/decisions/<decision_id>/compare",
    "GET",
    summary="逐条规则比较决策表的两个版本",
    tags=["decisions"],
    roles=("admin",),
    parameters=[
        oa.query("a", "旧版本（默认次新版本）", {"type": "integer", "minimum": 1, "maximum": 2147483647}),
        oa.query("b", "新版本（默认最新版本）", {"type": "integer", "minimum": 1, "maximum": 2147483647}),
    ],
    responses={"200": oa.json_response(oa.ref("DecisionDiff"), "新增、删除、修改的规则、输入列、输出列")},
)
def compare_decision_versions(decision_id: str):
    s = db_session()
    rows = decisions.list_versions(s, decision_id)  # newest first
    a = int(request.args.get("a") or rows[min(1, len(rows) - 1)].version)
    b = int(request.args.get("b") or rows[0].version)
    diff = decisions.compare_versions(s, decision_id, a, b)
    return reply(
        {
            "a": diff.a,
            "b": diff.b,
            "changes": [
                {
                    "kind": c.kind,
                    "element_id": c.element_id,
                    "name": c.name,
                    "change": c.change,
                    "fields": [{"label": label, "old": old, "new": new} for label, old, new in c.fields],
                }
                for c in diff.changes
            ],
        }
    )
