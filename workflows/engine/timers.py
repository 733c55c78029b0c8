"""Timer values: ISO 8601 time points, durations and cycles, checked with bounds — at save and publish (literals in
the definition) and at run time (every value a timer expression produces, before SpiffWorkflow uses it).

SpiffWorkflow 3.2.0 takes whatever the expression returns: ``'P1D'`` as a timeDate compares a dict with a datetime
(TypeError on every later step), ``12345`` has no ``.upper()``, ``'P1X'`` and ``'not a date'`` raise plain
exceptions, ``'P9000Y'`` overflows and ``'P4000000Y'`` loops month by month for 23 s. Here each is a
:class:`TimerValueError` with a Chinese message; :func:`install` makes the library's timer definitions check their
values through this module and name the element when they fail.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from workflows.domain import clock

MIN_YEAR, MAX_YEAR = 2000, 2100  # a literal time point outside is a typo, not a deadline of this office
MAX_DURATION_DAYS = 3_660  # ten years: the longest term of any procedure (a special post is at most five)
MAX_CYCLES = 1_000
MIN_CYCLE_SECONDS = 60  # a shorter period fires on every sweep

KINDS = {
    "timeDate": "定时器时间 timeDate",
    "timeDuration": "定时器时长 timeDuration",
    "timeCycle": "定时器周期 timeCycle",
}

_DURATION_RE = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$"
)
_DAYS_PER = {
    "years": 366,
    "months": 31,
    "weeks": 7,
    "days": 1,
    "hours": 1 / 24,
    "minutes": 1 / 1440,
    "seconds": 1 / 86400,
}


class TimerValueError(ValueError):
    """A timer value that cannot be used; ``message`` is Chinese. ``element_id``/``element_name`` are filled in
    when the failing timer is known (run time)."""

    def __init__(self, message: str, element_id: str | None = None, element_name: str | None = None):
        super().__init__(message)
        self.message = message
        self.element_id = element_id
        self.element_name = element_name


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def check_time_date(value, bounded: bool = True) -> datetime:
    """An ISO 8601 time point (e.g. 2026-05-01T09:00:00+08:00); between the years 2000 and 2100 when `bounded` (a
    literal in a definition: anything else is a typo). A value computed at run time may be any valid time point: the
    operators arm a timer that must never come at 9999-12-31 (a provisional date waiting for the official table)."""
    if not isinstance(value, str):
        raise TimerValueError(f"必须是 ISO 8601 时间点文本（如 '2026-05-01T09:00:00+08:00'），实际为 {_show(value)}")
    text = value.strip()
    if text[:1].upper() == "P" or text[:1].upper() == "R":
        raise TimerValueError(f"{_show(value)} 是时长或周期，不是时间点：时长请用 timeDuration，周期请用 timeCycle")
    if "W" in text.upper():
        raise TimerValueError(f"{_show(value)} 是周日期写法，请写成年月日（如 2026-05-01T09:00:00+08:00）")
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise TimerValueError(
            f"{_show(value)} 不是合法的 ISO 8601 时间点（应如 '2026-05-01T09:00:00+08:00'）"
        ) from None
    if bounded and not MIN_YEAR <= at.year <= MAX_YEAR:
        raise TimerValueError(f"时间点 {_show(value)} 超出范围（{MIN_YEAR}–{MAX_YEAR} 年）")
    return at


def check_duration(value) -> dict:
    """An ISO 8601 duration (e.g. P30D, PT12H, P1Y2M) of at most ten years; the parts, as SpiffWorkflow parses them."""
    if not isinstance(value, str):
        raise TimerValueError(f"必须是 ISO 8601 时长文本（如 'P30D'），实际为 {_show(value)}")
    text = value.strip().upper()
    m = _DURATION_RE.match(text)
    if not m:
        raise TimerValueError(f"{_show(value)} 不是合法的 ISO 8601 时长（应如 'P30D'、'PT12H'、'P1Y2M'）")
    parts = {k: v for k, v in m.groupdict().items() if v is not None}
    if "weeks" in parts and any(k in parts for k in ("years", "months", "days")):
        raise TimerValueError(f"{_show(value)}：周（W）不能与年、月、日同用")
    if len(text) > 40:
        raise TimerValueError(f"{_show(value)} 过长")
    days = sum(float(v.replace(",", ".")) * _DAYS_PER[k] for k, v in parts.items())
    if days > MAX_DURATION_DAYS:
        raise TimerValueError(f"时长 {_show(value)} 超出上限（最长 10 年）")
    return {k: (float(v.replace(",", ".")) if k == "seconds" else int(v)) for k, v in parts.items()}


def check_cycle(value, bounded: bool = True) -> None:
    """R<n>/<duration>, R<n>/<start>/<duration> or R<n>/<duration>/<end>: 1–1000 repetitions, a period of at least
    a minute."""
    if not isinstance(value, str):
        raise TimerValueError(f"必须是 ISO 8601 周期文本（如 'R3/P1D'），实际为 {_show(value)}")
    parts = value.strip().upper().split("/")
    if len(parts) not in (2, 3) or not parts[0].startswith("R"):
        raise TimerValueError(
            f"{_show(value)} 不是合法的 ISO 8601 周期（应如 'R3/P1D' 或 'R3/2026-05-01T09:00:00+08:00/P1D'）"
        )
    count = parts[0][1:]
    if not count.isdigit() or not 1 <= int(count) <= MAX_CYCLES:
        raise TimerValueError(f"周期 {_show(value)} 须写明重复次数 1–{MAX_CYCLES}（如 R3/P1D）")
    rest = parts[1:]
    durations = [p for p in rest if p.startswith("P")]
    if len(durations) != 1:
        raise TimerValueError(f"周期 {_show(value)} 须包含且只包含一个时长（如 P1D）")
    for p in rest:
        if p.startswith("P"):
            period = check_duration(p)
        else:
            check_time_date(p, bounded)
    seconds = sum(float(v) * _DAYS_PER[k] * 86400 for k, v in period.items())
    if seconds < MIN_CYCLE_SECONDS:
        raise TimerValueError(f"周期 {_show(value)} 的间隔过短（至少 1 分钟）")


CHECKS: dict[str, Callable[[Any], object]] = {
    "timeDate": check_time_date,
    "timeDuration": check_duration,
    "timeCycle": check_cycle,
}


def check_literal(kind: str, source: str) -> str | None:
    """At save: the problem with a timer expression that is a literal (a variable is checked when it runs), or None."""
    try:
        value = ast.literal_eval(source.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None  # an expression: its value is checked at run time
    try:
        CHECKS[kind](value)
    except TimerValueError as e:
        return e.message
    return None


# -- run time: the library's timer definitions check their values through this module ------------------------------

_installed = False


def install() -> None:
    """Make SpiffWorkflow's timer event definitions validate every value before use (idempotent)."""
    global _installed
    if _installed:
        return
    from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
    from SpiffWorkflow.exceptions import SpiffWorkflowException

    base = spiff_timer.TimerEventDefinition
    original_duration = base.parse_iso_duration
    original_cycle = base.parse_iso_recurring_interval

    def parse_iso_duration(expression):
        check_duration(expression)
        return original_duration(expression.strip())

    def parse_iso_recurring_interval(expression):
        check_cycle(expression, bounded=False)
        return original_cycle(expression.strip())

    def time_date_has_fired(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            event_value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
        at = base.get_datetime(check_time_date(event_value, bounded=False).isoformat())  # naive: server zone
        my_task._set_internal_data(event_value=event_value)
        if at < clock.now_utc():  # the replay clock of a simulation, else the wall clock
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)

    def naming_the_element(method):
        def wrapper(self, my_task, *args):
            try:
                return method(self, my_task, *args)
            except SpiffWorkflowException:
                raise  # the expression itself failed: the script engine's error already names the task
            except TimerValueError as e:
                raise _at(e, my_task) from None
            except Exception as e:  # whatever else the library's date arithmetic raises (OverflowError, …)
                raise _at(TimerValueError(f"定时器无法计算：{e.__class__.__name__}: {e}"), my_task) from e

        return wrapper

    class ClockDatetime(datetime):
        """The library's timer module reads `datetime.now`: through `clock.now_utc` instead, so a simulation's
        replay clock holds for duration and cycle timers too (it is the wall clock everywhere else)."""

        @classmethod
        def now(cls, tz=None):
            at = clock.now_utc()
            return at.astimezone(tz) if tz is not None else at.astimezone().replace(tzinfo=None)

    spiff_timer.datetime = ClockDatetime
    base.parse_iso_duration = staticmethod(parse_iso_duration)
    base.parse_iso_recurring_interval = staticmethod(parse_iso_recurring_interval)
    spiff_timer.TimeDateEventDefinition.has_fired = naming_the_element(time_date_has_fired)
    spiff_timer.DurationTimerEventDefinition.has_fired = naming_the_element(
        spiff_timer.DurationTimerEventDefinition.has_fired
    )
    spiff_timer.CycleTimerEventDefinition.cycle_complete = naming_the_element(
        spiff_timer.CycleTimerEventDefinition.cycle_complete
    )
    _installed = True


def _at(e: TimerValueError, my_task) -> TimerValueError:
    spec = my_task.task_spec
    kind = {"TimeDateEventDefinition": "timeDate", "DurationTimerEventDefinition": "timeDuration"}.get(
        type(getattr(spec, "event_definition", None)).__name__, ""
    )
    label = KINDS.get(kind, "定时器")
    e.element_id = getattr(spec, "bpmn_id", None) or spec.name
    e.element_name = getattr(spec, "bpmn_name", None)
    e.message = f"{label} 的值不可用：{e.message}"
    e.args = (e.message,)
    return e
