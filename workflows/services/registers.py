"""The registers administrators keep for R3 and R10: the 科研失信 list (with titles revoked for fraud) and the 违诺
records that 容缺 lapses write, with 信用修复.

R10 (seed 002 (十九), 004 第六十六条): a person on the 失信 list — until the end of the bar, if it has one — or with a
title revoked for fraud within three years is refused before anything else. R3: a 违诺 record bars 容缺受理 for
that person until it expires (the configured period, `breach_bar_months`, counted from the lapse) or an
administrator lifts it (信用修复, with date and reason).

Every change is one event of the administrators' hash-chained trail (`admin_event`, target `<register>:<id>`, action
`<register>_<what>`: who, when, what changed), written in the caller's transaction.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from workflows.domain.clock import LOCAL_TZ, local_day, today_local
from workflows.domain.errors import Conflict, NotFound, ValidationFailed
from workflows.domain.legal_time import LegalCalendar
from workflows.domain.models import AdminEvent, BreachRecord, CreditRecord
from workflows.services.audit import record_admin_event
from workflows.services.bulk_import import MAX_IMPORT_ROWS, _LineErrors, _read_table
from workflows.services.paging import Page
from workflows.services.settings import get_params

T = TypeVar("T")

CREDIT_KINDS = {"misconduct": "科研失信", "title_revoked": "弄虚作假撤销职称"}
TITLE_REVOKED_BAR_YEARS = 3  # R10: a title revoked for fraud bars an application for three years
ID_NUMBER = re.compile(r"^[0-9]{17}[0-9X]$")
PER_PAGE = 50

CREDIT_IMPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "id_number": ("身份证号", "身份证号码", "公民身份号码", "id_number"),
    "name": ("姓名", "name"),
    "kind": ("类别", "记录类别", "kind"),
    "listed_on": ("列入日期", "撤销日期", "listed_on"),
    "until": ("惩戒截止日期", "截止日期", "until"),
    "source_document": ("依据文件", "文号", "source_document"),
    "note": ("事由", "说明", "note"),
}
CREDIT_IMPORT_TEMPLATE = [
    list(names[0] for names in CREDIT_IMPORT_COLUMNS.values()),
    ["150102198001011234", "张某", "科研失信", "2026-03-01", "2031-02-28", "内科发〔2026〕12号", "项目经费违规使用"],
]
BREACH_IMPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "id_number": ("身份证号", "身份证号码", "公民身份号码", "id_number"),
    "at": ("违诺日期", "at"),
    "note": ("事由", "说明", "note"),
}
BREACH_IMPORT_TEMPLATE = [
    list(names[0] for names in BREACH_IMPORT_COLUMNS.values()),
    ["150102198001011234", "2025-06-30", "容缺材料逾期未补齐：学历学位证书（历史记录补录）"],
]


# -- checks shared by the forms, the API and the import ------------------------------------------------------------


def id_number_checked(value) -> str:
    """A 18-character 公民身份号码 with a valid check digit (GB 11643); a mistyped number would never match a case."""
    v = str(value or "").strip().upper()
    if not ID_NUMBER.match(v):
        raise ValidationFailed("公民身份号码须为 18 位（末位可为 X）")
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(d) * w for d, w in zip(v[:17], weights, strict=True)) % 11]
    if v[17] != check:
        raise ValidationFailed("公民身份号码校验位不正确，请核对")
    return v


def record(session: Session, model: type[T], record_id: int, missing: str) -> T:
    """A register's row by its id (ids beyond the column's range are simply not there), else NotFound(missing)."""
    row = session.get(model, record_id) if 0 < record_id < 2**31 else None
    if row is None:
        raise NotFound(missing)
    return row


def _date(value, label: str, required: bool = True) -> date | None:
    if isinstance(value, date):
        return value
    v = str(value or "").strip().replace("/", "-").replace(".", "-")
    if not v:
        if required:
            raise ValidationFailed(f"请填写{label}")
        return None
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise ValidationFailed(f"{label}格式不正确（应为 YYYY-MM-DD）") from None


def _text(value, label: str, max_len: int = 200, required: bool = False) -> str | None:
    v = str(value or "").strip()
    if not v:
        if required:
            raise ValidationFailed(f"请填写{label}")
        return None
    if len(v) > max_len:
        raise ValidationFailed(f"{label}不超过 {max_len} 字")
    return v


def _kind(value) -> str:
    v = str(value or "").strip()
    for key, label in CREDIT_KINDS.items():
        if v in (key, label):
            return key
    raise ValidationFailed("记录类别须为：" + "、".join(CREDIT_KINDS.values()))


def _event(session: Session, register: str, record_id: int, action: str, by: str, **detail) -> None:
    record_admin_event(session, by, f"{register}_{action}", f"{register}:{record_id}", **detail)


def event_kind(ev: AdminEvent) -> str:
    """What a register event did (create, import, update, lift, adjust …), without its register's name."""
    return ev.action.rsplit("_", 1)[-1]


