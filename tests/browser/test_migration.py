"""An administrator migrates running cases to a new process version in Chromium (issue 15 item 2): from the versions
page to the migration page, a dry run that refuses the unsafe cases with their reason, the move of the movable ones,
the case page's timeline, and a dry run of moving back — at 1366 and 390 px. Screenshots: test-output/browser/<test>/.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import login
from tests.browser.test_pages import PHONE, WIDE, width_of
from tests.helpers import act, registration, start_as
from tests.migration_targets import REG, deploy_edited, v2_changes
from webapp.demo.accounts import actor_for

pytestmark = pytest.mark.browser


def test_administrator_migrates_cases_to_a_new_version(make_live_server, new_page, shot):
    live = make_live_server()
    s = live.session()
    try:
        refused = start_as(s, REG, registration(outside_establishment=True), actor_for(s, "hr_nky")).case_no
        act(s, refused, "Task_unit_review")  # stands on 编制外聘用考核, which v2 removes
        movable = start_as(s, REG, registration(), actor_for(s, "hr_nky")).case_no  # at 单位审核
        v2 = deploy_edited(s, *v2_changes())
    finally:
        s.close()

    page = new_page(**WIDE)
    login(page, live, "admin")
    page.goto(f"{live.url}/admin/processes/{REG}")
    shot(page, "versions-1366")
    page.locator("tr[data-version='1']").get_by_test_id("migrate-link").click()
    page.wait_for_load_state()
    form = page.get_by_test_id("migration-form")
    form.get_by_label("目标版本").select_option(str(v2))
    form.get_by_test_id("dry-run").click()
    page.wait_for_load_state()
    report = page.get_by_test_id("migration-report")
    assert "试迁移结果" in report.inner_text()
    assert "可迁移" in page.locator(f"tr[data-case='{movable}']").inner_text()
    row = page.locator(f"tr[data-case='{refused}']")
    assert "不能迁移" in row.inner_text() and "已删除" in row.inner_text()
    assert width_of(page) <= 1366
    shot(page, "dry-run-1366")

    page.get_by_test_id("migrate").click()
    page.wait_for_load_state()
    assert "迁移完成" in page.content()
    assert "已迁移" in page.locator(f"tr[data-case='{movable}']").inner_text()
    assert page.locator(f"tr[data-case='{refused}']").count() == 0  # only the movable ones were sent
    shot(page, "migrated-1366")

    page.get_by_test_id("move-back").click()  # a dry run of moving them back: safe while they stand where they were
    page.wait_for_load_state()
    assert f"v{v2} → v1" in page.get_by_test_id("migration-report").inner_text()
    assert "可迁移" in page.locator(f"tr[data-case='{movable}']").inner_text()
    shot(page, "move-back-dry-run-1366")

    page.goto(f"{live.url}/officer/cases/{movable}")
    assert "迁移流程版本" in page.content() and f"v1 → v{v2}" in page.content()
    shot(page, "case-timeline-1366")

    phone = new_page(**PHONE)
    login(phone, live, "admin")
    phone.goto(f"{live.url}/admin/processes/{REG}/migrate?from=1&to={v2}")
    phone.get_by_test_id("dry-run").click()
    phone.wait_for_load_state()
    assert "不能迁移" in phone.locator(f"tr[data-case='{refused}']").inner_text()
    assert width_of(phone) <= 390
    shot(phone, "dry-run-390")
    assert not [e for p in new_page.pages for e in p.errors]
