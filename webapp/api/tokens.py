"""Who am I, and API tokens: list, create (in a browser session only), revoke."""

from __future__ import annotations

import logging

from flask import g
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from webapp.api import new_token, route
from webapp.api import openapi as oa
from webapp.api.parsing import body, only_fields, reply, str_field
from webapp.api.serialize import iso_time
from webapp.db import db_session
from workflows.domain.clock import as_utc, now_utc
from workflows.domain.errors import Forbidden, NotFound
from workflows.domain.models import ApiToken, User
from workflows.infra.db import transaction

log = logging.getLogger(__name__)


def token_out(t: ApiToken) -> dict:
    return {
        "id": t.id,
        "name": t.name,
        "created_at": iso_time(t.created_at),
        "last_used_at": iso_time(t.last_used_at),
        "expires_at": iso_time(t.expires_at),
        "expired": as_utc(t.expires_at) <= now_utc(),
        "revoked": bool(t.revoked),
    }


@route(
    "/auth/me",
    "GET",
    summary="当前用户（会话认证时附 CSRF 令牌）",
    tags=["auth"],
    responses={"200": oa.json_response(oa.ref("Me"), "当前用户")},
)
def me():
    u = g.api_user
    return reply(
        {
            "id": u.user_id,
            "username": u.username,
            "display_name": u.display_name,
            "role": u.role,
            "unit_code": u.unit_code,
            "auth": g.api_auth,
            "csrf_token": generate_csrf() if g.api_auth == "session" else None,
        }
    )


@route(
    "/auth/tokens",
    "GET",
    summary="我的 API 令牌",
    tags=["auth"],
    responses={"200": oa.json_response(oa.list_of("Token"), "令牌列表（不含明文）")},
)
def list_tokens():
    s = db_session()
    rows = s.scalars(select(ApiToken).where(ApiToken.user_id == g.api_user.user_id).order_by(ApiToken.id))
    return reply({"items": [token_out(t) for t in rows]})


@route(
    "/auth/tokens",
    "POST",
    summary="为自己创建 API 令牌（仅限登录会话；明文只返回一次）",
    tags=["auth"],
    body=oa.json_body(oa.ref("TokenCreateRequest"), required=False),
    errors=(403, 422),
    description="只能在浏览器登录会话中创建（须带 X-CSRFToken）；用令牌认证的请求不能再创建令牌。",
    responses={"201": oa.json_response(oa.ref("TokenCreated"), "已创建；token 为明文，只显示这一次")},
)
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


@route(
    "/auth/tokens/<int(max=2147483647):token_id>",
    "DELETE",
    summary="吊销 API 令牌",
    tags=["auth"],
    errors=(404,),
    description="本人的令牌；系统管理员可吊销任何令牌。",
    responses={"204": {"description": "已吊销"}},
)
def revoke_token(token_id: int):
    s = db_session()
    with transaction(s):
        row = s.get(ApiToken, token_id)
        if row is None or (row.user_id != g.api_user.user_id and g.api_user.role != "admin"):
            raise NotFound("令牌不存在")
        row.revoked = True
    log.info("api token %s revoked by %s", token_id, g.api_user.username)
    return "", 204
