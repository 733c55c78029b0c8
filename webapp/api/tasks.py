"""Tasks: the inbox (tabs and counts) and the actions on one open task (complete, claim, release, return,
transfer). Who may act is checked by the services (`can_act`: lane + unit)."""

from __future__ import annotations

from flask import request
from sqlalchemy import select

from webapp.api import actor, route
from webapp.api import openapi as oa
from webapp.api.errors import field_error
from webapp.api.openapi import CASE_OK, TASK_OK
from webapp.api.parsing import body, only_fields, page_args, reply, str_field
from webapp.api.serialize import committed_case, page_out, task_out, usernames
from webapp.db import db_session
from webapp.security import OFFICER_ROLES
from workflows.domain.errors import NotFound
from workflows.domain.models import Case, OpenTask
from workflows.services import cases as case_svc
from workflows.services import handling, queries


@route(
    "/tasks",
    "GET",
    summary="待办（收件箱）",
    tags=["tasks"],
    errors=(422,),
    parameters=[
        oa.query(
            "tab",
            "mine（我认领的）、group（本岗位）、overdue（已超期）、all（范围内全部）",
            {"type": "string", "enum": list(queries.TABS), "default": "group"},
        ),
        oa.query("q", "检索：办件编号、身份证号、姓名、单位", {"type": "string", "maxLength": 100}),
        oa.query("procedure", "事项", oa.PROCEDURE),
        oa.query("status", "办件状态", oa.CASE_STATUS),
        *oa.PAGE_PARAMS,
    ],
    responses={"200": oa.json_response(oa.ref("TaskPage"), "一页待办及各标签页计数")},
)
def inbox():
    tab = request.args.get("tab") or "group"
    if tab not in queries.TABS:
        raise field_error("tab", "取值不在允许范围内：" + "、".join(queries.TABS))
    s = db_session()
    page, counts = queries.inbox(
        s,
        actor(),
        tab,
        q=(request.args.get("q") or "")[:100],
        procedure=request.args.get("procedure") or None,
        status=request.args.get("status") or None,
        **page_args(queries.PER_PAGE),
    )
    users = usernames(s, (t.assignee_id for t, _c in page.items))
    return reply(page_out(page, lambda row: task_out(*row, users), tab=tab, counts=counts))


def guard_task(case_no: str, task_id: str) -> None:
    """For routes whose body has required fields: 403/404 before any 422 (the services check again, in order)."""
    s = db_session()
    case = s.scalar(select(Case).where(Case.case_no == case_no))
    if case is None:
        raise NotFound("办件不存在或您无权查看")
    case_svc.acting_task(s, case, task_id, actor(), "您无权办理该环节（角色或单位范围不符）")


def task_reply(case_no: str, task_id: str):
    s = db_session()
    s.expire_all()
    row = s.execute(
        select(OpenTask, Case)
        .join(Case, OpenTask.case_id == Case.id)
        .where(Case.case_no == case_no, OpenTask.task_id == task_id)
    ).first()
    if row is None:
        raise NotFound("环节不存在")
    t, c = row
    return reply(task_out(t, c, usernames(s, [t.assignee_id])))


TASK_ACTION = "/tasks/<case_no>/<task_id>"


@route(
    TASK_ACTION + "/complete",
    "POST",
    summary="办理环节（提交表单）",
    tags=["tasks"],
    body=oa.json_body(oa.ref("CompleteTaskRequest"), required=False),
    errors=(403, 404, 409, 422),
    description="带 version 时作乐观锁检查：与办件当前版本不一致返回 409，details.current_version 为当前版本。",
    responses=CASE_OK,
)
def complete_task(case_no: str, task_id: str):
    data = body()
    only_fields(data, ("data", "version"))
    form = data.get("data", {})
    if form is None:
        form = {}
    if not isinstance(form, dict):
        raise field_error("data", "须为 JSON 对象（环节表单）")
    version = data.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise field_error("version", "须为整数")
    case = case_svc.complete_task(db_session(), case_no, task_id, form, actor(), expected_version=version)
    return reply(committed_case(case))


@route(
    TASK_ACTION + "/claim",
    "POST",
    summary="认领环节",
    tags=["tasks"],
    roles=OFFICER_ROLES + ("admin",),
    errors=(403, 404, 409),
    responses=TASK_OK,
)
def claim_task(case_no: str, task_id: str):
    body()
    case_svc.claim(db_session(), case_no, task_id, actor())
    return task_reply(case_no, task_id)


@route(
    TASK_ACTION + "/release",
    "POST",
    summary="释放已认领的环节",
    tags=["tasks"],
    roles=OFFICER_ROLES + ("admin",),
    errors=(403, 404, 409),
    responses=TASK_OK,
)
def release_task(case_no: str, task_id: str):
    body()
    case_svc.claim(db_session(), case_no, task_id, actor(), release=True)
    return task_reply(case_no, task_id)


@route(
    TASK_ACTION + "/return",
    "POST",
    summary="退回（申请人补正或前序环节）",
    tags=["tasks"],
    roles=OFFICER_ROLES + ("admin",),
    body=oa.json_body(oa.ref("ReturnRequest")),
    errors=(403, 404, 409, 422),
    responses=CASE_OK,
)
def return_task(case_no: str, task_id: str):
    guard_task(case_no, task_id)
    data = body()
    only_fields(data, ("reason", "target", "items"))
    reason = str_field(data, "reason", required=True, max_len=2000)
    target = str_field(data, "target", max_len=100, default="applicant").strip() or "applicant"
    items = data.get("items") or []
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise field_error("items", "须为材料代码（字符串）的数组")
    case = handling.return_for_correction(db_session(), case_no, task_id, actor(), reason, target, items)
    return reply(committed_case(case))


@route(
    TASK_ACTION + "/transfer",
    "POST",
    summary="转交环节给同岗位的他人",
    tags=["tasks"],
    roles=OFFICER_ROLES + ("admin",),
    body=oa.json_body(oa.ref("TransferRequest")),
    errors=(403, 404, 409, 422),
    responses=CASE_OK,
)
def transfer_task(case_no: str, task_id: str):
    guard_task(case_no, task_id)
    data = body()
    only_fields(data, ("to",))
    to = str_field(data, "to", required=True, max_len=64).strip()
    case = handling.transfer(db_session(), case_no, task_id, actor(), to)
    return reply(committed_case(case))
