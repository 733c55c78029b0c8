"""Simulation before publish (issue 15; run by hand, not a test): how long replaying recent cases on a version takes,
against a database loaded by `flask generate` (or any database with history):

    DATABASE_URL=sqlite:////tmp/simbench.sqlite3 .venv/bin/python bench/simulation_replay.py [--limit 100 500]

Times `simulation.simulate` (wall clock) for the registration process on its published version (nothing changed: the
verdicts say how faithful the replay is) and on a draft whose eligibility condition is stricter (saved in a
transaction that is rolled back afterwards), closed cases only and with the open ones.
On the published version every closed case should come out 结果相同 — except that `flask generate` forces some timers
due before the deadline its own steps recorded (a 容缺 lapse, a 公示 end), which a replay on the recorded legal clock
does not do: those generated cases show as stalled or on another path (a real history has no such firing).
Last line, exactly:  `ms per case published/draft: A/B (N cases)`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workflows.infra.db import make_engine, make_session_factory  # noqa: E402
from workflows.services import simulation, versions  # noqa: E402

REG = "green_channel_registration"
STRICTER = (
    ">eligibility_ok</bpmn:conditionExpression>",
    ">eligibility_ok and talent_category &lt;= 2</bpmn:conditionExpression>",
)


def run(session, version: int, limit: int, running: bool) -> tuple[float, simulation.SimulationReport]:
    t0 = time.perf_counter()
    report = simulation.simulate(session, REG, version, limit=limit, include_running=running)
    return time.perf_counter() - t0, report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, nargs="+", default=[100, 500])
    args = ap.parse_args(argv)
    url = os.environ.get("DATABASE_URL") or "sqlite:///instance/green_channel.sqlite3"
    session = make_session_factory(make_engine(url))()
    published = versions.editing_base(session, REG)
    if published.status == "draft":
        raise SystemExit("a draft exists already: discard it first")
    _, xml = versions.main_bpmn(published)
    per_case = {}
    for label in ("published", "draft"):
        version = published.version
        if label == "draft":
            draft, _changed = versions.save_draft(session, REG, xml.replace(*STRICTER), "bench")
            version = draft.version
        run(session, version, 10, False)  # warm: specs restored, sandbox idle
        for limit in args.limit:
            for running in (False, True):
                seconds, report = run(session, version, limit, running)
                n = len(report.cases)
                per_case[label] = 1000 * seconds / max(n, 1)
                print(
                    f"{label:9} v{version} limit={limit:<4} open={'yes' if running else 'no ':3} cases={n:<4} "
                    f"{seconds:6.2f} s  {per_case[label]:6.1f} ms/case  {report.counts()}"
                )
    session.rollback()
    print(f"ms per case published/draft: {per_case['published']:.1f}/{per_case['draft']:.1f} ({n} cases)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
