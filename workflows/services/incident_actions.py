"""The administrators' repair of an incident (workflows/services/incidents.py): retry, skip with a reason, cancel with a
reason, and setting a case variable. Each is one transaction on the locked case, audited in its hash chain (who,
what, why) and resolves the open incident; a retry or skip that fails again leaves the case errored with a new
incident carrying the new message (the failed attempt changed nothing), never a 500.

- **retry** runs the case's instance on from where it stands (after the data was fixed, or on the published version
  of its process when that can carry it: every element the case has reached exists there with the same type; the
  waiting timers are then re-armed so a corrected expression is read again).
- **skip** passes the failed element: a waiting timer fires now, a failed script or service step is completed
  without running. A person's step is never skipped (that is the desk's decision), and an element the stored case
  does not reach (the failure happened inside a desk's submission that was rolled back) cannot be: fix and retry, or
  cancel.
- **cancel** ends the case as `terminated` (终止办理): handling stops without a decision on the merits. `refused` and
  `not_accepted` are decisions on the application under a rule, `withdrawn` is the applicant's own act and
  `completed` an approval, so none of them says what happened. Reserved 编制 is released; the applicant is told
  the reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from workflows.domain.actors import Actor
from workflows.domain.clock import now_utc
from workflows.domain.errors import Conflict, EngineIncident, Forbidden, NotFound, ValidationFailed
from workflows.domain.models import CaseIncident, MessageSubscription, ProcessDefinition
from workflows.engine import repair
from workflows.infra.db import forget_after_rollback, transaction
from workflows.services import quota
from workflows.services.audit import append_events
from workflows.services.definitions import published_definition
from workflows.services.runtime import CaseRun, lock_case

MAX_REASON = 500
MAX_VALUE_CHARS = 20_000
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


@dataclass
class IncidentView:
    """What the incident page shows: the incident, where the case stands, and its data relevant to the failure."""

    incident: CaseIncident
    relevant: dict[str, Any] = field(default_factory=dict)  # the variables the failed element reads
    variables: dict[str, Any] = field(default_factory=dict)  # every current variable
    done: set[str] = field(default_factory=set)
    waiting: set[str] = field(default_factory=set)
    element_type: str | None = None
    can_skip: bool = False
    published_version: int | None = None
    case_version: int | None = None
    load_error: str | None = None


def _admin(actor: Actor) -> None:
    if actor.role != "admin":
        raise Forbidden("只有系统管理员可以处理异常办件")


def _reason(reason: str | None, required: bool = True) -> str:
    text = (reason or "").strip()
    if required and not text:
        raise ValidationFailed("请填写原因")
    if len(text) > MAX_REASON:
        raise ValidationFailed(f"原因不能超过 {MAX_REASON} 字")
    return text


def get_incident(session: Session, incident_id: int) -> CaseIncident:
    incident = session.get(CaseIncident, incident_id)
    if incident is None:
        raise NotFound("异常记录不存在")
    return incident


def view(session: Session, incident_id: int, actor: Actor) -> IncidentView:
    """The incident with the case's position and data, read from its stored instance (nothing written)."""
    _admin(actor)
    incident = get_incident(session, incident_id)
    case = incident.case
    out = IncidentView(incident)
    current = session.get(ProcessDefinition, case.definition_id)
    out.case_version = current.version if current is not None else None
    published = session.scalar(
        select(ProcessDefinition.version).where(
            ProcessDefinition.process_id == (current.process_id if current else case.procedure),
            ProcessDefinition.status == "published",
        )
    )
    out.published_version = published
    if incident.resolved_at is not None or case.status != "error":
        return out
    run = CaseRun(session, case, actor)
    try:
        with session.no_autoflush:
            wf = _restore(run, incident)
    except EngineIncident as e:  # a state that no longer loads: shown, not a 500 (and not recorded again)
        forget_after_rollback(session)
        out.load_error = e.message
        return out
    finally:
        session.expire(case)  # _restore set the status on the loaded row: discarded, never written
    out.variables = repair.variables(wf)
    names = repair.referenced_names(wf, incident.element_id)
    out.relevant = {n: out.variables[n] for n in names if n in out.variables}
    out.done, out.waiting = run.element_states()
    out.element_type = repair.element_type(wf, incident.element_id)
    out.can_skip = bool(incident.element_id) and not repair.is_user_task(wf, incident.element_id)
    return out


