"""JSON API under /api/v1 (session or bearer token), errors as JSON with a code and a Chinese message.

Authentication (checked before every route but the public ones):

* ``Authorization: Bearer <token>`` — an API token (only its sha256 is stored; revocable; expires after
  API_TOKEN_DAYS; revoked by an administrator's password reset and by deactivation; last use recorded). A bad,
  revoked or expired token is 401 and never falls back to the session.
* otherwise the browser session (Flask-Login). The blueprint is CSRF-exempt at the app level, so the check is here:
  a session request with an unsafe method must carry a valid ``X-CSRFToken`` header (400 ``csrf_failed``), unless
  CSRF is switched off for the whole app (``WTF_CSRF_ENABLED = False``, as Flask-WTF's own check does).
* neither → 401 JSON (never a redirect to the login page).

Authorisation is by role (declared on the route) and by scope: cases are fetched through
`queries.get_case` / `list_cases` / `inbox` (404 out of scope) and task actions are checked by the services
(`can_act`: lane + unit → 403). Every error is ``{"error": {"code", "message", "details"}}`` (webapp/security.py,
the API's own errors in errors.py).

Each route is declared with :func:`route`, which also registers its OpenAPI operation (openapi.py). The routes live
in one module per resource, imported at the end of this file:

    meta.py         ping, the OpenAPI document
    tokens.py       who am I, API tokens
    cases.py        list, start, detail, timeline, withdraw
    drafts.py       a draft application and the material files uploaded to it (what a start counts as received)
    messages.py     objections (R7), 核销 (R8) — idempotent by key
    tasks.py        inbox, complete, claim, release, return, transfer
    materials.py    upload an owed item, download a stored file (webapp/uploads.py checks and stores)
    documents.py    a case's documents, the archived PDF
    definitions.py  versions, BPMN XML, deploy
    parsing.py      request bodies, fields, paging, idempotency keys, the JSON reply
    serialize.py    cases, tasks and materials as JSON
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import wraps

from flask import Blueprint, current_app, g, request
from flask_login import current_user
from flask_wtf.csrf import validate_csrf
from jsonschema import Draft202012Validator
from wtforms import ValidationError

from webapp import input_guard
from webapp.api import errors, parsing
from webapp.api import openapi as oa
from webapp.api.errors import CsrfFailed, Unauthorized
from webapp.config import current_config
from webapp.db import db_session
from webapp.security import OFFICER_ROLES, LoginUser
from workflows.domain.actors import Actor
from workflows.domain.errors import Forbidden, NotFound
from workflows.domain.models import ApiToken, Case, User
from workflows.infra.db import transaction
from workflows.services import queries, sessions

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api/v1")
errors.install(bp)

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
ALL_ROLES = ("applicant",) + OFFICER_ROLES + ("admin",)
_PUBLIC: set[str] = set()


# ----------------------------------------------------------------------------------------------------------------
# Authentication
# ----------------------------------------------------------------------------------------------------------------
def new_token(session, user: User, name: str, days: int | None = None) -> tuple[ApiToken, str]:
    """Create a token for `user`, valid for `days` (default API_TOKEN_DAYS); returns the row and the secret (shown
    once, never stored)."""
    with transaction(session):
        return sessions.create_token(session, user.id, name, days or current_config()["API_TOKEN_DAYS"])


@bp.before_request
def _authenticate():
    g.api_user, g.api_auth, g.api_token_id, g.api_actor = None, None, None, None
    if request.endpoint in _PUBLIC:
        return None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("认证方式无效：请使用 Authorization: Bearer <令牌>")
        s = db_session()
        try:
            token, user = sessions.token_user(s, value.strip())
        except sessions.TokenRefused as e:
            s.rollback()
            raise Unauthorized(e.message, details=e.details) from None
        g.api_user, g.api_auth, g.api_token_id = LoginUser(user, ""), "token", token.id
        g.api_actor = Actor.from_user(user)
        if sessions.token_needs_touch(token):
            with transaction(s):  # record the use now: the route's own transaction may roll back
                sessions.touch_token(s, token)
        # Otherwise the read transaction goes on into the route (one connection checkout per request; a service
        # call commits it, `reply` ends it).
        return None
    if current_user.is_authenticated:
        g.api_user, g.api_auth = current_user._get_current_object(), "session"
        g.api_actor = current_user.actor
        if request.method not in SAFE_METHODS and current_app.config.get("WTF_CSRF_ENABLED", True):
            try:
                validate_csrf(request.headers.get("X-CSRFToken") or request.headers.get("X-CSRF-Token"))
            except ValidationError as e:
                raise CsrfFailed(
                    "CSRF 校验失败：会话认证的请求须在 X-CSRFToken 请求头中携带有效令牌", details={"reason": str(e)}
                ) from e
        return None
    raise Unauthorized("请先登录或提供 API 令牌（Authorization: Bearer …）")


def actor() -> Actor:
    """Who is acting in this request (set by `_authenticate`)."""
    return g.api_actor


def scoped_case(case_no: str) -> Case:
    """The case if the caller's scope includes it (404 otherwise)."""
    return queries.get_case(db_session(), actor(), case_no)


