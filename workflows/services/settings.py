"""Policy parameters (administrator-editable, with their labels and the form that sets them) and the legal calendar
built from the holiday table (the table itself: `holidays`)."""

from __future__ import annotations

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from workflows.domain.errors import ValidationFailed
from workflows.domain.legal_time import LegalCalendar
from workflows.domain.models import Holiday, Setting
from workflows.domain.votes import parse_fraction
from workflows.infra.db import bind_of

DEFAULT_PARAMS: dict[str, object] = {
    "rongque_days": 30,  # R3: working days to supply owed items
    "promise_working_days": 40,  # 承诺办结时限 (working days after acceptance)
    "publicity_days": 5,  # R7: 公示 working days, start day counted
    "special_post_term_cap": 60,  # R8: months
    "special_post_term_mode": "refuse",  # R8: refuse | cap a longer request
    "filing_remind_working_days": 3,  # R6: reminder this many working days before the 备案 due date
    "breach_bar_months": 36,  # R3: a 违诺 bars 容缺受理 this many months, unless lifted earlier
    "vote_quorum": "2/3",  # R9: experts present at least this share of those called, else the meeting cannot vote
    "vote_threshold": "2/3",  # R9: votes for at least this share of the experts present
    # 行政许可法 第三十八条: every adverse decision names where to apply for 行政复议 (行政复议法 第二十四条: the
    # government of the level whose department decided — the region's government for the 人社厅)
    "reconsideration_body": "内蒙古自治区人民政府",
    # 科研人员权益保障 window (seed 000 §三(三)): the office answers within N working days of acceptance; a reminder
    # this many working days before; the complainant rates within M working days, else the case closes unrated
    "rights_answer_days": 15,
    "rights_remind_working_days": 3,
    "rights_rating_days": 10,
}
FRACTION_PARAMS = ("vote_quorum", "vote_threshold")


HOLIDAY_REV = "_holiday_rev"


def get_params(session: Session) -> dict:
    params = dict(DEFAULT_PARAMS)
    for row in session.scalars(select(Setting).where(Setting.key.in_(DEFAULT_PARAMS))):
        params[row.key] = row.value
    return params


def params_and_calendar(session: Session) -> tuple[dict, LegalCalendar]:
    """Both in one query; the calendar (with its warm day cache) is rebuilt only when the holiday table changed."""
    params, rev = dict(DEFAULT_PARAMS), 0
    for key, value in session.execute(_PARAMS_QUERY):
        if key == HOLIDAY_REV:
            rev = int(value)
        else:
            params[key] = value
    url = bind_of(session).engine.url
    db = _url_keys.get(url)
    if db is None:
        db = _url_keys[url] = url.render_as_string(hide_password=True)
    cached = _calendars.get(db)
    if cached is None or cached[0] != rev:
        cached = (rev, load_calendar(session))
        _calendars[db] = cached
    return params, cached[1]


_calendars: dict[str, tuple[int, LegalCalendar]] = {}
_url_keys: dict = {}  # URL object -> its rendering (the key of _calendars), rendered once per URL
_PARAMS_QUERY = select(Setting.key, Setting.value).where(Setting.key.in_([*DEFAULT_PARAMS, HOLIDAY_REV]))


@event.listens_for(Session, "before_flush")
def _bump_holiday_rev(session: Session, _ctx, _instances) -> None:
    """Any change to the holiday table (through the ORM) moves the revision, so every process reloads it."""
    if any(isinstance(o, Holiday) for o in (*session.new, *session.dirty, *session.deleted)):
        bump_holiday_rev(session)


def bump_holiday_rev(session: Session) -> None:
    """Call after changing the holiday table with bulk SQL (the ORM path does it by itself)."""
    row = session.get(Setting, HOLIDAY_REV)
    if row is None:
        session.add(Setting(key=HOLIDAY_REV, value=1))
    else:
        row.value = int(row.value) + 1


def set_param(session: Session, key: str, value) -> None:
    if key not in DEFAULT_PARAMS:
        raise ValidationFailed(f"未知的参数：{key}")
    default = DEFAULT_PARAMS[key]
    if isinstance(default, int) and (not isinstance(value, int) or value <= 0):
        raise ValidationFailed(f"参数 {key} 须为正整数")
    if key == "special_post_term_mode" and value not in ("refuse", "cap"):
        raise ValidationFailed("特设岗位聘期超限处理方式须为 refuse（退回）或 cap（按上限核定）")
    if key in FRACTION_PARAMS:
        try:
            parse_fraction(value)
        except ValueError as e:
            raise ValidationFailed(f"{PARAM_LABELS[key][0]}{e}") from None
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value))
    else:
        row.value = value


