"""Policy parameters (administrator-editable) and the legal calendar built from the holiday table."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..legal_time import LegalCalendar
from ..models import Holiday, Setting

DEFAULT_PARAMS: dict[str, object] = {
    "rongque_days": 30,              # R3: working days to supply owed items
    "promise_working_days": 40,      # 承诺办结时限 (working days after acceptance)
    "publicity_days": 5,             # R7: 公示 working days, start day counted
    "special_post_term_cap": 60,     # R8: months
    "special_post_term_mode": "refuse",  # R8: refuse | cap a longer request
    "filing_remind_working_days": 3,  # R6: reminder this many working days before the 备案 due date
}


def get_params(session: Session) -> dict:
    params = dict(DEFAULT_PARAMS)
    for row in session.scalars(select(Setting).where(Setting.key.in_(DEFAULT_PARAMS))):
        params[row.key] = row.value
    return params


def set_param(session: Session, key: str, value) -> None:
    from ..errors import ValidationFailed
    if key not in DEFAULT_PARAMS:
        raise ValidationFailed(f"未知的参数：{key}")
    default = DEFAULT_PARAMS[key]
    if isinstance(default, int) and (not isinstance(value, int) or value <= 0):
        raise ValidationFailed(f"参数 {key} 须为正整数")
    if key == "special_post_term_mode" and value not in ("refuse", "cap"):
        raise ValidationFailed("特设岗位聘期超限处理方式须为 refuse（退回）或 cap（按上限核定）")
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value))
    else:
        row.value = value


def load_calendar(session: Session) -> LegalCalendar:
    overrides = {h.day: h.is_working_day for h in session.scalars(select(Holiday))}
    return LegalCalendar(overrides)
