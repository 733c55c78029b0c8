"""Number series (文号序列) of the issuing offices, and their seal images: what administrators manage on
/admin/offices, and the gap-free numbering the archive draws from.

* One series per office and kind group (workflows/domain/register.py), each with its 发文机关代字. A series is created
  with the default 代字 the first time its office numbers a document of the group (or when an administrator adds
  the office), so a new unit publishing its first 公示 needs no set-up.
* The counter is per (office, group, year): a new year starts at 1; an administrator's new prefix applies from the
  next number on and the year's sequence continues (one register, no gap, no number printed twice). Numbers already
  issued are stored on their documents and never change.
* A prefix is unique across series, and may not be one another series has printed numbers with.
* Every change leaves an administrator's audit event (workflows/services/audit.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workflows.domain import procedures, register
from workflows.domain.clock import now_utc, today_local
from workflows.domain.errors import NotFound, ValidationFailed
from workflows.domain.models import DocSeries, Document, DocumentCounter, OfficeSeal, Unit
from workflows.infra import counters, lookups
from workflows.services.audit import record_admin_event

log = logging.getLogger(__name__)

# 发文机关代字 of the demo offices (the base of their series' prefixes). The setting `doc_prefixes`
# ({"U0101": "内农牧科院字", …}) of earlier releases still overrides it; a unit with neither gets `内{code}字`.
DOC_PREFIXES: dict[str, str] = {
    "RS": "内人社字",  # 内蒙古自治区人力资源和社会保障厅
    "BB": "内编字",  # 自治区党委机构编制委员会办公室
    "PW": "内职评字",  # 高级职称评审委员会办公室
    "D01": "内科字",  # 科技厅
    "D02": "内教字",  # 教育厅
    "U0101": "内农牧科院字",  # 农牧业科学院
    "U0102": "内科信所字",  # 科技信息研究所
    "U0201": "内大字",  # 内蒙古大学
    "U0202": "内工大字",  # 内蒙古工业大学
}
# The offices every installation issues from (the procedures' own offices); others appear once they number.
REGIONAL_OFFICES = (procedures.HRSS_OFFICE, procedures.BIANBAN_OFFICE, procedures.COMMITTEE_OFFICE)
MAX_SEAL_BYTES = 512 * 1024
SEAL_MIN_PX, SEAL_MAX_PX = 100, 2000


def base_prefix(session: Session, office_code: str) -> str:
    setting = lookups.setting(session, "doc_prefixes")
    overrides = setting.value if setting is not None and isinstance(setting.value, dict) else {}
    prefix = overrides.get(office_code) or DOC_PREFIXES.get(office_code)
    if not prefix:
        prefix = f"内{office_code}字"
    return prefix


def default_prefix(session: Session, office_code: str, group: str) -> str:
    return register.default_prefix(base_prefix(session, office_code), group)


def _series(session: Session, office_code: str, group: str) -> DocSeries | None:
    return session.scalar(select(DocSeries).where(DocSeries.office_code == office_code, DocSeries.kind_group == group))


def ensure_series(session: Session, office_code: str, group: str, by: str = "system") -> DocSeries:
    """The office's series of `group`, created with the default prefix if it does not exist yet."""
    row = _series(session, office_code, group)
    if row is not None:
        return row
    prefix = default_prefix(session, office_code, group)
    try:
        with session.begin_nested():
            session.execute(
                insert(DocSeries).values(
                    office_code=office_code, kind_group=group, prefix=prefix, updated_at=now_utc(), updated_by=by
                )
            )
    except IntegrityError:
        pass  # another issuer created it first, or the default prefix is taken: told apart below
    row = _series(session, office_code, group)
    if row is None:
        raise ValidationFailed(
            f"发文机关 {office_code} 的{register.SERIES_GROUPS[group].label}文号默认代字“{prefix}”已被其他文号序列使用，"
            "请系统管理员在“发文机关”页为其设置代字后重试"
        )
    return row


def next_seq(session: Session, office_code: str, group: str, year: int) -> int:
    """The next number of a series for a year, under the counter row's lock (gap-free: it commits or rolls back with
    the document row)."""
    return counters.increment(
        session, DocumentCounter, "文号分配冲突，请重试", office_code=office_code, kind_group=group, year=year
    )


@dataclass(frozen=True)
class Number:
    group: str
    year: int
    seq: int
    doc_no: str


def allocate(session: Session, office_code: str, kind: str, year: int | None = None) -> Number | None:
    """The next 文号 for a document of `kind` issued by `office_code` (None: the kind carries no office number)."""
    group = register.series_group(kind)
    if group is None:
        return None
    year = year or today_local().year
    series = ensure_series(session, office_code, group)
    seq = next_seq(session, office_code, group, year)
    return Number(group, year, seq, register.format_doc_no(series.prefix, year, seq))


# ----------------------------------------------------------------------------------------------------------------
# What administrators see and change
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class SeriesView:
    group: register.SeriesGroup
    prefix: str
    exists: bool  # False: created with this default at the office's first number of the group
    last_seq: int  # this year's last number (0: none yet)
    next_no: str
    updated_at: object = None
    updated_by: str = ""


@dataclass
class OfficeView:
    code: str
    name: str
    series: list[SeriesView]
    seal: OfficeSeal | None
    documents: int


def _unit(session: Session, code: str) -> Unit:
    unit = session.get(Unit, code)
    if unit is None:
        raise NotFound(f"发文机关不存在：{code}")
    return unit


