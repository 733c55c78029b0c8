"""Repairing an incident (issue 15 item 1): an administrator fixes the data or publishes a corrected version and
retries, skips the failed element with a reason, or cancels the case with a reason. Each is one transaction in the
case's hash chain and resolves the incident; a retry that fails again opens a new incident with the new message."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from tests.helpers import act, events, reload, task_names
from tests.test_incidents import (
    REG,
    TIMER,
    incident_of,
    poison_definition,
    poison_timer_value,
    rongque_case,
)
from webapp.demo.accounts import actor_for
from workflows.domain.errors import Conflict, EngineIncident, Forbidden, ValidationFailed
from workflows.domain.models import Case, CaseIncident, ProcessDefinition
from workflows.infra.db import transaction
from workflows.services import incident_actions as actions
from workflows.services.audit import verify_chain
from workflows.services.timers import fire_due_timers

THROW = "(lambda: (yield))().throw(BaseException('stop'))"


def admin(session):
    a = actor_for(session, "admin")
    session.commit()
    return a


def poison_deadline_variable(session, case_no: str, value) -> dict:
    """The timer's variable holds an invalid value (as a script or a bad import could leave it); the timer reads it
    again at its next look. Returns the good value it had."""
    with transaction(session):
        case = session.scalar(select(Case).where(Case.case_no == case_no))
        state = json.loads(case.state)
        good = None
        for task in state["tasks"].values():
            # task data is stored as each task's changes against its parent
            for data in (task.get("data") or {}, (task.get("delta") or {}).get("updates") or {}):
                acceptance = data.get("acceptance")
                if isinstance(acceptance, dict) and "rongque_deadline_at" in acceptance:
                    good = dict(acceptance)
                    acceptance["rongque_deadline_at"] = value
            if task["task_spec"] == TIMER:
                task["internal_data"].pop("event_value", None)
        case.state = json.dumps(state)
    assert good is not None
    return good


def open_incident(session, case_no: str) -> CaseIncident:
    session.expire_all()
    case = session.scalar(select(Case).where(Case.case_no == case_no))
    inc = session.scalar(
        select(CaseIncident).where(CaseIncident.case_id == case.id, CaseIncident.resolved_at.is_(None))
    )
    session.commit()
    assert inc is not None
    return inc


def test_a_bad_timer_variable_fixed_in_the_data_then_retried(any_session, clock):
    session = any_session
    c = rongque_case(session)
    good = poison_deadline_variable(session, c.case_no, "P1D")
    with pytest.raises(EngineIncident):
        act(session, c.case_no, "Task_unit_review")
    inc = incident_of(session, c.case_no)
    assert inc.element_id == TIMER and "P1D" in inc.message
    boss = admin(session)

    # the incident page's data: the variable the timer reads, with its bad value
    v = actions.view(session, inc.id, boss)
    session.commit()
    assert v.relevant == {"acceptance": {**good, "rongque_deadline_at": "P1D"}}
    assert TIMER in v.waiting and v.can_skip
    assert reload(session, c.case_no).status == "error"  # looking changed nothing

    # a retry before the fix fails again: a new incident with the message, the earlier one superseded, no 500
    with pytest.raises(EngineIncident):
        actions.retry(session, inc.id, boss)
    again = open_incident(session, c.case_no)
    assert again.id != inc.id and "P1D" in again.message
    session.expire_all()
    assert session.get(CaseIncident, inc.id).resolution == "superseded"
    session.commit()

    # bad JSON and bad names are refused, nothing written
    with pytest.raises(ValidationFailed):
        actions.set_variable(session, again.id, boss, "acceptance", actions.parse_value("{not json"))
    with pytest.raises(ValidationFailed):
        actions.set_variable(session, again.id, boss, "__class__", 1)
    actions.set_variable(session, again.id, boss, "acceptance", good, "期限值录入有误，按受理日重算")
    fix = events(session, c.case_no, "incident_data_fix")[-1]
    assert fix.actor == "admin" and fix.payload["variable"] == "acceptance"
    assert fix.payload["before"]["rongque_deadline_at"] == "P1D"
    assert fix.payload["after"] == good and fix.payload["reason"] == "期限值录入有误，按受理日重算"
    assert reload(session, c.case_no).status == "error"  # still paused until the retry

    actions.retry(session, again.id, boss, reason="数据已修复")
    case = reload(session, c.case_no)
    assert case.status == "running" and case.error is None and case.next_timer_at is not None
    session.expire_all()
    resolved = session.get(CaseIncident, again.id)
    assert (resolved.resolution, resolved.resolved_by, resolved.resolution_reason) == ("retry", "admin", "数据已修复")
    session.commit()
    act(session, c.case_no, "Task_unit_review")  # the case goes on
    assert "Task_unit_review" not in task_names(session, c.case_no)
    assert verify_chain(session, reload(session, c.case_no)) == []


def test_a_definition_fix_published_then_retried_on_the_published_version(any_session, any_factory, clock):
    session, factory = any_session, any_factory
    c = rongque_case(session)
    poison_definition(session, c.case_no, "'terminated'", THROW)  # the case runs on a version with a bad parameter
    clock.to(2026, 4, 15, 0, 5)  # the 容缺 deadline is over: the sweep fires the timer, close_case fails
    assert fire_due_timers(factory) == 0
    inc = incident_of(session, c.case_no)
    assert inc.source == "timer" and inc.element_id == "Task_close_rongque_lapsed"
    boss = admin(session)
    v = actions.view(session, inc.id, boss)
    session.commit()
    assert v.published_version is not None and v.published_version != v.case_version

    with pytest.raises(EngineIncident):  # the same version fails the same way
        actions.retry(session, inc.id, boss)
    inc = open_incident(session, c.case_no)
    # the published version (the corrected one) carries the case on
    actions.retry(session, inc.id, boss, use_published=True, reason="已发布修正版本")
    case = reload(session, c.case_no)
    published = session.scalar(
        select(ProcessDefinition.id).where(ProcessDefinition.process_id == REG, ProcessDefinition.status == "published")
    )
    session.commit()
    assert case.definition_id == published and case.status == "terminated" and case.outcome_rule == "R3"
    retried = events(session, c.case_no, "incident_retry")[-1]
    assert retried.payload["version"]["to"] == v.published_version
    assert verify_chain(session, reload(session, c.case_no)) == []


def test_a_bad_timer_expression_fixed_by_a_published_version(session, clock):
    """The case's version reads its 容缺 deadline from a literal duration; the administrator publishes a corrected
    version (here: the bundled one) and retries on it: the waiting timer reads the corrected expression again."""
    c = rongque_case(session)
    poison_definition(session, c.case_no, "acceptance['rongque_deadline_at']", "'P1D'")
    with transaction(session):  # armed from the bad expression at its next look
        case = session.scalar(select(Case).where(Case.case_no == c.case_no))
        state = json.loads(case.state)
        for task in state["tasks"].values():
            if task["task_spec"] == TIMER:
                task["internal_data"].pop("event_value", None)
        case.state = json.dumps(state)
    with pytest.raises(EngineIncident):
        act(session, c.case_no, "Task_unit_review")
    inc = incident_of(session, c.case_no)
    assert inc.element_id == TIMER and "P1D" in inc.message
    boss = admin(session)
    with pytest.raises(EngineIncident):  # the data holds no fault to fix: the same version fails again
        actions.retry(session, inc.id, boss)
    actions.retry(session, open_incident(session, c.case_no).id, boss, use_published=True, reason="已发布修正版本")
    case = reload(session, c.case_no)
    assert case.status == "running" and case.next_timer_at is not None
    assert case.next_timer_at.isoformat().startswith("2026-04-14T16:00")  # the deadline, read again
    act(session, c.case_no, "Task_unit_review")


def test_a_published_version_that_lacks_the_cases_elements_is_refused(session, clock):
    c = rongque_case(session)
    poison_timer_value(session, c.case_no, "P1D")
    with pytest.raises(EngineIncident):
        act(session, c.case_no, "Task_unit_review")
    inc = incident_of(session, c.case_no)
    with transaction(session):  # the published version renamed a step the case has reached
        case = session.scalar(select(Case).where(Case.case_no == c.case_no))
        row = session.get(ProcessDefinition, case.definition_id)
        text = json.dumps(row.spec, ensure_ascii=False).replace("Task_rongque_supply", "Task_supply_renamed")
        session.add(
            ProcessDefinition(
                process_id=REG,
                name=row.name,
                version=row.version + 50,
                sha256=hashlib.sha256(text.encode()).hexdigest(),
                source=row.source,
                spec=json.loads(text),
                user_tasks=row.user_tasks,
                status="published",
                created_by="test",
            )
        )
        row.status = "retired"
    with pytest.raises(Conflict) as info:
        actions.retry(session, inc.id, admin(session), use_published=True)
    assert "缺少环节 Task_rongque_supply" in info.value.message
    case = reload(session, c.case_no)
    assert case.status == "error" and open_incident(session, c.case_no).id == inc.id  # nothing changed


def test_skip_a_broken_timer_fires_it_now_and_the_case_goes_on(session, clock):
    c = rongque_case(session)
    poison_timer_value(session, c.case_no, "P1D")
    with pytest.raises(EngineIncident):
        act(session, c.case_no, "Task_unit_review")
    inc = incident_of(session, c.case_no)
    boss = admin(session)
    with pytest.raises(ValidationFailed) as info:
        actions.skip(session, inc.id, boss, "  ")
    assert "原因" in info.value.message
    actions.skip(session, inc.id, boss, "期限已过，按期满处理")
    case = reload(session, c.case_no)
    # the timer's path: the 容缺 commitment lapsed (R3) and the case ended by the model
    assert case.status == "terminated" and case.outcome_rule == "R3"
    skipped = events(session, c.case_no, "incident_skip")[-1]
    assert skipped.actor == "admin" and skipped.payload["reason"] == "期限已过，按期满处理"
    assert skipped.payload["element"] == TIMER


def test_skip_a_failed_service_step_completes_it_unrun(session, factory, clock):
    c = rongque_case(session)
    poison_definition(session, c.case_no, "'terminated'", THROW)
    clock.to(2026, 4, 15, 0, 5)
    fire_due_timers(factory)
    inc = incident_of(session, c.case_no)
    actions.skip(session, inc.id, admin(session), "手工发出终止通知")
    case = reload(session, c.case_no)
    assert case.status != "error" and not case.open_tasks
    assert events(session, c.case_no, "incident_skip")


def test_cancel_ends_the_case_terminated_with_the_reason(any_session, clock):
    session = any_session
    c = rongque_case(session)
    poison_timer_value(session, c.case_no, "P1D")
    with pytest.raises(EngineIncident):
        act(session, c.case_no, "Task_unit_review")
    inc = incident_of(session, c.case_no)
    boss = admin(session)
    with pytest.raises(ValidationFailed):
        actions.cancel(session, inc.id, boss, "")
    actions.cancel(session, inc.id, boss, "流程数据无法修复，请申请人重新申请")
    case = reload(session, c.case_no)
    assert case.status == "terminated" and case.outcome_reason == "流程数据无法修复，请申请人重新申请"
    assert case.closed_at is not None and case.next_timer_at is None and not case.open_tasks
    assert [e.payload["outcome"] for e in events(session, c.case_no, "closed")] == ["terminated"]
    assert events(session, c.case_no, "incident_cancel")[-1].payload["reason"].startswith("流程数据")
    assert verify_chain(session, reload(session, c.case_no)) == []
    with pytest.raises(Exception) as info:  # resolved: a second repair is a conflict, not a second end
        actions.cancel(session, inc.id, boss, "again")
    assert getattr(info.value, "status", None) == 409


def test_a_case_whose_state_no_longer_loads_is_cancelled_as_it_stands(session, clock):
    c = rongque_case(session)
    with transaction(session):
        case = session.scalar(select(Case).where(Case.case_no == c.case_no))
        case.state = json.dumps({"tasks": "broken"})
    with pytest.raises(EngineIncident):
        act(session, c.case_no, "Task_unit_review")
    inc = incident_of(session, c.case_no)
    boss = admin(session)
    v = actions.view(session, inc.id, boss)  # the page shows why it cannot read the data, not a 500
    session.commit()
    assert v.load_error and not v.variables
    with pytest.raises(EngineIncident):  # retrying cannot help: a new incident, nothing else
        actions.retry(session, inc.id, boss)
    actions.cancel(session, open_incident(session, c.case_no).id, boss, "流程状态损坏，无法恢复")
    case = reload(session, c.case_no)
    assert case.status == "terminated" and not case.open_tasks and case.waiting_messages == []
    assert verify_chain(session, reload(session, c.case_no)) == []


def test_only_administrators_repair(session, clock):
    c = rongque_case(session)
    poison_timer_value(session, c.case_no, "P1D")
    with pytest.raises(EngineIncident):
        act(session, c.case_no, "Task_unit_review")
    inc = incident_of(session, c.case_no)
    for name in ("hr_nky", "renshe", "zhangwei"):
        officer = actor_for(session, name)
        session.commit()
        for call, args in (
            (actions.retry, ()),
            (actions.skip, ("x",)),
            (actions.cancel, ("x",)),
            (actions.set_variable, ("acceptance", {})),
            (actions.view, ()),
        ):
            with pytest.raises(Forbidden):
                call(session, inc.id, officer, *args)
    assert reload(session, c.case_no).status == "error"
