"""The OpenAPI 3.1 document of the JSON API (/api/v1), built alongside the routes.

Every route of the `webapp.api` package is declared with `webapp.api.route(...)`, which registers the Flask view
*and* its operation here (summary, request body, responses); :func:`document` assembles the paths from that registry,
so a route cannot exist without being documented (a test compares the document with `app.url_map`). Served at
GET /api/v1/openapi.json.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from workflows.domain import outcomes
from workflows.domain.procedures import PROCEDURES, WRITEOFF_REASONS

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"

# (OpenAPI path, method) → operation object (without the generated parts: path parameters, error responses).
_OPERATIONS: dict[tuple[str, str], dict] = {}

_RULE_PARAM = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")

PATH_PARAMS = {
    "case_no": ("办件编号", {"type": "string", "maxLength": 32, "examples": ["150000L260302000001"]}),
    "task_id": ("环节实例 ID（UUID）", {"type": "string", "maxLength": 36}),
    "code": ("材料代码（见办件的 materials[].code）", {"type": "string", "maxLength": 48}),
    "doc_id": ("文书 ID", {"type": "integer", "minimum": 1, "maximum": 2147483647}),
    "def_id": ("流程定义版本 ID", {"type": "integer", "minimum": 1, "maximum": 2147483647}),
    "token_id": ("令牌 ID", {"type": "integer", "minimum": 1, "maximum": 2147483647}),
    "draft_id": ("草稿 ID", {"type": "integer", "minimum": 1, "maximum": 2147483647}),
}

ERROR_RESPONSES = {
    400: ("BadRequest", "请求无效：请求体不是有效的 JSON、缺少必需的请求头，或会话请求未携带有效的 X-CSRFToken"),
    401: ("Unauthorized", "未认证：缺少或无效的 API 令牌，且没有登录会话"),
    403: ("Forbidden", "无权操作：角色或单位范围不符"),
    404: ("NotFound", "不存在或不在您的查看范围内"),
    409: ("Conflict", "冲突：办件已被他人更新（details.current_version）或当前状态不允许该操作"),
    413: ("TooLarge", "上传的文件或请求体过大"),
    415: ("UnsupportedMediaType", "文件类型不支持（只接受 PDF、JPEG、PNG，按文件头判断）"),
    422: ("ValidationFailed", "提交的内容有误（details.fields 按字段列出问题；流程定义校验见 details.errors）"),
    500: ("InternalError", "系统内部错误"),
}


def flask_rule_to_path(rule: str) -> str:
    """/api/v1/cases/<case_no> → /api/v1/cases/{case_no}"""
    return _RULE_PARAM.sub(lambda m: "{" + m.group("name") + "}", rule)


def rule_params(rule: str) -> list[str]:
    """The names of a Flask rule's variable parts."""
    return [m.group("name") for m in _RULE_PARAM.finditer(rule)]


def register(rule: str, method: str, operation: dict) -> None:
    key = (flask_rule_to_path(rule), method.lower())
    if key in _OPERATIONS:
        raise RuntimeError(f"operation declared twice: {key}")
    op = dict(operation)
    params = []
    for m in _RULE_PARAM.finditer(rule):
        name = m.group("name")
        desc, schema = PATH_PARAMS.get(name, (name, {"type": "integer" if m.group("conv") == "int" else "string"}))
        params.append({"name": name, "in": "path", "required": True, "description": desc, "schema": schema})
    op["parameters"] = params + list(op.get("parameters") or [])
    if not op["parameters"]:
        del op["parameters"]
    _OPERATIONS[key] = op


