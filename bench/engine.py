"""Benchmark of the case engine (run by hand, not a test):  .venv/bin/python bench/engine.py [--cases N] [--quick]

Three measurements, on a fresh SQLite file database in a temp dir (prepared like the tests: bundled BPMN deployed,
demo reference data loaded), under a fixed clock (2026-03-02 09:00 Asia/Shanghai, ticking):

1. end_to_end — ONE task completion through the services: `workflows.services.cases.complete_task` for the
   `Task_unit_review` step of `green_channel_registration` cases (lock/load the case, restore the instance, validate
   the form, run, save state + open-task projection + subscriptions + audit events, commit). N cases are started
   first (untimed); each completion is then timed on its own with time.perf_counter (fresh session per call, as a
   web request would have; session creation is outside the timer, its first connection checkout is inside).
2. raw — SpiffWorkflow alone on the same spec and the same step, in the same process: `task.data.update(form)` +
   `task.run()` + `workflows.engine.instances.run_until_stable(wf)` (do_engine_steps + the refresh_timers loop the engine
   runs) + `serializer.serialize_json(wf)` (the library's own full serialization, spec included).
   The raw workflows are RESTORED from the stored state of cases started through the services (so they are in
   exactly the state the end-to-end run finds), with `workflows.engine.serialization.workflow_from_state` + the definition
   spec from `workflows.engine.instances.specs_for`, and the project's restricted script engine bound to cheap stub operators
   (no operator is called on this step anyway: unit review -> gateways -> dept review). Restoring is untimed; it is
   reported separately for information.
3. throughput — C cases x 3 transitions (start counts as one, unit review, dept review) through the services on the
   same kind of database, single process, wall clock; prints transitions/s (and per phase).

Last line, exactly:  `ratio end_to_end/raw: X.XX transitions/s: N`
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import time_machine  # noqa: E402
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from sqlalchemy import select  # noqa: E402

from tests.conftest import _prepare  # noqa: E402
from tests.helpers import APPROVE, registration, start_as  # noqa: E402
from webapp.demo.accounts import actor_for  # noqa: E402
from workflows.domain.models import Case  # noqa: E402
from workflows.engine import instances as wf_engine  # noqa: E402
from workflows.engine import serialization  # noqa: E402
from workflows.engine.scripting import make_script_engine  # noqa: E402
from workflows.infra.db import make_engine  # noqa: E402
from workflows.services import cases as svc  # noqa: E402
from workflows.services.operations import OPERATORS  # noqa: E402

SH = ZoneInfo("Asia/Shanghai")
START_AT = datetime(2026, 3, 2, 9, 0, tzinfo=SH)  # a Monday, a working day
PROCEDURE = "green_channel_registration"
UNIT_REVIEW = "Task_unit_review"
DEPT_REVIEW = "Task_dept_review"
FORM_UNIT = APPROVE[UNIT_REVIEW]  # {"unit_decision": "approve", "unit_opinion": "同意"}
FORM_DEPT = APPROVE[DEPT_REVIEW]


# ----------------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------------


def stats(samples: list[float]) -> dict:
    s = sorted(samples)
    p95 = s[min(len(s) - 1, max(0, int(round(0.95 * len(s))) - 1))]
    return {
        "n": len(s),
        "median": statistics.median(s) * 1000,
        "p95": p95 * 1000,
        "mean": statistics.fmean(s) * 1000,
        "min": s[0] * 1000,
    }


class Db:
    """A fresh SQLite file database prepared like the tests' `factory` fixture."""

    def __init__(self, tmp: str, name: str):
        self.path = os.path.join(tmp, f"{name}.sqlite3")
        self.engine = make_engine(f"sqlite:///{self.path}")
        self.factory = _prepare(self.engine)
        s = self.factory()
        self.applicant = actor_for(s, "zhangwei")
        self.unit_hr = actor_for(s, "hr_nky")
        self.dept = actor_for(s, "dept_kjt")
        s.commit()
        s.close()

    def start(self) -> tuple[str, str]:
        """Start one registration case; returns (case_no, task_id of the open task)."""
        s = self.factory()
        try:
            case = start_as(s, PROCEDURE, registration(), self.applicant)
            tasks = [t for t in case.open_tasks]
            assert [t.spec_name for t in tasks] == [UNIT_REVIEW], [t.spec_name for t in tasks]
            return case.case_no, tasks[0].task_id
        finally:
            s.close()

    def complete(self, case_no: str, task_id: str, form: dict, actor) -> list:
        s = self.factory()
        try:
            case = svc.complete_task(s, case_no, task_id, form, actor)
            return [(t.spec_name, t.task_id) for t in case.open_tasks]
        finally:
            s.close()

    def dispose(self):
        self.engine.dispose()


