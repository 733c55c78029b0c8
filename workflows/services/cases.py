"""Case services: start, complete a task, supply an owed material, object during 公示, early 核销, withdraw.

Each call is one transaction (the caller passes a session; nothing is committed on error).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy import insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from workflows.domain import procedures, votes
from workflows.domain.actors import REGION_ROLES, SYSTEM, Actor
from workflows.domain.clock import cn_date, now_utc, today_local
from workflows.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflows.domain.forms import validate
from workflows.domain.models import (
    Case,
    Counter,
    Draft,
    InboundMessage,
    Material,
    MessageSubscription,
    OpenTask,
    SpecialPost,
    Unit,
    User,
)
from workflows.infra import counters, lookups
from workflows.infra.db import transaction
from workflows.services import achievements, posts, provisional, quota
from workflows.services.audit import PendingEvent, append_event
from workflows.services.definitions import published_definition
from workflows.services.queries import case_scope, is_own_case
from workflows.services.runtime import TERMINAL, CaseRun, check_version, lock_case

log = logging.getLogger(__name__)
REGION_CODE = "150000"


def next_serial(session: Session, name: str) -> int:
    """Increment a named counter under its row lock; values are never handed out twice."""
    return counters.increment(session, Counter, name=name)


def new_case_no(session: Session, procedure: str) -> str:
    day = today_local().strftime("%y%m%d")
    letter = procedures.get(procedure).letter
    return f"{REGION_CODE}{letter}{day}{next_serial(session, f'case:{letter}:{day}'):06d}"


@dataclass(frozen=True)
class FileRef:
    """A file already checked and stored in the upload store (by the web layer, from this caller's own upload)."""

    sha256: str
    file_name: str = ""


DRAFT_FILES = "_files"  # inside Draft.data: material code → {"sha256", "file_name"} of a file already stored


def draft_files(draft: Draft | None) -> dict[str, dict]:
    """The files kept with a draft: material code → {"sha256", "file_name"}."""
    files = ((draft.data or {}) if draft is not None else {}).get(DRAFT_FILES) or {}
    return {c: f for c, f in files.items() if isinstance(f, dict) and f.get("sha256")}


def _person_from_account(session: Session, proc: procedures.Procedure, data: dict, actor: Actor) -> dict:
    """An applicant applies as themself: name and ID number come from the account; values the caller sent must be
    the account's (never someone else's name on an official notice)."""
    if actor.role != "applicant":
        return data
    if proc.kind == "complaint" and data.get("anonymous"):
        # an anonymous complaint keeps no identity on the case (the account links it to the complainant)
        name_field, id_field = proc.person_fields
        return {**data, name_field: procedures.ANONYMOUS_NAME, id_field: ""}
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None or not user.id_number:
        raise ValidationFailed("您的账号没有登记公民身份号码，无法提交申请，请联系系统管理员")
    name_field, id_field = proc.person_fields
    wrong = {
        f: "须与您账号登记的信息一致（只能以本人身份提交申请）"
        for f, own in ((name_field, user.display_name), (id_field, user.id_number))
        if data.get(f) not in (None, "") and data.get(f) != own
    }
    if wrong:
        raise ValidationFailed("只能以本人身份提交申请", details={"fields": wrong})
    return {**data, name_field: user.display_name, id_field: user.id_number}


def _received(
    proc: procedures.Procedure,
    data: dict,
    actor: Actor,
    files: Mapping[str, FileRef],
    in_person: Collection[str],
) -> dict[str, FileRef | None]:
    """The materials received with the application: each with a stored file, or recorded by an officer as received
    in person (file None). What the caller lists in `materials` must be among them — a list alone proves nothing."""
    if in_person and actor.role == "applicant":
        raise Forbidden("申请人不能登记现场收取材料：请上传材料文件")
    received: dict[str, FileRef | None] = {c: None for c in in_person}
    received.update({c: f for c, f in files.items() if f.sha256})
    known = {m.code for m in proc.materials}
    unknown = sorted(c for c in received if c not in known)
    if unknown:
        raise ValidationFailed(
            "材料清单中没有此项", details={"fields": {"materials": f"材料清单中没有此项：{'、'.join(unknown)}"}}
        )
    claimed = data.get("materials")
    if isinstance(claimed, list):
        unbacked = [proc.material_name(c) for c in claimed if isinstance(c, str) and c not in received]
        if unbacked:
            message = "以下材料没有上传文件，不能计为已收到：" + "、".join(unbacked)
            raise ValidationFailed(message, details={"fields": {"materials": message}})
    return received


def _derived(session: Session, proc: procedures.Procedure, data: dict) -> dict:
    """Process variables the rules decide on that come from a register, not from the form: R9's eligibility table
    reads `achievement` as the category of the chosen entry of the achievements register (the entry itself, which
    must be active today, stays in the start data and in `achievement_code`)."""
    if "achievement" not in proc.start_properties:
        return {}
    return {
        "achievement": achievements.category_of(session, data.get("achievement")),
        "achievement_code": data.get("achievement"),
    }


def start_case(
    session: Session,
    procedure: str,
    data: dict,
    actor: Actor,
    *,
    files: Mapping[str, FileRef] | None = None,
    draft_id: int | None = None,
    in_person: Collection[str] = (),
) -> Case:
    """Start a case: the one door for the applicant's form, the unit's form and the API (one set of checks).

    A material is received only with a stored file — `files` (checked and stored by the web layer in this request)
    or, when `files` is None, those uploaded to the caller's draft `draft_id` — or when an officer records it as
    received in person (`in_person`; never an applicant). An applicant's name and ID number are the account's.
    The draft is consumed in the same transaction."""
    proc = procedures.get(procedure)
    with transaction(session):
        draft = None
        if draft_id is not None:
            draft = session.get(Draft, draft_id)
            if draft is None or draft.user_id != actor.user_id or draft.procedure != procedure:
                raise NotFound("草稿不存在")
            if files is None:
                files = {c: FileRef(f["sha256"], str(f.get("file_name") or "")) for c, f in draft_files(draft).items()}
        data = _person_from_account(session, proc, dict(data), actor)
        received = _received(proc, data, actor, files or {}, set(in_person))
        if proc.configured:  # 事项配置: its flows have no material check step, so what intake needs is checked here
            lacking = [m.name for m in proc.materials if m.required_at_intake and m.code not in received]
            if lacking:
                message = "缺少必备材料，不予受理：" + "、".join(lacking)
                raise ValidationFailed(message, details={"fields": {"materials": message}})
        data["materials"] = sorted(received)
        validate(proc.start_schema, data, "申请表")
        data = proc.prepare(data)
        derived = _derived(session, proc, data)
        unit = lookups.unit(session, data["unit_code"])
        if unit is None:
            raise ValidationFailed("用人单位不存在", details={"fields": {"unit_code": "用人单位不存在"}})
        if actor.role == "unit_hr" and actor.unit_code != unit.code:
            raise Forbidden("只能为本单位提交申请")
        if actor.role == "applicant" and not proc.applicant_may_start:
            raise Forbidden(f"{proc.short_name}由用人单位申请")
        definition = published_definition(session, procedure)
        name, id_number = proc.person(data)
        case = Case(
            case_no=new_case_no(session, procedure),
            procedure=procedure,
            definition=definition,
            applicant_user_id=actor.user_id if actor.role == "applicant" else None,
            applicant_name=name,
            id_number=id_number,
            unit_code=unit.code,
            status="running",
            start_data=data,
            state="",
        )
        session.add(case)
        session.flush()
        # The checklist in ONE multi-row INSERT … RETURNING that hands back the ORM objects (the unit of work would
        # insert row by row to read each id back), set as the case's collection; a new case has no open tasks yet
        # (no lazy load needed to find that out).
        now = now_utc()
        checklist = []
        for m in proc.materials:
            ref = received.get(m.code)
            checklist.append(
                {
                    "case_id": case.id,
                    "code": m.code,
                    "name": m.name,
                    "is_key": m.required_at_intake,
                    "status": "received" if m.code in received else "missing",
                    "deadline": None,
                    "received_at": now if m.code in received else None,
                    "file_name": (ref.file_name or None) if ref else None,
                    "sha256": ref.sha256 if ref else None,
                }
            )
        items = list(session.scalars(insert(Material).returning(Material), checklist)) if checklist else []
        set_committed_value(case, "materials", sorted(items, key=lambda m: m.id))
        set_committed_value(case, "open_tasks", [])
        run = CaseRun(session, case, actor)
        params = run.ctx.params
        case.matter_version = proc.matter_version or None  # its texts, form and 承诺时限 stay with the case
        if proc.configured and proc.info.get("promise_days"):  # 事项配置: the 承诺时限 runs from the submission
            days, cal, today = int(proc.info["promise_days"]), run.ctx.calendar, today_local()  # type: ignore[call-overload]
            case.promised_on = cal.add_working_days(today, days)
            if cal.is_provisional(today, case.promised_on):
                provisional.remember(case, "promised_on", {"from": today.isoformat(), "working_days": days})
        process_data = {
            **data,
            "case_no": case.case_no,
            "procedure": procedure,
            "unit_code": unit.code,
            "applicant_name": name,
            "id_number": id_number,
            **derived,
            "params": {
                k: params[k]
                for k in ("rongque_days", "publicity_days", "special_post_term_cap", "special_post_term_mode")
            },
        }
        run.new(process_data)
        run.record(
            "submitted",
            None,
            "提交申请",
            procedure=procedure,
            materials=sorted(received),
            definition_version=definition.version,
        )
        for m in proc.materials:  # how each item was received: the dossier's history of a material starts here
            if m.code not in received:
                continue
            ref = received[m.code]
            if ref is not None:
                run.record(
                    "file_attached",
                    None,
                    m.name,
                    code=m.code,
                    file_name=ref.file_name,
                    sha256=ref.sha256,
                    via="application",
                )
            else:
                run.record("received_in_person", None, m.name, code=m.code)
        if draft is not None:
            session.delete(draft)
        run.run_and_save()
    log.info("case started", extra={"case_no": case.case_no, "procedure": procedure})
    return case


def check_transfer(session: Session, case: Case, data: dict) -> None:
    """A transfer names an existing office other than the one handling the case (a 422, before the engine runs)."""
    for key, value in data.items():
        if not key.endswith("_transfer_to"):
            continue
        decision = data.get(key.replace("_transfer_to", "_decision"))
        if decision != "transfer":
            continue
        if not value:
            raise ValidationFailed("转办须选择接收部门", details={"fields": {key: "请选择接收部门"}})
        unit = session.get(Unit, str(value))
        if unit is None or unit.kind not in ("office", "dept"):
            raise ValidationFailed(f"接收部门「{value}」不存在", details={"fields": {key: "接收部门不存在"}})
        if unit.code == case.unit_code:
            raise ValidationFailed("不能转办给本部门", details={"fields": {key: "不能转办给本部门"}})


def can_act(session: Session, actor: Actor, task: OpenTask, case: Case) -> bool:
    if actor.is_system:
        return True
    if actor.role != task.role:
        return False
    if actor.role == "applicant":
        return is_own_case(actor, case)
    if actor.role in REGION_ROLES:
        return True
    return task.scope_unit_code is not None and task.scope_unit_code == actor.unit_code


def still_open(task: OpenTask | None) -> OpenTask:
    """The task `acting_task` found, or 409: the step was handled meanwhile (checked after the caller's 409s about
    the case's version and state, which say more)."""
    if task is None:
        raise Conflict("该环节已被处理或不在待办状态，请刷新后重试")
    return task


def acting_task(session: Session, case: Case, task_id: str, actor: Actor, refusal: str) -> OpenTask | None:
    """The open task `actor` is about to act on (None when it is no longer open), checked in the order that leaks
    nothing: someone who may not act is refused (403) and a case outside their view is 'not found' (404) BEFORE any
    version or state answer (409)."""
    task = next((t for t in case.open_tasks if t.task_id == task_id), None)
    if task is not None and not can_act(session, actor, task, case):
        raise Forbidden(refusal)
    if (
        task is None
        and not actor.is_system
        and session.scalar(select(Case.id).where(Case.id == case.id, case_scope(actor))) is None
    ):
        raise NotFound("办件不存在或您无权查看")
    return task


def complete_task(
    session: Session, case_no: str, task_id: str, data: dict, actor: Actor, expected_version: int | None = None
) -> Case:
    with transaction(session):
        case = lock_case(session, case_no)
        task = acting_task(session, case, task_id, actor, "您无权办理该环节（角色或单位范围不符）")
        check_version(case, expected_version)
        if case.status in TERMINAL:
            raise Conflict("办件已办结或终止，不能再办理")
        if case.status == "returned":
            raise Conflict("办件已退回申请人补正，等待申请人重新提交")
        task = still_open(task)
        if (
            task.assignee_id is not None
            and actor.user_id is not None
            and task.assignee_id != actor.user_id
            and not actor.is_system
        ):
            raise Forbidden("该环节已由他人认领")
        run = CaseRun(session, case, actor)
        form = run.definition.forms.get(task.form or "")
        if form is not None:
            validate(form, data)
            if case.procedure in procedures.COMPLAINT_IDS:  # a transfer names another existing office
                check_transfer(session, case, data)
            if "experts_present" in (form.get("properties") or {}):  # R9: the counts agree and the meeting was quorate
                errors = votes.count_errors(data, run.ctx.params["vote_quorum"])
                if errors:
                    raise ValidationFailed("；".join(errors.values()), details={"fields": errors})
        elif data:
            raise ValidationFailed("该环节没有表单，不接受提交数据")
        run.restore()
        run.complete(task_id, data)
        run.record(
            "task_completed", None, task.title, role=task.role, task_id=task_id, element=task.spec_name, data=data
        )
        run.run_and_save()
    return case


def deliver_message(
    session: Session,
    name: str,
    correlation_key: str,
    payload: dict,
    idempotency_key: str,
    actor: Actor = SYSTEM,
    before=None,
) -> Case:
    """Route a message to the case waiting for it. A repeated idempotency key returns without acting twice."""
    if not idempotency_key:
        raise ValidationFailed("缺少幂等键（idempotency key）")
    with transaction(session):
        seen = session.scalar(select(InboundMessage).where(InboundMessage.idempotency_key == idempotency_key))
        case = lock_case(session, correlation_key)
        if seen is not None:
            if seen.message_name != name or seen.correlation_key != correlation_key:
                raise Conflict("幂等键已用于另一条消息")
            return case
        if before is not None:
            before(case)
        waiting = session.scalar(
            select(MessageSubscription.id).where(
                MessageSubscription.case_id == case.id, MessageSubscription.message_name == name
            )
        )
        if waiting is None:
            raise Conflict(f"该办件当前不在等待此消息（{name}）")
        session.add(
            InboundMessage(
                idempotency_key=idempotency_key,
                message_name=name,
                correlation_key=correlation_key,
                payload=payload,
                status="delivered",
                processed_at=now_utc(),
            )
        )
        run = CaseRun(session, case, actor)
        run.restore()
        run.send_message(name, payload)
        run.record("message", None, name, payload=payload, idempotency_key=idempotency_key)
        run.run_and_save()
    return case


def supply_material(
    session: Session,
    case_no: str,
    code: str,
    actor: Actor,
    *,
    file_name: str = "",
    sha256: str = "",
    idempotency_key: str | None = None,
) -> Case:
    """Receive one owed item (R3). When the last owed item arrives the waiting process gets `rongque_supplied`."""
    key = idempotency_key or f"supply:{case_no}:{code}"
    with transaction(session):
        case = lock_case(session, case_no)
        if actor.role == "applicant" and not is_own_case(actor, case):
            raise Forbidden("只能为本人的办件补交材料")
        if session.scalar(select(InboundMessage.id).where(InboundMessage.idempotency_key == key)) is not None:
            return case
        item = next((m for m in case.materials if m.code == code), None)
        if item is None:
            raise NotFound(f"材料清单中没有此项：{code}")
        if item.status not in ("owed", "missing"):
            raise Conflict(f"“{item.name}”无需补交（当前状态：{item.status}）")
        if case.status in TERMINAL:
            raise Conflict("办件已办结或终止，不能再补交材料")
        item.status, item.received_at, item.file_name, item.sha256 = (
            "received",
            now_utc(),
            file_name or None,
            sha256 or None,
        )
        session.add(
            InboundMessage(
                idempotency_key=key,
                message_name="material",
                correlation_key=case_no,
                payload={"code": code},
                status="delivered",
                processed_at=now_utc(),
            )
        )
        run = CaseRun(session, case, actor)
        run.record("material_received", "R3", item.name, code=code, file_name=file_name, sha256=sha256)
        still_owed = [m.code for m in case.materials if m.status == "owed"]
        waiting = session.scalar(
            select(MessageSubscription.id).where(
                MessageSubscription.case_id == case.id, MessageSubscription.message_name == "rongque_supplied"
            )
        )
        run.restore()
        if not still_owed and waiting is not None:
            case.complete_on = today_local()
            supplied = {"items": [code], "complete_on": case.complete_on.isoformat()}
            run.send_message("rongque_supplied", supplied)
            # name and payload: what a simulation replays (workflows/services/simulation.py)
            run.record(
                "message",
                "R3",
                "容缺材料补齐",
                complete_on=supplied["complete_on"],
                name="rongque_supplied",
                payload=supplied,
            )
        run.run_and_save()
    return case


def record_objection(
    session: Session,
    case_no: str,
    text: str,
    by: str,
    idempotency_key: str,
    actor: Actor = SYSTEM,
    *,
    received_on: str | None = None,
    attachment: dict | None = None,
) -> Case:
    """R7: an objection during 公示 holds the case until the finding is filed. `received_on` (ISO date) and
    `attachment` ({"file_name", "sha256"} of a stored file) are what the officer's page records besides the text."""
    if not (text or "").strip():
        raise ValidationFailed("异议内容不能为空", details={"fields": {"text": "此项为必填项"}})
    payload: dict = {"text": text.strip()[:2000], "by": by[:100]}
    if received_on:
        payload["received_on"] = received_on
    if attachment:
        payload["attachment"] = {
            "file_name": str(attachment.get("file_name") or "")[:200],
            "sha256": attachment["sha256"],
        }
    return deliver_message(session, "objection", case_no, payload, idempotency_key, actor)


def request_writeoff(
    session: Session,
    case_no: str,
    reason: str,
    idempotency_key: str,
    actor: Actor = SYSTEM,
    regular_post_vacancy: bool = False,
) -> Case:
    """R8: 核销 of a special post before its term ends: 任务完成, 辞聘 or 解聘 (期满 only from the term's last day on,
    should the timer not have run). Whether a holder who stays (任务完成) moves to a regular post at once is the posts
    register's answer (a vacancy at the level, filled by the move); `regular_post_vacancy`, the unit's own statement
    that older API clients send, is only kept on the message."""
    if reason not in procedures.WRITEOFF_REASONS:
        allowed = "、".join(f"{k}（{v}）" for k, v in procedures.WRITEOFF_REASONS.items())
        raise ValidationFailed(f"核销原因须为：{allowed}", details={"fields": {"reason": "请选择核销原因"}})

    def _scope(case: Case) -> None:
        if actor.role == "unit_hr" and actor.unit_code != case.unit_code:
            raise Forbidden("只能核销本单位的特设岗位")
        if reason == "term_end":
            post = session.scalar(select(SpecialPost).where(SpecialPost.case_id == case.id))
            if post is not None and today_local() < post.term_end:
                raise ValidationFailed(
                    f"聘期至{cn_date(post.term_end)}届满，届满当日自动核销；提前核销请选择任务完成、辞聘或解聘",
                    details={"fields": {"reason": "聘期尚未届满"}},
                )

    payload = {"reason": reason, "regular_post_vacancy": bool(regular_post_vacancy)}
    return deliver_message(session, "special_post_writeoff", case_no, payload, idempotency_key, actor, before=_scope)


def record_regular_post(session: Session, case_no: str, actor: Actor, on, note: str = "") -> SpecialPost:
    """R8 after 核销: a holder left pending moves to a regular post once the unit has a vacancy at the level (the
    unit's HR or 人社 records it, with the date)."""
    try:
        moved_on = on if isinstance(on, date) else date.fromisoformat(str(on or "").strip())
    except ValueError:
        raise ValidationFailed("请填写转聘日期", details={"fields": {"regular_post_on": "格式不正确"}}) from None
    note = (note or "").strip()
    if len(note) > 200:
        raise ValidationFailed("说明不超过 200 字", details={"fields": {"note": "内容过长"}})
    with transaction(session):
        case = lock_case(session, case_no)
        if actor.role == "unit_hr" and actor.unit_code != case.unit_code:
            raise Forbidden("只能登记本单位的特设岗位人员转聘")
        if actor.role not in ("unit_hr", "hrss", "admin"):
            raise Forbidden("无权登记转聘")
        post = session.scalar(select(SpecialPost).where(SpecialPost.case_id == case.id))
        if post is None or post.regular_post_status != "pending":
            raise Conflict("该特设岗位没有待转聘的人员")
        if post.written_off_on and moved_on < post.written_off_on:
            raise ValidationFailed(
                "转聘日期不能早于核销日期", details={"fields": {"regular_post_on": "不能早于核销日期"}}
            )
        if moved_on > today_local():
            raise ValidationFailed("转聘日期不能晚于今天", details={"fields": {"regular_post_on": "不能晚于今天"}})
        # the posts register must show a vacancy at the level; the move fills it (实有 + 1) in this transaction
        if posts.fill_vacancy(session, case.unit_code, post.post_level, case.case_no, actor.username) is None:
            vacant = posts.vacancy_at(session, case.unit_code, post.post_level)
            shown = "未登记该等级岗位" if vacant is None else f"该等级空缺岗位为{max(vacant, 0)}个"
            raise Conflict(
                f"岗位设置台账中本单位{post.post_level}{shown}，暂不能登记转聘；"
                "出现空缺后由系统管理员在岗位设置台账中调整核定数或实有数，再登记转聘",
                details={"fields": {"regular_post_on": "本单位该等级暂无空缺岗位"}},
            )
        post.regular_post_status, post.regular_post_on = "moved", moved_on
        post.regular_post_note = note or f"本单位出现{post.post_level}空缺岗位，转聘至正常岗位"
        append_event(
            session,
            case,
            PendingEvent(
                actor.username,
                "special_post",
                "特设岗位人员转聘正常岗位",
                "R8",
                {"regular_post": "moved", "regular_post_on": moved_on.isoformat(), "note": post.regular_post_note},
            ),
        )
    return post


def withdraw(session: Session, case_no: str, actor: Actor, reason: str = "") -> Case:
    with transaction(session):
        case = lock_case(session, case_no)
        # the application's owner withdraws it: the applicant of their own case, the unit for its own (a special
        # post's holder is named in the unit's application and may not withdraw it)
        if actor.role == "applicant" and not is_own_case(actor, case):
            raise Forbidden("只能撤回本人的申请")
        if actor.role == "unit_hr" and actor.unit_code != case.unit_code:
            raise Forbidden("只能撤回本单位的申请")
        if actor.role not in ("applicant", "unit_hr", "admin", "system"):
            raise Forbidden("无权撤回该申请")
        if case.status in TERMINAL:
            raise Conflict("办件已办结或终止，不能撤回")
        run = CaseRun(session, case, actor)
        run.restore()
        run.cancel()
        settled = quota.settle_case(session, case, consume=False)
        case.status, case.closed_at, case.outcome_reason = "withdrawn", now_utc(), reason or "申请人撤回"
        run.record("withdrawn", None, "撤回申请", reason=case.outcome_reason, quota=settled)
        run.save()
    return case


def claim(session: Session, case_no: str, task_id: str, actor: Actor, release: bool = False) -> OpenTask:
    with transaction(session):
        case = lock_case(session, case_no)
        task = still_open(acting_task(session, case, task_id, actor, "您无权认领该环节"))
        if release:
            if task.assignee_id not in (None, actor.user_id):
                raise Forbidden("只能释放自己认领的环节")
            task.assignee_id = None
        else:
            if task.assignee_id not in (None, actor.user_id):
                raise Conflict("该环节已被他人认领")
            task.assignee_id = actor.user_id
        append_event(session, case, PendingEvent(actor.username, "released" if release else "claimed", task.title))
    return task
