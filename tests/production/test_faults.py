"""Faults: the PostgreSQL server restarted under load, and a tampered / deleted audit event."""

from __future__ import annotations

import http.client
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL
from tests.helpers import start_as

from .conftest import (
    FORMS,
    check_cases_consistent,
    check_quota_ledger,
    events_by_case,
    id_number,
    registration,
    wait_for_postgres,
)
from .conftest import REG as REG_PROC

pytestmark = pytest.mark.production


def _restart_command() -> list[str] | None:
    """How to restart the TEST_DATABASE_URL server: PG_RESTART_CMD, else pg_ctlcluster for a local cluster (root)."""
    if os.environ.get("PG_RESTART_CMD"):
        return shlex.split(os.environ["PG_RESTART_CMD"])
    url = make_url(PG_URL or "")
    if url.host not in ("127.0.0.1", "localhost", "::1") or not shutil.which("pg_lsclusters") or os.geteuid() != 0:
        return None
    port = str(url.port or 5432)
    out = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == port:
            return ["pg_ctlcluster", "--skip-systemctl-redirect", parts[0], parts[1], "restart"]
    return None


def _ensure_server_up(cmd: list[str]) -> None:
    try:
        wait_for_postgres(30)
    except RuntimeError:
        subprocess.run([*cmd[:-1], "start"], capture_output=True, timeout=60)
        wait_for_postgres(60)


def test_database_restart_under_load(deployment):
    cmd = _restart_command()
    if cmd is None:
        pytest.skip(
            "cannot restart the PostgreSQL server of TEST_DATABASE_URL here (needs a local cluster, root and "
            "pg_ctlcluster, or PG_RESTART_CMD)"
        )
    d = deployment
    try:
        _run_restart_under_load(d, cmd)
    finally:
        _ensure_server_up(cmd)


def _run_restart_under_load(d, cmd):
    d.install(demo=True)
    d.adjust_quota("U0101", 100)
    d.start_web(workers=2)
    worker = d.start_flask("worker", "worker", "--interval", "1")
    hr = d.client("hr_nky")
    mine = set()
    for i in range(60):
        status, body, _ = hr.call("POST", "/api/v1/cases", registration(f"戊{i}", id_number(600 + i)))
        assert status == 201, body
        mine.add(body["case_no"])

    lock = threading.Lock()
    log: list[dict] = []  # every response or error the clients saw
    done = threading.Event()

    def record(**item):
        item["t"] = time.time()
        with lock:
            log.append(item)

    def officer(user):
        c = d.client(user)
        while not done.is_set():
            try:
                status, page, _ = c.call("GET", "/api/v1/tasks?tab=group&per_page=50")
            except (OSError, http.client.HTTPException) as e:
                record(kind="inbox", status=None, error=repr(e))
                time.sleep(0.1)
                continue
            record(kind="inbox", status=status, body=page)
            if status != 200:
                time.sleep(0.1)
                continue
            for t in page["items"]:
                if t["case_no"] not in mine:
                    continue
                try:
                    status, body, _ = c.call(
                        "POST",
                        f"/api/v1/tasks/{t['case_no']}/{t['task_id']}/complete",
                        {"data": FORMS[t["spec_name"]], "version": t["case_version"]},
                    )
                except (OSError, http.client.HTTPException) as e:
                    record(kind="complete", status=None, error=repr(e), case_no=t["case_no"], title=t["title"])
                    continue
                record(kind="complete", status=status, body=body, case_no=t["case_no"], title=t["title"])
            if not page["items"]:
                time.sleep(0.2)

    def prober():
        c = d.client(None)
        while not done.is_set():
            try:
                status, body, _ = c.call("GET", "/readyz")
                record(kind="readyz", status=status, body=body)
            except (OSError, http.client.HTTPException) as e:
                record(kind="readyz", status=None, error=repr(e))
            time.sleep(0.05)

    threads = [threading.Thread(target=officer, args=(u,)) for u in ("hr_nky", "dept_kjt", "renshe")]
    threads.append(threading.Thread(target=prober))
    t0 = time.time()
    for th in threads:
        th.start()
    try:
        while sum(1 for x in log if x["kind"] == "complete" and x["status"] == 200) < 30:
            time.sleep(0.05)
            assert time.time() - t0 < 120, "no load built up"
        r0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        r1 = time.time()
        assert r.returncode == 0, r.stderr
        deadline = time.time() + 150
        while time.time() < deadline:
            if _all_completed(d, mine):
                break
            time.sleep(0.5)
    finally:
        done.set()
        for th in threads:
            th.join(60)
    assert _all_completed(d, mine), "the cases did not all complete after the restart"

    # -- failures were clean: a JSON 5xx or a refused connection, never anything else -----------------------------
    failures = [x for x in log if x["status"] is None or x["status"] >= 500]
    for x in log:
        if x["status"] is None:
            continue
        assert x["status"] in (200, 409, 500, 503), x
        if x["status"] >= 500:
            err = x["body"].get("error") if x["kind"] != "readyz" else x["body"]
            assert err and (x["kind"] == "readyz" and err.get("status") == "unavailable" or err.get("code")), x
        if x["status"] == 409:
            assert x["body"]["error"]["code"] == "conflict", x
    readyz = [x for x in log if x["kind"] == "readyz"]
    assert any(x["status"] != 200 for x in readyz if x["t"] >= r0), "/readyz never saw the outage"
    assert any(x["status"] == 200 for x in readyz if x["t"] > r1), "/readyz never recovered"
    after = [x for x in log if x["kind"] == "complete" and x["status"] == 200 and x["t"] > r1]
    assert after, "no transition succeeded after the restart"

    # -- nothing lost, nothing applied twice ------------------------------------------------------------------------
    completed = events_by_case(d, "task_completed")
    for no in mine:
        titles = [e.task_name for e in completed.get(no, [])]
        assert len(titles) == len(set(titles)) == 3, (no, titles)  # 单位审核, 主管部门审核, 列编备案: once each
    for x in log:
        if x["kind"] == "complete" and x["status"] == 200:
            assert x["title"] in [e.task_name for e in completed[x["case_no"]]], x
    check_cases_consistent(d)
    check_quota_ledger(d)
    assert d.flask("verify-audit").returncode == 0
    assert worker.poll() is None, "the timer worker died with the database"
    assert d.stop(worker, signal.SIGTERM) == 0
    codes = Counter((x["kind"], x["status"]) for x in log)
    print(
        f"\n[production/restart] restart took {r1 - r0:.1f}s; {len(failures)} failed requests around it "
        f"(first at +{min(x['t'] for x in failures) - r0:.1f}s, last at "
        f"+{max(x['t'] for x in failures) - r0:.1f}s); all 60 cases completed "
        f"{time.time() - r1:.1f}s after; responses {dict(codes)}"
        if failures
        else f"\n[production/restart] restart took {r1 - r0:.1f}s; no request failed; responses {dict(codes)}"
    )


