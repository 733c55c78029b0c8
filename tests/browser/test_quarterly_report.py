"""The administrators' 季度调度通报 page in Chromium at 1366 and 390 px: the report the worker issued (numbered,
archived, its verification code linking to the public verify page) and the preview form; the page stays within the
screen. Screenshots: test-output/browser/<test>/."""

from __future__ import annotations

import time
from datetime import date

import pytest
from sqlalchemy import select

from tests.browser.conftest import login
from tests.browser.test_pages import PHONE, WIDE, width_of
from webapp.issuing import wake
from workflows.domain.models import Document
from workflows.services import quarterly

pytestmark = pytest.mark.browser


def test_issued_reports_listed_at_both_widths(live_server, new_page, shot):
    live = live_server
    factory = live.app.extensions["db_factory"]
    assert quarterly.issue_due(factory, today=date(2026, 4, 1)) == "内科通字〔2026〕1号"  # the worker's round
    wake(live.app)
    for _ in range(100):  # the render queue signs and archives it
        s = factory()
        doc = s.scalar(select(Document).where(Document.kind == quarterly.KIND))
        archived, code = doc.sha256 is not None, doc.verify_code
        s.close()
        if archived:
            break
        time.sleep(0.2)
    assert archived
    for size, ctx in (("1366", WIDE), ("390", PHONE)):
        page = new_page(**ctx)
        login(page, live, "admin")
        page.goto(f"{live.url}/admin/rights-report")
        table = page.locator('[data-testid="dispatch-reports"]')
        assert "内科通字〔2026〕1号" in table.inner_text() and "已归档" in table.inner_text()
        assert page.locator('[data-testid="report-download"]').count() == 1
        assert width_of(page) <= int(size)
        shot(page, f"rights-report-{size}")
        assert not page.errors, page.errors
    page.click(f'a[href="/verify/{code}"]')
    assert "内科通字〔2026〕1号" in page.locator('[data-testid="verify-doc-no"]').inner_text()
    assert "各有关单位" in page.locator('[data-testid="verify-addressee"]').inner_text()
    shot(page, "verify-390")
