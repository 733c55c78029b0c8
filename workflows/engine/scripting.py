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

Isolation: a single C-level call cannot be interrupted from Python (``pow(3, a, a + 2)`` with a 20,000-bit ``a``
took 12.9 s; ``'a'.ljust(10**9)`` or ``f"{1:>1000000000}"`` allocate a gigabyte; comparing or hashing a structure
that shares its parts is exponential). So every script, and every expression that is not *plain* (constants, names,
subscripts, attributes, comparisons, boolean logic, ``+``/``-``, literals: what conditions, DMN cells and timer
expressions are), runs in a child process (:mod:`workflows.engine.sandbox`) with a 256 MB address-space limit and is
killed at the time limit plus :data:`HARD_KILL_GRACE`. Plain expressions stay in process: they cannot call anything
or build anything larger than the (bounded) task data. ``bench/scripts.py`` measures both paths.
"""

from __future__ import annotations

import ast
import builtins as _builtins_module
import datetime as _dt
import decimal
import functools
import json
import math as _math
import operator
import pickle
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

from workflows.engine import sandbox

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
MAX_POW_MOD_BITS = 4_096  # pow(a, b, m): exponent and modulus at most this many bits (RSA-4096 size: milliseconds)
MAX_DATA_NODES = 200_000  # values written back to task data, counted over the whole structure
MAX_DATA_INT = 10**4300 - 1  # sys.int_info.default_max_str_digits: a larger int cannot be serialized
MAX_PLAIN_BINOPS = 8  # + and - in an expression evaluated in process
HARD_KILL_GRACE = 0.5  # seconds past the time limit before the sandbox child is killed (the in-script check is first)

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
        if ta in (int, bool) and tb in (int, bool):
            if a.bit_length() + b.bit_length() > MAX_INT_BITS:
                raise ScriptError("脚本计算结果过大", f"{symbol} 的结果超过 {MAX_INT_BITS} 位")
        elif tb in (int, bool) and hasattr(a, "__len__") and ta is not dict:
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
    if all(type(v) in (int, bool) for v in (a, b, mod)) and max(abs(b).bit_length(), abs(mod).bit_length()) > (
        MAX_POW_MOD_BITS
    ):
        raise ScriptError("脚本计算结果过大", f"pow() 的指数和模数最多 {MAX_POW_MOD_BITS} 位")
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


def _check_value(name: str, value, depth: int = 0, budget: list[int] | None = None):
    """Refuse what cannot be stored in task data. `budget` counts the nodes of everything written by one script:
    a structure that shares its parts (``a = [a, a]`` twenty times) would otherwise be serialized a million-fold."""
    if budget is None:
        budget = [MAX_DATA_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise ScriptError("脚本写入的数据过大", f"{name}：超过 {MAX_DATA_NODES} 个值")
    t = type(value)
    if t in (str, bool, type(None)):
        return
    if t is int:
        if not -MAX_DATA_INT <= value <= MAX_DATA_INT:
            raise ScriptError("脚本写入的整数过大（超过 4300 位，无法保存）", name)
        return
    if t is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise ScriptError("脚本写入的数值不能是 NaN 或无穷大", name)
        return
    if depth > 50:
        raise ScriptError("脚本写入的数据嵌套过深", name)
    if t is list:
        for i, item in enumerate(value):
            _check_value(f"{name}[{i}]", item, depth + 1, budget)
        return
    if t is dict:
        for k, item in value.items():
            if type(k) is not str:
                raise ScriptError("脚本写入的字典键必须是文本", f"{name} 的键 {k!r}")
            if k == "typename":
                raise ScriptError("流程数据中不能使用名为 typename 的键（序列化器保留字）", name)
            _check_value(f"{name}[{k!r}]", item, depth + 1, budget)
        return
    if isinstance(value, _EXTRA_OK):
        return
    hint = "，请使用 list" if t in (tuple, set, frozenset) else ""
    raise ScriptError(f"脚本写入的变量类型不能保存到流程数据{hint}", f"{name}: {t.__name__}")


def _check_result(value):
    """An expression's value goes back into the engine (conditions, timers, DMN outputs, payloads): no int that
    could not be serialized, nothing built from shared parts beyond the node budget."""
    budget = [MAX_DATA_NODES]
    stack = [value]
    while stack:
        v = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            raise ScriptError("表达式的结果过大", f"超过 {MAX_DATA_NODES} 个值")
        t = type(v)
        if t is int and not -MAX_DATA_INT <= v <= MAX_DATA_INT:
            raise ScriptError("表达式的结果是超过 4300 位的整数", None)
        if t in (list, tuple, set, frozenset):
            stack.extend(v)
        elif t is dict:
            stack.extend(v.keys())
            stack.extend(v.values())


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


_TIMEOUT_HEADLINE = "脚本执行超时"
_MEMORY_HEADLINE = "脚本占用内存过多"


def _timeout(limit: float) -> ScriptError:
    return ScriptError(_TIMEOUT_HEADLINE, f"超过 {limit:g} 秒")


def _namespace(context: Mapping, external_context: Mapping | None, clock: _Clock, builtins: dict) -> dict:
    ns = dict(external_context) if external_context else {}
    ns.update(context)
    # Guards go last so no task-data key can replace them.
    ns["__builtins__"] = builtins
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


def _run(code, ns, clock: _Clock, mode: str, limit: float):
    """Run compiled restricted code. Everything a script can raise comes out as ScriptError or an ordinary
    Exception: BaseException stops here (the script boundary)."""
    try:
        if mode == "eval":
            result = eval(code, ns)
        else:
            exec(code, ns)
            result = None
    except _ScriptTimeout:
        raise _timeout(limit) from None
    except ScriptError as exc:
        if clock.expired:
            raise _timeout(limit) from None
        if exc.lineno is None:
            exc.lineno = _runtime_lineno(sys.exc_info()[2])
        raise
    except RecursionError:
        raise ScriptError("脚本递归过深") from None
    except MemoryError:
        raise ScriptError(_MEMORY_HEADLINE, "超过 256 MB") from None
    except Exception:
        if clock.expired:
            raise _timeout(limit) from None
        raise  # ordinary runtime error (NameError, KeyError, …): SpiffWorkflow reports it with line/"did you mean"
    except (KeyboardInterrupt, SystemExit):
        raise  # the process's own signal or exit (scripts cannot name these): never swallowed
    except BaseException as exc:  # `raise BaseException(…)`: would pass every `except Exception` above us
        raise ScriptError("脚本抛出了不允许的异常", type(exc).__name__) from None
    if clock.expired:
        raise _timeout(limit)
    return result


def _evaluate_here(code, context, external_context, limit: float, builtins: dict):
    clock = _Clock(limit)
    return _run(code, _namespace(context, external_context, clock, builtins), clock, "eval", limit)


def _execute_here(code, context, external_context, limit: float, builtins: dict) -> tuple[dict, list]:
    """Run a script on a copy of the namespace; (the values to write into task data, the keys to remove)."""
    clock = _Clock(limit)
    ns = _namespace(context, external_context, clock, builtins)
    _run(code, ns, clock, "exec", limit)
    return _changes(ns, context, external_context or {})


def _changes(ns: dict, context: Mapping, external_context: Mapping) -> tuple[dict, list]:
    updates = {}
    removed = []
    budget = [MAX_DATA_NODES]
    for key, value in ns.items():
        if key.startswith("_"):
            continue
        if key in external_context and key not in context and value is external_context[key]:
            continue  # external context passed through unchanged
        if _is_droppable(value):
            if key in context:
                removed.append(key)  # functions/modules never land in task data (SpiffWorkflow does the same)
            continue
        if key in context and context[key] is value and type(value) in _SCALARS:
            continue
        _check_value(key, value, 0, budget)
        updates[key] = value
    removed += [k for k in context if not k.startswith("_") and k not in ns]  # `del x` in the script
    return updates, removed


# -- plain expressions: evaluated in process --------------------------------------------------------------------

_PLAIN_NODES = (
    ast.Expression,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Compare,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.IfExp,
    ast.Tuple,
    ast.List,
    ast.Set,
    ast.Dict,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.BinOp,
    ast.Add,
    ast.Sub,
)


@functools.lru_cache(maxsize=4096)
def is_plain(source: str) -> bool:
    """An expression that calls nothing, loops over nothing, formats nothing and multiplies nothing: its cost is
    linear in the task data it reads, so it may run in process (conditions, DMN cells, timer variables)."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    if len(source) > 2_000:
        return False
    binops = 0
    for node in ast.walk(tree):
        if not isinstance(node, _PLAIN_NODES):
            return False
        if isinstance(node, ast.BinOp):
            binops += 1  # `s + s + s …` of a long value from task data: a few are fine, hundreds are not
            if binops > MAX_PLAIN_BINOPS or not isinstance(node.op, (ast.Add, ast.Sub)):
                return False
    return True


