"""Simulation before publish: a definition version replayed against the recorded history of recent cases
(administrators; reads only — workflows/services/simulation.py)."""

from __future__ import annotations

from flask import request

from webapp.api import openapi as oa
from webapp.api import route
from webapp.api.parsing import reply
from webapp.db import db_session
from workflows.domain.errors import NotFound
from workflows.domain.models import ProcessDefinition
from workflows.services import simulation


@route(
    "/definitions/<int(max=2147483647):def_id>/simulation",
    "GET",
    summary="模拟：用近期办件的历史记录回放此版本（不写入任何数据）",
    tags=["definitions"],
    roles=("admin",),
    errors=(404, 422),
    parameters=[
        oa.query(
            "limit",
            f"回放最近办结的多少个办件（默认 {simulation.DEFAULT_CASES}）",
            {"type": "integer", "minimum": 1, "maximum": simulation.MAX_CASES},
        ),
        oa.query("include_running", "1：也回放办理中的办件", {"type": "string", "enum": ["0", "1"]}),
    ],
    description="每个办件按其审计记录中的表单提交、消息、退回与定时器触发时间在内存中回放；服务环节取实际办理时的结果。"
    "verdict：same、path_changed、different、stalled、not_replayable。",
    responses={"200": oa.json_response(oa.ref("SimulationReport"), "逐个办件的模拟结果")},
)
def simulate_definition(def_id: int):
    s = db_session()
    row = s.get(ProcessDefinition, def_id)
    if row is None:
        raise NotFound("流程定义不存在")
    report = simulation.simulate(
        s,
        row.process_id,
        row.version,
        limit=int(request.args.get("limit") or simulation.DEFAULT_CASES),
        include_running=request.args.get("include_running") == "1",
    )
    return reply(report.as_dict())
