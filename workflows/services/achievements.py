"""R9's list of major achievements and awards that let local talent apply directly for a senior title (职称绿色通道),
kept by administrators.

Seed 000 §二(二): “对取得重大基础研究成果、突破关键核心技术、解决重大工程技术难题的本土人才 … 可通过自治区职称评审
‘绿色通道’直接申报高级职称”. Each entry belongs to one of those three categories. The start form offers the entries
active on the day; the start service refuses any other (an unknown, expired or not yet active entry) and hands the
eligibility table (bpmn/talent_eligibility.dmn) the entry's category, so the table keeps deciding on the three kinds.

Every change is an event of the administrators' trail (`admin_event`, target `achievement:<id>`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from workflows.domain.clock import today_local
from workflows.domain.errors import Conflict, ValidationFailed
from workflows.domain.models import Achievement
from workflows.services.bulk_import import MAX_IMPORT_ROWS, _LineErrors, _read_table
from workflows.services.paging import Page
from workflows.services.registers import PER_PAGE, _date, _event, _text, record

REGISTER = "achievement"
CATEGORIES = {
    "major_basic_research": "重大基础研究成果",
    "key_core_technology": "突破关键核心技术",
    "major_engineering_problem": "解决重大工程技术难题",
}
CODE = re.compile(r"^[A-Za-z0-9_]{1,48}$")
GENERATED = re.compile(r"^ach[0-9]+$")
SEED_SOURCE = "《保障科研人员权益工作方案》（内蒙古自治区科学技术厅，2025年4月15日）"
SEED_FROM = date(2025, 4, 15)
# The three kinds the start form offered before the register (also migration 0019's rows): nothing changes for
# cases and clients that send these codes.
DEFAULTS = (
    ("major_basic_research", "取得重大基础研究成果"),
    ("key_core_technology", "突破关键核心技术"),
    ("major_engineering_problem", "解决重大工程技术难题"),
)
IMPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("名称", "成果或奖项名称", "name"),
    "category": ("类别", "成果类别", "category"),
    "level": ("级别", "level"),
    "source_document": ("依据文件", "文号", "source_document"),
    "active_from": ("生效日期", "起始日期", "active_from"),
    "active_to": ("截止日期", "失效日期", "active_to"),
    "code": ("代码", "code"),
}
IMPORT_TEMPLATE = [
    list(names[0] for names in IMPORT_COLUMNS.values()),
    [
        "国家自然科学奖二等奖以上（第一完成人）",
        "重大基础研究成果",
        "国家级",
        "内人社发〔2026〕5号",
        "2026-01-01",
        "",
        "",
    ],
]


@dataclass(frozen=True)
class Choice:
    code: str
    name: str


def active(rec: Achievement, day: date) -> bool:
    return rec.active_from <= day and (rec.active_to is None or day <= rec.active_to)


def state(rec: Achievement, day: date) -> str:
    """active | future | ended"""
    if rec.active_from > day:
        return "future"
    return "active" if active(rec, day) else "ended"


def choices(session: Session, day: date | None = None) -> list[Choice]:
    """What the start form offers today: the active entries, in the order they were listed."""
    day = day or today_local()
    rows = session.scalars(
        select(Achievement)
        .where(Achievement.active_from <= day, or_(Achievement.active_to.is_(None), Achievement.active_to >= day))
        .order_by(Achievement.id)
    )
    return [Choice(r.code, r.name) for r in rows]


def labels(session: Session) -> dict[str, str]:
    """Every entry's name by code (a case keeps the code it was started with, also after the entry ends)."""
    return dict(session.execute(select(Achievement.code, Achievement.name)).tuples().all())


def chosen(session: Session, code, day: date | None = None) -> Achievement | None:
    """The entry an application names, checked against the register on the day (None: no achievement named)."""
    if code in (None, ""):
        return None
    day = day or today_local()
    rec = session.scalar(select(Achievement).where(Achievement.code == str(code)))
    if rec is None:
        raise _field("所选重大业绩不在自治区公布的重大成果和奖项目录中")
    if rec.active_from > day:
        raise _field(f"“{rec.name}”自{rec.active_from:%Y年%m月%d日}起适用，目前不能选择")
    if not active(rec, day):
        raise _field(f"“{rec.name}”已于{rec.active_to:%Y年%m月%d日}停止适用，不能再作为直接申报的依据")
    return rec


def category_of(session: Session, code, day: date | None = None) -> str | None:
    """The value the eligibility table decides on: the chosen entry's category (None when none is named)."""
    rec = chosen(session, code, day)
    return rec.category if rec is not None else None


def category_by_code(session: Session, code: str) -> str | None:
    """An entry's category whatever its period (a case keeps the entry it was started with)."""
    return session.scalar(select(Achievement.category).where(Achievement.code == code))


def _field(message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"fields": {"achievement": message}})


# -- the administrators' side ---------------------------------------------------------------------------------------


def _category(value) -> str:
    v = str(value or "").strip()
    for key, label in CATEGORIES.items():
        if v in (key, label):
            return key
    raise ValidationFailed("成果类别须为：" + "、".join(CATEGORIES.values()))


