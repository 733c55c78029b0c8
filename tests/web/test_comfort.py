"""Officer and applicant comfort (issue #10, deliverables 6 and 7): the stage bar of every procedure, system entries
in the timeline, codes in words, notifications (link, read one by one, applicant wording), the next task after a
submission, the inbox's order and remembered filters. Demo data: tests/web/test_officer.py's docstring."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from sqlalchemy import select

from tests.web.conftest import signed_in
from tests.web.test_officer import L1, L2, L7, T1, Z1, case_row, flashes, rows, task_of, task_url, text
from webapp.applicant import stages
from workflows.domain.models import Case, CaseEvent, Notification, NotificationRead, OpenTask
from workflows.services import queries

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


def ev(action: str, **payload) -> CaseEvent:
    return CaseEvent(action=action, actor="someone", at=AT, payload=payload)


def bar(web_app, case: Case, events: list[CaseEvent]) -> list[tuple[str, str, str]]:
    with web_app.test_request_context():
        return [(s.label, s.state, s.when) for s in stages(case, queries.acceptance_date(case, events))]


def case_of(procedure: str, status: str, **kw) -> Case:
    return Case(procedure=procedure, status=status, created_at=AT, **kw)


# ------------------------------------------------------------------------------------------------ the stage bar
def test_stage_bar_of_a_title_case_shows_acceptance_at_its_first_desk(web_app):
    first_desk = [ev("decision", blocked=False), ev("task_opened", role="unit_hr", due="2026-03-09")]
    running = bar(web_app, case_of("senior_title_direct", "running"), first_desk)
    assert running[1] == ("受理", "done", "2026年3月2日") and running[2][1] == "current"
    # finished: every stage green, no 未受理 beside 已办结 (the bug of issue #10)
    done = bar(web_app, case_of("senior_title_direct", "completed", closed_at=AT), first_desk)
    assert [s for _, s, _ in done] == ["done"] * 4 and "未受理" not in str(done)
    # refused by the automatic checks before any desk: not accepted, and the bar says so
    refused = bar(web_app, case_of("senior_title_direct", "not_accepted", closed_at=AT), [ev("decision", blocked=True)])
    assert refused[1] == ("受理", "stopped", "未受理") and refused[2][1] == "stopped" and refused[3][0] == "不予受理"


def test_stage_bar_of_special_posts_and_registrations(web_app):
    post = bar(web_app, case_of("special_post", "running"), [ev("task_opened", role="dept")])
    assert post[1][:2] == ("受理", "done")
    # registration: the applicant's own step (the 容缺 commitment) is not acceptance; the `accepted` event is
    waiting = [ev("task_opened", role="applicant")]
    assert bar(web_app, case_of("green_channel_registration", "running"), waiting)[1][:2] == ("受理", "current")
    accepted = waiting + [ev("accepted", accepted_on="2026-03-03", mode="rongque")]
    assert bar(web_app, case_of("green_channel_registration", "running"), accepted)[1] == (
        "受理",
        "done",
        "2026年3月3日",
    )
    refused_after = bar(
        web_app,
        case_of("green_channel_registration", "refused", accepted_on=date(2026, 3, 2), closed_at=AT),
        accepted,
    )
    assert [s for _, s, _ in refused_after] == ["done", "done", "done", "stopped"]
    returned = bar(web_app, case_of("green_channel_registration", "returned", accepted_on=date(2026, 3, 2)), [])
    assert returned[2] == ("审查办理", "current", "待申请人补正")


def test_applicant_sees_the_title_case_accepted(web_app):
    html = text(signed_in(web_app, "zhangwei").get(f"/my/case/{Z1}"))
    accepted = re.search(r'<li class="stage-(\w+)"><span class="dot"[^>]*></span><span class="lbl">受理</span>', html)
    assert accepted and accepted.group(1) == "done"
    assert re.search(r'data-testid="accepted-on">2026年3月2日<', html)


# ------------------------------------------------------------------------------------------------ the timeline
def test_system_entries_say_system_and_codes_are_in_words(web_app):
    html = text(signed_in(web_app, "hr_nky").get(f"/officer/cases/{L1}"))
    who = dict(re.findall(r'data-action="(\w+)">.*?data-testid="ev-who">([^<]*)<', html, re.S))
    assert who["task_opened"] == "系统" and who["accepted"] == "系统" and who["decision"] == "系统"
    assert who["task_completed"] != "系统" and who["submitted"] == "张伟"
    assert "受理方式</dt><dd>容缺受理" in html and "容缺材料</dt><dd>体检报告" in html
    assert not re.search(r"<dd>(rongque|instant|pool|own|True|False)</dd>", html)
    html = text(signed_in(web_app, "bianban").get(f"/officer/cases/{L7}"))
    assert "编制来源</dt><dd>人才专项编制</dd>" in html and "<dd>pool</dd>" not in html


# ------------------------------------------------------------------------------------------------ notifications
def test_notifications_link_to_their_case_and_are_read_one_by_one(web_app, db):
    zhang = signed_in(web_app, "zhangwei")
    html = text(zhang.get("/notifications"))
    assert "新的待办" not in html and "需要您本人办理「签署容缺承诺书」" in html  # applicant wording
    assert f'href="/my/case/{L1}"' in html
    hr = signed_in(web_app, "hr_nky")
    html = text(hr.get("/notifications"))
    assert f'href="/officer/cases/{L1}"' in html
    mine = [int(i) for i in re.findall(r'<tr class="unread" data-notification="(\d+)"', html)]
    assert len(mine) >= 2
    r = hr.post(f"/notifications/{mine[0]}/read")
    assert r.status_code == 303
    html = text(hr.get("/notifications"))
    assert f'<tr class="read" data-notification="{mine[0]}"' in html
    assert f'<tr class="unread" data-notification="{mine[1]}"' in html  # only that one
    # scope: a notice addressed to another desk (教育厅) is not found and stays unread for everyone
    other = db.scalar(select(Notification.id).where(Notification.role == "dept", Notification.scope_unit_code == "D02"))
    db.commit()
    assert hr.post(f"/notifications/{other}/read").status_code == 404
    assert db.scalar(select(NotificationRead).where(NotificationRead.notification_id == other)) is None
    db.commit()


# ------------------------------------------------------------------------------------------------ after a submission
def test_after_submitting_the_desk_goes_to_its_next_task_else_the_inbox(web_app, db):
    dept = signed_in(web_app, "dept_jyt")
    t = task_of(db, L2, "Task_dept_review")
    r = dept.post(
        task_url(L2, t, "complete"),
        data={"dept_decision": "approve", "dept_opinion": "同意", "version": str(case_row(db, L2).version)},
    )
    assert r.status_code == 303 and r.headers["Location"].endswith("/officer/")  # nothing else at 教育厅
    assert any("本岗位暂无其他待办" in f for f in flashes(text(dept.get("/officer/"))))
    # 人社 now holds T1's 人社核准 and L2's 列编备案: after the first, straight on to the second
    filing = task_of(db, L2, "Task_filing")
    assert filing is not None
    renshe = signed_in(web_app, "renshe")
    t = task_of(db, T1, "Task_hrss_approval")
    r = renshe.post(
        task_url(T1, t, "complete"),
        data={"hrss_decision": "approve", "hrss_opinion": "同意", "version": str(case_row(db, T1).version)},
    )
    assert r.status_code == 303 and r.headers["Location"].endswith(task_url(L2, filing))
    page = text(renshe.get(task_url(L2, filing)))
    assert any("已提交「人社核准」的办理结果" in f for f in flashes(page))
    assert any(f"下一件待办：{L2}" in f for f in flashes(page))


# ------------------------------------------------------------------------------------------------ the inbox
def test_inbox_sorts_by_due_date_overdue_first_and_remembers_its_filters(web_app, db):
    for case_no, due in ((L2, date(2026, 2, 20)), (Z1, None), (L7, date(2026, 3, 20))):
        db.execute(
            OpenTask.__table__.update()
            .where(OpenTask.case_id == select(Case.id).where(Case.case_no == case_no).scalar_subquery())
            .values(due_on=due)
        )
    db.commit()
    renshe = signed_in(web_app, "renshe")
    order = rows(text(renshe.get("/officer/?tab=all")))
    assert order[0] == L2 and order[-1] == Z1 and order.index(L7) > order.index(L1)
    # a filter is kept for this user: back at /officer/ the same list, with 清除筛选
    assert rows(text(renshe.get("/officer/?tab=all&procedure=special_post"))) == [T1]
    html = text(renshe.get("/officer/"))
    assert rows(html) == [T1] and 'data-tab="all"' in html and "清除筛选" in html
    assert re.search(r'<option value="special_post" selected>', html)
    # another officer's session has its own (none)
    assert len(rows(text(signed_in(web_app, "bianban").get("/officer/?tab=all")))) > 1
    # 清除筛选 forgets them
    assert len(rows(text(renshe.get("/officer/?tab=all&clear=1")))) == 6
    html = text(renshe.get("/officer/"))  # the tab stays, the filters are gone
    assert len(rows(html)) == 6 and "清除筛选" not in html
