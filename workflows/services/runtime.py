"""One unit of work on a case: lock it, restore its instance, act, run until stable, save everything together.

Saving writes the instance state, the open-task projection, message subscriptions, the next timer time, the hold
clock and the audit events in the caller's transaction, so they can never disagree.
"""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from workflows.domain import outcomes, procedures
from workflows.domain.actors import SYSTEM, Actor
from workflows.domain.clock import local_day, now_utc, today_local
from workflows.domain.errors import CaseErrored, Conflict, EngineIncident, NotFound
from workflows.domain.models import Case, MessageSubscription, OpenTask
from workflows.engine import instances as engine
from workflows.engine import migration
from workflows.infra import lookups
from workflows.infra.db import after_rollback, dialect_of
from workflows.services import incidents, notifications, provisional
from workflows.services.audit import append_events
from workflows.services.definitions import Bundle, bundle
from workflows.services.operations import OperationContext, bind
from workflows.services.settings import params_and_calendar

TERMINAL = set(outcomes.TERMINAL)


def lock_case(session: Session, case_no: str | None = None, case_id: int | None = None) -> Case:
    """Load a case for writing: FOR UPDATE on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises writers)."""
    where = Case.case_no == case_no if case_no is not None else Case.id == case_id
    if dialect_of(session) == "postgresql":
        # The open tasks in a SECOND statement, after the row lock is held. Under READ COMMITTED a statement that
        # waited for the lock re-reads the locked `cases` row at its new version but keeps the joined `open_task`
        # rows of its starting snapshot: one query with a JOIN would hand over the new state with the old open
        # tasks (a step completed by the other transaction would look open). A plain query set as the loaded
        # collection costs a third of what selectinload's machinery does.
        case = session.scalars(
            select(Case).where(where).with_for_update(of=Case).execution_options(populate_existing=True)
        ).first()
        if case is not None:
            set_committed_value(
                case,
                "open_tasks",
                list(
                    session.scalars(
                        select(OpenTask)
                        .where(OpenTask.case_id == case.id)
                        .order_by(OpenTask.id)
                        .execution_options(populate_existing=True)
                    )
                ),
            )
    else:
        # SQLite: BEGIN IMMEDIATE took the database lock before this statement, so one JOIN is consistent and saves
        # the second query.
        case = (
            session.scalars(
                select(Case).options(joinedload(Case.open_tasks)).where(where).execution_options(populate_existing=True)
            )
            .unique()
            .first()
        )
    if case is None:
        raise NotFound(f"办件不存在：{case_no or case_id}")
    return case


def check_version(case: Case, expected: int | None) -> None:
    if expected is not None and int(expected) != case.version:
        raise Conflict("办件已被他人更新，请刷新后重试", details={"current_version": case.version})


ANONYMOUS_ACTOR = "匿名投诉人"  # how an anonymous complainant's own steps appear in a case's trail


def anonymous_complaint(case: Case) -> bool:
    return case.procedure in procedures.COMPLAINT_IDS and bool((case.start_data or {}).get("anonymous"))


