"""特设岗位 (R8) and 职称绿色通道 (R9), plus R10 on both: one scenario per rule and branch."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from webapp.demo.accounts import actor_for
from workflows.domain.errors import Forbidden, ValidationFailed
from workflows.domain.models import CreditRecord, SpecialPost
from workflows.infra.db import transaction
from workflows.services.cases import request_writeoff
from workflows.services.settings import set_param
from workflows.services.timers import fire_due_timers

from .helpers import act, events, find_task, reload, special_post, start, task_names, title

SP, TT = "special_post", "senior_title_direct"


def post_of(session, case):
    session.expire_all()
    p = session.scalar(select(SpecialPost).where(SpecialPost.case_id == case.id))
    session.commit()
    return p


# ---- 特设岗位 (R8) -------------------------------------------------------------------------------------------------


def test_r8_refused_when_unit_has_a_vacant_post_at_the_level(session, clock):
    c = reload(session, start(session, SP, special_post(unit_has_vacancy_at_level=True)).case_no)
    assert c.status == "not_accepted" and c.outcome_rule == "R8" and "空缺岗位" in c.outcome_reason


def test_r8_term_over_cap_is_returned_to_the_unit_by_default(session, clock):
    c = reload(session, start(session, SP, special_post(term_months=72)).case_no)
    assert c.status == "on_hold" and c.hold_reason == "退回用人单位修改"
    assert task_names(session, c.case_no) == ["Task_unit_revise"]


def test_r8_term_over_cap_is_capped_when_configured(session, clock):
    with transaction(session):
        set_param(session, "special_post_term_mode", "cap")
    c = start(session, SP, special_post(term_months=72))
    act(session, c.case_no, "Task_dept_review")
    act(session, c.case_no, "Task_hrss_approval")
    c = reload(session, c.case_no)
    p = post_of(session, c)
    assert (p.requested_term_months, p.term_months, p.term_end) == (72, 60, date(2031, 3, 1))


def test_r8_review_approval_register_then_term_end_writeoff(session, factory, clock):
    c = start(session, SP, special_post(term_months=36))
    assert task_names(session, c.case_no) == ["Task_dept_review"]
    act(session, c.case_no, "Task_dept_review")
    act(session, c.case_no, "Task_hrss_approval")
    c = reload(session, c.case_no)
    p = post_of(session, c)
    # no start date asked for: from the approval day; 36 months from 2 March 2026 end on 1 March 2029
    assert (p.status, p.start_on, p.start_basis, p.term_end) == (
        "active",
        date(2026, 3, 2),
        "approval",
        date(2029, 3, 1),
    )
    assert c.status == "running" and task_names(session, c.case_no) == []
    clock.to(2029, 2, 28, 23, 50)
    assert fire_due_timers(factory) == 0
    clock.to(2029, 3, 1, 0, 1)  # 核销 on the term's last day
    assert fire_due_timers(factory) == 1
    c = reload(session, c.case_no)
    p = post_of(session, c)
    assert p.status == "written_off" and p.writeoff_reason == "聘期届满" and c.status == "completed"
    assert (p.written_off_on, p.writeoff_reason_code, p.regular_post_status) == (
        date(2029, 3, 1),
        "term_end",
        "pending",
    )


def test_r8_early_writeoff_when_the_holder_leaves(session, clock):
    c = start(session, SP, special_post())
    act(session, c.case_no, "Task_dept_review")
    act(session, c.case_no, "Task_hrss_approval")
    clock.to(2027, 6, 1, 10)
    with pytest.raises(Forbidden):
        request_writeoff(session, c.case_no, "holder_left", "wo-1", actor_for(session, "hr_nmgu"))
    request_writeoff(session, c.case_no, "holder_left", "wo-1", actor_for(session, "hr_nky"))
    request_writeoff(session, c.case_no, "holder_left", "wo-1", actor_for(session, "hr_nky"))  # idempotent
    c = reload(session, c.case_no)
    p = post_of(session, c)
    assert p.status == "written_off" and p.written_off_on == date(2027, 6, 1) and p.writeoff_reason == "聘用人员离岗"
    assert c.status == "completed" and c.next_timer_at is None


@pytest.mark.parametrize(
    "step,form",
    [
        ("Task_dept_review", {"dept_decision": "refuse", "dept_opinion": "不同意"}),
        ("Task_hrss_approval", {"hrss_decision": "refuse", "hrss_opinion": "不予核准"}),
    ],
)
def test_r8_dept_or_hrss_refusal(session, clock, step, form):
    c = start(session, SP, special_post())
    if step == "Task_hrss_approval":
        act(session, c.case_no, "Task_dept_review")
    act(session, c.case_no, step, form)
    assert reload(session, c.case_no).status == "refused"


def test_r10_special_post_holder_on_the_blacklist(session, clock):
    c = reload(
        session, start(session, SP, special_post(holder_id_number="150105198507073456", holder_name="钱某")).case_no
    )
    assert c.status == "not_accepted" and c.outcome_rule == "R10"


# ---- 职称绿色通道 (R9) --------------------------------------------------------------------------------------------


def _through_to_vote(session, factory, clock, case_no):
    act(session, case_no, "Task_unit_review")
    clock.to(2026, 3, 7, 0, 5)  # unit 公示 2–6 March is over
    assert fire_due_timers(factory) == 1
    act(session, case_no, "Task_dept_review")
    assert task_names(session, case_no) == ["Task_committee_vote"]


def test_r9_rigid_category_3_passes_vote_and_completes(session, factory, clock):
    c = start(session, TT, title(talent_category=3))
    assert task_names(session, c.case_no) == ["Task_unit_review"]
    _through_to_vote(session, factory, clock, c.case_no)
    act(
        session,
        c.case_no,
        "Task_committee_vote",
        {"experts_expected": 11, "experts_present": 9, "votes_for": 6, "votes_against": 2, "votes_abstain": 1},
    )
    vote = [e for e in events(session, c.case_no, "decision") if e.rule_id == "R9" and "passed" in e.payload][0]
    assert vote.payload["passed"] is True
    clock.to(2026, 3, 14, 0, 5)  # result 公示 7 March (Sat) → 9–13 March
    assert fire_due_timers(factory) == 1
    act(session, c.case_no, "Task_filing")
    c = reload(session, c.case_no)
    assert c.status == "completed" and c.outcome_rule == "R9"


def test_r9_vote_below_two_thirds_fails(session, factory, clock):
    c = start(session, TT, title())
    _through_to_vote(session, factory, clock, c.case_no)
    act(
        session,
        c.case_no,
        "Task_committee_vote",
        {"experts_expected": 9, "experts_present": 9, "votes_for": 5, "votes_against": 4, "votes_abstain": 0},
    )
    c = reload(session, c.case_no)
    assert c.status == "refused" and c.outcome_rule == "R9" and "未通过" in c.outcome_reason


def test_r9_the_title_application_no_longer_carries_a_level2_request(session, clock):
    """二级岗位破格 is a procedure of its own (tests/test_level2.py): the flag that used to be dropped silently is
    refused with the field named."""
    with pytest.raises(ValidationFailed) as e:
        start(session, TT, title(request_level2_post=True))
    assert "request_level2_post" in (e.value.details or {}).get("fields", {})


@pytest.mark.parametrize(
    "over,ok",
    [
        (dict(introduction_mode="local", talent_category=None, achievement="key_core_technology"), True),
        (dict(introduction_mode="local", talent_category=None, achievement=None), False),
        (dict(introduction_mode="rigid", talent_category=7), False),
        (dict(introduction_mode="flexible", talent_category=2), False),
        (dict(introduction_mode="rigid", talent_category=6, on_leave_entrepreneur=True), True),
    ],
    ids=["local-achievement", "local-none", "category7", "flexible", "on-leave-entrepreneur"],
)
def test_r9_who_may_apply_directly(session, clock, over, ok):
    c = reload(session, start(session, TT, title(**over)).case_no)
    if ok:
        assert c.status == "running" and task_names(session, c.case_no) == ["Task_unit_review"]
    else:
        assert c.status == "not_accepted" and c.outcome_rule == "R9"


@pytest.mark.parametrize("years_ago,blocked", [(2, True), (4, False)])
def test_r10_title_revoked_within_three_years(session, clock, years_ago, blocked):
    with transaction(session):
        session.add(
            CreditRecord(
                id_number="150102199001011234",
                name="张伟",
                kind="title_revoked",
                listed_on=date(2026 - years_ago, 1, 10),
                note="职称评审材料造假",
            )
        )
    c = reload(session, start(session, TT, title()).case_no)
    assert (c.status == "not_accepted" and c.outcome_rule == "R10") is blocked


def test_r7_result_publicity_objection_upheld(session, factory, clock):
    from workflows.services.cases import record_objection

    c = start(session, TT, title())
    _through_to_vote(session, factory, clock, c.case_no)
    act(
        session,
        c.case_no,
        "Task_committee_vote",
        {"experts_expected": 7, "experts_present": 7, "votes_for": 7, "votes_against": 0, "votes_abstain": 0},
    )
    record_objection(session, c.case_no, "论文存在抄袭", "实名：王某", "obj-r1")
    t = find_task(session, c.case_no, "Task_result_publicity_objection_review")
    assert t.role == "committee" and reload(session, c.case_no).status == "on_hold"
    act(session, c.case_no, t.spec_name, {"result_objection_finding": "upheld", "result_objection_note": "查实"})
    c = reload(session, c.case_no)
    assert c.status == "terminated" and c.outcome_rule == "R7"
