"""Charts as SVG text, drawn on the server: the statistics pages offer them for download and the quarterly report
embeds them in its PDF (WeasyPrint renders SVG). Plain data in, an SVG string out; no JavaScript, no Node.

A grouped bar chart is all the figures need (counts by month, procedure, unit; percentiles by step). Chinese labels
use the documents' fonts when rendered by WeasyPrint and the browser's otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

PALETTE = ("#1f6fb2", "#2e9e5b", "#d9822b", "#c23b3b", "#7a5aa6", "#4a9fb5")
FONT = "FandolSong, 'Noto Serif CJK SC', 'Noto Sans CJK SC', sans-serif"


def _nice_max(value: float) -> float:
    """The smallest 1/2/5 × 10^k at or above value (the top of the axis)."""
    if value <= 0:
        return 1
    k = 1.0
    while k * 10 <= value:
        k *= 10
    for m in (1, 2, 5, 10):
        if m * k >= value:
            return m * k
    return 10 * k


def bar_chart_svg(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | int | None]]],
    width: int = 640,
    height: int = 320,
) -> str:
    """A grouped vertical bar chart: one group per category, one bar per series, a legend, a y axis with 5 ticks."""
    left, right, top, bottom = 48, 12, 40, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [float(v or 0) for _, vs in series for v in vs]
    top_value = _nice_max(max(values, default=0))
    n_cat, n_ser = max(len(categories), 1), max(len(series), 1)
    group_w = plot_w / n_cat
    bar_w = max(1.0, group_w * 0.8 / n_ser)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{escape(FONT)}" font-size="11">',
        f'<text x="{width / 2:.1f}" y="18" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    for i in range(6):  # y axis grid and ticks
        y = top + plot_h - plot_h * i / 5
        tick = top_value * i / 5
        label = f"{tick:g}" if tick != int(tick) else str(int(tick))
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{label}</text>')
    for ci, cat in enumerate(categories):
        x0 = left + ci * group_w + group_w * 0.1
        for si, (_, vs) in enumerate(series):
            v = float(vs[ci] or 0) if ci < len(vs) else 0.0
            h = plot_h * v / top_value
            x = x0 + si * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w * 0.92:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[si % len(PALETTE)]}"><title>{escape(str(cat))}: {v:g}</title></rect>'
            )
        cx = left + ci * group_w + group_w / 2
        text = str(cat) if len(str(cat)) <= 8 else str(cat)[:7] + "…"
        parts.append(
            f'<text x="{cx:.1f}" y="{top + plot_h + 14}" text-anchor="middle" fill="#333">{escape(text)}</text>'
        )
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#888"/>')
    lx = left
    for si, (name, _) in enumerate(series):  # legend under the axis labels
        parts.append(f'<rect x="{lx}" y="{height - 18}" width="10" height="10" fill="{PALETTE[si % len(PALETTE)]}"/>')
        parts.append(f'<text x="{lx + 14}" y="{height - 9}">{escape(name)}</text>')
        lx += 24 + 12 * len(name)
    parts.append("</svg>")
    return "\n".join(parts)
