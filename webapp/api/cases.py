"""Cases: list (in the caller's scope), start, detail, timeline, withdraw."""

from __future__ import annotations

from datetime import date, datetime

from flask import request, url_for

from webapp.api import actor, route, scoped_case
from webapp.api import openapi as oa
from webapp.api.errors import field_error
from webapp.api.openapi import CASE_OK
from webapp.api.parsing import body, only_fields, page_args, reply, str_field
from webapp.api.serialize import case_detail, case_summary, committed_case, iso_time, page_out
from webapp.db import db_session
from webapp.security import OFFICER_ROLES
from workflows.services import cases as case_svc
from workflows.services import dossier, queries


@route(
    "/cases",
    "GET",
    summary="办件列表（按查看范围）",
    tags=["cases"],
    errors=(422,),
    parameters=[
        oa.query("q", "检索：办件编号、身份证号、姓名、单位", {"type": "string", "maxLength": 100}),
        oa.query("procedure", "事项", oa.PROCEDURE),
        oa.query("status", "办件状态", oa.CASE_STATUS),
        *oa.PAGE_PARAMS,
    ],
    responses={"200": oa.json_response(oa.page_of("CaseSummary"), "一页办件")},
)
def list_cases():
    page = queries.list_cases(
        db_session(),
        actor(),
        q=(request.args.get("q") or "")[:100],
        procedure=request.args.get("procedure") or None,
        status=request.args.get("status") or None,
        **page_args(queries.PER_PAGE),
    )
    return reply(page_out(page, case_summary))


@route(
    "/cases",
    "POST",
    summary="提交申请（启动办件）",
    tags=["cases"],
    roles=("applicant", "unit_hr", "admin"),
    body=oa.json_body(oa.ref("StartCaseRequest")),
    errors=(404, 422),
    responses={
        "201": oa.json_response(
            oa.ref("Case"),
            "已受理登记的办件",
            headers={"Location": {"schema": {"type": "string"}, "description": "办件地址"}},
        )
    },
)
def start_case():
    data = body()
    only_fields(data, ("procedure", "data", "draft_id", "received_in_person"))
    procedure = str_field(data, "procedure", required=True, max_len=64)
    form = data.get("data")
    if not isinstance(form, dict):
        raise field_error("data", "须为 JSON 对象（申请表）")
    draft_id = data.get("draft_id")
    if draft_id is not None and (isinstance(draft_id, bool) or not isinstance(draft_id, int)):
        raise field_error("draft_id", "须为整数（草稿 ID）")
    in_person = data.get("received_in_person") or []
    if not isinstance(in_person, list) or not all(isinstance(c, str) and len(c) <= 48 for c in in_person):
        raise field_error("received_in_person", "须为材料代码的数组")
    # the one start service the web form calls too: materials count only with a file uploaded to the draft
    # (or an officer's recorded in-person receipt); an applicant's name and ID number are the account's
    case = case_svc.start_case(db_session(), procedure, form, actor(), draft_id=draft_id, in_person=in_person)
    return reply(committed_case(case), 201, {"Location": url_for("api.get_case", case_no=case.case_no)})


@route("/cases/<case_no>", "GET", summary="办件详情", tags=["cases"], errors=(404,), responses=CASE_OK)
def get_case(case_no: str):
    s = db_session()
    return reply(case_detail(s, scoped_case(case_no)))


@route(
    "/cases/<case_no>/timeline",
    "GET",
    summary="办件时间线（审计事件）",
    tags=["cases"],
    errors=(404,),
    responses={"200": oa.json_response(oa.list_of("TimelineEvent"), "按顺序的事件")},
)
def case_timeline(case_no: str):
    s = db_session()
    events = queries.timeline(s, scoped_case(case_no))
    return reply(
        {
            "items": [
                {
                    "seq": e.seq,
                    "at": iso_time(e.at),
                    "actor": e.actor,
                    "action": e.action,
                    "task_name": e.task_name,
                    "rule_id": e.rule_id,
                    "clause": e.clause,
                    "payload": e.payload or {},
                    "hash": e.hash,
                }
                for e in events
            ]
        }
    )


def _plain(value):
    """The dossier for JSON: times as UTC ISO strings (…Z), dates as ISO dates."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return iso_time(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


@route(
    "/cases/<case_no>/dossier",
    "GET",
    summary="办件案卷（申请信息、材料及其历史、各环节意见、表决、规则判定值、退回记录）",
    tags=["cases"],
    roles=OFFICER_ROLES + ("admin",),
    errors=(404,),
    description="各审核岗位办理前查阅的案卷：申请表每一项（中文标题和取值说明）、每项材料（关键/一般、"
    "已收取/容缺待补/免于提交、当前文件及其历次版本：原件、补交、退回补正后重新提交，含提交人、时间、sha256）、"
    "已办环节的意见（岗位、办理人、时间、内容）、评委会表决记录、规则判定的人才类别、引进方式、编制来源和期限、"
    "退回记录。材料文件见 GET /cases/{case_no}/materials/{code}。",
    responses={"200": oa.json_response(oa.ref("Dossier"), "案卷")},
)
def case_dossier(case_no: str):
    case = scoped_case(case_no)
    return reply(_plain(dossier.build(db_session(), case)))


@route(
    "/cases/<case_no>/withdraw",
    "POST",
    summary="撤回申请",
    tags=["cases"],
    roles=("applicant", "unit_hr", "admin"),
    body=oa.json_body(oa.ref("WithdrawRequest"), required=False),
    errors=(404, 409, 422),
    responses=CASE_OK,
)
def withdraw_case(case_no: str):
    scoped_case(case_no)
    data = body()
    only_fields(data, ("reason",))
    reason = str_field(data, "reason", max_len=500).strip()
    case = case_svc.withdraw(db_session(), case_no, actor(), reason)
    return reply(committed_case(case))
