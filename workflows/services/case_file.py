"""The 卷宗 of a case: everything on record about it, gathered as plain data for `documents.case_file` to render.

`gather(session, actor, case_no, read_file)` returns a dict (strings, numbers, lists; times already in Asia/Shanghai
as "YYYY-MM-DD HH:MM") and the files to append, as bytes:

* the case (办件编号, 事项, 申请人, 单位, 主管部门, 状态, 收件/受理/办结 and the other dates the rules set);
* the application data, every start-form field with its label and its value in words;
* every opinion and decision: the officers' entries in their steps (with the labels of the step's form), the rule
  decisions with the rule's id, title, source and clause (from `workflows.domain.rules.RULES`), returns, comments;
* the audit trail (every event, with the short hash of the chain);
* the issued documents (their archived PDFs, superseded versions included and marked) and the materials (the stored
  file of each received item, in checklist order).

Read only: nothing is written, numbered or archived — the 卷宗 is a view of the record at the moment it is made. Scope
is the caller's: the case is fetched with `queries.get_case` (404 outside the actor's scope). Uploaded files are read
through `read_file(sha256) -> bytes | None`, which the web layer passes (its upload store); a file that cannot be read
is listed with `content=None`, never an error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.domain import outcomes, procedures
from workflows.domain.actors import ROLE_LABELS, Actor
from workflows.domain.clock import local_time, now_utc
from workflows.domain.models import CaseEvent, Document, Unit, User
from workflows.domain.rules import RULES
from workflows.services import queries
from workflows.services.archive import display_code, procedure_of
from workflows.services.dossier import MATERIAL_STATUS, QUOTA_SOURCES, display, form_fields

ReadFile = Callable[[str], bytes | None]

STATUS_LABELS = outcomes.STATUS_LABELS
# a message event's task name is the BPMN message's name
MESSAGE_LABELS = {
    "objection": "公示异议",
    "rongque_supplied": "容缺材料补齐",
    "special_post_writeoff": "特设岗位提前核销",
    "material": "补交材料",
}
DOC_STATUS = {"pending": "正在生成", "issued": "当前有效", "superseded": "已被替代"}
ACTION_LABELS = {
    "submitted": "提交申请",
    "task_opened": "环节开始",
    "task_completed": "办理完成",
    "decision": "规则判定",
    "accepted": "受理",
    "returned": "退回补正",
    "resubmitted": "重新提交",
    "transferred": "转交",
    "comment": "办理意见",
    "claimed": "认领",
    "released": "释放",
    "closed": "办结",
    "hold": "暂停计时",
    "resume": "恢复计时",
    "material_received": "收到材料",
    "message": "收到消息",
    "timer": "定时器",
    "quota": "编制",
    "publicity": "公示",
    "deadline": "期限",
    "breach": "违诺记录",
    "special_post": "特设岗位",
    "notification": "提醒",
    "document": "文书",
    "withdrawn": "撤回",
    "rated": "评价",
    "engine_error": "异常",
    "migrated": "迁移流程版本",
    "incident_data_fix": "修复数据",
    "incident_retry": "异常重试",
    "incident_skip": "跳过出错环节",
    "incident_cancel": "异常终止办理",
    "hire_type": "聘用类型",
}
# Payload keys of a rule decision that say what was decided, in the order they are shown.
REASON_KEYS = ("reason", "eligibility_reason", "note", "outcome", "source", "status", "due", "accepted_on")
REASON_LABELS = {
    "reason": "理由",
    "eligibility_reason": "资格判定",
    "note": "说明",
    "outcome": "结果",
    "source": "编制来源",
    "status": "材料状态",
    "due": "期限",
    "accepted_on": "受理日期",
}
OUTCOMES = {s: o.label for s, o in outcomes.OUTCOMES.items()}
MATERIAL_STATES = {"complete": "材料齐全", "rongque": "关键材料齐全（容缺）", "incomplete": "材料不全"}


def iso_day(value: date | None) -> str:
    return value.isoformat() if value is not None else ""


def _rule(rule_id: str | None, recorded: str | None) -> dict | None:
    if not rule_id:
        return None
    r = RULES.get(rule_id)
    if r is None:
        return {"id": rule_id, "title": "", "source": "", "clause": recorded or ""}
    return {"id": r.id, "title": r.title, "source": r.source, "clause": r.clause}


def _decision_lines(payload: dict) -> list[tuple[str, str]]:
    lines = []
    for key in REASON_KEYS:
        v = payload.get(key)
        if v in (None, "", [], {}):
            continue
        if key == "outcome":
            v = OUTCOMES.get(v, v)
        elif key == "source":
            v = QUOTA_SOURCES.get(v, v)
        elif key == "status":
            v = MATERIAL_STATES.get(v, v)
        lines.append((REASON_LABELS[key], str(v)))
    for key, label in (("owed", "容缺材料"), ("missing_key", "缺少关键材料")):
        if payload.get(key):
            lines.append((label, "、".join(str(x) for x in payload[key])))
    return lines


def _summary(ev: CaseEvent, fields: dict, names: dict[str, str]) -> str:
    """One line saying what an audit event recorded."""
    p = ev.payload or {}
    if ev.action == "task_completed":
        return "；".join(
            f"{fields.get(k, (k, {}))[0]}：{_field_value(k, v, fields)}" for k, v in (p.get("data") or {}).items()
        )
    if ev.action == "returned":
        return f"退回至{'申请人' if p.get('target') == 'applicant' else p.get('target', '')}：{p.get('reason', '')}"
    if ev.action == "transferred":
        return f"转交 {names.get(p.get('to') or '', p.get('to') or '')}"
    if ev.action == "comment":
        return str(p.get("text", ""))
    if ev.action == "task_opened":
        return f"{ROLE_LABELS.get(p.get('role', ''), p.get('role', ''))}，期限 {p.get('due') or '—'}"
    if ev.action == "document":
        return f"{p.get('doc_no') or '无发文字号'}"
    if ev.action == "material_received":
        return str(p.get("file_name") or p.get("code") or "")
    return "；".join(f"{k}：{v}" for k, v in _decision_lines(p))


def _field_value(name: str, value: Any, fields: dict) -> str:
    return display(name, value, options=fields.get(name, (name, {}))[1])


def gather(session: Session, actor: Actor, case_no: str, read_file: ReadFile) -> dict:
    """The 卷宗's data (see the module docstring). Raises NotFound outside the actor's scope."""
    case = queries.get_case(session, actor, case_no)
    # labelled as the version of its matter the case started on
    proc = procedure_of(session, case) if case.procedure in procedures.PROCEDURES else None
    # the two units it names: the case's office and its supervisor
    unit = session.get(Unit, case.unit_code)
    parent = session.get(Unit, unit.parent_code) if unit is not None and unit.parent_code else None
    unit_name = unit.name if unit is not None else case.unit_code
    trail = queries.timeline(session, case)
    usernames = {e.actor for e in trail} | {str((e.payload or {}).get("to") or "") for e in trail} | {actor.username}
    rows = session.execute(select(User.username, User.display_name).where(User.username.in_(usernames))).all()
    names: dict[str, str] = {u: d for u, d in rows}
    names.setdefault("system", "系统")
    fields = form_fields(case)

    application = []
    data = case.start_data or {}
    if proc is not None:
        for name, prop in proc.start_properties.items():
            application.append({"label": str(prop.get("title") or name), "value": display(name, data.get(name))})
    application.append({"label": "用人单位", "value": unit_name})

    opinions: list[dict] = []
    for ev in trail:
        p = ev.payload or {}
        who = names.get(ev.actor, ev.actor)
        base = {"at": local_time(ev.at), "who": who, "title": ev.task_name or ACTION_LABELS.get(ev.action, ev.action)}
        if ev.action == "task_completed":
            lines = [(fields.get(k, (k, {}))[0], _field_value(k, v, fields)) for k, v in (p.get("data") or {}).items()]
            desk = ROLE_LABELS.get(p.get("role", ""), "")
            opinions.append({**base, "kind": "opinion", "desk": desk, "lines": lines, "rule": None})
        elif ev.action == "returned":
            target = "申请人" if p.get("target") == "applicant" else str(p.get("target", ""))
            lines = [("退回至", target), ("理由", str(p.get("reason", "")))]
            opinions.append(
                {**base, "kind": "return", "desk": "", "lines": lines, "rule": _rule(ev.rule_id, ev.clause)}
            )
        elif ev.action == "comment":
            lines = [("意见", str(p.get("text", "")))]
            opinions.append({**base, "kind": "comment", "desk": "", "lines": lines, "rule": None})
        elif ev.rule_id:
            label = ACTION_LABELS.get(ev.action, ev.action)
            opinions.append(
                {
                    **base,
                    "kind": "decision",
                    "desk": label,
                    "lines": _decision_lines(p),
                    "rule": _rule(ev.rule_id, ev.clause),
                }
            )

    events = [
        {
            "seq": ev.seq,
            "at": local_time(ev.at),
            "who": names.get(ev.actor, ev.actor),
            "action": ACTION_LABELS.get(ev.action, ev.action),
            "task": (MESSAGE_LABELS.get(ev.task_name or "", ev.task_name) if ev.action == "message" else ev.task_name)
            or "",
            "rule_id": ev.rule_id or "",
            "summary": _summary(ev, fields, names),
            "hash": (ev.hash or "")[:16],
        }
        for ev in trail
    ]

    docs = list(session.scalars(select(Document).where(Document.case_id == case.id).order_by(Document.id)))
    documents = []
    for d in docs:
        content = bytes(d.pdf) if d.sha256 and d.pdf else None
        documents.append(
            {
                "title": d.title,
                "doc_no": d.doc_no,
                "version": d.version,
                "status": DOC_STATUS.get(d.status, d.status),
                "superseded": d.status == "superseded",
                "verify_code": display_code(d.verify_code),
                "issue_date": iso_day(d.issue_date),
                "issued_at": local_time(d.issued_at),
                "sha256": d.sha256 or "",
                "content": content,
            }
        )
    latest = next((d for d in reversed(docs) if d.status == "issued" and d.sha256), None)

    materials = []
    for m in case.materials:
        content = None
        if m.sha256:
            try:
                content = read_file(m.sha256)
            except Exception:  # a store that cannot be read: the 卷宗 lists the file as unreadable
                content = None
        materials.append(
            {
                "code": m.code,
                "name": m.name,
                "is_key": m.is_key,
                "status": MATERIAL_STATUS.get(m.status, m.status),
                "received": m.status == "received",
                "received_at": local_time(m.received_at),
                "deadline": iso_day(m.deadline),
                "file_name": m.file_name or "",
                "sha256": m.sha256 or "",
                "content": content,
            }
        )

    return {
        "case": {
            "case_no": case.case_no,
            "procedure": proc.name if proc is not None else case.procedure,
            "applicant_name": case.applicant_name,
            "id_number": case.id_number,
            "unit_name": unit_name,
            "supervisor": parent.name if parent is not None else "",
            "status": STATUS_LABELS.get(case.status, case.status),
            "outcome": case.outcome_reason or "",
            "outcome_rule": case.outcome_rule or "",
            "received_at": local_time(case.created_at),
            "accepted_on": iso_day(case.accepted_on),
            "closed_at": local_time(case.closed_at),
            "promised_on": iso_day(case.promised_on),
            "rongque_deadline": iso_day(case.rongque_deadline),
            "complete_on": iso_day(case.complete_on),
            "filing_due_on": iso_day(case.filing_due_on),
            "definition_version": case.definition.version,
        },
        "generated_at": local_time(now_utc()),
        "generated_by": names.get(actor.username) or actor.username,
        "verify": (
            {"code": display_code(latest.verify_code), "title": latest.title, "doc_no": latest.doc_no}
            if latest is not None
            else None
        ),
        "application": application,
        "opinions": opinions,
        "events": events,
        "documents": documents,
        "materials": materials,
    }
