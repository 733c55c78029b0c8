"""The one place that reads the time: UTC for storage, Asia/Shanghai for the legal day."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from typing import overload
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


# A replay (workflows/services/simulation.py) runs a case on the times its history recorded: in this context only,
# never for the other threads of the process.
_replayed: ContextVar[list[datetime] | None] = ContextVar("replayed_now", default=None)


def now_utc() -> datetime:
    held = _replayed.get()
    return held[0] if held else datetime.now(UTC)


@contextmanager
def replay_clock(at: datetime) -> Iterator[list[datetime]]:
    """Inside, `now_utc` (and the legal day, and SpiffWorkflow's timers) read the held time; set `held[0]` to move."""
    held = [as_utc(at)]
    token = _replayed.set(held)
    try:
        yield held
    finally:
        _replayed.reset(token)


def today_local() -> date:
    return local_day(now_utc())


def local_day(at: datetime) -> date:
    """The calendar day in Asia/Shanghai of a stored (UTC, possibly naive) time."""
    return as_utc(at).astimezone(LOCAL_TZ).date()


def local_time(value: datetime | None) -> str:
    """A stored time as the local minute (“2026-03-02 09:00”), empty for none: how the records print times."""
    return as_utc(value).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if value is not None else ""


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; every stored time is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def cn_date(d: date) -> str:
    """2027年6月1日 (no leading zeros, as official documents write dates)."""
    return f"{d.year}年{d.month}月{d.day}日"
