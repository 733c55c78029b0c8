"""Statistics pages (issue 14) for 人社, 主管部门 (their units only), 编办 and administrators: figures from
`workflows.services.statistics` within the actor's scope, drawn with Apache ECharts (served from node_modules like
bpmn-js), every chart drilling down to its cases, exports to CSV and XLSX, and charts as server-side SVG."""

from __future__ import annotations

import io
from datetime import date, datetime

from flask import Blueprint, Response, abort, flash, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import or_, select

from documents.charts import bar_chart_svg
from webapp.db import db_session
from webapp.security import current_actor, roles_required
from workflows.domain.actors import REGION_ROLES, Actor
from workflows.domain.clock import LOCAL_TZ, as_utc, now_utc, today_local
from workflows.domain.models import Unit
from workflows.domain.procedures import PROCEDURES
from workflows.domain.spreadsheet import excel_csv, safe_cell
from workflows.services import statistics as stats

bp = Blueprint("statistics", __name__, url_prefix="/statistics")
STAT_ROLES = ("hrss", "dept", "bianban", "admin")
TOP = 15  # bars in the unit and 主管部门 charts (the tables and exports have them all)


# the procedures the statistics cover (the 权益保障 window's complaints are reported in the 季度调度通报)
def green_channel_procedures() -> dict[str, str]:
    """The procedures the statistics count (the published matters of 事项配置 among them), by name."""
    return {p.id: p.name for p in PROCEDURES.values() if p.kind != "complaint"}


def _filters() -> stats.Filters:
    """The filters of the query string; a bad value is dropped with a message (the page still answers)."""
    a = request.args
    f = stats.default_filters() if "from" not in a and "to" not in a else stats.Filters()
    for key, attr in (("from", "date_from"), ("to", "date_to")):
        value = a.get(key, "").strip()
        if value:
            try:
                setattr(f, attr, date.fromisoformat(value))
            except ValueError:
                flash(_("日期格式应为 YYYY-MM-DD：%(value)s", value=value[:20]), "error")
    if f.date_from and f.date_to and f.date_from > f.date_to:
        flash(_("起始日期晚于截止日期，已交换"), "error")
        f.date_from, f.date_to = f.date_to, f.date_from
    f.unit = a.get("unit", "").strip()[:32] or None
    procedure = a.get("procedure", "").strip()
    f.procedure = procedure if procedure in PROCEDURES else None
    category = a.get("category", "").strip()
    f.category = category if category in {str(i) for i in range(1, 8)} | {"none"} else None
    return f


def _unit_choices(actor: Actor) -> list[tuple[str, str]]:
    """Units (and 主管部门) the actor may filter by: a 主管部门 its own units, the region offices all."""
    q = select(Unit.code, Unit.name, Unit.kind).order_by(Unit.kind.desc(), Unit.code)
    if actor.role == "dept":
        q = q.where(or_(Unit.code == actor.unit_code, Unit.parent_code == actor.unit_code))
    elif actor.role not in REGION_ROLES and actor.role != "admin":
        return []
    return [(c, (n if k != "dept" else _("%(name)s（主管部门）", name=n))) for c, n, k in db_session().execute(q)]


def _drill(f: stats.Filters, **kw) -> str:
    return url_for("statistics.cases", **f.as_args(), **{k: v for k, v in kw.items() if v is not None})


def _charts(data: dict, f: stats.Filters) -> list[dict]:
    """What the page draws: each chart's categories and series, and for each bar the list it drills into."""
    base = url_for("statistics.cases", **f.as_args())
    counts = [
        ("received", _("收件")),
        ("completed", _("办结")),
        ("refused", _("不予受理/批准")),
        ("terminated", _("终止办理")),
    ]

    def by_dim(dim: str, title: str, top: int | None = None, horizontal: bool = False) -> dict:
        rows = data["by"][dim][:top] if top else data["by"][dim]
        return {
            "id": f"chart-{dim}",
            "title": title,
            "kind": "bar",
            "horizontal": horizontal,
            "categories": [r["label"] for r in rows],
            "series": [{"name": n, "measure": m, "data": [r[m] for r in rows]} for m, n in counts],
            "drill": {"base": base, "dim": dim, "keys": [r["key"] if r["key"] is not None else "none" for r in rows]},
        }

    a, rq, r = data["acceptance"], data["rongque"], data["ratings"]
    return [
        by_dim("month", _("按月份")),
        by_dim("procedure", _("按事项")),
        by_dim("dept", _("按主管部门（前%(n)s）", n=TOP), TOP, True),
        by_dim("unit", _("按用人单位（前%(n)s）", n=TOP), TOP, True),
        by_dim("category", _("按人才类别")),
        {
            "id": "chart-acceptance",
            "title": _("受理方式"),
            "kind": "pie",
            "slices": [
                {"name": _("即收即办"), "value": a["instant"], "url": _drill(f, measure="instant")},
                {"name": _("容缺受理"), "value": a["rongque"], "url": _drill(f, measure="rongque")},
            ],
        },
        {
            "id": "chart-rongque",
            "title": _("容缺承诺履行"),
            "kind": "pie",
            "slices": [
                {"name": _("按期补齐"), "value": rq["kept"], "url": _drill(f, measure="kept")},
                {"name": _("逾期未补（终止）"), "value": rq["lapsed"], "url": _drill(f, measure="lapsed")},
                {"name": _("补件期内"), "value": rq["pending"], "url": _drill(f, measure="rongque")},
            ],
        },
        {
            "id": "chart-cycle",
            "title": _("办理周期（工作日）"),
            "kind": "bar",
            "categories": [c["label"] for c in data["cycle"]["by_procedure"]],
            "series": [
                {"name": "p50", "measure": "completed", "data": [c["p50"] for c in data["cycle"]["by_procedure"]]},
                {"name": "p90", "measure": "completed", "data": [c["p90"] for c in data["cycle"]["by_procedure"]]},
            ],
            "drill": {"base": base, "dim": "procedure", "keys": [c["key"] for c in data["cycle"]["by_procedure"]]},
        },
        {
            "id": "chart-steps",
            "title": _("各环节用时（工作日，瓶颈在前）"),
            "kind": "bar",
            "horizontal": True,
            "categories": [s["label"] for s in data["steps"][:TOP]],
            "series": [
                {"name": _("平均"), "data": [s["mean"] for s in data["steps"][:TOP]]},
                {"name": "p90", "data": [s["p90"] for s in data["steps"][:TOP]]},
            ],
            "urls": [_drill(f, measure="received", step=s["key"]) for s in data["steps"][:TOP]],
        },
        {
            "id": "chart-ratings",
            "title": _("好差评分布"),
            "kind": "bar",
            "categories": [_("%(n)s星", n=s) for s in range(1, 6)],
            "series": [{"name": _("件数"), "data": [r["stars"][s] for s in range(1, 6)]}],
            "urls": [_drill(f, measure="received", stars=s) for s in range(1, 6)],
        },
    ]


