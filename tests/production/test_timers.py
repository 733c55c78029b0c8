"""Timer workers as separate processes on PostgreSQL: several at once fire each due timer exactly once; one killed
with SIGKILL in the middle of a sweep leaves every case either fully advanced or untouched, and the next sweep
finishes the job.

How the timers become due, honestly: the cases are created now through the API and wait in their unit 公示 (five
working days; the timer is the 公示 end). The sweeping processes are then started with their wall clock moved past
that end (`TRAVEL_LAUNCHER`: time_machine travels, ticking, then runs the real Flask CLI in that process). The app
sees timers that are due by its own clock, as it would on that day; nothing stored is edited to make them due.
"""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest

from .conftest import (
    check_cases_consistent,
    check_quota_ledger,
    count_due,
    count_events,
    events_by_case,
    snapshot,
    start_publicity_cases,
)

pytestmark = pytest.mark.production


def _travel_target(before: dict, mine: list[str]):
    """Two hours after the last 公示 end among our cases (a date the legal calendar knows)."""
    return max(before[no]["next_timer_at"] for no in mine) + timedelta(hours=2)


def _wait(cond, timeout: float, what: str, procs=()):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        for p in procs:
            assert p.poll() is None, f"a worker exited early ({p.returncode}) while waiting for {what}"
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _fired(log: str) -> int:
    return sum(int(n) for n in re.findall(r"定时器扫描：推进 (\d+) 个办件", log))


def _assert_advanced_once(d, before: dict, due: set[str], mine: list[str]):
    timers = events_by_case(d, "timer")
    after = snapshot(d)
    for no, st in after.items():
        n = len(timers.get(no, []))
        if no in due:
            assert n == 1, f"{no}: its due timer fired {n} times"
            assert st["version"] == before[no]["version"] + 1, (no, before[no], st)  # one run, one write
        else:
            assert n == 0 and st == before[no], (no, before[no], st)
    for no in mine:
        assert after[no]["status"] == "running" and after[no]["open"] == ["Task_dept_review"], after[no]
        assert after[no]["next_timer_at"] is None


def _check_whole(d, before: dict, due: set[str], mine: list[str]) -> set[str]:
    """Every due case is either fully advanced (its run, open tasks, next timer and audit events committed together)
    or untouched; returns the advanced ones."""
    timers = events_by_case(d, "timer")
    after = snapshot(d)
    advanced = {no for no in due if timers.get(no)}
    for no in due:
        st = after[no]
        if no in advanced:
            assert len(timers[no]) == 1 and st["version"] == before[no]["version"] + 1, (no, st)
            assert st["event_seq"] > before[no]["event_seq"] and st["next_timer_at"] != before[no]["next_timer_at"]
            if no in mine:
                assert st["open"] == ["Task_dept_review"] and st["next_timer_at"] is None, st
        else:
            assert st == before[no], (no, before[no], st)
    return advanced


def test_three_workers_fire_each_due_timer_once(deployment):
    d = deployment
    d.install(demo=True)
    d.start_web(workers=2)
    t0 = time.time()
    mine = start_publicity_cases(d, 80)
    create_s = time.time() - t0
    before = snapshot(d)
    at = _travel_target(before, mine)
    due = {
        no
        for no, st in before.items()
        if st["next_timer_at"] is not None
        and st["next_timer_at"] <= at
        and st["status"] in ("running", "on_hold", "returned")
    }
    assert set(mine) <= due and count_due(d, at) == len(due)

    t1 = time.time()
    workers = [d.start_flask(f"worker{i}", "worker", "--interval", "1", travel_to=at.isoformat()) for i in range(3)]
    _wait(lambda: count_due(d, at) == 0 and count_events(d, "timer") >= len(due), 120, "every due timer", workers)
    sweep_s = time.time() - t1
    # SIGTERM: each worker finishes what it has in hand (a case or a document) and exits 0
    t2 = time.time()
    codes = [d.stop(p, signal.SIGTERM, timeout=60) for p in workers]
    stop_s = time.time() - t2
    logs = [d.log_of(p) for p in workers]
    assert codes == [0, 0, 0], (codes, [log[-2000:] for log in logs])
    assert all("工作进程已停止" in log for log in logs)

    _assert_advanced_once(d, before, due, mine)
    check_cases_consistent(d)
    check_quota_ledger(d)
    assert d.flask("verify-audit").returncode == 0
    print(
        f"\n[production/timers] {len(mine)} cases into 公示 through the API in {create_s:.1f}s; {len(due)} due timers "
        f"fired by 3 workers in {sweep_s:.1f}s (per worker as logged: {[_fired(log) for log in logs]}); "
        f"SIGTERM → all stopped in {stop_s:.1f}s"
    )


