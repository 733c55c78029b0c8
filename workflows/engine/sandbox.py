"""A child process that runs BPMN scripts under a memory limit and is killed when it overruns its time.

In-process guards cannot bound a single C-level call (``pow(3, a, a + 2)`` with a 20,000-bit ``a``, ``'a'.ljust(10**9)``,
``f"{1:>1000000000}"``, comparing or hashing a nested structure that shares its parts …): CPython checks nothing
until the call returns. So every script and every expression that could make such a call runs here instead: one
long-lived child per thread, with ``RLIMIT_AS`` at its size after start-up plus :data:`MEMORY_LIMIT` (an allocation
beyond it is a ``MemoryError`` inside the child), and a wall-clock limit enforced from outside (SIGKILL, then a new
child at the next call). Requests and replies are length-prefixed pickles over pipes; the parent unpickles replies
with an allow-list of classes (a child that was somehow subverted cannot make the parent build arbitrary objects).

This module knows nothing of scripts: :mod:`workflows.engine.scripting` sends the requests and runs the child's loop
(``_sandbox_main``).
"""

from __future__ import annotations

import io
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MEMORY_LIMIT = 256 * 1024 * 1024  # what one evaluation may allocate beyond the child's own start-up size
START_TIMEOUT = 30.0  # seconds for a new child to import the script engine (slow only on a loaded machine)
_HEADER = struct.Struct("<I")
_ROOT = str(Path(__file__).resolve().parents[2])
_CHILD_CODE = (
    "import sys; sys.path.insert(0, {root!r}); from workflows.engine.scripting import _sandbox_main; _sandbox_main()"
)


class SandboxFailure(Exception):
    """The child did not answer: ``kind`` is 'timeout' (killed at the deadline) or 'died' (it exited, e.g. killed
    by the kernel for memory, or could not start)."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


# What a reply may contain: task data values (JSON types plus dates and decimals), the containers an expression
# may return, and nothing that runs code when built.
_ALLOWED = {
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "range"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("datetime", "date"),
    ("datetime", "datetime"),
    ("datetime", "time"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("decimal", "Decimal"),
    ("zoneinfo", "ZoneInfo._unpickle"),
}


class _ReplyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"class {module}.{name} is not allowed in a sandbox reply")
        return super().find_class(module, name)


def loads_reply(data: bytes) -> Any:
    return _ReplyUnpickler(io.BytesIO(data)).load()


def write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_exact(fd: int, n: int, deadline: float | None = None) -> bytes:
    """Read n bytes; b'' when the other side closed. With a deadline, SandboxFailure('timeout') once it passes."""
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise SandboxFailure("timeout")
        chunk = os.read(fd, n - got)
        if not chunk:
            return b""
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None) -> bytes | None:
    head = read_exact(fd, _HEADER.size, deadline)
    if not head:
        return None
    (size,) = _HEADER.unpack(head)
    body = read_exact(fd, size, deadline)
    if len(body) != size:
        return None
    return body


_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH", "PYTHONHASHSEED", "VIRTUAL_ENV")


def _child_env() -> dict[str, str]:
    env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class _Child:
    def __init__(self) -> None:
        self.pid_owner = os.getpid()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD_CODE.format(root=_ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            close_fds=True,
            start_new_session=True,  # a Ctrl-C at the terminal goes to the worker, which then ends the child
            env=_child_env(),  # no secrets (SECRET_KEY, DATABASE_URL, S3 keys …) where untrusted code runs
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.w, self.r = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        ready = read_frame(self.r, time.monotonic() + START_TIMEOUT)
        if ready != b"ready":
            self.kill()
            raise SandboxFailure("died", "the script sandbox did not start")

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except (subprocess.TimeoutExpired, OSError):
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass


# Idle children, reused by whichever thread calls next (threads come and go with requests; children do not).
MAX_IDLE = 4
_idle: list[_Child] = []
_idle_lock = threading.Lock()


def _take() -> _Child:
    with _idle_lock:
        while _idle:
            child = _idle.pop()
            if child.pid_owner != os.getpid():
                continue  # inherited through a fork: its pipes are the parent's
            if child.proc.poll() is None:
                return child
            child.kill()
    return _Child()


def _give_back(child: _Child) -> None:
    with _idle_lock:
        if len(_idle) < MAX_IDLE:
            _idle.append(child)
            return
    child.kill()


def call(request: tuple, timeout: float, retire: Callable[[Any], bool] | None = None) -> Any:
    """Send one request to an idle child (started when none is) and return its unpickled reply; kill the child and
    raise SandboxFailure when it does not answer within `timeout` seconds or dies. A child whose reply `retire`
    accepts (e.g. it ran out of memory: its heap may stay fragmented) is ended instead of reused."""
    child = _take()
    payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        write_frame(child.w, payload)
        reply = read_frame(child.r, time.monotonic() + timeout)
    except SandboxFailure:
        child.kill()
        raise
    except OSError as exc:  # broken pipe: the child is gone
        child.kill()
        raise SandboxFailure("died", str(exc)) from None
    if reply is None:
        child.kill()
        raise SandboxFailure("died", "the script sandbox exited")
    try:
        result = loads_reply(reply)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        child.kill()
        raise SandboxFailure("died", f"unreadable reply: {exc}") from None
    if retire is not None and retire(result):
        child.kill()
    else:
        _give_back(child)
    return result


def shutdown() -> None:
    """End the idle children of this process (they also exit by themselves when their stdin closes)."""
    with _idle_lock:
        children = [c for c in _idle if c.pid_owner == os.getpid()]
        _idle.clear()
    for child in children:
        child.kill()


# -- the child's side -------------------------------------------------------------------------------------------


def _vm_size() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def limit_child() -> None:
    """Called by the child once it has imported what it needs: cap its address space at its size + MEMORY_LIMIT."""
    import resource

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the child ends
    size = _vm_size()
    if size:
        limit = size + MEMORY_LIMIT
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def child_channel() -> tuple[int, int]:
    """The child's (read fd, write fd); its stdout is pointed at stderr so that nothing printed can corrupt a reply."""
    r = sys.stdin.fileno()
    w = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return r, w
