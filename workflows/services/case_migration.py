"""Moving running cases from one version of their process to another (issue 15, item 2).

`migrate_cases` selects the cases of the source version (all, some by number, or filtered by status or by the element
they stand on) and handles them one by one, each in a transaction of its own with the case locked like every action:
restore the instance, check it against the target (`workflows.engine.migration` via `CaseRun`), move it, run it until
stable, save the state with its open-task projection, timers and message subscriptions, and chain a `migrated` event
(from/to version) onto the case's audit trail. A **dry run** does exactly the same and then rolls the transaction
back, so what it reports — tasks opened and closed, timers re-armed with their new due times, messages — is what the
real run would do, not a guess. A case is refused (nothing written) when it stands on an element the target lacks or
whose type changed, when its history cannot be mapped, or when the target reads data on its way ahead that the case
does not have; a case whose move fails in the engine is reported as failed and stays as it was. The same call with
the versions swapped moves cases back, under the same checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.domain import outcomes
from workflows.domain.actors import Actor
from workflows.domain.errors import Conflict, DomainError, NotFound, ValidationFailed
from workflows.domain.models import Case, ProcessDefinition
from workflows.infra.db import transaction
from workflows.services import audit, versions
from workflows.services.definitions import Bundle, bundle
from workflows.services.runtime import CaseRun, lock_case

MOVABLE = ("running", "on_hold", "returned")  # open cases; errored ones are repaired first (their incident)


@dataclass
class CaseReport:
    case_no: str
    outcome: str  # movable | moved | refused | failed
    at: list[str] = field(default_factory=list)  # where the case stands (element labels)
    reasons: list[str] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)  # open tasks the move opens (titles)
    closed: list[str] = field(default_factory=list)  # open tasks the move closes
    timers: list[str] = field(default_factory=list)  # "element: old → new" for each timer whose due time changed
    messages_added: list[str] = field(default_factory=list)
    messages_removed: list[str] = field(default_factory=list)
    changed_ahead: list[str] = field(default_factory=list)  # elements still ahead whose definition changed
    missing_data: list[str] = field(default_factory=list)
    forms: list[str] = field(default_factory=list)  # open tasks whose form asks for more on the target

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def changes(self) -> list[str]:
        """What the move does (or would do), one Chinese line each."""
        lines = [f"新开待办：{t}" for t in self.opened] + [f"关闭待办：{t}" for t in self.closed]
        lines += [f"定时器重算：{t}" for t in self.timers]
        lines += [f"新等待消息：{m}" for m in self.messages_added] + [
            f"不再等待消息：{m}" for m in self.messages_removed
        ]
        lines += [f"表单变更：{f}" for f in self.forms]
        lines += [f"后续环节有变化：{e}" for e in self.changed_ahead]
        return lines


@dataclass
class Report:
    process_id: str
    from_version: int
    to_version: int
    dry_run: bool
    added: list[str] = field(default_factory=list)  # elements of the target the source lacks
    removed: list[str] = field(default_factory=list)  # elements of the source the target lacks
    cases: list[CaseReport] = field(default_factory=list)
    truncated: bool = False  # more cases matched than `limit`: the rest were not looked at

    def count(self, outcome: str) -> int:
        return sum(1 for c in self.cases if c.outcome == outcome)

    @property
    def counts(self) -> dict[str, int]:
        return {k: self.count(k) for k in ("movable", "moved", "refused", "failed")}

    def as_dict(self) -> dict:
        return {
            "process_id": self.process_id,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "dry_run": self.dry_run,
            "truncated": self.truncated,
            "counts": self.counts,
            "added": self.added,
            "removed": self.removed,
            "cases": [c.as_dict() for c in self.cases],
        }


FLOW = versions.KIND_NAMES["sequenceFlow"]


def _label(e: versions.ElementDiff) -> str:
    return f"{e.kind}「{e.name}」({e.element_id})" if e.name else f"{e.kind} {e.element_id}"


class _DryRun(Exception):
    """Raised at the end of a dry run's transaction so that everything it did is rolled back."""


