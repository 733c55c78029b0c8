"""What an administrator repairing an incident does to a restored instance: read and set a case variable, fire a
broken timer now or pass a failed automatic step, re-arm the timers, and check that a corrected version of the
definition can carry the instance on (every element it has reached exists there with the same type).

No database here: services.incident_actions holds the transaction and the audit trail.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from workflows.domain.errors import EngineIncident, ValidationFailed
from workflows.engine.instances import _all_tasks, _has_timer, run_until_stable, specs_for

# tasks that hold the data the next step runs on: open, waiting, or stopped by an error
LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
MAX_SKIP_ROUNDS = 20


def _live_tasks(wf: BpmnWorkflow) -> list:
    return [t for t in _all_tasks(wf) if t.state & LIVE]


def _element(task) -> str:
    return getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name


def variables(wf: BpmnWorkflow) -> dict[str, Any]:
    """The case's current variables: the data of its open and waiting tasks (the latest wins), else the last task's."""
    tasks = sorted(_live_tasks(wf), key=lambda t: t.last_state_change or 0)
    if not tasks:
        done = sorted(_all_tasks(wf), key=lambda t: t.last_state_change or 0)
        tasks = done[-1:]
    out: dict[str, Any] = {}
    for t in tasks:
        out.update(t.data)
    return out


def _spec_of(wf: BpmnWorkflow, element_id: str | None):
    if not element_id:
        return None
    for spec in (wf.spec, *wf.subprocess_specs.values()):
        for ts in spec.task_specs.values():
            if ts.name == element_id or getattr(ts, "bpmn_id", None) == element_id:
                return ts
    return None


def _expressions(ts) -> Iterator[str]:
    for attr in ("script", "prescript", "postscript"):
        text = getattr(ts, attr, None)
        if isinstance(text, str) and text:
            yield text
    definition = getattr(ts, "event_definition", None)
    for part in getattr(definition, "event_definitions", None) or [definition]:
        text = getattr(part, "expression", None)
        if isinstance(text, str) and text:
            yield text
    for param in (getattr(ts, "operation_params", None) or {}).values():
        value = param.get("value") if isinstance(param, dict) else None
        if isinstance(value, str) and value:
            yield value


def referenced_names(wf: BpmnWorkflow, element_id: str | None) -> list[str]:
    """The variable names the element's scripts and expressions read: the data relevant to its failure."""
    ts = _spec_of(wf, element_id)
    if ts is None:
        return []
    names: list[str] = []
    for text in _expressions(ts):
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id not in names:
                names.append(node.id)
    return names


def is_user_task(wf: BpmnWorkflow, element_id: str | None) -> bool:
    ts = _spec_of(wf, element_id)
    return ts is not None and bool(ts.manual)


def element_type(wf: BpmnWorkflow, element_id: str | None) -> str | None:
    ts = _spec_of(wf, element_id)
    return type(ts).__name__ if ts is not None else None


def _rearm(task) -> None:
    """A waiting timer evaluates its expression again at the next look (from the corrected data or definition)."""
    task.internal_data.pop("event_value", None)
    task.internal_data.pop("event_fired", None)


def set_variable(wf: BpmnWorkflow, name: str, value: Any) -> tuple[bool, Any]:
    """Set `name` in the data of every open and waiting task and re-arm the waiting timers. (was set, old value)."""
    tasks = _live_tasks(wf)
    if not tasks:
        raise ValidationFailed("该办件没有待办或等待中的环节，无法修改变量")
    current = variables(wf)
    for t in tasks:
        t.data[name] = value
        # a waiting task takes its parent's data again whenever it is looked at (SpiffWorkflow's _inherit_data)
        if t.parent is not None:
            t.parent.data[name] = value
        if t.state == TaskState.WAITING and _has_timer(t):
            _rearm(t)
    return name in current, current.get(name)


def rearm_timers(wf: BpmnWorkflow) -> int:
    n = 0
    for t in _all_tasks(wf):
        if t.state == TaskState.WAITING and _has_timer(t):
            _rearm(t)
            n += 1
    return n


def _fire_now(task) -> None:
    """Treat a waiting timer as due now (its broken value is not looked at again)."""
    task.internal_data["event_value"] = datetime.now(UTC).isoformat()
    task.internal_data["event_fired"] = True


def _pass(wf: BpmnWorkflow, element_id: str) -> bool:
    """Complete the element's live automatic task without running it; True when there was one."""
    for t in _live_tasks(wf):
        if _element(t) != element_id or t.task_spec.manual:
            continue
        if t.state == TaskState.WAITING and _has_timer(t):
            _fire_now(t)
        else:
            t.complete()
        return True
    return False


def skip_and_run(wf: BpmnWorkflow, element_id: str) -> bool:
    """Pass the element (a waiting timer fires now, a failed or ready automatic step is completed without running)
    and run on; the element failing again later in the run is passed too. False when the run never reached it."""
    reached = _pass(wf, element_id)
    for _ in range(MAX_SKIP_ROUNDS):
        try:
            run_until_stable(wf)
            return reached
        except EngineIncident as e:
            if e.element_id != element_id or not _pass(wf, element_id):
                raise
            reached = True
    raise EngineIncident("跳过的环节反复出错，已停止", element_id=element_id)


def spec_problems(wf: BpmnWorkflow, sha256: str, spec_dict: dict) -> list[str]:
    """What keeps the instance from going on under another version: each element it has reached that the target
    lacks or has with another type (an empty list: the instance can be restored on the target as it stands)."""
    spec, subprocess_specs = specs_for(sha256, spec_dict)
    target: dict[str, str] = {}
    for s in (spec, *subprocess_specs.values()):
        for name, ts in s.task_specs.items():
            target.setdefault(name, type(ts).__name__)
    problems = []
    seen = set()
    for t in _all_tasks(wf):
        name, kind = t.task_spec.name, type(t.task_spec).__name__
        if name in seen:
            continue
        seen.add(name)
        if name not in target:
            problems.append(f"目标版本缺少环节 {name}")
        elif target[name] != kind:
            problems.append(f"环节 {name} 的类型在目标版本中不同（{kind} → {target[name]}）")
    return problems
