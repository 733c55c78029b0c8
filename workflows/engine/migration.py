"""Moving a running instance onto another version of its process.

SpiffWorkflow 3.2.0 brings the mechanics (`SpiffWorkflow.bpmn.util.diff`): `diff_workflow` aligns the instance's
task specs with the target's (by element id first, then by structure) and `migrate_workflow` swaps the spec and resets
the READY/WAITING tasks so that what follows them is predicted again from the target. What it leaves to us:

- refusing what cannot move: an element where the case stands (open, waiting) that the target lacks or whose type
  changed (a user task become a service task, a timer become a message), a called process the target lacks, and any
  task of the history that would point to nothing (checked after the swap: every task must stand on a target spec);
- keeping what the reset throws away: the data of the open tasks (corrections put there) and the due time of a
  waiting timer whose definition did not change (a restarted 公示 or 容缺 period would move a legal date);
- the data the target's expressions read on the way ahead that the case does not have.
"""

from __future__ import annotations

import ast
import builtins
import copy
from dataclasses import dataclass, field
from threading import Lock

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.util.task import TaskState

from workflows.engine import serialization
from workflows.engine.instances import _all_tasks, _has_timer
from workflows.engine.specs import _KIND_NAMES

ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
RESET = TaskState.READY | TaskState.WAITING
# Structural specs SpiffWorkflow adds around the modelled elements: not something an administrator drew.
_INTERNAL = ("Start", "End", "Root")


@dataclass
class Element:
    element_id: str
    name: str
    kind: str  # Chinese label, e.g. 用户任务 · 定时器

    @property
    def label(self) -> str:
        return f"{self.kind}「{self.name}」({self.element_id})" if self.name else f"{self.kind} {self.element_id}"


@dataclass
class Check:
    """What a move onto the target means for one instance (before anything is changed)."""

    at: list[Element] = field(default_factory=list)  # where the case stands: open and waiting elements
    refusals: list[str] = field(default_factory=list)
    changed: list[Element] = field(default_factory=list)  # elements ahead of the case whose definition changed
    missing_data: list[str] = field(default_factory=list)  # names the target reads ahead that the case lacks


def _registry():
    return serialization.make_serializer().registry


# Restored specs are cached per definition and never change (instances.specs_for), so what is derived from them alone
# — a spec's dict, the alignment of two specs — is computed once per process, not once per case.
_converted: dict[int, tuple[object, dict]] = {}
_spec_diffs: dict[tuple[int, int], tuple[object, object, SpecDiff]] = {}
_cache_lock = Lock()


def _dict_of(spec) -> dict:
    hit = _converted.get(id(spec))
    if hit is None or hit[0] is not spec:
        hit = (spec, _registry().convert(spec))
        with _cache_lock:
            if len(_converted) > 20_000:
                _converted.clear()
            _converted[id(spec)] = hit
    return hit[1]


def _spec_diff(old, new) -> SpecDiff:
    key = (id(old), id(new))
    hit = _spec_diffs.get(key)
    if hit is None or hit[0] is not old or hit[1] is not new:
        hit = (old, new, SpecDiff(_registry(), old, new))
        with _cache_lock:
            if len(_spec_diffs) > 64:
                _spec_diffs.clear()
            _spec_diffs[key] = hit
    return hit[2]


def diff_workflow(wf: BpmnWorkflow, spec, deps: dict) -> tuple[WorkflowDiff, dict]:
    """`SpiffWorkflow.bpmn.util.diff.diff_workflow` with the spec alignments cached."""
    top = WorkflowDiff(wf, _spec_diff(wf.spec, spec))
    subs = {
        sp_id: WorkflowDiff(sp, _spec_diff(sp.spec, deps[sp.spec.name])) if sp.spec.name in deps else None
        for sp_id, sp in wf.subprocesses.items()
    }
    return top, subs


def _event_kinds(spec) -> tuple[str, ...]:
    definition = getattr(spec, "event_definition", None)
    if definition is None:
        return ()
    parts = getattr(definition, "event_definitions", None) or [definition]
    return tuple(sorted(type(p).__name__ for p in parts))


_EVENT_LABELS = {
    "TimeDateEventDefinition": "定时器",
    "DurationTimerEventDefinition": "定时器",
    "CycleTimerEventDefinition": "循环定时器",
    "MessageEventDefinition": "消息",
    "SignalEventDefinition": "信号",
    "ErrorEventDefinition": "错误",
    "EscalationEventDefinition": "升级",
    "ConditionalEventDefinition": "条件",
}


def kind_of(spec) -> tuple[str, tuple[str, ...]]:
    """What must stay the same for a case standing on this element: its class and the kinds of event it waits for."""
    return type(spec).__name__, _event_kinds(spec)


