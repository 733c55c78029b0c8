"""Statistics (issue 14): figures of a handful of cases driven through the services on known dates, checked against
values counted by hand on the legal calendar; scope (a 主管部门 sees only its units); the SVG chart."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import func

from documents.charts import bar_chart_svg
from webapp.demo.accounts import actor_for
from webapp.demo.generator import id_number
from workflows.domain.clock import local_day
from workflows.infra.db import transaction
from workflows.services import handling
from workflows.services import statistics as stats
from workflows.services.cases import supply_material

from .helpers import act, registration, reload, start

REG = "green_channel_registration"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, clock):
    """The same scenario on SQLite (one query per grouping) and PostgreSQL (one GROUPING SETS scan)."""
    factory = request.getfixturevalue("factory" if request.param == "sqlite" else "pg_factory")
    s = factory()
    s.info["factory"] = factory
    yield s
    s.close()


@pytest.fixture
def scenario(db, clock):
    session = db
    """Four cases received on Monday 2 March 2026:
    A 即收即办 at U0101 (科技厅), category 3: 单位 3/3, 主管部门 3/5, 备案 3/9 → 办结 3/9, rated 5 stars.
    B 容缺 at U0201 (教育厅), category 2: owed items supplied 3/10, 备案 13 April (late: due 10 April), rated 2 stars.
    C category 7 at U0101: refused at once (R1).
    E 即收即办 at U0102 (科技厅), left at 单位审核 (due 9 March): overdue on 13 April.
    """
    a = start(session, REG, registration()).case_no
    mats = [m for m in registration()["materials"] if m not in ("health_check", "no_crime_record")]
    liu = dict(applicant_name="刘娜", id_number="150104198805052345", unit_code="U0201", talent_category=2)
    b = start(session, REG, registration(materials=mats, **liu), username="liuna").case_no
    act(session, b, "Task_rongque_commitment", username="liuna")
    act(session, b, "Task_unit_review")
    act(session, b, "Task_dept_review")
    c7 = registration(talent_category=7, applicant_name="钱七", id_number=id_number(random.Random(7)))
    c = start(session, REG, c7, username="hr_nky")
    e_data = registration(applicant_name="王芳", id_number=id_number(random.Random(11)), unit_code="U0102")
    e = start(session, REG, e_data, username="hr_kjxx").case_no
    clock.to(2026, 3, 3, 10)
    act(session, a, "Task_unit_review")
    clock.to(2026, 3, 5, 10)
    act(session, a, "Task_dept_review")
    clock.to(2026, 3, 9, 10)
    act(session, a, "Task_filing")
    clock.to(2026, 3, 10, 10)
    for code in ("health_check", "no_crime_record"):
        supply_material(session, b, code, actor_for(session, "liuna"))
    clock.to(2026, 4, 13, 10)
    act(session, b, "Task_filing")
    handling.rate(session, a, actor_for(session, "zhangwei"), 5)
    handling.rate(session, b, actor_for(session, "liuna"), 2, "补件通知不清楚")
    with transaction(session):
        stats.refresh(session)
    return {"A": a, "B": b, "C": c.case_no, "E": e}


def figures(session, username="renshe", **filters):
    data = stats.figures(session, actor_for(session, username), stats.Filters(**filters), today=date(2026, 4, 13))
    session.commit()
    return data


def test_figures_match_the_hand_count(db, scenario):
    session = db
    assert reload(session, scenario["A"]).status == "completed"
    assert reload(session, scenario["B"]).filing_due_on == date(2026, 4, 10)
    d = figures(session)
    assert d["totals"] == {
        "received": 4,
        "accepted": 3,
        "completed": 2,
        "refused": 1,
        "terminated": 0,
        "withdrawn": 0,
    }
    by_unit = {r["key"]: (r["received"], r["completed"], r["refused"]) for r in d["by"]["unit"]}
    assert by_unit == {"U0101": (2, 1, 1), "U0102": (1, 0, 0), "U0201": (1, 1, 0)}
    assert {r["key"]: r["received"] for r in d["by"]["dept"]} == {"D01": 3, "D02": 1}
    assert {r["key"]: r["received"] for r in d["by"]["category"]} == {"2": 1, "3": 2, "7": 1}
    assert [(r["key"], r["received"]) for r in d["by"]["month"]] == [("2026-03", 4)]
    # 即收即办 A and E, 容缺 B: of the 3 accepted
    assert d["acceptance"] | {} == {
        "accepted": 3,
        "instant": 2,
        "rongque": 1,
        "instant_share": 66.7,
        "rongque_share": 33.3,
    }
    assert d["rongque"] == {"kept": 1, "lapsed": 0, "pending": 0, "kept_share": 100.0}
    # cycle, working days after 2 March: A to 9 March = 3,4,5,6,9 March = 5; B to 13 April = 21 (rest of March)
    # + 1,2,3 April + 7–10 April (4–6 April 清明) + 13 April = 29. Nearest rank: p50 of [5, 29] = 5, p90 = 29.
    assert d["cycle"]["n"] == 2 and d["cycle"]["p50"] == 5 and d["cycle"]["p90"] == 29
    # 备案 (R6): A by 2 April (done 9 March), B by 10 April (done 13 April): 1 of 2
    assert (d["on_time"]["filing_n"], d["on_time"]["filing_ok"], d["on_time"]["filing_share"]) == (2, 1, 50.0)
    # 承诺时限: against each closed case's promised date (none withdrawn)
    closed = [reload(session, scenario[k]) for k in "ABC"]
    expected_ok = sum(1 for c in closed if c.promised_on and c.closed_at and local_day(c.closed_at) <= c.promised_on)
    assert d["on_time"]["promised_ok"] == expected_ok
    assert d["on_time"]["promised_n"] == sum(1 for c in closed if c.promised_on)
    # dwell on the 备案 desk: A opened 5 March, done 9 March = 2; B opened 10 March, done 13 April = 15 + 8 = 23
    filing = [s for s in d["steps"] if s["role"] == "hrss" and "备案" in s["label"]]
    assert len(filing) == 1 and (filing[0]["n"], filing[0]["mean"], filing[0]["p50"], filing[0]["p90"]) == (
        2,
        12.5,
        2,
        23,
    )
    assert filing[0] is d["steps"][0]  # the bottleneck comes first
    unit_step = next(s for s in d["steps"] if s["role"] == "unit_hr")
    assert unit_step["n"] == 2 and unit_step["open"] == 1 and unit_step["overdue"] == 1  # A: 1 day, B: 0; E open
    assert d["overdue_now"] == 1  # E, due 9 March
    assert d["ratings"]["stars"] == {1: 0, 2: 1, 3: 0, 4: 0, 5: 1}
    assert [(r["case_no"], r["reason"]) for r in d["ratings"]["low"]] == [(scenario["B"], "补件通知不清楚")]
    # the drill-down lists exactly the cases behind a figure
    total, rows = stats.drill_cases(session, actor_for(session, "renshe"), stats.Filters(), "filing_late")
    assert total == 1 and [r.case_no for r in rows] == [scenario["B"]]
    total, rows = stats.drill_cases(session, actor_for(session, "renshe"), stats.Filters(), "received", "unit", "U0101")
    assert sorted(r.case_no for r in rows) == sorted([scenario["A"], scenario["C"]])
    total, _ = stats.drill_cases(
        session, actor_for(session, "renshe"), stats.Filters(), "overdue", today=date(2026, 4, 13)
    )
    assert total == 1


def test_filters_narrow_the_figures(db, scenario):
    session = db
    assert figures(session, procedure=REG, category="3")["totals"]["received"] == 2  # A, E
    assert figures(session, unit="D02")["totals"]["received"] == 1  # a 主管部门's code means its units
    assert figures(session, unit="U0101")["totals"]["completed"] == 1
    assert figures(session, date_from=date(2026, 3, 3))["totals"]["received"] == 0


def test_a_dept_sees_only_its_units(db, scenario):
    session = db
    kjt = figures(session, "dept_kjt")
    assert kjt["totals"]["received"] == 3 and {r["key"] for r in kjt["by"]["unit"]} == {"U0101", "U0102"}
    jyt = figures(session, "dept_jyt")
    assert jyt["totals"]["received"] == 1 and jyt["ratings"]["low"][0]["case_no"] == scenario["B"]
    # even when asking for the other department's unit
    assert figures(session, "dept_jyt", unit="U0101")["totals"]["received"] == 0
    total, rows = stats.drill_cases(session, actor_for(session, "dept_jyt"), stats.Filters(), "received")
    assert total == 1 and rows[0].case_no == scenario["B"]


def test_refresh_recomputes_only_changed_cases(db, scenario, clock):
    session = db
    with transaction(session):
        assert stats.refresh(session) == 0
    clock.to(2026, 4, 14, 9)
    act(session, scenario["E"], "Task_unit_review", username="hr_kjxx")
    with transaction(session):
        assert stats.refresh(session) == 1
        assert stats.last_refresh(session).cases == 1
    assert figures(session)["steps"]


def test_percentile_is_nearest_rank():
    assert stats.percentile({}, 50) is None
    assert stats.percentile({1: 1, 2: 1, 3: 1, 4: 1}, 50) == 2
    assert stats.percentile({1: 9, 10: 1}, 90) == 1
    assert stats.percentile({1: 9, 10: 1}, 91) == 10


def test_svg_bar_chart_is_well_formed():
    from xml.etree import ElementTree

    svg = bar_chart_svg("按月份", ["2026-03", "<&>"], [("收件", [4, 1]), ("办结", [2, None])])
    root = ElementTree.fromstring(svg)
    rects = [
        r
        for r in root.iter("{http://www.w3.org/2000/svg}rect")
        if r.find("{http://www.w3.org/2000/svg}title") is not None
    ]
    assert len(rects) == 4
    assert "按月份" in svg and "&lt;&amp;&gt;" in svg


def test_worker_round_keeps_the_default_view_of_each_scope(db, scenario, clock):
    session, factory = db, db.info["factory"]
    today = date(2026, 4, 13)
    stats.refresh_round(factory)  # the worker: read model, then the snapshots of the region and each 主管部门
    session.commit()  # end this session's read: the worker wrote through sessions of its own
    f = stats.default_filters(today)
    for user in ("renshe", "dept_kjt", "dept_jyt"):
        actor = actor_for(session, user)
        cached, at = stats.cached_figures(session, actor, f, today)
        live = stats.figures(session, actor, f, today)
        session.commit()
        assert at is not None and stats.snapshot_key(actor, f, today)
        assert cached["totals"] == live["totals"] and cached["cycle"] == live["cycle"]
        assert cached["ratings"]["stars"] == live["ratings"]["stars"]
        assert [s["p90"] for s in cached["steps"]] == [s["p90"] for s in live["steps"]]
    # any other filter is computed from the read model on the spot
    data, at = stats.cached_figures(session, actor_for(session, "renshe"), stats.Filters(procedure=REG), today)
    session.commit()
    assert at is None and data["totals"]["received"] == 4


def test_worker_builds_a_large_read_model_over_several_rounds(db, scenario):
    from sqlalchemy import delete, func, select

    from workflows.domain.models import StatCase, StatSnapshot

    factory = db.info["factory"]
    with transaction(db):
        db.execute(delete(StatCase))  # as after the upgrade that adds the read model
    assert stats.refresh_round(factory, limit=3) == 3  # bounded, so the round's timers are not held up
    assert db.scalar(select(func.count()).select_from(StatSnapshot)) == 0  # not before the model has caught up
    db.commit()
    assert stats.refresh_round(factory, limit=3) == 1
    assert db.scalar(select(func.count()).select_from(StatCase)) == 4
    # the region, the two 主管部门 and the count of the open steps (stat_open)
    assert db.scalar(select(func.count()).select_from(StatSnapshot)) == 4
    db.commit()


@pytest.fixture(params=["sqlite", "postgresql"])
def generated(request, tmp_path):
    """1,500 generated cases (webapp/demo/generator.py) over 200 units, the read model and its monthly pre-aggregate
    built by a full refresh."""
    from webapp.demo.generator import generate
    from workflows.infra.db import bind_of

    factory = request.getfixturevalue("factory" if request.param == "sqlite" else "pg_factory")
    s = factory()
    engine = bind_of(s).engine
    s.close()
    generate(engine, cases=1500, units=40, seed=5, batch=500, force=True, log=lambda _m: None)
    s = factory()
    with transaction(s):
        stats.refresh(s, full=True)
    yield s
    s.close()


def _same(session, actor, f, today, open_counted=False):
    fast = stats.figures(session, actor, f, today)
    direct = stats.figures(session, actor, f, today, aggregate=False)
    session.commit()
    assert (fast.pop("source"), direct.pop("source")) == ("aggregate", "read_model"), f
    assert (fast.pop("open_at") is not None, direct.pop("open_at")) == (open_counted, None), f
    assert fast == direct, f
    return fast


def test_the_monthly_aggregate_answers_as_the_read_model(generated):
    """Every figure of a view answered from the monthly pre-aggregate (whole months) plus the read model (part-months at
    the period's edges) equals the same view grouped from the read model alone — before and after cases change."""
    from sqlalchemy import select, update

    from workflows.domain.actors import Actor
    from workflows.domain.models import StatCase, Unit

    s = generated
    today = date.today()
    months = sorted(set(s.scalars(select(StatCase.month))))
    dept = s.scalar(select(StatCase.dept_code).where(StatCase.dept_code.is_not(None)).limit(1))
    top_unit = s.scalar(select(Unit.code).where(Unit.parent_code.is_(None), Unit.kind != "dept").limit(1))
    mid = date.fromisoformat(months[len(months) // 2] + "-01")
    region, department = Actor("t", "hrss"), Actor("t", "dept", dept)
    unit = s.scalar(select(StatCase.unit_code).where(StatCase.dept_code == dept).limit(1))  # under the 主管部门
    views = [
        (region, stats.default_filters(today)),  # a part-month at the start
        (region, stats.Filters()),
        (region, stats.Filters(date_from=mid.replace(day=9), date_to=mid.replace(day=20))),  # within one month
        (region, stats.Filters(date_from=mid.replace(day=9), date_to=mid + timedelta(days=70))),  # two edges
        (region, stats.Filters(date_from=mid, procedure=REG)),
        (region, stats.Filters(category="3")),
        (region, stats.Filters(category="none", date_to=mid - timedelta(days=1))),  # whole months only
        (region, stats.Filters(unit=dept)),  # a 主管部门 as the filter: its units
        (department, stats.default_filters(today)),
        (department, stats.Filters(procedure=REG, date_from=mid.replace(day=15))),
        (Actor("t", "admin"), stats.Filters(unit=top_unit)),
        (region, stats.Filters(unit=unit, date_from=mid.replace(day=3))),  # counts by unit, histograms read
        (department, stats.Filters(unit=unit, category="2")),
    ]
    totals = [_same(s, actor, f, today)["totals"]["received"] for actor, f in views]
    # the open steps as the worker counts them with the snapshots (stat_open): the same as counted live
    with transaction(s):
        stats.refresh_snapshots(s, today)
    for actor, f in views:  # (a unit under a 主管部门: its open steps are read live)
        _same(s, actor, f, today, open_counted=f.unit != unit)
    assert totals[1] == s.scalar(
        select(func.count()).select_from(StatCase).where(StatCase.procedure != "rights_complaint")
    )
    assert all(totals[:2]) and totals[8]  # the views are not empty
    # cases change: the worker recomputes them, and their months' cells in the same transaction
    with transaction(s):
        ids = list(s.scalars(select(StatCase.case_id).order_by(StatCase.case_id).limit(300)))
        s.execute(update(StatCase).where(StatCase.case_id.in_(ids)).values(event_seq=-1))
        s.execute(update(StatCase).where(StatCase.case_id.in_(ids[:100])).values(stars=None))  # out of step
    with transaction(s):
        assert stats.refresh(s) == 300
    for actor, f in views[:4] + views[8:9]:
        _same(s, actor, f, today, open_counted=True)


def test_month_split_of_a_period():
    split = stats._month_split
    assert split(None, None) == ((None, None), ())
    assert split(date(2026, 1, 1), date(2026, 3, 31)) == (("2026-01", "2026-04"), ())
    assert split(date(2025, 12, 6), None) == (("2026-01", None), ((date(2025, 12, 6), date(2025, 12, 31)),))
    assert split(date(2026, 2, 14), date(2026, 7, 3)) == (
        ("2026-03", "2026-07"),
        ((date(2026, 2, 14), date(2026, 2, 28)), (date(2026, 7, 1), date(2026, 7, 3))),
    )
    assert split(date(2026, 2, 14), date(2026, 2, 20)) == (None, ((date(2026, 2, 14), date(2026, 2, 20)),))
    assert split(date(2026, 2, 14), date(2026, 3, 10)) == (None, ((date(2026, 2, 14), date(2026, 3, 10)),))
