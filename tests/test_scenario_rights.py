"""The 科研人员权益保障 window (seed 000 三(三), R11): one scenario per branch of bpmn/rights_complaint.bpmn on real dates —
routing by topic, 不予受理, transfer at acceptance and while handling, answer on time and late (reminder and
escalation on the legal clock), rating, closing unrated — plus anonymity towards the handling office and the
administrators' topic table."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from webapp.demo.accounts import actor_for
from workflows.domain.errors import Forbidden, NotFound, ValidationFailed
from workflows.domain.models import AdminEvent, Complaint, Notification, Rating
from workflows.infra.db import transaction
from workflows.services import dossier, queries, rights
from workflows.services.timers import fire_due_timers

from .conftest import SH
from .helpers import act, events, find_task, reload, task_names


def file(session, topic="establishment", anonymous=False, who="zhangwei", **kw):
    return rights.file_complaint(
        session,
        actor_for(session, who),
        topic,
        kw.get("subject", "人才专项编制迟迟未落实"),
        kw.get("content", "引进后半年仍未列编，单位称等待编办调剂。"),
        anonymous,
        kw.get("contact", "13900001111"),
    )


ACCEPT = {"acceptance_decision": "accept"}
ANSWER = {"handling_decision": "answer", "handling_answer": "已协调编办，本月内办理列编。"}


def test_topics_route_to_the_offices_of_the_seed(session, clock):
    """编制管理/职称评审 → 人社厅, 科研管理放权/成果转化收益 → 科技厅, 子女入学 → 教育厅."""
    offices = {t.code: t.office_code for t in rights.list_topics(session)}
    assert offices["establishment"] == offices["title_review"] == "RS"
    assert offices["research_autonomy"] == offices["achievement_income"] == "D01"
    assert offices["children_school"] == "D02"
    session.commit()
    c = file(session, "children_school")
    c = reload(session, c.case_no)
    assert c.unit_code == "D02" and task_names(session, c.case_no) == ["Task_acceptance"]
    task = find_task(session, c.case_no, "Task_acceptance")
    assert task.role == "rights_office" and task.scope_unit_code == "D02"
    routed = events(session, c.case_no, "complaint_routed")
    assert routed[0].rule_id == "R11" and routed[0].payload["office"] == "D02"
    # the 科技厅's window cannot act on the 教育厅's complaint; the 教育厅's can
    with pytest.raises(Forbidden):
        act(session, c.case_no, "Task_acceptance", ACCEPT, "quanyi_kjt")
    act(session, c.case_no, "Task_acceptance", ACCEPT, "quanyi_jyt")
    assert task_names(session, c.case_no) == ["Task_handling"]


def test_refused_with_reason(session, clock):
    c = file(session)
    with pytest.raises(ValidationFailed):  # 不予受理 needs its reason
        act(session, c.case_no, "Task_acceptance", {"acceptance_decision": "reject"}, "quanyi_rs")
    act(
        session,
        c.case_no,
        "Task_acceptance",
        {"acceptance_decision": "reject", "acceptance_reason": "已进入诉讼程序"},
        "quanyi_rs",
    )
    c = reload(session, c.case_no)
    assert c.status == "not_accepted" and c.outcome_reason == "已进入诉讼程序" and not c.open_tasks
    notes = session.scalars(select(Notification).where(Notification.user_id == c.applicant_user_id)).all()
    assert any("已进入诉讼程序" in n.text for n in notes)


def test_misrouted_complaint_is_transferred_at_acceptance_and_while_handling(session, clock):
    c = file(session, "research_autonomy")  # → 科技厅
    with pytest.raises(ValidationFailed):  # an office that does not exist
        act(
            session,
            c.case_no,
            "Task_acceptance",
            {"acceptance_decision": "transfer", "acceptance_reason": "x", "acceptance_transfer_to": "NOPE"},
            "quanyi_kjt",
        )
    with pytest.raises(ValidationFailed):  # not to itself
        act(
            session,
            c.case_no,
            "Task_acceptance",
            {"acceptance_decision": "transfer", "acceptance_reason": "x", "acceptance_transfer_to": "D01"},
            "quanyi_kjt",
        )
    act(
        session,
        c.case_no,
        "Task_acceptance",
        {"acceptance_decision": "transfer", "acceptance_reason": "属编制管理问题", "acceptance_transfer_to": "RS"},
        "quanyi_kjt",
    )
    c = reload(session, c.case_no)
    assert c.unit_code == "RS" and find_task(session, c.case_no, "Task_acceptance").scope_unit_code == "RS"
    # the 科技厅 no longer sees it; the 人社厅 does
    with pytest.raises(NotFound):
        queries.get_case(session, actor_for(session, "quanyi_kjt"), c.case_no)
    session.commit()
    act(session, c.case_no, "Task_acceptance", ACCEPT, "quanyi_rs")
    due = reload(session, c.case_no).promised_on
    # while handling, the 人社厅 finds it is about a school place: on to the 教育厅, the answer clock keeps running
    clock.to(2026, 3, 4, 10)
    act(
        session,
        c.case_no,
        "Task_handling",
        {"handling_decision": "transfer", "handling_transfer_to": "D02", "handling_transfer_reason": "涉及子女入学"},
        "quanyi_rs",
    )
    act(session, c.case_no, "Task_acceptance", ACCEPT, "quanyi_jyt")
    c = reload(session, c.case_no)
    assert c.unit_code == "D02" and c.promised_on == due
    moves = [e.payload for e in events(session, c.case_no, "complaint_routed")]
    assert [(m.get("from"), m["office"]) for m in moves] == [(None, "D01"), ("D01", "RS"), ("RS", "D02")]


def test_answered_on_time_rated_and_closed(session, factory, clock):
    c = file(session)
    act(session, c.case_no, "Task_acceptance", ACCEPT, "quanyi_rs")
    c = reload(session, c.case_no)
    # 15 working days from Monday 2 March 2026: 23 March
    assert c.accepted_on == date(2026, 3, 2) and c.promised_on == date(2026, 3, 23)
    assert find_task(session, c.case_no, "Task_handling").due_on == date(2026, 3, 23)
    clock.to(2026, 3, 10, 9)
    act(session, c.case_no, "Task_handling", ANSWER, "quanyi_rs")
    answered = events(session, c.case_no, "complaint_answered")[0].payload
    assert answered["late"] is False and answered["working_days"] == 6
    assert task_names(session, c.case_no) == ["Task_rating"]
    with pytest.raises(Forbidden):  # only the complainant rates
        act(session, c.case_no, "Task_rating", {"rating_stars": 5}, "liuna")
    with pytest.raises(ValidationFailed):  # a low rating says why
        act(session, c.case_no, "Task_rating", {"rating_stars": 2}, "zhangwei")
    act(session, c.case_no, "Task_rating", {"rating_stars": 2, "rating_reason": "答复空泛"}, "zhangwei")
    c = reload(session, c.case_no)
    assert c.status == "completed"
    r = session.scalar(select(Rating).where(Rating.case_id == c.id))
    assert (r.stars, r.reason) == (2, "答复空泛")
    assert not events(session, c.case_no, "notification")  # on time: no reminder, no escalation


def test_late_answer_reminded_then_escalated(session, factory, clock):
    c = file(session)
    act(session, c.case_no, "Task_acceptance", ACCEPT, "quanyi_rs")
    # reminder 3 working days before the 23 March due date: fires from Wednesday 18 March
    clock.to(2026, 3, 17, 12)
    fire_due_timers(factory, datetime.now(SH))
    assert not events(session, c.case_no, "notification")
    clock.to(2026, 3, 18, 8)
    fire_due_timers(factory, datetime.now(SH))
    kinds = [e.payload["kind"] for e in events(session, c.case_no, "notification")]
    assert kinds == ["rights_reminder"]
    clock.to(2026, 3, 23, 23, 59)  # the due day itself is not late
    fire_due_timers(factory, datetime.now(SH))
    assert [e.payload["kind"] for e in events(session, c.case_no, "notification")] == ["rights_reminder"]
    clock.to(2026, 3, 24, 9)
    fire_due_timers(factory, datetime.now(SH))
    assert [e.payload["kind"] for e in events(session, c.case_no, "notification")] == [
        "rights_reminder",
        "rights_escalation",
    ]
    notes = session.scalars(select(Notification).where(Notification.kind == "rights_escalation")).all()
    assert {(n.role, n.scope_unit_code) for n in notes} == {("rights_office", "RS"), ("admin", None)}
    session.commit()
    act(session, c.case_no, "Task_handling", ANSWER, "quanyi_rs")
    answered = events(session, c.case_no, "complaint_answered")[0].payload
    assert answered["late"] is True and answered["due"] == "2026-03-23"


def test_unrated_complaint_closes_when_the_rating_period_ends(session, factory, clock):
    c = file(session)
    act(session, c.case_no, "Task_acceptance", ACCEPT, "quanyi_rs")
    act(session, c.case_no, "Task_handling", ANSWER, "quanyi_rs")
    # 10 working days from 2 March: 16 March; the timer fires once that day is over
    clock.to(2026, 3, 16, 20)
    fire_due_timers(factory, datetime.now(SH))
    assert reload(session, c.case_no).status == "running"
    clock.to(2026, 3, 17, 9)
    fire_due_timers(factory, datetime.now(SH))
    c = reload(session, c.case_no)
    assert c.status == "completed" and c.outcome_reason == "评价期满未评价"


def test_anonymous_complaint_shows_no_identity_to_the_office(session, clock):
    c = file(session, anonymous=True, contact="zhangwei@example.cn")
    act(session, c.case_no, "Task_acceptance", ACCEPT, "quanyi_rs")
    office = actor_for(session, "quanyi_rs")
    seen = queries.get_case(session, office, c.case_no)
    assert seen.applicant_name == "匿名" and seen.id_number == ""
    text = repr(dossier.build(session, seen)) if hasattr(dossier, "build") else ""
    trail = repr([(e.actor, e.payload) for e in events(session, c.case_no)])
    for secret in ("张伟", "zhangwei", "150102199001011234", "13900001111", "U0101"):
        assert secret not in trail and secret not in text and secret not in repr(seen.start_data)
    # what identifies the complainant stays beside the case, for them and the administrators
    complaint = session.get(Complaint, c.id)
    assert (
        complaint.anonymous
        and complaint.contact == "zhangwei@example.cn"
        and complaint.complainant_unit_code == "U0101"
    )
    session.commit()
    # the complainant still follows and rates it
    act(session, c.case_no, "Task_handling", ANSWER, "quanyi_rs")
    act(session, c.case_no, "Task_rating", {"rating_stars": 5}, "zhangwei")
    assert reload(session, c.case_no).status == "completed"
    assert "zhangwei" not in repr([e.actor for e in events(session, c.case_no)])


def test_named_complaint_is_the_windows_alone(session, clock):
    """No other desk sees a complaint: not the complainant's own unit, its 主管部门, nor a region-wide desk."""
    c = file(session, "research_autonomy")
    for who in ("hr_nky", "dept_kjt", "renshe", "bianban", "quanyi_rs"):
        with pytest.raises(NotFound):
            queries.get_case(session, actor_for(session, who), c.case_no)
        session.commit()
    assert queries.get_case(session, actor_for(session, "quanyi_kjt"), c.case_no).applicant_name == "张伟"
    session.commit()
    page, counts = queries.inbox(session, actor_for(session, "renshe"), tab="all")
    assert c.case_no not in {case.case_no for _t, case in page.items}