# ----------------------------------------------------------------------------------------------------------------
# 1. end to end
# ----------------------------------------------------------------------------------------------------------------


def bench_end_to_end(db: Db, n: int) -> tuple[list[float], list[str]]:
    started = [db.start() for _ in range(n)]
    # keep the stored states of the cases before their completion: the raw benchmark restores from them
    s = db.factory()
    states = list(s.scalars(select(Case.state).where(Case.case_no.in_([c for c, _ in started]))))
    s.commit()
    s.close()
    times = []
    gc.collect()
    for case_no, task_id in started:
        s = db.factory()
        try:
            t0 = time.perf_counter()
            case = svc.complete_task(s, case_no, task_id, FORM_UNIT, db.unit_hr)
            times.append(time.perf_counter() - t0)
            assert [t.spec_name for t in case.open_tasks] == [DEPT_REVIEW]
        finally:
            s.close()
    return times, states


# ----------------------------------------------------------------------------------------------------------------
# 2. raw SpiffWorkflow
# ----------------------------------------------------------------------------------------------------------------

STUB_CALLS = [0]


def stub_operations() -> dict:
    """Every allow-listed operator as a stub returning {} (and counting its calls: none expected on this step)."""

    def stub(data, params):
        STUB_CALLS[0] += 1
        return {}

    return {name: stub for name in OPERATORS}


def library_serializer() -> BpmnWorkflowSerializer:
    """The library's stock serializer (spiff config, full JSON with the spec) + the Decimal/date converters."""
    registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
    serialization._register_data_types(registry)
    return BpmnWorkflowSerializer(registry)


def bench_raw(db: Db, states: list[str]) -> dict:
    s = db.factory()
    definition = s.scalar(select(Case).where(Case.procedure == PROCEDURE).order_by(Case.id.desc()).limit(1)).definition
    sha256, spec_dict = definition.sha256, definition.spec
    s.commit()
    s.close()
    specs = wf_engine.specs_for(sha256, spec_dict)
    serializer = library_serializer()
    ops = stub_operations()

    restore_t, run_t, steps_t, ser_t, total_t, sizes = [], [], [], [], [], []
    workflows = []
    for state in states:
        t0 = time.perf_counter()
        wf = serialization.workflow_from_state(state, specs, make_script_engine(operations=ops))
        restore_t.append(time.perf_counter() - t0)
        workflows.append(wf)
    gc.collect()
    for wf in workflows:
        task = next(t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.name == UNIT_REVIEW)
        t0 = time.perf_counter()
        task.data.update(FORM_UNIT)
        task.run()
        t1 = time.perf_counter()
        wf_engine.run_until_stable(wf)
        t2 = time.perf_counter()
        js = serializer.serialize_json(wf)
        t3 = time.perf_counter()
        run_t.append(t1 - t0)
        steps_t.append(t2 - t1)
        ser_t.append(t3 - t2)
        total_t.append(t3 - t0)
        sizes.append(len(js))
        ready = [t.task_spec.name for t in wf.get_tasks(state=TaskState.READY, manual=True)]
        assert ready == [DEPT_REVIEW], ready
    # for information: what the app itself writes (state without spec) for the same workflows
    app_ser_t, app_sizes = [], []
    for wf in workflows:
        t0 = time.perf_counter()
        js = serialization.state_to_json(wf)
        app_ser_t.append(time.perf_counter() - t0)
        app_sizes.append(len(js.encode()))
    return {
        "total": total_t,
        "run": run_t,
        "steps": steps_t,
        "serialize_json": ser_t,
        "restore": restore_t,
        "app_state_to_json": app_ser_t,
        "full_json_bytes": statistics.median(sizes),
        "state_bytes": statistics.median(app_sizes),
    }


# ----------------------------------------------------------------------------------------------------------------
# 3. throughput
# ----------------------------------------------------------------------------------------------------------------


