"""Process definitions: the versions, the BPMN XML of one, deploying a new version (administrators)."""

from __future__ import annotations

import json
import logging
import re

from flask import current_app, g, request, url_for
from sqlalchemy import select

from webapp.api import openapi as oa
from webapp.api import route
from webapp.api.errors import definition_refused, field_error
from webapp.api.parsing import body, only_fields, reply, str_field
from webapp.api.serialize import iso_time
from webapp.db import db_session
from webapp.security import OFFICER_ROLES
from workflows.domain.errors import DefinitionInvalid, NotFound
from workflows.domain.models import ProcessDefinition
from workflows.infra.db import transaction
from workflows.services import decisions
from workflows.services.definitions import bpmn_dir, deploy

log = logging.getLogger(__name__)
PROCESS_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def definition_out(d: ProcessDefinition) -> dict:
    return {
        "id": d.id,
        "process_id": d.process_id,
        "name": d.name,
        "version": d.version,
        "status": d.status,
        "sha256": d.sha256,
        "created_at": iso_time(d.created_at),
        "created_by": d.created_by,
        "xml_url": url_for("api.definition_xml", def_id=d.id),
        "release_notes": list(d.release_notes or []),
    }


@route(
    "/definitions",
    "GET",
    summary="流程定义的各版本",
    tags=["definitions"],
    roles=OFFICER_ROLES + ("admin",),
    parameters=[
        oa.query(
            "process_id", "只列此流程", {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$"}
        )
    ],
    responses={"200": oa.json_response(oa.list_of("Definition"), "按流程、版本（新→旧）排列")},
)
def list_definitions():
    stmt = select(ProcessDefinition).order_by(ProcessDefinition.process_id, ProcessDefinition.version.desc())
    pid = request.args.get("process_id")
    if pid:
        stmt = stmt.where(ProcessDefinition.process_id == pid)
    return reply({"items": [definition_out(d) for d in db_session().scalars(stmt)]})


@route(
    "/definitions/<int(max=2147483647):def_id>/xml",
    "GET",
    summary="流程定义的 BPMN XML",
    tags=["definitions"],
    roles=OFFICER_ROLES + ("admin",),
    errors=(404,),
    responses={"200": {"description": "BPMN 2.0 XML", "content": {"application/xml": {"schema": {"type": "string"}}}}},
)
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
    resp = current_app.response_class(xml, mimetype="application/xml")
    resp.headers["Content-Disposition"] = f'inline; filename="{name}"' if name.isascii() else "inline"
    return resp


def _bundle_beside(session, process_id: str) -> tuple[dict, dict]:
    """DMN tables and forms a new version is deployed with: those of the current version, else the bundled ones."""
    current = session.scalar(
        select(ProcessDefinition)
        .where(ProcessDefinition.process_id == process_id)
        .order_by(ProcessDefinition.version.desc())
        .limit(1)
    )
    if current is not None:
        src = current.source or {}
        # the decision tables new cases use (published on /admin/decisions), not the copies the version carries
        return decisions.current_tables(session, dict(src.get("dmn") or {})), dict(src.get("forms") or {})
    d = bpmn_dir(current_app.config["BPMN_DIR"])
    dmn = {p.name: p.read_text("utf-8") for p in sorted(d.glob("*.dmn"))}
    forms = {p.name: json.loads(p.read_text("utf-8")) for p in sorted((d / "forms").glob("*.schema.json"))}
    return dmn, forms


@route(
    "/definitions",
    "POST",
    summary="部署流程定义的新版本",
    tags=["definitions"],
    roles=("admin",),
    body=oa.json_body(oa.ref("DeployDefinitionRequest")),
    errors=(422,),
    description="XSD 校验与 lint 不通过时返回 422，details.errors 列出每个问题（element_id、line、message）。"
    "同一内容（sha256 相同）再次部署返回已有版本（200）。",
    responses={
        "201": oa.json_response(oa.ref("Definition"), "已部署的新版本"),
        "200": oa.json_response(oa.ref("Definition"), "内容相同的已有版本"),
    },
)
def deploy_definition():
    data = body()
    only_fields(data, ("process_id", "bpmn_xml", "publish", "note"))
    process_id = str_field(data, "process_id", required=True, max_len=64).strip()
    if not PROCESS_ID.match(process_id):
        raise field_error("process_id", "格式不正确（字母或下划线开头，只含字母、数字、下划线）")
    xml = str_field(data, "bpmn_xml", required=True, max_len=5 * 1024 * 1024)
    publish = data.get("publish", True)
    if not isinstance(publish, bool):
        raise field_error("publish", "须为布尔值")
    note = str_field(data, "note", max_len=1000)  # required when it publishes (checked after validation)
    s = db_session()
    dmn, forms = _bundle_beside(s, process_id)
    before = set(s.scalars(select(ProcessDefinition.id).where(ProcessDefinition.process_id == process_id)))
    try:
        with transaction(s):
            row = deploy(
                s,
                process_id,
                {f"{process_id}.bpmn": xml},
                dmn,
                forms,
                by=g.api_user.username,
                publish=publish,
                note=note or None,
            )
    except DefinitionInvalid as e:
        raise definition_refused(e, "流程定义", "未部署") from e
    out = definition_out(row)
    log.info("definition %s v%s deployed through the API by %s", row.process_id, row.version, g.api_user.username)
    return reply(out, 200 if row.id in before else 201)
