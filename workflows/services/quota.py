"""The 编制 ledger (R4): a unit's own vacancies first, then the 人才专项编制 pool.

A reservation is one conditional UPDATE (`… WHERE total - reserved - used >= 1`), so two cases racing for the last
place cannot both succeed on any database; the CHECK constraint is the second line of defence.

The administrator's side of the ledger is here too: the list of pools, a unit's own pool, adjusting a total.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session

from workflows.domain.clock import now_utc
from workflows.domain.errors import Conflict, NotFound, ValidationFailed
from workflows.domain.models import Case, QuotaMovement, QuotaPool, Unit
from workflows.services.audit import record_admin_event

TALENT_POOL = "talent_pool"
UNIT_OWN = "unit_own"


def own_pool(session: Session, unit_code: str) -> QuotaPool | None:
    return session.scalar(select(QuotaPool).where(QuotaPool.kind == UNIT_OWN, QuotaPool.unit_code == unit_code))


def _is_talent_pool():
    """The region's 人才专项编制 pool: the first of its kind (one row, in the reservation's UPDATE as in a read)."""
    first = select(QuotaPool.id).where(QuotaPool.kind == TALENT_POOL).order_by(QuotaPool.id).limit(1)
    return QuotaPool.id == first.scalar_subquery()


def talent_pool(session: Session) -> QuotaPool | None:
    return session.scalar(select(QuotaPool).where(_is_talent_pool()))


def _movement(session: Session, pool_id: int, case: Case, kind: str, amount: int) -> None:
    # a plain Core INSERT (the ORM bulk path costs more): nothing reads the row back in the run
    session.execute(
        insert(cast(Table, QuotaMovement.__table__)).values(
            pool_id=pool_id, case_id=case.id, kind=kind, amount=amount, at=now_utc()
        )
    )


def _reserve_in(session: Session, case: Case, *where) -> bool:
    """Take one place in the pool matching `where`, if one is free: ONE conditional UPDATE … RETURNING (no read
    before, no refresh after), then the movement row."""
    pool_id = session.execute(
        update(QuotaPool)
        .where(*where, QuotaPool.total - QuotaPool.reserved - QuotaPool.used >= 1)
        .values(reserved=QuotaPool.reserved + 1)
        .returning(QuotaPool.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if pool_id is None:
        return False
    _movement(session, pool_id, case, "reserve", 1)
    return True


def held_by_case(session: Session, case: Case) -> dict[int, int]:
    """Pool id → places this case still holds in reservation."""
    sign = {"reserve": 1, "release": -1, "consume": -1}
    held: dict[int, int] = {}
    for pool_id, kind, amount in session.execute(
        select(QuotaMovement.pool_id, QuotaMovement.kind, func.sum(QuotaMovement.amount))
        .where(QuotaMovement.case_id == case.id)
        .group_by(QuotaMovement.pool_id, QuotaMovement.kind)
    ):
        if kind in sign:
            held[pool_id] = held.get(pool_id, 0) + sign[kind] * int(amount)
    return {k: v for k, v in held.items() if v > 0}


def reserve_for_case(session: Session, case: Case) -> str:
    """Reserve one place for the case: 'own', 'pool' or 'none' (nothing left: the case waits for 编办)."""
    for pool_id in held_by_case(session, case):
        kind = session.scalar(select(QuotaPool.kind).where(QuotaPool.id == pool_id))
        return "own" if kind == UNIT_OWN else "pool"
    if _reserve_in(session, case, QuotaPool.kind == UNIT_OWN, QuotaPool.unit_code == case.unit_code):
        return "own"
    if _reserve_in(session, case, _is_talent_pool()):
        return "pool"
    return "none"


def settle_case(session: Session, case: Case, consume: bool) -> list[tuple[str, int]]:
    """Consume (列编 done) or release (refused, terminated, withdrawn) what the case holds."""
    done: list[tuple[str, int]] = []
    # No autoflush: the ledger reads below do not depend on the case row, which the run writes once when it saves.
    with session.no_autoflush:
        for pool_id, n in held_by_case(session, case).items():
            values = {"reserved": QuotaPool.reserved - n}
            if consume:
                values["used"] = QuotaPool.used + n
            kind = session.execute(
                update(QuotaPool)
                .where(QuotaPool.id == pool_id)
                .values(**values)
                .returning(QuotaPool.kind)
                .execution_options(synchronize_session=False)
            ).scalar_one()
            _movement(session, pool_id, case, "consume" if consume else "release", n)
            done.append((kind, n))
    return done


# -- administration: the pools, a unit's own pool, adjusting a total -----------------------------------------------


def list_pools(session: Session) -> list[QuotaPool]:
    return list(session.scalars(select(QuotaPool).order_by(QuotaPool.kind.desc(), QuotaPool.unit_code)))


def parse_delta(value) -> int:
    try:
        delta = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValidationFailed("调整数量须为整数（正数增加，负数核减）") from None
    if delta == 0:
        raise ValidationFailed("调整数量不能为 0")
    if abs(delta) > 10000:
        raise ValidationFailed("调整数量过大")
    return delta


def adjust_pool(session: Session, pool_id: int, delta, note: str, by: str | None = None) -> QuotaPool:
    """编办 adds (or withdraws unused) places; the total never drops below what is reserved and used. `delta` and
    `note` may come straight from a form: both are checked first (a non-zero whole number, a basis of ≤ 200 chars).
    With `by` (a person's change) it is also an event of the administrators' trail — a unit's own pool under the
    posts register's target (`establishment:<unit>`), so its page shows it beside its own adjustments."""
    delta = parse_delta(delta)
    note = (note or "").strip()
    if not note:
        raise ValidationFailed("请填写调整依据（文号或说明）")
    if len(note) > 200:
        raise ValidationFailed("调整依据不超过 200 字")
    pool = session.get(QuotaPool, pool_id)
    if pool is None:
        raise NotFound("编制池不存在")
    res = session.execute(
        update(QuotaPool)
        .where(QuotaPool.id == pool_id, QuotaPool.total + delta >= QuotaPool.reserved + QuotaPool.used)
        .values(total=QuotaPool.total + delta)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult
        raise ValidationFailed("调整后的编制总数不能少于已占用和已预留的数量")
    session.add(QuotaMovement(pool_id=pool_id, case_id=None, kind="adjust", amount=delta, note=note))
    session.flush()
    before = pool.total
    session.refresh(pool)
    if by is not None:
        target = f"establishment:{pool.unit_code}" if pool.kind == UNIT_OWN else f"quota_pool:{pool.id}"
        record_admin_event(
            session,
            by,
            "establishment_adjust" if pool.kind == UNIT_OWN else "quota_pool_adjust",
            target,
            unit_code=pool.unit_code,
            before={"approved": before, "filled": pool.used},
            after={"approved": pool.total, "filled": pool.used},
            basis=note,
            reserved=pool.reserved,
        )
    return pool


def create_unit_pool(session: Session, unit_code: str, total) -> QuotaPool:
    """A unit's own 编制 ledger (one per unit), `total` places from the form."""
    unit = session.get(Unit, (unit_code or "").strip())
    if unit is None:
        raise ValidationFailed("单位不存在")
    if own_pool(session, unit.code) is not None:
        raise Conflict("该单位已有编制台账")
    try:
        total = int(str(total).strip())
    except (TypeError, ValueError):
        raise ValidationFailed("编制数须为非负整数") from None
    if total < 0:
        raise ValidationFailed("编制数须为非负整数")
    pool = QuotaPool(kind=UNIT_OWN, unit_code=unit.code, name=f"{unit.code} 本单位编制", total=total)
    session.add(pool)
    session.flush()
    return pool
