"""Returns for correction, resubmission, transfer, comments, 好差评, drafts, notifications and scoped queries."""

from __future__ import annotations

import pytest

from webapp.demo.accounts import actor_for
from workflows.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflows.services import handling, notifications, queries

from .helpers import act, events, find_task, registration, reload, start, task_names

REG = "green_channel_registration"


def test_return_to_applicant_stops_then_resubmission_reopens_the_same_step(session, clock):
    c = start(session, REG, registration())
    t = find_task(session, c.case_no, "Task_unit_review")
    hr, zhang = actor_for(session, "hr_nky"), actor_for(session, "zhangwei")
    with pytest.raises(ValidationFailed):
        handling.return_for_correction(session, c.case_no, t.task_id, hr, "  ")
    handling.return_for_correction(
        session, c.case_no, t.task_id, hr, "学历证书不清晰，请重新上传", items=["degree_certificate"]
    )
    c = reload(session, c.case_no)
    assert c.status == "returned"
    assert {m.code: m.status for m in c.materials}["degree_certificate"] == "missing"
    with pytest.raises(Conflict):
        act(session, c.case_no, "Task_unit_review")
    assert notifications.unread_count(session, zhang) >= 1
    with pytest.raises(ValidationFailed):  # the item asked for is missing
        handling.resubmit(session, c.case_no, zhang, {}, [])
    with pytest.raises(ValidationFailed):  # identity cannot change
        handling.resubmit(session, c.case_no, zhang, {"id_number": "150102199001019999"}, ["degree_certificate"])
    clock.to(2026, 3, 5, 9)
    handling.resubmit(session, c.case_no, zhang, {"talent_category": 2}, ["degree_certificate"])
    c = reload(session, c.case_no)
    assert c.status == "running" and c.hold_days == 3 and c.start_data["talent_category"] == 2
    assert task_names(session, c.case_no) == ["Task_unit_review"]
    act(session, c.case_no, "Task_unit_review")
    assert task_names(session, c.case_no) == ["Task_dept_review"]


def test_return_to_an_earlier_step(session, clock):
    c = start(session, REG, registration())
    act(session, c.case_no, "Task_unit_review")
    t = find_task(session, c.case_no, "Task_dept_review")
    steps = handling.returnable_steps(session, reload(session, c.case_no), t.task_id)
    assert steps == [("Task_unit_review", "单位审核")]
    dept = actor_for(session, "dept_kjt")
    with pytest.raises(ValidationFailed):
        handling.return_for_correction(session, c.case_no, t.task_id, dept, "请补充意见", target="Task_filing")
    handling.return_for_correction(
        session, c.case_no, t.task_id, dept, "请补充单位党委会意见", target="Task_unit_review"
    )
    assert task_names(session, c.case_no) == ["Task_unit_review"]
    assert any(e.action == "returned" for e in events(session, c.case_no))
    act(session, c.case_no, "Task_unit_review")
    assert task_names(session, c.case_no) == ["Task_dept_review"]


def test_transfer_only_to_a_colleague_in_scope(session, clock):
    c = start(session, REG, registration())
    t = find_task(session, c.case_no, "Task_unit_review")
    hr = actor_for(session, "hr_nky")
    with pytest.raises(ValidationFailed):
        handling.transfer(session, c.case_no, t.task_id, hr, "hr_nmgu")  # another unit
    with pytest.raises(NotFound):
        handling.transfer(session, c.case_no, t.task_id, hr, "nobody")
    handling.transfer(session, c.case_no, t.task_id, hr, "hr_nky")
    assert find_task(session, c.case_no, "Task_unit_review").assignee_id == hr.user_id


def test_comment_and_rating_after_closing(session, clock):
    c = start(session, REG, registration())
    zhang = actor_for(session, "zhangwei")
    handling.comment(session, c.case_no, actor_for(session, "hr_nky"), "材料已核对")
    assert events(session, c.case_no, "comment")[0].payload["text"] == "材料已核对"
    with pytest.raises(Conflict):
        handling.rate(session, c.case_no, zhang, 5)
    for step in ("Task_unit_review", "Task_dept_review", "Task_filing"):
        act(session, c.case_no, step)
    with pytest.raises(ValidationFailed):
        handling.rate(session, c.case_no, zhang, 2)  # reason required below three stars
    with pytest.raises(Forbidden):
        handling.rate(session, c.case_no, actor_for(session, "liuna"), 5)
    r = handling.rate(session, c.case_no, zhang, 2, "等待时间较长")
    assert r.stars == 2
    with pytest.raises(Conflict):
        handling.rate(session, c.case_no, zhang, 5)


def test_drafts_are_private(session, clock):
    zhang, liu = actor_for(session, "zhangwei"), actor_for(session, "liuna")
    d = handling.save_draft(session, zhang, REG, {"applicant_name": "张伟", "bogus": 1})
    assert d.data == {"applicant_name": "张伟"}
    assert [x.id for x in handling.drafts_of(session, zhang)] == [d.id]
    assert handling.drafts_of(session, liu) == []
    with pytest.raises(NotFound):
        handling.delete_draft(session, liu, d.id)
    handling.delete_draft(session, zhang, d.id)


def test_scope_queries_and_inbox(session, clock):
    a = start(session, REG, registration())  # U0101 (科技厅)
    b = start(
        session,
        REG,
        registration(applicant_name="刘娜", id_number="150104198805052345", unit_code="U0201"),
        username="liuna",
    )  # U0201 (教育厅)
    s = session
    assert queries.get_case(s, actor_for(s, "hr_nky"), a.case_no)
    with pytest.raises(NotFound):
        queries.get_case(s, actor_for(s, "hr_nky"), b.case_no)
    with pytest.raises(NotFound):
        queries.get_case(s, actor_for(s, "zhangwei"), b.case_no)
    assert queries.get_case(s, actor_for(s, "dept_jyt"), b.case_no)
    page, counts = queries.inbox(s, actor_for(s, "hr_nky"), "group")
    assert [c.case_no for _, c in page.items] == [a.case_no] and counts["group"] == 1
    page, counts = queries.inbox(s, actor_for(s, "renshe"), "all")
    assert counts["all"] == 2 and counts["group"] == 0
    page, _ = queries.inbox(s, actor_for(s, "renshe"), "all", q="刘娜")
    assert [c.case_no for _, c in page.items] == [b.case_no]
    clock.to(2026, 4, 20, 9)
    page, counts = queries.inbox(s, actor_for(s, "hr_nky"), "overdue")
    assert counts["overdue"] in (0, 1)  # only tasks with a due date can be overdue
    hr = actor_for(s, "hr_nky")
    n = notifications.unread_count(s, hr)
    assert n >= 1
    notifications.mark_read(s, hr)
    s.commit()
    assert notifications.unread_count(s, hr) == 0
