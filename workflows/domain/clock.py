"""The one place that reads the time: UTC for storage, Asia/Shanghai for the legal day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import overload
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def now_utc() -> datetime:
    return datetime.now(UTC)


def today_local() -> date:
    return now_utc().astimezone(LOCAL_TZ).date()


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