def _all_completed(d, mine) -> bool:
    from workflows.domain.models import Case

    s = d.factory()
    try:
        statuses = list(s.scalars(select(Case.status).where(Case.case_no.in_(mine))))
        s.commit()
    except Exception:
        s.rollback()
        return False
    finally:
        s.close()
    return len(statuses) == len(mine) and all(st == "completed" for st in statuses)


def test_verify_audit_reports_a_tampered_and_a_deleted_event(deployment):
    from workflows.domain.models import Case, CaseEvent

    d = deployment
    d.install(demo=True)
    assert d.flask("verify-audit").returncode == 0
    s = d.factory()
    cases = [c for c in s.scalars(select(Case).order_by(Case.id)) if c.event_seq >= 3]
    edited, deleted, intact = cases[0], cases[1], cases[2]
    ev = s.scalar(select(CaseEvent).where(CaseEvent.case_id == edited.id, CaseEvent.seq == 2))
    ev.payload = {**(ev.payload or {}), "note": "改过"}  # an UPDATE of the stored payload, nothing else
    s.delete(s.scalar(select(CaseEvent).where(CaseEvent.case_id == deleted.id, CaseEvent.seq == 2)))
    s.commit()
    s.close()

    r = d.flask("verify-audit", check=False)
    assert r.returncode == 1, r.stdout
    lines = r.stdout.splitlines()
    assert any(edited.case_no in line and "第2条事件内容被改动" in line for line in lines), r.stdout
    assert any(deleted.case_no in line and "第2条事件缺失" in line for line in lines), r.stdout
    assert not any(intact.case_no in line for line in lines)
    assert "审计链完整" not in r.stdout
    assert d.flask("verify-audit", deleted.case_no, check=False).returncode == 1
    assert d.flask("verify-audit", intact.case_no).returncode == 0


