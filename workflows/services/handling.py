"""What officers and applicants do around the process steps: return for correction and resubmit, transfer,
comment, rate the service (好差评), keep drafts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.domain import outcomes, procedures
from workflows.domain.actors import SYSTEM, Actor
from workflows.domain.clock import local_day, now_utc, today_local
from workflows.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflows.domain.forms import validate
from workflows.domain.models import Case, Correction, Draft, Rating, User
from workflows.infra.db import transaction
from workflows.services import achievements, archive, notifications, registers
from workflows.services.audit import PendingEvent, append_event
from workflows.services.cases import DRAFT_FILES, acting_task, can_act, draft_files, still_open
from workflows.services.queries import is_own_case
from workflows.services.runtime import ANONYMOUS_ACTOR, TERMINAL, CaseRun, anonymous_complaint, lock_case

RATEABLE = frozenset(outcomes.CLOSING)  # a closed case (not a withdrawn one) may be rated


def _owns(actor: Actor, case: Case) -> bool:
    return is_own_case(actor, case)


def returned_to_unit(case: Case) -> bool:
    """A case the unit filed (a procedure addressed to the unit, e.g. a configured matter the unit applies for): its
    return goes to the unit's HR desk, who correct and resubmit."""
    return case.applicant_user_id is None and procedures.get(case.procedure).addressee == "unit"


def answers_returns(actor: Actor, case: Case) -> bool:
    if returned_to_unit(case):
        return actor.role == "unit_hr" and actor.unit_code == case.unit_code
    return _owns(actor, case)


