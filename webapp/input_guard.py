"""Malformed input is refused in one place, before any route or query sees it: a clear 400 (JSON under /api/, a
page elsewhere), never a 500 from the database or the parser.

* NUL characters — in the path, the query string, form fields (PostgreSQL text cannot hold them) or JSON strings;
* integers out of range — every ``request.args/form.get(..., type=int)`` and every ``<int:…>`` URL segment is
  bounded to a 32-bit id (a page number of 2^63 overflowed the OFFSET, a huge id the primary key);
* JSON nested deeper than :data:`MAX_JSON_DEPTH` — through ``request.get_json()`` (the app's JSON provider) and
  the API's own body parser (webapp/api/parsing.py) alike.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Request, g, has_request_context, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import IntegerConverter

from workflows.domain.errors import DomainError

MAX_INT = 2**31 - 1  # ids and page numbers: the database's integer
MAX_JSON_DEPTH = 64  # no request of ours nests deeper than a few levels


class MalformedInput(DomainError):
    code = "bad_request"
    status = 400


def bounded_int(value: Any) -> int:
    """`int(value)` for a request value: ValueError for what is not an integer (the caller's default applies, as with
    `type=int`), 400 for an integer no id or page number can be."""
    text = str(value).strip()
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"not an integer: {text[:20]!r}")
    if len(digits) > 10 or int(digits) > MAX_INT:
        raise MalformedInput(f"数值超出范围（不能大于 {MAX_INT}）")
    return int(text)


def _has_nul(pairs) -> bool:
    return any("\x00" in key or (isinstance(value, str) and "\x00" in value) for key, value in pairs)


class GuardedMultiDict(ImmutableMultiDict):
    """The query string and form fields: no NUL characters, `get(..., type=int)` bounded."""

    def __init__(self, mapping=None):
        super().__init__(mapping)
        if _has_nul(self.items(multi=True)) and has_request_context() and not g.get("_nul_refused"):
            # refused once; the error page that follows reads the same arguments (its language) without a NUL
            g._nul_refused = True
            raise MalformedInput("请求中含有空字符（NUL），无法处理")

    def get(self, key, default=None, type=None):  # noqa: A002 (werkzeug's signature)
        return super().get(key, default, bounded_int if type is int else type)


class GuardedRequest(Request):
    parameter_storage_class = GuardedMultiDict


class BoundedIntConverter(IntegerConverter):
    """`<int:…>` segments: an id beyond the database's integer matches no route (404), never an overflow."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=MAX_INT if max is None else max, signed=signed)


def check_json(value: Any) -> Any:
    """`value` (parsed JSON) unless it nests deeper than MAX_JSON_DEPTH or holds a NUL character (ValueError)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"JSON 嵌套过深（最多 {MAX_JSON_DEPTH} 层）")
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for k, v in children:
                if isinstance(k, str) and "\x00" in k:
                    raise ValueError("JSON 中含有空字符（NUL）")
                stack.append((v, depth + 1))
        elif isinstance(item, str) and "\x00" in item:
            raise ValueError("JSON 中含有空字符（NUL）")
    return value


def loads(text: str | bytes) -> Any:
    """json.loads for request bodies: too deep for the parser, too deep for us or holding NUL → ValueError."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"JSON 嵌套过深（最多 {MAX_JSON_DEPTH} 层）") from None
    return check_json(value)


class GuardedJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if kwargs:
            return super().loads(s, **kwargs)
        return loads(s)


def install(app: Flask) -> None:
    """Before any blueprint registers its rules (the converter applies to rules added afterwards)."""
    app.request_class = GuardedRequest
    app.url_map.converters["int"] = BoundedIntConverter
    provider = GuardedJSONProvider(app)
    provider.ensure_ascii = False  # Chinese in JSON as itself
    app.json = provider

    @app.before_request
    def _no_nul_in_path():
        if "\x00" in request.path and not g.get("_nul_refused"):
            g._nul_refused = True
            raise MalformedInput("请求地址中含有空字符（NUL），无法处理")
