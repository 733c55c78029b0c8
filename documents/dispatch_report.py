"""The quarterly dispatch report (季度调度通报) of the 科研人员权益保障 window: data in, PDF out, in the documents'
GB/T 9704 layout (shared fonts and stylesheet). The worker issues it after each quarter's end — numbered in the
office's 通报 series, with the QR code and verification code of the archive (`verify_code`, `verify_url`) and the
seal — and an administrator can draw an unnumbered preview at any time (no `verify_code`: no QR box).

The green-channel sections carry their charts as data (`chart`: title, categories, series), drawn here as SVG
(documents/charts.py), so the archived snapshot holds figures, not pictures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from documents.charts import bar_chart_svg
from documents.renderer import _RENDERER, _parsed_css, qr_data_uri, verify_page

TEMPLATE = "dispatch_report.html"
REQUIRED = ("issuer", "title", "addressee", "period", "issue_date", "filed")


def _zip_counts(rows):
    """(label, count) pairs of `rows` (name, count, …) for the bar chart."""
    return [(r[0], r[1]) for r in rows]


def render_dispatch_report(data: Mapping[str, Any]) -> bytes:
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ValueError(f"调度通报缺少：{'、'.join(missing)}")
    from weasyprint import HTML

    ctx = {
        "doc_no": "",
        "by_topic": [],
        "by_office": [],
        "by_status": [],
        "ratings": [],
        "on_time": 0,
        "late": 0,
        "transferred": 0,
        "answer_days_p50": None,
        "answer_days_max": None,
        "green_channel": None,
        "qr": None,
        "seal_image": None,
        **data,
    }
    if isinstance(ctx["issue_date"], str):
        ctx["issue_date"] = dt.date.fromisoformat(ctx["issue_date"])
    ctx["green_channel"] = [_with_svg(section) for section in ctx["green_channel"] or []] or None
    if ctx.get("verify_url") and ctx.get("verify_code"):
        ctx["qr"] = qr_data_uri(str(ctx["verify_url"]))
        ctx["verify_page"] = verify_page(str(ctx["verify_url"]))
    with _RENDERER._lock:
        _RENDERER._setup()
        env = _RENDERER.env
        env.filters.setdefault("zip_counts", _zip_counts)
        source = env.get_template(TEMPLATE).render(ctx)
        sheets = [*_RENDERER.stylesheets, _parsed_css(EXTRA_CSS, None)]  # parsed once per process
        document = HTML(string=source, base_url=str(env.loader.searchpath[0]) + "/").render(  # type: ignore[attr-defined]
            font_config=_RENDERER.font_config, stylesheets=sheets
        )
        meta = document.metadata
        meta.title = str(ctx["title"])
        meta.authors = [str(ctx["issuer"])]
        meta.created = meta.modified = None
        return document.write_pdf()


def _with_svg(section: Mapping[str, Any]) -> dict:
    out = dict(section)
    chart = out.get("chart")
    if chart and not out.get("svg"):
        out["svg"] = bar_chart_svg(chart["title"], chart["categories"], [(n, v) for n, v in chart["series"]])
    return out


EXTRA_CSS = """
table.bars td { border: none; padding: 0.5mm 1mm; }
table.bars .bar { height: 4mm; background: #b71c1c; }
.chart svg { width: 100%; height: auto; }
"""
