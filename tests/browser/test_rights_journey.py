"""The 科研人员权益保障 window in Chromium: a researcher files an anonymous complaint under the wrong topic, the
科技厅's window transfers it to the 人社厅, which accepts it and answers late — the reminder and the escalation are
seen — and the complainant rates the answer. Screens at 1366 and 390 px wide."""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine

from tests.browser.conftest import SH, login
from tests.browser.test_journeys import (
    console_errors,
    db_case,
    flash_text,
    no_horizontal_overflow,
    officer_page,
    open_task_from_inbox,
    open_task_names,
)
from workflows.services.timers import fire_due_timers

pytestmark = pytest.mark.browser
SECRETS = ("张伟", "150102199001011234", "13900001111", "农牧业科学院")


def submit_task(page, decision: str, fields: dict[str, str], choose: dict[str, str] | None = None):
    form = page.locator("form.task-form")
    form.get_by_label(decision, exact=True).check()
    for label, value in fields.items():
        form.get_by_label(label).fill(value)
    for legend, option in (choose or {}).items():  # a few offices: a radio group under its legend
        form.locator("fieldset", has_text=legend).get_by_label(option, exact=True).check()
    form.get_by_role("button", name="提交办理结果").click()
    page.wait_for_load_state()
    assert "已提交" in flash_text(page), flash_text(page)


def sweep_at(live, when: datetime):
    """Move the wall clock (server, engine timers) to `when` and run the timer sweep the worker would run."""
    traveller = time_machine.travel(when, tick=True)
    traveller.start()
    fire_due_timers(live.app.extensions["db_factory"])
    return traveller


def test_complaint_transferred_answered_late_and_rated(live_server, page, new_page, shot):
    live = live_server
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, live, "zhangwei")
    page.get_by_test_id("rights-window").click()
    page.wait_for_load_state()
    form = page.get_by_test_id("complaint-form")
    # the researcher picks 科研管理放权 (→ 科技厅) though the matter is about 编制 (人社厅)
    form.get_by_label("问题类别").select_option("research_autonomy")
    form.get_by_label("标题").fill("引进后编制迟迟未落实")
    form.get_by_label("具体情况").fill("2025年刚性引进，至今未列编，单位称等待调剂。")
    form.get_by_label("联系方式（手机或邮箱，用于答复）").fill("13900001111")
    form.get_by_label("对办理部门匿名").check()
    shot(page, "file-complaint-1366")
    form.get_by_role("button", name="提交").click()
    page.wait_for_load_state()
    assert "已提交" in flash_text(page)
    case_no = page.get_by_test_id("case-no").inner_text().strip()
    assert page.get_by_test_id("handling-office").inner_text().strip() == "内蒙古自治区科学技术厅"
    shot(page, "status-filed-1366")

    # the 科技厅's window: an anonymous complaint, misrouted → transfer to the 人社厅
    kjt = officer_page(new_page, live, "quanyi_kjt")
    kjt.set_viewport_size({"width": 1366, "height": 900})
    open_task_from_inbox(kjt, live, case_no, shot, "kjt-inbox-1366")
    body = kjt.locator("main").inner_text()
    assert "引进后编制迟迟未落实" in body and not any(s in body for s in SECRETS), body
    shot(kjt, "kjt-acceptance-1366")
    submit_task(
        kjt,
        "非本部门职责，转办",
        {"理由（不予受理、转办时必填）": "属编制管理问题，应由人社厅办理"},
        {"转办接收部门": "内蒙古自治区人力资源和社会保障厅"},
    )
    assert db_case(live, case_no).unit_code == "RS"

    # the 人社厅's window accepts it (answer due 15 working days later: 23 March 2026)
    rs = officer_page(new_page, live, "quanyi_rs")
    open_task_from_inbox(rs, live, case_no)
    assert not any(s in rs.locator("main").inner_text() for s in SECRETS)
    submit_task(rs, "受理", {})
    assert open_task_names(live, case_no) == ["Task_handling"]
    assert str(db_case(live, case_no).promised_on) == "2026-03-23"

    # nobody answers: the reminder on 18 March, the escalation after 23 March (the worker's sweep on the legal clock)
    travellers = [sweep_at(live, datetime(2026, 3, 18, 9, 0, tzinfo=SH))]
    try:
        travellers.append(sweep_at(live, datetime(2026, 3, 24, 9, 0, tzinfo=SH)))
        login(rs, live, "quanyi_rs")  # a new day: sign in again
        rs.goto(f"{live.url}/notifications")
        notes = rs.locator("main").inner_text()
        assert "应于 2026-03-23 前答复" in notes and "答复已逾期" in notes, notes
        shot(rs, "rs-reminder-and-escalation")
        open_task_from_inbox(rs, live, case_no, shot, "rs-inbox-overdue")
        submit_task(rs, "答复投诉人", {"答复意见": "已协调编办，4月底前完成列编；单位已说明原因。"})

        # the complainant reads the answer (marked late) and rates it
        login(page, live, "zhangwei")
        page.goto(f"{live.url}/my/case/{case_no}")
        answer = page.get_by_test_id("complaint-answer").inner_text()
        assert "4月底前完成列编" in answer and "逾期答复" in answer
        assert page.get_by_test_id("handling-office").inner_text().strip() == "内蒙古自治区人力资源和社会保障厅"
        shot(page, "status-answered-1366")
        page.set_viewport_size({"width": 390, "height": 844})
        shot(page, "status-answered-390")
        assert no_horizontal_overflow(page)[0] <= 390
        rating = page.get_by_test_id("rights-rating")
        rating.get_by_label("不满意", exact=True).check()
        rating.get_by_role("button", name="提交评价").click()
        page.wait_for_load_state()
        assert "不满意的评价请填写说明" in flash_text(page)
        rating = page.get_by_test_id("rights-rating")
        rating.get_by_label("满意", exact=True).check()
        rating.get_by_role("button", name="提交评价").click()
        page.wait_for_load_state()
        assert "感谢您的评价" in flash_text(page)
        assert page.get_by_test_id("case-status").inner_text().strip() == "已办结"
        shot(page, "status-rated-390")
        page.goto(f"{live.url}/my/rights")
        assert no_horizontal_overflow(page)[0] <= 390
        shot(page, "window-390")
    finally:
        for t in reversed(travellers):
            t.stop()
    assert db_case(live, case_no).status == "completed"
    assert not console_errors(new_page), console_errors(new_page)
