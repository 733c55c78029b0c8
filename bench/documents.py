"""Benchmark of documents.render (run by hand, not a test):  .venv/bin/python bench/documents.py [--profile]

Prints, for every kind, the median warm render time and per page; the stages of a warm one-page render; the
naive WeasyPrint baseline (new FontConfiguration + CSS parsed on every render); the first render in a fresh
process (subprocess). With --profile, the top functions of cProfile over warm renders.
The last line is exactly: `one-page notice warm median ms: N`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pypdf import PdfReader  # noqa: E402

from documents import KINDS, render  # noqa: E402
from documents import renderer as R  # noqa: E402
from tests.documents import SAMPLES  # noqa: E402

ONE_PAGE = "acceptance_notice"


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def fresh_process() -> dict:
    code = f"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {str(ROOT)!r})
import weasyprint
t1 = time.perf_counter()
from documents import render
from tests.documents import SAMPLES
t2 = time.perf_counter()
render({ONE_PAGE!r}, SAMPLES[{ONE_PAGE!r}])
t3 = time.perf_counter()
render({ONE_PAGE!r}, SAMPLES[{ONE_PAGE!r}])
t4 = time.perf_counter()
print(json.dumps(dict(import_weasyprint=t1 - t0, import_documents=t2 - t1, first_render=t3 - t2,
                      second_render=t4 - t3, total_to_first_pdf=t3 - t0)))
"""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall"] = time.perf_counter() - start
    return result


def stages(kind: str, repeat: int) -> dict[str, float]:
    from weasyprint import HTML

    data = SAMPLES[kind]
    r = R._RENDERER
    r._setup()
    html_t, layout_t, pdf_t = [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        source = r.html(kind, data)
        t1 = time.perf_counter()
        doc = HTML(string=source, base_url=str(R.TEMPLATE_DIR) + "/").render(
            font_config=r.font_config, stylesheets=r.stylesheets
        )
        t2 = time.perf_counter()
        doc.write_pdf()
        t3 = time.perf_counter()
        html_t.append(t1 - t0)
        layout_t.append(t2 - t1)
        pdf_t.append(t3 - t2)
    return {
        "validate + Jinja2 + QR (segno)": statistics.median(html_t) * 1000,
        "HTML parse + cascade + layout": statistics.median(layout_t) * 1000,
        "write_pdf (draw, font subset, compress)": statistics.median(pdf_t) * 1000,
    }


def naive(kind: str, repeat: int) -> float:
    """WeasyPrint used the obvious way: a new FontConfiguration and the stylesheet parsed on every render."""
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    source = R.render_html(kind, SAMPLES[kind])
    faces = "\n".join(
        f'@font-face {{ font-family: "{fam}"; font-weight: {w}; src: url("{(R.VENDOR_FONT_DIR / f).as_uri()}"); }}'
        for fam, f, w in R.VENDOR_FONTS
        if (R.VENDOR_FONT_DIR / f).is_file()
    )

    def once():
        fc = FontConfiguration()
        sheets = [CSS(string=faces, font_config=fc), CSS(filename=str(R.STYLESHEET), font_config=fc)]
        HTML(string=source).write_pdf(stylesheets=sheets, font_config=fc)

    once()
    return median_ms(once, repeat)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()

    print("fresh process (subprocess):")
    for key, value in fresh_process().items():
        print(f"  {key:22s} {value * 1000:8.0f} ms")

    print(f"\nwarm renders, median of {args.repeat}:")
    render(ONE_PAGE, SAMPLES[ONE_PAGE])  # warm-up
    print(f"  {'kind':30s} {'pages':>5s} {'ms':>8s} {'ms/page':>8s} {'KB':>6s}")
    results = {}
    for kind in KINDS:
        data = SAMPLES[kind]
        pdf = render(kind, data)
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        ms = median_ms(lambda kind=kind, data=data: render(kind, data), args.repeat)
        results[kind] = ms
        print(f"  {kind:30s} {pages:5d} {ms:8.1f} {ms / pages:8.1f} {len(pdf) / 1024:6.0f}")
    print(f"  fonts in use: {', '.join(R._RENDERER.vendor_fonts) or 'Noto CJK only (run scripts/fetch-fonts.sh)'}")

    print(f"\nstages of a warm {ONE_PAGE} render (median ms):")
    for name, ms in stages(ONE_PAGE, args.repeat).items():
        print(f"  {name:42s} {ms:7.1f}")
    print(
        f"  naive WeasyPrint (new FontConfiguration + CSS each render): {naive(ONE_PAGE, max(5, args.repeat // 2)):.1f} ms"
    )

    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(10):
            render(ONE_PAGE, SAMPLES[ONE_PAGE])
        prof.disable()
        print(f"\ncProfile, 10 warm renders of {ONE_PAGE} (profiler overhead inflates times):")
        stream = io.StringIO()
        pstats.Stats(prof, stream=stream).sort_stats("tottime").print_stats(20)
        print("\n".join(stream.getvalue().splitlines()[4:]))

    print(f"\none-page notice warm median ms: {round(results[ONE_PAGE])}")


if __name__ == "__main__":
    main()