@bp.get("/")
@roles_required(*STAT_ROLES)
def index():
    actor = current_actor()
    s = db_session()
    f = _filters()
    data, snapshot_at = stats.cached_figures(s, actor, f)
    # the default view: when the worker computed it; a filtered view: when the read model was last brought up to date
    at = snapshot_at or getattr(stats.last_refresh(s), "at", None)
    age = int((now_utc() - as_utc(at)).total_seconds()) if at else None
    # a filtered view from the monthly pre-aggregate: the open steps as the worker counted them, and when
    open_at = datetime.fromisoformat(data["open_at"]) if data.get("open_at") else None
    return render_template(
        "statistics/index.html",
        data=data,
        f=f,
        charts=_charts(data, f),
        units=_unit_choices(actor),
        procedures=green_channel_procedures(),
        refreshed_at=as_utc(at).astimezone(LOCAL_TZ) if at else None,
        age_minutes=None if age is None else age // 60,
        snapshot=snapshot_at is not None,
        open_at=open_at.astimezone(LOCAL_TZ) if open_at else None,
        open_minutes=int((now_utc() - open_at).total_seconds()) // 60 if open_at else None,
        drill=lambda **kw: _drill(f, **kw),
    )


@bp.get("/cases")
@roles_required(*STAT_ROLES)
def cases():
    """The cases behind one bar, slice or figure (up to 200, newest first; the count is of all of them)."""
    actor = current_actor()
    s = db_session()
    f = _filters()
    measure = request.args.get("measure", "received")
    if measure not in stats.MEASURE_LABELS:
        flash(_("未知的统计口径，已显示全部收件"), "error")
        measure = "received"
    dim = request.args.get("dim") or None
    dim = dim if dim in stats.DIMENSIONS else None
    key = request.args.get("key", "")[:64] if dim else None
    stars = request.args.get("stars", type=int)
    step = request.args.get("step", "")[:200] or None
    total, rows = stats.drill_cases(s, actor, f, measure, dim, key, stars if stars in range(1, 6) else None, step)
    labels = stats._labels(s)
    return render_template(
        "statistics/cases.html",
        total=total,
        rows=rows,
        f=f,
        measure_label=stats.MEASURE_LABELS[measure],
        dim_label=stats.DIMENSION_LABELS.get(dim or "", ""),
        key_label=stats.label(labels, dim, None if key == "none" else key) if dim else "",
        step=step,
        stars=stars,
        unit_names=labels["unit"],
        procedures=green_channel_procedures(),
        status_labels=stats.STATUS_LABELS,
    )


@bp.get("/export.<fmt>")
@roles_required(*STAT_ROLES)
def export(fmt: str):
    """The page's figures as CSV (one file, a block per table) or XLSX (a sheet per table); text cells that a
    spreadsheet would run as a formula are neutralised in both (workflows.domain.spreadsheet.safe_cell)."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    actor = current_actor()
    data, _at = stats.cached_figures(db_session(), actor, _filters())
    name = f"statistics-{today_local():%Y%m%d}"
    if fmt == "csv":
        rows: list[list] = []
        for sheet in stats.sheets(data):
            rows += [[sheet.title], sheet.header, *sheet.rows, []]
        return Response(
            excel_csv(rows),
            mimetype="text/csv; charset=utf-8",
            headers={"Content-Disposition": f"attachment; filename={name}.csv"},
        )
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for sheet in stats.sheets(data):
        ws = wb.create_sheet(sheet.title[:31])
        ws.append(sheet.header)
        for row in sheet.rows:
            ws.append([v if isinstance(v, int | float) or v is None else safe_cell(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return Response(
        buf.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename={name}.xlsx"},
    )


@bp.get("/chart.svg")
@roles_required(*STAT_ROLES)
def chart_svg():
    """One chart drawn on the server (the same figures as the page; the quarterly report embeds these)."""
    actor = current_actor()
    f = _filters()
    data, _at = stats.cached_figures(db_session(), actor, f)
    wanted = request.args.get("chart", "month")
    for c in _charts(data, f):
        if c["id"] == f"chart-{wanted}" and c["kind"] == "bar":
            svg = bar_chart_svg(c["title"], c["categories"], [(s["name"], s["data"]) for s in c["series"]])
            return Response(svg, mimetype="image/svg+xml")
    abort(404)
