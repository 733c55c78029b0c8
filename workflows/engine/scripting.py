"""Restricted script environment for SpiffWorkflow.

Every piece of Python that a process definition carries — script tasks, pre/post scripts, gateway conditions,
timer expressions, service-task parameter values, message payload expressions and DMN cells — is evaluated through
:class:`RestrictedEnvironment`:

* compiled with RestrictedPython (``compile_restricted_eval`` / ``compile_restricted_exec``) using a policy that also
  injects a deadline check at the top of every ``while`` body and every function body, and routes ``**``, ``*`` and
  ``<<`` through a size guard; compiled code is cached by source text;
* run with RestrictedPython's guards (``safer_getattr``, guarded ``getitem``/``getiter``/unpacking, write guard,
  in-place operator hook) and a small builtin set (no ``open``, ``__import__``, ``exec``/``eval``/``compile``,
  ``type``, ``globals``, ``getattr`` on ``_`` names …);
* limited in wall-clock time per evaluation.  The limit is enforced by the injected checks (loops, function calls and
  every iteration step go through it), so it works in any thread.  ``sys.settrace`` is deliberately NOT used: CPython
  unsets the trace function as soon as it raises, so ``while True: try: <loop> except BaseException: pass`` would
  survive the first timeout and hang the worker.  Once the deadline has passed every check raises again, so a script
  that swallows the timeout cannot continue.

Executed scripts write their variables back into the task data; functions, modules and names starting with ``_`` are
dropped; any value that is not a JSON-serialisable basic (None/bool/int/float/str/list/dict with str keys, plus the
date/datetime/Decimal the serializer knows) is refused with :class:`ScriptError`.

Residual risk (documented, not solvable in pure Python): a single C-level call can still burn CPU or memory before any
check runs (e.g. ``s.replace('', s)`` on a large string).  The guards cover the classic cases (``2 ** 10 ** 10``,
``'x' * 10 ** 10``, ``1 << 10 ** 10``, ``range(10 ** 12)``).
"""

from __future__ import annotations

import ast
import datetime as _dt
import decimal
import functools
import json
import math as _math
import operator
import re
import sys
import time
import traceback
import types
from collections.abc import Callable, Mapping
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
    safer_getattr,
    safer_getattr_raise,
)
from RestrictedPython.PrintCollector import PrintCollector
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

__all__ = [
    "ScriptError",
    "RestrictedEnvironment",
    "RestrictedScriptEngine",
    "make_script_engine",
    "check_source",
    "FORBIDDEN_NAMES",
]

# File name given to compiled scripts; SpiffWorkflow's error formatter looks for frames named '<string>'.
SCRIPT_FILENAME = "<string>"

# Size limits for the operators that can allocate a lot in one C call.
MAX_SEQUENCE_LEN = 1_000_000  # result length of  sequence * int
MAX_INT_BITS = 100_000  # ~30 000 decimal digits
MAX_RANGE_LEN = 100_000

# Names that are never available to scripts, refused at compile time (so the deploy-time linter catches them too).
FORBIDDEN_NAMES = frozenset(
    {
        "open",
        "exec",
        "eval",
        "compile",
        "globals",
        "locals",
        "vars",
        "dir",
        "breakpoint",
        "memoryview",
        "help",
        "exit",
        "quit",
        "copyright",
        "credits",
        "license",
        "classmethod",
        "staticmethod",
        "property",
        "super",
        "object",
        "bytearray",
        "setattr",
        "delattr",
        "builtins",
        "printed",
    }
)


class ScriptError(Exception):
    """A script/expression was refused or failed in the restricted environment.

    ``message`` is a Chinese, user-facing sentence; ``detail`` carries the technical reason (the original error text,
    the offending name, …); ``lineno`` is the line inside the script when known.
    """

    def __init__(self, message: str, detail: str | None = None, lineno: int | None = None):
        super().__init__(message if not detail else f"{message}：{detail}")
        self.message = message
        self.detail = detail
        self.lineno = lineno


class _ScriptTimeout(BaseException):
    """Raised inside the script when the deadline has passed (BaseException: not caught by `except Exception`)."""