def history(session: Session, register: str, record_id: int) -> list[AdminEvent]:
    return histories(session, register, [record_id]).get(record_id, [])


def histories(session: Session, register: str, record_ids: list[int]) -> dict[int, list[AdminEvent]]:
    """The trails of a page of records, in one query (oldest first)."""
    out: dict[int, list[AdminEvent]] = {}
    if record_ids:
        targets = {f"{register}:{i}": i for i in record_ids}
        for ev in session.scalars(
            select(AdminEvent).where(AdminEvent.target.in_(list(targets))).order_by(AdminEvent.seq)
        ):
            out.setdefault(targets[ev.target], []).append(ev)
    return out


# -- the 失信 list (R10) ---------------------------------------------------------------------------------------------


def credit_bar_end(rec: CreditRecord) -> date | None:
    """The last day the record bars an application (None: no end)."""
    if rec.kind == "title_revoked":
        try:
            end = rec.listed_on.replace(year=rec.listed_on.year + TITLE_REVOKED_BAR_YEARS)
        except ValueError:  # listed on 29 February
            end = rec.listed_on.replace(year=rec.listed_on.year + TITLE_REVOKED_BAR_YEARS, day=28)
        return min(end, rec.until) if rec.until else end
    return rec.until


def credit_active(rec: CreditRecord, today: date) -> bool:
    end = credit_bar_end(rec)
    return rec.listed_on <= today and (end is None or today <= end)


def credit_block_reason(session: Session, id_number: str | None, today: date) -> str:
    """R10's refusal sentence for this person today, or '' when nothing bars them."""
    if not id_number:
        return ""
    for rec in session.scalars(
        select(CreditRecord).where(CreditRecord.id_number == id_number).order_by(CreditRecord.listed_on)
    ):
        if not credit_active(rec, today):
            continue
        if rec.kind == "misconduct":
            until = f"，至{rec.until:%Y年%m月%d日}" if rec.until else ""
            return f"当事人列入科研失信名单（{rec.listed_on:%Y年%m月%d日}列入{until}）"
        return f"当事人三年内因弄虚作假被撤销职称（{rec.listed_on:%Y年%m月%d日}）"
    return ""


def _credit_fields(data: dict) -> dict:
    listed_on = _date(data.get("listed_on"), "列入日期")
    until = _date(data.get("until"), "惩戒截止日期", required=False)
    if until and listed_on and until < listed_on:
        raise ValidationFailed("惩戒截止日期不能早于列入日期")
    return {
        "id_number": id_number_checked(data.get("id_number")),
        "name": _text(data.get("name"), "姓名", 100, required=True),
        "kind": _kind(data.get("kind")),
        "listed_on": listed_on,
        "until": until,
        "source_document": _text(data.get("source_document"), "依据文件", required=True),
        "note": _text(data.get("note"), "事由"),
    }


def _credit_key(fields: dict) -> tuple:
    return (fields["id_number"], fields["kind"], fields["listed_on"])


def _listed(session: Session, batch: list[dict]) -> set[tuple]:
    """The keys of `batch` (person, kind, day) already listed, in one query per 500 people."""
    ids = sorted({f["id_number"] for f in batch})
    found: set[tuple] = set()
    for i in range(0, len(ids), 500):
        rows = session.execute(
            select(CreditRecord.id_number, CreditRecord.kind, CreditRecord.listed_on).where(
                CreditRecord.id_number.in_(ids[i : i + 500])
            )
        )
        found.update(tuple(r) for r in rows)
    return found & {_credit_key(f) for f in batch}


