"""Statistics of the green channel (issue 14): what came in, how it ended, how long each desk took, whether the
time limits were kept, what applicants rated — for one period and one scope, as plain data.

Two halves:
- `refresh` keeps a read model (`stat_case`, `stat_step`) in step with the cases: a case whose `event_seq` moved
  since its row was written is recomputed from the case and its audit events. The worker runs it every round; a
  page shows the age of the last run (`last_refresh`). At 100,000 cases / 1.1 M events reading the events per
  request costs seconds, grouping the narrow rows costs milliseconds (README, Performance).
- `figures` groups the read model for a `Filters` within an actor's scope (`queries.case_scope`), and `drill_cases`
  lists the cases behind one bar. The web pages, the exports and the quarterly report all call these.

Definitions (the tests compute them by hand):
- received: cases whose application came in (created) within the period; every other count is of those cases.
- cycle time: working days (legal calendar) from the day received to the day closed, the day received not counted;
  p50/p90 are nearest-rank percentiles over completed (办结) cases.
- dwell: working days a step stayed on its desk, from the day it opened to the day it was completed.
- on time (承诺时限): a case closed (办结, 不予批准 or 终止) on or before its promised date; withdrawn cases are left out.
- on time (备案, R6): a completed case with a 备案 due date, closed on or before it.
- overdue now: cases with an open step past its due date today, within the scope and the unit/procedure/category
  filters but whatever the period (it is about today; read live, not from the read model).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, false, func, insert, literal, null, or_, select, text, tuple_, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import True_

from workflows.domain.actors import REGION_ROLES, Actor
from workflows.domain.clock import as_utc, local_day, now_utc, today_local
from workflows.domain.legal_time import LegalCalendar
from workflows.domain.models import (
    Case,
    CaseEvent,
    OpenTask,
    QuotaPool,
    Rating,
    StatCase,
    StatMonth,
    StatMonthCycle,
    StatMonthStep,
    StatOpen,
    StatRefresh,
    StatSnapshot,
    StatStep,
    Unit,
)
from workflows.domain.procedures import COMPLAINT_IDS, PROCEDURES
from workflows.infra.db import dialect_of
from workflows.services.queries import case_scope
from workflows.services.settings import load_calendar

STATUSES = ("completed", "refused", "terminated", "withdrawn")
# "refused" counts both refusals of the outcome vocabulary: 不予受理 (before acceptance) and 不予批准 (after)
REFUSED = ("not_accepted", "refused")
STATUS_LABELS = {
    "received": "收件",
    "accepted": "受理",
    "completed": "办结",
    "refused": "不予受理/批准",
    "terminated": "终止办理",
    "withdrawn": "撤回",
    "running": "在办",
}
DIMENSIONS = ("procedure", "unit", "dept", "category", "month")
DIMENSION_LABELS = {
    "procedure": "事项",
    "unit": "用人单位",
    "dept": "主管部门",
    "category": "人才类别",
    "month": "月份",
}
EVENT_ACTIONS = ("accepted", "breach", "message", "quota", "task_opened", "task_completed")
BATCH = 2000


# ----------------------------------------------------------------------------------------------------------------
# refresh: the read model
# ----------------------------------------------------------------------------------------------------------------


class WorkdayIndex:
    """Working days between two dates in O(1): a running count of working days per day, built once per refresh
    (the legal calendar's own `working_days_between` walks day by day)."""

    def __init__(self, calendar: LegalCalendar, first: date, last: date):
        self.first = first
        self.cum: list[int] = []
        n, d = 0, first
        while d <= last:
            n += calendar.is_working_day(d)
            self.cum.append(n)
            d += timedelta(days=1)

    def between(self, a: date, b: date) -> int:
        """Working days in (a, b]; 0 when b <= a (the same as LegalCalendar.working_days_between)."""
        if b <= a:
            return 0
        i, j = (a - self.first).days, (b - self.first).days
        return self.cum[min(j, len(self.cum) - 1)] - self.cum[max(min(i, len(self.cum) - 1), 0)]


REFRESH_LOCK = 14_0004  # pg advisory lock key of the read model's refresh (issue 14 item 4)


def refresh_lock(session: Session) -> bool:
    """Take the right to refresh the read model until the transaction ends; False: another process has it now."""
    if dialect_of(session) != "postgresql":
        return True  # SQLite: the write transaction's lock
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(REFRESH_LOCK))))


def refresh(session: Session, *, full: bool = False, limit: int | None = None) -> int:
    """Recompute the rows of every case that changed since its row was written (all of them with `full`); the
    caller commits. Returns how many cases were recomputed: 0 also when another process is refreshing right now
    (PostgreSQL: a transaction-scoped advisory lock; two workers recomputing the same case would both insert its
    row, and the second would fail on the key; SQLite's write lock serialises them anyway)."""
    if not refresh_lock(session):
        return 0
    started = time.perf_counter()
    if full:
        session.execute(delete(StatStep))
        session.execute(delete(StatCase))
    stale = (
        select(Case.id)
        .outerjoin(StatCase, StatCase.case_id == Case.id)
        .where(or_(StatCase.case_id.is_(None), StatCase.event_seq != Case.event_seq))
        .order_by(Case.id)
    )
    if limit is not None:
        stale = stale.limit(limit)
    ids = list(session.scalars(stale))
    if ids:
        calendar = load_calendar(session)
        first = session.scalar(select(func.min(Case.created_at)))
        start = local_day(first) - timedelta(days=1) if first else today_local()
        index = WorkdayIndex(calendar, start, today_local() + timedelta(days=400))
        parents: dict[str, str | None] = {r[0]: r[1] for r in session.execute(select(Unit.code, Unit.parent_code))}
        cells: set[tuple] = set()
        for i in range(0, len(ids), BATCH):
            batch = ids[i : i + BATCH]
            cells |= _cells_of(session, batch)  # where the cases were counted (a corrected category moves them)
            _refresh_batch(session, batch, index, parents)
            cells |= _cells_of(session, batch)
        # the pre-aggregate's cells of these cases, in the same transaction: never out of step with the read model
        _rebuild_cells(session, None if full else cells)
    elif full:
        _rebuild_cells(session, None)
    session.add(StatRefresh(at=now_utc(), cases=len(ids), seconds=round(time.perf_counter() - started, 3)))
    return len(ids)