def test_only_a_signed_in_researcher_files_and_topics_must_be_active(session, clock):
    with pytest.raises(Forbidden):
        file(session, who="hr_nky")
    with pytest.raises(ValidationFailed):
        file(session, topic="nope")
    with pytest.raises(ValidationFailed):
        file(session, contact="  ")


def test_administrators_configure_topics_and_every_change_is_kept(session, clock):
    rights.save_topic(session, "admin", "housing", "人才住房", "RS")
    rights.save_topic(session, "admin", "housing", "人才住房保障", "D01")
    with pytest.raises(ValidationFailed):
        rights.save_topic(session, "admin", "bad code!", "x", "RS")
    with pytest.raises(ValidationFailed):
        rights.save_topic(session, "admin", "x1", "x", "U0101")  # a unit, not an office
    c = file(session, "housing")
    assert reload(session, c.case_no).unit_code == "D01"
    rights.save_topic(session, "admin", "housing", "人才住房保障", "D01", active=False)
    with pytest.raises(ValidationFailed):
        file(session, "housing")
    trail = session.scalars(
        select(AdminEvent).where(AdminEvent.target.like("rights_topic:%")).order_by(AdminEvent.seq)
    ).all()
    assert [e.action for e in trail] == ["rights_topic_create", "rights_topic_update", "rights_topic_update"]
    assert trail[1].payload["before"]["office_code"] == "RS" and trail[1].actor == "admin"