# --------------------------------------------------------------------------------------------------------------------
# Compilation
# --------------------------------------------------------------------------------------------------------------------

_GUARDED_BINOPS = {ast.Pow: "**", ast.Mult: "*", ast.LShift: "<<"}


def _tick_call(node: ast.stmt) -> ast.Expr:
    stmt = ast.Expr(value=ast.Call(func=ast.Name("_tick_", ast.Load()), args=[], keywords=[]))
    for sub in ast.walk(stmt):
        if isinstance(sub, (ast.stmt, ast.expr)):  # the nodes with a position (not the Load context)
            sub.lineno, sub.col_offset = node.lineno, node.col_offset
            sub.end_lineno, sub.end_col_offset = node.lineno, node.col_offset
    return stmt


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus: deadline checks, size-guarded operators, no classes, no forbidden names.

    Injected nodes are added *after* the children were visited: they use names starting with '_' that the base
    policy would refuse in user code.
    """

    def visit_Name(self, node):
        if node.id in FORBIDDEN_NAMES:
            self.error(node, f'"{node.id}" is not allowed in scripts')
        return super().visit_Name(node)

    def visit_Import(self, node):
        self.error(node, "Import statements are not allowed in scripts")
        return node

    visit_ImportFrom = visit_Import

    def visit_ClassDef(self, node):
        self.error(node, "class definitions are not allowed in scripts")
        return node

    def visit_While(self, node):
        node = super().visit_While(node)
        node.body.insert(0, _tick_call(node))
        return node

    def visit_FunctionDef(self, node):
        node = super().visit_FunctionDef(node)
        node.body.insert(0, _tick_call(node))
        return node

    def visit_BinOp(self, node):
        node = super().visit_BinOp(node)
        symbol = _GUARDED_BINOPS.get(type(node.op))
        if symbol is None:
            return node
        new = ast.Call(
            func=ast.Name("_binop_", ast.Load()),
            args=[ast.Constant(symbol), node.left, node.right],
            keywords=[],
        )
        for sub in (new, new.func, new.args[0]):
            sub.lineno, sub.col_offset = node.lineno, node.col_offset
            sub.end_lineno, sub.end_col_offset = node.end_lineno, node.end_col_offset
        return new


_LINE_RE = re.compile(r"^Line (\d+): (.*)$", re.S)

# Map RestrictedPython's English compile errors to a Chinese headline.
_COMPILE_MESSAGES = (
    ("Import statements are not allowed", "脚本不允许导入模块"),
    ("is not allowed in scripts", "脚本不允许使用该名称"),
    ("Exec calls are not allowed", "脚本不允许调用 exec"),
    ("Eval calls are not allowed", "脚本不允许调用 eval"),
    ("class definitions are not allowed", "脚本不允许定义类"),
    ('starts with "_"', "脚本不允许使用以下划线开头的名称或属性"),
    ("is an invalid variable name", "脚本不允许使用以下划线开头的名称或属性"),
    ("is an invalid attribute name", "脚本不允许使用以下划线开头的名称或属性"),
    ("restricted name", "脚本不允许访问该属性"),
    ("SyntaxError", "脚本语法错误"),
    ("IndentationError", "脚本语法错误（缩进）"),
)


def _compile_error(errors: tuple[str, ...]) -> ScriptError:
    first = errors[0]
    lineno = None
    m = _LINE_RE.match(first)
    if m:
        lineno = int(m.group(1))
    headline = "脚本不符合安全限制"
    for needle, msg in _COMPILE_MESSAGES:
        if needle in first:
            headline = msg
            break
    return ScriptError(headline, "; ".join(errors), lineno)


@functools.lru_cache(maxsize=4096)
def _compile(source: str, mode: str) -> tuple[types.CodeType | None, tuple[str, ...]]:
    """Compile once per (source, mode); errors are cached too (they are deterministic)."""
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    try:
        result = compiler(source, filename=SCRIPT_FILENAME, policy=_Policy)
    except SyntaxError as exc:  # e.g. null bytes; RestrictedPython normally collects errors itself
        return None, (f"Line {exc.lineno}: SyntaxError: {exc.msg}",)
    except Exception as exc:  # ValueError (null bytes), RecursionError (deep nesting), MemoryError …
        return None, (f"{exc.__class__.__name__}: {exc}",)
    if result.errors:
        return None, tuple(result.errors)
    return result.code, ()


def get_code(source: str, mode: str = "exec") -> types.CodeType:
    """Compiled (cached) restricted code for `source`; raises ScriptError on syntax or policy errors."""
    if not isinstance(source, str):
        raise ScriptError("脚本必须是文本", f"got {type(source).__name__}")
    if mode == "eval":
        source = source.strip()
    code, errors = _compile(source, mode)
    if code is None:
        raise _compile_error(errors)
    return code


def check_source(source: str, mode: str = "exec") -> ScriptError | None:
    """Compile-only check (used by the deploy linter): the ScriptError that running it would raise, or None."""
    try:
        get_code(source, mode)
    except ScriptError as exc:
        return exc
    return None


# --------------------------------------------------------------------------------------------------------------------
# Runtime guards
# --------------------------------------------------------------------------------------------------------------------


class _Clock:
    """Per-evaluation deadline.  Once expired, every check raises again (a swallowed timeout cannot continue)."""

    __slots__ = ("deadline", "expired")

    def __init__(self, limit: float):
        self.deadline = time.monotonic() + limit
        self.expired = False

    def tick(self):
        if time.monotonic() > self.deadline:
            self.expired = True
            raise _ScriptTimeout()

    def getiter(self, ob):
        deadline = self.deadline
        monotonic = time.monotonic
        if monotonic() > deadline:
            self.expired = True
            raise _ScriptTimeout()
        n = 0
        for item in ob:
            n += 1
            if not n & 63 and monotonic() > deadline:
                self.expired = True
                raise _ScriptTimeout()
            yield item


def _size_check(symbol: str, a, b):
    ta, tb = type(a), type(b)
    if symbol == "**":
        if ta in (int, bool) and tb in (int, bool) and b > 0 and abs(a) > 1:
            if b * a.bit_length() > MAX_INT_BITS:
                raise ScriptError("脚本计算结果过大", f"{symbol} 的结果超过 {MAX_INT_BITS} 位")
    elif symbol == "<<":
        if ta in (int, bool) and tb in (int, bool) and a and b > 0 and b + a.bit_length() > MAX_INT_BITS:
            raise ScriptError("脚本计算结果过大", f"{symbol} 的结果超过 {MAX_INT_BITS} 位")
    elif symbol == "*":
        if tb in (int, bool) and hasattr(a, "__len__") and ta is not dict:
            if len(a) * b > MAX_SEQUENCE_LEN:
                raise ScriptError("脚本计算结果过大", f"序列重复后长度超过 {MAX_SEQUENCE_LEN}")
        elif ta in (int, bool) and hasattr(b, "__len__") and tb is not dict:
            if len(b) * a > MAX_SEQUENCE_LEN:
                raise ScriptError("脚本计算结果过大", f"序列重复后长度超过 {MAX_SEQUENCE_LEN}")


_BINOPS = {"**": operator.pow, "*": operator.mul, "<<": operator.lshift}


def _binop_(symbol, a, b):
    _size_check(symbol, a, b)
    return _BINOPS[symbol](a, b)


_INPLACE = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "&=": operator.iand,
    "|=": operator.ior,
    "^=": operator.ixor,
}


def _inplacevar_(op, x, y):
    func = _INPLACE.get(op)
    if func is None:
        raise ScriptError("脚本不支持该运算", op)
    if op in ("*=", "**=", "<<="):
        _size_check(op[:-1], x, y)
    return func(x, y)


def _guarded_getattr(ob, name, *default):
    if type(name) is not str:
        raise ScriptError("脚本属性名必须是文本", repr(name))
    if name.startswith("_") or name in INSPECT_ATTRIBUTES:
        raise ScriptError("脚本不允许访问以下划线开头的属性或内部属性", name)
    if name in ("format", "format_map") and (isinstance(ob, str) or (isinstance(ob, type) and issubclass(ob, str))):
        raise ScriptError("脚本不允许使用 str.format，请使用 f-string 或 % 格式化", name)
    try:
        if default:
            return safer_getattr(ob, name, default[0])
        return safer_getattr_raise(ob, name)
    except NotImplementedError as exc:
        raise ScriptError("脚本不允许访问该属性", str(exc)) from None


def _guarded_hasattr(ob, name):
    try:
        _guarded_getattr(ob, name)
    except AttributeError:
        return False
    return True


def _getitem_(ob, index):
    return ob[index]


def _apply_(func, *args, **kwargs):
    return func(*args, **kwargs)


def _limited_range(*args):
    r = range(*args)
    if len(r) > MAX_RANGE_LEN:
        raise ScriptError("脚本 range() 过大", f"最多 {MAX_RANGE_LEN} 个元素")
    return r


def _guarded_pow(a, b, mod=None):
    if mod is None:
        _size_check("**", a, b)
        return pow(a, b)
    return pow(a, b, mod)


_math_ns = types.SimpleNamespace(
    **{
        name: getattr(_math, name)
        for name in (
            "ceil",
            "floor",
            "trunc",
            "fabs",
            "sqrt",
            "isclose",
            "isfinite",
            "isinf",
            "isnan",
            "log",
            "log10",
            "log2",
            "exp",
            "fsum",
            "gcd",
            "pi",
            "e",
            "inf",
            "nan",
            "copysign",
            "fmod",
            "modf",
            "hypot",
        )
    }
)


def _build_builtins() -> dict[str, Any]:
    b = dict(safe_builtins)
    # SystemExit, KeyboardInterrupt and GeneratorExit are not Exceptions: raised by a script they would pass every
    # `except Exception` up to the timer worker and stop it. A script has no business naming them.
    for name in (
        "__build_class__",
        "id",
        "setattr",
        "delattr",
        "_getattr_",
        "SystemExit",
        "KeyboardInterrupt",
        "GeneratorExit",
    ):
        b.pop(name, None)
    b.update(
        {
            "range": _limited_range,
            "pow": _guarded_pow,
            "list": list,
            "tuple": tuple,
            "dict": dict,
            "set": set,
            "frozenset": frozenset,
            "sorted": sorted,
            "reversed": reversed,
            "min": min,
            "max": max,
            "sum": sum,
            "any": any,
            "all": all,
            "enumerate": enumerate,
            "zip": zip,
            "map": map,
            "filter": filter,
            "getattr": _guarded_getattr,
            "hasattr": _guarded_hasattr,
            "math": _math_ns,
        }
    )
    return b


SCRIPT_BUILTINS: dict[str, Any] = _build_builtins()


# --------------------------------------------------------------------------------------------------------------------
# Value checks for data written back into task data
# --------------------------------------------------------------------------------------------------------------------

_SCALARS = (str, int, float, bool, type(None))
_EXTRA_OK = (_dt.date, _dt.datetime, decimal.Decimal)  # the serializer has converters for these


def _check_value(name: str, value, depth: int = 0):
    t = type(value)
    if t in (str, int, bool, type(None)):
        return
    if t is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise ScriptError("脚本写入的数值不能是 NaN 或无穷大", name)
        return
    if depth > 50:
        raise ScriptError("脚本写入的数据嵌套过深", name)
    if t is list:
        for i, item in enumerate(value):
            _check_value(f"{name}[{i}]", item, depth + 1)
        return
    if t is dict:
        for k, item in value.items():
            if type(k) is not str:
                raise ScriptError("脚本写入的字典键必须是文本", f"{name} 的键 {k!r}")
            if k == "typename":
                raise ScriptError("流程数据中不能使用名为 typename 的键（序列化器保留字）", name)
            _check_value(f"{name}[{k!r}]", item, depth + 1)
        return
    if isinstance(value, _EXTRA_OK):
        return
    hint = "，请使用 list" if t in (tuple, set, frozenset) else ""
    raise ScriptError(f"脚本写入的变量类型不能保存到流程数据{hint}", f"{name}: {t.__name__}")


def _is_droppable(value) -> bool:
    return callable(value) or isinstance(value, types.ModuleType) or value is _math_ns


# --------------------------------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------------------------------


def _runtime_lineno(tb) -> int | None:
    lineno = None
    for frame in traceback.extract_tb(tb):
        if frame.filename == SCRIPT_FILENAME:
            lineno = frame.lineno
    return lineno


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """A BasePythonScriptEngineEnvironment running everything through RestrictedPython with a time limit."""

    def __init__(
        self,
        operations: Mapping[str, Callable[[dict, dict], dict]] | None = None,
        time_limit: float = 1.0,
        extra_globals: dict | None = None,
    ):
        extra = dict(extra_globals or {})
        for key in extra:
            if key.startswith("_"):
                raise ValueError(f'extra_globals name {key!r} must not start with "_"')
        super().__init__(extra)
        self.operations = dict(operations or {})
        self.time_limit = float(time_limit)
        self._builtins = dict(SCRIPT_BUILTINS)
        self._builtins.update(extra)

    # -- namespace -----------------------------------------------------------------------------------------------
    def _namespace(self, context: Mapping, external_context: Mapping | None, clock: _Clock) -> dict:
        ns = dict(external_context) if external_context else {}
        ns.update(context)
        # Guards go last so no task-data key can replace them.
        ns["__builtins__"] = self._builtins
        ns["_getattr_"] = _guarded_getattr
        ns["_getitem_"] = _getitem_
        ns["_getiter_"] = clock.getiter
        ns["_iter_unpack_sequence_"] = guarded_iter_unpack_sequence
        ns["_unpack_sequence_"] = guarded_unpack_sequence
        ns["_write_"] = full_write_guard
        ns["_inplacevar_"] = _inplacevar_
        ns["_apply_"] = _apply_
        ns["_print_"] = PrintCollector
        ns["_tick_"] = clock.tick
        ns["_binop_"] = _binop_
        return ns

    def _run(self, code, ns, clock: _Clock, mode: str):
        try:
            if mode == "eval":
                return eval(code, ns)
            exec(code, ns)
            return None
        except _ScriptTimeout:
            raise ScriptError("脚本执行超时", f"超过 {self.time_limit:g} 秒") from None
        except ScriptError as exc:
            if clock.expired:
                raise ScriptError("脚本执行超时", f"超过 {self.time_limit:g} 秒") from None
            if exc.lineno is None:
                exc.lineno = _runtime_lineno(sys.exc_info()[2])
            raise
        except RecursionError:
            raise ScriptError("脚本递归过深") from None
        except MemoryError:
            raise ScriptError("脚本占用内存过多") from None
        except Exception:
            if clock.expired:
                raise ScriptError("脚本执行超时", f"超过 {self.time_limit:g} 秒") from None
            raise  # ordinary runtime error (NameError, KeyError, …): SpiffWorkflow reports it with line/"did you mean"
        except (KeyboardInterrupt, SystemExit):
            raise  # the process's own signal or exit (scripts cannot name these): never swallowed
        except BaseException as exc:  # `raise BaseException(…)`: would pass every `except Exception` above us
            raise ScriptError("脚本抛出了不允许的异常", type(exc).__name__) from None

    # -- BasePythonScriptEngineEnvironment API ----------------------------------------------------------------------
    def evaluate(self, expression, context, external_context=None):
        code = get_code(expression, "eval")
        clock = _Clock(self.time_limit)
        ns = self._namespace(context, external_context, clock)
        result = self._run(code, ns, clock, "eval")
        if clock.expired:
            raise ScriptError("脚本执行超时", f"超过 {self.time_limit:g} 秒")
        return result

    def execute(self, script, context, external_context=None):
        code = get_code(script, "exec")
        clock = _Clock(self.time_limit)
        ns = self._namespace(context, external_context, clock)
        self._run(code, ns, clock, "exec")
        if clock.expired:
            raise ScriptError("脚本执行超时", f"超过 {self.time_limit:g} 秒")
        self._write_back(ns, context, external_context or {})
        return True

    def _write_back(self, ns: dict, context: dict, external_context: Mapping):
        updates = {}
        dropped = []
        for key, value in ns.items():
            if key.startswith("_"):
                continue
            if key in external_context and key not in context and value is external_context[key]:
                continue  # external context passed through unchanged
            if _is_droppable(value):
                dropped.append(key)  # functions/modules never land in task data (SpiffWorkflow does the same)
                continue
            if key in context and context[key] is value and type(value) in _SCALARS:
                continue
            _check_value(key, value)
            updates[key] = value
        # Only mutate task data after every value passed the check (all-or-nothing).
        for key in [k for k in context if not k.startswith("_") and k not in ns]:
            del context[key]  # `del x` in the script
        for key in dropped:
            context.pop(key, None)
        context.update(updates)

    def call_service(self, context, operation_name=None, operation_params=None, **kwargs):
        operation = self.operations.get(operation_name)
        if operation is None:
            raise ScriptError("未登记的服务操作", str(operation_name))
        params = {name: p["value"] for name, p in (operation_params or {}).items()}
        result = operation(context, params)
        return json.dumps(result, ensure_ascii=False, default=str)


class RestrictedScriptEngine(PythonScriptEngine):
    """PythonScriptEngine whose errors carry the environment's (Chinese) message."""

    def __init__(self, environment: RestrictedEnvironment | None = None):
        super().__init__(environment=environment or RestrictedEnvironment())

    def validate(self, expression):
        # Used by the DMN engine to decide between "==" and an operator prefix: keep plain ast parsing semantics.
        ast.parse(expression)

    def evaluate(self, task, expression, external_context=None):
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except SpiffWorkflowException as se:
            se.add_note(f"Error evaluating expression '{expression}'")
            raise se
        except ScriptError as err:
            exc = WorkflowTaskException(
                err.args[0],
                task=task,
                exception=err,
                line_number=err.lineno,
                error_line=_line_of(expression, err.lineno),
            )
            exc.add_note(f"表达式：{expression}")
            raise exc from err
        except Exception as err:
            raise WorkflowTaskException(
                f"表达式求值出错 '{expression}'：{err.__class__.__name__}: {err}", task=task, exception=err
            ) from err

    def execute(self, task, script, external_context=None):
        try:
            return self.environment.execute(script, task.data, external_context or {})
        except ScriptError as err:
            raise WorkflowTaskException(
                err.args[0], task=task, exception=err, line_number=err.lineno, error_line=_line_of(script, err.lineno)
            ) from err
        except Exception as err:
            raise self.create_task_exec_exception(task, script, err) from err

    def call_service(self, task, **kwargs):
        try:
            return self.environment.call_service(task.data, **kwargs)
        except SpiffWorkflowException:
            raise
        except ScriptError as err:
            raise WorkflowTaskException(err.args[0], task=task, exception=err) from err
        except Exception as err:
            name = kwargs.get("operation_name")
            text = str(err) or err.__class__.__name__
            raise WorkflowTaskException(f"服务操作 {name} 失败：{text}", task=task, exception=err) from err

    def create_task_exec_exception(self, task, script, err):
        if not (isinstance(err, SyntaxError) and err.lineno is None):
            try:
                return super().create_task_exec_exception(task, script, err)
            except Exception:  # the upstream formatter assumes str args and a line inside the script
                pass
        return WorkflowTaskException(f"{err.__class__.__name__}: {err}", task=task, exception=err)


def _line_of(source: str, lineno: int | None) -> str | None:
    if not lineno or not isinstance(source, str):
        return None
    lines = source.splitlines()
    return lines[lineno - 1] if 0 < lineno <= len(lines) else None


def make_script_engine(operations=None, time_limit: float = 1.0) -> RestrictedScriptEngine:
    return RestrictedScriptEngine(RestrictedEnvironment(operations=operations, time_limit=time_limit))
