"""The holiday table: the State Council's yearly list of 节假日 and 调休上班 days that overrides `chinese_calendar` in the
legal clock. The administrator imports one year at a time (CSV or JSON) and it replaces that year's rows; the cached
calendar (`settings.params_and_calendar`) follows the table's revision.

No Flask here. Every function validates first and changes nothing on bad input (it raises a `DomainError` with a
Chinese message); the callers wrap writes in `workflows.infra.db.transaction`.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from workflows.domain.errors import ValidationFailed
from workflows.domain.models import Holiday
from workflows.services import settings

_TRUE = {"1", "true", "yes", "y", "是", "班", "上班", "工作日"}
_FALSE = {"0", "false", "no", "n", "否", "休", "休息", "假", "节假日"}


def holiday_years(session: Session) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for h in session.scalars(select(Holiday)):
        d = out.setdefault(h.day.year, {"total": 0, "off": 0, "work": 0})
        d["total"] += 1
        d["work" if h.is_working_day else "off"] += 1
    return dict(sorted(out.items()))


def list_holidays(session: Session, year: int) -> list[Holiday]:
    return list(
        session.scalars(
            select(Holiday)
            .where(Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31))
            .order_by(Holiday.day)
        )
    )


def _flag(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return bool(value) if value in (0, 1) else None
    v = str(value if value is not None else "").strip().lower()
    return True if v in _TRUE else False if v in _FALSE else None


def parse_holiday_file(content: bytes, filename: str, year: int) -> list[tuple[date, bool, str]]:
    """CSV (`date,is_working_day,name`, header optional) or JSON (a list of objects with those keys).
    Every row must fall in `year`; all problems are reported together."""
    if not content:
        raise ValidationFailed("请选择要导入的文件")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed("文件须为 UTF-8 编码") from None
    raw: list[tuple[int, object, object, object]] = []
    if (filename or "").lower().endswith(".json") or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ValidationFailed(f"JSON 格式错误：{e}") from None
        if not isinstance(data, list):
            raise ValidationFailed('JSON 须为数组：[{"date": "2027-01-01", "is_working_day": false, "name": "元旦"}]')
        for i, item in enumerate(data, 1):
            if not isinstance(item, dict):
                raise ValidationFailed(f"第 {i} 项不是对象")
            raw.append((i, item.get("date"), item.get("is_working_day"), item.get("name", "")))
    else:
        for i, row in enumerate(csv.reader(io.StringIO(text)), 1):
            if not row or not "".join(row).strip() or row[0].strip().startswith("#"):
                continue
            if i == 1 and row[0].strip().lower() in ("date", "日期"):
                continue
            raw.append(
                (i, row[0] if len(row) > 0 else "", row[1] if len(row) > 1 else "", row[2] if len(row) > 2 else "")
            )
    errors: list[str] = []
    rows: dict[date, tuple[date, bool, str]] = {}
    for i, d, w, name in raw:
        where = f"第 {i} 行"
        try:
            day = date.fromisoformat(str(d).strip())
        except (TypeError, ValueError):
            errors.append(f"{where}：日期“{d}”格式应为 YYYY-MM-DD")
            continue
        if day.year != year:
            errors.append(f"{where}：{day.isoformat()} 不属于 {year} 年")
            continue
        flag = _flag(w)
        if flag is None:
            errors.append(f"{where}：is_working_day 须为 1/0、true/false、是/否，实际为“{w}”")
            continue
        name = str(name or "").strip()
        if len(name) > 50:
            errors.append(f"{where}：名称不超过 50 字")
            continue
        if day in rows:
            errors.append(f"{where}：日期 {day.isoformat()} 重复")
            continue
        if flag and day.weekday() < 5:
            errors.append(f"{where}：{day.isoformat()} 本是工作日，无需标为调休上班")
            continue
        if not flag and day.weekday() >= 5 and not name:
            errors.append(f"{where}：{day.isoformat()} 本是周末，标为休息日须注明节日名称")
            continue
        rows[day] = (day, flag, name)
    if errors:
        raise ValidationFailed(
            "导入文件有误，未做任何修改："
            + "；".join(errors[:20])
            + (f"（另有 {len(errors) - 20} 处）" if len(errors) > 20 else ""),
            details={"errors": errors},
        )
    if not rows:
        raise ValidationFailed("文件中没有日期")
    return sorted(rows.values())


def replace_holidays(session: Session, year: int, rows: list[tuple[date, bool, str]]) -> int:
    """Replace that year's entries (the caller's transaction makes it all or nothing)."""
    if any(d.year != year for d, _, _ in rows):
        raise ValidationFailed(f"所有日期须属于 {year} 年")
    session.execute(delete(Holiday).where(Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31)))
    for d, w, name in rows:
        session.add(Holiday(day=d, is_working_day=w, name=name))
    settings.bump_holiday_rev(session)  # the calendar cache follows the table (bulk DELETE bypasses the ORM hook)
    session.flush()
    return len(rows)