def return_for_correction(
    session: Session,
    case_no: str,
    task_id: str,
    actor: Actor,
    reason: str,
    target: str = "applicant",
    items: list[str] | None = None,
) -> Case:
    """Send the case back: to the applicant (the step waits, the clock stops) or to an earlier completed step."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("退回须填写理由", details={"fields": {"reason": "此项为必填项"}})
    with transaction(session):
        case = lock_case(session, case_no)
        task = acting_task(session, case, task_id, actor, "您无权退回该环节")
        if actor.role == "applicant":
            raise Forbidden("您无权退回该环节")
        if case.status in TERMINAL or case.status == "returned":
            raise Conflict("办件当前状态不能退回")
        if target == "applicant" and case.procedure in procedures.COMPLAINT_IDS:
            # no 补正材料通知书 for a complaint (no checklist, maybe no name): accept and answer, refuse, or transfer
            raise Conflict("投诉反馈不退回投诉人补正：请受理后答复、不予受理或转办")
        task = still_open(task)
        codes = {m.code for m in case.materials}
        bad = [c for c in (items or []) if c not in codes]
        if bad:
            raise ValidationFailed("补正材料项不在清单中：" + "、".join(bad))
        run = CaseRun(session, case, actor)
        if target == "applicant":
            for m in case.materials:
                if m.code in (items or []):
                    m.status, m.received_at = "missing", None
            unit = returned_to_unit(case)
            hold = "退回用人单位补正" if unit else "退回申请人补正"
            case.status, case.hold_since, case.hold_reason = "returned", now_utc(), hold
            if unit:
                notifications.notify_role(session, "unit_hr", case.unit_code, case, "returned", reason=reason)
            else:
                notifications.notify_user(session, case.applicant_user_id, case, "returned", reason=reason)
            run.record("returned", None, task.title, target="applicant", reason=reason, items=items or [])
            # 补正材料通知书 (行政许可法第三十二条: 一次告知): numbered in this transaction, rendered after commit.
            office = procedures.get(case.procedure).office
            doc = archive.plan_document(
                session,
                case,
                "correction_notice",
                office,
                by=actor.username,
                step="return_for_correction",
                data=correction_notice_data(session, case, reason, items),
            )
            run.record(
                "document",
                None,
                doc.title,
                kind=doc.kind,
                doc_no=doc.doc_no,
                document_id=doc.id,
                office=office,
                version=doc.version,
            )
            run.restore()
            run.save()
        else:
            run.restore()
            earlier_title = run.return_to(task_id, target)
            if earlier_title is None:
                raise ValidationFailed(f"不能退回到该环节：{target}（只能退回到本办件已办理的前序环节）")
            run.record(
                "returned",
                None,
                task.title,
                target=earlier_title,
                reason=reason,
                element=task.spec_name,
                to_element=target,
            )
            run.run_and_save()
        session.add(
            Correction(
                case_id=case.id,
                task_title=task.title,
                target=target,
                reason=reason,
                items=items or [],
                requested_by=actor.username,
                resolved_at=None if target == "applicant" else now_utc(),
            )
        )
    return case


def correction_notice_data(session: Session, case: Case, reason: str, item_codes: list[str] | None = None) -> dict:
    """The 补正材料通知书 data: every item to correct with the return's reason as its requirement (or the reason
    alone when no material is named), and the deadline: the case's 容缺 deadline if still ahead, else today plus the
    `rongque_days` working days (the office's 补正期限 parameter)."""
    from workflows.domain.clock import today_local
    from workflows.services import provisional
    from workflows.services.settings import params_and_calendar

    data = archive.document_data(session, case, "correction_notice")
    names = {m.code: m.name for m in case.materials}
    requirement = (reason or "").strip() or "请补正"
    data["items"] = [{"name": names[c], "requirement": requirement} for c in (item_codes or []) if c in names] or [
        {"name": "申请材料及申请表填写内容", "requirement": requirement}
    ]
    today = today_local()
    params, cal = params_and_calendar(session)
    if case.rongque_deadline and case.rongque_deadline >= today:
        deadline = case.rongque_deadline
    else:
        deadline = cal.add_working_days(today, int(params["rongque_days"]))
    data["deadline"] = deadline.isoformat()
    if cal.is_provisional(today, deadline):  # DESIGN §3: printed as 暂计至…
        data["deadline_note"] = provisional.note(deadline)
    data["reason"] = requirement
    return data


def returnable_steps(session: Session, case: Case, task_id: str) -> list[tuple[str, str]]:
    """(spec name, title) of the completed steps the open task may be sent back to."""
    run = CaseRun(session, case, SYSTEM)
    run.restore()
    return run.returnable_steps(task_id)


def resubmit(
    session: Session, case_no: str, actor: Actor, changes: dict | None = None, materials: list[str] | None = None
) -> Case:
    """The applicant (the unit's HR desk for a case the unit filed) answers a return: corrected fields and the
    re-supplied items; the waiting step reopens."""
    changes = dict(changes or {})
    with transaction(session):
        case = lock_case(session, case_no)
        if not answers_returns(actor, case) and not actor.is_system:
            raise Forbidden("只能重新提交本人（本单位）的申请")
        if case.status != "returned":
            raise Conflict("该办件没有待补正的退回")
        proc = archive.procedure_of(session, case)  # the form of the version of its matter the case started on
        allowed = proc.correctable
        extra = sorted(set(changes) - allowed)
        if extra:
            raise ValidationFailed("以下字段不能在补正时修改：" + "、".join(extra))
        merged = {**case.start_data, **changes}
        if "hire_type" in changes and "outside_establishment" not in changes:
            merged.pop("outside_establishment", None)  # derived from the corrected hire type (R5)
        validate(
            proc.start_schema, {k: v for k, v in merged.items() if k in proc.start_schema["properties"]}, "补正内容"
        )
        if "achievement" in changes:  # R9: a corrected achievement must be an active entry of the register too
            achievements.chosen(session, changes["achievement"])
        known = proc.start_schema["properties"]
        merged = {**case.start_data, **proc.prepare({k: v for k, v in merged.items() if k in known})}
        corr = session.scalar(
            select(Correction)
            .where(Correction.case_id == case.id, Correction.resolved_at.is_(None))
            .order_by(Correction.id.desc())
        )
        still = [c for c in (corr.items if corr else []) if c not in (materials or [])]
        if still:
            raise ValidationFailed("仍需补正的材料未提交：" + "、".join(still))
        for m in case.materials:
            if m.code in (materials or []):
                m.status, m.received_at = "received", now_utc()
        case.start_data = merged
        run = CaseRun(session, case, actor)
        run.restore()
        run.correct_open_tasks(changes)
        if corr:
            corr.resolved_at = now_utc()
        start = local_day(case.hold_since) if case.hold_since else None
        if start:
            case.hold_days += (today_local() - start).days
        case.status, case.hold_since, case.hold_reason = "running", None, None
        who = "用人单位重新提交" if returned_to_unit(case) else "申请人重新提交"
        run.record("resubmitted", None, who, changes=changes, materials=materials or [])
        for t in case.open_tasks:
            notifications.notify_role(session, t.role, t.scope_unit_code, case, "resubmitted", title=t.title)
        run.save()
    return case


def transfer(session: Session, case_no: str, task_id: str, actor: Actor, to_username: str) -> Case:
    with transaction(session):
        case = lock_case(session, case_no)
        task = still_open(acting_task(session, case, task_id, actor, "您无权转交该环节"))
        user = session.scalar(select(User).where(User.username == to_username, User.active.is_(True)))
        if user is None:
            raise NotFound("接收人不存在")
        target = Actor.from_user(user)
        if not can_act(session, target, task, case):
            raise ValidationFailed("接收人不在该环节的角色或单位范围内")
        task.assignee_id = user.id
        notifications.notify_user(session, user.id, case, "transferred", title=task.title)
        append_event(
            session, case, PendingEvent(actor.username, "transferred", task.title, payload={"to": user.username})
        )
    return case


def comment(session: Session, case_no: str, actor: Actor, text: str) -> Case:
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("意见内容不能为空", details={"fields": {"text": "此项为必填项"}})
    if len(text) > 2000:
        raise ValidationFailed("意见内容过长（最多2000字）")
    with transaction(session):
        case = lock_case(session, case_no)
        append_event(session, case, PendingEvent(actor.username, "comment", None, payload={"text": text}))
    return case


def rate(session: Session, case_no: str, actor: Actor, stars: int, reason: str = "") -> Rating:
    """好差评: five levels, a reason required below three stars, once per case, after it is closed."""
    if not isinstance(stars, int) or not 1 <= stars <= 5:
        raise ValidationFailed("评价须为1至5星", details={"fields": {"stars": "取值不在允许范围内"}})
    reason = (reason or "").strip()
    if stars < 3 and not reason:
        raise ValidationFailed("三星以下的评价须填写理由", details={"fields": {"reason": "此项为必填项"}})
    with transaction(session):
        case = lock_case(session, case_no)
        if not _owns(actor, case):
            raise Forbidden("只能评价本人的办件")
        if case.status not in RATEABLE:
            raise Conflict("办结后才能评价")
        if session.scalar(select(Rating.id).where(Rating.case_id == case.id)) is not None:
            raise Conflict("该办件已评价")
        rating = Rating(case_id=case.id, stars=stars, reason=reason or None, user_id=actor.user_id)
        session.add(rating)
        who = ANONYMOUS_ACTOR if anonymous_complaint(case) else actor.username
        append_event(session, case, PendingEvent(who, "rated", None, payload={"stars": stars, "reason": reason}))
    return rating


def save_draft(
    session: Session,
    actor: Actor,
    procedure: str,
    data: dict,
    draft_id: int | None = None,
    files: dict[str, dict] | None = None,
) -> Draft:
    """Save what is valid so far. `files` (material code → {"sha256", "file_name"}) are files already checked and
    stored; they are kept in the draft's JSON beside the fields (None keeps the draft's files as they are) — a draft
    is one user's scratch copy, so its file references need no table of their own."""
    proc = procedures.get(procedure)
    allowed = set(proc.start_schema["properties"])
    codes = {m.code for m in proc.materials}
    clean = {k: v for k, v in (data or {}).items() if k in allowed}
    with transaction(session):
        if draft_id is not None:
            draft = session.get(Draft, draft_id)
            if draft is None or draft.user_id != actor.user_id:
                raise NotFound("草稿不存在")
            kept = draft_files(draft) if files is None and draft.procedure == procedure else (files or {})
        else:
            draft, kept = None, files or {}
        kept = {
            c: {"sha256": str(f["sha256"]), "file_name": str(f.get("file_name") or "")[:200]}
            for c, f in kept.items()
            if c in codes and f.get("sha256")
        }
        if kept:
            clean[DRAFT_FILES] = kept
        if draft is not None:
            draft.data, draft.procedure = clean, procedure
        else:
            draft = Draft(user_id=actor.user_id, procedure=procedure, data=clean)
            session.add(draft)
    return draft


def draft_fields(draft: Draft | None) -> dict:
    """A draft's form data without its file references."""
    return {k: v for k, v in ((draft.data or {}) if draft is not None else {}).items() if k != DRAFT_FILES}


def refused_at_once(
    session: Session, procedure: str, id_number: str, submitted: set[str] | list[str], data: dict | None = None
) -> list[str]:
    """Why an application with these materials (and this data) would be refused the moment it is submitted — the
    procedure's own eligibility preview, and the material check of R2/R3 that `check_dossier` applies to procedures
    with 容缺受理 — in the applicant's words; [] when it would not."""
    proc = procedures.get(procedure)
    if proc.intake_check is not None and data is not None:
        reason = proc.intake_check(data)
        if reason:
            return [reason]
    if not proc.rongque:
        return []
    missing = [m for m in proc.materials if m.code not in set(submitted)]
    key = [m.name for m in missing if m.is_key]
    if key:
        return [f"缺少关键材料：{'、'.join(key)}，提交后将不予受理（关键材料齐全方可容缺受理）"]
    if missing and registers.active_breach(session, id_number, today_local()) is not None:
        names = "、".join(m.name for m in missing)
        return [f"您有容缺承诺未履行（违诺）记录，不再适用容缺受理；缺少材料：{names}，提交后将不予受理"]
    return []


def drafts_of(session: Session, actor: Actor) -> list[Draft]:
    return list(session.scalars(select(Draft).where(Draft.user_id == actor.user_id).order_by(Draft.updated_at.desc())))


def delete_draft(session: Session, actor: Actor, draft_id: int) -> None:
    with transaction(session):
        draft = session.get(Draft, draft_id)
        if draft is None or draft.user_id != actor.user_id:
            raise NotFound("草稿不存在")
        session.delete(draft)