def _refresh_batch(session: Session, ids: list[int], index: WorkdayIndex, parents: dict[str, str | None]) -> None:
    cases = session.execute(
        select(
            Case.id,
            Case.event_seq,
            Case.procedure,
            Case.unit_code,
            Case.start_data,
            Case.created_at,
            Case.accepted_on,
            Case.closed_at,
            Case.status,
            Case.promised_on,
            Case.filing_due_on,
        ).where(Case.id.in_(ids))
    ).all()
    events: dict[int, list] = defaultdict(list)
    for row in session.execute(
        select(CaseEvent.case_id, CaseEvent.at, CaseEvent.action, CaseEvent.task_name, CaseEvent.rule_id)
        .where(CaseEvent.case_id.in_(ids), CaseEvent.action.in_(EVENT_ACTIONS))
        .order_by(CaseEvent.case_id, CaseEvent.seq)
    ):
        events[row.case_id].append(row)
    # the few payload fields needed: the quota source and each opened step's role (without the completed steps'
    # form data, which is most of the payload bytes)
    payloads: dict[tuple[int, str], list] = defaultdict(list)
    for case_id, action, payload in session.execute(
        select(CaseEvent.case_id, CaseEvent.action, CaseEvent.payload)
        .where(CaseEvent.case_id.in_(ids), CaseEvent.action.in_(("quota", "task_opened")))
        .order_by(CaseEvent.case_id, CaseEvent.seq)
    ):
        payloads[(case_id, action)].append(payload or {})
    stars: dict[int, int] = {
        r[0]: r[1] for r in session.execute(select(Rating.case_id, Rating.stars).where(Rating.case_id.in_(ids)))
    }

    session.execute(delete(StatStep).where(StatStep.case_id.in_(ids)))
    session.execute(delete(StatCase).where(StatCase.case_id.in_(ids)))
    case_rows, step_rows = [], []
    for c in cases:
        received = local_day(c.created_at)
        closed = local_day(c.closed_at) if c.closed_at else None
        category = (c.start_data or {}).get("talent_category")
        common = {
            "procedure": c.procedure,
            "unit_code": c.unit_code,
            "dept_code": parents.get(c.unit_code),
            "category": str(category) if category not in (None, "") else None,
            "received_on": received,
        }
        accept_mode = rongque = quota_source = None
        objection = False
        opened: dict[str, list[date]] = defaultdict(list)
        roles = iter(payloads.get((c.id, "task_opened"), []))
        role_of: dict[str, str | None] = {}
        for ev in events.get(c.id, []):
            day = local_day(ev.at)
            if ev.action == "accepted":
                accept_mode = "instant" if ev.rule_id == "R2" else "rongque" if ev.rule_id == "R3" else accept_mode
            elif ev.action == "breach":
                rongque = "lapsed"
            elif ev.action == "message" and ev.rule_id == "R3":
                rongque = rongque or "kept"
            elif ev.action == "message" and ev.task_name == "objection":
                objection = True
            elif ev.action == "task_opened":
                opened[ev.task_name or ""].append(day)
                opened_payload: dict[str, Any] = next(roles, {})
                role_of[ev.task_name or ""] = opened_payload.get("role")
            elif ev.action == "task_completed":
                name = ev.task_name or ""
                start = opened[name].pop(0) if opened[name] else received
                step_rows.append(
                    common
                    | {
                        "case_id": c.id,
                        "task_name": name,
                        "role": role_of.get(name),
                        "opened_on": start,
                        "completed_on": day,
                        "dwell_wd": index.between(start, day),
                    }
                )
        for q in payloads.get((c.id, "quota"), []):
            quota_source = q.get("source") or quota_source
        if accept_mode == "rongque" and rongque is None:
            rongque = "pending"
        ended = c.status in ("completed", *REFUSED, "terminated")
        case_rows.append(
            common
            | {
                "case_id": c.id,
                "event_seq": c.event_seq,
                "month": received.strftime("%Y-%m"),
                "accepted_on": c.accepted_on,
                "closed_on": closed,
                "status": c.status,
                "accept_mode": accept_mode,
                "rongque": rongque,
                "cycle_wd": index.between(received, closed) if closed and ended else None,
                "promised_on": c.promised_on,
                "on_time": (closed <= c.promised_on) if closed and ended and c.promised_on else None,
                "filing_due_on": c.filing_due_on,
                "filing_on_time": (closed <= c.filing_due_on)
                if closed and c.status == "completed" and c.filing_due_on
                else None,
                "objection": objection,
                "quota_source": quota_source,
                "stars": stars.get(c.id),
            }
        )
    if case_rows:
        session.execute(insert(StatCase), case_rows)
    if step_rows:
        session.execute(insert(StatStep), step_rows)


def last_refresh(session: Session) -> StatRefresh | None:
    return session.scalar(select(StatRefresh).order_by(StatRefresh.id.desc()).limit(1))


ROUND_LIMIT = 2000  # cases a worker round recomputes at most: a first build of 100,000 never holds up the timers


def refresh_round(factory, keep: int = 200, snapshot_seconds: int = 300, limit: int = ROUND_LIMIT) -> int:
    """One worker round: refresh up to `limit` changed cases of the read model in its own transaction (keeping the
    last `keep` refresh records), then, once it has caught up, recompute the default view of every scope in another
    when the snapshots are older than `snapshot_seconds` (or something changed and they are older than a minute)."""
    from workflows.infra.db import transaction

    with factory() as session, transaction(session):
        n = refresh(session, limit=limit)
        last = session.scalar(select(func.max(StatRefresh.id)))
        if last and last > keep:
            session.execute(delete(StatRefresh).where(StatRefresh.id <= last - keep))
    with factory() as session:
        oldest = session.scalar(select(func.min(StatSnapshot.at)))
        age = (now_utc() - as_utc(oldest)).total_seconds() if oldest else None
        session.commit()
        if n < limit and (age is None or age > snapshot_seconds or (n and age > 60)):
            with transaction(session):
                refresh_snapshots(session)
    return n


def default_filters(today: date | None = None) -> Filters:
    """The view a page opens with: cases received in the last twelve months."""
    return Filters(date_from=(today or today_local()) - timedelta(days=365))


def snapshot_key(actor: Actor, f: Filters, today: date | None = None) -> str | None:
    """The snapshot that answers this actor and these filters, if any: the default view of the region or of a
    主管部门 (the scopes the statistics pages serve)."""
    if f != default_filters(today):
        return None
    if actor.role in ("hrss", "bianban", "admin"):
        return "region"
    if actor.role == "dept" and actor.unit_code:
        return f"dept:{actor.unit_code}"
    return None