def office_codes(session: Session) -> list[str]:
    """The issuing offices: the regional offices, every office with a series or a seal, every office that issued."""
    codes = set(REGIONAL_OFFICES)
    codes |= set(session.scalars(select(DocSeries.office_code).distinct()))
    codes |= set(session.scalars(select(OfficeSeal.office_code)))
    codes |= set(session.scalars(select(Document.office_code).distinct()))
    known = set(session.scalars(select(Unit.code).where(Unit.code.in_(codes))))
    # regional offices first, then by code
    return sorted(
        codes & known,
        key=lambda c: (c not in REGIONAL_OFFICES, REGIONAL_OFFICES.index(c) if c in REGIONAL_OFFICES else 0, c),
    )


def office(session: Session, code: str) -> OfficeView:
    unit = _unit(session, code)
    year = today_local().year
    rows = {r.kind_group: r for r in session.scalars(select(DocSeries).where(DocSeries.office_code == code))}
    counters: dict[str, int] = {
        g: int(v)
        for g, v in session.execute(
            select(DocumentCounter.kind_group, DocumentCounter.value).where(
                DocumentCounter.office_code == code, DocumentCounter.year == year
            )
        )
    }
    series = []
    for key, group in register.SERIES_GROUPS.items():
        row = rows.get(key)
        prefix = row.prefix if row is not None else default_prefix(session, code, key)
        last = int(counters.get(key, 0))
        series.append(
            SeriesView(
                group,
                prefix,
                row is not None,
                last,
                register.format_doc_no(prefix, year, last + 1),
                row.updated_at if row is not None else None,
                row.updated_by if row is not None else "",
            )
        )
    docs = session.scalar(select(func.count()).select_from(Document).where(Document.office_code == code)) or 0
    return OfficeView(code, unit.name, series, session.get(OfficeSeal, code), int(docs))


def add_office(session: Session, code: str, by: str) -> Unit:
    """Set an office up for issuing: its series with the default prefixes (nothing else changes)."""
    code = (code or "").strip()
    if not code:
        raise ValidationFailed("请选择单位", details={"fields": {"office_code": "此项为必填项"}})
    unit = _unit(session, code)
    created = {}
    for key in register.SERIES_GROUPS:
        if _series(session, code, key) is None:
            created[key] = ensure_series(session, code, key, by=by).prefix
    if created:
        record_admin_event(session, by, "office_added", f"office:{code}", name=unit.name, series=created)
    return unit


def _prefix_in_use(session: Session, prefix: str, code: str, group: str) -> str | None:
    """Who else prints numbers with `prefix` (zh), or None."""
    other = session.scalar(select(DocSeries).where(DocSeries.prefix == prefix))
    if other is not None and (other.office_code, other.kind_group) != (code, group):
        return f"{other.office_code} 的{register.SERIES_GROUPS[other.kind_group].label}文号"
    used = session.scalar(
        select(Document.doc_no)
        .where(
            Document.doc_no.like(f"{prefix}〔%"),
            ~((Document.office_code == code) & (Document.kind_group == group)),
        )
        .limit(1)
    )
    if used is not None:
        return f"已出具的文书（{used}）"
    existing = {(r.office_code, r.kind_group) for r in session.scalars(select(DocSeries))}
    for unit_code in session.scalars(select(Unit.code)):
        for key in register.SERIES_GROUPS:
            if (unit_code, key) != (code, group) and (unit_code, key) not in existing:
                if default_prefix(session, unit_code, key) == prefix:
                    return f"{unit_code} 的{register.SERIES_GROUPS[key].label}文号（默认代字）"
    return None


def set_prefix(session: Session, code: str, group: str, prefix: str, by: str) -> DocSeries:
    """An administrator's new 代字 for one series: it applies from the next number; issued numbers never change."""
    _unit(session, code)
    if group not in register.SERIES_GROUPS:
        raise NotFound(f"没有这类文号：{group}")
    prefix = (prefix or "").strip()
    problem = register.prefix_problem(prefix)
    if problem:
        raise ValidationFailed(problem, details={"fields": {"prefix": problem}})
    row = _series(session, code, group)
    old = row.prefix if row is not None else None
    if row is not None and prefix == old:
        return row
    clash = _prefix_in_use(session, prefix, code, group)
    if clash:
        msg = f"代字“{prefix}”已被{clash}使用，同一代字不能用于两个文号序列"
        raise ValidationFailed(msg, details={"fields": {"prefix": msg}})
    if row is None:  # not numbered yet: created with the administrator's prefix (its default may be the clash)
        row = DocSeries(office_code=code, kind_group=group)
        session.add(row)
    row.prefix, row.updated_at, row.updated_by = prefix, now_utc(), by
    session.flush([row])
    record_admin_event(session, by, "series_prefix_changed", f"office:{code}", group=group, old=old, new=prefix)
    return row


def set_seal(session: Session, code: str, sha256: str, size: int, width: int, height: int, by: str) -> OfficeSeal:
    """Record the office's seal image (its bytes are already in the upload store under `sha256`)."""
    _unit(session, code)
    row = session.get(OfficeSeal, code)
    old = row.sha256 if row is not None else None
    if row is None:
        row = OfficeSeal(office_code=code)
        session.add(row)
    row.sha256, row.size, row.width, row.height = sha256, size, width, height
    row.uploaded_at, row.uploaded_by = now_utc(), by
    session.flush([row])
    record_admin_event(
        session, by, "seal_uploaded", f"office:{code}", sha256=sha256, size=size, width=width, height=height, old=old
    )
    return row


def remove_seal(session: Session, code: str, by: str) -> None:
    _unit(session, code)
    row = session.get(OfficeSeal, code)
    if row is None:
        raise NotFound("该发文机关没有上传印章图片")
    old = row.sha256
    session.delete(row)
    session.flush()
    record_admin_event(session, by, "seal_removed", f"office:{code}", sha256=old)


def seal_of(session: Session, code: str) -> OfficeSeal | None:
    return session.get(OfficeSeal, code)
