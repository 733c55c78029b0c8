"""The API's own errors: each a `DomainError` with a stable English code, an HTTP status and a Chinese message.

webapp/security.py turns every `DomainError` under /api/ into ``{"error": {"code", "message", "details"}}``;
:func:`install` adds the two handlers that are the blueprint's own (a stale write, a request body over the cap) and
the headers every API response carries.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, jsonify, request
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.db import db_session
from workflows.domain.errors import Conflict, DefinitionInvalid, DomainError, ValidationFailed


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


def definition_refused(e: DefinitionInvalid, subject: str, what: str) -> ValidationFailed:
    """A refused BPMN/DMN definition as a 422: details.errors lists each problem with the element (or DMN cell),
    line and file it concerns."""
    return ValidationFailed(
        f"{subject}未通过校验（{len(e.errors)} 个问题），{what}", details={"errors": [asdict(x) for x in e.errors]}
    )


def field_error(name: str, message: str) -> ValidationFailed:
    """422 with the problem of one field (details.fields)."""
    return ValidationFailed("提交的内容有误，请按提示修改", details={"fields": {name: message}})


def install(bp: Blueprint) -> None:
    @bp.errorhandler(StaleDataError)
    def _stale(_e):
        db_session().rollback()
        err = Conflict("办件已被他人更新，请刷新后重试")
        return jsonify({"error": err.to_dict()}), err.status

    @bp.errorhandler(RequestEntityTooLarge)
    def _too_large(_e):
        limit = request.max_content_length
        err = PayloadTooLarge(
            "请求体或上传的文件过大" + (f"（不能超过 {limit // (1024 * 1024)} MB）" if limit else ""),
            details={"max_bytes": limit} if limit else None,
        )
        return jsonify({"error": err.to_dict()}), err.status

    @bp.after_request
    def _headers(resp):
        if resp.status_code == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp
