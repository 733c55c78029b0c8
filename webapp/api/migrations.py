"""Migration of running cases between versions of their process (administrators): a dry run by default."""

from __future__ import annotations

from webapp.api import actor, route
from webapp.api import openapi as oa
from webapp.api.errors import field_error
from webapp.api.parsing import body, reply, str_field
from webapp.db import db_session
from workflows.services.case_migration import migrate_cases

API_MAX_CASES = 500  # one request; `flask migrate-cases` takes any number


def _version(data: dict, name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise field_error(name, "此项为必填项（版本号，整数）")
    return value


@route(
    "/migrations",
    "POST",
    summary="把办理中的办件迁移到流程的另一版本（默认只试迁移）",
    tags=["definitions"],
    roles=("admin",),
    body=oa.json_body(oa.ref("MigrationRequest")),
    errors=(404, 409, 422),
    description="逐件一个事务：锁定办件、检查其所在环节在目标版本中存在且类型相同、历史可对应、后续环节不缺数据，"
    "迁移后推进到稳定并保存（待办、定时器、消息订阅一并重写），记入办件审计链。dry_run（默认 true）做同样的事后回滚，"
    "报告每件可否迁移与将发生的变化。目标版本为草稿时 409。一次最多处理 500 件（truncated 表示还有未处理的）。",
    responses={"200": oa.json_response(oa.ref("MigrationReport"), "逐件结果")},
)
def migrate():
    data = body()  # a non-empty body is checked against MigrationRequest; an empty one is {}
    report = migrate_cases(
        db_session(),
        str_field(data, "process_id", required=True, max_len=64),
        _version(data, "from_version"),
        _version(data, "to_version"),
        actor(),
        dry_run=data.get("dry_run", True),
        case_nos=data.get("case_nos") or None,
        status=data.get("status"),
        element=data.get("element"),
        limit=API_MAX_CASES,
    )
    return reply(report.as_dict())
