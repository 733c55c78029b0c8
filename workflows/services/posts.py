"""Each unit's posts and 编制: the register administrators keep (and 编办 for 编制), and what the rules read from it.

* **Posts by level** (`UnitPost`): 专业技术岗位 一级…十三级, 管理岗位 一级…十级职员, 工勤技能岗位 技术工一级…五级 and
  普通工 — 核定 (the approved post-setting plan) and 实有 (filled); 空编 = 核定 − 实有.
* **编制** is the unit's own establishment ledger, the `QuotaPool` of kind `unit_own` (workflows/services/quota.py):
  核定 = its total, 实有 = used, 预留 = places reserved by running 列编 cases (R4), 空编 = total − used − reserved.
  This register shows and adjusts that same row; nothing is kept twice.

R8 reads the register: a special post may be set only when the unit has no vacant post at the level, and after 核销
the holder moves to a regular post when the register shows a vacancy at that level — the move fills it (实有 + 1) in
the same transaction, with one conditional UPDATE so two moves can never take the same last vacancy.

Every adjustment is an event of the administrators' hash-chained trail (`admin_event`: who, when, basis, before and
after), target `post:<id>` or `establishment:<unit code>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from workflows.domain.clock import now_utc
from workflows.domain.errors import Forbidden, ValidationFailed
from workflows.domain.models import AdminEvent, QuotaMovement, QuotaPool, Unit, UnitPost
from workflows.services import quota
from workflows.services.audit import record_admin_event
from workflows.services.bulk_import import MAX_IMPORT_ROWS, _LineErrors, _read_table
from workflows.services.registers import _text, record

POST_TYPES = {"professional": "专业技术岗位", "management": "管理岗位", "skilled": "工勤技能岗位"}
_NUMERALS = "一二三四五六七八九十"


def _cn(n: int) -> str:
    return _NUMERALS[n - 1] if n <= 10 else "十" + _NUMERALS[n - 11]


LEVELS: dict[str, tuple[str, ...]] = {
    "professional": tuple(f"专业技术{_cn(n)}级" for n in range(1, 14)),
    "management": tuple(f"{_cn(n)}级职员" for n in range(1, 11)),
    "skilled": (*(f"技术工{_cn(n)}级" for n in range(1, 6)), "普通工"),
}
LEVEL_TYPE = {level: t for t, levels in LEVELS.items() for level in levels}
ESTABLISHMENT = "编制"  # the import's 岗位类别 for a unit's 编制 line
MAX_COUNT = 100000


def normalize_level(text: str | None) -> str:
    """The register's name of a post level as people write it: 专技七级, 专业技术岗位7级, 七级专业技术岗位 → 专业技术七级;
    '' when it is none of the levels."""
    v = re.sub(r"\s+", "", str(text or ""))
    v = re.sub(r"[0-9]+", lambda m: _cn(int(m.group())) if 1 <= int(m.group()) <= 13 else m.group(), v)
    v = v.replace("专业技术岗位", "专业技术").replace("专技", "专业技术")
    m = re.fullmatch(r"([一二三四五六七八九十]+级)专业技术(岗位)?", v)
    if m:
        v = "专业技术" + m.group(1)
    v = re.sub(r"^管理岗位?([一二三四五六七八九十]+级)(职员)?$", r"\1职员", v)
    v = re.sub(r"^工勤技能岗位?", "", v)
    return v if v in LEVEL_TYPE else ""


# -- reading --------------------------------------------------------------------------------------------------------


@dataclass
class Establishment:
    approved: int  # 核定
    filled: int  # 实有
    reserved: int  # 预留 by running 列编 cases

    @property
    def vacant(self) -> int:
        return self.approved - self.filled - self.reserved


@dataclass
class UnitView:
    unit: Unit
    establishment: Establishment | None
    posts: list[UnitPost] = field(default_factory=list)


def vacancy(post: UnitPost) -> int:
    return post.approved - post.filled


def units_view(session: Session, unit_code: str | None = None) -> list[UnitView]:
    """Every 事业单位 (or one) with its 编制 and its posts by type and level, in the levels' order."""
    stmt = select(Unit).where(Unit.kind == "unit").order_by(Unit.code)
    if unit_code:
        stmt = stmt.where(Unit.code == unit_code)
    views = {u.code: UnitView(u, None) for u in session.scalars(stmt)}
    for pool in session.scalars(select(QuotaPool).where(QuotaPool.kind == quota.UNIT_OWN)):
        if pool.unit_code in views:
            views[pool.unit_code].establishment = Establishment(pool.total, pool.used, pool.reserved)
    order = {level: i for i, level in enumerate(LEVEL_TYPE)}
    for post in session.scalars(select(UnitPost).where(UnitPost.unit_code.in_(list(views)))):
        views[post.unit_code].posts.append(post)
    for v in views.values():
        v.posts.sort(key=lambda p: order.get(p.level, 99))
    return list(views.values())


def post_at(session: Session, unit_code: str, level: str) -> UnitPost | None:
    """The unit's row of the level (`level` as written on a special post), or None when the register has none."""
    name = normalize_level(level)
    if not name:
        return None
    return session.scalar(select(UnitPost).where(UnitPost.unit_code == unit_code, UnitPost.level == name))


