"""Cases, tasks and materials as JSON (dates ISO, times UTC ISO with Z)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from webapp.db import db_session
from workflows.domain import outcomes
from workflows.domain.clock import as_utc, today_local
from workflows.domain.models import Case, Material, OpenTask, User
from workflows.domain.procedures import PROCEDURES
from workflows.services import definitions


def page_out(page, out, **extra) -> dict:
    """One page of a list route (oa.page_of): its rows through `out`, where they stand, and any `extra` keys."""
    return {
        "items": [out(r) for r in page.items],
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
        **extra,
    }


def iso_time(value) -> str | None:
    v = as_utc(value)
    return v.isoformat().replace("+00:00", "Z") if v is not None else None


def iso_date(value) -> str | None:
    return value.isoformat() if value is not None else None


def material_out(m: Material) -> dict:
    return {
        "code": m.code,
        "name": m.name,
        "is_key": bool(m.is_key),
        "status": m.status,
        "deadline": iso_date(m.deadline),
        "received_at": iso_time(m.received_at),
        "file_name": m.file_name,
        "sha256": m.sha256,
    }


def task_out(t: OpenTask, case: Case, users: dict[int, str] | None = None) -> dict:
    return {
        "case_no": case.case_no,
        "task_id": t.task_id,
        "spec_name": t.spec_name,
        "title": t.title,
        "lane": t.lane,
        "role": t.role,
        "scope_unit_code": t.scope_unit_code,
        "assignee_id": t.assignee_id,
        "assignee": (users or {}).get(t.assignee_id) if t.assignee_id is not None else None,
        "form": t.form,
        "hold_reason": t.hold_reason,
        "due_on": iso_date(t.due_on),
        "overdue": bool(t.due_on and t.due_on < today_local()),
        "created_at": iso_time(t.created_at),
        "procedure": case.procedure,
        "case_status": case.status,
        "applicant_name": case.applicant_name,
        "case_version": case.version,
    }


def usernames(session, ids: Iterable[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def case_summary(c: Case) -> dict:
    return {
        "case_no": c.case_no,
        "procedure": c.procedure,
        "procedure_name": PROCEDURES[c.procedure].name if c.procedure in PROCEDURES else "",
        "status": c.status,
        "status_label": outcomes.label(c.status),
        "applicant_name": c.applicant_name,
        "unit_code": c.unit_code,
        "created_at": iso_time(c.created_at),
        "accepted_on": iso_date(c.accepted_on),
        "promised_on": iso_date(c.promised_on),
        "closed_at": iso_time(c.closed_at),
        "version": c.version,
    }


def _definition_out(session, definition_id: int) -> dict:
    b = definitions.bundle(session, definition_id)  # cached per process: a published version never changes
    return {"process_id": b.process_id, "version": b.version}


def case_detail(session, c: Case) -> dict:
    tasks = sorted(c.open_tasks, key=lambda t: t.id or 0)
    users = usernames(session, (t.assignee_id for t in tasks))
    return {
        **case_summary(c),
        "id_number": c.id_number,
        "outcome_rule": c.outcome_rule,
        "outcome_reason": c.outcome_reason,
        "complete_on": iso_date(c.complete_on),
        "filing_due_on": iso_date(c.filing_due_on),
        "rongque_deadline": iso_date(c.rongque_deadline),
        # dates counted on a year without the official holiday arrangement (暂计; recomputed when it is loaded)
        "provisional_dates": sorted(c.provisional_dates or {}),
        "hold_since": iso_time(c.hold_since),
        "hold_reason": c.hold_reason,
        "hold_days": c.hold_days or 0,
        "definition": _definition_out(session, c.definition_id),
        "data": dict(c.start_data or {}),
        "open_tasks": [task_out(t, c, users) for t in tasks],
        "materials": [material_out(m) for m in c.materials],
    }


def committed_case(case: Case) -> dict:
    """The case a service call has just committed, serialised from the objects in the session: the service held the
    row lock until its commit and the session does not expire on commit, so they are what was committed."""
    return case_detail(db_session(), case)
