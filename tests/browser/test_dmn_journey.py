"""The administrator edits the eligibility decision table in dmn-js: a bad cell is refused and marked, the fixed table
is saved as a draft, published and compared; a case started afterwards takes the new table (category 7 becomes
eligible for 列编), a case started before keeps its own. Screenshots at 1366 and 390 px."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login

pytestmark = pytest.mark.browser

REG = "green_channel_registration"
TABLE = "talent_eligibility"
CELL = "InputEntry_1_2"  # rule 1 (列编：刚性引进一至六类人才), column 人才类别
# dmn-js's production bundle carries Inferno's development-build warning: not an error of the page
INFERNO_NOTICE = "minified copy of the development build of Inferno"


def start_case(live, category: int, id_number: str):
    from tests.helpers import registration, start_as
    from webapp.demo.accounts import actor_for

    s = live.session()
    try:
        case = start_as(s, REG, registration(talent_category=category, id_number=id_number), actor_for(s, "hr_nky"))
        return case.case_no, case.status, case.definition_id
    finally:
        s.close()


def edit_cell(page, element_id: str, text: str) -> None:
    cell = page.locator(f'#dmn-table td[data-element-id="{element_id}"] .content-editable')
    cell.scroll_into_view_if_needed()
    cell.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    page.locator("h1").click()  # leave the cell (as a person clicking elsewhere)


def test_admin_edits_a_cell_saves_publishes_and_a_new_case_uses_the_table(make_live_server, new_page, shot):
    live = make_live_server()  # its own database: a published table changes the other journeys' processes
    old_no, old_status, old_definition = start_case(live, 3, "150102199001012222")
    assert old_status == "running"
    refused = start_case(live, 7, "150102199001013333")
    assert refused[1] == "not_accepted"

    page = new_page(viewport={"width": 1366, "height": 900})
    login(page, live, "admin")
    page.goto(f"{live.url}/admin/processes")
    page.get_by_role("link", name="编辑决策表").click()
    page.wait_for_load_state()
    shot(page, "tables-1366")
    page.locator(f'tr[data-decision="{TABLE}"]').get_by_role("link", name="编辑决策表").click()
    page.locator('body[data-dmn-ready="1"]').wait_for(timeout=20_000)
    assert (
        page.locator(f'#dmn-table td[data-element-id="{CELL}"]').inner_text().strip() == "? is not None and 1 <= ? <= 6"
    )
    shot(page, "editor-loaded-1366")

    # a FEEL range is not a Python expression: refused, the cell named and marked, nothing stored
    edit_cell(page, CELL, "[1..7]")
    page.locator("#save-status", has_text="有未保存的修改").wait_for()
    page.get_by_role("button", name="校验并保存草稿").click()
    page.locator("#save-status.bad").wait_for()
    item = page.locator(f'#error-items li[data-element-id="{CELL}"]')
    assert "规则 1（Rule_1）「人才类别」输入列单元格" in item.inner_text()
    marked = page.locator(f'#dmn-table td[data-element-id="{CELL}"]').evaluate(
        "el => getComputedStyle(el).outlineStyle"
    )
    assert marked == "solid"
    shot(page, "cell-refused-1366")

    edit_cell(page, CELL, "? is not None and 1 <= ? <= 7")
    page.get_by_role("button", name="校验并保存草稿").click()
    page.locator("#save-status.ok", has_text="已保存为草稿 v2").wait_for()
    assert page.locator("#error-list").is_hidden()
    shot(page, "draft-saved-1366")

    page.get_by_role("link", name="版本、发布与回滚").click()
    page.wait_for_load_state()
    page.locator('tr[data-version="2"] textarea[name="note"]').fill("类别 7 人才可申请列编（试行）")
    page.locator('tr[data-version="2"]').get_by_role("button", name="发布此版本").click()
    page.wait_for_load_state()
    flash = page.locator(".flash-success")
    assert "已发布决策表 v2" in flash.inner_text() and f"{REG} v2" in flash.inner_text()
    assert "使用决策表 v2" in page.get_by_test_id("decision-usage").inner_text()
    shot(page, "published-1366")

    page.get_by_role("button", name="比较").click()
    page.wait_for_load_state()
    row = page.locator('table[data-testid="diff"] tr[data-element-id="Rule_1"]')
    assert "? is not None and 1 <= ? <= 7" in row.inner_text() and "修改" in row.inner_text()
    shot(page, "compare-1366")

    # a new case takes the published table; the one started before keeps its version (and table)
    new_no, new_status, new_definition = start_case(live, 7, "150102199001014444")
    assert new_status == "running" and new_definition != old_definition
    s = live.session()
    try:
        from sqlalchemy import select

        from workflows.domain.models import Case

        assert s.scalar(select(Case.definition_id).where(Case.case_no == old_no)) == old_definition
    finally:
        s.close()

    phone = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    login(phone, live, "admin")
    phone.goto(f"{live.url}/admin/decisions/{TABLE}/edit")
    phone.locator('body[data-dmn-ready="1"]').wait_for(timeout=20_000)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide: the table must scroll inside its box"
    shot(phone, "editor-390")
    phone.goto(f"{live.url}/admin/decisions/{TABLE}")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "versions-390")

    errors = [e for p in new_page.pages for e in p.errors if INFERNO_NOTICE not in e]
    assert not [e for e in errors if "422" not in e], errors  # the refused save answers 422 on purpose
