"""Filing documents of the three procedures (绿色通道列编注册, 特设岗位, 职称绿色通道) as PDF.

Plain data in, PDF bytes out; no database, no Flask::

    from documents import render, KINDS, DocumentDataError
    pdf = render("acceptance_notice", {...})

``KINDS`` maps each kind key to a :class:`DocumentKind` (Chinese title, template, required fields, issuing office).
Missing or malformed fields raise :class:`DocumentDataError` with a Chinese message naming them.
Layout follows GB/T 9704-2012 (static/gbt9704.css); fonts: Fandol (scripts/fetch-fonts.sh) with Noto CJK fallback.
"""

from .dispatch_report import render_dispatch_report
from .renderer import (
    FIELDS,
    KINDS,
    DocumentDataError,
    DocumentKind,
    cn_date,
    render,
    render_html,
    render_plain,
    render_png_pages,
    validate,
    warm_up,
)

# documents an office issues about no one case, each with its own renderer (data in, PDF out)
OFFICE_KINDS = {"dispatch_report": render_dispatch_report}

__all__ = [
    "OFFICE_KINDS",
    "render_dispatch_report",
    "render",
    "render_html",
    "render_plain",
    "render_png_pages",
    "KINDS",
    "FIELDS",
    "DocumentKind",
    "DocumentDataError",
    "validate",
    "cn_date",
    "warm_up",
]
