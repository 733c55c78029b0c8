"""Every CSV the system writes neutralises cells a spreadsheet would run as a formula (issue 13, item 8)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from workflows.domain.spreadsheet import FORMULA_STARTS, csv_text, safe_cell
from workflows.services import bulk_import

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_a_cell_starting_like_a_formula_is_written_as_text(start):
    value = f"{start}cmd|' /C calc'!A0"
    assert safe_cell(value) == "'" + value
    row = next(csv.reader(io.StringIO(csv_text([["a", value, 3]]))))
    assert row == ["a", "'" + value, "3"]


def test_ordinary_cells_are_unchanged():
    for value in ("张伟", "hr_nky", "U0101", "a=b", "2026-03-02", "", None, 12):
        assert safe_cell(value) == ("" if value is None else str(value))


def test_the_initial_passwords_csv_is_neutralised_and_the_passwords_untouched():
    users = [
        bulk_import.ImportedUser("hr_a", '=HYPERLINK("http://x.example","点此")', "unit_hr", "U0101", "Abc23456Xyz"),
        bulk_import.ImportedUser("hr_b", "@SUM(1+1)*cmd|' /C calc'!A0", "unit_hr", "U0101", "Pqr23456Xyz"),
        bulk_import.ImportedUser("hr_c", "\t-2+3", "unit_hr", "U0101", "Stu23456Xyz"),
    ]
    rows = list(csv.reader(io.StringIO(bulk_import.initial_passwords_csv(users))))
    assert rows[0] == ["用户名", "姓名", "初始密码"]
    assert [r[1] for r in rows[1:]] == ["'" + u.display_name for u in users]
    assert [r[2] for r in rows[1:]] == [u.password for u in users]
    # a generated password never starts like a formula, so it is handed out exactly as stored
    assert not set(bulk_import._PASSWORD_ALPHABET) & set("".join(FORMULA_STARTS))


@pytest.mark.parametrize("kind", ["units", "users"])
def test_the_import_templates_go_through_the_helper(kind):
    body = bulk_import.import_template_csv(kind).decode("utf-8-sig")
    expected = bulk_import.UNIT_IMPORT_TEMPLATE if kind == "units" else bulk_import.USER_IMPORT_TEMPLATE
    assert list(csv.reader(io.StringIO(body))) == expected


def test_no_other_module_writes_csv():
    """One helper for every CSV writer: a new export cannot forget the neutralising."""
    writers = []
    for folder in ("webapp", "workflows", "documents"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel != "workflows/domain/spreadsheet.py" and re.search(r"csv\.(writer|DictWriter)\(", path.read_text()):
                writers.append(rel)
    assert writers == []