def _restore(run: CaseRun, incident: CaseIncident):
    """Restore the errored case's instance (the status it had before, so CaseRun lets it load)."""
    run.case.status, run.case.error = incident.previous_status, None
    return run.restore()


def _open_incident(session: Session, incident_id: int, actor: Actor):
    _admin(actor)
    incident = get_incident(session, incident_id)
    case = lock_case(session, case_id=incident.case_id)
    session.refresh(incident)
    if incident.resolved_at is not None or case.status != "error":
        raise Conflict("该异常已处理，请刷新页面")
    return case, incident


def _resolve(incident: CaseIncident, actor: Actor, resolution: str, reason: str | None) -> None:
    incident.resolved_at = now_utc()
    incident.resolved_by = actor.username
    incident.resolution = resolution
    incident.resolution_reason = reason or None


def _about(incident: CaseIncident) -> dict:
    return {"incident_id": incident.id, "element": incident.element_id, "error": incident.message}


def retry(session: Session, incident_id: int, actor: Actor, use_published: bool = False, reason: str = ""):
    """Run the case on from where it stands (on the published version of its process when asked)."""
    reason = _reason(reason, required=False)
    with transaction(session):
        case, incident = _open_incident(session, incident_id, actor)
        moved = None
        if use_published:
            moved = _to_published(session, case, incident, actor)
        run = CaseRun(session, case, actor)
        _restore(run, incident)
        if moved is not None:
            repair.rearm_timers(run.wf)  # the corrected expressions are read again
        _resolve(incident, actor, "retry", reason)
        run.record(
            "incident_retry", None, incident.element_name, reason=reason or None, version=moved, **_about(incident)
        )
        run.run_and_save()
    return case


def _to_published(session: Session, case, incident: CaseIncident, actor: Actor) -> dict | None:
    """Move the case onto its process's published version when its instance fits there; None when it is on it."""
    current = session.get(ProcessDefinition, case.definition_id)
    if current is None:
        raise NotFound("流程定义不存在")
    target = published_definition(session, current.process_id)
    if target.id == current.id:
        return None
    run = CaseRun(session, case, actor)
    wf = _restore(run, incident)
    problems = repair.spec_problems(wf, target.sha256, target.spec)
    if problems:
        raise Conflict(
            f"当前发布版本 v{target.version} 不能直接接续该办件：" + "；".join(problems[:5]),
            details={"problems": problems},
        )
    case.definition_id = target.id
    return {"from": current.version, "to": target.version}


def skip(session: Session, incident_id: int, actor: Actor, reason: str):
    """Pass the failed element (a timer fires now, an automatic step is completed unrun) and run on."""
    reason = _reason(reason)
    with transaction(session):
        case, incident = _open_incident(session, incident_id, actor)
        run = CaseRun(session, case, actor)
        wf = _restore(run, incident)
        element = incident.element_id
        if not element or repair.element_type(wf, element) is None:
            raise ValidationFailed("该异常没有记录出错的环节，不能跳过：请修复后重试，或取消办件")
        if repair.is_user_task(wf, element):
            raise ValidationFailed("人工办理环节不能跳过：请修复后重试，或取消办件")
        _resolve(incident, actor, "skip", reason)
        run.record("incident_skip", None, incident.element_name, reason=reason, **_about(incident))
        try:
            reached = repair.skip_and_run(wf, element)
        except EngineIncident as e:  # failing further on: a new incident with the new message
            run._incident(e)
            raise
        if not reached:
            raise ValidationFailed(
                "办件当前状态未到达该环节（出错发生在经办人提交时，提交未生效），不能跳过：请修复后重试，或取消办件"
            )
        run._rule_decisions()
        run.save()
    return case