def _new_credit(session: Session, fields: dict, by: str, action: str) -> CreditRecord:
    rec = CreditRecord(**fields, created_by=by)
    session.add(rec)
    session.flush()
    _event(session, "credit", rec.id, action, by, **_credit_detail(rec))
    return rec


def add_credit(session: Session, data: dict, by: str) -> CreditRecord:
    fields = _credit_fields(data)
    if _listed(session, [fields]):
        raise Conflict("名单中已有此人同日列入的同类记录")
    return _new_credit(session, fields, by, "create")


def set_credit_end(session: Session, record_id: int, until, reason, by: str) -> CreditRecord:
    """Set (or clear) the end of the bar — e.g. a decision shortened or lifted it; the basis is required."""
    rec = record(session, CreditRecord, record_id, "失信记录不存在")
    new_until = _date(until, "惩戒截止日期", required=False)
    basis = _text(reason, "调整依据", required=True)
    if new_until and new_until < rec.listed_on:
        raise ValidationFailed("惩戒截止日期不能早于列入日期")
    before = rec.until
    rec.until = new_until
    _event(
        session,
        "credit",
        rec.id,
        "update",
        by,
        until_before=before.isoformat() if before else None,
        until=new_until.isoformat() if new_until else None,
        basis=basis,
    )
    return rec


def _credit_detail(rec: CreditRecord) -> dict:
    return {
        "id_number": rec.id_number,
        "name": rec.name,
        "kind": rec.kind,
        "listed_on": rec.listed_on.isoformat(),
        "until": rec.until.isoformat() if rec.until else None,
        "source_document": rec.source_document,
    }


def _search(stmt, model, q: str | None):
    q = (q or "").strip()
    if not q:
        return stmt
    like = f"%{q.replace('%', '').replace('_', '')}%"
    cols = [model.id_number.ilike(like)]
    if hasattr(model, "name"):
        cols.append(model.name.ilike(like))
    if hasattr(model, "source_document"):
        cols.append(model.source_document.ilike(like))
    return stmt.where(or_(*cols))