def _fields(data: dict) -> dict:
    active_from = _date(data.get("active_from"), "生效日期")
    active_to = _date(data.get("active_to"), "截止日期", required=False)
    if active_to and active_from and active_to < active_from:
        raise ValidationFailed("截止日期不能早于生效日期")
    code = str(data.get("code") or "").strip()
    if code and (not CODE.match(code) or GENERATED.match(code)):
        raise ValidationFailed("代码须为 1–48 位字母、数字或下划线，且不能是 ach 加数字（可不填，由系统生成）")
    return {
        "code": code,
        "name": _text(data.get("name"), "成果或奖项名称", 200, required=True),
        "category": _category(data.get("category")),
        "level": _text(data.get("level"), "级别", 32) or "",
        "source_document": _text(data.get("source_document"), "依据文件", required=True),
        "active_from": active_from,
        "active_to": active_to,
    }


def _detail(rec: Achievement) -> dict:
    return {
        "code": rec.code,
        "name": rec.name,
        "category": rec.category,
        "level": rec.level,
        "source_document": rec.source_document,
        "active_from": rec.active_from.isoformat(),
        "active_to": rec.active_to.isoformat() if rec.active_to else None,
    }


def _taken(session: Session, fields: dict) -> str:
    """Why this entry clashes with one already listed ('' if it does not): the same code, or the same name."""
    if fields["code"] and session.scalar(select(Achievement.id).where(Achievement.code == fields["code"])):
        return f"代码 {fields['code']} 已被使用"
    if session.scalar(select(Achievement.id).where(Achievement.name == fields["name"])):
        return f"目录中已有“{fields['name']}”"
    return ""


def _new(session: Session, fields: dict, by: str, action: str) -> Achievement:
    rec = Achievement(**{**fields, "code": fields["code"] or f"tmp-{id(fields)}"}, created_by=by)
    session.add(rec)
    session.flush()
    if not fields["code"]:
        rec.code = f"ach{rec.id}"  # generated: stable, never reused (a chosen code may not look like one)
        session.flush()
    _event(session, REGISTER, rec.id, action, by, **_detail(rec))
    return rec


def add(session: Session, data: dict, by: str) -> Achievement:
    fields = _fields(data)
    clash = _taken(session, fields)
    if clash:
        raise Conflict(clash)
    return _new(session, fields, by, "create")


def set_end(session: Session, record_id: int, active_to, reason, by: str) -> Achievement:
    """End (or extend, or reopen) an entry: from the day after `active_to` it is no longer offered nor accepted;
    the basis is required. Cases started with it keep it."""
    rec = record(session, Achievement, record_id, "目录条目不存在")
    end = _date(active_to, "截止日期", required=False)
    basis = _text(reason, "调整依据", required=True)
    if end and end < rec.active_from:
        raise ValidationFailed("截止日期不能早于生效日期")
    before = rec.active_to
    rec.active_to = end
    _event(
        session,
        REGISTER,
        rec.id,
        "end",
        by,
        before={"active_to": before.isoformat() if before else None},
        after={"active_to": end.isoformat() if end else None},
        basis=basis,
    )
    return rec


def ensure_defaults(session: Session, by: str = "system") -> int:
    """An empty register gets the seed's three kinds (a new installation offers what the form always offered)."""
    if session.scalar(select(func.count()).select_from(Achievement)):
        return 0
    for code, name in DEFAULTS:
        fields = {
            "code": code,
            "name": name,
            "category": code,
            "level": "",
            "source_document": SEED_SOURCE,
            "active_from": SEED_FROM,
            "active_to": None,
        }
        _new(session, fields, by, "create")
    return len(DEFAULTS)


def list_entries(session: Session, q: str | None = None, page: int = 1, per_page: int = PER_PAGE) -> Page:
    stmt = select(Achievement)
    q = (q or "").strip()
    if q:
        like = f"%{q.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(
            or_(Achievement.name.ilike(like), Achievement.code.ilike(like), Achievement.source_document.ilike(like))
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = max(1, min(page, max(1, -(-total // per_page))))
    items = list(session.scalars(stmt.order_by(Achievement.id).offset((page - 1) * per_page).limit(per_page)))
    return Page(items, total, page, per_page)


def parse_file(content: bytes, filename: str = "") -> list[dict]:
    return _read_table(
        content, filename, IMPORT_COLUMNS, ("name", "category", "source_document", "active_from"), MAX_IMPORT_ROWS
    )


def import_rows(session: Session, rows: list[dict], by: str) -> list[Achievement]:
    """All lines or none: every line's problem (a bad field, a name or code already listed or repeated) is listed
    before anything is written."""
    errors = _LineErrors()
    checked: list[dict] = []
    names: set[str] = set()
    codes: set[str] = set()
    for r in rows:
        try:
            if r.get("_extra"):
                raise ValidationFailed(r["_extra"])
            fields = _fields(r)
            clash = _taken(session, fields)
            if clash:
                raise ValidationFailed(clash)
            if fields["name"] in names or (fields["code"] and fields["code"] in codes):
                raise ValidationFailed("与前面的行重复")
        except (ValidationFailed, Conflict) as e:
            errors.add(r["line"], e.message)
            continue
        names.add(fields["name"])
        codes.add(fields["code"])
        checked.append(fields)
    errors.raise_if_any()
    return [_new(session, f, by, "import") for f in checked]