def refresh_snapshots(session: Session, today: date | None = None) -> int:
    """Compute the default view of the region and of each 主管部门 and keep it (the caller commits). Skipped (0)
    while another worker refreshes: two of them replacing `stat_open` at once would each keep their own rows."""
    if not refresh_lock(session):
        return 0
    today = today or today_local()
    f = default_filters(today)
    _rebuild_open(session, today)  # first: the snapshots count the open steps from it
    scopes = {"region": Actor("statistics", "hrss")}
    for code in session.scalars(select(Unit.code).where(Unit.kind == "dept")):
        scopes[f"dept:{code}"] = Actor("statistics", "dept", code)
    now = now_utc()
    for key, actor in scopes.items():
        data = _jsonable(figures(session, actor, f, today))
        row = session.get(StatSnapshot, key)
        if row is None:
            session.add(StatSnapshot(key=key, data=data, at=now))
        else:
            row.data, row.at = data, now
    return len(scopes)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def cached_figures(
    session: Session, actor: Actor, f: Filters, today: date | None = None
) -> tuple[dict, datetime | None]:
    """The figures from the worker's snapshot when one answers (with the time it was computed), else computed now
    from the read model (with None)."""
    today = today or today_local()
    key = snapshot_key(actor, f, today)
    row = session.get(StatSnapshot, key) if key else None
    if row is not None and row.data.get("today") == today.isoformat():
        data = dict(row.data)
        ratings = dict(data["ratings"])
        ratings["stars"] = {int(k): v for k, v in ratings["stars"].items()}
        data["ratings"] = ratings
        return data, row.at
    return figures(session, actor, f, today), None


# ----------------------------------------------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Filters:
    date_from: date | None = None  # received on or after
    date_to: date | None = None  # received on or before
    unit: str | None = None  # a unit's code, or a 主管部门's code (its units)
    procedure: str | None = None
    category: str | None = None

    def as_args(self) -> dict[str, str]:
        out = {
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "unit": self.unit or "",
            "procedure": self.procedure or "",
            "category": self.category or "",
        }
        return {k: v for k, v in out.items() if v}


def _conditions(model, actor: Actor, f: Filters) -> list:
    """The filters and the actor's scope as conditions on StatCase or StatStep (same filter columns)."""
    # the green-channel procedures only: the 权益保障 window's complaints are reported in the 季度调度通报
    conds: list = [model.procedure.notin_(sorted(COMPLAINT_IDS))]
    # the scope on the read model's own columns where they say it (queries.case_scope, restated): the region's desks
    # see every case but complaints — the condition above —, a 主管部门 its own and its units' (a semi-join of the
    # read model with `cases` cost 100–200 ms per query at 100,000 cases); any other role through the cases
    if actor.role == "dept" and actor.unit_code:
        own = select(Unit.code).where(or_(Unit.code == actor.unit_code, Unit.parent_code == actor.unit_code))
        conds.append(model.unit_code.in_(own))
    elif not (actor.sees_everything or actor.role in REGION_ROLES):
        scope = case_scope(actor)
        if not isinstance(scope, True_):
            conds.append(model.case_id.in_(select(Case.id).where(scope)))
    if f.date_from:
        conds.append(model.received_on >= f.date_from)
    if f.date_to:
        conds.append(model.received_on <= f.date_to)
    if f.unit:
        conds.append(or_(model.unit_code == f.unit, model.dept_code == f.unit))
    if f.procedure:
        conds.append(model.procedure == f.procedure)
    if f.category:
        conds.append(model.category.is_(None) if f.category == "none" else model.category == f.category)
    return conds


