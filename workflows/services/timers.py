"""The timer sweep: fire what is due, one case per transaction, safe to run from several processes at once.

On PostgreSQL each worker takes the next due case with FOR UPDATE SKIP LOCKED, so two workers never fire the same
timer; on SQLite, BEGIN IMMEDIATE serialises them. A case whose run fails is marked with the error (so the sweep
does not spin on it) and an administrator repairs it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from workflows.domain.actors import SYSTEM
from workflows.domain.clock import now_utc
from workflows.domain.errors import DomainError
from workflows.domain.models import Case
from workflows.infra.db import dialect_of, transaction
from workflows.services.audit import PendingEvent, append_event
from workflows.services.runtime import CaseRun

log = logging.getLogger(__name__)


def _next_due(session: Session, now: datetime) -> Case | None:
    q = (
        select(Case)
        .where(
            Case.next_timer_at.is_not(None),
            Case.next_timer_at <= now,
            Case.status.in_(("running", "on_hold", "returned")),
            Case.error.is_(None),
        )
        .order_by(Case.next_timer_at)
        .limit(1)
    )
    if dialect_of(session) == "postgresql":
        q = q.with_for_update(skip_locked=True, of=Case)
    return session.scalars(q.execution_options(populate_existing=True)).first()


def fire_due_timers(factory: sessionmaker, now: datetime | None = None, limit: int = 1000) -> int:
    """Run every case whose next timer is due; returns how many cases moved."""
    done = 0
    skip: set[int] = set()
    while done < limit:
        session = factory()
        try:
            with transaction(session):
                case = _next_due(session, now or now_utc())
                if case is None or case.id in skip:
                    return done
                case_id = case.id
                run = CaseRun(session, case, SYSTEM)
                run.restore()
                run.record(
                    "timer", None, "定时器触发", due=case.next_timer_at.isoformat() if case.next_timer_at else None
                )
                run.run_and_save()
            done += 1
            skip.add(case_id)  # once per sweep: a timer still due after its run waits for the next sweep
        except DomainError as e:
            log.error("timer run failed", extra={"case_id": case_id, "error": e.message})
            _mark_error(factory, case_id, e.message)
            skip.add(case_id)
        finally:
            session.close()
    return done


def _mark_error(factory: sessionmaker, case_id: int, message: str) -> None:
    session = factory()
    try:
        with transaction(session):
            case = session.get(Case, case_id)
            case.error = message
            append_event(session, case, PendingEvent("system", "engine_error", None, None, {"error": message}))
    finally:
        session.close()
