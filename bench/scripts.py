"""What isolating BPMN scripts costs (run by hand, not a test):  .venv/bin/python bench/scripts.py [--cases N]

Issue 13 asked to choose between guarding every C-level call in process (by operand size) and evaluating in a
subprocess with CPU and memory limits, measuring both. Three measurements:

1. per evaluation, on the task data of a real registration case (taken from a case started through the services):
   - `in process`: RestrictedEnvironment(isolated=False) — RestrictedPython + the size guards, what a guards-only
     design costs;
   - `as deployed`: the default — plain expressions (conditions, DMN cells, timer variables) stay in process,
     scripts and other expressions go to the sandbox child (one pickled round trip over pipes);
   - `new process`: starting a sandbox child (what a process per evaluation would cost, and what the first
     evaluation after a killed child pays);
2. per transition through the services (start, 单位审核, 主管部门审核 of N registration cases on SQLite, as
   bench/engine.py does), the same code with isolation off and on, and how many evaluations per transition went to
   the sandbox;
3. the attacks of issue 13: seconds until the ScriptError, as deployed (each also in tests/test_scripting.py); the
   guards-only design is not run on those it cannot bound (it would hold this process for seconds to minutes or
   allocate gigabytes).
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import time_machine  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench.engine import DEPT_REVIEW, FORM_DEPT, FORM_UNIT, START_AT, UNIT_REVIEW, Db  # noqa: E402
from workflows.domain.models import Case  # noqa: E402
from workflows.engine import instances, sandbox, scripting  # noqa: E402
from workflows.engine.scripting import RestrictedEnvironment, ScriptError  # noqa: E402

SOURCES = {
    "condition (plain)": ("eval", "unit_decision == 'approve' and talent_category <= 5"),
    "DMN-style cell (plain)": ("eval", "(dmninput) == ('rigid')"),
    "expression with a call": ("eval", "len(materials) >= 6"),
    "6-line script": (
        "exec",
        "n = len(materials)\nowed = [m for m in materials if m not in ('resume',)]\n"
        "score = talent_category * 2\nlabel = f'共 {n} 项'\nok = score < 20\nsummary = {'n': n, 'ok': ok}",
    ),
}

ATTACKS = {
    "pow(3, a, a+2), a of 20,000 bits": "a = 2 ** 20000 + 1\nx = pow(3, a, a + 2)",
    "int * int (127,000 bits)": "a = 3 ** 40000\nx = a * a",
    'f"{1:>1000000000}"': "x = f'{1:>1000000000}'",
    "'%1000000000d' % 1": "x = '%1000000000d' % 1",
    "'a'.ljust(10**9)": "x = 'a'.ljust(10 ** 9)",
    "b'a'.center(10**9)": "x = b'a'.center(10 ** 9)",
    "hash of a tuple sharing its parts (2^80)": "t = ()\nfor i in range(80):\n    t = (t, t)\nx = hash(t)",
    "[[0]*10**6 for 1000 rounds] (8 GB)": "x = [[0] * 1000000 for i in range(1000)]",
    "int of 5,000 digits written back": "x = 10 ** 5000",
}
GUARDS_ONLY_BOUNDED = {
    "pow(3, a, a+2), a of 20,000 bits",
    "int * int (127,000 bits)",
    "int of 5,000 digits written back",
}


def median_us(fn, n: int) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1e6


def task_data(db: Db) -> dict:
    case_no, _ = db.start()
    s = db.factory()
    state = json.loads(s.scalar(select(Case.state).where(Case.case_no == case_no)))
    s.close()
    data = max((t["data"] for t in state["tasks"].values()), key=lambda d: len(json.dumps(d, default=str)))
    data.setdefault("unit_decision", "approve")
    data.setdefault("dmninput", "rigid")
    return data


def per_evaluation(data: dict, n: int) -> None:
    print(f"task data: {len(data)} keys, {len(json.dumps(data, ensure_ascii=False, default=str))} bytes as JSON")
    here = RestrictedEnvironment(isolated=False)
    deployed = RestrictedEnvironment()
    print(f"  {'source':28} {'in process':>12} {'as deployed':>12}   (median µs per evaluation, {n} runs)")
    for name, (mode, source) in SOURCES.items():
        results = []
        for env in (here, deployed):
            if mode == "eval":
                results.append(median_us(lambda env=env, source=source: env.evaluate(source, data), n))
            else:
                results.append(median_us(lambda env=env, source=source: env.execute(source, dict(data)), n))
        print(f"  {name:28} {results[0]:12.1f} {results[1]:12.1f}")
    starts = []
    for _ in range(5):
        t = time.perf_counter()
        child = sandbox._Child()
        starts.append(time.perf_counter() - t)
        child.kill()
    print(f"  new sandbox process (start until ready): median {statistics.median(starts) * 1000:.0f} ms of 5")


def per_transition(n_cases: int) -> None:
    counts: collections.Counter[str] = collections.Counter()
    real_isolated = RestrictedEnvironment._isolated

    def counting(self, mode, source, context, external_context):
        counts["sandbox"] += 1
        return real_isolated(self, mode, source, context, external_context)

    real_eval, real_exec = RestrictedEnvironment.evaluate, RestrictedEnvironment.execute

    def evaluate(self, *a, **k):
        counts["evaluations"] += 1
        return real_eval(self, *a, **k)

    def execute(self, *a, **k):
        counts["evaluations"] += 1
        return real_exec(self, *a, **k)

    RestrictedEnvironment._isolated, RestrictedEnvironment.evaluate = counting, evaluate  # type: ignore[method-assign]
    RestrictedEnvironment.execute = execute  # type: ignore[method-assign]
    real_make = instances.make_script_engine
    results = {}
    try:
        for isolated in (False, True, False, True):  # interleaved: the machine's load moves between runs
            instances.make_script_engine = lambda operations=None, isolated=isolated: scripting.RestrictedScriptEngine(
                RestrictedEnvironment(operations=operations, isolated=isolated)
            )
            counts.clear()
            with tempfile.TemporaryDirectory() as tmp, time_machine.travel(START_AT, tick=True):
                db = Db(tmp, f"iso{int(isolated)}")
                t = time.perf_counter()
                for _ in range(n_cases):
                    case_no, task_id = db.start()
                    ((_, task_id),) = db.complete(case_no, task_id, FORM_UNIT, db.unit_hr)
                    db.complete(case_no, task_id, FORM_DEPT, db.dept)
                elapsed = time.perf_counter() - t
                db.dispose()
            per = elapsed / (3 * n_cases) * 1000
            results.setdefault(isolated, []).append(per)
            print(
                f"  isolation {'on ' if isolated else 'off'}: {per:.2f} ms per transition "
                f"({counts['evaluations'] / (3 * n_cases):.1f} evaluations each, "
                f"{counts['sandbox'] / (3 * n_cases):.2f} of them in the sandbox)"
            )
    finally:
        instances.make_script_engine = real_make
        RestrictedEnvironment._isolated, RestrictedEnvironment.evaluate = real_isolated, real_eval  # type: ignore
        RestrictedEnvironment.execute = real_exec  # type: ignore[method-assign]
    off, on = min(results[False]), min(results[True])
    print(f"  best of each: off {off:.2f} ms, on {on:.2f} ms per transition ({(on / off - 1) * 100:+.1f} %)")
    _ = (UNIT_REVIEW, DEPT_REVIEW)


def attacks() -> None:
    deployed = RestrictedEnvironment(time_limit=1.0)
    deployed.execute("x = 1", {})
    here = RestrictedEnvironment(time_limit=1.0, isolated=False)
    print(f"  {'attack':42} {'as deployed':>14}  guards only")
    for name, source in ATTACKS.items():
        t = time.perf_counter()
        try:
            deployed.execute(source, {})
            outcome = "NOT REFUSED"
        except ScriptError as e:
            outcome = e.message
        took = time.perf_counter() - t
        if name in GUARDS_ONLY_BOUNDED:
            t = time.perf_counter()
            try:
                here.execute(source, {})
                guards = "NOT REFUSED"
            except ScriptError:
                guards = f"{time.perf_counter() - t:.2f} s"
        else:
            guards = "unbounded (not run)"
        print(f"  {name:42} {took:8.2f} s  {guards}   [{outcome}]")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100, help="registration cases per run of the per-transition bench")
    ap.add_argument("--runs", type=int, default=2000, help="evaluations per micro-benchmark")
    args = ap.parse_args(argv)
    print("1. per evaluation")
    with tempfile.TemporaryDirectory() as tmp, time_machine.travel(START_AT, tick=True):
        db = Db(tmp, "data")
        data = task_data(db)
        db.dispose()
    per_evaluation(data, args.runs)
    print(f"2. per transition ({args.cases} registration cases x 3 transitions, SQLite, one process)")
    per_transition(args.cases)
    print("3. attacks (time limit 1 s; the sandbox child is killed at 1.5 s)")
    attacks()
    sandbox.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