def percentile(histogram: dict[int, int], p: float) -> int | None:
    """Nearest-rank percentile of a {value: count} histogram: the smallest value with at least p % of the values at
    or below it."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = max(1, -(-total * p // 100))  # ceil
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return None


def _share(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _count(cond) -> Any:
    return func.count().filter(cond)


_DIM_COLUMNS = {
    "procedure": StatCase.procedure,
    "unit": StatCase.unit_code,
    "dept": StatCase.dept_code,
    "category": StatCase.category,
    "month": StatCase.month,
}


def _labels(session: Session) -> dict[str, dict]:
    units: dict[str, str] = {r[0]: r[1] for r in session.execute(select(Unit.code, Unit.name))}
    return {
        "procedure": {p.id: p.name for p in PROCEDURES.values()},
        "unit": units,
        "dept": units,
        "category": {str(i): f"第{i}类" for i in range(1, 8)},
        "month": {},
    }


def label(labels: dict, dim: str, key: str | None) -> str:
    if key is None:
        return "未分类" if dim == "category" else "（无）"
    return labels.get(dim, {}).get(key, key)


_DIM_SETS: dict[str, tuple] = {
    "procedure": (StatCase.procedure,),
    "unit": (StatCase.unit_code,),
    "dept": (StatCase.dept_code,),
    "category": (StatCase.category,),
    "month": (StatCase.month,),
}
_HISTOGRAM_SETS: dict[str, tuple] = {"stars": (StatCase.stars,), "cycle": (StatCase.procedure, StatCase.cycle_wd)}


def _grouped(
    session: Session, conds: list, sets: dict[str, tuple], aggregates: list
) -> dict[str, list[tuple[tuple, tuple]]]:
    """The aggregates grouped by each of `sets`: {set: [(key values, aggregate values)]}. On PostgreSQL one scan
    with GROUPING SETS (the read model is read once for all the charts, not once per chart); elsewhere one query
    per set. Few aggregates per query: every set computes all of them for every row."""
    out: dict[str, list[tuple[tuple, tuple]]] = {name: [] for name in sets}
    if len(sets) == 1 or session.get_bind().dialect.name != "postgresql":
        for name, cols in sets.items():
            q = select(*cols, *aggregates).where(*conds)
            for r in session.execute(q.group_by(*cols) if cols else q):
                out[name].append((tuple(r[: len(cols)]), tuple(r[len(cols) :])))
        return out
    columns: list = []
    for cols in sets.values():
        columns += [c for c in cols if not any(c is x for x in columns)]
    n = len(columns)
    mask_of = {}  # GROUPING(...) bit i (from the left) is 1 when column i is not grouped in the set
    positions = {}
    for name, cols in sets.items():
        mask_of[sum(1 << (n - 1 - i) for i, c in enumerate(columns) if not any(c is x for x in cols))] = name
        positions[name] = [next(i for i, x in enumerate(columns) if x is c) for c in cols]
    grouping_sets = [tuple_(*cols) if cols else text("()") for cols in sets.values()]
    q = select(func.grouping(*columns), *columns, *aggregates).where(*conds)
    for r in session.execute(q.group_by(func.grouping_sets(*grouping_sets))):
        name = mask_of[r[0]]
        out[name].append((tuple(r[1 + i] for i in positions[name]), tuple(r[1 + n :])))
    return out


# What a page counts, by name: the condition on a case (None: every case). The read model's direct queries and the
# monthly pre-aggregate (`stat_month`, one column per name) count the same.
COUNT_KEYS = ("received", "accepted", "completed", "refused", "terminated", "withdrawn")
COUNT_CONDITIONS: dict[str, Any] = {
    "received": None,
    "accepted": StatCase.accepted_on.is_not(None),
    "completed": StatCase.status == "completed",
    "refused": StatCase.status.in_(REFUSED),
    "terminated": StatCase.status == "terminated",
    "withdrawn": StatCase.status == "withdrawn",
    "instant": StatCase.accept_mode == "instant",
    "rongque": StatCase.accept_mode == "rongque",
    "kept": StatCase.rongque == "kept",
    "lapsed": StatCase.rongque == "lapsed",
    "pending": StatCase.rongque == "pending",
    "promised_n": StatCase.on_time.is_not(None),
    "promised_ok": StatCase.on_time.is_(True),
    "filing_n": StatCase.filing_on_time.is_not(None),
    "filing_ok": StatCase.filing_on_time.is_(True),
    "objections": StatCase.objection.is_(True),
    "objections_ended": and_(StatCase.objection.is_(True), StatCase.status.in_((*REFUSED, "terminated"))),
    "q_own": StatCase.quota_source == "own",
    "q_pool": StatCase.quota_source == "pool",
    "q_none": StatCase.quota_source == "none",
    **{f"stars_{i}": StatCase.stars == i for i in range(1, 6)},
}
TOTAL_KEYS = tuple(k for k in COUNT_CONDITIONS if not k.startswith("stars_"))  # COUNT_KEYS first


def _counts(names) -> list:
    return [func.count() if COUNT_CONDITIONS[n] is None else _count(COUNT_CONDITIONS[n]) for n in names]


_CYCLED = (StatCase.status == "completed", StatCase.cycle_wd.is_not(None))
_OWNER = func.coalesce(StatCase.dept_code, StatCase.unit_code)  # a cell's owner: the 主管部门, or the unit without one


def _from_read_model(session: Session, actor: Actor, f: Filters, conds: list, only: tuple = ()):
    """(dimension groups, totals, stars, cycle rows, dwell rows) grouped from the read model on the spot (`only`
    ("cycle",): the cycle and step histograms alone, the rest empty)."""
    cycle_count = _count(and_(*_CYCLED))
    histograms = {"cycle": _HISTOGRAM_SETS["cycle"]} if only else _HISTOGRAM_SETS
    groups = {
        **({} if only else _grouped(session, conds, _DIM_SETS, _counts(COUNT_KEYS))),
        **({} if only else _grouped(session, conds, {"total": ()}, _counts(TOTAL_KEYS))),
        **_grouped(session, conds, histograms, [func.count(), cycle_count]),
    }
    totals = list(groups["total"][0][1]) if groups.get("total") else [0] * len(TOTAL_KEYS)
    stars = {k[0]: r[0] for k, r in groups.get("stars", []) if k[0] is not None}
    cycle_rows = [(proc, wd, r[-1]) for (proc, wd), r in groups["cycle"]]
    dwell_rows = session.execute(
        select(StatStep.task_name, StatStep.role, StatStep.dwell_wd, func.count())
        .where(*_conditions(StatStep, actor, f))
        .group_by(StatStep.task_name, StatStep.role, StatStep.dwell_wd)
    ).all()
    return {d: groups.get(d, []) for d in DIMENSIONS}, totals, stars, cycle_rows, dwell_rows


# ---- the monthly pre-aggregate ---------------------------------------------------------------------------------
# Grouping 100,000 rows of the read model per request costs 230–500 ms for the region (README, Performance); the same
# counts summed per month × procedure × unit × category are ~10,000 rows (cycle and step histograms per month ×
# procedure × 主管部门 × category). A view whose scope and filters are whole cells of it — the region or a 主管部门, a
# procedure, a category, a 主管部门 (or unit without one) as filter — adds the cells of its whole months and groups the
# read model only for the part-months at the edges of its period (the default view's first 24 days, say). A unit
# under a 主管部门 as filter, or any other scope, is grouped from the read model (one unit's cases: fast already).


@dataclass(frozen=True)
class _Plan:
    owner: str | None  # the scope's owner (a 主管部门's code), None: the region
    months: tuple[str | None, str | None] | None  # whole months [from, to) as YYYY-MM; None: none whole
    edges: tuple[tuple[date | None, date | None], ...]  # part-months, from the read model
    # a unit under a 主管部门 as the filter: its counts are cells of stat_month (by unit), its cycle and step
    # histograms and its open steps are read from the read model (their aggregates stop at the 主管部门)
    unit: str | None = None


def _month_start(d: date, after: bool) -> date:
    """The first day of d's month, or of the next month (`after`)."""
    first = d.replace(day=1)
    return (first + timedelta(days=32)).replace(day=1) if after else first


def _month_split(lo: date | None, hi: date | None) -> tuple[tuple[str | None, str | None] | None, tuple]:
    """The whole months within [lo, hi] as [from, to) month keys, and the part-months at its edges as date ranges."""
    start = lo if lo is None or lo.day == 1 else _month_start(lo, True)
    stop = None if hi is None else _month_start(hi, after=(hi + timedelta(days=1)).day == 1)
    if start is not None and stop is not None and start >= stop:
        return None, ((lo, hi),)
    edges = []
    if lo is not None and start is not None and start != lo:
        edges.append((lo, start - timedelta(days=1)))
    if hi is not None and stop is not None and stop <= hi:
        edges.append((stop, hi))
    key = lambda d: d.strftime("%Y-%m") if d else None  # noqa: E731
    return (key(start), key(stop)), tuple(edges)


def _aggregate_plan(session: Session, actor: Actor, f: Filters) -> _Plan | None:
    if actor.sees_everything or actor.role in REGION_ROLES:
        owner = None
    elif actor.role == "dept" and actor.unit_code:
        owner = actor.unit_code
    else:
        return None
    unit = session.get(Unit, f.unit) if f.unit else None
    if f.unit and unit is None:
        return None
    months, edges = _month_split(f.date_from, f.date_to)
    return _Plan(owner, months, edges, unit=f.unit if unit is not None and unit.parent_code is not None else None)