# -- the sandbox child ------------------------------------------------------------------------------------------


def _error_reply(exc: BaseException, lineno: int | None = None) -> tuple:
    if isinstance(exc, ScriptError):
        return ("script_error", exc.message, exc.detail, exc.lineno)
    args = tuple(a if type(a) in (str, int, float, bool, type(None)) else repr(a) for a in exc.args)
    return ("error", type(exc).__name__, args, lineno if lineno is not None else _runtime_lineno(exc.__traceback__))


def _serve(request: tuple) -> tuple:
    mode, source, context, external_context, limit, extra = request
    builtins = dict(SCRIPT_BUILTINS)
    builtins.update(extra)
    try:
        code = get_code(source, mode)
        if mode == "eval":
            result = _evaluate_here(code, context, external_context, limit, builtins)
            _check_result(result)
            return ("ok", result)
        return ("ok", _execute_here(code, context, external_context, limit, builtins))
    except MemoryError:
        return ("script_error", _MEMORY_HEADLINE, "超过 256 MB", None)
    except Exception as exc:
        return _error_reply(exc)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # cannot come from a script (see _run); kept as a last line of the boundary
        return ("script_error", "脚本抛出了不允许的异常", type(exc).__name__, None)


def _sandbox_main() -> None:
    """The child's loop: read a request, run it, write the reply; exit when the parent closes the pipe."""
    r, w = sandbox.child_channel()
    sandbox.limit_child()
    sandbox.write_frame(w, b"ready")
    while True:
        frame = sandbox.read_frame(r)
        if frame is None:
            return
        try:
            reply = _serve(pickle.loads(frame))
            try:
                data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, TypeError, AttributeError, RecursionError, ValueError) as exc:
                data = pickle.dumps(("script_error", "表达式的结果类型无法使用", type(exc).__name__, None))
        except MemoryError:
            data = pickle.dumps(("script_error", _MEMORY_HEADLINE, "超过 256 MB", None))
        sandbox.write_frame(w, data)


