"""Races the engine must win: two officers on one task, two cases on the last pool place, several timer workers.

Each runs on SQLite and, through the `pg_factory` fixture, on the real PostgreSQL server (CI sets
REQUIRE_POSTGRES=1 so those are never skipped there).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, func, select

from webapp.demo.accounts import actor_for
from workflows.domain.errors import Conflict, DomainError
from workflows.domain.models import Case, CaseEvent, QuotaPool
from workflows.services import cases as svc
from workflows.services import handling, quota
from workflows.services.audit import verify_chain
from workflows.services.timers import fire_due_timers

from .helpers import APPROVE, registration, start_as

REG = "green_channel_registration"


@pytest.fixture(params=["sqlite", "postgres"])
def any_factory(request):
    name = "factory" if request.param == "sqlite" else "pg_factory"
    return request.getfixturevalue(name)


def _start(factory, **over):
    s = factory()
    try:
        c = start_as(
            s,
            REG,
            registration(**over),
            actor_for(s, "hr_nky" if over.get("unit_code", "U0101") == "U0101" else "admin"),
        )
        return c.case_no
    finally:
        s.close()


def _race(factory, fns):
    barrier = threading.Barrier(len(fns))

    def run(fn):
        s = factory()
        try:
            barrier.wait()
            fn(s)
            return "ok"
        except DomainError as e:
            return e
        finally:
            s.close()

    with ThreadPoolExecutor(len(fns)) as ex:
        return list(ex.map(run, fns))


def test_two_officers_complete_one_task_one_wins(any_factory, clock):
    no = _start(any_factory)
    s = any_factory()
    case = s.scalar(select(Case).where(Case.case_no == no))
    task_id = case.open_tasks[0].task_id
    s.close()

    def complete(session):
        svc.complete_task(session, no, task_id, APPROVE["Task_unit_review"], actor_for(session, "hr_nky"))

    results = _race(any_factory, [complete, complete])
    assert results.count("ok") == 1
    loser = [r for r in results if r != "ok"][0]
    assert isinstance(loser, Conflict) and "已被处理" in loser.message
    s = any_factory()
    case = s.scalar(select(Case).where(Case.case_no == no))
    assert [t.spec_name for t in case.open_tasks] == ["Task_dept_review"]
    completions = s.scalar(
        select(func.count())
        .select_from(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.action == "task_completed")
    )
    assert completions == 1 and verify_chain(s, case) == []
    s.close()


def test_a_step_completed_while_another_officer_waits_for_the_lock_is_not_open_to_him(any_factory, clock):
    """主管部门 officer A completes the review while officer B's 退回 waits for the case's row lock. B must find the
    step gone (409) — on PostgreSQL a locking read that waited sees the case row at its new version, but rows it
    joined come from its starting snapshot, so B's view of the open steps must be read after the lock is held."""
    no = _start(any_factory)
    s = any_factory()
    unit_task = s.scalar(select(Case).where(Case.case_no == no)).open_tasks[0].task_id
    s.close()
    s = any_factory()
    svc.complete_task(s, no, unit_task, APPROVE["Task_unit_review"], actor_for(s, "hr_nky"))
    dept_task = next(t.task_id for t in s.scalar(select(Case).where(Case.case_no == no)).open_tasks)
    s.commit()
    s.close()

    a, b = any_factory(), any_factory()
    committing = threading.Event()

    @event.listens_for(a, "before_commit")
    def _hold(_session):  # A holds the lock a moment after B has started waiting for it
        committing.set()
        time.sleep(0.5)

    outcome = {}

    def officer_b():
        committing.wait(10)
        try:
            handling.return_for_correction(
                b, no, dept_task, actor_for(b, "dept_kjt"), "请补充单位意见", target="Task_unit_review"
            )
            outcome["b"] = "returned"
        except DomainError as e:
            outcome["b"] = e
        finally:
            b.close()

    t = threading.Thread(target=officer_b)
    t.start()
    try:
        svc.complete_task(a, no, dept_task, APPROVE["Task_dept_review"], actor_for(a, "dept_kjt"))
    finally:
        a.close()
    t.join(30)
    assert isinstance(outcome["b"], Conflict), outcome
    s = any_factory()
    case = s.scalar(select(Case).where(Case.case_no == no))
    assert "Task_dept_review" not in [t.spec_name for t in case.open_tasks]
    assert not s.scalar(
        select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "returned")
    )
    assert verify_chain(s, case) == []
    s.close()


def test_stale_version_is_a_clear_conflict(any_factory, clock):
    no = _start(any_factory)
    s = any_factory()
    case = s.scalar(select(Case).where(Case.case_no == no))
    task_id, version = case.open_tasks[0].task_id, case.version
    s.commit()
    svc.claim(s, no, task_id, actor_for(s, "hr_nky"))  # someone else touched the case meanwhile
    with pytest.raises(Conflict) as e:
        svc.complete_task(s, no, task_id, APPROVE["Task_unit_review"], actor_for(s, "hr_nky"), expected_version=version)
    assert "已被他人更新" in e.value.message
    s.close()