# ----------------------------------------------------------------------------------------------------------------
# Route declaration: the Flask rule, the role check and the OpenAPI operation in one place
# ----------------------------------------------------------------------------------------------------------------
def route(
    rule: str,
    method: str,
    *,
    summary: str,
    tags: Iterable[str],
    responses: dict,
    roles: Iterable[str] = ALL_ROLES,
    errors: Iterable[int] = (),
    body: dict | None = None,
    parameters: Iterable[dict] = (),
    public: bool = False,
    description: str = "",
) -> Callable:
    roles = tuple(roles)
    query_params = [p for p in parameters if p.get("in") == "query"]
    body_schema = ((body or {}).get("content") or {}).get("application/json", {}).get("schema")
    body_check = Draft202012Validator({**body_schema, "components": {"schemas": oa.SCHEMAS}}) if body_schema else None
    path_params = {name: oa.PATH_PARAMS[name][1] for name in oa.rule_params(rule) if name in oa.PATH_PARAMS}

    def deco(fn):
        @wraps(fn)
        def view(*args, **kwargs):
            if not public and g.api_user.role not in roles:
                raise Forbidden("您的角色无权使用该接口")
            # what the OpenAPI document promises is what is enforced: the declared query parameters (type, enum,
            # length, range), and path segments beyond their documented length are not found
            check_query(query_params)
            check_path(path_params, kwargs)
            g.api_body_check = body_check  # applied by parsing.body(), after the route's own scope checks
            return fn(*args, **kwargs)

        bp.add_url_rule(rule, fn.__name__, view, methods=[method])
        if public:
            _PUBLIC.add(f"{bp.name}.{fn.__name__}")
        doc_roles = () if public or set(roles) == set(ALL_ROLES) else roles
        oa.register(
            bp.url_prefix + rule,
            method,
            oa.operation(
                operation_id=fn.__name__,
                summary=summary,
                tags=tags,
                responses=responses,
                # what the checks above can answer is documented with the rest
                errors=set(errors)
                | ({422} if query_params or body_check else set())
                | ({404} if path_params else set()),
                body=body,
                parameters=parameters,
                public=public,
                description=description,
                roles=doc_roles,
            ),
        )
        return view

    return deco


def check_query(params: list[dict]) -> None:
    """422 for a declared query parameter that breaks its schema (given twice, not an integer, outside the enum,
    too long, out of range)."""
    for p in params:
        name, schema = p["name"], p.get("schema") or {}
        values = request.args.getlist(name)
        if not values:
            if p.get("required"):
                raise errors.field_error(name, "此项为必填项")
            continue
        if len(values) > 1:
            raise errors.field_error(name, "只能出现一次")
        value: object = values[0]
        if schema.get("type") == "integer":
            try:
                value = input_guard.bounded_int(value)
            except (ValueError, input_guard.MalformedInput):
                raise errors.field_error(name, "须为整数（取值范围见接口文档）") from None
        problem = next(iter(Draft202012Validator(schema).iter_errors(value)), None)
        if problem is not None:
            raise errors.field_error(name, parsing.schema_problem(problem))


def check_path(schemas: dict[str, dict], values: dict) -> None:
    for name, schema in schemas.items():
        if name in values and next(iter(Draft202012Validator(schema).iter_errors(values[name])), None) is not None:
            raise NotFound("不存在或不在您的查看范围内")


# The routes: each module declares its own with `route` above (they import this package, so they come last).
from webapp.api import (  # noqa: E402,F401
    cases,
    decisions,
    definitions,
    documents,
    drafts,
    incidents,
    materials,
    messages,
    meta,
    migrations,
    registers,
    simulation,
    tasks,
    tokens,
)
