"""Statistics at scale (issue 14; run by hand, not a test), against a database loaded by `flask generate` whose read
model was built once (`flask refresh-statistics`; the worker keeps it up to date after that):

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/gc_scale .venv/bin/python bench/statistics_scale.py [--n 30]

What is timed (wall clock, warm: each shape runs twice untimed first; p50/p95 over --n calls):
* figures — `statistics.figures(session, actor, filters)`, everything one page shows, for 人社 (region) over the
  last 12 months and over all time, for the busiest 主管部门, and with a procedure / unit / category filter;
* page — GET /statistics/ through the Flask test client (signed in; figures + chart specs + template), 人社 and the
  主管部门: the default view (the worker's snapshot) and one filtered by procedure (grouped from the read model on
  the spot); the drill-down list of one bar; the XLSX export of the default view;
* refresh — one worker round with nothing changed, and after K cases changed (`--touch`, default 200).

`--direct` answers every view from the read model on the spot, as the release before the monthly pre-aggregate did
(stat_month*, workflows/services/statistics.py): the before/after comparison of README's Performance table.

Last line, exactly:  `p95 ms figures/page/drill/xlsx: A/B/C/D refresh idle/K: E/F ms`  (A, B: worst over the rows).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scale import DEFAULT_URL, pct  # noqa: E402  (bench/scale.py beside this file: the same database and percentile)
from sqlalchemy import func, select, update  # noqa: E402

from workflows.domain.actors import Actor  # noqa: E402
from workflows.domain.models import Case, CaseEvent, StatCase, User  # noqa: E402


def timed(fn, n: int, warm: int = 2) -> list[float]:
    for _ in range(warm):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30, help="timed calls per row")
    ap.add_argument("--touch", type=int, default=200, help="cases marked changed before the timed refresh")
    ap.add_argument(
        "--direct", action="store_true", help="group the read model on every request (no monthly pre-aggregate)"
    )
    args = ap.parse_args(argv)
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("RENDER_AFTER_REQUEST", "0")

    from webapp import create_app
    from workflows.infra.db import transaction
    from workflows.services import sessions
    from workflows.services import statistics as stats
    from workflows.services.statistics import Filters

    if args.direct:  # the release before the pre-aggregate: every filtered view grouped from the read model
        stats._aggregate_plan = lambda *_a, **_k: None
    app = create_app({"WTF_CSRF_ENABLED": False, "PROPAGATE_EXCEPTIONS": True})
    factory = app.extensions["db_factory"]
    s = factory()
    n_cases = s.scalar(select(func.count()).select_from(Case))
    n_events = s.scalar(select(func.count()).select_from(CaseEvent))
    n_stat = s.scalar(select(func.count()).select_from(StatCase))
    if n_stat < n_cases * 0.99:
        print(f"{n_stat} of {n_cases} cases in the read model: run `flask refresh-statistics` first", file=sys.stderr)
        return 2
    region = s.scalar(select(User).where(User.role == "hrss").limit(1))
    busy_dept = s.execute(
        select(StatCase.dept_code, func.count()).group_by(StatCase.dept_code).order_by(func.count().desc()).limit(1)
    ).first()[0]
    dept = s.scalar(select(User).where(User.role == "dept", User.unit_code == busy_dept).limit(1))
    busy_unit = s.execute(
        select(StatCase.unit_code, func.count()).group_by(StatCase.unit_code).order_by(func.count().desc()).limit(1)
    ).first()[0]
    procedure = s.scalar(select(StatCase.procedure).limit(1))
    s.close()
    print(f"{n_cases:,} cases, {n_events:,} audit events ({url.rsplit('/', 1)[-1]})")
    ra, da = Actor.from_user(region), Actor.from_user(dept)

    def figures(actor, f):
        def run():
            ss = factory()
            try:
                stats.figures(ss, actor, f)
            finally:
                ss.close()

        return run

    # the worker's round first: the read model is current and each scope's default view is kept (stat_snapshot)
    t0 = time.perf_counter()
    stats.refresh_round(factory, snapshot_seconds=0)
    first_round = time.perf_counter() - t0
    year = stats.default_filters()
    rows = []
    for label, actor, f in (
        ("region, last 12 months", ra, year),
        ("region, all time", ra, Filters()),
        (f"dept {busy_dept}, last 12 months", da, year),
        ("region, one procedure", ra, Filters(date_from=year.date_from, procedure=procedure)),
        (f"region, unit {busy_unit}", ra, Filters(date_from=year.date_from, unit=busy_unit)),
        ("region, category 3", ra, Filters(date_from=year.date_from, category="3")),
    ):
        rows.append(("figures", label, timed(figures(actor, f), args.n)))

    def identity(u) -> str:
        ss = factory()
        with transaction(ss):
            key = sessions.open_session(ss, u.id, hours=24)
        ss.close()
        return key

    client = app.test_client()
    for label, u in (("region hrss", region), (f"dept {busy_dept}", dept)):
        with client.session_transaction() as sess:
            sess["_user_id"] = identity(u)
            sess["_fresh"] = True

        for shape, query in (("default view (snapshot)", ""), ("one procedure (live)", f"?procedure={procedure}")):

            def page(query=query):
                r = client.get(f"/statistics/{query}")
                assert r.status_code == 200, r.status_code

            rows.append(("page", f"{label}: {shape}", timed(page, args.n)))

    def drill():
        r = client.get(f"/statistics/cases?measure=completed&dim=unit&key={busy_unit}")
        assert r.status_code == 200

    rows.append(("drill", "dept: the completed cases of a unit", timed(drill, args.n)))

    def xlsx():
        r = client.get("/statistics/export.xlsx")
        assert r.status_code == 200

    rows.append(("xlsx", "dept: export", timed(xlsx, max(5, args.n // 3))))

    # refresh: idle, then after K cases changed
    def refresh_round():
        stats.refresh_round(factory)

    idle = timed(refresh_round, 3, warm=1)
    ss = factory()
    with transaction(ss):
        ids = list(ss.scalars(select(StatCase.case_id).order_by(StatCase.case_id.desc()).limit(args.touch)))
        ss.execute(update(StatCase).where(StatCase.case_id.in_(ids)).values(event_seq=-1))
    ss.close()
    t0 = time.perf_counter()
    refresh_round()
    touched = (time.perf_counter() - t0) * 1000

    print(f"{'what':<8} {'shape':<42} {'p50 ms':>8} {'p95 ms':>8}")
    for kind, label, t in rows:
        print(f"{kind:<8} {label:<42} {pct(t, 0.5):8.1f} {pct(t, 0.95):8.1f}")
    print(f"refresh  idle round p50 {pct(idle, 0.5):.0f} ms; after {args.touch} changed cases {touched:.0f} ms")
    print(f"refresh  first round with the snapshots of every scope: {first_round:.1f} s")
    worst = {k: max(pct(t, 0.95) for kk, _, t in rows if kk == k) for k in ("figures", "page", "drill", "xlsx")}
    print(
        f"p95 ms figures/page/drill/xlsx: {worst['figures']:.0f}/{worst['page']:.0f}/{worst['drill']:.0f}/"
        f"{worst['xlsx']:.0f} refresh idle/{args.touch}: {pct(idle, 0.5):.0f}/{touched:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
