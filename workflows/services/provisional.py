"""Provisional dates at the year boundary (DESIGN §3): intake never stops when a deadline reaches into a year whose
official holiday arrangement is not published yet.

Such a date is computed on weekdays only (`LegalCalendar(provisional=True)`), shown and printed as 暂计至…，以国务院
公布的节假日安排为准, and never the basis of an adverse action: the timer of a 容缺 lapse, an overdue escalation or a
公示 end is armed at `UNCONFIRMED_AT` (never due) instead of the provisional day. The case keeps, per date, what it
was computed from (`Case.provisional_dates`); when an administrator loads the official table,
`services.confirm_dates.confirm_all` computes every such date again with the functions below.

No Flask here, and no database access: the operators and the runtime call it.
"""

from __future__ import annotations

from datetime import date, timedelta

from workflows.domain.clock import cn_date
from workflows.domain.legal_time import PROVISIONAL_NOTE, LegalCalendar
from workflows.domain.models import Case

# A due time that never comes: the adverse timer waits for the official table (which re-arms it).
UNCONFIRMED_AT = "9999-12-31T00:00:00+00:00"

# What each date is called in the audit event and the notice.
LABELS = {
    "promised_on": "承诺办结时限",
    "rongque_deadline": "容缺材料补齐期限",
    "filing_due_on": "备案期限",
    "publicity": "公示截止日",
    "task": "办理时限",
}


def remember(case: Case, name: str, recipe: dict) -> None:
    """Record how a provisional date was computed (a new dict: the JSON column sees the change)."""
    case.provisional_dates = {**(case.provisional_dates or {}), name: recipe}


def forget(case: Case, name: str) -> None:
    """A provisional date that no longer matters (its task is done)."""
    if case.provisional_dates and name in case.provisional_dates:
        left = {k: v for k, v in case.provisional_dates.items() if k != name}
        case.provisional_dates = left or None


def note(d: date) -> str:
    """暂计至2027年1月8日，以国务院公布的节假日安排为准"""
    return PROVISIONAL_NOTE.format(date=cn_date(d))


# -- the computations (the same for the first time and for the recomputation) -------------------------------------
def publicity_period(cal: LegalCalendar, today: date, days: int) -> tuple[date, date]:
    start = cal.next_working_day(today)
    return start, cal.publicity_end(start, days)


def filing_due(cal: LegalCalendar, complete_on: date, hold_days: int, remind_days: int) -> tuple[date, date]:
    """R6 due date and the day the reminder is for (`remind_days` working days before it)."""
    due = cal.deadline_after_months(complete_on, 1)
    if hold_days:
        due = cal.extend_for_hold(due, hold_days)
    remind_on = due
    for _ in range(remind_days):
        remind_on = previous_working_day(cal, remind_on)
    return due, remind_on


def previous_working_day(cal: LegalCalendar, d: date) -> date:
    d -= timedelta(days=1)
    while not cal.is_working_day(d):
        d -= timedelta(days=1)
    return d
