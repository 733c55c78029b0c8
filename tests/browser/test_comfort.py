"""Officer comfort in Chromium (issue #10, deliverables 6 and 7): the case page's diagram zooms by its buttons (and by
keyboard), the inbox turns into cards at 390 px, the header folds into a menu, the applicant's owed-item alert is
above the fold on a phone. Screenshots at 1366 and 390 px: test-output/browser/test_comfort_journey/."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login

pytestmark = pytest.mark.browser

L1 = "150000L260302000001"  # the demo's 容缺 case of 张伟: owed items, waiting for 主管部门审核
WIDE = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def zoom_of(page) -> float:
    return float(page.locator("#diagram").get_attribute("data-zoom") or 0)


def test_comfort_journey(live_server, new_page, shot):
    live = live_server
    # ---- 1366 px: the case page's diagram opens fitted and zooms by its buttons
    wide = new_page(viewport=WIDE)
    login(wide, live, "dept_kjt")
    wide.goto(f"{live.url}/officer/cases/{L1}")
    wide.locator("#diagram .djs-container").wait_for()
    wide.wait_for_function("document.getElementById('diagram').dataset.zoom")
    fitted = zoom_of(wide)
    assert fitted >= 0.6  # opens readable: the whole process if it fits legibly, else legible around the current step
    shot(wide, "case-opened-1366")
    wide.get_by_role("button", name="放大流程图").click()
    wide.wait_for_function(f"Number(document.getElementById('diagram').dataset.zoom) > {fitted}")
    bigger = zoom_of(wide)
    assert bigger > fitted * 1.1
    # by keyboard: focus 缩小 and press Enter
    wide.get_by_role("button", name="缩小流程图").focus()
    wide.keyboard.press("Enter")
    wide.wait_for_function(f"Number(document.getElementById('diagram').dataset.zoom) < {bigger}")
    wide.get_by_role("button", name="放大流程图").click()
    wide.get_by_role("button", name="放大流程图").click()
    shot(wide, "case-zoomed-1366")
    shown = zoom_of(wide)
    wide.get_by_role("button", name="适应窗口").click()  # the whole process in the frame
    wide.wait_for_function(f"Number(document.getElementById('diagram').dataset.zoom) < {shown}")
    shot(wide, "case-1366")
    # the timeline says 系统 for the engine's entries
    who = wide.locator('#timeline li[data-action="task_opened"] [data-testid="ev-who"]').first.inner_text()
    assert who == "系统"
    wide.goto(f"{live.url}/officer/?tab=all")
    wide.locator("table.inbox").wait_for()
    shot(wide, "inbox-1366")
    assert wide.locator(".menu-toggle").is_hidden()  # a wide header shows its links, no menu button

    # ---- 390 px: the inbox as cards, no one-character columns
    phone = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    login(phone, live, "renshe")
    phone.goto(f"{live.url}/officer/?tab=all")
    cells = phone.locator("table.inbox tbody td")
    assert cells.count() > 5
    widths = [b["width"] for b in (cells.nth(i).bounding_box() for i in range(cells.count())) if b]
    assert min(widths) >= 60, widths
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1  # nothing sideways
    shot(phone, "inbox-cards-390")

    # ---- 390 px: the header folds into a menu that opens
    toggle = phone.get_by_role("button", name="菜单")
    assert toggle.is_visible() and toggle.get_attribute("aria-expanded") == "false"
    assert phone.get_by_role("link", name="办件总览").is_hidden()
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert phone.get_by_role("link", name="办件总览").is_visible()
    shot(phone, "menu-open-390")
    phone.keyboard.press("Escape")
    assert toggle.get_attribute("aria-expanded") == "false"

    # ---- 390 px: the applicant's owed items show without scrolling
    applicant = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    login(applicant, live, "zhangwei")
    applicant.goto(f"{live.url}/my/case/{L1}")
    owed = applicant.locator('[data-testid="owed"]')
    box = owed.bounding_box()
    assert box and box["y"] < PHONE["height"] - 80, box
    shot(applicant, "applicant-status-390")

    errors = [e for p in new_page.pages for e in p.errors]
    assert not errors, errors
