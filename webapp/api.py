"""JSON API under /api/v1 (session or bearer token), errors as JSON with a code and a Chinese message.

Authentication (checked before every route but the public ones):

* ``Authorization: Bearer <token>`` — an API token (only its sha256 is stored; revocable). A bad or revoked token
  is 401 and never falls back to the session.
* otherwise the browser session (Flask-Login). The blueprint is CSRF-exempt at the app level, so the check is here:
  a session request with an unsafe method must carry a valid ``X-CSRFToken`` header (400 ``csrf_failed``), unless
  CSRF is switched off for the whole app (``WTF_CSRF_ENABLED = False``, as Flask-WTF's own check does).
* neither → 401 JSON (never a redirect to the login page).

Authorisation is by role (declared on the route) and by scope: cases are fetched through
`queries.get_case` / `list_cases` / `inbox` (404 out of scope) and task actions are checked by the services
(`can_act`: lane + unit → 403). Every error is ``{"error": {"code", "message", "details"}}`` (webapp/security.py).

Each route is declared with :func:`route`, which also registers its OpenAPI operation (webapp/openapi.py).
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import secrets
import tempfile
from datetime import timedelta
from functools import wraps
from typing import Any, Callable, Iterable, Optional

from flask import Blueprint, Flask, current_app, g, jsonify, request, send_file, url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf, validate_csrf
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import ValidationError

from workflows.domain.clock import as_utc, now_utc, today_local
from workflows.infra.db import transaction
from workflows.domain.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from workflows.domain.models import ApiToken, Case, InboundMessage, Material, OpenTask, ProcessDefinition, User
from workflows.services import cases as case_svc
from workflows.services import definitions, handling, queries
from workflows.domain.start_forms import PROCEDURE_NAMES

from webapp.db import db_session
from webapp import openapi as oa
from webapp.security import OFFICER_ROLES, LoginUser

try:  # the document archive (webapp/issuing.py renders into it)
    from workflows.services import archive
except ImportError:  # pragma: no cover - the archive is optional for the API
    archive = None

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api/v1")

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
ALL_ROLES = ("applicant",) + OFFICER_ROLES + ("admin",)
MAX_FILE = 10 * 1024 * 1024  # one uploaded material
MAX_PER_PAGE = 100
TOKEN_PREFIX = "gct_"
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
MAGIC = ((b"%PDF-", "application/pdf"), (b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))
_PUBLIC: set[str] = set()


# ----------------------------------------------------------------------------------------------------------------
# Errors specific to the HTTP surface (DomainError → JSON via webapp/security.py)
# ----------------------------------------------------------------------------------------------------------------
class BadRequest(DomainError):
    code = "bad_request"
    status = 400


class InvalidJson(DomainError):
    code = "invalid_json"
    status = 400


class CsrfFailed(DomainError):
    code = "csrf_failed"
    status = 400


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401


class PayloadTooLarge(DomainError):
    code = "too_large"
    status = 413


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    status = 415


@bp.errorhandler(StaleDataError)
def _stale(_e):
    db_session().rollback()
    err = Conflict("办件已被他人更新，请刷新后重试")
    return jsonify({"error": err.to_dict()}), err.status


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_e):
    limit = request.max_content_length
    err = PayloadTooLarge("请求体或上传的文件过大" + (f"（不能超过 {limit // (1024 * 1024)} MB）" if limit else ""),
                          details={"max_bytes": limit} if limit else None)
    return jsonify({"error": err.to_dict()}), err.status


@bp.after_request
def _headers(resp):
    if resp.status_code == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp


# ----------------------------------------------------------------------------------------------------------------
# Authentication
# ----------------------------------------------------------------------------------------------------------------
def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_token(session, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns the row and the secret (shown once, never stored)."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=(name or "API 令牌")[:100], token_sha256=token_digest(secret))
    with transaction(session):
        session.add(row)
    return row, secret


@bp.before_request
def _authenticate():
    g.api_user, g.api_auth, g.api_token_id = None, None, None
    if request.endpoint in _PUBLIC:
        return None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("认证方式无效：请使用 Authorization: Bearer <令牌>")
        s = db_session()
        row = s.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                        .where(ApiToken.token_sha256 == token_digest(value.strip()))).first()
        token, user = row if row is not None else (None, None)
        if token is None or token.revoked or not user.active:
            s.rollback()
            raise Unauthorized("API 令牌无效或已吊销")
        g.api_user, g.api_auth, g.api_token_id = LoginUser(user), "token", token.id
        last = as_utc(token.last_used_at)
        if last is None or now_utc() - last > TOKEN_TOUCH_INTERVAL:
            token.last_used_at = now_utc()
            s.commit()  # record the use now: the route's own transaction may roll back
        # Otherwise the read transaction goes on into the route (one connection checkout per request; a service
        # call commits it, `reply` ends it).
        return None
    if current_user.is_authenticated:
        g.api_user, g.api_auth = current_user._get_current_object(), "session"
        if request.method not in SAFE_METHODS and current_app.config.get("WTF_CSRF_ENABLED", True):
            try:
                validate_csrf(request.headers.get("X-CSRFToken") or request.headers.get("X-CSRF-Token"))
            except ValidationError as e:
                raise CsrfFailed("CSRF 校验失败：会话认证的请求须在 X-CSRFToken 请求头中携带有效令牌",
                                 details={"reason": str(e)})
        return None
    raise Unauthorized("请先登录或提供 API 令牌（Authorization: Bearer …）")


def actor():
    return g.api_user.actor


# ----------------------------------------------------------------------------------------------------------------
# Route declaration: the Flask rule, the role check and the OpenAPI operation in one place
# ----------------------------------------------------------------------------------------------------------------
def route(rule: str, method: str, *, summary: str, tags: Iterable[str], responses: dict,
          roles: Iterable[str] = ALL_ROLES, errors: Iterable[int] = (), body: Optional[dict] = None,
          parameters: Iterable[dict] = (), public: bool = False, description: str = "") -> Callable:
    roles = tuple(roles)

    def deco(fn):
        @wraps(fn)
        def view(*args, **kwargs):
            if not public and g.api_user.role not in roles:
                raise Forbidden("您的角色无权使用该接口")
            return fn(*args, **kwargs)

        bp.add_url_rule(rule, fn.__name__, view, methods=[method])
        if public:
            _PUBLIC.add(f"{bp.name}.{fn.__name__}")
        doc_roles = () if public or set(roles) == set(ALL_ROLES) else roles
        oa.register(bp.url_prefix + rule, method, oa.operation(
            operation_id=fn.__name__, summary=summary, tags=tags, responses=responses, errors=errors, body=body,
            parameters=parameters, public=public, description=description, roles=doc_roles,
            unsafe=method not in SAFE_METHODS))
        return view
    return deco


# ----------------------------------------------------------------------------------------------------------------
# Parsing
# ----------------------------------------------------------------------------------------------------------------
def body() -> dict:
    """The JSON object of the request (empty body → {}); anything that is not a JSON object is 400."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidJson("请求体不是有效的 JSON")
    if not isinstance(value, dict):
        raise InvalidJson("请求体须为 JSON 对象")
    return value


