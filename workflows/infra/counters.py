"""Gap-free counters: a row incremented with UPDATE … RETURNING under its lock, in the caller's transaction (a
rollback takes the number back; concurrent callers queue on the row). A missing row is created at 1 in a savepoint;
when another transaction created it first, the UPDATE path wins on the retry. 办件编号 serials, 文号 registers and
the administrators' audit chain all count this way."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workflows.domain.errors import Conflict


def increment(session: Session, model: Any, conflict: str = "编号分配冲突，请重试", **key: Any) -> int:
    """The next value of `model`'s counter row identified by `key` (its `value` column)."""
    where = [getattr(model, k) == v for k, v in key.items()]
    for _ in range(3):
        value = session.execute(
            update(model).where(*where).values(value=model.value + 1).returning(model.value)
        ).scalar()
        if value is not None:
            return int(value)
        try:
            with session.begin_nested():
                session.execute(insert(model).values(**key, value=1))
            return 1
        except IntegrityError:
            continue
    raise Conflict(conflict)
