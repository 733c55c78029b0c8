"""Engine failures at run time become incidents: the case is marked errored with the element and the message, every
later action on it answers with that reason (never a 500), and the timer sweep goes on with the other cases."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from workflows.domain.errors import CaseErrored, EngineFailure, EngineIncident
from workflows.domain.models import Case, CaseEvent, CaseIncident, ProcessDefinition
from workflows.infra.db import transaction
from workflows.services.timers import fire_due_timers

from .helpers import act, registration, reload, start, task_names

REG = "green_channel_registration"
TIMER = "Event_rongque_deadline"


def rongque_case(session, **over):
    mats = [m for m in registration()["materials"] if m not in ("health_check", "no_crime_record")]
    c = start(session, REG, registration(materials=mats, **over))
    act(session, c.case_no, "Task_rongque_commitment")
    return reload(session, c.case_no)


def poison_timer_value(session, case_no: str, value) -> None:
    """What a timeDate expression evaluating to `value` leaves in the instance (the value is stored when armed)."""
    with transaction(session):
        case = session.scalar(select(Case).where(Case.case_no == case_no))
        state = json.loads(case.state)
        hit = 0
        for task in state["tasks"].values():
            if task["task_spec"] == TIMER:
                task["internal_data"]["event_value"] = value
                hit += 1
        assert hit == 1
        case.state = json.dumps(state)


def poison_definition(session, case_no: str, old: str, new: str) -> None:
    """Move the case to a copy of its definition with one expression replaced (written around the validator)."""
    with transaction(session):
        case = session.scalar(select(Case).where(Case.case_no == case_no))
        row = session.get(ProcessDefinition, case.definition_id)
        text = json.dumps(row.spec, ensure_ascii=False)
        assert json.dumps(old, ensure_ascii=False)[1:-1] in text
        text = text.replace(json.dumps(old, ensure_ascii=False)[1:-1], json.dumps(new)[1:-1])
        copy = ProcessDefinition(
            process_id=row.process_id,
            name=row.name,
            version=row.version + 100,
            sha256=hashlib.sha256(text.encode()).hexdigest(),  # specs are cached per process by sha256
            source=row.source,
            spec=json.loads(text),
            user_tasks=row.user_tasks,
            status="retired",
            created_by="test",
        )
        session.add(copy)
        session.flush()
        case.definition_id = copy.id


def incident_of(session, case_no: str) -> CaseIncident:
    session.expire_all()
    case = session.scalar(select(Case).where(Case.case_no == case_no))
    incident = session.scalar(select(CaseIncident).where(CaseIncident.case_id == case.id))
    session.commit()
    assert incident is not None, f"no incident for {case_no}"
    return incident


def test_a_poisoned_case_becomes_an_incident_and_the_sweep_fires_the_others(any_session, any_factory, clock):
    session, factory = any_session, any_factory
    bad_value = rongque_case(session)
    escape = rongque_case(session)
    healthy = rongque_case(session)
    poison_timer_value(session, bad_value.case_no, "P1D")  # 'P1D' as a timeDate: TypeError on every step before
    # a BaseException raised by an expression of the run (SystemExit & co. are not even nameable by scripts)
    poison_definition(session, escape.case_no, "'terminated'", "(lambda: (yield))().throw(BaseException('stop'))")
    with transaction(session):  # the poisoned cases are the earliest due: they must not block the healthy one
        for no, minutes in ((bad_value.case_no, 2), (escape.case_no, 1)):
            c = session.scalar(select(Case).where(Case.case_no == no))
            c.next_timer_at = c.next_timer_at - timedelta(minutes=minutes)
    clock.to(2026, 4, 15, 0, 5)  # the 容缺 deadline (14 April) is over
    assert fire_due_timers(factory) == 1
    assert reload(session, healthy.case_no).status == "terminated"
    for no in (bad_value.case_no, escape.case_no):
        c = reload(session, no)
        assert c.status == "error" and c.error
    inc = incident_of(session, bad_value.case_no)
    assert inc.element_id == TIMER and inc.element_name == "容缺期限届满"
    assert "timeDate" in inc.message and "P1D" in inc.message and "不是时间点" in inc.message
    assert inc.source == "timer" and inc.previous_status == "running"
    inc = incident_of(session, escape.case_no)
    assert "不允许的异常" in inc.message and inc.element_id == "Task_close_rongque_lapsed"
    # the incident is in the audit chain; the next sweep passes the errored cases by
    assert session.scalar(
        select(CaseEvent.id).where(CaseEvent.action == "engine_error", CaseEvent.case_id == inc.case_id)
    )
    session.commit()
    assert fire_due_timers(factory) == 0


@pytest.mark.parametrize("value", ["P4000000Y", "P9000Y", "P1X", 12345, "not a date"])
def test_a_bad_timer_value_on_a_step_is_an_incident_not_a_500(any_session, clock, value):
    session = any_session
    c = rongque_case(session)
    poison_timer_value(session, c.case_no, value)
    start_at = time.monotonic()
    with pytest.raises(EngineIncident) as info:  # 422 with this message on the page and the API
        act(session, c.case_no, "Task_unit_review")
    assert time.monotonic() - start_at < 5  # 'P4000000Y' looped 23 s inside SpiffWorkflow
    assert "定时器" in info.value.message and info.value.element_id == TIMER
    c = reload(session, c.case_no)
    assert c.status == "error" and task_names(session, c.case_no) == ["Task_unit_review"]  # the step did not happen
    assert incident_of(session, c.case_no).source == "action"
    with pytest.raises(CaseErrored) as info:  # every later action says why, instead of failing again
        act(session, c.case_no, "Task_unit_review")
    assert "等待系统管理员处理" in info.value.message


def test_a_far_time_point_computed_at_run_time_is_a_timer_that_never_comes(session, clock):
    """Literals are bounded to 2000–2100 (a typo otherwise); an operator may arm a timer at 9999-12-31 on purpose."""
    c = rongque_case(session)
    poison_timer_value(session, c.case_no, "9999-12-31T00:00:00+00:00")
    act(session, c.case_no, "Task_unit_review")
    assert reload(session, c.case_no).status == "running"


def test_an_operators_refusal_stays_a_plain_refusal(session, clock, monkeypatch):
    """An operator refusing the data (EngineFailure, as tally_votes does for impossible counts) is the data's problem:
    the step is refused, no incident, the case keeps running."""
    from workflows.services.operations import OPERATORS

    def refuse(ctx, data, params):
        raise EngineFailure("表决票数无效：实到专家人数须大于0")

    mats = [m for m in registration()["materials"] if m != "health_check"]
    c = start(session, REG, registration(materials=mats))
    monkeypatch.setitem(OPERATORS, "accept_case", refuse)
    with pytest.raises(EngineFailure) as info:
        act(session, c.case_no, "Task_rongque_commitment")
    assert not isinstance(info.value, EngineIncident)
    assert reload(session, c.case_no).status == "running"
    assert task_names(session, c.case_no) == ["Task_rongque_commitment"]


@pytest.fixture(scope="module")
def cli_app(tmp_path_factory):
    from webapp import create_app

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('w')}/w.sqlite3", "TESTING": True})
    yield app
    app.extensions["db_engine"].dispose()


@pytest.mark.parametrize("exc", [SystemExit(0), SystemExit(None), GeneratorExit(), BaseException("x")])
def test_the_worker_never_exits_0_on_an_unexpected_error(cli_app, monkeypatch, exc):
    def boom(_factory):
        raise exc

    monkeypatch.setattr("workflows.services.timers.fire_due_timers", boom)
    result = cli_app.test_cli_runner().invoke(args=["worker", "--interval", "0"])
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert "意外错误" in result.output


def test_a_failing_one_off_sweep_exits_non_zero(cli_app, monkeypatch):
    def boom(_factory):
        raise RuntimeError("boom")

    monkeypatch.setattr("workflows.services.timers.fire_due_timers", boom)
    result = cli_app.test_cli_runner().invoke(args=["sweep"])
    assert result.exit_code != 0


def test_a_state_that_no_longer_loads_is_an_incident(session, clock):
    c = rongque_case(session)
    with transaction(session):
        case = session.scalar(select(Case).where(Case.case_no == c.case_no))
        case.state = json.dumps({"tasks": "broken"})
    with pytest.raises(EngineIncident):
        act(session, c.case_no, "Task_unit_review")
    assert reload(session, c.case_no).status == "error"
    assert "流程引擎出错" in incident_of(session, c.case_no).message
