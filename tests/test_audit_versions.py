"""The audit chain finds tampering; definitions are versioned by content and running cases keep their version."""

from __future__ import annotations

from sqlalchemy import select, update

from workflows.domain.errors import NotFound
from workflows.domain.models import CaseEvent
from workflows.infra.db import transaction
from workflows.services.audit import verify_chain
from workflows.services.definitions import deploy, published_definition, read_bundle

from .helpers import act, registration, reload, start, task_names

REG = "green_channel_registration"


def test_audit_chain_is_intact_and_detects_edits_and_deletions(session, clock):
    c = start(session, REG, registration())
    act(session, c.case_no, "Task_unit_review")
    case = reload(session, c.case_no)
    assert verify_chain(session, case) == []
    evs = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)).all()
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
    assert evs[0].prev_hash == "" and all(b.prev_hash == a.hash for a, b in zip(evs, evs[1:]))
    # someone edits an opinion in the database
    target = next(e for e in evs if e.action == "task_completed")
    session.execute(
        update(CaseEvent)
        .where(CaseEvent.id == target.id)
        .values(payload={**target.payload, "data": {"unit_decision": "refuse"}})
    )
    session.commit()
    problems = verify_chain(session, reload(session, c.case_no))
    assert any(f"第{target.seq}条事件内容被改动" in p for p in problems)
    # and deletes an event
    session.delete(session.get(CaseEvent, evs[1].id))
    session.commit()
    problems = verify_chain(session, reload(session, c.case_no))
    assert any("缺失" in p for p in problems)


def test_every_decision_names_its_rule_and_clause(session, clock):
    c = start(session, REG, registration())
    case = reload(session, c.case_no)
    decisions = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.rule_id.is_not(None))
    ).all()
    assert {"R10", "R1", "R2"} <= {e.rule_id for e in decisions}
    assert all(e.clause and "《" in e.clause for e in decisions)


def test_same_files_deploy_once_new_content_is_a_new_version(session, clock):
    bpmn, dmn, forms = read_bundle(REG)
    v1 = published_definition(session, REG)
    with transaction(session):
        again = deploy(session, REG, bpmn, dmn, forms, note="同一内容")
    assert again.id == v1.id and again.version == v1.version
    running = start(session, REG, registration())  # on v1
    name = next(iter(bpmn))
    changed = {name: bpmn[name].replace('name="单位审核"', 'name="用人单位审核"', 1)}
    with transaction(session):
        v2 = deploy(session, REG, changed, dmn, forms, by="admin", note="第二版")
    assert v2.version == v1.version + 1 and v2.status == "published"
    session.refresh(v1)
    assert v1.status == "retired"
    new = start(session, REG, registration(id_number="150102199001017777"), username="hr_nky")
    new_case, old_case = reload(session, new.case_no), reload(session, running.case_no)
    assert new_case.definition_id == v2.id and old_case.definition_id == v1.id
    assert new_case.open_tasks[0].title == "用人单位审核"
    assert old_case.open_tasks[0].title == "单位审核"
    act(session, running.case_no, "Task_unit_review")  # the old case still runs on its own version
    assert task_names(session, running.case_no) == ["Task_dept_review"]


def test_state_is_stored_without_the_spec(session, clock):
    c = reload(session, start(session, REG, registration()).case_no)
    assert '"spec"' not in c.state and "task_specs" not in c.state
    assert len(c.state) < 40_000


def test_unknown_case_is_not_found(session, clock):
    import pytest

    from webapp.demo.accounts import actor_for
    from workflows.services.cases import complete_task

    with pytest.raises(NotFound):
        complete_task(session, "150000L260302999999", "x", {}, actor_for(session, "hr_nky"))
