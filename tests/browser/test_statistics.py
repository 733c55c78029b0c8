"""Statistics page (issue 14) in Chromium at 1366 and 390 px: ECharts draws every chart from the locally served
library, a click on a bar opens the list of its cases, the page stays within the screen. Screenshots:
test-output/browser/<test>/."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login
from tests.browser.test_pages import PHONE, WIDE, width_of
from workflows.infra.db import transaction
from workflows.services import statistics as stats

pytestmark = pytest.mark.browser


def test_statistics_page_at_both_widths_and_drill_down(live_server, new_page, shot):
    live = live_server
    s = live.session()
    with transaction(s):
        stats.refresh(s)
    s.close()
    for size, ctx in (("1366", WIDE), ("390", PHONE)):
        page = new_page(**ctx)
        login(page, live, "renshe")
        page.goto(f"{live.url}/statistics/?from=2025-01-01")
        page.wait_for_function("window.statsChartsReady === true")
        assert page.locator(".chart canvas").count() == page.locator(".chart").count() >= 10
        assert int(page.locator('[data-kpi="received"] b').inner_text()) > 0
        assert width_of(page) <= int(size)
        page.wait_for_timeout(800)  # ECharts animates the bars in
        shot(page, f"statistics-{size}")
        assert not page.errors, page.errors
    # a click on the first bar of the procedure chart (收件) lists that procedure's cases
    page = new_page(**WIDE)
    login(page, live, "renshe")
    page.goto(f"{live.url}/statistics/?from=2025-01-01")
    page.wait_for_function("window.statsChartsReady === true")
    page.wait_for_timeout(1200)
    x, y = page.evaluate(
        """() => {
        const el = document.getElementById('chart-procedure');
        el.scrollIntoView({block: 'center'});
        const chart = echarts.getInstanceByDom(el);
        const bar = chart.getModel().getSeriesByIndex(0).getData().getItemLayout(0);  // the first 收件 bar
        const [px, py] = [bar.x + bar.width / 2, bar.y + bar.height / 2];
        const r = el.getBoundingClientRect();
        return [r.left + px, r.top + py];
    }"""
    )
    page.mouse.click(x, y)
    page.wait_for_url("**/statistics/cases**")
    assert "measure=received" in page.url and "dim=procedure" in page.url
    assert page.get_by_test_id("drill-table").locator("tbody tr").count() > 0
    shot(page, "drill-1366")