def vacancy_at(session: Session, unit_code: str, level: str) -> int | None:
    """空编 at the level (None: the register does not list the level for the unit)."""
    post = post_at(session, unit_code, level)
    return vacancy(post) if post is not None else None


def trail(session: Session, targets: list[str]) -> dict[str, list[AdminEvent]]:
    """The adjustments of a page's rows, in one query (oldest first)."""
    out: dict[str, list[AdminEvent]] = {}
    if targets:
        for ev in session.scalars(select(AdminEvent).where(AdminEvent.target.in_(targets)).order_by(AdminEvent.seq)):
            out.setdefault(ev.target, []).append(ev)
    return out


# -- R8: the holder of a written-off special post moves to a regular post --------------------------------------------


def fill_vacancy(session: Session, unit_code: str, level: str, case_no: str, by: str) -> UnitPost | None:
    """Take one vacancy at the level for a move to a regular post (实有 + 1), or None when the register shows none.
    One conditional UPDATE: two moves racing for the last vacancy cannot both succeed."""
    name = normalize_level(level)
    if not name:
        return None
    post_id = session.execute(
        update(UnitPost)
        .where(UnitPost.unit_code == unit_code, UnitPost.level == name, UnitPost.approved - UnitPost.filled >= 1)
        .values(filled=UnitPost.filled + 1, updated_at=now_utc(), updated_by=by)
        .returning(UnitPost.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if post_id is None:
        return None
    post = session.get(UnitPost, post_id)
    assert post is not None
    session.refresh(post)
    record_admin_event(
        session,
        by,
        "post_fill",
        f"post:{post.id}",
        unit_code=unit_code,
        level=name,
        case_no=case_no,
        before={"filled": post.filled - 1},
        after={"filled": post.filled},
        basis=f"特设岗位核销后转聘正常岗位（{case_no}）",
    )
    return post


# -- adjustments ----------------------------------------------------------------------------------------------------


def _count(value, label: str) -> int:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValidationFailed(f"{label}须为非负整数") from None
    if not 0 <= n <= MAX_COUNT:
        raise ValidationFailed(f"{label}须为 0–{MAX_COUNT} 的整数")
    return n


def _unit(session: Session, code) -> Unit:
    unit = session.get(Unit, str(code or "").strip())
    if unit is None or unit.kind != "unit":
        raise ValidationFailed(f"单位代码“{code}”不存在或不是事业单位")
    return unit


def _level(post_type, level) -> tuple[str, str]:
    name = normalize_level(level)
    if not name:
        raise ValidationFailed(f"岗位等级“{level}”不在岗位等级表中（如 专业技术七级、八级职员、技术工三级、普通工）")
    kind = LEVEL_TYPE[name]
    t = str(post_type or "").strip()
    if t and t not in (kind, POST_TYPES[kind]):
        raise ValidationFailed(f"岗位等级“{name}”属于{POST_TYPES[kind]}，与岗位类别“{t}”不符")
    return kind, name


def set_post(session: Session, unit_code, post_type, level, approved, filled, basis, by: str) -> UnitPost:
    """Create or adjust one unit's posts of one level (核定, 实有), with the basis; an unchanged row writes nothing."""
    unit = _unit(session, unit_code)
    kind, name = _level(post_type, level)
    approved_n, filled_n = _count(approved, "核定数"), _count(filled, "实有数")
    why = _text(basis, "调整依据", required=True)
    post = session.scalar(select(UnitPost).where(UnitPost.unit_code == unit.code, UnitPost.level == name))
    before = {"approved": post.approved, "filled": post.filled} if post is not None else None
    after = {"approved": approved_n, "filled": filled_n}
    if post is not None and before == after:
        return post
    if post is None:
        post = UnitPost(unit_code=unit.code, post_type=kind, level=name)
        session.add(post)
    post.approved, post.filled, post.source_document = approved_n, filled_n, why
    post.updated_at, post.updated_by = now_utc(), by
    session.flush([post])
    record_admin_event(
        session,
        by,
        "post_create" if before is None else "post_adjust",
        f"post:{post.id}",
        unit_code=unit.code,
        level=name,
        before=before or {"approved": None, "filled": None},
        after=after,
        basis=why,
    )
    return post


def set_establishment(session: Session, unit_code, approved, filled, basis, by: str, role: str = "admin") -> QuotaPool:
    """Adjust a unit's 编制 (核定 = the own pool's total, 实有 = its used places): never below what running 列编 cases
    hold in reservation. The pool's movement row keeps the change of the total as before (/admin/quota)."""
    if role not in ("admin", "bianban"):
        raise Forbidden("只有系统管理员和编办可以调整编制")
    unit = _unit(session, unit_code)
    approved_n, filled_n = _count(approved, "编制核定数"), _count(filled, "编制实有数")
    why = _text(basis, "调整依据", required=True)
    pool = quota.own_pool(session, unit.code)
    if pool is None:
        pool = QuotaPool(kind=quota.UNIT_OWN, unit_code=unit.code, name=f"{unit.code} 本单位编制", total=0)
        session.add(pool)
        session.flush([pool])
    before = {"approved": pool.total, "filled": pool.used}
    after = {"approved": approved_n, "filled": filled_n}
    if before == after:
        return pool
    # the reservation may have moved since the page was read: the check is in the UPDATE itself
    res = session.execute(
        update(QuotaPool)
        .where(QuotaPool.id == pool.id, QuotaPool.reserved + filled_n <= approved_n)
        .values(total=approved_n, used=filled_n)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult
        raise ValidationFailed(f"编制核定数不能少于实有数与列编办件预留数（{pool.reserved}）之和")
    if approved_n != before["approved"]:
        session.add(
            QuotaMovement(
                pool_id=pool.id, case_id=None, kind="adjust", amount=approved_n - before["approved"], note=why
            )
        )
    session.flush()
    session.refresh(pool)
    record_admin_event(
        session,
        by,
        "establishment_adjust",
        f"establishment:{unit.code}",
        unit_code=unit.code,
        before=before,
        after=after,
        basis=why,
        reserved=pool.reserved,
    )
    return pool


def get_post(session: Session, post_id: int) -> UnitPost:
    return record(session, UnitPost, post_id, "岗位记录不存在")


# -- CSV import -----------------------------------------------------------------------------------------------------

IMPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "unit_code": ("单位代码", "unit_code"),
    "post_type": ("岗位类别", "类别", "post_type"),
    "level": ("岗位等级", "等级", "level"),
    "approved": ("核定数", "核定", "approved"),
    "filled": ("实有数", "实有", "filled"),
    "basis": ("依据文件", "调整依据", "依据", "basis"),
}
IMPORT_TEMPLATE = [
    list(names[0] for names in IMPORT_COLUMNS.values()),
    ["U0101", "编制", "", "120", "112", "内编办发〔2026〕3号"],
    ["U0101", "专业技术岗位", "专业技术七级", "20", "18", "内人社函〔2026〕21号（岗位设置方案）"],
]


def parse_file(content: bytes, filename: str = "") -> list[dict]:
    return _read_table(
        content, filename, IMPORT_COLUMNS, ("unit_code", "post_type", "approved", "filled", "basis"), MAX_IMPORT_ROWS
    )


def import_rows(session: Session, rows: list[dict], by: str, role: str = "admin") -> int:
    """All lines or none: each line checked (unit, type and level, counts, basis, a line repeated) and every problem
    listed by line before anything is written; then each line is applied as an adjustment (rows that do not change
    write nothing). Returns how many lines changed something."""
    errors = _LineErrors()
    seen: dict[tuple[str, str], int] = {}
    checked: list[dict] = []
    for r in rows:
        line = r["line"]
        try:
            if r.get("_extra"):
                raise ValidationFailed(r["_extra"])
            unit = _unit(session, r.get("unit_code"))
            if str(r.get("post_type") or "").strip() == ESTABLISHMENT:
                kind, name = ESTABLISHMENT, ""
            elif role != "admin":
                raise ValidationFailed("编办只能导入编制行（岗位类别填“编制”）；岗位由系统管理员调整")
            else:
                kind, name = _level(r.get("post_type"), r.get("level"))
            item: dict[str, Any] = {
                "unit_code": unit.code,
                "kind": kind,
                "level": name,
                "approved": _count(r.get("approved"), "核定数"),
                "filled": _count(r.get("filled"), "实有数"),
                "basis": _text(r.get("basis"), "依据文件", required=True),
            }
            if kind != ESTABLISHMENT and item["filled"] > item["approved"]:
                raise ValidationFailed("实有数大于核定数（超岗）：请核对，或先调整核定数")
        except ValidationFailed as e:
            errors.add(line, e.message)
            continue
        key = (item["unit_code"], name or ESTABLISHMENT)
        if key in seen:
            errors.add(line, f"与第 {seen[key]} 行重复（{item['unit_code']} {name or ESTABLISHMENT}）")
            continue
        seen[key] = line
        item["line"] = line
        checked.append(item)
    errors.raise_if_any()
    changed = 0
    for item in checked:
        try:
            if item["kind"] == ESTABLISHMENT:
                pool = quota.own_pool(session, item["unit_code"])
                same = pool is not None and (pool.total, pool.used) == (item["approved"], item["filled"])
                set_establishment(session, item["unit_code"], item["approved"], item["filled"], item["basis"], by, role)
            else:
                post = session.scalar(
                    select(UnitPost).where(UnitPost.unit_code == item["unit_code"], UnitPost.level == item["level"])
                )
                same = post is not None and (post.approved, post.filled) == (item["approved"], item["filled"])
                set_post(
                    session,
                    item["unit_code"],
                    item["kind"],
                    item["level"],
                    item["approved"],
                    item["filled"],
                    item["basis"],
                    by,
                )
        except ValidationFailed as e:  # found only against the ledger (a reservation): still all or nothing
            errors.add(item["line"], e.message)
            continue
        changed += 0 if same else 1
    errors.raise_if_any()
    return changed