def test_a_database_error_under_an_operator_is_not_blamed_on_the_definition(deployment, monkeypatch, request):
    """When the database fails while a service operation runs (a restart, a failover, a killed connection), the error
    must stay a database error: the API answers 5xx (a client retries) and the sweep retries later. Wrapped as an
    engine error it became a 422 "流程执行错误" for the client and, in the sweep, a case marked broken for good."""
    from datetime import timedelta

    import time_machine
    from sqlalchemy.exc import OperationalError

    from webapp.demo.accounts import actor_for
    from workflows.domain.errors import DomainError
    from workflows.domain.models import Case, CaseEvent
    from workflows.services import cases as svc
    from workflows.services import operations
    from workflows.services.timers import fire_due_timers

    d = deployment
    d.install(demo=True)
    # a spring day: the 容缺 deadline then falls in a year whose holidays are known (from November it would be
    # provisional, and a provisional deadline never lapses — the year-boundary rule)
    from datetime import datetime
    from zoneinfo import ZoneInfo

    spring = time_machine.travel(datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("Asia/Shanghai")), tick=True)
    spring.start()
    request.addfinalizer(spring.stop)

    def broken(*_a, **_k):
        raise OperationalError("UPDATE quota_pools …", {}, Exception("server closed the connection unexpectedly"))

    s = d.factory()
    owed = [m for m in registration("x", "1")["data"]["materials"] if m not in ("health_check", "no_crime_record")]
    # a person with no 违诺 record yet, so 容缺受理 is open to them
    c1 = start_as(s, REG_PROC, registration("己", id_number(900))["data"], actor_for(s, "hr_nky"))
    c2 = start_as(s, REG_PROC, registration("庚", "150102199201017777", materials=owed)["data"], actor_for(s, "hr_nky"))
    for no, spec, who in ((c1.case_no, "Task_unit_review", "hr_nky"),):
        task = next(t for t in s.scalar(select(Case).where(Case.case_no == no)).open_tasks if t.spec_name == spec)
        s.commit()
        svc.complete_task(s, no, task.task_id, FORMS[spec], actor_for(s, who))

    # the API path: 主管部门审核 runs allocate_quota, whose UPDATE fails
    case = s.scalar(select(Case).where(Case.case_no == c1.case_no))
    task = next(t for t in case.open_tasks if t.spec_name == "Task_dept_review")
    version = case.version
    s.commit()
    monkeypatch.setitem(operations.OPERATORS, "allocate_quota", broken)
    with pytest.raises(OperationalError):
        try:
            svc.complete_task(s, c1.case_no, task.task_id, FORMS["Task_dept_review"], actor_for(s, "dept_kjt"))
        except DomainError as e:
            pytest.fail(f"a database failure became a {e.status} {e.code}: {e.message}")
    s.rollback()
    s.expire_all()
    assert s.scalar(select(Case.version).where(Case.case_no == c1.case_no)) == version  # nothing applied
    s.commit()

    # the sweep path: the 容缺 deadline passes; record_breach fails on the database
    commitment = next(
        t
        for t in s.scalar(select(Case).where(Case.case_no == c2.case_no)).open_tasks
        if t.spec_name == "Task_rongque_commitment"
    )
    s.commit()
    # the commitment is the applicant's step; the system acts for the test (same service, same transaction shape)
    from workflows.domain.actors import SYSTEM

    svc.complete_task(s, c2.case_no, commitment.task_id, FORMS["Task_rongque_commitment"], SYSTEM)
    due = s.scalar(select(Case.next_timer_at).where(Case.case_no == c2.case_no))
    s.commit()
    monkeypatch.setitem(operations.OPERATORS, "record_breach", broken)
    with time_machine.travel(due + timedelta(hours=1), tick=True):
        try:
            fire_due_timers(d.factory)
        except OperationalError:
            pass  # the sweep stops this round; the worker loop logs it and retries
    s.expire_all()
    case = s.scalar(select(Case).where(Case.case_no == c2.case_no))
    assert case.error is None, f"a transient database error marked the case broken: {case.error}"
    assert not s.scalar(select(CaseEvent.id).where(CaseEvent.case_id == case.id, CaseEvent.action == "engine_error"))
    s.commit()
    monkeypatch.undo()
    with time_machine.travel(due + timedelta(hours=1), tick=True):
        assert fire_due_timers(d.factory) >= 1  # the database is back: the next sweep does the job
    s.expire_all()
    assert s.scalar(select(Case.status).where(Case.case_no == c2.case_no)) == "terminated"
    s.close()
