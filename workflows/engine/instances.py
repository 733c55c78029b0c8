"""The SpiffWorkflow wrapper: create, restore, run until stable, and read what the instance waits for.

No database here: services hand in the stored spec and state and get back what to store.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from threading import Lock
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition as BaseMessageEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.exc import SQLAlchemyError

from workflows.domain.actors import LANE_ROLES
from workflows.domain.errors import Conflict, DomainError, EngineFailure, EngineIncident
from workflows.engine import serialization, timers
from workflows.engine.scripting import ScriptError, make_script_engine
from workflows.engine.timers import TimerValueError

timers.install()  # every timer value is checked (ISO 8601, bounds) before SpiffWorkflow uses it

MAX_ROUNDS = 100  # timers that fire more timers; a real process settles in a handful
TIMER_EVENTS = {"TimeDateEventDefinition", "DurationTimerEventDefinition", "CycleTimerEventDefinition"}

_spec_cache: OrderedDict[str, tuple] = OrderedDict()
_spec_lock = Lock()


def specs_for(sha256: str, spec_dict: dict) -> tuple:
    """Restore a definition's spec once per process (it is never edited once published)."""
    with _spec_lock:
        hit = _spec_cache.get(sha256)
        if hit is not None:
            _spec_cache.move_to_end(sha256)
            return hit
    specs = serialization.spec_from_dict(spec_dict)
    with _spec_lock:
        _spec_cache[sha256] = specs
        while len(_spec_cache) > 64:
            _spec_cache.popitem(last=False)
    return specs


def new_workflow(sha256: str, spec_dict: dict, data: dict, operations: dict) -> BpmnWorkflow:
    spec, subprocess_specs = specs_for(sha256, spec_dict)
    wf = BpmnWorkflow(spec, subprocess_specs, script_engine=make_script_engine(operations=operations))
    wf.data.update(data)
    start = wf.get_next_task(state=TaskState.READY)
    if start is not None:
        start.data.update(data)
    return wf


def restore_workflow(state: str, sha256: str, spec_dict: dict, operations: dict) -> BpmnWorkflow:
    specs = specs_for(sha256, spec_dict)
    with engine_errors():  # a state that no longer loads is the case's incident, not a 500 on every page
        return serialization.workflow_from_state(state, specs, make_script_engine(operations=operations))


def dump_state(wf: BpmnWorkflow) -> str:
    with engine_errors():  # e.g. a value the serializer cannot write: the case's fault, not a 500
        return serialization.state_to_json(wf)


def _all_tasks(wf: BpmnWorkflow):
    """Every task of the instance and its subprocesses: plain dict walks, much cheaper than get_tasks' iterator."""
    yield from wf.tasks.values()
    for sp in wf.subprocesses.values():
        yield from sp.tasks.values()


def _runnable(wf: BpmnWorkflow) -> bool:
    """Is any automatic task READY (one `do_engine_steps` would run)?"""
    return any(t.state == TaskState.READY and not t.task_spec.manual for t in _all_tasks(wf))


def run_until_stable(wf: BpmnWorkflow) -> None:
    """Fire due timers and run automatic tasks until nothing more moves (the library does neither alone).

    `do_engine_steps` runs READY automatic tasks until none is left and then refreshes the timers; a timer that came
    due leaves its catch task READY, so another round is needed exactly when something is READY. (Checking that with
    a walk over the task dicts, not another full round of the library's task iterator, is what keeps this cheap.)"""
    with engine_errors():
        for _ in range(MAX_ROUNDS):
            wf.do_engine_steps()
            if not _runnable(wf):
                return
        raise EngineIncident("流程在一次推进中循环次数过多，已停止（请检查流程定义中的定时器与循环）")


@contextmanager
def engine_errors() -> Iterator[None]:
    """What the engine raises, as domain errors: a service operator's refusal of this input stays an EngineFailure
    (the user or an administrator fixes the input or the calendar and tries again); a script, a timer value or the
    library failing is an EngineIncident (the case waits for an administrator). A database error is re-raised as
    itself (transient: the request answers 5xx, the sweep retries)."""
    try:
        yield
    except DomainError:
        raise
    except ScriptError as e:
        raise EngineIncident(f"流程脚本错误：{e.message}") from e
    except TimerValueError as e:
        raise EngineIncident(e.message, element_id=e.element_id, element_name=e.element_name) from e
    except SpiffWorkflowException as e:
        _raise_database_error(e)
        task = getattr(e, "task", None)
        element_id = (getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name) if task is not None else None
        element_name = task.task_spec.bpmn_name if task is not None else None
        cause = e.__cause__ or getattr(e, "exception", None)
        if isinstance(cause, TimerValueError):
            raise EngineIncident(cause.message, element_id=element_id, element_name=element_name) from e
        if _operator_refusal(e, cause):
            raise EngineFailure(f"流程执行错误：{_spiff_message(e)}") from e
        raise EngineIncident(
            f"流程执行错误：{_spiff_message(e)}", element_id=element_id, element_name=element_name
        ) from e
    except RecursionError as e:
        raise EngineIncident(f"流程引擎出错：{e.__class__.__name__}") from e
    except Exception as e:  # the library itself (TypeError, OverflowError …): never a bare 500, never silent
        _raise_database_error(e)
        raise EngineIncident(f"流程引擎出错：{e.__class__.__name__}: {e}") from e


