"""The legal-time clock against real 2026 dates (chinese_calendar is not mocked).

2026 arrangements (国务院办公厅 2026 年部分节假日安排通知, as carried by chinesecalendar 1.11.0):
  春节   02-15 (Sun) .. 02-23 (Mon) rest; 02-14 (Sat) and 02-28 (Sat) working.
  中秋   09-25 .. 09-27 rest.
  国庆   10-01 .. 10-07 rest; 09-20 (Sun) and 10-10 (Sat) working.
"""

import pickle
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from workflows.domain.legal_time import CalendarUnknown, LegalCalendar, end_of_day_utc

D = date


@pytest.fixture
def cal():
    return LegalCalendar()


def _days(first, last):
    d = first
    while d <= last:
        yield d
        d += timedelta(days=1)


# -- the library carries the official 2026 notice ---------------------------------------------------------------
def test_spring_festival_2026(cal):
    assert all(not cal.is_working_day(d) for d in _days(D(2026, 2, 15), D(2026, 2, 23)))
    assert cal.is_working_day(D(2026, 2, 14))  # 调休 Saturday
    assert cal.is_working_day(D(2026, 2, 28))  # 调休 Saturday
    assert cal.is_working_day(D(2026, 2, 24))
    assert not cal.is_working_day(D(2026, 3, 1))  # ordinary Sunday


def test_national_day_2026(cal):
    assert all(not cal.is_working_day(d) for d in _days(D(2026, 10, 1), D(2026, 10, 7)))
    assert cal.is_working_day(D(2026, 9, 20))  # 调休 Sunday
    assert cal.is_working_day(D(2026, 10, 10))  # 调休 Saturday
    assert not cal.is_working_day(D(2026, 10, 11))


# -- working-day periods -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "start, n, expected",
    [
        # 02-13, 02-14 (Sat 调休), 02-24, 02-25, 02-26
        (D(2026, 2, 12), 5, D(2026, 2, 26)),
        # ... 02-27, 02-28 (Sat 调休), 03-02, 03-03, 03-04
        (D(2026, 2, 12), 10, D(2026, 3, 4)),
        (D(2026, 2, 12), 30, D(2026, 4, 1)),
        # 09-30, 10-08, 10-09, 10-10 (Sat 调休), 10-12
        (D(2026, 9, 29), 5, D(2026, 10, 12)),
        (D(2026, 9, 29), 10, D(2026, 10, 19)),
        (D(2026, 9, 29), 30, D(2026, 11, 16)),
        # 09-20 (Sun 调休), 09-21 .. 09-24
        (D(2026, 9, 18), 5, D(2026, 9, 24)),
    ],
)
def test_add_working_days(cal, start, n, expected):
    assert cal.add_working_days(start, n) == expected


def test_add_working_days_count_start(cal):
    assert cal.add_working_days(D(2026, 2, 13), 1, count_start=True) == D(2026, 2, 13)
    assert cal.add_working_days(D(2026, 2, 13), 2, count_start=True) == D(2026, 2, 14)
    # a rest day is never day 1
    assert cal.add_working_days(D(2026, 2, 15), 1, count_start=True) == D(2026, 2, 24)
    with pytest.raises(ValueError):
        cal.add_working_days(D(2026, 2, 13), 0)


def test_next_working_day(cal):
    assert cal.next_working_day(D(2026, 10, 1)) == D(2026, 10, 8)
    assert cal.next_working_day(D(2026, 10, 8)) == D(2026, 10, 8)
    assert cal.next_working_day(D(2026, 10, 8), include_self=False) == D(2026, 10, 9)


def test_publicity_end_counts_start_day(cal):
    # R7: 02-13, 02-14, 02-24, 02-25, 02-26
    assert cal.publicity_end(D(2026, 2, 13), 5) == D(2026, 2, 26)
    # 09-30, 10-08, 10-09, 10-10, 10-12
    assert cal.publicity_end(D(2026, 9, 30), 5) == D(2026, 10, 12)
    # starting inside the holiday: the first working day is day 1
    assert cal.publicity_end(D(2026, 2, 16), 5) == D(2026, 2, 28)


def test_working_days_between(cal):
    assert cal.working_days_between(D(2026, 2, 13), D(2026, 2, 24)) == 2  # 02-14, 02-24
    assert cal.working_days_between(D(2026, 9, 30), D(2026, 10, 10)) == 3  # 10-08, 10-09, 10-10
    assert cal.working_days_between(D(2026, 10, 1), D(2026, 10, 7)) == 0
    assert cal.working_days_between(D(2026, 3, 2), D(2026, 3, 2)) == 0


def test_extend_for_hold(cal):
    assert cal.extend_for_hold(D(2026, 2, 10), 5) == D(2026, 2, 24)  # 02-15 is in the holiday
    assert cal.extend_for_hold(D(2026, 3, 2), 0) == D(2026, 3, 2)
    assert cal.extend_for_hold(D(2026, 3, 2), 3) == D(2026, 3, 5)


