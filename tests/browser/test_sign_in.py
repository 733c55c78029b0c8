"""Issue #13 in Chromium, at 1366 and 390 px: ten wrong passwords lock an account with a clear message (the last try
announced), the right password is refused while locked, and an administrator unlocks it on the users page.

Screenshots: test-output/browser/<test>/.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import PASSWORD, login

pytestmark = pytest.mark.browser

WIDE = {"viewport": {"width": 1366, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def try_sign_in(page, live, username: str, password: str):
    page.goto(f"{live.url}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


@pytest.mark.parametrize("size, ctx, username", [("1366", WIDE, "hr_nky"), ("390", PHONE, "hr_kjxx")])
def test_lockout_message_and_unlock(live_server, new_page, shot, size, ctx, username):
    page = new_page(**ctx)
    for _ in range(9):
        try_sign_in(page, live_server, username, "not-the-password")
    refusal = page.get_by_test_id("sign-in-refused")
    assert "再错 1 次，账号将被锁定 15 分钟" in refusal.inner_text()
    shot(page, f"last-try-{size}")
    try_sign_in(page, live_server, username, "not-the-password")
    try_sign_in(page, live_server, username, PASSWORD)  # the right one, refused while locked
    assert "/login" in page.url
    text = refusal.inner_text()
    assert "账号已锁定" in text and "已被锁定，请于" in text and "联系系统管理员解锁" in text
    assert refusal.is_visible() and refusal.bounding_box()["y"] < 400  # above the fold, beside the form
    assert page.evaluate("() => document.documentElement.scrollWidth") <= int(size)
    shot(page, f"locked-{size}")
    admin = new_page(**ctx)
    login(admin, live_server, "admin")
    admin.goto(f"{live_server.url}/admin/users")
    row = admin.locator("tr", has=admin.locator("code", has_text=username))
    assert "登录已锁定至" in row.get_by_test_id("locked").inner_text()
    row.get_by_test_id("locked").scroll_into_view_if_needed()
    shot(admin, f"admin-users-{size}")
    row.get_by_test_id("unlock").click()
    admin.wait_for_load_state()
    assert f"已解除 {username} 的登录锁定" in admin.content()
    login(page, live_server, username)
    # the locked answers are 429 (Chromium logs each as a failed resource load); nothing else went wrong
    assert [e for e in page.errors if "status of 429" not in e] == [] and admin.errors == []
