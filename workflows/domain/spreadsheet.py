"""CSV files people open in a spreadsheet: every CSV the system writes is made by `csv_text` (tests/test_csv_cells.py
checks that no other module calls csv.writer).

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or with a tab or carriage return before
one) as a formula — a display name like ``=HYPERLINK("http://…","点此")`` typed into a form would become a live
link or command in the administrator's Excel ("CSV injection"). Such a cell is written with a leading apostrophe,
which spreadsheets show as text and do not display. Initial passwords never start with these characters
(services/bulk_import.py's alphabet), so they are handed out exactly as generated.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """The rows as CSV (CRLF line ends, as Excel writes them), every cell neutralised by `safe_cell`."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([safe_cell(c) for c in row] for row in rows)
    return buf.getvalue()


def excel_csv(rows: Iterable[Iterable[object]]) -> bytes:
    """A CSV file to download (import templates): UTF-8 with a BOM, so that Excel opens it with the right encoding."""
    return ("\ufeff" + csv_text(rows)).encode("utf-8")