def versions_of(session: Session, process_id: str, from_version: int, to_version: int):
    """(source row, target row); refuses a move onto the same version or onto a draft (edited in place)."""
    if from_version == to_version:
        raise ValidationFailed("源版本与目标版本相同")
    source = versions.get_version(session, process_id, from_version)
    target = versions.get_version(session, process_id, to_version)
    if target.status == "draft":
        raise Conflict(f"v{to_version} 是草稿，不能作为迁移目标：请先发布（草稿仍可修改）")
    return source, target


def select_cases(
    session: Session,
    source: ProcessDefinition,
    case_nos: list[str] | None = None,
    status: str | None = None,
    limit: int | None = None,
) -> list[str]:
    """The case numbers to handle: the given ones (whatever their version: the run refuses the others with the
    reason), else the source version's open cases, oldest first, optionally of one status."""
    if case_nos:
        return list(dict.fromkeys(n.strip() for n in case_nos if n and n.strip()))[:limit]
    if status is not None and status not in MOVABLE:
        raise ValidationFailed(f"状态只能是：{'、'.join(MOVABLE)}")
    q = select(Case.case_no).where(Case.definition_id == source.id, Case.status.in_([status] if status else MOVABLE))
    return list(session.scalars(q.order_by(Case.id).limit(limit)))  # limit None: all


def migrate_cases(
    session: Session,
    process_id: str,
    from_version: int,
    to_version: int,
    actor: Actor,
    *,
    dry_run: bool = True,
    case_nos: list[str] | None = None,
    status: str | None = None,
    element: str | None = None,
    limit: int | None = None,
) -> Report:
    """Check (dry run) or move the selected cases, one transaction each; the report lists every case handled."""
    with transaction(session):  # a read of the two versions; nothing written
        source, target = versions_of(session, process_id, from_version, to_version)
        numbers = select_cases(session, source, case_nos, status, None if limit is None else limit + 1)
        diff = versions.compare_versions(session, process_id, from_version, to_version)
        target_bundle = bundle(session, target.id)
    report = Report(process_id, from_version, to_version, dry_run)
    if limit is not None and len(numbers) > limit:
        numbers, report.truncated = numbers[:limit], True
    report.added = [_label(e) for e in diff.added if e.kind != FLOW]
    report.removed = [_label(e) for e in diff.removed if e.kind != FLOW]
    element = (element or "").strip() or None
    for case_no in numbers:
        one = _one(session, case_no, source.id, target_bundle, actor, dry_run, element)
        if one is not None:
            report.cases.append(one)
    moved = [c.case_no for c in report.cases if c.outcome == "moved"]
    if not dry_run and report.cases:
        with transaction(session):
            audit.record_admin_event(
                session,
                actor.username,
                "cases_migrated",
                f"process:{process_id}",
                from_version=from_version,
                to_version=to_version,
                moved=moved,
                refused=report.count("refused"),
                failed=report.count("failed"),
            )
    return report


def _one(
    session: Session,
    case_no: str,
    source_id: int,
    target: Bundle,
    actor: Actor,
    dry_run: bool,
    element: str | None,
) -> CaseReport | None:
    report = CaseReport(case_no, "refused")
    try:
        with transaction(session):
            if not _move(session, case_no, source_id, target, actor, dry_run, element, report):
                return None
            if dry_run:
                raise _DryRun
    except _DryRun:
        report.outcome = "movable"
    except _Refused:
        pass  # the reasons are in the report
    except DomainError as e:  # a refusal before the checks, or (outcome "failed") the engine on the target
        report.reasons.append(e.message)
    return report


