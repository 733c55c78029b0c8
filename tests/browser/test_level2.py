"""专业技术二级岗位破格申报 in Chromium at 1366 and 390 px: the applicant finds the procedure, a category-4 applicant is
told before submitting that 破格 is not open to them (and which route is), and a category-3 applicant's submission
reaches the unit. Screenshots: test-output/browser/<test>/."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login
from tests.browser.test_pages import PHONE, WIDE, pdf_file, width_of

pytestmark = pytest.mark.browser


def _fill(p, live, category: str):
    p.goto(f"{live.url}/my/new/senior_post_level2")
    p.get_by_role("combobox", name="用人单位").select_option("U0101")
    p.get_by_role("combobox", name="人才类别").select_option(category)
    p.get_by_label("现聘岗位").fill("专业技术三级")
    p.get_by_label("现岗位聘用时间").fill("2025-09-01")
    for inp in p.locator("input.js-file").all():
        inp.set_input_files(pdf_file(inp.get_attribute("name").removeprefix("file_") + ".pdf"))


def test_level2_intake_at_both_widths(live_server, new_page, shot):
    live = live_server
    for size, ctx in (("1366", WIDE), ("390", PHONE)):
        p = new_page(**ctx)
        login(p, live, "zhangwei")
        p.goto(f"{live.url}/my/new")
        assert p.get_by_text("专业技术二级岗位破格申报").first.is_visible()
        _fill(p, live, "4")
        assert width_of(p) <= int(size)
        shot(p, f"form-{size}")
        p.get_by_role("button", name="提交申请").click()
        p.wait_for_load_state()
        box = p.get_by_test_id("confirm-submit")
        assert "不符合破格条件" in box.inner_text() and "常规程序" in box.inner_text()
        assert width_of(p) <= int(size)
        shot(p, f"not-eligible-{size}")
    _fill(p, live, "3")
    p.get_by_role("button", name="提交申请").click()
    p.wait_for_load_state()
    assert "/my/case/" in p.url and "单位审核" in p.content()
    shot(p, "submitted-390")
