"""Serialization of definitions (specs) and instances (state) for SpiffWorkflow 3.2.0.

A definition version is stored ONCE (``spec_to_dict``); each instance stores only its state (``state_to_json``),
which is the library's workflow dict minus ``spec``/``subprocess_specs``.  ``workflow_from_state`` re-attaches the
spec — restored spec objects are cached, since restoring a spec costs about as much as restoring the state — and
sets the (never serialized) script engine again.

Thread safety: the library's registry switches a plain attribute (``_encoder_mode``) while serializing; in a threaded
server that flag would leak into concurrent conversions.  Our registry keeps it per thread.
"""

from __future__ import annotations

import copy
import datetime as _dt
import decimal
import json
import threading
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer, DefaultRegistry
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

__all__ = [
    "SERIALIZER_VERSION",
    "SerializationError",
    "make_serializer",
    "spec_to_dict",
    "spec_from_dict",
    "state_to_json",
    "state_to_dict",
    "workflow_from_state",
    "find_typename_keys",
]

VERSION_KEY = BpmnWorkflowSerializer.VERSION_KEY  # 'serializer_version'


class SerializationError(ValueError):
    """Instance state or spec cannot be (de)serialized; ``message`` is Chinese, ``detail`` technical."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message if not detail else f"{message}：{detail}")
        self.message = message
        self.detail = detail


class _Registry(DefaultRegistry):
    """DefaultRegistry whose encoder-mode flag is thread-local (the upstream one is a shared attribute)."""

    _tls = threading.local()

    @property
    def _encoder_mode(self):
        return getattr(self._tls, "encoder_mode", False)

    @_encoder_mode.setter
    def _encoder_mode(self, value):
        self._tls.encoder_mode = value


class _WorkflowConverter(BpmnWorkflowConverter):
    """The stock converter plus a state-only dict (no spec, no subprocess specs)."""

    def state_to_dict(self, workflow) -> dict:
        dct = WorkflowConverter.to_dict(
            self, workflow
        )  # data, correlations, last_task, success, completed, tasks, root
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        dct["typename"] = self.typename
        return dct


def _register_data_types(registry: DefaultRegistry) -> None:
    registry.register(
        decimal.Decimal, lambda v: {"value": str(v)}, lambda v: decimal.Decimal(v["value"]), typename="Decimal"
    )
    registry.register(
        _dt.date, lambda v: {"value": v.isoformat()}, lambda v: _dt.date.fromisoformat(v["value"]), typename="date"
    )


_lock = threading.Lock()
_serializer: BpmnWorkflowSerializer | None = None
_workflow_converter: _WorkflowConverter | None = None


def make_serializer() -> BpmnWorkflowSerializer:
    """The process-wide BpmnWorkflowSerializer (spiff flavour + Decimal and date converters)."""
    global _serializer, _workflow_converter
    if _serializer is None:
        with _lock:
            if _serializer is None:
                registry = _Registry()
                _register_data_types(registry)
                config = {cls: conv for cls, conv in SPIFF_CONFIG.items() if cls is not BpmnWorkflow}
                BpmnWorkflowSerializer.configure(config, registry)
                _workflow_converter = _WorkflowConverter(BpmnWorkflow, registry)
                _serializer = BpmnWorkflowSerializer(registry)
    return _serializer


# --------------------------------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------------------------------


def spec_to_dict(spec, subprocess_specs: dict | None) -> dict:
    """JSON-serialisable dict of a process spec and the specs it calls (store once per definition version)."""
    registry = make_serializer().registry
    return {
        "spec": registry.convert(spec),
        "subprocess_specs": {name: registry.convert(s) for name, s in (subprocess_specs or {}).items()},
        VERSION_KEY: SERIALIZER_VERSION,
    }


def spec_from_dict(d: dict) -> tuple[Any, dict]:
    """(spec, subprocess_specs) restored from `spec_to_dict` output (the input is not modified)."""
    registry = make_serializer().registry
    version = d.get(VERSION_KEY, SERIALIZER_VERSION)
    if version != SERIALIZER_VERSION:
        raise SerializationError(
            "流程定义的序列化版本与当前引擎不一致，请从 BPMN 源文件重新生成", f"{version} != {SERIALIZER_VERSION}"
        )
    spec = registry.restore(d["spec"])
    subprocess_specs = {name: registry.restore(s) for name, s in d.get("subprocess_specs", {}).items()}
    return spec, subprocess_specs


# --------------------------------------------------------------------------------------------------------------------
# Instance state
# --------------------------------------------------------------------------------------------------------------------


def find_typename_keys(value, path: str = "$", found: list | None = None, depth: int = 0) -> list[str]:
    """Paths of dicts (inside plain dict/list data) that have a key named 'typename'."""
    if found is None:
        found = []
    t = type(value)
    if t is dict:
        if "typename" in value:
            found.append(path)
        if depth < 100:
            for k, v in value.items():
                tv = type(v)
                if tv is dict or tv is list or tv is tuple:
                    find_typename_keys(v, f"{path}.{k}", found, depth + 1)
    elif t is list or t is tuple:
        if depth < 100:
            for i, v in enumerate(value):
                tv = type(v)
                if tv is dict or tv is list or tv is tuple:
                    find_typename_keys(v, f"{path}[{i}]", found, depth + 1)
    return found


def _check_state_dict(dct: dict) -> None:
    """Refuse user data containing a 'typename' key (upstream spiff-arena#1712: it breaks deserialization).

    In encoder mode the dict still holds raw data (nothing was converted yet), so only user dicts can carry the key.
    """
    found: list[str] = []

    def scan_tasks(tasks: dict) -> None:
        for tid, task in tasks.items():
            if task.get("data"):
                find_typename_keys(task["data"], f"task {tid}.data", found)
            delta = task.get("delta")
            if delta:
                find_typename_keys(delta.get("updates"), f"task {tid}.data", found)
            if task.get("internal_data"):
                find_typename_keys(task["internal_data"], f"task {tid}.internal_data", found)

    find_typename_keys(dct.get("data"), "workflow.data", found)
    scan_tasks(dct.get("tasks", {}))
    for event in dct.get("bpmn_events") or []:
        find_typename_keys(getattr(event, "payload", None), "bpmn_events.payload", found)
    for sid, sub in (dct.get("subprocesses") or {}).items():
        find_typename_keys(sub.get("data"), f"subprocess {sid}.data", found)
        scan_tasks(sub.get("tasks", {}))
    if found:
        raise SerializationError(
            "流程数据中含有名为 typename 的键，无法保存（与序列化器保留字冲突）", ", ".join(found[:10])
        )


def state_to_dict(workflow) -> dict:
    """The instance state as a plain dict (same content as `state_to_json`, already JSON-decoded)."""
    return json.loads(state_to_json(workflow))


def state_to_json(workflow) -> str:
    """JSON of the instance state WITHOUT the spec (restore with `workflow_from_state`)."""
    serializer = make_serializer()
    converter = _workflow_converter
    assert converter is not None  # set by make_serializer()
    registry = serializer.registry
    registry._encoder_mode = True
    try:
        dct = converter.state_to_dict(workflow)
        _check_state_dict(dct)
        dct[VERSION_KEY] = serializer.VERSION
        try:
            return json.dumps(dct, cls=serializer._encoder_cls, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise SerializationError("流程数据中含有无法保存的值", str(exc)) from exc
    finally:
        registry._encoder_mode = False


def workflow_from_state(state_json: str | bytes | dict, spec_dict, script_engine) -> BpmnWorkflow:
    """Rebuild a workflow from `state_to_json` output and its definition's `spec_to_dict` output.

    `spec_dict` may also be a ``(spec, subprocess_specs)`` tuple of already restored objects.
    The script engine is set on the result (it is never serialized).
    """
    serializer = make_serializer()
    dct = json.loads(state_json) if isinstance(state_json, (str, bytes, bytearray)) else copy.deepcopy(state_json)
    if "spec" in dct:
        raise SerializationError("实例状态中不应包含流程定义", 'state contains "spec"')
    version = dct.pop(VERSION_KEY, None)
    if isinstance(spec_dict, tuple):
        spec_version = SERIALIZER_VERSION
    else:
        spec_version = spec_dict.get(VERSION_KEY, SERIALIZER_VERSION)

    if version == SERIALIZER_VERSION and spec_version == SERIALIZER_VERSION:
        spec, subprocess_specs = spec_dict if isinstance(spec_dict, tuple) else spec_from_dict(spec_dict)
        # Restoring an already-built object is a no-op in the registry, so the stock converter takes them as is.
        dct["spec"] = spec
        dct["subprocess_specs"] = dict(subprocess_specs)
    elif version == spec_version and version in MIGRATIONS and not isinstance(spec_dict, tuple):
        # Both written by the same older library version: migrate them together, as deserialize_json would.
        dct["spec"] = copy.deepcopy(spec_dict["spec"])
        dct["subprocess_specs"] = copy.deepcopy(spec_dict.get("subprocess_specs", {}))
        MIGRATIONS[version](dct)
    else:
        raise SerializationError(
            "实例状态与流程定义的序列化版本无法匹配",
            f"state {version}, spec {spec_version}, engine {SERIALIZER_VERSION}",
        )
    try:
        workflow = serializer.from_dict(dct)
    except (TypeError, KeyError, AttributeError) as exc:
        raise SerializationError("实例状态无法恢复", f"{exc.__class__.__name__}: {exc}") from exc
    workflow.script_engine = script_engine
    return workflow