def _cell_conditions(model, plan: _Plan, f: Filters, months: bool = True) -> list:
    conds: list = []
    if not months:
        pass  # what is open now: whatever the period
    elif plan.months is not None:
        lo, hi = plan.months
        conds += [model.month >= lo] if lo else []
        conds += [model.month < hi] if hi else []
    else:
        conds.append(false())
    if plan.owner:
        conds.append(model.owner == plan.owner)
    if plan.unit:
        conds.append(model.unit_code == plan.unit)  # (stat_month only: the other aggregates are not asked)
    elif f.unit:
        conds.append(model.owner == f.unit)
    if f.procedure:
        conds.append(model.procedure == f.procedure)
    if f.category:
        conds.append(model.category.is_(None) if f.category == "none" else model.category == f.category)
    return conds


def _edge_filters(f: Filters, lo: date | None, hi: date | None) -> Filters:
    return Filters(date_from=lo, date_to=hi, unit=f.unit, procedure=f.procedure, category=f.category)


def _from_aggregate(session: Session, actor: Actor, f: Filters, plan: _Plan):
    """The same as _from_read_model, from the whole months' cells plus the part-months grouped on the spot."""
    grain = (StatCase.month, StatCase.procedure, StatCase.unit_code, StatCase.dept_code, StatCase.category)
    cells = union_all(
        select(
            StatMonth.month,
            StatMonth.procedure,
            StatMonth.unit_code,
            StatMonth.dept_code,
            StatMonth.category,
            *(getattr(StatMonth, k) for k in COUNT_CONDITIONS),
        ).where(*_cell_conditions(StatMonth, plan, f)),
        *(
            select(*grain, *_counts(COUNT_CONDITIONS))
            .where(*_conditions(StatCase, actor, _edge_filters(f, lo, hi)))
            .group_by(*grain)
            for lo, hi in plan.edges
        ),
    ).subquery("cells")
    sets = {
        "procedure": (cells.c.procedure,),
        "unit": (cells.c.unit_code,),
        "dept": (cells.c.dept_code,),
        "category": (cells.c.category,),
        "month": (cells.c.month,),
        "total": (),
    }
    groups = _grouped(session, [], sets, [func.coalesce(func.sum(cells.c[k]), 0) for k in COUNT_CONDITIONS])
    row = groups["total"][0][1] if groups["total"] else (0,) * len(COUNT_CONDITIONS)
    sums = dict(zip(COUNT_CONDITIONS, (int(v or 0) for v in row)))
    dims = {d: [(k, tuple(int(v) for v in r[:6])) for k, r in groups[d] if r[0]] for d in DIMENSIONS}
    stars = {i: sums[f"stars_{i}"] for i in range(1, 6) if sums[f"stars_{i}"]}

    if plan.unit:  # one unit's cases: its histograms straight from the read model (indexed by unit)
        _n, _t, _s, cycle_rows, dwell_rows = _from_read_model(
            session, actor, f, _conditions(StatCase, actor, f), ("cycle",)
        )
        return dims, [sums[k] for k in TOTAL_KEYS], stars, cycle_rows, dwell_rows
    cyc = union_all(
        select(StatMonthCycle.procedure, StatMonthCycle.cycle_wd, StatMonthCycle.n).where(
            *_cell_conditions(StatMonthCycle, plan, f)
        ),
        *(
            select(StatCase.procedure, StatCase.cycle_wd, func.count())
            .where(*_conditions(StatCase, actor, _edge_filters(f, lo, hi)), *_CYCLED)
            .group_by(StatCase.procedure, StatCase.cycle_wd)
            for lo, hi in plan.edges
        ),
    ).subquery("cyc")
    cycle_rows = session.execute(
        select(cyc.c.procedure, cyc.c.cycle_wd, func.sum(cyc.c.n)).group_by(cyc.c.procedure, cyc.c.cycle_wd)
    ).all()
    step_cols = (StatStep.task_name, StatStep.role, StatStep.dwell_wd)
    stp = union_all(
        select(StatMonthStep.task_name, StatMonthStep.role, StatMonthStep.dwell_wd, StatMonthStep.n).where(
            *_cell_conditions(StatMonthStep, plan, f)
        ),
        *(
            select(*step_cols, func.count())
            .where(*_conditions(StatStep, actor, _edge_filters(f, lo, hi)))
            .group_by(*step_cols)
            for lo, hi in plan.edges
        ),
    ).subquery("stp")
    dwell_rows = session.execute(
        select(stp.c.task_name, stp.c.role, stp.c.dwell_wd, func.sum(stp.c.n)).group_by(
            stp.c.task_name, stp.c.role, stp.c.dwell_wd
        )
    ).all()
    return dims, [sums[k] for k in TOTAL_KEYS], stars, [(p, w, int(n)) for p, w, n in cycle_rows], dwell_rows


OPEN_KEY = "open_tasks"  # the stat_snapshot row that says when stat_open was counted, and for which day


def _rebuild_open(session: Session, today: date) -> None:
    """Count the open steps per cell now (the caller commits)."""
    session.execute(delete(StatOpen))
    cell = (StatCase.procedure, _OWNER, StatCase.category)
    overdue = and_(OpenTask.due_on.is_not(None), OpenTask.due_on < today)
    joined = (
        select(*cell)
        .select_from(OpenTask)
        .join(StatCase, StatCase.case_id == OpenTask.case_id)
        .where(StatCase.procedure.notin_(sorted(COMPLAINT_IDS)))
    )
    names = ["procedure", "owner", "category", "title", "n_open", "n_overdue"]
    session.execute(
        insert(StatOpen).from_select(
            names, joined.add_columns(OpenTask.title, func.count(), _count(overdue)).group_by(*cell, OpenTask.title)
        )
    )
    late_cases = func.count(func.distinct(OpenTask.case_id)).filter(overdue)
    session.execute(
        insert(StatOpen).from_select(names, joined.add_columns(null(), literal(0), late_cases).group_by(*cell))
    )
    row = session.get(StatSnapshot, OPEN_KEY)
    data, now = {"today": today.isoformat()}, now_utc()
    if row is None:
        session.add(StatSnapshot(key=OPEN_KEY, data=data, at=now))
    else:
        row.data, row.at = data, now


def _open_from_aggregate(session: Session, plan: _Plan, f: Filters, today: date):
    """({title: (open, overdue)}, overdue cases, counted at) from stat_open when it was counted today, else None."""
    row = session.get(StatSnapshot, OPEN_KEY)
    if row is None or (row.data or {}).get("today") != today.isoformat():
        return None
    open_now: dict[str, tuple[int, int]] = {}
    overdue_now = 0
    for title, n_open, n_over in session.execute(
        select(StatOpen.title, func.sum(StatOpen.n_open), func.sum(StatOpen.n_overdue))
        .where(*_cell_conditions(StatOpen, plan, f, months=False))
        .group_by(StatOpen.title)
    ):
        if title is None:
            overdue_now = int(n_over or 0)
        else:
            open_now[title] = (int(n_open), int(n_over))
    return open_now, overdue_now, row.at


