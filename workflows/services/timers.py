"""The timer sweep: fire what is due, one case per transaction, safe to run from several processes at once.

On PostgreSQL each worker takes the next due case with FOR UPDATE SKIP LOCKED, so two workers never fire the same
timer; on SQLite, BEGIN IMMEDIATE serialises them. A case whose run fails is marked as errored with an incident
(workflows/services/incidents.py), so the sweep neither spins on it nor stops for it; an administrator repairs it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from workflows.domain.actors import SYSTEM
from workflows.domain.clock import now_utc
from workflows.domain.models import Case
from workflows.infra.db import dialect_of, transaction
from workflows.services import incidents
from workflows.services.runtime import CaseRun

log = logging.getLogger(__name__)


def _next_due(session: Session, now: datetime, skip: set[int]) -> Case | None:
    q = select(Case).where(
        Case.next_timer_at.is_not(None),
        Case.next_timer_at <= now,
        Case.status.in_(("running", "on_hold", "returned")),
        Case.error.is_(None),
    )
    if skip:  # fired (or failed) in this sweep: the others come first, whatever their due times
        q = q.where(Case.id.not_in(skip))
    q = q.order_by(Case.next_timer_at).limit(1)
    if dialect_of(session) == "postgresql":
        q = q.with_for_update(skip_locked=True, of=Case)
    return session.scalars(q.execution_options(populate_existing=True)).first()


def fire_due_timers(factory: sessionmaker, now: datetime | None = None, limit: int = 1000) -> int:
    """Run every case whose next timer is due; returns how many cases moved.

    A case whose run fails — a script, a timer value, the engine, anything but the database — is marked as errored
    with an incident, and the sweep goes on with the other due cases. A database error ends the round (the worker
    logs it and retries): it is not the case's fault."""
    done = 0
    skip: set[int] = set()
    while done < limit:
        session = factory()
        case_id: int | None = None
        try:
            with transaction(session):
                case = _next_due(session, now or now_utc(), skip)
                if case is None:
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
        except SQLAlchemyError:
            raise
        except Exception as e:
            if case_id is None:
                raise
            message = getattr(e, "message", None) or f"{e.__class__.__name__}: {e}"
            log.error("timer run failed", extra={"case_id": case_id, "error": message})
            if not getattr(e, "recorded", False):
                _mark_error(factory, case_id, e)
            skip.add(case_id)
        finally:
            session.close()
    return done


def _mark_error(factory: sessionmaker, case_id: int, error: Exception) -> None:
    session = factory()
    try:
        with transaction(session):
            incidents.record_failure(session, case_id, error, "timer")
    except SQLAlchemyError:
        log.exception("could not record the incident of case %s", case_id)
    finally:
        session.close()