# -- periods in months (民法典 201–203; R6) ------------------------------------------------------------------------
def test_add_months_same_numbered_or_last_day(cal):
    assert cal.add_months(D(2026, 1, 31), 1) == D(2026, 2, 28)
    assert cal.add_months(D(2026, 9, 30), 1) == D(2026, 10, 30)
    assert cal.add_months(D(2026, 8, 31), 1) == D(2026, 9, 30)
    assert cal.add_months(D(2026, 11, 30), 3) == D(2027, 2, 28)  # pure arithmetic: no calendar needed
    assert cal.add_months(D(2028, 2, 29), 12) == D(2029, 2, 28)


def test_deadline_after_months(cal):
    # 02-28 is a 调休 working Saturday, so it stays
    assert cal.deadline_after_months(D(2026, 1, 31), 1) == D(2026, 2, 28)
    # 02-15 is in the Spring Festival → the first working day after it
    assert cal.deadline_after_months(D(2026, 1, 15), 1) == D(2026, 2, 24)
    assert cal.deadline_after_months(D(2026, 9, 30), 1) == D(2026, 10, 30)
    assert cal.deadline_after_months(D(2026, 9, 1), 1) == D(2026, 10, 8)


def test_leap_year_2028_with_admin_table():
    # A hypothetical 2028 table: the Spring Festival week plus 2028-02-29 as an extra rest day.
    table = {d: False for d in _days(D(2028, 1, 25), D(2028, 1, 31))}
    table[D(2028, 1, 29)] = True  # a 调休 working Saturday
    cal = LegalCalendar(table)
    assert cal.add_months(D(2028, 1, 31), 1) == D(2028, 2, 29)
    assert cal.deadline_after_months(D(2028, 1, 31), 1) == D(2028, 2, 29)  # a Tuesday
    assert cal.is_working_day(D(2028, 1, 29))
    assert cal.add_working_days(D(2028, 1, 24), 2) == D(2028, 2, 1)  # 01-29 (Sat), 02-01
    # 2027 is still unknown: a 2028 table says nothing about it
    with pytest.raises(CalendarUnknown):
        cal.deadline_after_months(D(2026, 12, 31), 1)


# -- unknown years and the administrator's table -------------------------------------------------------------------
def test_2027_without_table_is_an_error(cal):
    with pytest.raises(CalendarUnknown) as exc:
        cal.is_working_day(D(2027, 1, 4))
    assert exc.value.year == 2027
    assert "2027年" in str(exc.value) and "节假日" in str(exc.value)
    assert isinstance(exc.value, ValueError)
    # crossing into 2027 fails instead of guessing from weekdays
    with pytest.raises(CalendarUnknown):
        cal.add_working_days(D(2026, 12, 30), 2)
    restored = pickle.loads(pickle.dumps(exc.value))
    assert restored.year == 2027 and str(restored) == str(exc.value)


def test_2027_with_admin_table():
    table = {
        D(2027, 1, 1): False,  # a Friday holiday beats the weekday rule
        D(2027, 2, 20): True,  # a 调休 working Saturday beats the weekday rule
    }
    cal = LegalCalendar(table)
    assert not cal.is_working_day(D(2027, 1, 1))
    assert cal.is_working_day(D(2027, 2, 20))
    assert cal.is_working_day(D(2027, 1, 4))  # Monday, not in the table
    assert not cal.is_working_day(D(2027, 1, 9))  # Saturday, not in the table
    assert cal.add_working_days(D(2026, 12, 31), 1) == D(2027, 1, 4)


def test_override_years_without_entries():
    cal = LegalCalendar(override_years=[2027])
    assert cal.is_working_day(D(2027, 1, 1))  # a Friday; the admin declared the year and listed nothing
    with pytest.raises(CalendarUnknown):
        cal.is_working_day(D(2028, 1, 3))


def test_override_beats_chinese_calendar_2026():
    # a hypothetical local rest day on Friday 2026-02-27
    cal = LegalCalendar({D(2026, 2, 27): False})
    assert not cal.is_working_day(D(2026, 2, 27))
    assert cal.add_working_days(D(2026, 2, 12), 6) == D(2026, 2, 28)  # 02-27 skipped
    assert LegalCalendar().add_working_days(D(2026, 2, 12), 6) == D(2026, 2, 27)
    # and the other way: a holiday turned into a working day
    assert LegalCalendar({D(2026, 10, 6): True}).next_working_day(D(2026, 10, 1)) == D(2026, 10, 6)
    # a 2026 table does not make 2027 known
    with pytest.raises(CalendarUnknown):
        cal.is_working_day(D(2027, 1, 4))


def test_datetime_is_refused(cal):
    with pytest.raises(TypeError):
        cal.is_working_day(datetime(2026, 2, 24, 9, 0))


# -- deadline instant ---------------------------------------------------------------------------------------------
def test_end_of_day_utc():
    instant = end_of_day_utc(D(2026, 2, 24))
    assert instant == datetime(2026, 2, 24, 16, 0, tzinfo=UTC)
    assert instant.isoformat() == "2026-02-24T16:00:00+00:00"
    assert end_of_day_utc(D(2026, 2, 24), tz="UTC").isoformat() == "2026-02-25T00:00:00+00:00"


def test_module_does_not_import_flask():
    code = "import sys, workflows.domain.legal_time; assert 'flask' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