def test_quarter_figures(session, factory, clock):
    a = file(session)  # 人社厅, answered on time
    b = file(session, "research_autonomy")  # 科技厅 → transferred to 人社厅, answered late
    file(session, "children_school")  # 教育厅, still waiting
    act(session, a.case_no, "Task_acceptance", ACCEPT, "quanyi_rs")
    act(
        session,
        b.case_no,
        "Task_acceptance",
        {"acceptance_decision": "transfer", "acceptance_reason": "编制", "acceptance_transfer_to": "RS"},
        "quanyi_kjt",
    )
    act(session, b.case_no, "Task_acceptance", ACCEPT, "quanyi_rs")
    clock.to(2026, 3, 5, 9)
    act(session, a.case_no, "Task_handling", ANSWER, "quanyi_rs")
    act(session, a.case_no, "Task_rating", {"rating_stars": 4}, "zhangwei")
    clock.to(2026, 3, 25, 9)
    act(session, b.case_no, "Task_handling", ANSWER, "quanyi_rs")
    with transaction(session):
        f = rights.quarter_figures(session, 2026, 1)
    assert f.filed == 3 and f.transferred == 1 and (f.on_time, f.late) == (1, 1)
    assert dict((n, (k, a)) for n, k, a in f.by_topic) == {
        "编制管理": (1, 1),
        "科研管理放权": (1, 1),
        "子女入学": (1, 0),
    }
    offices = {n: (h, a, late) for n, h, a, late in f.by_office}
    assert offices["内蒙古自治区人力资源和社会保障厅"] == (2, 2, 1) and offices["内蒙古自治区教育厅"] == (1, 0, 0)
    # answered after 3 and 17 working days (2→5 March; 2→25 March): median 10
    assert f.answer_days_p50 == 10 and f.answer_days_max == 17 and f.ratings == [(4, 1)]
    with transaction(session):
        assert rights.quarter_figures(session, 2026, 2).filed == 0