def _cell_key(model, owner=None) -> Any:
    """A cell of the pre-aggregate: month, procedure, owner, category ('' for none: NULL matches nothing in IN)."""
    return tuple_(
        model.month, model.procedure, model.owner if owner is None else owner, func.coalesce(model.category, "")
    )


def _cells_of(session: Session, ids: list[int]) -> set[tuple]:
    key = (StatCase.month, StatCase.procedure, _OWNER, func.coalesce(StatCase.category, ""))
    return {tuple(r) for r in session.execute(select(*key).where(StatCase.case_id.in_(ids)).distinct())}


CELL_CHUNK = 500  # cells per statement (4 bound values each: within SQLite's and PostgreSQL's limits)


def _rebuild_cells(session: Session, cells: set[tuple] | None) -> None:
    """Recompute these cells of the pre-aggregate (None: all of them) from the read model; the caller commits. A
    worker round that recomputed 200 cases rebuilds their few hundred cells, not their months."""
    if cells is None:
        for model in (StatMonth, StatMonthCycle, StatMonthStep):
            session.execute(delete(model))
        _insert_cells(session, [])
        return
    keys = sorted(cells, key=lambda k: tuple(str(x) for x in k))
    for i in range(0, len(keys), CELL_CHUNK):
        chunk = keys[i : i + CELL_CHUNK]
        for model in (StatMonth, StatMonthCycle, StatMonthStep):
            session.execute(delete(model).where(_cell_key(model).in_(chunk)))
        _insert_cells(session, [_cell_key(StatCase, _OWNER).in_(chunk)])


def _insert_cells(session: Session, only: list) -> None:
    only = [StatCase.procedure.notin_(sorted(COMPLAINT_IDS)), *only]
    grain = (StatCase.month, StatCase.procedure, StatCase.unit_code, StatCase.dept_code, StatCase.category)
    session.execute(
        insert(StatMonth).from_select(
            ["month", "procedure", "unit_code", "dept_code", "category", "owner", *COUNT_CONDITIONS],
            select(*grain, _OWNER, *_counts(COUNT_CONDITIONS)).where(*only).group_by(*grain),
        )
    )
    cgrain = (StatCase.month, StatCase.procedure, _OWNER, StatCase.category, StatCase.cycle_wd)
    session.execute(
        insert(StatMonthCycle).from_select(
            ["month", "procedure", "owner", "category", "cycle_wd", "n"],
            select(*cgrain, func.count()).where(*only, *_CYCLED).group_by(*cgrain),
        )
    )
    # a step counts in its case's cell (the step row carries the same procedure, unit and category)
    sgrain = (
        StatCase.month,
        StatCase.procedure,
        _OWNER,
        StatCase.category,
        StatStep.task_name,
        StatStep.role,
        StatStep.dwell_wd,
    )
    session.execute(
        insert(StatMonthStep).from_select(
            ["month", "procedure", "owner", "category", "task_name", "role", "dwell_wd", "n"],
            select(*sgrain, func.count())
            .select_from(StatStep)
            .join(StatCase, StatCase.case_id == StatStep.case_id)
            .where(*only)
            .group_by(*sgrain),
        )
    )


def _open_now(session: Session, actor: Actor, f: Filters, today: date) -> tuple[dict[str, tuple[int, int]], int]:
    """({title: (open, overdue)}, cases with an overdue step) counted live: the scope and the filters but the period
    (what is open now is about today), no join without them."""
    now_conds = _conditions(StatCase, actor, Filters(unit=f.unit, procedure=f.procedure, category=f.category))
    overdue = and_(OpenTask.due_on.is_not(None), OpenTask.due_on < today).label("overdue")
    tasks_q = select(OpenTask.title, OpenTask.case_id, overdue)
    if now_conds:
        tasks_q = tasks_q.join(StatCase, StatCase.case_id == OpenTask.case_id).where(*now_conds)
    tasks = tasks_q.cte("now_tasks")  # read once (the join is most of the cost), counted twice
    per_title = select(tasks.c.title, func.count(), _count(tasks.c.overdue)).group_by(tasks.c.title)
    overdue_cases = select(
        null().label("title"), func.count(func.distinct(tasks.c.case_id)).filter(tasks.c.overdue), literal(0)
    )
    open_now: dict[str, tuple[int, int]] = {}
    overdue_now = 0
    for title, n_open, n_over in session.execute(per_title.union_all(overdue_cases)):
        if title is None:
            overdue_now = n_open
        else:
            open_now[title] = (n_open, n_over)
    return open_now, overdue_now or 0


