"""Simulation before publish, as the administrator does it: a stricter eligibility condition saved as a draft in the
modeler, replayed against a finished case (which would now not be accepted), and the token simulation played on the
diagram — at 1366 and 390 px."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login
from tests.helpers import act, registration, start_as
from webapp.demo.accounts import actor_for

pytestmark = pytest.mark.browser
REG = "green_channel_registration"


def finished_category_3_case(live) -> str:
    s = live.session()
    try:
        case = start_as(
            s, REG, registration(applicant_name="周杰", id_number="150102199404044444"), actor_for(s, "hr_nky")
        )
        for step in ("Task_unit_review", "Task_dept_review", "Task_filing"):
            act(s, case.case_no, step)
        return case.case_no
    finally:
        s.close()


def open_modeler(page, live):
    page.goto(f"{live.url}/admin/processes/{REG}/edit")
    page.locator('body[data-modeler-ready="1"]').wait_for(timeout=20_000)


@pytest.mark.parametrize("width", [1366, 390])
def test_admin_simulates_a_draft_and_plays_tokens(make_live_server, new_page, shot, width):
    live = make_live_server()
    case_no = finished_category_3_case(live)
    page = new_page(viewport={"width": width, "height": 900})
    login(page, live, "admin")
    open_modeler(page, live)
    assert not page.locator("#btn-simulate").is_visible()  # the published version: nothing to simulate yet

    # the condition edit, as the run-properties form would write it, then 校验并保存草稿
    page.evaluate(
        """() => window.adminModeler.saveXML({format: true}).then(r => window.adminModeler.importXML(
               r.xml.replace('>eligibility_ok</bpmn:conditionExpression>',
                             '>eligibility_ok and talent_category &lt;= 2</bpmn:conditionExpression>')))"""
    )
    page.get_by_role("button", name="校验并保存草稿").click()
    page.wait_for_function(
        "() => /已保存为草稿/.test(document.getElementById('save-status').textContent)", timeout=20_000
    )
    simulate = page.locator("#btn-simulate")
    assert simulate.is_visible()
    shot(page, f"{width}-draft-saved")

    simulate.click()
    page.wait_for_load_state()
    summary = page.get_by_test_id("simulation-summary")
    summary.wait_for(timeout=30_000)
    row = page.locator(f'tr[data-case-no="{case_no}"]')
    assert row.get_attribute("data-verdict") == "different"
    text = row.inner_text()
    assert "已办结" in text and "不予受理" in text and "关闭办件（不符合条件）" in text
    assert "符合绿色通道条件？" in text  # where the paths part
    shot(page, f"{width}-simulation-result")

    # token simulation on the diagram: the toggle, then the start event's play button sends a token along
    open_modeler(page, live)
    toggle = page.get_by_test_id("token-sim-toggle")
    assert toggle.is_visible()
    toggle.click()
    page.wait_for_function("() => document.getElementById('btn-token-sim').getAttribute('aria-pressed') === 'true'")
    assert page.locator("#btn-save").is_disabled()  # modelling is off while tokens play
    # the play button of the start event (提交列编申请), scrolled into view on a narrow screen
    page.locator('.djs-overlays[data-container-id="Start_application"] .bts-context-pad').click()
    page.locator(".bts-token").first.wait_for(timeout=10_000)
    shot(page, f"{width}-token-simulation-playing")
    toggle.click()
    page.wait_for_function("() => document.getElementById('btn-token-sim').getAttribute('aria-pressed') === 'false'")
    assert not page.locator("#btn-save").is_disabled()
    assert [e for e in page.errors if "favicon" not in e] == []