def test_two_cases_race_for_the_last_pool_place(any_factory, clock):
    s = any_factory()
    pool = quota.talent_pool(s)
    pool.total = 1
    s.commit()
    s.close()
    nos = [_start(any_factory, unit_code="U0102", id_number=f"15010219900101{4440 + i}") for i in range(2)]
    for no in nos:
        s = any_factory()
        svc.complete_task(
            s,
            no,
            s.scalar(select(Case).where(Case.case_no == no)).open_tasks[0].task_id,
            APPROVE["Task_unit_review"],
            actor_for(s, "hr_kjxx"),
        )
        s.close()

    def dept(no):
        def fn(session):
            case = session.scalar(select(Case).where(Case.case_no == no))
            tid = case.open_tasks[0].task_id
            session.commit()
            svc.complete_task(session, no, tid, APPROVE["Task_dept_review"], actor_for(session, "dept_kjt"))

        return fn

    assert _race(any_factory, [dept(nos[0]), dept(nos[1])]) == ["ok", "ok"]
    s = any_factory()
    tasks = sorted(s.scalar(select(Case).where(Case.case_no == no)).open_tasks[0].spec_name for no in nos)
    assert tasks == ["Task_pool_review", "Task_quota_adjust"]  # one took the place, the other waits for 编办
    pool = s.scalar(select(QuotaPool).where(QuotaPool.kind == "talent_pool"))
    assert (pool.total, pool.reserved, pool.used) == (1, 1, 0)
    s.close()


def test_timer_workers_fire_each_timer_once(any_factory, clock):
    nos = [_start(any_factory, outside_establishment=True, id_number=f"15010219900102{1000 + i}") for i in range(6)]
    for no in nos:
        s = any_factory()
        for step in ("Task_unit_review", "Task_assessment"):
            case = s.scalar(select(Case).where(Case.case_no == no))
            tid = case.open_tasks[0].task_id
            s.commit()
            svc.complete_task(s, no, tid, APPROVE[step], actor_for(s, "hr_nky"))
        s.close()
    clock.to(2026, 3, 7, 0, 5)  # every 公示 has ended
    counts = []

    def worker():
        counts.append(fire_due_timers(any_factory))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 6
    s = any_factory()
    for no in nos:
        case = s.scalar(select(Case).where(Case.case_no == no))
        assert [t.spec_name for t in case.open_tasks] == ["Task_dept_review"]
        timers = s.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "timer")
        )
        assert timers == 1 and verify_chain(s, case) == []
    s.close()


def test_case_numbers_are_unique_under_parallel_starts(any_factory, clock):
    def starter(i):
        def fn(session):
            start_as(session, REG, registration(id_number=f"15010219900103{2000 + i}"), actor_for(session, "hr_nky"))

        return fn

    results = _race(any_factory, [starter(i) for i in range(6)])
    assert results == ["ok"] * 6
    s = any_factory()
    nos = s.scalars(select(Case.case_no)).all()
    assert len(nos) == len(set(nos)) == 6
    assert sorted(int(n[-6:]) for n in nos) == [1, 2, 3, 4, 5, 6]
    s.close()


def test_two_moves_to_a_regular_post_race_for_the_last_vacancy(any_factory, clock):
    """R8 after 核销: two holders wait for a 专业技术二级 post; the posts register shows one vacancy; both units' HR
    record the move at once — one fills it, the other is told there is none (the register is never overfilled)."""
    from workflows.domain.models import SpecialPost, UnitPost
    from workflows.infra.db import transaction
    from workflows.services import posts

    from .helpers import act, special_post

    nos = []
    for i in range(2):
        s = any_factory()
        no = start_as(
            s, "special_post", special_post(holder_id_number=f"15010219860101{3330 + i}"), actor_for(s, "hr_nky")
        ).case_no
        act(s, no, "Task_dept_review")
        act(s, no, "Task_hrss_approval")
        svc.request_writeoff(s, no, "task_done", f"wo-{i}", actor_for(s, "hr_nky"))
        s.close()
        nos.append(no)
    s = any_factory()
    with transaction(s):
        posts.set_post(s, "U0101", "", "专业技术二级", 2, 1, "原岗位人员退休", "admin")
    s.close()

    def move(no):
        return lambda session: svc.record_regular_post(session, no, actor_for(session, "hr_nky"), "2026-03-02")

    results = _race(any_factory, [move(nos[0]), move(nos[1])])
    assert sorted(type(r).__name__ if r != "ok" else r for r in results) == ["Conflict", "ok"]
    s = any_factory()
    row = s.scalar(select(UnitPost).where(UnitPost.unit_code == "U0101", UnitPost.level == "专业技术二级"))
    states = sorted(s.scalars(select(SpecialPost.regular_post_status).where(SpecialPost.unit_code == "U0101")))
    assert (row.approved, row.filled) == (2, 2) and states.count("moved") == 1 and states.count("pending") == 1
    s.close()
