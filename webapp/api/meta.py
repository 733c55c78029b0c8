"""Meta: the health check and the OpenAPI document (both public)."""

from __future__ import annotations

from flask import current_app, jsonify

from webapp.api import openapi as oa
from webapp.api import route


@route(
    "/ping",
    "GET",
    summary="健康检查",
    tags=["meta"],
    public=True,
    responses={"200": oa.json_response({"type": "object", "properties": {"status": {"const": "ok"}}}, "正常")},
)
def ping():
    return jsonify({"status": "ok"})


@route(
    "/openapi.json",
    "GET",
    summary="本接口的 OpenAPI 3.1 文档",
    tags=["meta"],
    public=True,
    responses={"200": oa.json_response({"type": "object"}, "OpenAPI 文档")},
)
def openapi_document():
    return jsonify(oa.document(cookie_name=current_app.config.get("SESSION_COOKIE_NAME") or "session"))