def operation(
    *,
    operation_id: str,
    summary: str,
    tags: Iterable[str],
    responses: dict,
    errors: Iterable[int] = (),
    body: dict | None = None,
    parameters: Iterable[dict] = (),
    public: bool = False,
    description: str = "",
    roles: Iterable[str] = (),
) -> dict:
    """An operation object: success `responses` as given, then the error responses it can give."""
    desc = description
    roles = tuple(roles)
    if roles:
        desc = (desc + "\n\n" if desc else "") + "角色：" + "、".join(roles) + "。"
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": list(tags)}
    if desc:
        op["description"] = desc
    if parameters:
        op["parameters"] = list(parameters)
    if body is not None:
        op["requestBody"] = body
    codes = set(errors)
    if not public:
        codes.add(401)
    codes.add(400)  # any request: malformed input (NUL characters, webapp/input_guard.py), a bad token header
    if roles:
        codes.add(403)
    codes.add(500)
    out = dict(responses)
    for code in sorted(codes):
        name, _ = ERROR_RESPONSES[code]
        out.setdefault(str(code), {"$ref": f"#/components/responses/{name}"})
    op["responses"] = out
    op["security"] = [] if public else [{"bearer": []}, {"cookie": []}]
    return op


# ----------------------------------------------------------------------------------------------------------------
# Helpers for the route declarations
# ----------------------------------------------------------------------------------------------------------------
def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: dict, description: str = "", required: bool = True) -> dict:
    body = {"required": required, "content": {"application/json": {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def json_response(schema: dict, description: str, headers: dict | None = None) -> dict:
    resp: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        resp["headers"] = headers
    return resp


def page_of(item: str) -> dict:
    return {"allOf": [ref("Page"), {"type": "object", "properties": {"items": {"type": "array", "items": ref(item)}}}]}


def list_of(item: str) -> dict:
    return {
        "type": "object",
        "required": ["items"],
        "additionalProperties": False,
        "properties": {"items": {"type": "array", "items": ref(item)}},
    }


def query(name: str, description: str, schema: dict, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def binary_response(description: str, mimetypes: Iterable[str], headers: dict | None = None) -> dict:
    resp: dict[str, Any] = {
        "description": description,
        "content": {m: {"schema": {"type": "string", "contentMediaType": m}} for m in mimetypes},
    }
    if headers:
        resp["headers"] = headers
    return resp


IDEMPOTENCY_KEY = {"$ref": "#/components/parameters/IdempotencyKey"}
IDEMPOTENCY_KEY_OPTIONAL = {"$ref": "#/components/parameters/IdempotencyKeyOptional"}
PAGE_PARAMS = [
    query("page", "页码（从 1 开始）", {"type": "integer", "minimum": 1, "default": 1}),
    query("per_page", "每页条数", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
]
FILE_UPLOAD = {  # a material's file: one multipart field `file`
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": ref("MaterialUpload"),
            "encoding": {"file": {"contentType": "application/pdf, image/jpeg, image/png"}},
        }
    },
}
CASE_OK = {"200": json_response(ref("Case"), "办件（含当前待办、材料清单和版本号）")}
TASK_OK = {"200": json_response(ref("Task"), "环节")}

# ----------------------------------------------------------------------------------------------------------------
# Schemas
# ----------------------------------------------------------------------------------------------------------------
DATE = {"type": "string", "format": "date"}
DATE_OR_NULL = {"type": ["string", "null"], "format": "date"}
TIME = {"type": "string", "format": "date-time", "description": "UTC，ISO 8601（以 Z 结尾）"}
TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time", "description": "UTC，ISO 8601（以 Z 结尾）"}
STR_OR_NULL = {"type": ["string", "null"]}
INT_OR_NULL = {"type": ["integer", "null"]}
CASE_STATUS = {
    "type": "string",
    "enum": list(outcomes.STATUS_LABELS),
    "description": "；".join(f"{k}：{v}" for k, v in outcomes.STATUS_LABELS.items()),
}
PROCEDURE = {"type": "string", "enum": list(PROCEDURES)}


def refresh_procedures() -> None:
    """事项配置: the published matters join the enum (in place: every schema that names PROCEDURE holds this list)."""
    if PROCEDURE["enum"] != list(PROCEDURES):
        PROCEDURE["enum"][:] = list(PROCEDURES)


SCHEMAS: dict[str, dict] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {
                        "type": "string",
                        "description": "稳定的英文错误代码，如 not_found、conflict、validation_failed",
                        "examples": ["conflict"],
                    },
                    "message": {
                        "type": "string",
                        "description": "中文说明",
                        "examples": ["办件已被他人更新，请刷新后重试"],
                    },
                    "details": {
                        "type": "object",
                        "description": "附加信息：fields（按字段的问题）、current_version、"
                        "errors（流程定义校验问题）等",
                        "additionalProperties": True,
                    },
                },
            }
        },
    },
    "Page": {
        "type": "object",
        "required": ["items", "total", "page", "per_page"],
        "properties": {
            "items": {"type": "array"},
            "total": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1},
        },
    },
    "Material": {
        "type": "object",
        "required": ["code", "name", "is_key", "status"],
        "properties": {
            "code": {"type": "string"},
            "name": {"type": "string"},
            "is_key": {"type": "boolean"},
            "status": {"type": "string", "enum": ["received", "owed", "waived", "missing"]},
            "deadline": DATE_OR_NULL,
            "received_at": TIME_OR_NULL,
            "file_name": STR_OR_NULL,
            "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        },
    },
    "Task": {
        "type": "object",
        "required": ["case_no", "task_id", "spec_name", "title", "role"],
        "properties": {
            "case_no": {"type": "string"},
            "task_id": {"type": "string"},
            "spec_name": {"type": "string"},
            "title": {"type": "string"},
            "lane": STR_OR_NULL,
            "role": {"type": "string"},
            "scope_unit_code": STR_OR_NULL,
            "assignee_id": INT_OR_NULL,
            "assignee": STR_OR_NULL,
            "form": STR_OR_NULL,
            "hold_reason": STR_OR_NULL,
            "due_on": DATE_OR_NULL,
            "overdue": {"type": "boolean"},
            "created_at": TIME_OR_NULL,
            "procedure": {"type": "string"},
            "case_status": {"type": "string"},
            "applicant_name": {"type": "string"},
            "case_version": {"type": "integer"},
        },
    },
    "CaseSummary": {
        "type": "object",
        "required": ["case_no", "procedure", "status", "version"],
        "properties": {
            "case_no": {"type": "string"},
            "procedure": PROCEDURE,
            "procedure_name": {"type": "string"},
            "status": CASE_STATUS,
            "status_label": {
                "type": "string",
                "description": "状态的中文名称（不予受理、不予批准、终止办理、已撤回、已办结 …）",
            },
            "applicant_name": {"type": "string"},
            "unit_code": {"type": "string"},
            "created_at": TIME_OR_NULL,
            "accepted_on": DATE_OR_NULL,
            "promised_on": DATE_OR_NULL,
            "closed_at": TIME_OR_NULL,
            "version": {"type": "integer", "description": "乐观锁版本号"},
        },
    },
    "Case": {
        "allOf": [
            ref("CaseSummary"),
            {
                "type": "object",
                "required": ["open_tasks", "materials"],
                "properties": {
                    "id_number": {"type": "string"},
                    "outcome_rule": STR_OR_NULL,
                    "outcome_reason": STR_OR_NULL,
                    "complete_on": DATE_OR_NULL,
                    "filing_due_on": DATE_OR_NULL,
                    "provisional_dates": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "暂计的期限（所在年份尚无国务院公布的节假日安排；导入后自动重算）："
                        "promised_on、rongque_deadline、filing_due_on、publicity:<开始日>、task:<环节>",
                    },
                    "rongque_deadline": DATE_OR_NULL,
                    "hold_since": TIME_OR_NULL,
                    "hold_reason": STR_OR_NULL,
                    "hold_days": {"type": "integer"},
                    "definition": {
                        "type": "object",
                        "properties": {"process_id": {"type": "string"}, "version": {"type": "integer"}},
                    },
                    "data": {"type": "object", "description": "申请表数据", "additionalProperties": True},
                    "open_tasks": {"type": "array", "items": ref("Task")},
                    "materials": {"type": "array", "items": ref("Material")},
                },
            },
        ],
    },
    "DossierValue": {
        "type": "object",
        "required": ["name", "label", "display"],
        "properties": {
            "name": {"type": "string", "description": "字段名"},
            "label": {"type": "string", "description": "中文标题"},
            "value": {"description": "存储的值（代码）"},
            "display": {"type": "string", "description": "中文显示值（不含代码）"},
        },
    },
    "DossierFile": {
        "type": "object",
        "required": ["kind", "label", "at"],
        "properties": {
            "kind": {"type": "string", "enum": ["original", "supplement", "correction", "returned", "recorded"]},
            "label": {"type": "string"},
            "at": TIME_OR_NULL,
            "by": STR_OR_NULL,
            "by_name": {"type": "string"},
            "sha256": STR_OR_NULL,
            "file_name": STR_OR_NULL,
            "note": {"type": "string"},
            "current": {"type": "boolean", "description": "是否为当前文件"},
        },
    },
    "DossierMaterial": {
        "type": "object",
        "required": ["code", "name", "is_key", "status", "status_label", "has_file", "history"],
        "properties": {
            "code": {"type": "string"},
            "name": {"type": "string"},
            "is_key": {"type": "boolean"},
            "key_label": {"type": "string"},
            "status": {"type": "string", "enum": ["received", "owed", "waived", "missing"]},
            "status_label": {"type": "string"},
            "deadline": DATE_OR_NULL,
            "received_at": TIME_OR_NULL,
            "file_name": STR_OR_NULL,
            "sha256": STR_OR_NULL,
            "has_file": {"type": "boolean"},
            "preview": {"type": "string", "enum": ["pdf", "image"], "description": "预览方式"},
            "history": {"type": "array", "items": ref("DossierFile")},
        },
    },
    "DossierOpinion": {
        "type": "object",
        "required": ["step", "desk", "handler", "at", "lines"],
        "properties": {
            "step": {"type": "string"},
            "role": {"type": "string"},
            "desk": {"type": "string"},
            "handler": {"type": "string"},
            "handler_name": {"type": "string"},
            "at": TIME,
            "lines": {"type": "array", "items": ref("DossierValue")},
        },
    },
    "Dossier": {
        "type": "object",
        "required": ["case_no", "procedure", "application", "materials", "opinions", "votes", "decided", "returns"],
        "properties": {
            "case_no": {"type": "string"},
            "procedure": {"type": "string"},
            "procedure_name": {"type": "string"},
            "application": {"type": "array", "items": ref("DossierValue"), "description": "申请表各项"},
            "materials": {"type": "array", "items": ref("DossierMaterial")},
            "opinions": {"type": "array", "items": ref("DossierOpinion"), "description": "已办环节的意见"},
            "votes": {
                "type": "array",
                "description": "评委会表决记录",
                "items": {
                    "type": "object",
                    "properties": {
                        "step": {"type": "string"},
                        "handler_name": {"type": "string"},
                        "at": TIME,
                        "lines": {"type": "array", "items": ref("DossierValue")},
                        "passed": {"type": "boolean"},
                        "result": {"type": "string"},
                    },
                },
            },
            "decided": {"type": "array", "items": ref("DossierValue"), "description": "规则判定的值"},
            "returns": {
                "type": "array",
                "description": "退回记录",
                "items": {
                    "type": "object",
                    "properties": {
                        "task_title": {"type": "string"},
                        "target": {"type": "string"},
                        "to_applicant": {"type": "boolean"},
                        "reason": {"type": "string"},
                        "items": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
                            },
                        },
                        "by": {"type": "string"},
                        "by_name": {"type": "string"},
                        "at": TIME,
                        "resolved_at": TIME_OR_NULL,
                    },
                },
            },
        },
    },
    "TimelineEvent": {
        "type": "object",
        "required": ["seq", "at", "actor", "action"],
        "properties": {
            "seq": {"type": "integer"},
            "at": TIME,
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "task_name": STR_OR_NULL,
            "rule_id": STR_OR_NULL,
            "clause": STR_OR_NULL,
            "payload": {"type": "object", "additionalProperties": True},
            "hash": {"type": "string"},
        },
    },
    "TaskPage": {
        "allOf": [
            ref("Page"),
            {
                "type": "object",
                "required": ["counts", "tab"],
                "properties": {
                    "items": {"type": "array", "items": ref("Task")},
                    "tab": {"type": "string"},
                    "counts": {
                        "type": "object",
                        "additionalProperties": {"type": "integer"},
                        "description": "各标签页的待办数（mine、group、overdue、all）",
                    },
                },
            },
        ]
    },
    "Document": {
        "type": "object",
        "required": ["id", "kind", "doc_no", "status", "version"],
        "properties": {
            "id": {"type": "integer"},
            "case_no": {"type": "string"},
            "kind": {"type": "string"},
            "title": {"type": "string"},
            "doc_no": {**STR_OR_NULL, "description": "文号（申请人签署的承诺书无文号：null）"},
            "status": {"type": "string", "enum": ["pending", "issued", "superseded"]},
            "version": {"type": "integer"},
            "supersedes_id": INT_OR_NULL,
            "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
            "verify_code": {"type": "string", "description": "核验码（XXXX-XXXX-XXXX-XXXX）"},
            "issue_date": DATE_OR_NULL,
            "issued_at": TIME_OR_NULL,
            "pdf_size": INT_OR_NULL,
            "pdf_url": {"type": ["string", "null"], "description": "PDF 下载地址（归档后才有）"},
        },
    },
    "Definition": {
        "type": "object",
        "required": ["id", "process_id", "version", "status", "sha256"],
        "properties": {
            "id": {"type": "integer"},
            "process_id": {"type": "string"},
            "name": {"type": "string"},
            "version": {"type": "integer"},
            "status": {"type": "string", "enum": ["draft", "published", "retired"]},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "created_at": TIME_OR_NULL,
            "created_by": STR_OR_NULL,
            "xml_url": {"type": "string"},
            "release_notes": {
                "type": "array",
                "description": "该版本每次发布（或回滚到该版本）的发布说明，按时间先后",
                "items": {
                    "type": "object",
                    "properties": {
                        "at": {"type": "string"},
                        "by": {"type": "string"},
                        "note": {"type": "string"},
                        "kind": {"type": "string", "enum": ["publish", "rollback"]},
                    },
                },
            },
        },
    },
    "DefinitionError": {
        "type": "object",
        "required": ["message"],
        "properties": {
            "element_id": STR_OR_NULL,
            "element_name": STR_OR_NULL,
            "line": INT_OR_NULL,
            "message": {"type": "string"},
            "file": STR_OR_NULL,
        },
    },
    "Token": {
        "type": "object",
        "required": ["id", "name", "revoked"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "created_at": TIME_OR_NULL,
            "last_used_at": TIME_OR_NULL,
            "expires_at": {**TIME_OR_NULL, "description": "此后令牌失效（默认创建后 90 天，API_TOKEN_DAYS）"},
            "expired": {"type": "boolean"},
            "revoked": {"type": "boolean"},
        },
    },
    "TokenCreated": {
        "allOf": [
            ref("Token"),
            {
                "type": "object",
                "required": ["token"],
                "properties": {
                    "token": {"type": "string", "description": "令牌明文，只在创建时返回一次（服务器只保存其 sha256）"}
                },
            },
        ]
    },
    "Me": {
        "type": "object",
        "required": ["username", "role", "auth"],
        "properties": {
            "id": {"type": "integer"},
            "username": {"type": "string"},
            "display_name": {"type": "string"},
            "role": {"type": "string"},
            "unit_code": STR_OR_NULL,
            "auth": {"type": "string", "enum": ["session", "token"]},
            "csrf_token": {
                "type": ["string", "null"],
                "description": "会话认证时用于 X-CSRFToken 请求头；令牌认证时为 null",
            },
        },
    },
    # Request bodies
    "StartCaseRequest": {
        "type": "object",
        "required": ["procedure", "data"],
        "additionalProperties": False,
        "properties": {
            "procedure": PROCEDURE,
            "data": {
                "type": "object",
                "description": "申请表（按事项的 JSON Schema 校验）。申请人的姓名和身份证号取自账号（填写的须一致）；"
                "materials 只能列出已上传文件（或现场收取）的材料",
                "additionalProperties": True,
            },
            "draft_id": {
                "type": "integer",
                "minimum": 1,
                "maximum": 2147483647,
                "description": "草稿 ID：上传到该草稿的材料文件计为已收到，提交后草稿删除",
            },
            "received_in_person": {
                "type": "array",
                "items": {"type": "string", "maxLength": 48},
                "description": "工作人员现场收取的纸质材料代码（申请人不可用）",
            },
        },
    },
    "DraftRequest": {
        "type": "object",
        "required": ["procedure"],
        "additionalProperties": False,
        "properties": {
            "procedure": PROCEDURE,
            "data": {"type": "object", "description": "申请表（可不完整）", "additionalProperties": True},
        },
    },
    "Draft": {
        "type": "object",
        "required": ["id", "procedure", "data", "files"],
        "properties": {
            "id": {"type": "integer"},
            "procedure": PROCEDURE,
            "data": {"type": "object", "additionalProperties": True},
            "files": {
                "type": "object",
                "description": "材料代码 → 已上传的文件",
                "additionalProperties": {
                    "type": "object",
                    "required": ["file_name", "sha256"],
                    "properties": {"file_name": {"type": "string"}, "sha256": {"type": "string"}},
                },
            },
            "updated_at": TIME_OR_NULL,
        },
    },
    "CompleteTaskRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "data": {"type": "object", "additionalProperties": True, "description": "环节表单数据"},
            "version": {"type": "integer", "description": "办件版本号（可选，乐观锁：不一致时返回 409）"},
        },
    },
    "ReturnRequest": {
        "type": "object",
        "required": ["reason"],
        "additionalProperties": False,
        "properties": {
            "reason": {"type": "string", "minLength": 1, "maxLength": 2000},
            "target": {
                "type": "string",
                "default": "applicant",
                "description": "applicant（退回申请人补正）或已办理的前序环节的 spec 名称",
            },
            "items": {"type": "array", "items": {"type": "string"}, "description": "须补正的材料代码"},
        },
    },
    "TransferRequest": {
        "type": "object",
        "required": ["to"],
        "additionalProperties": False,
        "properties": {"to": {"type": "string", "description": "接收人用户名"}},
    },
    "WithdrawRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"reason": {"type": "string", "maxLength": 500}},
    },
    "ObjectionRequest": {
        "type": "object",
        "required": ["text"],
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": 2000},
            "by": {"type": "string", "maxLength": 100, "description": "异议人"},
        },
    },
    "WriteoffRequest": {
        "type": "object",
        "required": ["reason"],
        "additionalProperties": False,
        "properties": {
            "reason": {"type": "string", "enum": list(WRITEOFF_REASONS)},
            "regular_post_vacancy": {
                "type": "boolean",
                "description": "单位的陈述，仅作记录：任务完成、期满核销的人员是否转聘正常岗位，以岗位设置台账中该等级的空缺为准"
                "（GET /registers/posts）",
                "deprecated": True,
            },
        },
    },
    "RegularPostRequest": {
        "type": "object",
        "required": ["regular_post_on"],
        "additionalProperties": False,
        "properties": {"regular_post_on": DATE, "note": {"type": "string", "maxLength": 200}},
    },
    "TokenCreateRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100}},
    },
    "DeployDefinitionRequest": {
        "type": "object",
        "required": ["process_id", "bpmn_xml"],
        "additionalProperties": False,
        "properties": {
            "process_id": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
            "bpmn_xml": {"type": "string", "minLength": 1},
            "publish": {"type": "boolean", "default": True},
            "note": {"type": "string", "maxLength": 1000, "description": "发布说明（publish 为 true 时必填）"},
        },
    },
    "MigrationRequest": {
        "type": "object",
        "required": ["process_id", "from_version", "to_version"],
        "additionalProperties": False,
        "properties": {
            "process_id": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
            "from_version": {"type": "integer", "minimum": 1, "maximum": 2147483647},
            "to_version": {"type": "integer", "minimum": 1, "maximum": 2147483647},
            "dry_run": {"type": "boolean", "default": True, "description": "只检查并列出变化，不写入（默认）"},
            "case_nos": {
                "type": "array",
                "maxItems": 2000,
                "items": {"type": "string", "minLength": 1, "maxLength": 32},
                "description": "只处理这些办件；省略时为源版本的全部办理中办件",
            },
            "status": {"type": "string", "enum": ["running", "on_hold", "returned"]},
            "element": {"type": "string", "maxLength": 100, "description": "只处理停在该元素（环节 id）上的办件"},
        },
    },
    "MigrationCase": {
        "type": "object",
        "required": ["case_no", "outcome", "at", "reasons"],
        "properties": {
            "case_no": {"type": "string"},
            "outcome": {"type": "string", "enum": ["movable", "moved", "refused", "failed"]},
            "at": {"type": "array", "items": {"type": "string"}, "description": "办件所在元素"},
            "reasons": {"type": "array", "items": {"type": "string"}, "description": "不能迁移或失败的原因"},
            "opened": {"type": "array", "items": {"type": "string"}},
            "closed": {"type": "array", "items": {"type": "string"}},
            "timers": {"type": "array", "items": {"type": "string"}},
            "messages_added": {"type": "array", "items": {"type": "string"}},
            "messages_removed": {"type": "array", "items": {"type": "string"}},
            "changed_ahead": {"type": "array", "items": {"type": "string"}},
            "missing_data": {"type": "array", "items": {"type": "string"}},
            "forms": {"type": "array", "items": {"type": "string"}, "description": "待办表单在目标版本中新增的填写项"},
        },
    },
    "MigrationReport": {
        "type": "object",
        "required": ["process_id", "from_version", "to_version", "dry_run", "counts", "cases"],
        "properties": {
            "process_id": {"type": "string"},
            "from_version": {"type": "integer"},
            "to_version": {"type": "integer"},
            "dry_run": {"type": "boolean"},
            "truncated": {"type": "boolean", "description": "符合条件的办件多于一次处理的上限（500），其余未处理"},
            "counts": {
                "type": "object",
                "properties": {k: {"type": "integer"} for k in ("movable", "moved", "refused", "failed")},
            },
            "added": {"type": "array", "items": {"type": "string"}},
            "removed": {"type": "array", "items": {"type": "string"}},
            "cases": {"type": "array", "items": ref("MigrationCase")},
        },
    },
    "MaterialUpload": {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {
                "type": "string",
                "contentMediaType": "application/octet-stream",
                "description": "PDF、JPEG 或 PNG（按文件头判断），不超过 10 MB",
            }
        },
    },
    "SimulationElement": {
        "type": ["object", "null"],
        "required": ["id", "name"],
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
    },
    "CaseSimulation": {
        "type": "object",
        "required": ["case_no", "verdict", "was", "would_be", "stalled_at", "reason", "path", "unmatched_inputs"],
        "properties": {
            "case_no": {"type": "string"},
            "verdict": {
                "type": "string",
                "enum": ["same", "path_changed", "different", "stalled", "not_replayable"],
                "description": "same 结果相同；path_changed 结果相同、路径不同；different 结果或结束环节不同；stalled 停滞"
                "（历史中没有所需的办理记录，或流程出错）；not_replayable 无法回放",
            },
            "verdict_label": {"type": "string"},
            "was": {
                "type": "object",
                "properties": {
                    "status": {"type": "string"},
                    "status_label": {"type": "string"},
                    "end": {"$ref": "#/components/schemas/SimulationElement"},
                },
            },
            "would_be": {
                "type": "object",
                "properties": {
                    "status": STR_OR_NULL,
                    "status_label": STR_OR_NULL,
                    "end": {"$ref": "#/components/schemas/SimulationElement"},
                },
            },
            "stalled_at": {"type": "array", "items": {"$ref": "#/components/schemas/SimulationElement"}},
            "reason": {"type": "string"},
            "path": {
                "type": "object",
                "properties": {
                    "diverges_after": {"$ref": "#/components/schemas/SimulationElement"},
                    "only_was": {"type": "array", "items": {"$ref": "#/components/schemas/SimulationElement"}},
                    "only_would_be": {"type": "array", "items": {"$ref": "#/components/schemas/SimulationElement"}},
                },
            },
            "unmatched_inputs": {"type": "array", "items": {"type": "string"}},
        },
    },
    "SimulationReport": {
        "type": "object",
        "required": ["process_id", "version", "definition_status", "counts", "cases"],
        "properties": {
            "process_id": {"type": "string"},
            "version": {"type": "integer"},
            "definition_status": {"type": "string", "enum": ["draft", "published", "retired"]},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "seconds": {"type": "number"},
            "cases": {"type": "array", "items": {"$ref": "#/components/schemas/CaseSimulation"}},
        },
    },
}


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def document(server_url: str = "/", cookie_name: str = "session") -> dict:
    """The whole OpenAPI document (a fresh copy each call)."""
    refresh_procedures()
    paths: dict[str, dict] = {}
    for (path, method), op in sorted(_OPERATIONS.items()):
        paths.setdefault(path, {})[method] = copy.deepcopy(op)
    tags = sorted({t for op in _OPERATIONS.values() for t in op.get("tags", [])})
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "绿色通道 JSON API",
            "version": API_VERSION,
            "description": (
                "办件、待办、材料、文书与流程定义的 JSON 接口。\n\n"
                "认证：`Authorization: Bearer <令牌>`（令牌在登录会话中通过 POST /api/v1/auth/tokens 创建），"
                "或浏览器登录会话（Cookie）；会话认证的 POST/PUT/PATCH/DELETE 请求须带 `X-CSRFToken` 请求头"
                '（值见 GET /api/v1/auth/me 的 csrf_token 或页面的 `<meta name="csrf-token">`）。\n\n'
                '错误：一律为 JSON `{"error": {"code", "message"（中文）, "details"}}`。'
                "日期为 ISO 8601 日期（Asia/Shanghai 的法定日），时间为 UTC ISO 8601。"
            ),
            "license": {"name": "LGPL-3.0-or-later", "identifier": "LGPL-3.0-or-later"},
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "servers": [{"url": server_url}],
        "tags": [{"name": t} for t in tags],
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "responses": {name: _error_response(desc) for name, desc in ERROR_RESPONSES.values()},
            "parameters": {
                "IdempotencyKey": {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": True,
                    "description": "幂等键：同一键重复提交只生效一次",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 100},
                },
                "IdempotencyKeyOptional": {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "幂等键（可选）：同一键重复提交只生效一次",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 100},
                },
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "API 令牌（只保存 sha256，可吊销）"},
                "cookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": cookie_name,
                    "description": "浏览器登录会话；不安全方法另须 X-CSRFToken 请求头",
                },
            },
        },
    }
