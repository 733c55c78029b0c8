"""绿色通道列编注册: one scenario per rule and per branch, driven through the services as people would."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from workflows.domain.errors import Conflict, Forbidden, ValidationFailed
from workflows.domain.models import BreachRecord
from workflows.services import quota
from workflows.services.timers import fire_due_timers

from .helpers import act, events, find_task, open_tasks, registration, reload, rules_recorded, start, task_names

REG = "green_channel_registration"


def pools(session, unit="U0101"):
    session.expire_all()
    result = quota.own_pool(session, unit), quota.talent_pool(session)
    session.commit()
    return result


def test_r10_blacklisted_person_is_refused_before_any_handling(session, clock):
    c = start(session, REG, registration(applicant_name="钱某", id_number="150105198507073456"), username="hr_nky")
    c = reload(session, c.case_no)
    assert c.status == "not_accepted" and c.outcome_rule == "R10"
    assert "科研失信" in c.outcome_reason
    assert open_tasks(session, c.case_no) == []
    assert c.accepted_on is None  # neither 即收即办 nor 容缺
    ev = [e for e in events(session, c.case_no, "decision") if e.rule_id == "R10"]
    assert ev and ev[0].clause and "失信" in ev[0].clause


@pytest.mark.parametrize(
    "over",
    [dict(introduction_mode="flexible"), dict(talent_category=7), dict(talent_category=None)],
    ids=["flexible", "category7", "unrecognised"],
)
def test_r1_only_rigid_category_1_to_6(session, clock, over):
    c = start(session, REG, registration(**over))
    c = reload(session, c.case_no)
    assert c.status == "not_accepted" and c.outcome_rule == "R1"
    # R1 refuses two different people: 柔性引进 talent keeps its agreement (no 编制 by any route); anyone else is
    # pointed to 公开招聘 / 编制外聘用
    if over.get("introduction_mode") == "flexible":
        assert "柔性引进协议" in c.outcome_reason and "公开招聘" not in c.outcome_reason
    else:
        assert "公开招聘或编制外聘用" in c.outcome_reason and "柔性引进协议" not in c.outcome_reason


def test_r2_complete_dossier_is_accepted_and_passed_on_the_same_day(session, clock):
    c = start(session, REG, registration())
    c = reload(session, c.case_no)
    assert c.status == "running"
    assert c.accepted_on == date(2026, 3, 2) and c.complete_on == date(2026, 3, 2)
    assert find_task(session, c.case_no, "Task_unit_review").due_on == date(2026, 3, 9)  # 5 working days
    assert task_names(session, c.case_no) == ["Task_unit_review"]
    assert "R2" in rules_recorded(session, c.case_no)
    assert c.case_no.startswith("150000L260302") and len(c.case_no) == 19


def test_r3_missing_key_material_is_refused_with_the_items_named(session, clock):
    mats = [m for m in registration()["materials"] if m != "talent_recognition"]
    c = start(session, REG, registration(materials=mats))
    c = reload(session, c.case_no)
    assert c.status == "not_accepted" and c.outcome_rule == "R3"
    assert "人才类别认定文件" in c.outcome_reason


def _rongque_case(session):
    mats = [m for m in registration()["materials"] if m not in ("health_check", "no_crime_record")]
    c = start(session, REG, registration(materials=mats))
    assert task_names(session, c.case_no) == ["Task_rongque_commitment"]
    act(session, c.case_no, "Task_rongque_commitment")
    return reload(session, c.case_no)


def test_r3_rongque_accepts_with_deadline_and_supply_completes(session, clock):
    c = _rongque_case(session)
    assert c.accepted_on == date(2026, 3, 2)
    # 30 working days after 2 March 2026, across the 清明 break (4–6 April)
    assert c.rongque_deadline == date(2026, 4, 14)
    owed = {m.code: m for m in c.materials if m.status == "owed"}
    assert set(owed) == {"health_check", "no_crime_record"}
    assert all(m.deadline == date(2026, 4, 14) for m in owed.values())
    assert "Task_unit_review" in task_names(session, c.case_no)
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_dept_review")
    # main branch waits at the join for the owed items
    assert task_names(session, c.case_no) == []
    clock.to(2026, 3, 10, 10)
    from webapp.demo.accounts import actor_for
    from workflows.services.cases import supply_material

    supply_material(session, c.case_no, "health_check", actor_for(session, "zhangwei"))
    assert task_names(session, c.case_no) == []  # one item still owed
    supply_material(session, c.case_no, "no_crime_record", actor_for(session, "zhangwei"))
    c = reload(session, c.case_no)
    assert c.complete_on == date(2026, 3, 10)
    assert task_names(session, c.case_no) == ["Task_filing"]
    assert c.filing_due_on == date(2026, 4, 10)  # R6: one month after the dossier became complete
    own_before = pools(session)[0].used
    act(session, c.case_no, "Task_filing")
    c = reload(session, c.case_no)
    assert c.status == "completed" and c.outcome_rule == "R6"
    own, _ = pools(session)
    assert own.used == own_before + 1 and own.reserved == 0


def test_r3_lapse_terminates_releases_quota_and_bars_future_rongque(session, factory, clock):
    c = _rongque_case(session)
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_dept_review")
    own, _ = pools(session)
    assert own.reserved == 1  # reserved by allocate_quota
    clock.to(2026, 4, 14, 23, 0)
    assert fire_due_timers(factory) == 0  # the deadline day is not over yet
    clock.to(2026, 4, 15, 0, 5)
    assert fire_due_timers(factory) == 1
    c = reload(session, c.case_no)
    assert c.status == "terminated" and c.outcome_rule == "R3"
    assert open_tasks(session, c.case_no) == []
    own, _ = pools(session)
    assert own.reserved == 0 and own.used == 0
    assert session.scalar(select(BreachRecord).where(BreachRecord.id_number == c.id_number)) is not None
    # the same person may no longer use 容缺
    mats = [m for m in registration()["materials"] if m != "health_check"]
    c2 = reload(session, start(session, REG, registration(materials=mats)).case_no)
    assert c2.status == "not_accepted" and c2.outcome_rule == "R3" and "违诺" in c2.outcome_reason


def test_r4_own_vacancy_first(session, clock):
    c = start(session, REG, registration())
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_dept_review")
    assert task_names(session, c.case_no) == ["Task_filing"]
    assert any(e.payload.get("source") == "own" for e in events(session, c.case_no, "quota"))


def test_r4_talent_pool_when_no_own_vacancy_then_hold_when_pool_empty(session, clock):
    nos = []
    for i in range(3):
        c = start(
            session, REG, registration(unit_code="U0102", id_number=f"15010219900101{1240 + i}"), username="hr_kjxx"
        )
        act(session, c.case_no, "Task_unit_review")
        act(session, c.case_no, "Task_dept_review")
        nos.append(c.case_no)
    # pool has 2 places: the first two cases go to 编办 approval, the third is on hold
    assert task_names(session, nos[0]) == ["Task_pool_review"]
    assert task_names(session, nos[1]) == ["Task_pool_review"]
    assert task_names(session, nos[2]) == ["Task_quota_adjust"]
    held = reload(session, nos[2])
    assert held.status == "on_hold" and held.hold_reason == "待编办调剂"
    _, pool = pools(session)
    assert pool.reserved == 2
    act(session, nos[0], "Task_pool_review")
    act(session, nos[0], "Task_filing")
    _, pool = pools(session)
    assert (pool.used, pool.reserved) == (1, 1)
    # 编办 refuses the second: its place goes back
    act(session, nos[1], "Task_pool_review", {"pool_decision": "refuse", "pool_opinion": "不符合使用条件"})
    c1 = reload(session, nos[1])
    assert c1.status == "refused" and c1.outcome_rule == "R4"
    _, pool = pools(session)
    assert (pool.used, pool.reserved) == (1, 0)
    # ten days on hold, then 编办 retries: the freed place is taken, the 备案 clock was stopped meanwhile
    clock.to(2026, 3, 12, 9)
    act(session, nos[2], "Task_quota_adjust", {"adjust_decision": "retry", "adjust_note": "已调剂"})
    c2 = reload(session, nos[2])
    assert c2.status == "running" and c2.hold_days == 10
    assert task_names(session, nos[2]) == ["Task_pool_review"]
    act(session, nos[2], "Task_pool_review")
    c2 = reload(session, nos[2])
    # 2 March + 1 month = 2 April, plus the 10 stopped days = 12 April (a Sunday) → 13 April
    assert c2.filing_due_on == date(2026, 4, 13)


def test_r5_outside_establishment_assessment_fail_refuses(session, clock):
    c = start(session, REG, registration(outside_establishment=True))
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_assessment", {"assessment_result": "fail", "assessment_note": "考核不合格"})
    c = reload(session, c.case_no)
    assert c.status == "refused" and c.outcome_rule == "R5"


def test_r5_r7_assessment_pass_then_publicity_then_registration(session, factory, clock):
    c = start(session, REG, registration(outside_establishment=True))
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_assessment")
    pub = [e for e in events(session, c.case_no, "publicity")][0].payload
    # 5 working days, start day counted: Mon 2 March → Fri 6 March
    assert (pub["start"], pub["end"]) == ("2026-03-02", "2026-03-06")
    assert task_names(session, c.case_no) == []
    clock.to(2026, 3, 6, 18)
    assert fire_due_timers(factory) == 0
    clock.to(2026, 3, 7, 0, 1)
    assert fire_due_timers(factory) == 1
    assert task_names(session, c.case_no) == ["Task_dept_review"]


@pytest.mark.parametrize("finding,status", [("upheld", "terminated"), ("rejected", "running")])
def test_r7_objection_holds_the_case_until_the_finding(session, clock, finding, status):
    from workflows.services.cases import record_objection

    c = start(session, REG, registration(outside_establishment=True))
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_assessment")
    record_objection(session, c.case_no, "反映其考核材料不实", "匿名", "obj-1")
    c = reload(session, c.case_no)
    assert c.status == "on_hold"
    t = find_task(session, c.case_no, "Task_")
    assert "异议" in t.title and t.role == "dept"
    # the same objection delivered twice acts once
    record_objection(session, c.case_no, "反映其考核材料不实", "匿名", "obj-1")
    assert len(open_tasks(session, c.case_no)) == 1
    form = {k: v for k, v in {"objection_finding": finding, "objection_note": "经核查"}.items()}
    act(session, c.case_no, t.spec_name, form)
    c = reload(session, c.case_no)
    assert c.status == status
    if finding == "upheld":
        assert c.outcome_rule == "R7"
    else:
        assert task_names(session, c.case_no) == ["Task_dept_review"]


def test_r6_filing_reminder_and_escalation_fire_once_each(session, factory, clock):
    c = start(session, REG, registration())
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_dept_review")
    c = reload(session, c.case_no)
    assert c.filing_due_on == date(2026, 4, 2)
    assert find_task(session, c.case_no, "Task_filing").due_on == date(2026, 4, 2)  # the inbox shows the R6 date
    assert find_task(session, c.case_no, "Task_filing").role == "hrss"
    clock.to(2026, 3, 30, 0, 5)  # three working days before 2 April
    assert fire_due_timers(factory) == 1
    kinds = [e.payload["kind"] for e in events(session, c.case_no, "notification")]
    assert kinds == ["filing_reminder"]
    assert fire_due_timers(factory) == 0
    clock.to(2026, 4, 3, 0, 5)
    assert fire_due_timers(factory) == 1
    kinds = [e.payload["kind"] for e in events(session, c.case_no, "notification")]
    assert kinds == ["filing_reminder", "filing_escalation"]
    assert task_names(session, c.case_no) == ["Task_filing"]  # still open, now overdue
    act(session, c.case_no, "Task_filing")
    assert reload(session, c.case_no).status == "completed"


def test_unit_and_dept_refusals_end_the_case(session, clock):
    c = start(session, REG, registration())
    act(session, c.case_no, "Task_unit_review", {"unit_decision": "refuse", "unit_opinion": "岗位已调整"})
    assert reload(session, c.case_no).status == "refused"
    c = start(session, REG, registration(id_number="150102199001019999"), username="hr_nky")
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_dept_review", {"dept_decision": "refuse", "dept_opinion": "不符合条件"})
    assert reload(session, c.case_no).status == "refused"


def test_bad_form_data_is_refused_and_changes_nothing(session, clock):
    c = start(session, REG, registration())
    before = reload(session, c.case_no).version
    with pytest.raises(ValidationFailed) as e:
        act(session, c.case_no, "Task_unit_review", {"unit_decision": "maybe", "typename": "x"})
    assert "unit_decision" in e.value.details["fields"] and "typename" in e.value.details["fields"]
    assert reload(session, c.case_no).version == before
    assert task_names(session, c.case_no) == ["Task_unit_review"]


def test_officer_outside_scope_cannot_complete(session, clock):
    c = start(session, REG, registration())
    with pytest.raises(Forbidden):
        act(session, c.case_no, "Task_unit_review", username="hr_nmgu")  # another unit
    with pytest.raises(Forbidden):
        act(session, c.case_no, "Task_unit_review", username="dept_kjt")  # another lane
    act(session, c.case_no, "Task_unit_review")
    with pytest.raises(Forbidden):
        act(session, c.case_no, "Task_dept_review", username="dept_jyt")  # not this unit's 主管部门
    act(session, c.case_no, "Task_dept_review", username="dept_kjt")


def test_withdraw_releases_the_reserved_place(session, clock):
    from webapp.demo.accounts import actor_for
    from workflows.services.cases import withdraw

    c = start(session, REG, registration())
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_dept_review")
    assert pools(session)[0].reserved == 1
    withdraw(session, c.case_no, actor_for(session, "zhangwei"), "个人原因")
    c = reload(session, c.case_no)
    assert c.status == "withdrawn" and open_tasks(session, c.case_no) == []
    assert pools(session)[0].reserved == 0
    with pytest.raises(Conflict):
        withdraw(session, c.case_no, actor_for(session, "zhangwei"))
