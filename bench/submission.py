"""Benchmark of a step submission that issues a notice (run by hand, not a test):

    .venv/bin/python bench/submission.py [--cases 40] [--database-url URL]

The one-process set-up of `make run` (SWEEP_IN_PROCESS=1: the render queue is a thread of the web process), on a
new SQLite database with the demo data (or an empty PostgreSQL database given by --database-url). For each of
`--cases` 绿色通道列编注册 cases waiting for 主管部门审核, the 主管部门 officer refuses it through the officer page
(POST …/tasks/<id>/complete, Flask test client: the server's own time, no network); the refusal issues a notice.
Measured per submission:

* server time: the POST, from the request to the full response (target p95 ≤ 150 ms) — it only plans the
  document (文号, snapshot, verification code); also the request thread's CPU time, which other processes on a
  shared machine do not inflate;
* PDF ready: from the response until the render thread has rendered, signed and archived the notice's PDF
  (target ≤ 2 s), read by polling the database every 10 ms.

Submissions are one at a time, each after the previous PDF is ready (an officer's pace). The first submission
(fonts and stylesheets loaded, the office's pilot certificate made) is reported apart as "cold".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from tests.helpers import act, find_task, registration, start  # noqa: E402
from webapp import create_app, issuing  # noqa: E402
from webapp.demo.accounts import DEMO_PASSWORD  # noqa: E402
from workflows.domain.models import Case, Document  # noqa: E402

REG = "green_channel_registration"


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=40)
    ap.add_argument("--database-url", default=None, help="an empty database (default: a new SQLite file)")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-submission-"))
    url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-submission",
            "WTF_CSRF_ENABLED": False,
            "UPLOAD_DIR": str(tmp / "uploads"),
            "UPLOAD_STORE": "filesystem",
            "SWEEP_IN_PROCESS": True,  # the render thread (and the timer sweep, set far apart)
            "SWEEP_INTERVAL_SECONDS": 3600,
            "LOG_LEVEL": "WARNING",
        }
    )
    result = app.test_cli_runner().invoke(args=["init-db", "--demo"])
    assert result.exit_code == 0, result.output
    factory = app.extensions["db_factory"]

    # cases waiting for 主管部门审核 (U0101 → 科技厅, dept_kjt), their acceptance notices archived beforehand
    n = args.cases + 1
    urls: list[tuple[str, str]] = []
    with factory() as s:
        for _ in range(n):
            case = start(s, REG, registration())
            act(s, case.case_no, "Task_unit_review")
            t = find_task(s, case.case_no, "Task_dept_review")
            urls.append((case.case_no, f"/officer/cases/{case.case_no}/tasks/{t.task_id}/complete"))
    issuing.drain(app)

    client = app.test_client()
    r = client.post("/login", data={"username": "dept_kjt", "password": DEMO_PASSWORD})
    assert r.status_code in (302, 303)

    server, ready, cpu = [], [], []
    for case_no, path in urls:
        t0, c0 = time.perf_counter(), time.thread_time()
        r = client.post(path, data={"dept_decision": "refuse", "dept_opinion": "不符合引进条件"})
        t1, c1 = time.perf_counter(), time.thread_time()
        cpu.append((c1 - c0) * 1000)
        assert r.status_code == 303, r.get_data(as_text=True)[:300]
        with factory() as s:
            case_id = s.scalar(select(Case.id).where(Case.case_no == case_no))
            doc_id = s.scalar(
                select(Document.id).where(Document.case_id == case_id, Document.step == "close_case")
            ) or s.scalar(select(Document.id).where(Document.case_id == case_id).order_by(Document.id.desc()))
            s.commit()
        while True:
            with factory() as s:
                sha = s.scalar(select(Document.sha256).where(Document.id == doc_id))
            if sha:
                break
            if time.perf_counter() - t1 > 60:
                raise SystemExit(f"the PDF of {case_no} was not ready after 60 s")
            time.sleep(0.01)
        t2 = time.perf_counter()
        server.append((t1 - t0) * 1000)
        ready.append((t2 - t1) * 1000)
        time.sleep(0.2)  # an officer's pace: the next submission comes a moment later

    issuing.stop_renderer(app)
    cold_server, cold_ready, _ = server.pop(0), ready.pop(0), cpu.pop(0)
    db = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(
        f"submission that issues a notice (主管部门 refuses after acceptance → 不予列编决定书), one process, {db}, {len(server)} cases"
    )
    print(f"  cold (first of the process): server {cold_server:.0f} ms, PDF ready {cold_ready:.0f} ms after")
    print(
        f"  server time  p50 {statistics.median(server):.1f} ms  p95 {p(server, 0.95):.1f} ms  "
        f"max {max(server):.1f} ms   (target p95 ≤ 150 ms)"
    )
    print(
        f"  server CPU   p50 {statistics.median(cpu):.1f} ms  p95 {p(cpu, 0.95):.1f} ms   (the request thread's own CPU time: "
        "what the wall time is on an idle machine)"
    )
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs)")
    print(
        f"  PDF ready    p50 {statistics.median(ready):.0f} ms  p95 {p(ready, 0.95):.0f} ms  "
        f"max {max(ready):.0f} ms after the response   (target ≤ 2000 ms)"
    )
    print(f"submission p95 ms: {p(server, 0.95):.1f}; pdf ready p95 ms: {p(ready, 0.95):.0f}")
    app.extensions["db_engine"].dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
