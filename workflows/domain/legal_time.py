"""The legal-time clock (DESIGN §3; rules R3, R6, R7).

Chinese administrative deadlines count *working days*: statutory holidays are excluded, make-up working days
(调休, e.g. a Saturday) are included, and the start day is not counted unless a rule says so.  A period in months
ends on the same-numbered day of the target month, or on that month's last day when it has no such day, and a last
day that is not a working day rolls to the next working day (民法典 第二百零一条至第二百零三条, paraphrased).

Where the answer comes from, for one date:
  1. the administrator's holiday table (``overrides``: date -> is-working-day), which always wins;
  2. ``chinese_calendar`` for the years it knows (2004–2026 in 1.11.0);
  3. for a year the administrator declared complete (``override_years``) that ``chinese_calendar`` does not
     know: Monday–Friday working, Saturday/Sunday rest — the table lists the holidays and the 调休 days;
  4. otherwise, in a *provisional* calendar (the services' one): Monday–Friday working, and every date that
     consulted such a year is provisional (``is_provisional``) — shown as 暂计至…, never the basis of an adverse
     action, recomputed when the official table is loaded (DESIGN §3: at the year boundary intake never stops);
     in a strict calendar :class:`CalendarUnknown`.

Pure: no database, no Flask.  The caller loads the holiday table and passes it in.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

__all__ = ["PROVISIONAL_NOTE", "CalendarUnknown", "LegalCalendar", "end_of_day_utc"]

# How a provisional date is shown and printed (DESIGN §3), e.g. PROVISIONAL_NOTE.format(date="2027年1月8日").
PROVISIONAL_NOTE = "暂计至{date}，以国务院公布的节假日安排为准"

_ONE_DAY = timedelta(days=1)


class CalendarUnknown(ValueError):
    """A date falls in a year for which no holiday arrangement is known."""

    def __init__(self, year: int):
        self.year = year
        super().__init__(f"{year}年的法定节假日安排尚未录入，请管理员先导入该年度节假日表")

    def __reduce__(self):  # keep it picklable despite the custom signature
        return (type(self), (self.year,))


def _as_date(d: date) -> date:
    # A datetime would carry a time zone question we refuse to guess; the clock works on civil dates.
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"expected a datetime.date, got {type(d).__name__}")
    return d


class LegalCalendar:
    """Working-day arithmetic over chinese_calendar plus the administrator's holiday table."""

    def __init__(
        self,
        overrides: Mapping[date, bool] | None = None,
        override_years: Iterable[int] | None = None,
        provisional: bool = False,
    ):
        self.provisional = provisional
        self._known_years: dict[int, bool] = {}
        self._overrides: dict[date, bool] = {_as_date(d): bool(w) for d, w in (overrides or {}).items()}
        if override_years is None:
            self._override_years = frozenset(d.year for d in self._overrides)
        else:
            self._override_years = frozenset(int(y) for y in override_years)
        self._cache: dict[date, bool] = {}

    # -- single dates ---------------------------------------------------------------------------------------------
    def is_working_day(self, d: date) -> bool:
        try:
            return self._cache[d]
        except KeyError:
            pass
        d = _as_date(d)
        result = self._lookup(d)
        self._cache[d] = result
        return result

    def _lookup(self, d: date) -> bool:
        if d in self._overrides:
            return self._overrides[d]
        try:
            return chinese_calendar.is_workday(d)
        except NotImplementedError:
            if d.year in self._override_years or self.provisional:
                return d.weekday() < 5
            raise CalendarUnknown(d.year) from None

    def knows_year(self, year: int) -> bool:
        """Is the year's holiday arrangement known (chinese_calendar, or a table the administrator loaded)?"""
        known = self._known_years.get(year)
        if known is None:
            if year in self._override_years:
                known = True
            else:
                try:
                    chinese_calendar.is_workday(date(year, 1, 4))
                    known = True
                except NotImplementedError:
                    known = False
            self._known_years[year] = known
        return known

    def is_provisional(self, *days: date | None) -> bool:
        """Does a date computed up to these days rest on a year whose arrangement is not known yet? Periods run
        forward from a known day, so the last day's year (and any year in between) decides."""
        present = [d for d in days if d is not None]
        if not present:
            return False
        first, last = min(present), max(present)
        return any(not self.knows_year(y) for y in range(first.year, last.year + 1))

    def next_working_day(self, d: date, include_self: bool = True) -> date:
        d = _as_date(d)
        if not include_self:
            d += _ONE_DAY
        while not self.is_working_day(d):
            d += _ONE_DAY
        return d

    # -- periods in working days ----------------------------------------------------------------------------------
    def add_working_days(self, start: date, n: int, count_start: bool = False) -> date:
        """The n-th working day after ``start`` (n >= 1).

        The start day is not counted, unless ``count_start`` is true and it is a working day: then it is day 1.
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        d = _as_date(start)
        remaining = n
        if count_start and self.is_working_day(d):
            remaining -= 1
            if remaining == 0:
                return d
        while remaining:
            d += _ONE_DAY
            if self.is_working_day(d):
                remaining -= 1
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in the half-open interval (a, b]; 0 when b <= a."""
        a, b = _as_date(a), _as_date(b)
        count = 0
        d = a + _ONE_DAY
        while d <= b:
            count += self.is_working_day(d)
            d += _ONE_DAY
        return count

    def publicity_end(self, start: date, n_days: int) -> date:
        """R7 公示: the last day of n working days, the start day counted if it is a working day."""
        return self.add_working_days(start, n_days, count_start=True)

    # -- periods in months ----------------------------------------------------------------------------------------
    @staticmethod
    def add_months(start: date, n: int) -> date:
        """Same-numbered day n months later; the month's last day if it has no such day (民法典 第二百零二条)."""
        start = _as_date(start)
        month_index = start.year * 12 + (start.month - 1) + n
        year, month = divmod(month_index, 12)
        month += 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return date(year, month, day)

    @staticmethod
    def term_end(start: date, months: int) -> date:
        """The last day of a term of `months` months that starts on `start` (inclusive): the day before the
        same-numbered day `months` months later (a 60-month 聘期 from 2026-07-01 ends 2031-06-30, one from 1 March
        for a month ends 31 March). Where the target month has no such day (a term from 31 January, or from 30
        January in a common year, for one month), the term runs to that month's last day: it ends within the month
        it reaches and never spills into the next. A term's end is not rolled to a working day: 民法典 第二百零三条
        is about acting by a deadline, not about how long an appointment lasts."""
        start = _as_date(start)
        if months <= 0:
            raise ValueError("a term lasts at least one month")
        month_index = start.year * 12 + (start.month - 1) + months
        year, month = divmod(month_index, 12)
        month += 1
        last = calendar.monthrange(year, month)[1]
        if start.day > last:
            return date(year, month, last)
        return date(year, month, start.day) - _ONE_DAY

    def deadline_after_months(self, start: date, n: int) -> date:
        """R6: the month period's last day, rolled to the next working day if it is not one (第二百零三条)."""
        return self.next_working_day(self.add_months(start, n))

    # -- stopped clock --------------------------------------------------------------------------------------------
    def extend_for_hold(self, due: date, hold_days: int) -> date:
        """Push ``due`` by the calendar-day length of a hold, then roll to a working day."""
        if hold_days < 0:
            raise ValueError("hold_days must not be negative")
        return self.next_working_day(_as_date(due) + timedelta(days=hold_days))


def end_of_day_utc(d: date, tz: str = "Asia/Shanghai") -> datetime:
    """The aware UTC instant at which deadline date ``d`` has passed: the start of the next day in ``tz``."""
    d = _as_date(d)
    return datetime.combine(d + _ONE_DAY, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)