def kind_label(spec) -> str:
    name = type(spec).__name__
    label = _KIND_NAMES.get(name[:1].lower() + name[1:], name)
    events = [_EVENT_LABELS.get(k, k) for k in _event_kinds(spec)]
    return f"{label}（{'、'.join(dict.fromkeys(events))}）" if events else label


def element(spec) -> Element:
    return Element(getattr(spec, "bpmn_id", None) or spec.name, spec.bpmn_name or "", kind_label(spec))


def _modelled(spec) -> bool:
    return bool(getattr(spec, "bpmn_id", None)) and spec.name not in _INTERNAL


def _active(wf: BpmnWorkflow) -> list:
    return [t for t in _all_tasks(wf) if t.state & ACTIVE]


def where(wf: BpmnWorkflow) -> list[Element]:
    """The modelled elements the case stands on (open user tasks, waiting events and receive tasks; not a parallel
    join waiting for its other branch, which is no place an administrator would call a position)."""
    seen, out = set(), []
    for t in _active(wf):
        if _modelled(t.task_spec) and not isinstance(t.task_spec, Join) and t.task_spec.name not in seen:
            seen.add(t.task_spec.name)
            out.append(element(t.task_spec))
    return out


def check(wf: BpmnWorkflow, target: tuple, forms: dict | None = None) -> Check:
    """Can the instance move onto `target` ((spec, subprocess specs) restored)? Changes nothing."""
    spec, deps = target
    top, subs = diff_workflow(wf, spec, deps)
    out = Check(at=where(wf))
    for sp_id, sub_diff in subs.items():
        if sub_diff is None:
            name = wf.subprocesses[sp_id].spec.name
            out.refusals.append(f"调用的子流程 {name} 在目标版本中不存在")
    pairs = [(wf, top)] + [(wf.subprocesses[i], d) for i, d in subs.items() if d is not None]
    for sub_wf, diff in pairs:
        for task in sub_wf.tasks.values():
            if not (task.state & ACTIVE) or not _modelled(task.task_spec):
                continue
            new = diff.alignment.get(task)
            old = task.task_spec
            if new is None:
                out.refusals.append(f"办件所在的{element(old).label}在目标版本中已删除")
            elif kind_of(new) != kind_of(old):
                out.refusals.append(f"办件所在的{element(old).label}在目标版本中类型已变更为{kind_label(new)}")
    ahead = _ahead(spec, [t.task_spec.name for t in _active(wf)])
    for name in sorted(ahead):
        old, new = wf.spec.task_specs.get(name), spec.task_specs.get(name)
        if old is not None and new is not None and _modelled(new) and _definition(old) != _definition(new):
            out.changed.append(element(new))
    out.missing_data = missing_data(wf, spec, forms or {})
    return out


def _definition(spec) -> dict:
    """What an element says, without its connections (a changed connection shows in the version comparison)."""
    return {k: v for k, v in _dict_of(spec).items() if k not in ("inputs", "outputs", "cond_task_specs")}


def apply(wf: BpmnWorkflow, target: tuple) -> list[Element]:
    """Move the instance onto `target` in place; returns the waiting timers whose due time is computed afresh (their
    definition changed, or they are new). Call `check` first: this does not refuse anything itself."""
    spec, deps = target
    kept = {
        t.id: (copy.deepcopy(t.data), dict(t.internal_data), t.task_spec) for t in _all_tasks(wf) if t.state & RESET
    }
    top, subs = diff_workflow(wf, spec, deps)
    migrate_workflow(top, wf, spec)
    for sp_id, sub_diff in subs.items():
        if sub_diff is not None:  # `check` refuses an instance whose called process the target lacks
            sub = wf.subprocesses[sp_id]
            migrate_workflow(sub_diff, sub, deps[sub.spec.name])
    wf.subprocess_specs = dict(deps)
    rearmed = []
    for t in _all_tasks(wf):
        if t.id not in kept:
            continue
        data, internal, old_spec = kept[t.id]
        t.data = data
        if not _has_timer(t) or t.state != TaskState.WAITING:
            continue
        same = _dict_of(old_spec).get("event_definition") == _dict_of(t.task_spec).get("event_definition")
        if same and internal.get("event_value") is not None:
            t.internal_data["event_value"] = internal["event_value"]
        else:
            rearmed.append(element(t.task_spec))
    return rearmed


def timer_dues(wf: BpmnWorkflow) -> dict[str, str]:
    """Element label → the due time of each waiting timer (as the library stored it when it armed)."""
    out = {}
    for task in list(wf.event_manager.tasks.values()):
        value = task._get_internal_data("event_value")
        if _has_timer(task) and isinstance(value, str) and value:
            out[element(task.task_spec).label] = value
    return out