def cancel(session: Session, incident_id: int, actor: Actor, reason: str):
    """End the case as 终止办理 with the reason (reserved 编制 released, the applicant told)."""
    reason = _reason(reason)
    with transaction(session):
        case, incident = _open_incident(session, incident_id, actor)
        run = CaseRun(session, case, actor)
        try:
            _restore(run, incident)
            run.cancel()
        except EngineIncident:  # a state that no longer loads ends as it stands: nothing of it runs again
            run.wf = None
        settled = quota.settle_case(session, case, consume=False)
        case.status, case.closed_at, case.error = "terminated", now_utc(), None
        case.outcome_rule, case.outcome_reason = None, reason
        _resolve(incident, actor, "cancel", reason)
        run.record("incident_cancel", None, incident.element_name, reason=reason, **_about(incident))
        run.record("closed", None, "终止办理", outcome="terminated", reason=reason, quota=settled)
        run.ctx.notifications.append({"to": "applicant", "kind": "case_terminated"})
        if run.wf is not None:
            run.save()
        else:
            case.next_timer_at, case.waiting_messages = None, []
            case.open_tasks.clear()
            session.execute(delete(MessageSubscription).where(MessageSubscription.case_id == case.id))
            run._send_notifications()
            append_events(session, case, run.ctx.events)
    return case


def parse_value(text: str) -> Any:
    """A variable's new value typed as JSON text (the incident page's form)."""
    if len(text or "") > MAX_VALUE_CHARS:
        raise ValidationFailed(f"变量值不能超过 {MAX_VALUE_CHARS} 个字符")
    try:
        value = json.loads(text, parse_constant=_not_a_number)
    except (TypeError, ValueError, RecursionError) as e:
        raise ValidationFailed(f"变量值不是合法的 JSON：{e.__class__.__name__}") from e
    check_value(value)
    return value


def _not_a_number(name: str):
    raise ValueError(f"{name} 不是 JSON 数值")


def check_value(value: Any) -> None:
    """What a case variable may hold: storable JSON of sensible size, no key named typename (spiff-arena#1712)."""
    if _has_key(value, "typename"):
        raise ValidationFailed("变量值中不能含有名为 typename 的键")
    if len(json.dumps(value, ensure_ascii=False)) > MAX_VALUE_CHARS:
        raise ValidationFailed(f"变量值不能超过 {MAX_VALUE_CHARS} 个字符")


def set_variable(session: Session, incident_id: int, actor: Actor, name: str, value: Any, reason: str = ""):
    """Fix the case's data: set one variable (a JSON value) in its open and waiting steps, audited with the value
    before and after. The waiting timers are re-armed; the case stays errored until a retry."""
    _admin(actor)
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise ValidationFailed("变量名须以字母开头，只含字母、数字和下划线（最长 64 个字符）")
    check_value(value)
    reason = _reason(reason, required=False)
    with transaction(session):
        case, incident = _open_incident(session, incident_id, actor)
        run = CaseRun(session, case, actor)
        wf = _restore(run, incident)
        existed, before = repair.set_variable(wf, name, value)
        run.record(
            "incident_data_fix",
            None,
            incident.element_name,
            variable=name,
            before=before if existed else None,
            existed=existed,
            after=value,
            reason=reason or None,
            incident_id=incident.id,
        )
        run.save()
        # the repaired data waits for the administrator's retry: the case stays paused until then
        case.status, case.error = "error", incident.message
    return case


def _has_key(value: Any, key: str, depth: int = 0) -> bool:
    if depth > 64:
        raise ValidationFailed("变量值嵌套过深")
    if isinstance(value, dict):
        return key in value or any(_has_key(v, key, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_has_key(v, key, depth + 1) for v in value)
    return False
