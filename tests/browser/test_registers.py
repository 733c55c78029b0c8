"""The registers (R3, R10) in Chromium at 1366 and 390 px: an administrator finds a person, lifts a 违诺 record
with a reason (信用修复), and a bad entry is refused on the page. Screenshots: test-output/browser/<test>/."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login
from tests.browser.test_pages import PHONE, WIDE, width_of

pytestmark = pytest.mark.browser


def test_administrator_keeps_the_registers_at_both_widths(live_server, new_page, shot):
    live = live_server
    for size, ctx in (("1366", WIDE), ("390", PHONE)):
        page = new_page(**ctx)
        login(page, live, "admin")
        page.goto(f"{live.url}/admin/registers/credit")
        assert page.get_by_test_id("credit-records").locator("tr[data-record]").count() >= 3
        assert width_of(page) <= int(size)
        shot(page, f"credit-{size}")
        page.get_by_label("姓名 / 身份证号 / 依据文件").fill("孔某")
        page.get_by_role("button", name="查询").click()
        page.wait_for_load_state()
        assert page.get_by_test_id("credit-records").locator("tr[data-record]").count() == 1
        form = page.get_by_test_id("add-credit")
        form.get_by_label("姓名").fill("李某")
        form.get_by_label("公民身份号码").fill("150102198506065126")  # wrong check digit
        form.get_by_label("列入日期（撤销职称的，为撤销日期）").fill("2026-02-01")
        form.get_by_label("依据文件（文号）").fill("内科发〔2026〕3号")
        form.get_by_role("button", name="登记").click()
        page.wait_for_load_state()
        assert "公民身份号码校验位不正确" in page.content()
        assert form.get_by_label("姓名").input_value() == "李某"  # what was typed is kept
        shot(page, f"credit-refused-{size}")
        page.goto(f"{live.url}/admin/registers/breach")
        shot(page, f"breach-{size}")
    page.goto(f"{live.url}/admin/registers/breach")
    row = page.locator("tr[data-record]:has([data-state=active])").first
    row.get_by_label("修复理由").fill("已补齐材料并书面说明逾期原因")
    row.get_by_role("button", name="信用修复").click()
    page.wait_for_load_state()
    assert "已信用修复" in page.content()
    shot(page, "breach-lifted-390")