def test_a_complaint_is_not_returned_to_the_complainant_and_a_late_rating_stays_anonymous(session, factory, clock):
    from workflows.domain.errors import Conflict
    from workflows.services import handling

    c = file(session, anonymous=True)
    t = find_task(session, c.case_no, "Task_acceptance")
    with pytest.raises(Conflict, match="不退回"):
        handling.return_for_correction(session, c.case_no, t.task_id, actor_for(session, "quanyi_rs"), "请补充")
    session.rollback()
    act(session, c.case_no, "Task_acceptance", ACCEPT, "quanyi_rs")
    act(session, c.case_no, "Task_handling", ANSWER, "quanyi_rs")
    clock.to(2026, 3, 17, 9)  # the rating period is over: closed unrated; the 好差评 after 办结 is still open to them
    fire_due_timers(factory, datetime.now(SH))
    handling.rate(session, c.case_no, actor_for(session, "zhangwei"), 5, "")
    assert "zhangwei" not in repr([e.actor for e in events(session, c.case_no)])


def test_a_transfer_while_handling_does_not_repeat_the_reminder(session, factory, clock):
    c = file(session)
    act(session, c.case_no, "Task_acceptance", ACCEPT, "quanyi_rs")
    clock.to(2026, 3, 18, 9)
    fire_due_timers(factory, datetime.now(SH))
    act(
        session,
        c.case_no,
        "Task_handling",
        {"handling_decision": "transfer", "handling_transfer_to": "D02", "handling_transfer_reason": "涉及子女入学"},
        "quanyi_rs",
    )
    act(session, c.case_no, "Task_acceptance", ACCEPT, "quanyi_jyt")
    clock.to(2026, 3, 19, 9)
    fire_due_timers(factory, datetime.now(SH))
    assert [e.payload["kind"] for e in events(session, c.case_no, "notification")] == ["rights_reminder"]
    assert reload(session, c.case_no).promised_on == date(2026, 3, 23)


@pytest.fixture
def pg_session(pg_factory):
    s = pg_factory()
    yield s
    s.close()


def test_on_postgresql_scope_transfer_and_late_answer(pg_session, pg_factory, clock):
    """The window's scope (the complaint is only the handling office's) and the late path on PostgreSQL."""
    session = pg_session
    c = file(session, "research_autonomy", anonymous=True)
    act(
        session,
        c.case_no,
        "Task_acceptance",
        {"acceptance_decision": "transfer", "acceptance_reason": "编制", "acceptance_transfer_to": "RS"},
        "quanyi_kjt",
    )
    for who in ("quanyi_kjt", "renshe", "dept_kjt", "hr_nky"):
        with pytest.raises(NotFound):
            queries.get_case(session, actor_for(session, who), c.case_no)
        session.rollback()
    assert queries.get_case(session, actor_for(session, "quanyi_rs"), c.case_no).applicant_name == "匿名"
    session.commit()
    page, counts = queries.inbox(session, actor_for(session, "renshe"), tab="all")
    assert c.case_no not in {case.case_no for _t, case in page.items}
    session.commit()
    act(session, c.case_no, "Task_acceptance", ACCEPT, "quanyi_rs")
    clock.to(2026, 3, 24, 9)
    fire_due_timers(pg_factory, datetime.now(SH))
    assert [e.payload["kind"] for e in events(session, c.case_no, "notification")] == [
        "rights_reminder",
        "rights_escalation",
    ]