def figures(session: Session, actor: Actor, f: Filters, today: date | None = None, *, aggregate: bool = True) -> dict:
    """Every figure of the statistics pages for the filters, within the actor's scope, as plain data: from the
    monthly pre-aggregate where the scope and filters allow (`aggregate`), else grouped from the read model."""
    today = today or today_local()
    conds = _conditions(StatCase, actor, f)
    labels = _labels(session)
    plan = _aggregate_plan(session, actor, f) if aggregate else None
    if plan is not None:
        dims, t, star_counts, cycle_rows, dwell_rows = _from_aggregate(session, actor, f, plan)
    else:
        dims, t, star_counts, cycle_rows, dwell_rows = _from_read_model(session, actor, f, conds)
    keys = COUNT_KEYS

    by: dict[str, list[dict]] = {}
    for dim in DIMENSIONS:
        items = [
            {"key": k[0], "label": label(labels, dim, k[0])} | dict(zip(keys, r[:6]))
            for k, r in sorted(dims[dim], key=lambda kr: (kr[0][0] is None, kr[0][0] or ""))
        ]
        if dim in ("unit", "dept"):
            items.sort(key=lambda x: -x["received"])
        by[dim] = items
    totals = dict(zip(keys, t[:6]))
    (instant, rongque, kept, lapsed, pending, n_promised, promised_ok, n_filing, filing_ok) = t[6:15]
    objections, objections_ended, q_own, q_pool, q_none = t[15:20]

    # cycle time: a histogram per procedure (completed cases), percentiles in Python
    cycle_hist: dict[str, Counter] = defaultdict(Counter)
    for proc, wd, n in cycle_rows:
        if wd is not None and n:
            cycle_hist[proc][wd] += n
    overall: Counter = Counter()
    for h in cycle_hist.values():
        overall.update(h)
    cycle = [
        {
            "key": proc,
            "label": label(labels, "procedure", proc),
            "n": sum(h.values()),
            "p50": percentile(h, 50),
            "p90": percentile(h, 90),
        }
        for proc, h in sorted(cycle_hist.items())
    ]

    # dwell per step (completed steps) and what is open / overdue there now (live)
    dwell: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for name, role, wd, n in dwell_rows:
        dwell[(name, role or "")][wd] += int(n)
    # what is open now is about today, not the period: the worker's count when it is today's, else counted now
    counted = _open_from_aggregate(session, plan, f, today) if plan is not None and not plan.unit else None
    if counted is not None:
        open_now, overdue_now, open_at = counted
    else:
        (open_now, overdue_now), open_at = _open_now(session, actor, f, today), None
    steps = []
    for (name, role), h in dwell.items():
        n = sum(h.values())
        steps.append(
            {
                "key": name,
                "label": name,
                "role": role,
                "n": n,
                "mean": round(sum(v * c for v, c in h.items()) / n, 1),
                "p50": percentile(h, 50),
                "p90": percentile(h, 90),
                "open": open_now.get(name, (0, 0))[0],
                "overdue": open_now.get(name, (0, 0))[1],
            }
        )
    steps.sort(key=lambda s: (-(s["p90"] or 0), -s["mean"], s["key"], s["role"]))  # ties: by name
    low = session.execute(
        select(Case.case_no, Rating.stars, Rating.reason, Rating.created_at)
        .join(StatCase, StatCase.case_id == Rating.case_id)
        .join(Case, Case.id == Rating.case_id)
        .where(*conds, Rating.stars < 3)
        .order_by(Rating.created_at.desc())
        .limit(20)
    ).all()
    pool = session.execute(
        select(func.sum(QuotaPool.total), func.sum(QuotaPool.reserved), func.sum(QuotaPool.used)).where(
            QuotaPool.unit_code.is_(None)
        )
    ).one()
    accepted = totals["accepted"]
    return {
        "filters": f.as_args(),
        "today": today.isoformat(),
        "source": "aggregate" if plan is not None else "read_model",
        # when the worker counted the open steps (None: counted for this answer)
        "open_at": as_utc(open_at).isoformat() if open_at is not None else None,
        "totals": totals,
        "by": by,
        "acceptance": {
            "accepted": accepted,
            "instant": instant,
            "rongque": rongque,
            "instant_share": _share(instant, accepted),
            "rongque_share": _share(rongque, accepted),
        },
        "rongque": {"kept": kept, "lapsed": lapsed, "pending": pending, "kept_share": _share(kept, kept + lapsed)},
        "cycle": {
            "by_procedure": cycle,
            "n": sum(overall.values()),
            "p50": percentile(overall, 50),
            "p90": percentile(overall, 90),
        },
        "steps": steps,
        "on_time": {
            "promised_n": n_promised,
            "promised_ok": promised_ok,
            "promised_share": _share(promised_ok, n_promised),
            "filing_n": n_filing,
            "filing_ok": filing_ok,
            "filing_share": _share(filing_ok, n_filing),
        },
        "overdue_now": overdue_now or 0,
        "quota": {
            "own": q_own,
            "pool": q_pool,
            "none": q_none,
            "pool_total": pool[0] or 0,
            "pool_reserved": pool[1] or 0,
            "pool_used": pool[2] or 0,
        },
        "ratings": {
            "stars": {s: star_counts.get(s, 0) for s in range(1, 6)},
            "n": sum(star_counts.values()),
            "low": [
                {"case_no": r.case_no, "stars": r.stars, "reason": r.reason or "", "at": local_day(r.created_at)}
                for r in low
            ],
        },
        "objections": {"n": objections, "ended": objections_ended},
    }


# ----------------------------------------------------------------------------------------------------------------
# drill-down: the cases behind a figure
# ----------------------------------------------------------------------------------------------------------------

MEASURES: dict[str, Any] = {
    "received": lambda: None,
    "accepted": lambda: StatCase.accepted_on.is_not(None),
    "completed": lambda: StatCase.status == "completed",
    "refused": lambda: StatCase.status.in_(REFUSED),
    "terminated": lambda: StatCase.status == "terminated",
    "withdrawn": lambda: StatCase.status == "withdrawn",
    "instant": lambda: StatCase.accept_mode == "instant",
    "rongque": lambda: StatCase.accept_mode == "rongque",
    "kept": lambda: StatCase.rongque == "kept",
    "lapsed": lambda: StatCase.rongque == "lapsed",
    "late": lambda: StatCase.on_time.is_(False),
    "filing_late": lambda: StatCase.filing_on_time.is_(False),
    "objection": lambda: StatCase.objection.is_(True),
    "pool": lambda: StatCase.quota_source == "pool",
    "low_rating": lambda: StatCase.stars < 3,
}
MEASURE_LABELS = {
    "received": "收件",
    "accepted": "受理",
    "completed": "办结",
    "refused": "不予受理/批准",
    "terminated": "终止办理",
    "withdrawn": "撤回",
    "instant": "即收即办",
    "rongque": "容缺受理",
    "kept": "容缺承诺已履行",
    "lapsed": "容缺承诺逾期未履行",
    "late": "超过承诺时限办结",
    "filing_late": "超过备案一个月时限",
    "objection": "公示收到异议",
    "pool": "使用人才专项编制",
    "low_rating": "差评（三星以下）",
    "overdue": "当前逾期",
}


def drill_cases(
    session: Session,
    actor: Actor,
    f: Filters,
    measure: str = "received",
    dim: str | None = None,
    key: str | None = None,
    stars: int | None = None,
    step: str | None = None,
    today: date | None = None,
    limit: int = 200,
) -> tuple[int, list]:
    """The cases behind one figure (the filters, one dimension's key, one measure), newest first: (count, rows)."""
    conds = _conditions(StatCase, actor, f)
    if measure == "overdue":
        conds.append(StatCase.case_id.in_(select(OpenTask.case_id).where(OpenTask.due_on < (today or today_local()))))
    elif measure in MEASURES:
        cond = MEASURES[measure]()
        if cond is not None:
            conds.append(cond)
    else:
        conds.append(false())
    if dim in _DIM_COLUMNS:
        col = _DIM_COLUMNS[dim]
        conds.append(col.is_(None) if key in (None, "", "none") else col == key)
    if stars is not None:
        conds.append(StatCase.stars == stars)
    if step:
        conds.append(StatCase.case_id.in_(select(StatStep.case_id).where(StatStep.task_name == step)))
    total = session.scalar(select(func.count()).select_from(StatCase).where(*conds)) or 0
    rows = session.execute(
        select(
            Case.case_no,
            Case.applicant_name,
            Case.unit_code,
            Case.procedure,
            StatCase.status,
            StatCase.received_on,
            StatCase.closed_on,
            StatCase.cycle_wd,
            StatCase.promised_on,
        )
        .join(Case, Case.id == StatCase.case_id)
        .where(*conds)
        .order_by(StatCase.case_id.desc())
        .limit(limit)
    ).all()
    return total, list(rows)