def load_calendar(session: Session) -> LegalCalendar:
    """The services' calendar: the table wins; a year without a known arrangement is counted provisionally (weekdays)
    and its dates are marked so (DESIGN §3). A demo's stop-gap table (named 临时表) does not make its year official."""
    overrides, official = {}, set()
    for h in session.scalars(select(Holiday)):
        overrides[h.day] = h.is_working_day
        if "临时表" not in (h.name or ""):
            official.add(h.day.year)
    return LegalCalendar(overrides, official, provisional=True)


# -- the administrator's parameter form ----------------------------------------------------------------------------

PARAM_LABELS = {
    "rongque_days": ("容缺补正期限（工作日）", "R3：容缺受理后补齐材料的工作日数"),
    "promise_working_days": ("承诺办结时限（工作日）", "受理后承诺办结的工作日数"),
    "publicity_days": ("公示期（工作日）", "R7：公示的工作日数，含起始日"),
    "special_post_term_cap": ("特设岗位聘期上限（月）", "R8：特设岗位聘期的最长月数"),
    "special_post_term_mode": ("聘期超限处理方式", "R8：申请聘期超过上限时 退回（refuse）或 按上限核定（cap）"),
    "filing_remind_working_days": ("备案提醒提前量（工作日）", "R6：备案到期前多少个工作日提醒"),
    "breach_bar_months": ("违诺限制期（月）", "R3：违诺记录自记录之日起多少个月内不再适用容缺受理（期满自动信用修复）"),
    "vote_quorum": ("评审会议法定人数（占应到）", "R9：实到专家不少于应到专家的比例，如 2/3；不足则表决无效"),
    "vote_threshold": ("评审通过票数（占实到）", "R9：同意票不少于实到专家的比例，如 2/3（弃权计入实到）"),
    "reconsideration_body": (
        "行政复议机关",
        "不予受理、不予批准、终止办理文书告知的行政复议机关（行政许可法第三十八条）",
    ),
    "rights_answer_days": ("权益保障投诉答复时限（工作日）", "受理后多少个工作日内答复投诉人；逾期督办"),
    "rights_remind_working_days": ("权益保障答复提醒提前量（工作日）", "答复期限前多少个工作日提醒办理部门"),
    "rights_rating_days": ("投诉人评价期限（工作日）", "答复后投诉人多少个工作日内评价，期满未评价即办结"),
}
TERM_MODES = {"refuse": "退回（不予受理）", "cap": "按上限核定"}


def set_params(session: Session, form: dict[str, str]) -> dict[str, object]:
    """The administrator's form (text values): validate every submitted value, then set them all (or none).
    Returns what changed."""
    changed: dict[str, object] = {}
    errors: list[str] = []
    for key, default in DEFAULT_PARAMS.items():
        if key not in form:
            continue
        raw = (form.get(key) or "").strip()
        label = PARAM_LABELS.get(key, (key,))[0]
        if isinstance(default, int):
            try:
                value = int(raw)
            except ValueError:
                errors.append(f"{label}须为正整数")
                continue
            if value <= 0 or value > 3650:
                errors.append(f"{label}须为 1–3650 之间的整数")
                continue
        else:
            value = raw  # type: ignore[assignment]  # text parameters stay text
            if not raw or len(raw) > 100:
                errors.append(f"{label}须为 1–100 个字符")
                continue
            if key == "special_post_term_mode" and value not in TERM_MODES:
                errors.append(f"{label}须为 refuse 或 cap")
                continue
            if key in FRACTION_PARAMS:
                try:
                    parse_fraction(value)
                except ValueError as e:
                    errors.append(f"{label}{e}")
                    continue
        changed[key] = value
    if errors:
        raise ValidationFailed("；".join(errors), details={"errors": errors})
    current = get_params(session)
    for key, new in changed.items():
        if current.get(key) != new:
            set_param(session, key, new)
    session.flush()
    return {k: v for k, v in changed.items() if current.get(k) != v}