def orphans(wf: BpmnWorkflow, target: tuple) -> list[str]:
    """After `apply`: tasks still standing on a spec the target does not have (the history cannot be mapped)."""
    spec, deps = target
    out = []
    for sub in [wf, *wf.subprocesses.values()]:
        specs = sub.spec.task_specs
        for t in sub.tasks.values():
            if specs.get(t.task_spec.name) is not t.task_spec:
                state = "已办理" if t.state == TaskState.COMPLETED else TaskState.get_name(t.state)
                what = element(t.task_spec).label if _modelled(t.task_spec) else f"内部节点 {t.task_spec.name}"
                out.append(f"{state}的{what}在目标版本中不存在")
    return sorted(set(out))


# -- data the way ahead needs ---------------------------------------------------------------------------------------

_SAFE_NAMES = frozenset(dir(builtins))


def _ahead(spec, starts: list[str]) -> set[str]:
    """Names of the task specs reachable from `starts` (inclusive) in `spec`."""
    seen: set[str] = set()
    todo = [spec.task_specs[n] for n in starts if n in spec.task_specs]
    while todo:
        ts = todo.pop()
        if ts.name in seen:
            continue
        seen.add(ts.name)
        todo.extend(ts.outputs)
    return seen


def _expressions(value, key: str = "") -> list[tuple[str, str]]:
    """(mode, source) of every expression or script in a serialized spec."""
    out: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str) and v.strip():
                if k in ("condition", "expression", "value", "dueDateExpression"):
                    out.append(("eval", v))
                elif k in ("script", "prescript", "postscript"):
                    out.append(("exec", v))
            else:
                out += _expressions(v, k)
    elif isinstance(value, list):
        for v in value:
            out += _expressions(v, key)
    return out


def _names(mode: str, source: str) -> tuple[set[str], set[str]]:
    """(names read, names assigned) by one expression or script; nothing when it does not parse."""
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError:
        return set(), set()
    read: set[str] = set()
    written: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (written if isinstance(node.ctx, ast.Store) else read).add(node.id)
    return read, written


_spec_names: dict[int, tuple[object, frozenset[str], frozenset[str], str]] = {}


def _names_of(ts) -> tuple[frozenset[str], frozenset[str], str]:
    """(names read, names produced, form file) of one task spec; computed once per spec (specs never change)."""
    hit = _spec_names.get(id(ts))
    if hit is not None and hit[0] is ts:
        return hit[1], hit[2], hit[3]
    dct = _dict_of(ts)
    read: set[str] = set()
    produced: set[str] = set()
    for mode, source in _expressions(dct):
        r, w = _names(mode, source)
        read |= r
        produced |= w
    for key in ("result_variable", "resultVariable"):
        if isinstance(dct.get(key), str):
            produced.add(dct[key])
    engine = getattr(ts, "dmnEngine", None)
    table = getattr(getattr(engine, "decision_table", None), "outputs", None) or []
    produced |= {getattr(o, "name", "") for o in table}
    for attr in ("message_var", "result_var"):
        var = getattr(getattr(ts, "event_definition", None), attr, None)
        if isinstance(var, str):
            produced.add(var)
    props = (getattr(ts, "extensions", None) or {}).get("properties", {}) or {}
    out = (frozenset(read), frozenset(produced), props.get("formJsonSchemaFilename") or "")
    with _cache_lock:
        if len(_spec_names) > 20_000:
            _spec_names.clear()
        _spec_names[id(ts)] = (ts, *out)
    return out


def _needs(spec, starts: list[str], forms: dict) -> tuple[set[str], set[str]]:
    """(names read, names produced) on the way ahead of `starts` in `spec` (a user task produces its form's fields)."""
    read: set[str] = set()
    produced: set[str] = set()
    for name in _ahead(spec, starts):
        r, w, form_name = _names_of(spec.task_specs[name])
        read |= r
        produced |= w
        form = forms.get(form_name)
        if isinstance(form, dict):
            produced |= set((form.get("properties") or {}).keys())
    return read, produced


def missing_data(wf: BpmnWorkflow, target_spec, forms: dict) -> list[str]:
    """Names the target reads on the case's way ahead that neither the case's data, nor any step ahead provides, nor
    the source version needed as well (those were never the migration's doing)."""
    starts = [t.task_spec.name for t in _active(wf)]
    have: set[str] = set(wf.data)
    for t in _active(wf):
        have |= set(t.data)
    read_new, produced_new = _needs(target_spec, starts, forms)
    read_old, _ = _needs(wf.spec, starts, {})
    return sorted(read_new - read_old - have - produced_new - _SAFE_NAMES)
