"""Incidents: a run of a case's instance that failed in a way only an administrator can repair.

The failed action changed nothing (its transaction was rolled back); afterwards, in a transaction of its own, the
case is marked `error` with the message, an incident row keeps the element and the message, and the audit chain gets
an `engine_error` event. The timer sweep passes errored cases by and every action on one is refused with the reason,
so a poisoned case neither blocks the others nor fails the same way on every step. The administrators repair it
with retry, skip or cancel (workflows/services/incident_actions.py); a repair that fails again opens a new incident
with the new message and closes the earlier one as superseded.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from workflows.domain.clock import now_utc
from workflows.domain.errors import EngineIncident
from workflows.domain.models import Case, CaseIncident
from workflows.services.audit import PendingEvent, append_event

MAX_MESSAGE = 2_000


def record(
    session: Session,
    case_id: int,
    message: str,
    *,
    element_id: str | None = None,
    element_name: str | None = None,
    source: str = "action",
) -> CaseIncident | None:
    """Mark the case as errored and store the incident (in the caller's transaction). None when the case is gone."""
    case = session.get(Case, case_id, with_for_update=True, populate_existing=True)
    if case is None:
        return None
    message = (message or "流程执行出错")[:MAX_MESSAGE]
    previous_status = case.status if case.status != "error" else _previous(session, case.id)
    for earlier in session.scalars(
        select(CaseIncident).where(CaseIncident.case_id == case.id, CaseIncident.resolved_at.is_(None))
    ):
        earlier.resolved_at, earlier.resolved_by, earlier.resolution = now_utc(), "system", "superseded"
    incident = CaseIncident(
        case_id=case.id,
        element_id=(element_id or None) and element_id[:255],
        element_name=(element_name or None) and element_name[:255],
        message=message,
        source=source,
        previous_status=previous_status,
    )
    session.add(incident)
    case.status, case.error = "error", message
    append_event(
        session,
        case,
        PendingEvent("system", "engine_error", element_name, None, {"error": message, "element": element_id}),
    )
    session.flush()
    return incident


def record_failure(session: Session, case_id: int, error: Exception, source: str) -> CaseIncident | None:
    """`record` for an exception: an EngineIncident carries its element; anything else its text."""
    if isinstance(error, EngineIncident):
        incident = record(
            session,
            case_id,
            error.message,
            element_id=error.element_id,
            element_name=error.element_name,
            source=source,
        )
        error.recorded = True
        return incident
    text = getattr(error, "message", None) or f"{error.__class__.__name__}: {error}"
    return record(session, case_id, text, source=source)


def _previous(session: Session, case_id: int) -> str:
    prior = session.scalar(
        select(CaseIncident.previous_status)
        .where(CaseIncident.case_id == case_id)
        .order_by(CaseIncident.id.desc())
        .limit(1)
    )
    return prior or "running"


def open_incident(session: Session, case_id: int) -> CaseIncident | None:
    """The latest unresolved incident of a case."""
    return session.scalar(
        select(CaseIncident)
        .where(CaseIncident.case_id == case_id, CaseIncident.resolved_at.is_(None))
        .order_by(CaseIncident.id.desc())
        .limit(1)
    )


def open_incidents(session: Session, limit: int = 200) -> list[CaseIncident]:
    """Unresolved incidents, newest first, with their cases."""
    return list(
        session.scalars(
            select(CaseIncident)
            .options(joinedload(CaseIncident.case))
            .where(CaseIncident.resolved_at.is_(None))
            .order_by(CaseIncident.id.desc())
            .limit(limit)
        )
    )
