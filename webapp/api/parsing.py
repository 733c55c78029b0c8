"""Reading a request (the JSON body, typed fields, paging, the Idempotency-Key header) and writing the reply."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from flask import g, jsonify, request
from jsonschema.exceptions import best_match

from webapp import input_guard
from webapp.api.errors import BadRequest, InvalidJson, field_error
from workflows.domain.errors import ValidationFailed

MAX_PER_PAGE = 100


def body() -> dict:
    """The JSON object of the request (empty body → {}); anything that is not a JSON object is 400."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        value = input_guard.loads(raw)
    except UnicodeDecodeError:
        raise InvalidJson("请求体不是有效的 JSON") from None
    except ValueError as e:  # not JSON, nested too deep, or holding NUL
        reason = str(e) if str(e).startswith("JSON ") else ""
        raise InvalidJson("请求体不是有效的 JSON" + (f"：{reason}" if reason else "")) from None
    if not isinstance(value, dict):
        raise InvalidJson("请求体须为 JSON 对象")
    check = g.get("api_body_check")
    if check is not None:  # the schema the OpenAPI document gives for this route's body (webapp/api route())
        _check_body(check, value)
    return value


def _check_body(validator, data: dict) -> None:
    """422 for a JSON body that breaks its documented schema (called when the route reads its body: after the
    route's scope checks, so an out-of-scope case is still 404 whatever the body)."""
    problem = best_match(validator.iter_errors(data))
    if problem is None:
        return
    path = [str(p) for p in problem.absolute_path]
    if problem.validator == "required":
        missing = next((f for f in problem.validator_value if f not in (problem.instance or {})), "")
        raise field_error(".".join(path + [missing]) or "body", "此项为必填项")
    if problem.validator == "additionalProperties":
        raise field_error(".".join(path) or "body", "包含未定义的字段")
    if problem.validator == "type":
        raise field_error(".".join(path) or "body", f"类型不正确（须为 {problem.validator_value}）")
    raise field_error(".".join(path) or "body", schema_problem(problem))


def schema_problem(problem) -> str:
    if problem.validator == "enum":
        return "取值无效，可选：" + "、".join(str(v) for v in problem.validator_value)
    if problem.validator == "maxLength":
        return f"内容过长（最多 {problem.validator_value} 个字符）"
    if problem.validator in ("minimum", "maximum"):
        return f"取值超出范围（{problem.validator}: {problem.validator_value}）"
    if problem.validator == "minLength":
        return "此项不能为空" if problem.validator_value == 1 else f"内容过短（至少 {problem.validator_value} 个字符）"
    if problem.validator == "pattern":
        return "格式不正确"
    return "取值无效"


def str_field(data: dict, name: str, *, required: bool = False, max_len: int = 2000, default: str = "") -> str:
    value = data.get(name)
    if value is None:
        if required:
            raise field_error(name, "此项为必填项")
        return default
    if not isinstance(value, str):
        raise field_error(name, "类型不正确（须为字符串）")
    if required and not value.strip():
        raise field_error(name, "此项为必填项")
    if len(value) > max_len:
        raise field_error(name, f"内容过长（最多 {max_len} 字）")
    return value


def only_fields(data: dict, allowed: Iterable[str]) -> None:
    extra = sorted(set(data) - set(allowed))
    if extra:
        raise ValidationFailed(
            "提交的内容有误，请按提示修改", details={"fields": {k: "包含未定义的字段" for k in extra}}
        )


def page_args(per_page: int) -> dict[str, int]:
    """The list routes' ?page= and ?per_page= (default `per_page`, at most MAX_PER_PAGE), as keywords."""
    return {"page": int_arg("page", 1), "per_page": int_arg("per_page", per_page, 1, MAX_PER_PAGE)}


def int_arg(name: str, default: int, lo: int = 1, hi: int = input_guard.MAX_INT) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = input_guard.bounded_int(raw)
    except (ValueError, input_guard.MalformedInput):
        if raw.lstrip("+-").isascii() and raw.lstrip("+-").isdigit():
            value = hi + 1  # an integer beyond any id or page: out of range, below
        else:
            raise field_error(name, "须为整数") from None
    if value < lo or (hi is not None and value > hi):
        raise field_error(name, f"取值须在 {lo}–{hi} 之间" if hi else f"取值不能小于 {lo}")
    return value


def idempotency_key(required: bool) -> str | None:
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


def reply(payload: Any, status: int = 200, headers: dict | None = None):
    """The JSON response (the request's session ends at teardown)."""
    resp = jsonify(payload)
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp
