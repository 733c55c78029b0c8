"""Benchmark of case migration (run by hand, not a test):  .venv/bin/python bench/migration.py [--cases N]

On a fresh SQLite file database in a temp dir (prepared like the tests: bundled BPMN deployed, demo reference data
loaded), under a fixed ticking clock (2026-03-02 09:00 Asia/Shanghai): N registration cases are started (untimed),
half of them taken one step further (untimed), then the scenario's v2 of the process is deployed
(tests/migration_targets.py: a step removed, one turned into a script, one added, a timer changed) and
`workflows.services.case_migration.migrate_cases` runs over all of them — first as a dry run, then for real. Each
case is one transaction (lock, restore, check, move, run until stable, save, re-read against the target; the dry
run then rolls back). Prints the wall time per case of both runs and the outcomes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import time_machine  # noqa: E402

from tests.conftest import _prepare  # noqa: E402
from tests.helpers import act, registration, start_as  # noqa: E402
from tests.migration_targets import REG, deploy_edited, v2_changes  # noqa: E402
from webapp.demo.accounts import actor_for  # noqa: E402
from workflows.infra.db import make_engine  # noqa: E402
from workflows.services.case_migration import migrate_cases  # noqa: E402

START_AT = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, time_machine.travel(START_AT, tick=True):
        engine = make_engine(f"sqlite:///{tmp}/bench.sqlite3")
        session = _prepare(engine)()
        officer = actor_for(session, "hr_nky")
        for i in range(args.cases):
            no = start_as(session, REG, registration(outside_establishment=i % 4 == 3), officer).case_no
            if i % 2:
                act(session, no, "Task_unit_review")
        v2 = deploy_edited(session, *v2_changes())
        admin = actor_for(session, "admin")
        for dry_run in (True, False):
            t0 = time.perf_counter()
            report = migrate_cases(session, REG, 1, v2, admin, dry_run=dry_run)
            ms = (time.perf_counter() - t0) * 1000
            print(
                f"{'dry run' if dry_run else 'migrate'}: {len(report.cases)} cases in {ms:.0f} ms = "
                f"{ms / max(1, len(report.cases)):.1f} ms per case; {report.counts}"
            )
        session.close()
        engine.dispose()


if __name__ == "__main__":
    main()
