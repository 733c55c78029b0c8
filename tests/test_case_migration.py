"""Migration of running cases between versions of their process (issue 15 item 2): a dry run over cases standing at
several positions refuses the unsafe ones and tells what would change; the real run moves the rest, one audited
transaction each; the moved cases finish on the new version; moving back works where it is safe."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from webapp.demo.accounts import actor_for
from workflows.domain.errors import Conflict, ValidationFailed
from workflows.domain.models import AdminEvent, Case, MessageSubscription
from workflows.services import case_migration as cm
from workflows.services.audit import verify_chain
from workflows.services.cases import supply_material
from workflows.services.timers import fire_due_timers

from .helpers import act, events, registration, reload, start, task_names
from .migration_targets import REG, deploy_edited, needs_new_data, v2_changes

OWED = ("health_check", "no_crime_record")


def _positions(session) -> dict[str, str]:
    """Six cases on v1, each standing somewhere else: position → case number."""
    out = {}
    out["user_task"] = start(session, REG, registration()).case_no  # 单位审核 open
    filing = start(session, REG, registration(), username="hr_nky").case_no
    act(session, filing, "Task_unit_review")
    act(session, filing, "Task_dept_review")
    out["timer"] = filing  # 列编备案 open, its reminder and overdue timers waiting
    mats = [m for m in registration()["materials"] if m not in OWED]
    owed = start(session, REG, registration(materials=mats)).case_no
    act(session, owed, "Task_rongque_commitment")
    out["rongque"] = owed  # 单位审核 open + 补齐容缺材料 waiting for the message, its deadline timer armed
    removed = start(session, REG, registration(outside_establishment=True), username="hr_nky").case_no
    act(session, removed, "Task_unit_review")
    out["removed"] = removed  # 编制外聘用考核 open: the element v2 removes
    changed = start(session, REG, registration(), username="hr_nky").case_no
    act(session, changed, "Task_unit_review")
    out["type_changed"] = changed  # 主管部门审核 open: a script task in v2
    publicity = start(session, REG, registration(outside_establishment=True), username="hr_nky").case_no
    act(session, publicity, "Task_unit_review")
    act(session, publicity, "Task_assessment")
    out["publicity"] = publicity  # 公示 timer + 异议 message; its history holds the removed 考核
    return out


def _by_case(report) -> dict[str, cm.CaseReport]:
    return {c.case_no: c for c in report.cases}


def _admin(session):
    return actor_for(session, "admin")


def test_dry_run_refuses_the_unsafe_then_the_rest_move_and_finish_on_the_new_version(session, factory, clock):
    _scenario(session, factory, clock)


def test_the_same_on_postgresql(pg_factory, clock):
    """The same scenario on PostgreSQL (row locks, the dry run's rollback): runs when TEST_DATABASE_URL is set."""
    s = pg_factory()
    try:
        _scenario(s, pg_factory, clock)
    finally:
        s.close()


def _scenario(session, factory, clock):
    pos = _positions(session)
    v2 = deploy_edited(session, *v2_changes())
    states_before = {no: reload(session, no).state for no in pos.values()}

    dry = cm.migrate_cases(session, REG, 1, v2, _admin(session), dry_run=True)
    by = _by_case(dry)
    assert set(by) == set(pos.values())
    assert {k: by[no].outcome for k, no in pos.items()} == {
        "user_task": "movable",
        "timer": "movable",
        "rongque": "movable",
        "removed": "refused",
        "type_changed": "refused",
        "publicity": "refused",
    }
    assert "编制外聘用考核" in by[pos["removed"]].reasons[0] and "已删除" in by[pos["removed"]].reasons[0]
    assert "类型已变更为脚本任务" in by[pos["type_changed"]].reasons[0]
    assert any("已办理" in r and "Task_assessment" in r for r in by[pos["publicity"]].reasons)
    # what would change: the filing reminder moves to the due day; the new step is listed among the added elements
    timer = by[pos["timer"]]
    assert any("备案到期提醒" in t and "→" in t for t in timer.timers)
    assert "用户任务「备案预审」(Task_filing_precheck)" in dry.added
    assert any("Task_assessment" in e for e in dry.removed)
    assert any("Task_dept_review" in e for e in by[pos["user_task"]].changed_ahead)
    owed = by[pos["rongque"]]
    assert any("补齐容缺材料" in e for e in owed.at) and any("单位审核" in e for e in owed.at)
    assert owed.timers == []  # the 容缺 deadline's definition did not change: it is kept, not restarted
    # nothing was written
    for no in pos.values():
        c = reload(session, no)
        assert c.definition.version == 1 and c.state == states_before[no]
    assert events(session, pos["user_task"], "migrated") == []

    deadline_before = reload(session, pos["rongque"]).next_timer_at
    real = cm.migrate_cases(session, REG, 1, v2, _admin(session), dry_run=False)
    assert real.counts == {"movable": 0, "moved": 3, "refused": 3, "failed": 0}
    for key in ("user_task", "timer", "rongque"):
        c = reload(session, pos[key])
        assert c.definition.version == v2
        ev = events(session, pos[key], "migrated")
        assert len(ev) == 1 and (ev[0].payload["from_version"], ev[0].payload["to_version"]) == (1, v2)
        assert verify_chain(session, c) == []
    for key in ("removed", "type_changed", "publicity"):
        assert reload(session, pos[key]).definition.version == 1
    run_event = session.scalar(select(AdminEvent).where(AdminEvent.action == "cases_migrated"))
    assert sorted(run_event.payload["moved"]) == sorted(pos[k] for k in ("user_task", "timer", "rongque"))
    session.commit()

    # projections agree with the moved instances: open tasks kept (same ids), the 容缺 deadline kept, subscriptions
    assert task_names(session, pos["user_task"]) == ["Task_unit_review"]
    assert task_names(session, pos["timer"]) == ["Task_filing"]
    assert reload(session, pos["rongque"]).next_timer_at == deadline_before
    subs = session.scalars(
        select(MessageSubscription.message_name).join(Case).where(Case.case_no == pos["rongque"])
    ).all()
    assert subs == reload(session, pos["rongque"]).waiting_messages != []
    session.commit()

    # a case moved does not move twice: it is on v2 now
    again = cm.migrate_cases(session, REG, 1, v2, _admin(session), dry_run=True, case_nos=[pos["user_task"]])
    assert again.cases[0].outcome == "refused" and "不在源版本" in again.cases[0].reasons[0]

    # each moved case finishes on v2: 主管部门审核 is a script now, 备案预审 comes before 列编备案
    a = pos["user_task"]
    act(session, a, "Task_unit_review")
    assert task_names(session, a) == ["Task_filing_precheck"]
    act(session, a, "Task_filing_precheck", {"filing_confirmed": True})
    act(session, a, "Task_filing")
    assert reload(session, a).status == "completed"

    act(session, pos["timer"], "Task_filing")
    assert reload(session, pos["timer"]).status == "completed"

    o = pos["rongque"]
    act(session, o, "Task_unit_review")
    clock.to(2026, 3, 10, 10)
    for code in OWED:
        supply_material(session, o, code, actor_for(session, "zhangwei"))
    assert task_names(session, o) == ["Task_filing_precheck"]
    act(session, o, "Task_filing_precheck", {"filing_confirmed": True})
    act(session, o, "Task_filing")
    c = reload(session, o)
    assert c.status == "completed" and c.complete_on == date(2026, 3, 10)
    # the case left on v1 goes on there: its 公示 ends on its own timer
    assert fire_due_timers(factory) == 1
    assert task_names(session, pos["publicity"]) == ["Task_dept_review"]


def test_moving_back_where_it_is_safe(session, clock):
    pos = _positions(session)
    v2 = deploy_edited(session, *v2_changes())
    cm.migrate_cases(session, REG, 1, v2, _admin(session), dry_run=False, case_nos=[pos["user_task"], pos["timer"]])
    a, t = pos["user_task"], pos["timer"]
    timer_on_v1 = None
    # on v2, case a goes on past the new step's predecessor; case t stays at 列编备案
    act(session, a, "Task_unit_review")
    assert task_names(session, a) == ["Task_filing_precheck"]

    back = cm.migrate_cases(session, REG, v2, 1, _admin(session), dry_run=True)
    by = _by_case(back)
    assert by[t].outcome == "movable"
    assert by[a].outcome == "refused" and "备案预审" in by[a].reasons[0]  # v1 has no such step
    assert any("备案到期提醒" in x for x in by[t].timers)  # the reminder goes back to its own (earlier) time

    cm.migrate_cases(session, REG, v2, 1, _admin(session), dry_run=False)
    c = reload(session, t)
    assert c.definition.version == 1 and reload(session, a).definition.version == v2
    ev = events(session, t, "migrated")
    assert [(e.payload["from_version"], e.payload["to_version"]) for e in ev] == [(1, v2), (v2, 1)]
    timer_on_v1 = c.next_timer_at
    assert timer_on_v1 is not None
    act(session, t, "Task_filing")
    assert reload(session, t).status == "completed"


def test_data_the_target_needs_but_the_case_lacks_is_refused(session, clock):
    pos = _positions(session)
    v3 = deploy_edited(session, needs_new_data)
    report = cm.migrate_cases(session, REG, 1, v3, _admin(session), dry_run=True)
    by = _by_case(report)
    assert by[pos["user_task"]].outcome == "refused"
    assert by[pos["user_task"]].missing_data == ["fast_track_ok"]
    assert "fast_track_ok" in by[pos["user_task"]].reasons[0]
    assert by[pos["timer"]].outcome == "movable"  # past 主管部门审核: the new condition is behind it


def test_an_open_task_whose_form_asks_for_more_is_listed(session, clock):
    pos = _positions(session)

    def seal_number(forms):
        form = forms["unit_review.schema.json"]
        form["properties"]["unit_seal_no"] = {"title": "用印登记号", "type": "string", "maxLength": 20}
        form["required"] = [*form["required"], "unit_seal_no"]

    v4 = deploy_edited(session, forms_patch=seal_number)
    by = _by_case(cm.migrate_cases(session, REG, 1, v4, _admin(session), dry_run=False))
    moved = by[pos["user_task"]]
    assert moved.outcome == "moved"
    assert moved.forms == ["「单位审核」新增填写项 unit_seal_no", "「单位审核」新增必填项 unit_seal_no"]
    assert by[pos["timer"]].forms == []
    with pytest.raises(ValidationFailed):  # the open step now asks for it
        act(session, pos["user_task"], "Task_unit_review")
    act(session, pos["user_task"], "Task_unit_review", {"unit_decision": "approve", "unit_seal_no": "2026-17"})
    assert task_names(session, pos["user_task"]) == ["Task_dept_review"]


def test_a_move_the_engine_cannot_make_fails_and_leaves_the_case_as_it_was(session, clock):
    pos = _positions(session)

    def bad_reminder(root):  # reads a key no case has: the re-armed timer fails when it is evaluated
        for node in root.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}timeDate"):
            if (node.text or "").strip() == "filing['remind_at']":
                node.text = "filing['no_such_time']"

    v5 = deploy_edited(session, bad_reminder)
    state = reload(session, pos["timer"]).state
    for dry_run in (True, False):
        by = _by_case(cm.migrate_cases(session, REG, 1, v5, _admin(session), dry_run=dry_run))
        assert by[pos["timer"]].outcome == "failed" and "no_such_time" in by[pos["timer"]].reasons[0]
        assert by[pos["user_task"]].outcome == ("movable" if dry_run else "moved")
    c = reload(session, pos["timer"])
    assert c.state == state and c.status == "running" and c.error is None and c.definition.version == 1
    assert events(session, pos["timer"], "engine_error") == []