# ----------------------------------------------------------------------------------------------------------------
# tables for export (CSV / XLSX): one sheet per figure
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Sheet:
    title: str
    header: list[str]
    rows: list[list] = field(default_factory=list)


def sheets(data: dict) -> list[Sheet]:
    """The figures as tables (Chinese headers), the same for CSV and XLSX."""
    counts = ["收件", "受理", "办结", "不予受理/批准", "终止办理", "撤回"]
    keys = ("received", "accepted", "completed", "refused", "terminated", "withdrawn")
    out = [Sheet("总计", counts, [[data["totals"][k] for k in keys]])]
    for dim in DIMENSIONS:
        out.append(
            Sheet(
                f"按{DIMENSION_LABELS[dim]}",
                [DIMENSION_LABELS[dim], "代码"] + counts,
                [[r["label"], r["key"] or ""] + [r[k] for k in keys] for r in data["by"][dim]],
            )
        )
    a, rq, ot, q = data["acceptance"], data["rongque"], data["on_time"], data["quota"]
    out.append(
        Sheet(
            "受理方式与时限",
            ["指标", "数值"],
            [
                ["受理", a["accepted"]],
                ["即收即办", a["instant"]],
                ["即收即办占比(%)", a["instant_share"]],
                ["容缺受理", a["rongque"]],
                ["容缺受理占比(%)", a["rongque_share"]],
                ["容缺承诺已履行", rq["kept"]],
                ["容缺承诺逾期未履行", rq["lapsed"]],
                ["容缺承诺履行中", rq["pending"]],
                ["按承诺时限办结(件)", ot["promised_ok"]],
                ["承诺时限考核件数", ot["promised_n"]],
                ["承诺时限按时率(%)", ot["promised_share"]],
                ["备案一个月内完成(件)", ot["filing_ok"]],
                ["备案时限考核件数", ot["filing_n"]],
                ["备案按时率(%)", ot["filing_share"]],
                ["当前逾期办件", data["overdue_now"]],
                ["办理周期p50(工作日)", data["cycle"]["p50"]],
                ["办理周期p90(工作日)", data["cycle"]["p90"]],
                ["使用本单位编制", q["own"]],
                ["使用人才专项编制", q["pool"]],
                ["待编办调剂", q["none"]],
                ["人才专项编制总数", q["pool_total"]],
                ["人才专项编制已预留", q["pool_reserved"]],
                ["人才专项编制已使用", q["pool_used"]],
                ["公示收到异议", data["objections"]["n"]],
                ["异议成立、未予办理", data["objections"]["ended"]],
            ],
        )
    )
    out.append(
        Sheet(
            "办理周期",
            ["事项", "办结件数", "p50(工作日)", "p90(工作日)"],
            [[c["label"], c["n"], c["p50"], c["p90"]] for c in data["cycle"]["by_procedure"]],
        )
    )
    out.append(
        Sheet(
            "环节用时",
            ["环节", "岗位", "完成次数", "平均(工作日)", "p50", "p90", "当前在办", "当前逾期"],
            [
                [s["label"], s["role"], s["n"], s["mean"], s["p50"], s["p90"], s["open"], s["overdue"]]
                for s in data["steps"]
            ],
        )
    )
    r = data["ratings"]
    out.append(Sheet("好差评", ["星级", "件数"], [[s, r["stars"][s]] for s in range(1, 6)]))
    out.append(
        Sheet(
            "差评原因",
            ["办件编号", "星级", "原因", "日期"],
            [[x["case_no"], x["stars"], x["reason"], str(x["at"])] for x in r["low"]],
        )
    )
    return out


def quarter_report(session: Session, actor: Actor, year: int, quarter: int, today: date | None = None) -> list[dict]:
    """The quarter's green-channel figures as sections of the 季度调度通报 (documents/templates/dispatch_report.html):
    each {title, rows: [[label, value]], chart: {title, categories, series: [(name, values)]} or None}. Data only —
    the web layer draws the charts (documents.charts) — over the cases received in the quarter, in `actor`'s scope."""
    first = date(year, 3 * quarter - 2, 1)
    last = date(year + quarter // 4, (3 * quarter) % 12 + 1, 1) - timedelta(days=1)
    data = figures(session, actor, Filters(date_from=first, date_to=last), today)
    t, a, rq, ot = data["totals"], data["acceptance"], data["rongque"], data["on_time"]
    by_procedure = [r for r in data["by"]["procedure"] if r["received"]]

    def pct(share: float | None) -> str:
        return "—" if share is None else f"{share}%"

    return [
        {
            "title": "（一）收件与办理",
            "rows": [
                ["收件", t["received"]],
                ["受理", t["accepted"]],
                ["办结", t["completed"]],
                ["不予受理/不予批准", t["refused"]],
                ["终止办理", t["terminated"]],
                ["撤回", t["withdrawn"]],
            ],
            "chart": {
                "title": "按事项：收件与办结",
                "categories": [r["label"] for r in by_procedure],
                "series": [
                    ("收件", [r["received"] for r in by_procedure]),
                    ("办结", [r["completed"] for r in by_procedure]),
                ],
            }
            if by_procedure
            else None,
        },
        {
            "title": "（二）受理方式与办理时限",
            "rows": [
                ["即收即办（件，占受理）", f"{a['instant']}（{pct(a['instant_share'])}）"],
                ["容缺受理（件，占受理）", f"{a['rongque']}（{pct(a['rongque_share'])}）"],
                ["容缺承诺已履行 / 逾期未履行 / 履行中", f"{rq['kept']} / {rq['lapsed']} / {rq['pending']}"],
                ["按承诺时限办结率", pct(ot["promised_share"])],
                ["一个月内完成备案率", pct(ot["filing_share"])],
                ["当前逾期办件", data["overdue_now"]],
            ],
            "chart": None,
        },
    ]
