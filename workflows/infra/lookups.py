"""Reference rows a single run reads again and again (the case's unit, its 主管部门, the issuing office, the 发文机关代字
setting, the officers' entries on the trail), remembered for ONE transaction.

SQLAlchemy's identity map holds its objects weakly: a `session.get(Unit, code)` whose result nobody kept goes to the
database again. Issuing two documents at 备案 asked for the same few units fourteen times. The memo lives in
`session.info` and is dropped when the outermost transaction ends, so a later transaction sees an administrator's
edit as before.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from workflows.domain.models import Setting, Unit

_KEY = "per_transaction_lookups"


def memo(session: Session, key: Hashable, load: Callable[[], Any]) -> Any:
    cache = session.info.get(_KEY)
    if cache is None:
        cache = session.info[_KEY] = {}
    if key not in cache:
        cache[key] = load()
    return cache[key]


def unit(session: Session, code: str | None) -> Unit | None:
    if not code:
        return None
    return memo(session, ("unit", code), lambda: session.get(Unit, code))


def setting(session: Session, key: str) -> Setting | None:
    return memo(session, ("setting", key), lambda: session.get(Setting, key))


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction (a SAVEPOINT ending keeps the memo)
        session.info.pop(_KEY, None)
