"""Instructions per case step, counted by valgrind (run by hand, not a test):

    .venv/bin/python bench/instructions.py [--steps 20] [--phases start,unit,dept]

Wall-clock figures on a shared virtual machine move by 10–20 % from run to run; an instruction count does not
(the same code, data and environment give the same count to within 0.1 %), so a change of a few per cent in the
services path can be judged with it. Needs valgrind (`apt-get install valgrind`).

How: one SQLite database is prepared like bench/engine.py's (bundled BPMN deployed, demo reference data, 5 cases run
to warm it), then for each phase a child process copies it, warms its own caches (3 cases through all three steps),
sets up the cases it needs, and only then switches callgrind's instrumentation on (`callgrind_control -i on`) for
N steps of one kind: start (`cases.start_case`), unit (单位审核 via `cases.complete_task`) or dept (主管部门审核,
which also reserves 编制). Printed: instructions per step (callgrind's Ir total / N).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def prepare(path: str) -> None:
    import time_machine

    import bench.engine as eng

    with time_machine.travel(eng.START_AT, tick=True):
        db = eng.Db(os.path.dirname(path), Path(path).stem)
        for _ in range(5):
            case_no, task_id = db.start()
            db.complete(case_no, task_id, eng.FORM_UNIT, db.unit_hr)
        db.dispose()


def child(base: str, phase: str, steps: int) -> None:
    """Runs inside valgrind: warm up, set up, then count `steps` steps of `phase` only."""
    import time_machine

    import bench.engine as eng
    from webapp.demo.accounts import actor_for
    from workflows.infra.db import make_engine, make_session_factory

    tmp = tempfile.mkdtemp(prefix="bench-instr-")
    shutil.copy(base, os.path.join(tmp, "db.sqlite3"))
    traveller = time_machine.travel(eng.START_AT, tick=False)  # a still clock: the same path every run
    traveller.start()

    class Copy(eng.Db):
        def __init__(self):
            self.engine = make_engine(f"sqlite:///{tmp}/db.sqlite3")
            self.factory = make_session_factory(self.engine)
            s = self.factory()
            self.applicant, self.unit_hr, self.dept = (actor_for(s, u) for u in ("zhangwei", "hr_nky", "dept_kjt"))
            s.commit()
            s.close()

    db = Copy()
    for _ in range(3):
        case_no, task_id = db.start()
        nxt = db.complete(case_no, task_id, eng.FORM_UNIT, db.unit_hr)
        db.complete(case_no, nxt[0][1], eng.FORM_DEPT, db.dept)
    todo = [] if phase == "start" else [db.start() for _ in range(steps)]
    if phase == "dept":
        todo = [(c, db.complete(c, t, eng.FORM_UNIT, db.unit_hr)[0][1]) for c, t in todo]
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], capture_output=True, check=False)
    if phase == "start":
        for _ in range(steps):
            db.start()
    else:
        form, actor = (eng.FORM_UNIT, db.unit_hr) if phase == "unit" else (eng.FORM_DEPT, db.dept)
        for case_no, task_id in todo:
            db.complete(case_no, task_id, form, actor)
    subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], capture_output=True, check=False)
    traveller.stop()
    db.dispose()
    shutil.rmtree(tmp, ignore_errors=True)


def count(base: str, phase: str, steps: int, workdir: str) -> int:
    out = os.path.join(workdir, f"callgrind.{phase}.out")
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            base,
            phase,
            str(steps),
        ],
        check=True,
        capture_output=True,
    )
    summary = subprocess.run(["callgrind_annotate", out], check=True, capture_output=True, text=True).stdout
    m = re.search(r"^\s*([\d,]+)\s.*PROGRAM TOTALS", summary, re.M)
    if m is None:
        raise RuntimeError("callgrind_annotate printed no PROGRAM TOTALS")
    return int(m.group(1).replace(",", ""))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--phases", default="start,unit,dept")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        base, phase, steps = args.child
        child(base, phase, int(steps))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-instr-") as work:
        base = os.path.join(work, "base.sqlite3")
        prepare(base)
        results = {}
        for phase in args.phases.split(","):
            results[phase] = count(base, phase, args.steps, work) / args.steps
            print(
                f"  {phase:<6} {results[phase] / 1e6:8.2f} million instructions per step ({args.steps} steps, SQLite)"
            )
    print("instructions per step (millions): " + " / ".join(f"{k} {v / 1e6:.1f}" for k, v in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