class CaseRun:
    def __init__(self, session: Session, case: Case, actor: Actor):
        if actor.role == "applicant" and anonymous_complaint(case):
            # an anonymous complainant's own steps are recorded under a neutral name: the office reads the trail
            actor = Actor(ANONYMOUS_ACTOR, actor.role, None, actor.user_id, actor.id_number)
        self.session, self.case, self.actor = session, case, actor
        params, calendar = params_and_calendar(session)
        self.ctx = OperationContext(session, case, actor, calendar, params)
        self.operations = bind(self.ctx)
        self.started = time.time()
        self.wf = None
        self._scopes: dict[str, str | None] = {}
        self._bundle: Bundle | None = None

    @property
    def definition(self):
        if self._bundle is None:
            self._bundle = bundle(self.session, self.case.definition_id)
        return self._bundle

    def new(self, data: dict):
        d = self.definition
        self.wf = engine.new_workflow(d.sha256, d.spec, data, self.operations)
        self._created = True  # a failure rolls the new case back with everything else: no incident to record
        return self.wf

    def restore(self):
        if self.case.status == "error":
            # what officers and the applicant read: the case is being repaired (the cause is on the incident page)
            raise CaseErrored(f"办件 {self.case.case_no} 正在修复中，暂不能办理，请等待系统管理员处理完成后再试")
        d = self.definition
        try:
            self.wf = engine.restore_workflow(self.case.state, d.sha256, d.spec, self.operations)
        except EngineIncident as e:
            self._incident(e)
            raise
        return self.wf

    def _incident(self, error: EngineIncident) -> None:
        """Once this action's transaction is rolled back, mark the case as errored with the element and message."""
        if getattr(self, "_created", False) or self.case.id is None:
            return
        case_id, source = self.case.id, "timer" if self.actor is SYSTEM else "action"
        after_rollback(self.session, lambda s: incidents.record_failure(s, case_id, error, source))

    def record(self, action: str, rule_id: str | None = None, task_name: str | None = None, **payload) -> None:
        self.ctx.record(action, rule_id, task_name, **payload)

    def run_and_save(self) -> Case:
        try:
            engine.run_until_stable(self.wf)
            self._rule_decisions()
            self.save()
        except EngineIncident as e:
            self._incident(e)
            raise
        return self.case

    def _rule_decisions(self) -> None:
        """Script and decision-table tasks carrying a `ruleId` property leave a decision event (operators log their own)."""
        for rule_id, title, changed in engine.rule_decisions(self.wf, self.started):
            self.ctx.record("decision", rule_id, title, **changed)

    # What services do to the restored instance (the only way they reach SpiffWorkflow) ----------------------------
    def complete(self, task_id: str, data: dict) -> None:
        try:
            engine.complete_user_task(self.wf, task_id, data)
        except EngineIncident as e:
            self._incident(e)
            raise

    def send_message(self, name: str, payload: dict) -> None:
        engine.send_message(self.wf, name, payload)

    def cancel(self) -> None:
        engine.cancel(self.wf)

    def returnable_steps(self, task_id: str) -> list[tuple[str, str]]:
        """(element id, title) of the completed steps the open task may go back to (never the applicant's own)."""
        return engine.returnable_steps(self.wf, task_id, excluded_lane="申请人")

    def return_to(self, task_id: str, spec_name: str) -> str | None:
        """Reset the instance to an earlier completed step; its title, or None when it is not on this task's path."""
        return engine.reset_to_earlier_step(self.wf, task_id, spec_name)

    def correct_open_tasks(self, changes: dict) -> None:
        engine.update_ready_user_tasks(self.wf, changes)

    def patch_results(self, match: dict, patch: dict) -> int:
        """Correct an operator's result in the instance data and re-arm the timers read from it (provisional dates)."""
        return engine.patch_results(self.wf, match, patch)

    def result_dicts(self) -> list[dict]:
        return engine.result_dicts(self.wf)

    def element_states(self) -> tuple[set[str], set[str]]:
        """(element ids completed, element ids waiting on a timer or message)."""
        return engine.element_states(self.wf)

    # Moving the instance onto another version of its process (workflows/services/case_migration.py) -------------
    def where(self) -> list[migration.Element]:
        """The elements the case stands on (open and waiting)."""
        return migration.where(self.wf)

    def timer_dues(self) -> dict[str, str]:
        return migration.timer_dues(self.wf)

    def check_migration(self, target: Bundle) -> migration.Check:
        return migration.check(self.wf, engine.specs_for(target.sha256, target.spec), target.forms)

    def migrate_to(self, target: Bundle) -> tuple[list[migration.Element], list[str]]:
        """Swap the instance onto `target` and make it the case's definition: (timers re-armed, history that the
        target cannot hold — non-empty means the move must not be saved)."""
        specs = engine.specs_for(target.sha256, target.spec)
        with engine.engine_errors():
            rearmed = migration.apply(self.wf, specs)
        self.case.definition_id, self._bundle = target.id, target
        return rearmed, migration.orphans(self.wf, specs)

    def check_saved_state(self) -> None:
        """Load the state just saved against the case's (new) definition; raises EngineIncident when it does not
        load, without marking the case: the caller rolls the move back and the case stays as it was."""
        d = self.definition
        engine.restore_workflow(self.case.state, d.sha256, d.spec, self.operations)

    def settle_and_save(self) -> None:
        """Run until stable and save, without marking the case errored when the engine fails (the caller's
        transaction is rolled back and the case stays as it was: a failed migration is not the case's incident)."""
        engine.run_until_stable(self.wf)
        self.save()

    def save(self) -> None:
        # One flush at the end: autoflushes in between would UPDATE the case row several times.
        with self.session.no_autoflush:
            self._save()
        self.session.flush()

    def _save(self) -> None:
        case, session, wf = self.case, self.session, self.wf
        case.state = engine.dump_state(wf)
        case.serializer_version = "3.2.0"
        now = now_utc()
        if engine.is_completed(wf) and case.status not in TERMINAL:
            case.status, case.closed_at = "completed", now
        ready = [] if case.status in TERMINAL else engine.ready_user_tasks(wf)
        self._sync_tasks(ready)
        self._hold_clock(ready, now)
        next_at, messages = (None, set()) if case.status in TERMINAL else engine.waiting(wf)
        case.next_timer_at = next_at
        self._sync_subscriptions(messages)
        self._send_notifications()
        append_events(session, case, self.ctx.events)
        self.ctx.events.clear()

    def _sync_tasks(self, ready: list) -> None:
        existing = {t.task_id: t for t in self.case.open_tasks}
        wanted = {r.task_id for r in ready}
        for task_id, row in existing.items():
            if task_id not in wanted:
                self.case.open_tasks.remove(row)
                provisional.forget(self.case, f"task:{task_id}")
        for r in ready:
            if r.task_id in existing:
                continue
            due = r.due_date
            if due is None and r.due_working_days:
                today = today_local()
                due = self.ctx.calendar.add_working_days(today, r.due_working_days)
                if self.ctx.calendar.is_provisional(today, due):
                    provisional.remember(
                        self.case, f"task:{r.task_id}", {"from": today.isoformat(), "working_days": r.due_working_days}
                    )
            self.case.open_tasks.append(
                OpenTask(
                    task_id=r.task_id,
                    spec_name=r.spec_name,
                    title=r.title,
                    lane=r.lane,
                    role=r.role,
                    scope_unit_code=self._scope(r.role),
                    form=r.form,
                    hold_reason=r.hold_reason,
                    due_on=due,
                )
            )
            self.ctx.record("task_opened", r.rule_id, r.title, role=r.role, due=due.isoformat() if due else None)
            self._notify_task(r)

    def _scope(self, role: str) -> str | None:
        if role not in self._scopes:
            self._scopes[role] = scope_for(self.session, role, self.case)
        return self._scopes[role]

    def _notify_task(self, r) -> None:
        case = self.case
        if r.role == "applicant":
            notifications.notify_user(self.session, case.applicant_user_id, case, "assigned", title=r.title)
        else:
            notifications.notify_role(self.session, r.role, self._scope(r.role), case, "assigned", title=r.title)

    def _send_notifications(self) -> None:
        case = self.case
        deadline = case.filing_due_on or (case.promised_on if case.procedure in procedures.COMPLAINT_IDS else None)
        fields = {"reason": case.outcome_reason or "", "deadline": (deadline or "").__str__()}
        for n in self.ctx.notifications:
            if n["to"] == "applicant":
                notifications.notify_user(self.session, case.applicant_user_id, case, n["kind"], **fields)
            else:
                notifications.notify_role(self.session, n["to"], n.get("scope"), case, n["kind"], **fields)
        self.ctx.notifications.clear()

    def _hold_clock(self, ready: list, now: datetime) -> None:
        """While a hold task (e.g. 待编办调剂) is open the case is on hold and the legal clock stops."""
        case = self.case
        if case.status == "returned":  # the applicant holds the case; resubmission restarts the clock
            return
        holds = [r.hold_reason for r in ready if r.hold_reason]
        if holds and case.status == "running":
            case.status, case.hold_since, case.hold_reason = "on_hold", now, holds[0]
            self.ctx.record("hold", None, holds[0], since=now.isoformat())
        elif not holds and case.hold_since is not None:
            days = (local_day(now) - local_day(case.hold_since)).days
            case.hold_days += days
            case.hold_since, case.hold_reason = None, None
            if case.status == "on_hold":
                case.status = "running"
            self.ctx.record("resume", None, "恢复办理", hold_days=days)

    def _sync_subscriptions(self, messages: set[str]) -> None:
        case = self.case
        known = set(case.waiting_messages or [])
        if known == messages:  # nothing changed: no need to read or write the table
            return
        case.waiting_messages = sorted(messages)
        have = {
            s.message_name: s
            for s in self.session.scalars(select(MessageSubscription).where(MessageSubscription.case_id == case.id))
        }
        for name, sub in have.items():
            if name not in messages:
                self.session.delete(sub)
        for name in messages - set(have):
            self.session.add(MessageSubscription(case_id=case.id, message_name=name, correlation_key=case.case_no))


def scope_for(session: Session, role: str, case: Case) -> str | None:
    """The unit whose officers may act: the case's unit, its 主管部门, or region-wide (None)."""
    if role in ("unit_hr", "applicant", "rights_office"):  # a complaint's unit is the office handling it
        return case.unit_code
    if role == "dept":
        unit = lookups.unit(session, case.unit_code)
        return unit.parent_code if unit is not None and unit.parent_code else case.unit_code
    return None
