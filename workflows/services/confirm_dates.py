"""Loading the official holiday table confirms the provisional dates (DESIGN §3; `services.provisional`).

`confirm_all` computes every provisional date again with the calendar the table now makes, corrects the case, its
owed materials, open tasks and the instance data (re-arming the timers that waited for the confirmation), writes one
audit event per case (`dates_recomputed` when a date moved, `dates_confirmed` otherwise) and tells the parties whose
date moved. `next_year_pending` is the administrators' warning from 1 October.

No Flask here; the caller's transaction (the holiday import) makes it all or nothing.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.domain.actors import Actor
from workflows.domain.clock import today_local
from workflows.domain.errors import DomainError
from workflows.domain.legal_time import LegalCalendar, end_of_day_utc
from workflows.domain.models import Case
from workflows.services import notifications
from workflows.services.provisional import LABELS, cn_date, filing_due, publicity_period
from workflows.services.runtime import TERMINAL, CaseRun, lock_case
from workflows.services.settings import params_and_calendar

log = logging.getLogger(__name__)


# -- the administrator's warning -------------------------------------------------------------------------------------
def next_year_pending(session: Session, cal: LegalCalendar | None = None, today: date | None = None) -> dict | None:
    """From 1 October until next year's arrangement is known: {year, cases with provisional dates} (else None). The
    calendar is loaded only from 1 October (every admin page asks)."""
    today = today or today_local()
    if today < date(today.year, 10, 1):
        return None
    if cal is None:
        cal = params_and_calendar(session)[1]
    if cal.knows_year(today.year + 1):
        return None
    waiting = session.scalar(
        select(func.count()).select_from(Case).where(Case.provisional_dates.is_not(None), Case.status.not_in(TERMINAL))
    )
    return {"year": today.year + 1, "cases": int(waiting or 0)}


# -- recomputation when the official table is loaded -----------------------------------------------------------------
def confirm_all(session: Session, actor: Actor) -> dict[str, int]:
    """Recompute every provisional date the current calendar now knows. Returns counts: cases checked, moved, and
    failed (a case the engine cannot run — marked with an error for the administrator — keeps its provisional dates
    and does not stop the import; its dates are confirmed by the next import after the repair)."""
    ids = list(
        session.scalars(
            select(Case.id).where(Case.provisional_dates.is_not(None), Case.error.is_(None)).order_by(Case.id)
        )
    )
    checked = moved = failed = 0
    for case_id in ids:
        case = lock_case(session, case_id=case_id)
        if case.provisional_dates is None:
            continue
        checked += 1
        if case.status in TERMINAL:  # nothing left to decide on these dates
            case.provisional_dates = None
            continue
        try:
            with session.begin_nested():
                moved += bool(_confirm_case(session, case, actor))
        except (DomainError, ValueError) as e:  # ValueError: a state that cannot be restored (SerializationError)
            log.error("provisional dates not confirmed", extra={"case_id": case_id, "error": getattr(e, "message", e)})
            failed += 1
    session.flush()
    return {"checked": checked, "moved": moved, "failed": failed}


def _confirm_case(session: Session, case: Case, actor: Actor) -> dict:
    run = CaseRun(session, case, actor)
    cal = run.ctx.calendar
    run.restore()

    left: dict = {}
    changes: dict[str, dict] = {}
    old_dates: dict[date, date] = {}  # old → new, for the open tasks that show a moved date

    def moved(name: str, old: date | None, new: date) -> None:
        if old != new:
            changes[name] = {"from": old.isoformat() if old else None, "to": new.isoformat()}
            if old is not None:
                old_dates[old] = new

    recipes = dict(case.provisional_dates or {})
    for name, r in recipes.items():
        start = date.fromisoformat(r["from"])
        if name == "promised_on":
            new = cal.add_working_days(start, int(r["working_days"]))
            if cal.is_provisional(start, new):
                left[name] = r
            moved(name, case.promised_on, new)
            case.promised_on = new
            run.patch_results({"accepted_on": r["from"]}, {"promised_on": new.isoformat()})
        elif name == "rongque_deadline":
            new = min(
                cal.add_working_days(start, int(r["working_days"])),
                cal.add_working_days(start, int(r["cap_working_days"])),
            )
            old = case.rongque_deadline
            patch: dict = {"rongque_deadline": new.isoformat()}
            if cal.is_provisional(start, new):
                left[name] = r
            else:
                patch["rongque_deadline_at"] = end_of_day_utc(new).isoformat()
            moved(name, old, new)
            case.rongque_deadline = new
            for m in case.materials:
                if m.status == "owed" and m.deadline == old:
                    m.deadline = new
            run.patch_results({"accepted_on": r["from"], "mode": "rongque"}, patch)
        elif name == "filing_due_on":
            due, remind_on = filing_due(cal, start, int(r["hold_days"]), int(r["remind_working_days"]))
            patch = {
                "due": due.isoformat(),
                "remind_at": end_of_day_utc(remind_on - timedelta(days=1)).isoformat(),
            }
            if cal.is_provisional(start, due):
                left[name] = r
            else:
                patch["due_at"] = end_of_day_utc(due).isoformat()
            moved(name, case.filing_due_on, due)
            case.filing_due_on = due
            run.patch_results({"complete_on": r["from"], "hold_days": int(r["hold_days"])}, patch)
        elif name.startswith("publicity:"):
            start_day = name.split(":", 1)[1]
            _, end = publicity_period(cal, start, int(r["days"]))
            old_end = _publicity_end(run, start_day)
            patch = {"end": end.isoformat()}
            if cal.is_provisional(start, end):
                left[name] = r
            else:
                patch["end_at"] = end_of_day_utc(end).isoformat()
            moved("publicity", date.fromisoformat(old_end) if old_end else None, end)
            run.patch_results({"start": start_day, "end": old_end} if old_end else {"start": start_day}, patch)
        elif name.startswith("task:"):
            task_id = name.split(":", 1)[1]
            new = cal.add_working_days(start, int(r["working_days"]))
            task = next((t for t in case.open_tasks if t.task_id == task_id), None)
            if task is None:  # done meanwhile
                continue
            if cal.is_provisional(start, new):
                left[name] = r
            moved(f"task:{task.title}", task.due_on, new)
            task.due_on = new
    for t in case.open_tasks:  # tasks whose due date is a case date (e.g. 备案: filing['due'])
        if f"task:{t.task_id}" not in recipes and t.due_on in old_dates:
            t.due_on = old_dates[t.due_on]
    case.provisional_dates = left or None
    label = "节假日安排公布后重算期限" if changes else "节假日安排公布后确认期限"
    run.record(
        "dates_recomputed" if changes else "dates_confirmed",
        None,
        label,
        changes=changes,
        still_provisional=sorted(left),
    )
    if changes:
        text = "；".join(
            f"{_label(n)}由{cn_date(date.fromisoformat(c['from'])) if c['from'] else '—'}改为"
            f"{cn_date(date.fromisoformat(c['to']))}"
            for n, c in changes.items()
        )
        if case.applicant_user_id:
            notifications.notify_user(session, case.applicant_user_id, case, "dates_recomputed", changes=text)
        else:
            notifications.notify_role(session, "unit_hr", case.unit_code, case, "dates_recomputed", changes=text)
        for t in case.open_tasks:  # the desks whose own time limit moved
            if any(n == f"task:{t.title}" for n in changes) or "filing_due_on" in changes and t.role == "hrss":
                notifications.notify_role(
                    session, t.role, t.scope_unit_code, case, "dates_recomputed_desk", changes=text
                )
    run.run_and_save()
    return changes


def _publicity_end(run, start_day: str) -> str | None:
    for value in run.result_dicts():
        if value.get("start") == start_day and "end_at" in value:
            return value.get("end")
    return None


def _label(name: str) -> str:
    if name.startswith("task:"):
        return f"“{name.split(':', 1)[1]}”{LABELS['task']}"
    return LABELS.get(name, name)
