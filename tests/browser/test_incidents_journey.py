"""An incident repaired in Chromium: a case whose 容缺 deadline variable holds a duration instead of a time point
errors on the unit's review; the officer and the applicant read 办件正在修复中; the administrator opens the
incident (element, message, the case on its diagram, the variable the timer reads), fixes the value, retries, and
the officer's step goes through. Screens at 1366 and 390 px wide."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import login
from tests.browser.test_journeys import console_errors, db_case, flash_text, no_horizontal_overflow
from tests.test_incident_actions import poison_deadline_variable
from tests.test_incidents import TIMER, rongque_case
from webapp.demo.accounts import actor_for
from webapp.demo.samples import APPROVE_FORMS
from workflows.domain.errors import EngineIncident
from workflows.services import cases

pytestmark = pytest.mark.browser


def errored_case(live) -> tuple[str, dict]:
    s = live.session()
    try:
        case_no = rongque_case(s).case_no
        good = poison_deadline_variable(s, case_no, "P1D")
        task = next(t for t in db_case(live, case_no).open_tasks if t.spec_name == "Task_unit_review")
        with pytest.raises(EngineIncident):
            cases.complete_task(s, case_no, task.task_id, APPROVE_FORMS["Task_unit_review"], actor_for(s, "hr_nky"))
        return case_no, good
    finally:
        s.close()


def test_admin_sees_the_incident_fixes_the_data_retries_and_the_case_goes_on(live_server, new_page, shot):
    live = live_server
    case_no, good = errored_case(live)
    assert db_case(live, case_no).status == "error"

    # the applicant's status page: being repaired, not an error
    applicant = new_page()
    applicant.set_viewport_size({"width": 390, "height": 844})
    login(applicant, live, "zhangwei")
    applicant.goto(f"{live.url}/my/case/{case_no}")
    assert "办件正在修复中" in applicant.get_by_test_id("repairing").inner_text()
    assert "P1D" not in applicant.content()
    shot(applicant, "applicant-390-repairing")

    admin = new_page()
    for width, height in ((1366, 900), (390, 844)):
        admin.set_viewport_size({"width": width, "height": height})
        if width == 1366:
            login(admin, live, "admin")
        admin.goto(f"{live.url}/admin/incidents")
        row = admin.locator("table[data-testid=incidents] tr", has_text=case_no)
        assert TIMER in row.inner_text()
        shot(admin, f"incidents-{width}")
        row.get_by_test_id("open-incident").click()
        admin.wait_for_load_state()
        admin.locator("#diagram .djs-element.overdue").first.wait_for()  # the failed element, marked on the diagram
        facts = admin.get_by_test_id("incident-facts").inner_text()
        assert "容缺期限届满" in facts and "P1D" in facts
        assert "rongque_deadline_at" in admin.get_by_test_id("incident-data").inner_text()
        scroll, inner = no_horizontal_overflow(admin)
        assert scroll <= inner + 1, (width, scroll, inner)
        shot(admin, f"incident-{width}")

    # fix the value the timer reads, then retry
    form = admin.get_by_test_id("variable-form")
    form.get_by_label("变量名").fill("acceptance")
    form.get_by_label("新值（JSON）").fill(json.dumps(good, ensure_ascii=False, indent=2))
    form.get_by_label("说明").fill("容缺期限录入有误，按受理日重算")
    form.get_by_role("button", name="保存变量").click()
    admin.wait_for_load_state()
    assert "已修改变量 acceptance" in flash_text(admin)
    shot(admin, "variable-saved-390")
    admin.set_viewport_size({"width": 1366, "height": 900})
    retry = admin.get_by_test_id("retry-form")
    retry.get_by_label("说明").fill("数据已修复")
    retry.get_by_role("button", name="重试").click()
    admin.wait_for_load_state()
    assert "已重试" in flash_text(admin) and "已重试" in admin.get_by_test_id("resolution").inner_text()
    shot(admin, "retried-1366")
    assert db_case(live, case_no).status == "running"

    # the unit's officer completes the step that failed before
    officer = new_page()
    officer.set_viewport_size({"width": 1366, "height": 900})
    login(officer, live, "hr_nky")
    officer.goto(f"{live.url}/officer/cases/{case_no}")
    assert "办件正在修复中" not in officer.content()
    trail = officer.content()
    assert "修复数据" in trail and "异常重试" in trail
    shot(officer, "case-after-repair-1366")
    s = live.session()
    try:
        task = next(t for t in db_case(live, case_no).open_tasks if t.spec_name == "Task_unit_review")
        cases.complete_task(s, case_no, task.task_id, APPROVE_FORMS["Task_unit_review"], actor_for(s, "hr_nky"))
    finally:
        s.close()
    assert "Task_unit_review" not in [t.spec_name for t in db_case(live, case_no).open_tasks]
    assert not console_errors(new_page)
