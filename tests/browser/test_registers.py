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


def test_posts_register_and_achievements_list_at_both_widths(live_server, new_page, shot):
    """An administrator adjusts a level's posts (the trail shows before → after), 编办 sees the register and adjusts
    编制 only, an administrator lists an award and the applicant finds it among the start form's choices."""
    live = live_server
    for size, ctx in (("1366", WIDE), ("390", PHONE)):
        page = new_page(**ctx)
        login(page, live, "admin")
        page.goto(f"{live.url}/admin/registers/posts?unit=U0101")
        assert page.get_by_test_id("posts-U0101").locator("tr[data-level]").count() >= 6
        assert width_of(page) <= int(size)
        shot(page, f"posts-{size}")
        row = page.locator('[data-testid="posts-U0101"] tr[data-level="专业技术七级"]')
        row.get_by_label("实有数").fill("19")
        row.get_by_label("调整依据").fill(f"新聘1人（{size}）")
        row.get_by_role("button", name="保存").click()
        page.wait_for_load_state()
        row = page.locator('[data-testid="posts-U0101"] tr[data-level="专业技术七级"]')
        assert row.get_by_test_id("vacancy").inner_text().strip() in ("1", "0")
        row.locator("details.history summary").click()
        assert "实有" in row.locator("details.history").inner_text()
        assert width_of(page) <= int(size)
        shot(page, f"posts-adjusted-{size}")
        page.goto(f"{live.url}/admin/registers/achievements")
        assert page.get_by_test_id("achievements").locator("tr[data-record]").count() >= 5
        assert width_of(page) <= int(size)
        shot(page, f"achievements-{size}")
        bb = new_page(**ctx)
        login(bb, live, "bianban")
        bb.goto(f"{live.url}/admin/registers/posts")
        assert bb.get_by_test_id("establishment-U0101").is_visible() and bb.get_by_test_id("add-post").count() == 0
        assert width_of(bb) <= int(size)
        shot(bb, f"posts-bianban-{size}")
    form = page.get_by_test_id("add-achievement")
    form.get_by_label("成果或奖项名称").fill("全国创新争先奖")
    form.get_by_label("类别").select_option("key_core_technology")
    form.get_by_label("依据文件（文号）").fill("内人社发〔2026〕11号")
    form.get_by_role("button", name="列入目录").click()
    page.wait_for_load_state()
    assert "已列入目录：全国创新争先奖" in page.content()
    ap = new_page(**PHONE)
    login(ap, live, "zhangwei")
    ap.goto(f"{live.url}/my/new/senior_title_direct")
    options = ap.get_by_label("重大业绩").locator("option").all_inner_texts()
    assert "全国创新争先奖" in options and "突破关键核心技术" in options
    assert not any("自治区重大科技专项验收优秀" in o for o in options)  # its listing has ended
    shot(ap, "apply-achievement-choices-390")