def _paged(session: Session, stmt, model, q: str | None, page: int, per_page: int, order) -> Page:
    stmt = _search(stmt, model, q)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = max(1, min(page, max(1, -(-total // per_page))))
    items = list(session.scalars(stmt.order_by(*order).offset((page - 1) * per_page).limit(per_page)))
    return Page(items, total, page, per_page)


def list_credit(session: Session, q: str | None = None, page: int = 1, per_page: int = PER_PAGE) -> Page:
    return _paged(
        session,
        select(CreditRecord),
        CreditRecord,
        q,
        page,
        per_page,
        (CreditRecord.listed_on.desc(), CreditRecord.id.desc()),
    )


def parse_credit_file(content: bytes, filename: str = "") -> list[dict]:
    return _read_table(
        content,
        filename,
        CREDIT_IMPORT_COLUMNS,
        ("id_number", "name", "kind", "listed_on", "source_document"),
        MAX_IMPORT_ROWS,
    )


def import_credit(session: Session, rows: list[dict], by: str) -> list[CreditRecord]:
    """All lines or none: every line's error is listed before anything is written; duplicates are skipped."""
    errors = _LineErrors()
    checked: list[dict] = []
    seen: set[tuple] = set()
    for r in rows:
        try:
            if r.get("_extra"):
                raise ValidationFailed(r["_extra"])
            fields = _credit_fields(r)
        except ValidationFailed as e:
            errors.add(r["line"], e.message)
            continue
        key = _credit_key(fields)
        if key in seen:
            errors.add(r["line"], "与前面的行重复")
            continue
        seen.add(key)
        checked.append(fields)
    errors.raise_if_any()
    listed = _listed(session, checked)
    return [_new_credit(session, f, by, "import") for f in checked if _credit_key(f) not in listed]


# -- 违诺 records and 信用修复 (R3) -----------------------------------------------------------------------------------


def breach_expiry(session: Session, on: date, months: int | None = None) -> date | None:
    """The day a 违诺 recorded on `on` stops barring 容缺 (None: it never expires by itself); `months` defaults to the
    configured period (an import reads it once for all its lines)."""
    if months is None:
        months = int(get_params(session).get("breach_bar_months") or 0)
    return LegalCalendar.add_months(on, months) if months > 0 else None


def breach_active(rec: BreachRecord, today: date) -> bool:
    if rec.lifted_on is not None and rec.lifted_on <= today:
        return False
    return rec.expires_on is None or today < rec.expires_on


def active_breach(session: Session, id_number: str | None, today: date) -> BreachRecord | None:
    """The 违诺 record that bars this person from 容缺受理 today, if any."""
    if not id_number:
        return None
    for rec in session.scalars(select(BreachRecord).where(BreachRecord.id_number == id_number)):
        if breach_active(rec, today):
            return rec
    return None


def record_breach(
    session: Session, id_number: str, case_id: int | None, note: str, today: date, by: str = "system"
) -> BreachRecord:
    """A 容缺 lapse (R3): the record, its expiry from the configured period, and its trail entry."""
    rec = BreachRecord(id_number=id_number, case_id=case_id, note=note[:200], expires_on=breach_expiry(session, today))
    session.add(rec)
    session.flush()
    _event(session, "breach", rec.id, "create", by, **_breach_detail(rec))
    return rec


def _breach_detail(rec: BreachRecord) -> dict:
    return {
        "id_number": rec.id_number,
        "case_id": rec.case_id,
        "note": rec.note,
        "expires_on": rec.expires_on.isoformat() if rec.expires_on else None,
    }


def lift_breach(session: Session, record_id: int, lifted_on, reason, by: str) -> BreachRecord:
    """信用修复: an administrator lifts the bar from a date (not in the future), with the reason."""
    rec = record(session, BreachRecord, record_id, "违诺记录不存在")
    if rec.lifted_on is not None:
        raise Conflict(f"该记录已于 {rec.lifted_on:%Y年%m月%d日} 信用修复")
    day = _date(lifted_on, "修复日期")
    assert day is not None
    if day > today_local():
        raise ValidationFailed("修复日期不能晚于今天")
    if day < local_day(rec.at):
        raise ValidationFailed("修复日期不能早于违诺日期")
    rec.lifted_on, rec.lifted_by = day, by
    rec.lift_reason = _text(reason, "修复理由", required=True)
    _event(session, "breach", rec.id, "lift", by, lifted_on=day.isoformat(), reason=rec.lift_reason)
    return rec


def list_breach(session: Session, q: str | None = None, page: int = 1, per_page: int = PER_PAGE) -> Page:
    return _paged(
        session, select(BreachRecord), BreachRecord, q, page, per_page, (BreachRecord.at.desc(), BreachRecord.id.desc())
    )


def parse_breach_file(content: bytes, filename: str = "") -> list[dict]:
    return _read_table(content, filename, BREACH_IMPORT_COLUMNS, ("id_number", "at", "note"), MAX_IMPORT_ROWS)


def import_breach(session: Session, rows: list[dict], by: str) -> list[BreachRecord]:
    """Historical 违诺 records (kept before this system): all lines or none; expiry counted from each record's date."""
    errors = _LineErrors()
    months = int(get_params(session).get("breach_bar_months") or 0)
    checked = []
    for r in rows:
        try:
            if r.get("_extra"):
                raise ValidationFailed(r["_extra"])
            id_number = id_number_checked(r.get("id_number"))
            day = _date(r.get("at"), "违诺日期")
            assert day is not None
            if day > today_local():
                raise ValidationFailed("违诺日期不能晚于今天")
            note = _text(r.get("note"), "事由", required=True)
        except ValidationFailed as e:
            errors.add(r["line"], e.message)
            continue
        checked.append((id_number, day, note))
    errors.raise_if_any()
    created = []
    for id_number, day, note in checked:
        rec = BreachRecord(
            id_number=id_number,
            case_id=None,
            note=note,
            at=datetime.combine(day, time(12), LOCAL_TZ).astimezone(UTC),
            expires_on=breach_expiry(session, day, months),
        )
        session.add(rec)
        session.flush()
        _event(session, "breach", rec.id, "import", by, **_breach_detail(rec))
        created.append(rec)
    return created
