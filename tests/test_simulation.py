"""Simulation before publish: a draft replayed against the recorded history of finished cases, nothing written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.demo.accounts import actor_for
from workflows.domain.models import Base, Case
from workflows.infra.db import transaction
from workflows.services import versions
from workflows.services.cases import supply_material
from workflows.services.simulation import simulate
from workflows.services.timers import fire_due_timers

from .helpers import act, find_task, registration, reload, start

REG = "green_channel_registration"


@pytest.fixture
def history(session, factory, clock):
    return make_history(session, factory, clock)


def make_history(session, factory, clock) -> dict[str, str]:
    """Five finished cases: completed after a filing reminder fired (category 3), completed after 容缺 supply
    (category 1), terminated by a 容缺 lapse (timer), refused by the unit, not accepted (科研失信)."""
    out = {}
    c = start(session, REG, registration())
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_dept_review")
    clock.to(2026, 3, 30, 0, 5)
    assert fire_due_timers(factory) == 1  # the 备案 reminder (a non-interrupting timer on the filing step)
    act(session, c.case_no, "Task_filing")
    out["cat3_completed"] = c.case_no

    clock.to(2026, 4, 1, 9)
    owing = [m for m in registration()["materials"] if m not in ("health_check", "no_crime_record")]
    c = start(session, REG, registration(talent_category=1, materials=owing))
    act(session, c.case_no, "Task_rongque_commitment")
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_dept_review")
    zhangwei = actor_for(session, "zhangwei")
    supply_material(session, c.case_no, "health_check", zhangwei)
    supply_material(session, c.case_no, "no_crime_record", zhangwei)
    act(session, c.case_no, "Task_filing")
    out["cat1_rongque_completed"] = c.case_no

    c = start(
        session,
        REG,
        registration(
            talent_category=1, materials=owing, applicant_name="刘娜", id_number="150104198805052345", unit_code="U0201"
        ),
        username="liuna",
    )
    act(session, c.case_no, "Task_rongque_commitment")
    clock.to(2026, 6, 1, 9)
    fire_due_timers(factory)
    out["cat1_lapsed"] = c.case_no

    c = start(session, REG, registration(id_number="150102199203031111", applicant_name="李四"), username="hr_nky")
    act(session, c.case_no, "Task_unit_review", {"unit_decision": "refuse", "unit_opinion": "岗位已满"})
    out["cat3_unit_refused"] = c.case_no

    c = start(session, REG, registration(applicant_name="钱某", id_number="150105198507073456"), username="hr_nky")
    out["credit_blocked"] = c.case_no
    c = start(session, REG, registration(id_number="150102199303032222", applicant_name="王五"), username="hr_nky")
    running = c.case_no  # waits at 单位审核
    expected = {
        "cat3_completed": "completed",
        "cat1_rongque_completed": "completed",
        "cat1_lapsed": "terminated",
        "cat3_unit_refused": "refused",
        "credit_blocked": "not_accepted",
    }
    assert {k: reload(session, v).status for k, v in out.items()} == expected
    return {**out, "running": running}


def _draft(session, edit) -> int:
    published = versions.editing_base(session, REG)
    _, xml = versions.main_bpmn(published)
    with transaction(session):
        row, changed = versions.save_draft(session, REG, edit(xml), "admin")
    assert changed and row.status == "draft"
    return row.version


def _by_case(report) -> dict:
    return {c.case_no: c for c in report.cases}


def _rows(session) -> dict[str, int]:
    return {t.name: session.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


def _cases(session) -> list[tuple]:
    return list(session.execute(select(Case.case_no, Case.status, Case.version, Case.event_seq, Case.state)))


def test_an_unchanged_draft_ends_every_case_as_it_ended(session, history):
    version = _draft(session, lambda xml: xml.replace("</bpmn:definitions>", "<!-- 仅调整版式 --></bpmn:definitions>"))
    report = simulate(session, REG, version)
    got = _by_case(report)
    assert set(got) == set(history.values()) - {history["running"]}  # finished cases only, unless asked
    for case in got.values():
        assert case.verdict == "same", (case.case_no, case.reason, case.unmatched, case.only_was, case.only_would_be)
        assert case.would_be_status == case.was_status
    assert report.counts()["same"] == 5


def test_a_stricter_condition_refuses_finished_cases_and_names_the_new_end(session, history):
    # 符合 now only for categories 1–2: the category-3 cases would not have been accepted
    version = _draft(
        session,
        lambda xml: xml.replace(
            ">eligibility_ok</bpmn:conditionExpression>",
            ">eligibility_ok and talent_category &lt;= 2</bpmn:conditionExpression>",
        ),
    )
    got = _by_case(simulate(session, REG, version))
    done = got[history["cat3_completed"]]
    assert done.verdict == "different"
    assert (done.was_status, done.would_be_status) == ("completed", "not_accepted")
    assert done.was_end[0] == "Task_close_completed" and done.would_be_end[0] == "Task_close_not_eligible"
    assert done.diverges_after[0] == "Gateway_eligibility"
    assert "Task_close_not_eligible" in [e for e, _ in done.only_would_be]
    assert "Task_unit_review" in [e for e, _ in done.only_was]
    assert "单位审核" in " ".join(done.unmatched)  # the unit's recorded review has no place on the new path
    refused = got[history["cat3_unit_refused"]]
    assert (refused.verdict, refused.would_be_status) == ("different", "not_accepted")
    for key in ("cat1_rongque_completed", "cat1_lapsed", "credit_blocked"):
        assert got[history[key]].verdict == "same", key


def test_a_removed_step_stalls_the_cases_that_reached_it(session, history):
    # 单位审核 replaced by a new element: the history holds no submission for it
    version = _draft(session, lambda xml: xml.replace("Task_unit_review", "Task_unit_check"))
    got = _by_case(simulate(session, REG, version))
    stalled = got[history["cat3_completed"]]
    assert stalled.verdict == "stalled"
    assert [e for e, _ in stalled.stalled_at] == ["Task_unit_check"]
    assert stalled.would_be_status is None
    assert got[history["credit_blocked"]].verdict == "same"  # refused before the changed step
    assert got[history["cat1_lapsed"]].verdict == "same"  # lapsed on the 容缺 branch before any unit review


def test_a_simulation_writes_nothing(session, history):
    version = _draft(session, lambda xml: xml.replace("Task_unit_review", "Task_unit_check"))
    session.commit()
    before = _rows(session)
    cases_before = _cases(session)
    session.commit()
    report = simulate(session, REG, version, include_running=True)
    running = _by_case(report)[history["running"]]
    assert (running.was_status, running.verdict) == ("running", "path_changed")  # would wait at the new step
    assert [e for e, _ in running.stalled_at] == ["Task_unit_check"]
    assert not session.new and not session.dirty and not session.deleted
    session.rollback()
    assert _rows(session) == before
    assert _cases(session) == cases_before


def test_the_replay_on_postgresql(pg_factory, clock):
    session = pg_factory()
    try:
        history = make_history(session, pg_factory, clock)
        version = _draft(
            session,
            lambda xml: xml.replace(
                ">eligibility_ok</bpmn:conditionExpression>",
                ">eligibility_ok and talent_category &lt;= 2</bpmn:conditionExpression>",
            ),
        )
        session.commit()
        before = _rows(session)
        session.commit()
        got = _by_case(simulate(session, REG, version, include_running=True))
        assert got[history["cat3_completed"]].would_be_status == "not_accepted"
        assert got[history["cat1_lapsed"]].verdict == "same"  # the lapse timer fires on the recorded clock
        assert not session.new and not session.dirty and not session.deleted
        session.rollback()
        assert _rows(session) == before
    finally:
        session.close()


def test_duration_and_cycle_timers_arm_on_the_replay_clock():
    """A draft's duration timer (P30D) armed during a replay counts from the recorded time, not from today."""
    from datetime import UTC, datetime, timedelta

    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

    from workflows.domain.clock import now_utc, replay_clock
    from workflows.engine import instances  # noqa: F401  (installs the timer checks)

    at = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)
    with replay_clock(at) as held:
        assert now_utc() == at
        cycles, start, period = TimerEventDefinition.parse_iso_recurring_interval("R2/P1D")
        assert (cycles, start, period) == (2, at + timedelta(days=1), timedelta(days=1))
        held[0] = at + timedelta(days=3)
        assert now_utc() == at + timedelta(days=3)
    assert now_utc() != at  # the wall clock again outside