def bench_throughput(db: Db, n_cases: int) -> dict:
    gc.collect()
    phase = {}
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    started = [db.start() for _ in range(n_cases)]
    phase["start"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    after_unit = []
    for case_no, task_id in started:
        open_ = db.complete(case_no, task_id, FORM_UNIT, db.unit_hr)
        assert [n for n, _ in open_] == [DEPT_REVIEW], open_
        after_unit.append((case_no, open_[0][1]))
    phase["unit_review"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for case_no, task_id in after_unit:
        db.complete(case_no, task_id, FORM_DEPT, db.dept)
    phase["dept_review"] = time.perf_counter() - t0
    wall = time.perf_counter() - t_all
    return {"wall": wall, "phases": phase, "transitions": 3 * n_cases}


# ----------------------------------------------------------------------------------------------------------------


def row(name: str, st: dict) -> str:
    return f"  {name:<40} {st['n']:>6} {st['median']:>9.2f} {st['p95']:>9.2f} {st['mean']:>9.2f} {st['min']:>9.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--cases", type=int, default=None, help="cases for the throughput run (default 1000; 200 with --quick)"
    )
    ap.add_argument(
        "--completions",
        type=int,
        default=None,
        help="timed completions for end-to-end and raw (default 300; 60 with --quick)",
    )
    ap.add_argument("--quick", action="store_true", help="small run (smoke test)")
    args = ap.parse_args(argv)
    n_cases = args.cases or (200 if args.quick else 1000)
    n_e2e = args.completions or (60 if args.quick else 300)

    traveller = time_machine.travel(START_AT, tick=True)
    traveller.start()
    t_begin = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
            db = Db(tmp, "e2e")
            # warm-up (imports, spec restore into the process cache, compiled scripts, SQLAlchemy compiled cache)
            for _ in range(5):
                c, t = db.start()
                db.complete(c, t, FORM_UNIT, db.unit_hr)
            e2e, states = bench_end_to_end(db, n_e2e)
            raw = bench_raw(db, states)
            db.dispose()

            db2 = Db(tmp, "throughput")
            c, t = db2.start()  # warm the fresh engine's pool
            tp = bench_throughput(db2, n_cases)
            db2.dispose()
    finally:
        traveller.stop()

    e2e_s, raw_s = stats(e2e), stats(raw["total"])
    ratio = e2e_s["median"] / raw_s["median"]
    tps = tp["transitions"] / tp["wall"]

    print(f"engine benchmark — SQLite file DB, clock {START_AT.isoformat()} (ticking), python {sys.version.split()[0]}")
    print(f"  end-to-end/raw: {n_e2e} completions of {UNIT_REVIEW} ({PROCEDURE}); form {FORM_UNIT}")
    print(
        f"  raw instance JSON (serialize_json, with spec): {raw['full_json_bytes'] / 1024:.1f} KiB; "
        f"app state (no spec): {raw['state_bytes'] / 1024:.1f} KiB"
    )
    print()
    print(f"  {'ms per completion':<40} {'n':>6} {'median':>9} {'p95':>9} {'mean':>9} {'min':>9}")
    print(row("end_to_end  services.complete_task", e2e_s))
    print(row("raw         total", raw_s))
    print(row("raw           task.run()", stats(raw["run"])))
    print(row("raw           run_until_stable", stats(raw["steps"])))
    print(row("raw           serialize_json", stats(raw["serialize_json"])))
    print(row("(info) restore workflow_from_state", stats(raw["restore"])))
    print(row("(info) app state_to_json", stats(raw["app_state_to_json"])))
    print(
        f"  raw: workflows restored from the services' stored state; stub operator calls during the timed step: "
        f"{STUB_CALLS[0]}"
    )
    print()
    print(f"  throughput: {n_cases} cases x 3 transitions = {tp['transitions']} in {tp['wall']:.2f} s wall")
    for name, secs in tp["phases"].items():
        print(f"    {name:<12} {n_cases / secs:8.1f} /s   ({secs * 1000 / n_cases:.2f} ms each)")
    print(f"  targets: end_to_end <= 2x raw (now {ratio:.2f}x), >= 200 transitions/s (now {int(tps)})")
    print(f"  total benchmark time {time.perf_counter() - t_begin:.1f} s")
    print(f"ratio end_to_end/raw: {ratio:.2f} transitions/s: {int(tps)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