def _move(
    session: Session,
    case_no: str,
    source_id: int,
    target: Bundle,
    actor: Actor,
    dry_run: bool,
    element: str | None,
    report: CaseReport,
) -> bool:
    """Inside the case's transaction: False when the element filter leaves the case out. A refusal raises (the
    report's outcome still `refused`); past the checks the outcome is `failed` until the move is saved."""
    try:
        case = lock_case(session, case_no)
    except NotFound:
        raise Conflict(f"办件 {case_no} 不存在") from None
    if case.definition_id != source_id:
        raise Conflict(f"办件不在源版本上（当前为流程定义 #{case.definition_id}）")
    if case.status == "error":
        raise Conflict("办件流程出错，须先处理其故障（/admin/incidents）再迁移")
    if case.status not in MOVABLE:
        raise Conflict(f"办件已结束（{outcomes.label(case.status)}），无需迁移")
    run = CaseRun(session, case, actor)
    run.restore()
    at = run.where()
    if element and element not in {e.element_id for e in at}:
        return False
    report.at = [e.label for e in at]
    source_version = run.definition.version
    check = run.check_migration(target)
    report.changed_ahead = [e.label for e in check.changed]
    report.missing_data = check.missing_data
    refusals = list(check.refusals)
    if check.missing_data:
        refusals.append("目标版本后续环节需要办件中没有的数据：" + "、".join(check.missing_data))
    if refusals:
        report.reasons = refusals
        raise _Refused()
    before_tasks = {t.task_id: t.title for t in case.open_tasks}
    before_forms = {t.task_id: run.definition.forms.get(t.form or "") for t in case.open_tasks}
    before_timers, before_messages = run.timer_dues(), set(case.waiting_messages or [])
    report.outcome = "failed"  # from here on, a DomainError is the engine failing on the target
    rearmed, orphans = run.migrate_to(target)
    if orphans:
        report.outcome, report.reasons = "refused", orphans
        raise _Refused()
    run.record(
        "migrated",
        None,
        "迁移流程版本",
        process_id=target.process_id,
        from_version=source_version,
        to_version=target.version,
        rearmed=[e.label for e in rearmed],
    )
    run.settle_and_save()
    run.check_saved_state()  # the saved state must load against the target: a move that cannot be read back is not kept
    after_tasks = {t.task_id: t.title for t in case.open_tasks}
    after_timers = run.timer_dues()  # the moved instance, as saved
    report.opened = [after_tasks[k] for k in after_tasks if k not in before_tasks]
    for t in case.open_tasks:
        if t.task_id in before_forms:
            report.forms += _form_change(t.title, before_forms[t.task_id], target.forms.get(t.form or ""))
    report.closed = [before_tasks[k] for k in before_tasks if k not in after_tasks]
    report.timers = [
        f"{label}：{before_timers.get(label, '—')} → {after_timers.get(label, '—')}"
        for label in sorted(set(before_timers) | set(after_timers))
        if before_timers.get(label) != after_timers.get(label)
    ]
    after_messages = set(case.waiting_messages or [])
    report.messages_added = sorted(after_messages - before_messages)
    report.messages_removed = sorted(before_messages - after_messages)
    report.outcome = "moved"
    return True


def _form_change(title: str, old: dict | None, new: dict | None) -> list[str]:
    """What an open task's form asks for on the target that it did not before (the officer will be asked for it)."""

    def fields(form: dict | None) -> tuple[set[str], set[str]]:
        form = form or {}
        return set(form.get("properties") or {}), set(form.get("required") or [])

    (old_fields, old_required), (new_fields, new_required) = fields(old), fields(new)
    added = sorted(new_fields - old_fields)
    required = sorted(new_required - old_required)
    out = []
    if added:
        out.append(f"「{title}」新增填写项 {'、'.join(added)}")
    if required:
        out.append(f"「{title}」新增必填项 {'、'.join(required)}")
    return out


class _Refused(Conflict):
    """A check refused the case: its reasons are already in the report."""

    def __init__(self) -> None:
        super().__init__("办件不能迁移")