def _out_of_memory(reply) -> bool:
    return reply[0] == "script_error" and reply[1] == _MEMORY_HEADLINE


def _raise_reply_error(reply: tuple):
    kind = reply[0]
    if kind == "script_error":
        _, message, detail, lineno = reply
        raise ScriptError(message, detail, lineno)
    _, name, args, lineno = reply
    cls = getattr(_builtins_module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        exc: Exception = RuntimeError(f"{name}: {args[0] if args else ''}")
    else:
        try:
            exc = cls(*args)
        except Exception:
            exc = RuntimeError(f"{name}: {args[0] if args else ''}")
    exc.script_lineno = lineno  # type: ignore[attr-defined]
    raise exc


# --------------------------------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------------------------------


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """A BasePythonScriptEngineEnvironment running everything through RestrictedPython with a time limit; scripts and
    expressions that are not plain run in the sandbox child (``isolated=False`` keeps everything in process: the
    benchmark's comparison, never production)."""

    def __init__(
        self,
        operations: Mapping[str, Callable[[dict, dict], dict]] | None = None,
        time_limit: float = 1.0,
        extra_globals: dict | None = None,
        isolated: bool = True,
    ):
        extra = dict(extra_globals or {})
        for key in extra:
            if key.startswith("_"):
                raise ValueError(f'extra_globals name {key!r} must not start with "_"')
        super().__init__(extra)
        self.operations = dict(operations or {})
        self.time_limit = float(time_limit)
        self.isolated = isolated
        self._extra = extra
        self._builtins = dict(SCRIPT_BUILTINS)
        self._builtins.update(extra)

    def _isolated(self, mode: str, source: str, context, external_context):
        request = (mode, source, dict(context), dict(external_context or {}), self.time_limit, self._extra)
        try:
            reply = sandbox.call(request, self.time_limit + HARD_KILL_GRACE, retire=_out_of_memory)
        except sandbox.SandboxFailure as failure:
            if failure.kind == "timeout":
                raise ScriptError(_TIMEOUT_HEADLINE, f"超过 {self.time_limit:g} 秒，已强制终止") from None
            raise ScriptError("脚本执行被终止（占用内存或资源过多）", failure.detail or None) from None
        if reply[0] != "ok":
            _raise_reply_error(reply)
        return reply[1]

    # -- BasePythonScriptEngineEnvironment API ----------------------------------------------------------------------
    def evaluate(self, expression, context, external_context=None):
        code = get_code(expression, "eval")
        if not self.isolated or is_plain(expression):
            return _evaluate_here(code, context, external_context, self.time_limit, self._builtins)
        return self._isolated("eval", expression, context, external_context)

    def execute(self, script, context, external_context=None):
        code = get_code(script, "exec")
        if self.isolated:
            updates, removed = self._isolated("exec", script, context, external_context)
        else:
            updates, removed = _execute_here(code, context, external_context, self.time_limit, self._builtins)
        # Only mutate task data after every value passed the check (all-or-nothing).
        for key in removed:
            context.pop(key, None)
        context.update(updates)
        return True

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
        lineno = getattr(err, "script_lineno", None)
        if lineno:  # an error the sandbox child reported: its traceback stayed there, the line came with it
            text = err.args[0] if err.args and isinstance(err.args[0], str) else str(err)
            return WorkflowTaskException(
                f"{err.__class__.__name__}:{text}",
                task=task,
                exception=err,
                line_number=lineno,
                error_line=_line_of(script, lineno),
            )
        if not (isinstance(err, SyntaxError) and err.lineno is None):
            try:
                return super().create_task_exec_exception(task, script, err)
            except Exception:  # the upstream formatter assumes str args and a line inside the script
                pass
        return WorkflowTaskException(f"{err.__class__.__name__}: {err}", task=task, exception=err)


class ReplayScriptEngine(RestrictedScriptEngine):
    """The restricted engine of a simulation: a service task's result comes from `resolve(element id, operator,
    evaluated parameters, task data)` — what that step returned when the case really ran — instead of the operator,
    so replaying a case touches no table."""

    def __init__(self, resolve: Callable[[str, str, dict, dict], dict]):
        super().__init__(RestrictedEnvironment())
        self.resolve = resolve

    def call_service(self, task, **kwargs):
        params = {name: p["value"] for name, p in (kwargs.get("operation_params") or {}).items()}
        try:
            result = self.resolve(task.task_spec.name, str(kwargs.get("operation_name")), params, task.data)
        except SpiffWorkflowException:
            raise
        except Exception as err:
            raise WorkflowTaskException(str(err) or err.__class__.__name__, task=task, exception=err) from err
        return json.dumps(result, ensure_ascii=False, default=str)


def _line_of(source: str, lineno: int | None) -> str | None:
    if not lineno or not isinstance(source, str):
        return None
    lines = source.splitlines()
    return lines[lineno - 1] if 0 < lineno <= len(lines) else None


def make_script_engine(operations=None, time_limit: float = 1.0) -> RestrictedScriptEngine:
    return RestrictedScriptEngine(RestrictedEnvironment(operations=operations, time_limit=time_limit))