def test_filters_and_bad_requests(session, clock):
    pos = _positions(session)
    v2 = deploy_edited(session, *v2_changes())
    only = cm.migrate_cases(session, REG, 1, v2, _admin(session), dry_run=True, element="Task_filing")
    assert [c.case_no for c in only.cases] == [pos["timer"]]
    two = cm.migrate_cases(session, REG, 1, v2, _admin(session), dry_run=True, limit=2)
    assert len(two.cases) == 2 and two.truncated
    assert not cm.migrate_cases(session, REG, 1, v2, _admin(session), dry_run=True, limit=6).truncated
    held = cm.migrate_cases(session, REG, 1, v2, _admin(session), dry_run=True, status="on_hold")
    assert held.cases == []
    with pytest.raises(ValidationFailed):
        cm.migrate_cases(session, REG, 1, 1, _admin(session))
    with pytest.raises(ValidationFailed):
        cm.migrate_cases(session, REG, 1, v2, _admin(session), status="completed")
    draft = deploy_edited(session, needs_new_data, publish=False)
    with pytest.raises(Conflict):
        cm.migrate_cases(session, REG, 1, draft, _admin(session))
    unknown = cm.migrate_cases(session, REG, 1, v2, _admin(session), case_nos=["150000L000000000000"])
    assert unknown.cases[0].outcome == "refused" and "不存在" in unknown.cases[0].reasons[0]