def test_sigkill_mid_sweep_leaves_cases_whole_and_the_next_sweep_finishes(deployment):
    d = deployment
    d.install(demo=True)
    d.start_web(workers=2)
    mine = start_publicity_cases(d, 100)
    before = snapshot(d)
    at = _travel_target(before, mine)
    due = {
        no
        for no, st in before.items()
        if st["next_timer_at"] is not None
        and st["next_timer_at"] <= at
        and st["status"] in ("running", "on_hold", "returned")
    }

    # a long sweep asked to stop (SIGTERM) after its first commits: it finishes the case in hand and exits 0
    p = d.start_flask("sweep-term", "sweep", travel_to=at.isoformat())
    _wait(lambda: count_events(d, "timer") >= 3, 60, "the first commits of the sweep", [p])
    t_term = time.time()
    assert d.stop(p, signal.SIGTERM, timeout=30) == 0, d.log_of(p)[-2000:]
    term_stop_s = time.time() - t_term
    assert "工作进程已停止" in d.log_of(p)
    stopped_at = _check_whole(d, before, due, mine)
    assert 3 <= len(stopped_at) < len(due), f"SIGTERM came too late to test anything ({len(stopped_at)}/{len(due)})"

    # another one, killed outright (SIGKILL) after a few more commits
    t_kill = time.time()
    p = d.start_flask("sweep-kill", "sweep", travel_to=at.isoformat())
    _wait(lambda: count_events(d, "timer") >= len(stopped_at) + 5, 60, "more commits of the sweep", [p])
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    killed_after = time.time() - t_kill
    assert p.returncode == -signal.SIGKILL
    advanced = _check_whole(d, before, due, mine)
    assert len(stopped_at) + 5 <= len(advanced) < len(due), (
        f"the kill came too late to test anything ({len(advanced)}/{len(due)})"
    )
    check_cases_consistent(d)  # includes every audit chain
    check_quota_ledger(d)
    assert d.flask("verify-audit").returncode == 0

    # the next sweep (a worker, stopped with SIGTERM once done) finishes the job
    t1 = time.time()
    w = d.start_flask("worker", "worker", "--interval", "1", travel_to=at.isoformat())
    _wait(lambda: count_due(d, at) == 0, 120, "the rest of the due timers", [w])
    resume_s = time.time() - t1
    assert d.stop(w, signal.SIGTERM, timeout=60) == 0
    _assert_advanced_once(d, before, due, mine)
    check_cases_consistent(d)
    check_quota_ledger(d)
    assert d.flask("verify-audit").returncode == 0
    print(
        f"\n[production/sigkill] SIGTERM after {len(stopped_at)} cases: exited 0 in {term_stop_s:.2f}s; "
        f"SIGKILL after {killed_after:.1f}s with {len(advanced)}/{len(due)} cases advanced, "
        f"{len(due) - len(advanced)} untouched; the next worker fired the remaining "
        f"{_fired(d.log_of(w))} in {resume_s:.1f}s; statuses {Counter(s['status'] for s in snapshot(d).values())}"
    )
