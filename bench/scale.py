"""Read paths at scale (run by hand, not a test), against a database loaded by `flask generate` (default: gc_scale):

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/gc_scale .venv/bin/python bench/scale.py [--n 60]

What is timed (wall clock around each call, warm: each shape runs a few times untimed first; p50/p95 over --n calls
with different keys where there are keys):

* inbox — `queries.inbox(session, actor, tab)` (the page of 20 rows + the four tab counts, exactly what the officer
  page and GET /api/v1/tasks call) for each tab, for three actors: the HR officer of the busiest unit, the reviewer
  of the busiest 主管部门 and a region-wide role (人社厅 `hrss`, which holds every 备案 step). Also the whole officer
  inbox PAGE through the Flask test client (session cookie; includes the template, unit and user names, the bell).
* search — `queries.list_cases(session, actor, q=key)` as the region-wide role (scope = everything, so only the
  search condition narrows it) and as the 主管部门 reviewer, by 办件编号, ID number, 3-character name, 2-character
  name, 1 character (surname or last character of the name), unit code and unit name. Keys are taken from random
  cases. Also the officer's inbox search by 3- and 2-character names.
* status — the applicant status page GET /my/case/<no> through the Flask test client, signed in as the case's
  applicant (get_case + timeline + materials + open tasks + render), and the same queries at service level.
* task page — the officer's task page GET /officer/cases/<no>/tasks/<id> through the Flask test client, signed in as
  an officer of the task's desk, for open steps of 列编注册 cases (8 materials each): the form, the dossier (application
  data, materials with their history, opinions, decided values; workflows/services/dossier.py) and the return banner.
* overdue — the overdue tab (`inbox(..., tab="overdue")`) of the region-wide role, the busiest 主管部门 and unit.
* sweep — `timers.fire_due_timers(factory, limit=K)`: the real sweep on K of the due cases (it moves them, so a
  re-run has fewer due cases; the generator leaves ~1,700 due), fired cases per second, one process.

Last line, exactly:  `p95 ms inbox/search/status/task page: A/B/C/D sweep/s: N`  where A, B, C and D are the worst
p95 over the service-level inbox tabs (all actors), search keys, the status page and the task page (test client).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from workflows.domain.actors import Actor  # noqa: E402
from workflows.domain.models import Case, CaseEvent, OpenTask, Unit, User  # noqa: E402
from workflows.services import queries  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/gc_scale"


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, int(round(p * len(s))) - 1))] * 1000


def timed(fn, keys, warm: int = 3) -> list[float]:
    for k in keys[:warm]:
        fn(k)
    out = []
    for k in keys:
        t0 = time.perf_counter()
        fn(k)
        out.append(time.perf_counter() - t0)
    return out


def actor_of(u: User) -> Actor:
    return Actor.from_user(u)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="timed calls per row")
    ap.add_argument("--sweep", type=int, default=300, help="due cases the sweep fires (they move!)")
    args = ap.parse_args(argv)
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    os.environ["DATABASE_URL"] = url

    from webapp import create_app
    from workflows.infra.db import transaction
    from workflows.services import sessions

    app = create_app({"WTF_CSRF_ENABLED": False, "PROPAGATE_EXCEPTIONS": True})

    def identity(u) -> str:
        s = app.extensions["db_factory"]()
        with transaction(s):  # what a sign-in keeps in the cookie: the key of a server-side session
            key = sessions.open_session(s, u.id, hours=24)
        s.close()
        return key

    factory = app.extensions["db_factory"]
    s = factory()
    n_cases = s.scalar(select(func.count()).select_from(Case))
    n_events = s.scalar(select(func.count()).select_from(CaseEvent))
    n_tasks = s.scalar(select(func.count()).select_from(OpenTask))
    if n_cases < 1000:
        print(f"only {n_cases} cases in {url}: run `flask generate` first", file=sys.stderr)
        return 2
    busy_unit = s.execute(
        select(OpenTask.scope_unit_code, func.count())
        .where(OpenTask.role == "unit_hr")
        .group_by(OpenTask.scope_unit_code)
        .order_by(func.count().desc())
        .limit(1)
    ).first()
    busy_dept = s.execute(
        select(OpenTask.scope_unit_code, func.count())
        .where(OpenTask.role == "dept")
        .group_by(OpenTask.scope_unit_code)
        .order_by(func.count().desc())
        .limit(1)
    ).first()
    hr = s.scalar(select(User).where(User.role == "unit_hr", User.unit_code == busy_unit[0]))
    dept = s.scalar(select(User).where(User.role == "dept", User.unit_code == busy_dept[0]))
    region = s.scalar(select(User).where(User.username == "renshe"))
    actors = {
        "unit_hr " + hr.unit_code: actor_of(hr),
        "dept " + dept.unit_code: actor_of(dept),
        "region hrss": actor_of(region),
    }
    unit_cases = s.scalar(select(func.count()).select_from(Case).where(Case.unit_code == hr.unit_code))
    dept_cases = s.scalar(
        select(func.count())
        .select_from(Case)
        .join(Unit, Unit.code == Case.unit_code)
        .where(Unit.parent_code == dept.unit_code)
    )
    sample = list(
        s.execute(
            select(Case.case_no, Case.applicant_name, Case.id_number, Case.unit_code)
            .order_by(func.random())
            .limit(args.n * 4)
        )
    )
    units = {u.code: u.name for u in s.scalars(select(Unit))}
    applicant_cases = list(
        s.execute(
            select(Case.case_no, Case.applicant_user_id)
            .where(Case.applicant_user_id.is_not(None))
            .order_by(func.random())
            .limit(args.n)
        )
    )
    s.commit()
    s.close()

    rows: list[tuple[str, str, list[float]]] = []

    def svc_call(fn):
        def run(key):
            ss = factory()
            try:
                fn(ss, key)
                ss.commit()
            finally:
                ss.close()

        return run

    keys = list(range(args.n))
    inbox_p95 = []
    for label, a in actors.items():
        for tab in queries.TABS:
            t = timed(svc_call(lambda ss, _k, a=a, tab=tab: queries.inbox(ss, a, tab)), keys)
            rows.append(("inbox", f"{label} tab={tab}", t))
            inbox_p95.append(pct(t, 0.95))
    # the officer inbox page (test client, signed in)
    client = app.test_client()
    for label, u in (("unit_hr", hr), ("dept", dept), ("region hrss", region)):
        with client.session_transaction() as sess:
            sess["_user_id"] = identity(u)
            sess["_fresh"] = True

        def page(_k):
            r = client.get("/officer/?tab=group")
            assert r.status_code == 200, r.status_code

        rows.append(("inbox page", f"{label} GET /officer/?tab=group", timed(page, keys)))

    # search
    search_p95 = []
    by = {
        "办件编号": [c.case_no for c in sample],
        "ID number": [c.id_number for c in sample],
        "name (3 chars)": [c.applicant_name for c in sample if len(c.applicant_name) == 3],
        "name (2 chars)": [c.applicant_name for c in sample if len(c.applicant_name) == 2],
        # one character: a surname (thousands of cases each) or the last character of a given name
        "name (1 char)": [c.applicant_name[0 if i % 2 else -1] for i, c in enumerate(sample)],
        "unit code": [c.unit_code for c in sample],
        "unit name": [units[c.unit_code] for c in sample],
    }
    for who in ("region hrss", "dept " + dept.unit_code):
        a = actors[who]
        for key, values in by.items():
            values = (values * 3)[: args.n]
            t = timed(svc_call(lambda ss, q, a=a: queries.list_cases(ss, a, q=q)), values)
            rows.append(("search", f"{who} by {key}", t))
            search_p95.append(pct(t, 0.95))
    # inbox search (the officer's search box) by name for the dept reviewer
    t = timed(
        svc_call(lambda ss, q: queries.inbox(ss, actors["dept " + dept.unit_code], "all", q=q)),
        (by["name (3 chars)"] * 3)[: args.n],
    )
    rows.append(("search", "dept inbox tab=all q=name (3 chars)", t))
    search_p95.append(pct(t, 0.95))
    t = timed(
        svc_call(lambda ss, q: queries.inbox(ss, actors["dept " + dept.unit_code], "all", q=q)),
        (by["name (2 chars)"] * 3)[: args.n],
    )
    rows.append(("search", "dept inbox tab=all q=name (2 chars)", t))
    search_p95.append(pct(t, 0.95))

    # status page
    ss = factory()
    app_users = {u.id: u for u in ss.scalars(select(User).where(User.id.in_([u for _n, u in applicant_cases])))}
    ss.commit()
    ss.close()
    status_pairs = [(no, app_users[uid]) for no, uid in applicant_cases]

    def status_page(pair):
        no, u = pair
        with client.session_transaction() as sess:
            sess["_user_id"] = identity(u)
            sess["_fresh"] = True
        r = client.get(f"/my/case/{no}")
        assert r.status_code == 200, (no, r.status_code)

    t_status = timed(status_page, status_pairs)
    rows.append(("status", "applicant GET /my/case/<no> (test client)", t_status))

    def status_svc(ss, pair):
        no, u = pair
        c = queries.get_case(ss, actor_of(u), no)
        queries.timeline(ss, c)
        list(c.materials), list(c.open_tasks)

    rows.append(("status", "service: get_case+timeline+materials+tasks", timed(svc_call(status_svc), status_pairs)))

    # the officer's task page with the dossier (8 materials: 列编注册), as an officer of the task's desk
    ss = factory()
    reg_tasks = list(
        ss.execute(
            select(Case.case_no, OpenTask.task_id, OpenTask.role, OpenTask.scope_unit_code)
            .join(Case, Case.id == OpenTask.case_id)
            .where(
                Case.procedure == "green_channel_registration",
                Case.status == "running",
                OpenTask.role.in_(("unit_hr", "dept", "hrss", "bianban")),
            )
            .order_by(func.random())
            .limit(args.n * 3)
        )
    )
    desk_users: dict[tuple[str, str | None], User | None] = {}
    for _no, _tid, role, scope in reg_tasks:
        key = (role, scope if role in ("unit_hr", "dept") else None)
        if key not in desk_users:
            q = select(User).where(User.role == role, User.active.is_(True))
            desk_users[key] = ss.scalar(q.where(User.unit_code == scope) if key[1] else q)
    ss.commit()
    ss.close()
    task_keys = [
        (no, tid, u)
        for no, tid, role, scope in reg_tasks
        if (u := desk_users[(role, scope if role in ("unit_hr", "dept") else None)]) is not None
    ][: args.n]

    def task_page(key):
        no, tid, u = key
        with client.session_transaction() as sess:
            sess["_user_id"] = identity(u)
            sess["_fresh"] = True
        r = client.get(f"/officer/cases/{no}/tasks/{tid}")
        assert r.status_code == 200 and b'data-testid="dossier"' in r.data, (no, r.status_code)

    t_task = timed(task_page, task_keys) if task_keys else []
    if t_task:
        rows.append(("task page", "officer GET /officer/cases/<no>/tasks/<id> (8 materials)", t_task))

    # overdue
    for label, a in actors.items():
        rows.append(
            (
                "overdue",
                f"{label} tab=overdue",
                timed(svc_call(lambda ss, _k, a=a: queries.inbox(ss, a, "overdue")), keys),
            )
        )

    # sweep
    from workflows.domain.clock import now_utc
    from workflows.services.timers import fire_due_timers

    ss = factory()
    due = ss.scalar(
        select(func.count())
        .select_from(Case)
        .where(
            Case.next_timer_at.is_not(None),
            Case.next_timer_at <= now_utc(),
            Case.status.in_(("running", "on_hold", "returned")),
            Case.error.is_(None),
        )
    )
    ss.commit()
    ss.close()
    k = min(args.sweep, due)
    t0 = time.perf_counter()
    fired = fire_due_timers(factory, limit=k) if k else 0
    sweep_s = time.perf_counter() - t0
    sweep_rate = fired / sweep_s if fired else 0.0

    print(
        f"scale benchmark — {url.rsplit('@', 1)[-1]}: {n_cases} cases, {n_events} events, {n_tasks} open tasks; "
        f"busiest unit {hr.unit_code} ({unit_cases} cases), busiest 主管部门 {dept.unit_code} ({dept_cases} cases)"
    )
    print(f"  {'what':<12} {'case':<52} {'n':>4} {'p50 ms':>8} {'p95 ms':>8}")
    for kind, label, t in rows:
        print(f"  {kind:<12} {label:<52} {len(t):>4} {pct(t, 0.5):>8.2f} {pct(t, 0.95):>8.2f}")
    print(
        f"  sweep        fire_due_timers(limit={k}) of {due} due: {fired} fired in {sweep_s:.2f} s "
        f"= {sweep_rate:.1f} cases/s (one process)"
    )
    status_p95 = pct(t_status, 0.95)
    task_p95 = pct(t_task, 0.95) if t_task else float("nan")
    print(
        f"p95 ms inbox/search/status/task page: {max(inbox_p95):.1f}/{max(search_p95):.1f}/{status_p95:.1f}/"
        f"{task_p95:.1f} sweep/s: {sweep_rate:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