def _field_error(name: str, message: str) -> ValidationFailed:
    return ValidationFailed("提交的内容有误，请按提示修改", details={"fields": {name: message}})


def str_field(data: dict, name: str, *, required: bool = False, max_len: int = 2000, default: str = "") -> str:
    value = data.get(name)
    if value is None:
        if required:
            raise _field_error(name, "此项为必填项")
        return default
    if not isinstance(value, str):
        raise _field_error(name, "类型不正确（须为字符串）")
    if required and not value.strip():
        raise _field_error(name, "此项为必填项")
    if len(value) > max_len:
        raise _field_error(name, f"内容过长（最多 {max_len} 字）")
    return value


def only_fields(data: dict, allowed: Iterable[str]) -> None:
    extra = sorted(set(data) - set(allowed))
    if extra:
        raise ValidationFailed("提交的内容有误，请按提示修改", details={"fields": {k: "包含未定义的字段" for k in extra}})


def int_arg(name: str, default: int, lo: int = 1, hi: Optional[int] = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _field_error(name, "须为整数")
    if value < lo or (hi is not None and value > hi):
        raise _field_error(name, f"取值须在 {lo}–{hi} 之间" if hi else f"取值不能小于 {lo}")
    return value


def idempotency_key(required: bool) -> Optional[str]:
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if not key:
        if required:
            raise BadRequest("缺少幂等键：请在 Idempotency-Key 请求头中提供（同一键重复提交只生效一次）")
        return None
    if len(key) > 100:
        raise BadRequest("幂等键过长（最多 100 个字符）")
    return key


def scoped_key(kind: str, *parts: str) -> str:
    """A stored idempotency key: bound to the operation and its case (fits InboundMessage's 128 characters)."""
    return f"api:{kind}:" + hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------------------------------------------
# Serialisation (dates ISO, times UTC ISO with Z)
# ----------------------------------------------------------------------------------------------------------------
def iso_time(value) -> Optional[str]:
    v = as_utc(value)
    return v.isoformat().replace("+00:00", "Z") if v is not None else None


def iso_date(value) -> Optional[str]:
    return value.isoformat() if value is not None else None


def material_out(m: Material) -> dict:
    return {"code": m.code, "name": m.name, "is_key": bool(m.is_key), "status": m.status,
            "deadline": iso_date(m.deadline), "received_at": iso_time(m.received_at), "file_name": m.file_name,
            "sha256": m.sha256}


def task_out(t: OpenTask, case: Case, users: Optional[dict[int, str]] = None) -> dict:
    return {"case_no": case.case_no, "task_id": t.task_id, "spec_name": t.spec_name, "title": t.title,
            "lane": t.lane, "role": t.role, "scope_unit_code": t.scope_unit_code, "assignee_id": t.assignee_id,
            "assignee": (users or {}).get(t.assignee_id) if t.assignee_id is not None else None, "form": t.form,
            "hold_reason": t.hold_reason, "due_on": iso_date(t.due_on),
            "overdue": bool(t.due_on and t.due_on < today_local()), "created_at": iso_time(t.created_at),
            "procedure": case.procedure, "case_status": case.status, "applicant_name": case.applicant_name,
            "case_version": case.version}


def _usernames(session, ids: Iterable[Optional[int]]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def case_summary(c: Case) -> dict:
    return {"case_no": c.case_no, "procedure": c.procedure, "procedure_name": PROCEDURE_NAMES.get(c.procedure, ""),
            "status": c.status, "applicant_name": c.applicant_name, "unit_code": c.unit_code,
            "created_at": iso_time(c.created_at), "accepted_on": iso_date(c.accepted_on),
            "promised_on": iso_date(c.promised_on), "closed_at": iso_time(c.closed_at), "version": c.version}


def _definition_out(session, definition_id: int) -> dict:
    b = definitions.bundle(session, definition_id)  # cached per process: a published version never changes
    return {"process_id": b.process_id, "version": b.version}


def case_detail(session, c: Case) -> dict:
    tasks = sorted(c.open_tasks, key=lambda t: t.id or 0)
    users = _usernames(session, (t.assignee_id for t in tasks))
    return {**case_summary(c), "id_number": c.id_number, "outcome_rule": c.outcome_rule,
            "outcome_reason": c.outcome_reason, "complete_on": iso_date(c.complete_on),
            "filing_due_on": iso_date(c.filing_due_on), "rongque_deadline": iso_date(c.rongque_deadline),
            "hold_since": iso_time(c.hold_since), "hold_reason": c.hold_reason, "hold_days": c.hold_days or 0,
            "definition": _definition_out(session, c.definition_id),
            "data": dict(c.start_data or {}),
            "open_tasks": [task_out(t, c, users) for t in tasks],
            "materials": [material_out(m) for m in c.materials]}


def committed_case(case: Case) -> dict:
    """The case a service call has just committed, serialised from the objects in the session: the service held the
    row lock until its commit and the session does not expire on commit, so they are what was committed."""
    return case_detail(db_session(), case)


def scoped_case(case_no: str) -> Case:
    return queries.get_case(db_session(), actor(), case_no)


def reply(payload: Any, status: int = 200, headers: Optional[dict] = None):
    s = db_session()
    if s.in_transaction():
        s.commit()  # end any read transaction (SQLite holds its write lock until then)
    resp = jsonify(payload)
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


# OpenAPI response snippets
R = oa.ref
CASE_OK = {"200": oa.json_response(R("Case"), "办件（含当前待办、材料清单和版本号）")}
TASK_OK = {"200": oa.json_response(R("Task"), "环节")}


# ----------------------------------------------------------------------------------------------------------------
# Meta
# ----------------------------------------------------------------------------------------------------------------
@route("/ping", "GET", summary="健康检查", tags=["meta"], public=True,
       responses={"200": oa.json_response({"type": "object", "properties": {"status": {"const": "ok"}}}, "正常")})
def ping():
    return jsonify({"status": "ok"})


@route("/openapi.json", "GET", summary="本接口的 OpenAPI 3.1 文档", tags=["meta"], public=True,
       responses={"200": oa.json_response({"type": "object"}, "OpenAPI 文档")})
def openapi_document():
    return jsonify(oa.document(cookie_name=current_app.config.get("SESSION_COOKIE_NAME") or "session"))


# ----------------------------------------------------------------------------------------------------------------
# Authentication: who am I, API tokens
# ----------------------------------------------------------------------------------------------------------------
def token_out(t: ApiToken) -> dict:
    return {"id": t.id, "name": t.name, "created_at": iso_time(t.created_at),
            "last_used_at": iso_time(t.last_used_at), "revoked": bool(t.revoked)}


@route("/auth/me", "GET", summary="当前用户（会话认证时附 CSRF 令牌）", tags=["auth"],
       responses={"200": oa.json_response(R("Me"), "当前用户")})
def me():
    u = g.api_user
    return reply({"id": u.user_id, "username": u.username, "display_name": u.display_name, "role": u.role,
                  "unit_code": u.unit_code, "auth": g.api_auth,
                  "csrf_token": generate_csrf() if g.api_auth == "session" else None})


@route("/auth/tokens", "GET", summary="我的 API 令牌", tags=["auth"],
       responses={"200": oa.json_response(oa.list_of("Token"), "令牌列表（不含明文）")})
def list_tokens():
    s = db_session()
    rows = s.scalars(select(ApiToken).where(ApiToken.user_id == g.api_user.user_id).order_by(ApiToken.id))
    return reply({"items": [token_out(t) for t in rows]})


@route("/auth/tokens", "POST", summary="为自己创建 API 令牌（仅限登录会话；明文只返回一次）", tags=["auth"],
       body=oa.json_body(R("TokenCreateRequest"), required=False), errors=(403, 422),
       description="只能在浏览器登录会话中创建（须带 X-CSRFToken）；用令牌认证的请求不能再创建令牌。",
       responses={"201": oa.json_response(R("TokenCreated"), "已创建；token 为明文，只显示这一次")})
def create_token():
    data = body()
    only_fields(data, ("name",))
    if g.api_auth != "session":
        raise Forbidden("只能在登录会话中创建 API 令牌")
    name = str_field(data, "name", max_len=100, default="API 令牌").strip() or "API 令牌"
    s = db_session()
    user = s.get(User, g.api_user.user_id)
    row, secret = new_token(s, user, name)
    log.info("api token %s created for %s", row.id, user.username)
    return reply({**token_out(row), "token": secret}, 201)


@route("/auth/tokens/<int(max=2147483647):token_id>", "DELETE", summary="吊销 API 令牌", tags=["auth"], errors=(404,),
       description="本人的令牌；系统管理员可吊销任何令牌。",
       responses={"204": {"description": "已吊销"}})
def revoke_token(token_id: int):
    s = db_session()
    with transaction(s):
        row = s.get(ApiToken, token_id)
        if row is None or (row.user_id != g.api_user.user_id and g.api_user.role != "admin"):
            raise NotFound("令牌不存在")
        row.revoked = True
    log.info("api token %s revoked by %s", token_id, g.api_user.username)
    return "", 204


# ----------------------------------------------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------------------------------------------
@route("/cases", "GET", summary="办件列表（按查看范围）", tags=["cases"], errors=(422,),
       parameters=[oa.query("q", "检索：办件编号、身份证号、姓名、单位", {"type": "string", "maxLength": 100}),
                   oa.query("procedure", "事项", oa.PROCEDURE), oa.query("status", "办件状态", oa.CASE_STATUS),
                   *oa.PAGE_PARAMS],
       responses={"200": oa.json_response(oa.page_of("CaseSummary"), "一页办件")})
def list_cases():
    page = queries.list_cases(db_session(), actor(), q=(request.args.get("q") or "")[:100],
                              procedure=request.args.get("procedure") or None,
                              status=request.args.get("status") or None, page=int_arg("page", 1),
                              per_page=int_arg("per_page", queries.PER_PAGE, 1, MAX_PER_PAGE))
    return reply({"items": [case_summary(c) for c in page.items], "total": page.total, "page": page.page,
                  "per_page": page.per_page})


@route("/cases", "POST", summary="提交申请（启动办件）", tags=["cases"], roles=("applicant", "unit_hr", "admin"),
       body=oa.json_body(R("StartCaseRequest")), errors=(404, 422),
       responses={"201": oa.json_response(R("Case"), "已受理登记的办件",
                                          headers={"Location": {"schema": {"type": "string"},
                                                                "description": "办件地址"}})})
def start_case():
    data = body()
    only_fields(data, ("procedure", "data"))
    procedure = str_field(data, "procedure", required=True, max_len=64)
    form = data.get("data")
    if not isinstance(form, dict):
        raise _field_error("data", "须为 JSON 对象（申请表）")
    case = case_svc.start_case(db_session(), procedure, form, actor())
    return reply(committed_case(case), 201,
                 {"Location": url_for("api.get_case", case_no=case.case_no)})


@route("/cases/<case_no>", "GET", summary="办件详情", tags=["cases"], errors=(404,), responses=CASE_OK)
def get_case(case_no: str):
    s = db_session()
    return reply(case_detail(s, scoped_case(case_no)))


@route("/cases/<case_no>/timeline", "GET", summary="办件时间线（审计事件）", tags=["cases"], errors=(404,),
       responses={"200": oa.json_response(oa.list_of("TimelineEvent"), "按顺序的事件")})
def case_timeline(case_no: str):
    s = db_session()
    events = queries.timeline(s, scoped_case(case_no))
    return reply({"items": [{"seq": e.seq, "at": iso_time(e.at), "actor": e.actor, "action": e.action,
                             "task_name": e.task_name, "rule_id": e.rule_id, "clause": e.clause,
                             "payload": e.payload or {}, "hash": e.hash} for e in events]})


@route("/cases/<case_no>/withdraw", "POST", summary="撤回申请", tags=["cases"],
       roles=("applicant", "unit_hr", "admin"), body=oa.json_body(R("WithdrawRequest"), required=False),
       errors=(404, 409, 422), responses=CASE_OK)
def withdraw_case(case_no: str):
    scoped_case(case_no)
    data = body()
    only_fields(data, ("reason",))
    reason = str_field(data, "reason", max_len=500).strip()
    case = case_svc.withdraw(db_session(), case_no, actor(), reason)
    return reply(committed_case(case))


@route("/cases/<case_no>/objections", "POST", summary="登记公示期异议（R7）", tags=["cases"],
       roles=OFFICER_ROLES + ("admin",), body=oa.json_body(R("ObjectionRequest")),
       parameters=[oa.IDEMPOTENCY_KEY], errors=(404, 409, 422),
       description="须带 Idempotency-Key 请求头：同一键重复提交只登记一次（第二次直接返回办件，"
                   "响应头 Idempotent-Replayed: true）。",
       responses=CASE_OK)
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


@route("/cases/<case_no>/writeoff", "POST", summary="特设岗位提前核销（R8）", tags=["cases"],
       roles=("unit_hr", "hrss", "admin"), body=oa.json_body(R("WriteoffRequest")),
       parameters=[oa.IDEMPOTENCY_KEY_OPTIONAL], errors=(404, 409, 422),
       description="不带 Idempotency-Key 时，同一办件的核销只生效一次。", responses=CASE_OK)
def writeoff(case_no: str):
    scoped_case(case_no)
    data = body()
    only_fields(data, ("reason",))
    reason = str_field(data, "reason", required=True, max_len=32)
    key = idempotency_key(required=False)
    case = case_svc.request_writeoff(db_session(), case_no, reason, scoped_key("writeoff", case_no, key or ""),
                                     actor())
    return reply(committed_case(case))


# ----------------------------------------------------------------------------------------------------------------
# Tasks
# ----------------------------------------------------------------------------------------------------------------
@route("/tasks", "GET", summary="待办（收件箱）", tags=["tasks"], errors=(422,),
       parameters=[oa.query("tab", "mine（我认领的）、group（本岗位）、overdue（已超期）、all（范围内全部）",
                            {"type": "string", "enum": list(queries.TABS), "default": "group"}),
                   oa.query("q", "检索：办件编号、身份证号、姓名、单位", {"type": "string", "maxLength": 100}),
                   oa.query("procedure", "事项", oa.PROCEDURE), oa.query("status", "办件状态", oa.CASE_STATUS),
                   *oa.PAGE_PARAMS],
       responses={"200": oa.json_response(R("TaskPage"), "一页待办及各标签页计数")})
def inbox():
    tab = request.args.get("tab") or "group"
    if tab not in queries.TABS:
        raise _field_error("tab", "取值不在允许范围内：" + "、".join(queries.TABS))
    s = db_session()
    page, counts = queries.inbox(s, actor(), tab, q=(request.args.get("q") or "")[:100],
                                 procedure=request.args.get("procedure") or None,
                                 status=request.args.get("status") or None, page=int_arg("page", 1),
                                 per_page=int_arg("per_page", queries.PER_PAGE, 1, MAX_PER_PAGE))
    users = _usernames(s, (t.assignee_id for t, _c in page.items))
    return reply({"items": [task_out(t, c, users) for t, c in page.items], "total": page.total, "page": page.page,
                  "per_page": page.per_page, "tab": tab, "counts": counts})


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
    row = s.execute(select(OpenTask, Case).join(Case, OpenTask.case_id == Case.id)
                    .where(Case.case_no == case_no, OpenTask.task_id == task_id)).first()
    if row is None:
        raise NotFound("环节不存在")
    t, c = row
    return reply(task_out(t, c, _usernames(s, [t.assignee_id])))


TASK_ACTION = "/tasks/<case_no>/<task_id>"


@route(TASK_ACTION + "/complete", "POST", summary="办理环节（提交表单）", tags=["tasks"],
       body=oa.json_body(R("CompleteTaskRequest"), required=False), errors=(403, 404, 409, 422),
       description="带 version 时作乐观锁检查：与办件当前版本不一致返回 409，details.current_version 为当前版本。",
       responses=CASE_OK)
def complete_task(case_no: str, task_id: str):
    data = body()
    only_fields(data, ("data", "version"))
    form = data.get("data", {})
    if form is None:
        form = {}
    if not isinstance(form, dict):
        raise _field_error("data", "须为 JSON 对象（环节表单）")
    version = data.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise _field_error("version", "须为整数")
    case = case_svc.complete_task(db_session(), case_no, task_id, form, actor(), expected_version=version)
    return reply(committed_case(case))


@route(TASK_ACTION + "/claim", "POST", summary="认领环节", tags=["tasks"], roles=OFFICER_ROLES + ("admin",),
       errors=(403, 404, 409), responses=TASK_OK)
def claim_task(case_no: str, task_id: str):
    body()
    case_svc.claim(db_session(), case_no, task_id, actor())
    return task_reply(case_no, task_id)


@route(TASK_ACTION + "/release", "POST", summary="释放已认领的环节", tags=["tasks"],
       roles=OFFICER_ROLES + ("admin",), errors=(403, 404, 409), responses=TASK_OK)
def release_task(case_no: str, task_id: str):
    body()
    case_svc.claim(db_session(), case_no, task_id, actor(), release=True)
    return task_reply(case_no, task_id)


@route(TASK_ACTION + "/return", "POST", summary="退回（申请人补正或前序环节）", tags=["tasks"],
       roles=OFFICER_ROLES + ("admin",), body=oa.json_body(R("ReturnRequest")), errors=(403, 404, 409, 422),
       responses=CASE_OK)
def return_task(case_no: str, task_id: str):
    guard_task(case_no, task_id)
    data = body()
    only_fields(data, ("reason", "target", "items"))
    reason = str_field(data, "reason", required=True, max_len=2000)
    target = str_field(data, "target", max_len=100, default="applicant").strip() or "applicant"
    items = data.get("items") or []
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise _field_error("items", "须为材料代码（字符串）的数组")
    case = handling.return_for_correction(db_session(), case_no, task_id, actor(), reason, target, items)
    return reply(committed_case(case))


@route(TASK_ACTION + "/transfer", "POST", summary="转交环节给同岗位的他人", tags=["tasks"],
       roles=OFFICER_ROLES + ("admin",), body=oa.json_body(R("TransferRequest")), errors=(403, 404, 409, 422),
       responses=CASE_OK)
def transfer_task(case_no: str, task_id: str):
    guard_task(case_no, task_id)
    data = body()
    only_fields(data, ("to",))
    to = str_field(data, "to", required=True, max_len=64).strip()
    case = handling.transfer(db_session(), case_no, task_id, actor(), to)
    return reply(committed_case(case))


# ----------------------------------------------------------------------------------------------------------------
# Materials
# ----------------------------------------------------------------------------------------------------------------
def sniff(head: bytes) -> Optional[str]:
    for magic, mime in MAGIC:
        if head.startswith(magic):
            return mime
    return None


def upload_dir() -> str:
    return current_app.config["UPLOAD_DIR"]


def store_upload(content: bytes, sha: str) -> bool:
    """Write UPLOAD_DIR/<sha256> atomically; returns whether this call created it."""
    directory = upload_dir()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, sha)
    if os.path.exists(path):
        return False
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def _clean_file_name(name: str) -> str:
    name = re.split(r"[\\/]", name or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:255] or "upload"


@route("/cases/<case_no>/materials/<code>", "POST", summary="补交材料（上传文件）", tags=["materials"],
       roles=("applicant", "unit_hr", "admin"),
       body={"required": True, "content": {"multipart/form-data": {
           "schema": R("MaterialUpload"),
           "encoding": {"file": {"contentType": "application/pdf, image/jpeg, image/png"}}}}},
       parameters=[oa.IDEMPOTENCY_KEY_OPTIONAL], errors=(404, 409, 413, 415, 422),
       description="字段 file：PDF、JPEG 或 PNG（按文件头判断，不看扩展名），不超过 10 MB。文件按 sha256 存放，"
                   "该材料项记为已收到；最后一项欠缺材料补齐后流程继续。不带 Idempotency-Key 时，"
                   "同一文件重复上传只生效一次。",
       responses=CASE_OK)
def upload_material(case_no: str, code: str):
    case = scoped_case(case_no)
    key = idempotency_key(required=False)
    item = next((m for m in case.materials if m.code == code), None)
    if item is None:
        raise NotFound(f"材料清单中没有此项：{code}")
    if request.content_length is not None and request.content_length > MAX_FILE + 64 * 1024:
        raise PayloadTooLarge(f"上传的文件过大：单个文件不能超过 {MAX_FILE // (1024 * 1024)} MB",
                              details={"max_bytes": MAX_FILE})
    request.max_content_length = MAX_FILE + 64 * 1024  # the multipart envelope on top of the file
    if not (request.mimetype or "").startswith("multipart/form-data"):
        raise UnsupportedMediaType("请以 multipart/form-data 上传，文件字段名为 file")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise _field_error("file", "请选择要上传的文件")
    content = upload.stream.read(MAX_FILE + 1)
    if len(content) > MAX_FILE:
        raise PayloadTooLarge(f"上传的文件过大：单个文件不能超过 {MAX_FILE // (1024 * 1024)} MB",
                              details={"max_bytes": MAX_FILE})
    if not content:
        raise _field_error("file", "文件为空")
    if sniff(content[:16]) is None:
        raise UnsupportedMediaType("文件类型不支持：只接受 PDF、JPEG、PNG 文件",
                                   details={"accepted": [mime for _m, mime in MAGIC]})
    sha = hashlib.sha256(content).hexdigest()
    file_name = _clean_file_name(upload.filename)
    stored_key = scoped_key("supply", case_no, code, key or sha)
    s = db_session()
    replayed = s.scalar(select(InboundMessage.id).where(InboundMessage.idempotency_key == stored_key)) is not None
    if not replayed and item.status not in ("owed", "missing"):
        raise Conflict(f"“{item.name}”无需补交（当前状态：{item.status}）")
    s.commit()  # end the read before touching the disk
    created = store_upload(content, sha) if not replayed else False
    try:
        case = case_svc.supply_material(s, case_no, code, actor(), file_name=file_name, sha256=sha,
                                 idempotency_key=stored_key)
    except BaseException:
        if created:
            _forget_upload(sha)
        raise
    return reply(committed_case(case), headers={"Idempotent-Replayed": "true" if replayed else "false"})


def _forget_upload(sha: str) -> None:
    """Remove a file this request stored when nothing references it (the service refused)."""
    s = db_session()
    try:
        s.rollback()
        referenced = s.scalar(select(Material.id).where(Material.sha256 == sha).limit(1)) is not None
        s.commit()
        if not referenced:
            os.unlink(os.path.join(upload_dir(), sha))
    except Exception:  # leaving an orphan file is harmless; never mask the original error
        log.exception("could not remove the unreferenced upload %s", sha)


# ----------------------------------------------------------------------------------------------------------------
# Documents
# ----------------------------------------------------------------------------------------------------------------
def document_out(d) -> dict:
    return {"id": d.id, "case_no": d.case.case_no if d.case is not None else None, "kind": d.kind,
            "title": d.title, "doc_no": d.doc_no, "status": d.status, "version": d.version,
            "supersedes_id": d.supersedes_id, "sha256": d.sha256,
            "verify_code": archive.display_code(d.verify_code), "issue_date": iso_date(d.issue_date),
            "issued_at": iso_time(d.issued_at), "pdf_size": d.pdf_size,
            "pdf_url": url_for("api.document_pdf", doc_id=d.id) if d.sha256 else None}


@route("/cases/<case_no>/documents", "GET", summary="办件的文书", tags=["documents"], errors=(404,),
       responses={"200": oa.json_response(oa.list_of("Document"), "文书（含已被替代的旧版本）")})
def case_documents(case_no: str):
    case = scoped_case(case_no)
    if archive is None:
        return reply({"items": []})
    return reply({"items": [document_out(d) for d in archive.documents_of_case(db_session(), case.id)]})


@route("/documents/<int(max=2147483647):doc_id>/pdf", "GET", summary="下载文书 PDF（归档版本）", tags=["documents"],
       errors=(404, 409),
       responses={"200": {"description": "归档的 PDF（ETag 为其 sha256）",
                          "content": {"application/pdf": {"schema": {"type": "string",
                                                                     "contentMediaType": "application/pdf"}}}}})
def document_pdf(doc_id: int):
    s = db_session()
    doc = s.get(archive.Document, doc_id) if archive is not None else None
    if doc is None:
        raise NotFound("文书不存在或您无权查看")
    try:
        queries.get_case(s, actor(), doc.case.case_no)
    except NotFound:
        raise NotFound("文书不存在或您无权查看")
    if doc.sha256 is None or doc.pdf is None:
        raise Conflict("文书正在生成，请稍后再试")
    pdf, sha, name = bytes(doc.pdf), doc.sha256, f"{doc.doc_no}.pdf"
    s.commit()
    resp = send_file(io.BytesIO(pdf), mimetype="application/pdf", as_attachment=True, download_name=name,
                     etag=sha, conditional=True, max_age=0)
    resp.headers["X-Content-SHA256"] = sha
    return resp


# ----------------------------------------------------------------------------------------------------------------
# Definitions
# ----------------------------------------------------------------------------------------------------------------
PROCESS_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def definition_out(d: ProcessDefinition) -> dict:
    return {"id": d.id, "process_id": d.process_id, "name": d.name, "version": d.version, "status": d.status,
            "sha256": d.sha256, "created_at": iso_time(d.created_at), "created_by": d.created_by,
            "xml_url": url_for("api.definition_xml", def_id=d.id)}


@route("/definitions", "GET", summary="流程定义的各版本", tags=["definitions"], roles=OFFICER_ROLES + ("admin",),
       parameters=[oa.query("process_id", "只列此流程", {"type": "string", "maxLength": 64})],
       responses={"200": oa.json_response(oa.list_of("Definition"), "按流程、版本（新→旧）排列")})
def list_definitions():
    stmt = select(ProcessDefinition).order_by(ProcessDefinition.process_id, ProcessDefinition.version.desc())
    pid = request.args.get("process_id")
    if pid:
        stmt = stmt.where(ProcessDefinition.process_id == pid)
    return reply({"items": [definition_out(d) for d in db_session().scalars(stmt)]})


@route("/definitions/<int(max=2147483647):def_id>/xml", "GET", summary="流程定义的 BPMN XML", tags=["definitions"],
       roles=OFFICER_ROLES + ("admin",), errors=(404,),
       responses={"200": {"description": "BPMN 2.0 XML",
                          "content": {"application/xml": {"schema": {"type": "string"}}}}})
def definition_xml(def_id: int):
    s = db_session()
    d = s.get(ProcessDefinition, def_id)
    if d is None:
        raise NotFound("流程定义不存在")
    files = (d.source or {}).get("bpmn") or {}
    if not files:
        raise NotFound("该版本没有 BPMN 文件")
    name = sorted(files)[0]
    xml = files[name]
    s.commit()
    resp = current_app.response_class(xml, mimetype="application/xml")
    resp.headers["Content-Disposition"] = f'inline; filename="{name}"' if name.isascii() else "inline"
    return resp


def _bundle_beside(session, process_id: str) -> tuple[dict, dict]:
    """DMN tables and forms a new version is deployed with: those of the current version, else the bundled ones."""
    from workflows.services.definitions import bpmn_dir
    current = session.scalar(select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
                             .order_by(ProcessDefinition.version.desc()).limit(1))
    if current is not None:
        src = current.source or {}
        return dict(src.get("dmn") or {}), dict(src.get("forms") or {})
    d = bpmn_dir()
    dmn = {p.name: p.read_text("utf-8") for p in sorted(d.glob("*.dmn"))}
    forms = {p.name: json.loads(p.read_text("utf-8")) for p in sorted((d / "forms").glob("*.schema.json"))}
    return dmn, forms


@route("/definitions", "POST", summary="部署流程定义的新版本", tags=["definitions"], roles=("admin",),
       body=oa.json_body(R("DeployDefinitionRequest")), errors=(422,),
       description="XSD 校验与 lint 不通过时返回 422，details.errors 列出每个问题（element_id、line、message）。"
                   "同一内容（sha256 相同）再次部署返回已有版本（200）。",
       responses={"201": oa.json_response(R("Definition"), "已部署的新版本"),
                  "200": oa.json_response(R("Definition"), "内容相同的已有版本")})
def deploy_definition():
    from workflows.services.definitions import deploy
    from workflows.domain.errors import DefinitionInvalid
    data = body()
    only_fields(data, ("process_id", "bpmn_xml", "publish"))
    process_id = str_field(data, "process_id", required=True, max_len=64).strip()
    if not PROCESS_ID.match(process_id):
        raise _field_error("process_id", "格式不正确（字母或下划线开头，只含字母、数字、下划线）")
    xml = str_field(data, "bpmn_xml", required=True, max_len=5 * 1024 * 1024)
    publish = data.get("publish", True)
    if not isinstance(publish, bool):
        raise _field_error("publish", "须为布尔值")
    s = db_session()
    dmn, forms = _bundle_beside(s, process_id)
    before = set(s.scalars(select(ProcessDefinition.id).where(ProcessDefinition.process_id == process_id)))
    try:
        with transaction(s):
            row = deploy(s, process_id, {f"{process_id}.bpmn": xml}, dmn, forms, by=g.api_user.username,
                         publish=publish)
    except DefinitionInvalid as e:
        raise ValidationFailed(f"流程定义未通过校验（{len(e.errors)} 个问题），未部署", details={"errors": [
            {"element_id": err.element_id, "element_name": err.element_name, "line": err.line,
             "message": err.message, "file": err.file} for err in e.errors]})
    out = definition_out(row)
    log.info("definition %s v%s deployed through the API by %s", row.process_id, row.version, g.api_user.username)
    return reply(out, 200 if row.id in before else 201)


# ----------------------------------------------------------------------------------------------------------------
# CLI (wired by the app factory): create and revoke API tokens
# ----------------------------------------------------------------------------------------------------------------
def register_api_cli(app: Flask) -> None:
    import click

    @app.cli.command("create-token")
    @click.argument("username")
    @click.option("--name", default="命令行创建", help="令牌名称")
    def create_token_cmd(username: str, name: str):
        """为用户创建 API 令牌（明文只显示这一次）。"""
        s = app.extensions["db_factory"]()
        try:
            user = s.scalar(select(User).where(User.username == username))
            if user is None or not user.active:
                raise click.ClickException(f"用户不存在或已停用：{username}")
            row, secret = new_token(s, user, name)
            click.echo(f"令牌 #{row.id}（{row.name}）已为 {user.username} 创建，请妥善保存（只显示这一次）：")
            click.echo(secret)
        finally:
            s.close()

    @app.cli.command("revoke-token")
    @click.argument("token_id", type=int)
    def revoke_token_cmd(token_id: int):
        """吊销 API 令牌。"""
        s = app.extensions["db_factory"]()
        try:
            with transaction(s):
                row = s.get(ApiToken, token_id)
                if row is None:
                    raise click.ClickException(f"令牌不存在：{token_id}")
                row.revoked = True
            click.echo(f"令牌 #{token_id} 已吊销")
        finally:
            s.close()