def test_returns_corrections_and_a_withdrawal_replay_as_they_happened(session, clock):
    """A return to the applicant with a correction, a return to an earlier step, an objection during 公示 and a
    withdrawal are inputs of the history too: an unchanged draft ends every such case as it ended."""
    from workflows.services import handling
    from workflows.services.cases import record_objection, withdraw

    hr, dept, zhang = (actor_for(session, u) for u in ("hr_nky", "dept_kjt", "zhangwei"))
    c = start(session, REG, registration())
    t = find_task(session, c.case_no, "Task_unit_review")
    handling.return_for_correction(session, c.case_no, t.task_id, hr, "学历证书不清晰", items=["degree_certificate"])
    clock.to(2026, 3, 5, 9)
    handling.resubmit(session, c.case_no, zhang, {"talent_category": 2}, ["degree_certificate"])
    act(session, c.case_no, "Task_unit_review")
    t = find_task(session, c.case_no, "Task_dept_review")
    handling.return_for_correction(session, c.case_no, t.task_id, dept, "请补充意见", target="Task_unit_review")
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_dept_review")
    act(session, c.case_no, "Task_filing")
    returned = c.case_no

    c = start(
        session,
        REG,
        registration(outside_establishment=True, id_number="150102199505055555", applicant_name="赵六"),
        username="hr_nky",
    )
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_assessment")
    record_objection(session, c.case_no, "考核材料与事实不符", "匿名", "objection-1")
    act(
        session, c.case_no, "Task_publicity_objection_review", {"objection_finding": "upheld", "objection_note": "属实"}
    )
    objected = c.case_no

    c = start(session, REG, registration(id_number="150102199606066666", applicant_name="孙七"), username="hr_nky")
    act(session, c.case_no, "Task_unit_review")
    withdraw(session, c.case_no, hr, "单位撤回")
    withdrawn = c.case_no
    assert [reload(session, n).status for n in (returned, objected, withdrawn)] == [
        "completed",
        "terminated",
        "withdrawn",
    ]

    version = _draft(session, lambda xml: xml.replace("</bpmn:definitions>", "<!-- 版式 --></bpmn:definitions>"))
    got = _by_case(simulate(session, REG, version))
    for no in (returned, objected, withdrawn):
        case = got[no]
        assert case.verdict == "same", (no, case.reason, case.unmatched, case.only_was, case.only_would_be)


def test_histories_recorded_before_events_named_their_element_still_replay(session, history):
    """Events written before this release: no element on a completed task, no name on the 容缺 supply message."""
    from sqlalchemy import update

    from workflows.domain.models import CaseEvent

    with transaction(session):
        for ev in session.scalars(select(CaseEvent).where(CaseEvent.action.in_(("task_completed", "message")))):
            old = {k: v for k, v in ev.payload.items() if k not in ("element", "name", "payload")}
            session.execute(update(CaseEvent).where(CaseEvent.id == ev.id).values(payload=old))
    version = _draft(session, lambda xml: xml.replace("</bpmn:definitions>", "<!-- 版式 --></bpmn:definitions>"))
    got = _by_case(simulate(session, REG, version))
    assert {c.verdict for c in got.values()} == {"same"}, [(c.case_no, c.reason, c.unmatched) for c in got.values()]
