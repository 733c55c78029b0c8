"""专业技术二级岗位破格申报 (seed 000 §二(二)): a procedure of its own, from the application to the unit's appointment,
and the intake that tells an applicant above category 3 why 破格 is not open to them."""

from __future__ import annotations

import pytest

from workflows.domain.procedures import SENIOR_POST_LEVEL2, level2_intake_refusal
from workflows.services import handling
from workflows.services.archive import documents_of_case
from workflows.services.timers import fire_due_timers

from .helpers import act, events, find_task, reload, start, task_names

L2 = SENIOR_POST_LEVEL2.id
VOTE = {"experts_expected": 9, "experts_present": 9, "votes_for": 6, "votes_against": 2, "votes_abstain": 1}


def level2(**over) -> dict:
    d = {
        "applicant_name": "张伟",
        "id_number": "150102199001011234",
        "unit_code": "U0101",
        "talent_category": 2,
        "current_post": "专业技术三级",
        "current_post_since": "2025-09-01",  # not yet the years in a 正高 post the ordinary route asks for
        "major": "作物遗传育种",
        "materials": ["id_card", "talent_recognition", "post_appointment"],
    }
    d.update(over)
    return d


def test_category_2_goes_from_application_to_appointment(session, factory, clock):
    c = start(session, L2, level2())  # Monday 2 March 2026, by the applicant himself
    assert c.case_no[6] == "E" and task_names(session, c.case_no) == ["Task_unit_review"]
    act(session, c.case_no, "Task_unit_review")
    clock.to(2026, 3, 7, 0, 5)  # unit 公示 2–6 March (5 working days) is over
    assert fire_due_timers(factory) == 1
    act(session, c.case_no, "Task_dept_review")
    assert find_task(session, c.case_no, "Task_committee_vote").role == "committee"
    act(session, c.case_no, "Task_committee_vote", VOTE)
    clock.to(2026, 3, 14, 0, 5)  # result 公示 9–13 March
    assert fire_due_timers(factory) == 1
    assert find_task(session, c.case_no, "Task_hrss_approval").role == "hrss"
    act(session, c.case_no, "Task_hrss_approval", {"hrss_decision": "approve", "hrss_opinion": "核准"})
    hire = find_task(session, c.case_no, "Task_unit_hire")
    assert hire.role == "unit_hr"
    act(session, c.case_no, "Task_unit_hire", {"hire_date": "2026-03-20", "hire_document": "内农科人字〔2026〕8号"})
    c = reload(session, c.case_no)
    assert c.status == "completed" and c.outcome_rule == "R9"
    kinds = [d.kind for d in documents_of_case(session, c.id)]
    assert kinds.count("publicity_notice") == 2 and "completion_notice" in kinds


def test_hrss_refusal_closes_before_the_appointment(session, factory, clock):
    c = start(session, L2, level2())
    act(session, c.case_no, "Task_unit_review")
    clock.to(2026, 3, 7, 0, 5)
    fire_due_timers(factory)
    act(session, c.case_no, "Task_dept_review")
    act(session, c.case_no, "Task_committee_vote", VOTE)
    clock.to(2026, 3, 14, 0, 5)
    fire_due_timers(factory)
    act(session, c.case_no, "Task_hrss_approval", {"hrss_decision": "refuse", "hrss_opinion": "岗位聘用条件未满足"})
    c = reload(session, c.case_no)
    assert c.status == "refused" and c.outcome_reason == "岗位聘用条件未满足"
    assert task_names(session, c.case_no) == []


@pytest.mark.parametrize("category", [4, 6, 7, None])
def test_above_category_3_is_told_at_intake_and_refused_with_the_same_words(session, clock, category):
    preview = handling.refused_at_once(
        session, L2, "150102199001011234", level2()["materials"], level2(talent_category=category)
    )
    assert preview and preview[0].startswith("不符合破格条件") and "常规程序" in preview[0]
    c = reload(session, start(session, L2, level2(talent_category=category)).case_no)
    assert c.status == "not_accepted" and c.outcome_rule == "R9"
    assert c.outcome_reason == preview[0]  # the DMN and the intake say the same thing
    assert [e for e in events(session, c.case_no, "decision") if e.rule_id == "R9"]


@pytest.mark.parametrize("category", [1, 2, 3])
def test_category_1_to_3_is_not_warned(session, category):
    assert level2_intake_refusal(category) == ""
    assert handling.refused_at_once(session, L2, "x", [], level2(talent_category=category)) == []
