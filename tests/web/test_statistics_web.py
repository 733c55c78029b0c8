"""Statistics pages (issue 14) on the demo data: who may see them and how much, the drill-down, the exports read back
(formula-looking text neutralised), the server-side SVG chart, a bad filter answered with a message."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from workflows.domain.models import Case, Rating, StatCase
from workflows.infra.db import transaction
from workflows.services import statistics as stats

from .conftest import signed_in


@pytest.fixture
def refreshed(web_app, db):
    with transaction(db):
        stats.refresh(db)
    total = db.scalar(select(StatCase.case_id).limit(1))
    db.commit()
    assert total is not None
    return db


def _received(html: str) -> int:
    import re

    m = re.search(r'data-kpi="received"><b>(\d+)</b>', html)
    assert m, html[:2000]
    return int(m.group(1))


def test_each_office_sees_its_scope(web_app, refreshed):
    db = refreshed
    all_cases = len(db.scalars(select(StatCase.case_id)).all())
    kjt_cases = len(db.scalars(select(StatCase.case_id).where(StatCase.dept_code == "D01")).all())
    db.commit()
    for user in ("renshe", "bianban", "admin"):
        r = signed_in(web_app, user).get("/statistics/?from=2000-01-01")
        assert r.status_code == 200
        html = r.get_data(as_text=True)
        assert _received(html) == all_cases
        assert "/vendor/echarts/dist/echarts.min.js" in html and "数据更新于" in html
    html = signed_in(web_app, "dept_kjt").get("/statistics/?from=2000-01-01").get_data(as_text=True)
    assert 0 < _received(html) == kjt_cases < all_cases
    assert "内蒙古大学" not in html  # another department's unit is not even offered as a filter
    for user in ("hr_nky", "pingwei", "zhangwei"):
        assert signed_in(web_app, user).get("/statistics/").status_code == 403


def test_drill_down_lists_the_cases_of_a_bar(web_app, refreshed):
    c = signed_in(web_app, "dept_jyt")
    r = c.get("/statistics/cases?from=2000-01-01&measure=received&dim=unit&key=U0201")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    db = refreshed
    numbers = db.scalars(select(Case.case_no).where(Case.unit_code == "U0201")).all()
    other = db.scalars(select(Case.case_no).where(Case.unit_code == "U0101")).all()
    db.commit()
    assert numbers and all(n in html for n in numbers)
    assert not any(n in html for n in other)
    # a 主管部门 asking for another department's unit gets nothing
    html = c.get("/statistics/cases?from=2000-01-01&dim=unit&key=U0101").get_data(as_text=True)
    assert "共 0 件" in html


def test_exports_read_back_with_formulas_neutralised(web_app, refreshed):
    db = refreshed
    case = db.scalar(select(Case).where(Case.status.in_(("completed", "refused", "terminated"))).limit(1))
    db.add(Rating(case_id=case.id, stars=1, reason='=HYPERLINK("http://x","点此")'))
    db.execute(update(Case).where(Case.id == case.id).values(event_seq=Case.event_seq + 1))  # the row is stale
    db.commit()
    with transaction(db):
        stats.refresh(db)
    c = signed_in(web_app, "renshe")
    r = c.get("/statistics/export.xlsx?from=2000-01-01")
    assert r.status_code == 200 and r.headers["Content-Disposition"].endswith(".xlsx")
    wb = load_workbook(io.BytesIO(r.data))
    totals = wb["总计"]
    assert [c.value for c in totals[1]][:3] == ["收件", "受理", "办结"]
    received = totals.cell(2, 1).value
    assert isinstance(received, int) and received > 0
    low = [row for row in wb["差评原因"].iter_rows(min_row=2, values_only=True)]
    assert any(r[2] == '\'=HYPERLINK("http://x","点此")' for r in low)
    assert wb["好差评"].cell(2, 2).value >= 1  # one star
    r = c.get("/statistics/export.csv?from=2000-01-01")
    text = r.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["总计"] and rows[1][0] == "收件" and int(rows[2][0]) == received
    assert any(len(r) > 2 and r[2] == '\'=HYPERLINK("http://x","点此")' for r in rows)


def test_chart_as_svg_and_bad_filters(web_app, refreshed):
    c = signed_in(web_app, "bianban")
    r = c.get("/statistics/chart.svg?chart=procedure&from=2000-01-01")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    assert r.get_data(as_text=True).startswith("<svg") and "按事项" in r.get_data(as_text=True)
    assert c.get("/statistics/chart.svg?chart=nothing").status_code == 404
    assert c.get("/statistics/export.pdf").status_code == 404
    r = c.get("/statistics/?from=2026-13-45&procedure=nope")
    assert r.status_code == 200 and "日期格式应为" in r.get_data(as_text=True)


def test_a_filtered_view_says_where_its_figures_come_from(web_app, refreshed):
    """A filtered view of the region or a 主管部门 is added up from the monthly pre-aggregate (as current as the read
    model) and the worker's count of the open steps — the page says so, with the time of that count."""
    c = signed_in(web_app, "renshe")
    with transaction(refreshed):
        stats.refresh_snapshots(refreshed)
    html = c.get("/statistics/?procedure=green_channel_registration").get_data(as_text=True)
    assert "按月度汇总计算" in html and "在办与逾期数据统计于" in html
    default = c.get("/statistics/").get_data(as_text=True)  # the snapshot: its own age only
    assert "数据更新于" in default and "按月度汇总计算" not in default