def _operator_refusal(e: SpiffWorkflowException, cause: BaseException | None) -> bool:
    """A service operator refused on purpose (a domain error, or a ValueError such as an unknown calendar year)."""
    task = getattr(e, "task", None)
    is_service = task is not None and hasattr(task.task_spec, "operation_name")
    return is_service and isinstance(cause, (DomainError, ValueError)) and not isinstance(cause, ScriptError)


def _raise_database_error(e: BaseException | None) -> None:
    """A database error under a service operation is not the definition's fault and is often transient (a restart,
    a failover): re-raise it as itself, so the web answers 5xx and the timer sweep retries instead of marking the
    case as broken."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, SQLAlchemyError):
            raise e
        e = e.__cause__ or getattr(e, "exception", None)


def _spiff_message(e: Exception) -> str:
    parts = [str(e)]
    task = getattr(e, "task", None)
    if task is not None:
        parts.append(f"（环节：{task.task_spec.bpmn_name or task.task_spec.name}）")
    cause = e.__cause__ or getattr(e, "exception", None)
    if isinstance(cause, ScriptError):
        parts.append(cause.message)
    return "".join(parts)


@dataclass
class ReadyTask:
    task_id: str
    spec_name: str
    title: str
    lane: str | None
    role: str
    form: str | None
    due_working_days: int | None
    due_date: date | None
    hold_reason: str | None
    rule_id: str | None


def ready_user_tasks(wf: BpmnWorkflow) -> list[ReadyTask]:
    out = []
    for t in wf.get_tasks(state=TaskState.READY, manual=True):
        spec = t.task_spec
        props = (getattr(spec, "extensions", None) or {}).get("properties", {}) or {}
        due = props.get("dueWorkingDays")
        due_date = None
        if props.get("dueDateExpression"):  # a legal deadline computed by the process, e.g. filing['due'] (R6)
            try:
                value = wf.script_engine.evaluate(t, props["dueDateExpression"])
                due_date = date.fromisoformat(str(value)[:10]) if value else None
            except (SpiffWorkflowException, ValueError, TypeError):
                due_date = None
        out.append(
            ReadyTask(
                task_id=str(t.id),
                spec_name=spec.name,
                title=spec.bpmn_name or spec.name,
                lane=spec.lane,
                role=LANE_ROLES.get(spec.lane or "", "unit_hr"),
                form=props.get("formJsonSchemaFilename"),
                due_working_days=int(due) if due not in (None, "") else None,
                due_date=due_date,
                hold_reason=props.get("holdReason") or None,
                rule_id=props.get("ruleId") or None,
            )
        )
    return out


def waiting(wf: BpmnWorkflow) -> tuple[datetime | None, set[str]]:
    """The earliest timer due time and the message names the instance waits for.

    `waiting_events()` hides both inside an event-based gateway (a MultipleEventDefinition with no name or value),
    so read the waiting tasks' event definitions and the due time the timer stored when it was armed.
    """
    next_at: datetime | None = None
    messages: set[str] = set()
    for task in list(wf.event_manager.tasks.values()):
        definition = task.task_spec.event_definition
        parts = getattr(definition, "event_definitions", None) or [definition]
        for part in parts:
            kind = type(part).__name__
            if isinstance(part, BaseMessageEventDefinition):
                messages.add(part.name)
            elif kind in TIMER_EVENTS:
                value = task._get_internal_data("event_value")
                if isinstance(value, str) and value:
                    at = datetime.fromisoformat(value)
                    if next_at is None or at < next_at:
                        next_at = at
    return next_at, messages


def complete_user_task(wf: BpmnWorkflow, task_id: str, data: dict):
    try:
        task = wf.get_task_from_id(UUID(task_id))
    except (ValueError, KeyError):
        task = None
    if task is None or task.state != TaskState.READY or not task.task_spec.manual:
        raise Conflict("该环节已被处理或不在待办状态，请刷新后重试")
    task.data.update(data)
    with engine_errors():
        task.run()
    return task


def send_message(wf: BpmnWorkflow, name: str, payload: dict) -> None:
    try:
        wf.send_event(BpmnEvent(MessageEventDefinition(name), payload=payload))
    except WorkflowException as e:
        raise Conflict(f"该办件当前不在等待“{name}”消息") from e


def tasks_completed_since(wf: BpmnWorkflow, since: float) -> list:
    """Tasks finished in this run (for rule decisions recorded from task properties)."""
    return [t for t in _all_tasks(wf) if t.state == TaskState.COMPLETED and (t.last_state_change or 0) >= since]


def rule_decisions(wf: BpmnWorkflow, since: float) -> list[tuple[str, str, dict]]:
    """(rule id, step title, the data it changed) of each script or decision-table task finished since `since` that
    carries a `ruleId` property (service operators record their own decisions; user tasks are people's)."""
    out = []
    for t in tasks_completed_since(wf, since):
        spec = t.task_spec
        props = (getattr(spec, "extensions", None) or {}).get("properties", {}) or {}
        rule_id = props.get("ruleId")
        if not rule_id or spec.manual or hasattr(spec, "operation_name"):
            continue
        parent = t.parent.data if t.parent is not None else {}
        out.append((rule_id, spec.bpmn_name or spec.name, {k: v for k, v in t.data.items() if parent.get(k) != v}))
    return out


def _task(wf: BpmnWorkflow, task_id: str):
    try:
        return wf.get_task_from_id(UUID(task_id))
    except (ValueError, KeyError, AttributeError, TypeError):
        return None


def _completed_user_steps_before(task):
    """The completed user tasks on the path that led to `task`, nearest first."""
    node = task.parent
    while node is not None:
        if node.task_spec.manual and node.state == TaskState.COMPLETED:
            yield node
        node = node.parent


def returnable_steps(wf: BpmnWorkflow, task_id: str, excluded_lane: str) -> list[tuple[str, str]]:
    """(spec name, title) of the completed steps before the open task `task_id`, nearest first, outside `excluded_lane`."""
    task = _task(wf, task_id)
    if task is None:
        return []
    out, seen = [], set()
    for node in _completed_user_steps_before(task):
        spec = node.task_spec
        if spec.name not in seen and getattr(spec, "lane", None) != excluded_lane:
            seen.add(spec.name)
            out.append((spec.name, spec.bpmn_name or spec.name))
    return out


def reset_to_earlier_step(wf: BpmnWorkflow, task_id: str, spec_name: str) -> str | None:
    """Send the instance back to the completed step `spec_name` before the open task: its title, or None when no
    such step was done on the way to this task."""
    task = _task(wf, task_id)
    earlier = (
        next((n for n in _completed_user_steps_before(task) if n.task_spec.name == spec_name), None)
        if task is not None
        else None
    )
    if earlier is None:
        return None
    wf.reset_from_task_id(earlier.id)
    return earlier.task_spec.bpmn_name


def update_ready_user_tasks(wf: BpmnWorkflow, data: dict) -> None:
    """Put corrected data into every open user task (what the next form submission carries on)."""
    for t in wf.get_tasks(state=TaskState.READY, manual=True):
        t.data.update(data)


def patch_results(wf: BpmnWorkflow, match: dict, patch: dict) -> int:
    """Correct an operator's result wherever the instance carries it: every task's data value that is a dict holding
    all of `match` gets `patch`. A waiting timer whose data changed is re-armed (its due time is evaluated again from
    the corrected data at the next refresh). Returns how many tasks changed."""
    changed = 0
    for t in _all_tasks(wf):
        hit = False
        for value in t.data.values():
            if isinstance(value, dict) and all(value.get(k) == v for k, v in match.items()):
                value.update(patch)
                hit = True
        if hit:
            changed += 1
            if t.state == TaskState.WAITING and _has_timer(t):
                t.internal_data.pop("event_value", None)
                t.internal_data.pop("event_fired", None)
    return changed


def _has_timer(task) -> bool:
    """A timer catch event, or an event-based gateway's waiting task whose events include a timer (the due time
    is kept on that task either way)."""
    definition = getattr(task.task_spec, "event_definition", None)
    parts = getattr(definition, "event_definitions", None) or [definition]
    return any(type(p).__name__ in TIMER_EVENTS for p in parts)


def result_dicts(wf: BpmnWorkflow) -> list[dict]:
    """Every dict value of every task's data (operator results among them)."""
    return [v for t in _all_tasks(wf) for v in t.data.values() if isinstance(v, dict)]


def element_states(wf: BpmnWorkflow) -> tuple[set[str], set[str]]:
    """(element ids completed, element ids waiting on a timer or message)."""
    done = {t.task_spec.name for t in wf.get_tasks(state=TaskState.COMPLETED)}
    waiting_on = {t.task_spec.name for t in wf.get_tasks(state=TaskState.WAITING)}
    return done, waiting_on


def is_completed(wf: BpmnWorkflow) -> bool:
    return wf.is_completed()


def cancel(wf: BpmnWorkflow) -> None:
    wf.cancel()


# -- replay (workflows/services/simulation.py): a case's history run on another definition, in memory only ---------
def new_replay_workflow(sha256: str, spec_dict: dict, data: dict, resolve) -> BpmnWorkflow:
    """A new instance whose service tasks take their results from `resolve(element, operator, params, data)`."""
    from workflows.engine.scripting import ReplayScriptEngine

    spec, subprocess_specs = specs_for(sha256, spec_dict)
    wf = BpmnWorkflow(spec, subprocess_specs, script_engine=ReplayScriptEngine(resolve))
    wf.data.update(data)
    start = wf.get_next_task(state=TaskState.READY)
    if start is not None:
        start.data.update(data)
    return wf


def _elements_in_order(wf: BpmnWorkflow) -> list:
    """Completed tasks that are elements of the diagram (not the library's own start/end bookkeeping), in the order
    they finished."""
    done = [t for t in _all_tasks(wf) if t.state == TaskState.COMPLETED and getattr(t.task_spec, "bpmn_id", None)]
    return sorted(done, key=lambda t: t.last_state_change or 0)


def path(wf: BpmnWorkflow) -> list[tuple[str, str]]:
    """(element id, name) of every completed element, in the order they finished."""
    return [(t.task_spec.name, t.task_spec.bpmn_name or t.task_spec.name) for t in _elements_in_order(wf)]


def initial_data(wf: BpmnWorkflow) -> dict | None:
    """The data the instance was started with (kept on its start task), or None when the tree no longer has it."""
    for t in _all_tasks(wf):
        if type(t.task_spec).__name__ == "BpmnStartTask" and t.workflow is wf:
            return dict(t.data)
    return None


def service_results(wf: BpmnWorkflow) -> dict[str, list[dict]]:
    """What each service task returned, by element id, in the order the calls finished (a loop calls it again)."""
    out: dict[str, list[dict]] = {}
    for t in _elements_in_order(wf):
        name = getattr(t.task_spec, "operation_name", None)
        var = getattr(t.task_spec, "result_variable", None)
        if name and var and isinstance(t.data.get(var), dict):
            out.setdefault(t.task_spec.name, []).append(t.data[var])
    return out


def ready_user_task_ids(wf: BpmnWorkflow) -> dict[str, str]:
    """Element id → task id of the open user tasks."""
    return {t.task_spec.name: str(t.id) for t in wf.get_tasks(state=TaskState.READY, manual=True)}


def waiting_elements(wf: BpmnWorkflow) -> list[tuple[str, str]]:
    """(element id, name) of what the instance waits on: open user tasks, timers and messages."""
    out = []
    for t in _all_tasks(wf):
        spec = t.task_spec
        if not getattr(spec, "bpmn_id", None):
            continue
        waits_for_event = t.state == TaskState.WAITING and getattr(spec, "event_definition", None) is not None
        if (t.state == TaskState.READY and spec.manual) or waits_for_event:  # not a join waiting for its branches
            out.append((spec.name, spec.bpmn_name or spec.name))
    return out


def element_names(sha256: str, spec_dict: dict) -> dict[str, str]:
    """Element id → name of every element of a definition (and its subprocesses)."""
    spec, subprocess_specs = specs_for(sha256, spec_dict)
    return {
        name: (s.bpmn_name or name)
        for one in [spec, *subprocess_specs.values()]
        for name, s in one.task_specs.items()
        if getattr(s, "bpmn_id", None)
    }


def gateways(sha256: str, spec_dict: dict) -> set[str]:
    """The element ids of a definition's gateways (plumbing, where a path difference lists the steps people see)."""
    spec, subprocess_specs = specs_for(sha256, spec_dict)
    return {
        name
        for one in [spec, *subprocess_specs.values()]
        for name, s in one.task_specs.items()
        if getattr(s, "bpmn_id", None) and "Gateway" in type(s).__name__
    }


def desk_roles_reached(wf: BpmnWorkflow) -> set[str]:
    """The roles of the user tasks opened so far (open or done): an officer's desk reached means accepted."""
    return {
        LANE_ROLES.get(t.task_spec.lane or "", "unit_hr")
        for t in _all_tasks(wf)
        if t.task_spec.manual and t.state in (TaskState.READY, TaskState.COMPLETED)
    }


def last_call_of(wf: BpmnWorkflow, operator: str) -> tuple[str, str] | None:
    """(element id, name) of the service task that last called `operator` (e.g. close_case: how the case ended)."""
    calls = [t for t in _elements_in_order(wf) if getattr(t.task_spec, "operation_name", None) == operator]
    return (calls[-1].task_spec.name, calls[-1].task_spec.bpmn_name or calls[-1].task_spec.name) if calls else None
