"""Service-task operators: the only domain code a BPMN process can call (an allow-list).

Each operator gets the run's context (database session, the case, the legal calendar, policy parameters), the task
data and its evaluated parameters, and returns a JSON-able dict that lands in the task's result variable. Operators
record the rule they apply; everything they write commits with the instance state or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.domain import outcomes, procedures, votes
from workflows.domain.actors import Actor
from workflows.domain.clock import cn_date, today_local
from workflows.domain.errors import EngineFailure
from workflows.domain.forms import validate
from workflows.domain.legal_time import LegalCalendar, end_of_day_utc
from workflows.domain.models import Case, CaseEvent, Rating, RightsTopic, SpecialPost, Unit
from workflows.domain.procedures import WRITEOFF_HOLDER_STAYS, WRITEOFF_REASONS, material_name
from workflows.services import posts, provisional, quota, registers
from workflows.services.archive import issue_for_step, procedure_of
from workflows.services.audit import PendingEvent


@dataclass
class OperationContext:
    session: Session
    case: Case
    actor: Actor
    calendar: LegalCalendar
    params: dict
    events: list[PendingEvent] = field(default_factory=list)
    notifications: list[dict] = field(default_factory=list)

    @property
    def today(self) -> date:
        return today_local()

    def record(self, action: str, rule_id: str | None = None, task_name: str | None = None, **payload) -> None:
        self.events.append(PendingEvent(self.actor.username, action, task_name, rule_id, payload))


Operator = Callable[[OperationContext, dict, dict], dict]
OPERATORS: dict[str, Operator] = {}


def operator(fn: Operator) -> Operator:
    OPERATORS[fn.__name__] = fn
    return fn


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


@operator
def check_credit(ctx: OperationContext, data: dict, params: dict) -> dict:
    """R10: the 科研失信 list, or a title revoked for fraud within three years, refuses before anything else."""
    id_number = data.get("holder_id_number") or data.get("id_number")
    reason = registers.credit_block_reason(ctx.session, id_number, ctx.today)
    result = {"blocked": bool(reason), "reason": reason or "未发现失信记录"}
    ctx.record("decision", "R10", "失信核查", **result)
    return result


@operator
def check_dossier(ctx: OperationContext, data: dict, params: dict) -> dict:
    """R2/R3: complete → 即收即办; only non-key items missing → 容缺 (unless a 违诺 record bars it); else incomplete."""
    missing = [m for m in ctx.case.materials if m.status in ("missing", "owed")]
    missing_key = [m.code for m in missing if m.is_key]
    owed = [m.code for m in missing if not m.is_key]
    barred = registers.active_breach(ctx.session, ctx.case.id_number, ctx.today) is not None
    if missing_key:
        status = "incomplete"
        names = "、".join(material_name(ctx.case.procedure, c) for c in missing_key)
        reason = f"关键材料缺失：{names}。关键材料齐全方可容缺受理，请补齐后重新申请"
        rule_id = "R3"
    elif not owed:
        status, reason, rule_id = "complete", "申请材料齐全，即收即办", "R2"
    elif barred:
        status = "incomplete"
        reason = "申请人有容缺承诺未履行（违诺）记录，不再适用容缺受理，请补齐全部材料后申请"
        rule_id = "R3"
    else:
        status = "rongque"
        reason = "关键材料齐全，其余材料可容缺受理：" + "、".join(material_name(ctx.case.procedure, c) for c in owed)
        rule_id = "R3"
    result = {"status": status, "owed": owed, "missing_key": missing_key, "barred": barred, "reason": reason}
    ctx.record("decision", rule_id, "材料审查", **result)
    return result


@operator
def accept_case(ctx: OperationContext, data: dict, params: dict) -> dict:
    """R2 即收即办 (accepted and passed on the same working day) or R3 容缺受理 with the owed items' deadline."""
    mode = params.get("mode")
    if mode not in ("instant", "rongque"):
        raise EngineFailure(f"accept_case 的 mode 参数无效：{mode!r}")
    case, cal, today = ctx.case, ctx.calendar, ctx.today
    case.accepted_on = today
    # 事项配置: the 承诺时限 of the version of its matter the case started on, else the policy parameter
    own = procedure_of(ctx.session, case).info.get("promise_days")
    promise_days = own if isinstance(own, int) and own > 0 else int(ctx.params["promise_working_days"])
    case.promised_on = cal.add_working_days(today, promise_days)
    if cal.is_provisional(today, case.promised_on):
        provisional.remember(case, "promised_on", {"from": today.isoformat(), "working_days": promise_days})
    result = {
        "accepted_on": today.isoformat(),
        "mode": mode,
        "promised_on": case.promised_on.isoformat(),
        "rongque_deadline": None,
        "rongque_deadline_at": None,
    }
    if mode == "instant":
        case.complete_on = today
        ctx.record("accepted", "R2", "即收即办", **result)
        issue_for_step(ctx, "accept_case", data, params, result)
        return result
    rongque_days = int(ctx.params["rongque_days"])
    deadline = min(cal.add_working_days(today, rongque_days), case.promised_on)
    case.rongque_deadline = deadline
    for m in case.materials:
        if m.status == "missing" and not m.is_key:
            m.status, m.deadline = "owed", deadline
    result["rongque_deadline"] = deadline.isoformat()
    if cal.is_provisional(today, deadline):
        # never lapse on a provisional date: the timer waits until the official table confirms the deadline
        provisional.remember(
            case,
            "rongque_deadline",
            {"from": today.isoformat(), "working_days": rongque_days, "cap_working_days": promise_days},
        )
        result["rongque_deadline_at"] = provisional.UNCONFIRMED_AT
    else:
        result["rongque_deadline_at"] = end_of_day_utc(deadline).isoformat()
    ctx.record("accepted", "R3", "容缺受理", owed=[m.code for m in case.materials if m.status == "owed"], **result)
    issue_for_step(ctx, "accept_case", data, params, result)
    return result


@operator
def record_breach(ctx: OperationContext, data: dict, params: dict) -> dict:
    """R3: the commitment lapsed — a 违诺 record bars this person from 容缺受理 from now on."""
    owed = [m.code for m in ctx.case.materials if m.status == "owed"]
    registers.record_breach(
        ctx.session,
        ctx.case.id_number,
        ctx.case.id,
        "容缺材料逾期未补齐：" + "、".join(material_name(ctx.case.procedure, c) for c in owed),
        ctx.today,
    )
    ctx.record("breach", "R3", "记录违诺", owed=owed, deadline=_iso(ctx.case.rongque_deadline))
    ctx.notifications.append({"to": "applicant", "kind": "rongque_lapsed"})
    return {}


@operator
def allocate_quota(ctx: OperationContext, data: dict, params: dict) -> dict:
    """R4: own vacancy first, else the 人才专项编制 pool, else none (the case waits for 编办)."""
    source = quota.reserve_for_case(ctx.session, ctx.case)
    text = {
        "own": "使用本单位空余编制",
        "pool": "本单位编制不足，预留人才专项编制（待编办审批）",
        "none": "本单位无空编且人才专项编制已用完，待编办调剂",
    }[source]
    ctx.record("quota", "R4", "编制来源", source=source, note=text)
    return {"source": source, "note": text}


@operator
def start_publicity(ctx: OperationContext, data: dict, params: dict) -> dict:
    """R7: N working days, start day counted (a non-working start day moves to the next working day)."""
    cal, today, days = ctx.calendar, ctx.today, int(ctx.params["publicity_days"])
    start, end = provisional.publicity_period(cal, today, days)
    result = {
        "kind": params.get("kind", "unit"),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "end_at": end_of_day_utc(end).isoformat(),
    }
    if cal.is_provisional(today, end):
        # a 公示 never ends early on a guessed calendar: it ends once the official table confirms its last day
        provisional.remember(ctx.case, f"publicity:{start.isoformat()}", {"from": today.isoformat(), "days": days})
        result["end_at"] = provisional.UNCONFIRMED_AT
    ctx.record("publicity", "R7", "公示", **result)
    issue_for_step(ctx, "start_publicity", data, params, result)
    return result


@operator
def compute_filing_due(ctx: OperationContext, data: dict, params: dict) -> dict:
    """R6: one month from the day the application became complete, rolled to a working day, extended by holds."""
    case, cal = ctx.case, ctx.calendar
    complete_on = case.complete_on or case.accepted_on or ctx.today
    remind_days = int(ctx.params["filing_remind_working_days"])
    due, remind_on = provisional.filing_due(cal, complete_on, case.hold_days, remind_days)
    case.filing_due_on = due
    result = {
        "complete_on": complete_on.isoformat(),
        "due": due.isoformat(),
        "hold_days": case.hold_days,
        "due_at": end_of_day_utc(due).isoformat(),
        "remind_at": end_of_day_utc(remind_on - timedelta(days=1)).isoformat(),
    }
    if cal.is_provisional(complete_on, due):
        # the reminder may come on the provisional date; the escalation waits for the confirmed one
        provisional.remember(
            case,
            "filing_due_on",
            {"from": complete_on.isoformat(), "hold_days": case.hold_days, "remind_working_days": remind_days},
        )
        result["due_at"] = provisional.UNCONFIRMED_AT
    ctx.record("deadline", "R6", "备案时限", **result)
    return result


NOTICE_TITLES = {
    "filing_reminder": "备案到期提醒",
    "filing_escalation": "备案逾期督办",
    "rights_reminder": "投诉答复到期提醒",
    "rights_escalation": "投诉答复逾期督办",
}


@operator
def notify(ctx: OperationContext, data: dict, params: dict) -> dict:
    kind = params.get("kind")
    rule_id = "R6" if kind in ("filing_reminder", "filing_escalation") else None
    complaint = kind in ("rights_reminder", "rights_escalation")
    due = ctx.case.promised_on if complaint else ctx.case.filing_due_on
    if complaint and _already_sent(ctx, kind):
        # a transfer re-enters the answer step with the same due date and re-arms its timers: say it only once
        return {"kind": kind, "repeated": True}
    ctx.record("notification", rule_id, NOTICE_TITLES.get(kind or "", kind), kind=kind, due=_iso(due))
    if complaint:
        # the handling office's window; an escalation also reaches the administrators (督办)
        ctx.notifications.append({"to": "rights_office", "scope": ctx.case.unit_code, "kind": kind})
        if kind == "rights_escalation":
            ctx.notifications.append({"to": "admin", "kind": kind})
    else:
        ctx.notifications.append({"to": "hrss", "kind": kind})
    return {"kind": kind}


def _already_sent(ctx: OperationContext, kind: str | None) -> bool:
    pending = any(e.action == "notification" and e.payload.get("kind") == kind for e in ctx.events)
    sent = ctx.session.scalars(
        select(CaseEvent.payload).where(CaseEvent.case_id == ctx.case.id, CaseEvent.action == "notification")
    )
    return pending or any((p or {}).get("kind") == kind for p in sent)


# ---- the 科研人员权益保障 window (seed 000 §三(三)) --------------------------------------------------------------
@operator
def route_complaint(ctx: OperationContext, data: dict, params: dict) -> dict:
    """Send the complaint to the topic's office, or (a transfer) to the office the desk named: the case's unit is
    the handling office, so its tasks, inbox and scope follow."""
    case = ctx.case
    to = params.get("to")
    if to:
        unit = ctx.session.get(Unit, str(to))
        if unit is None:
            raise EngineFailure(f"接收部门不存在：{to}")
        previous = case.unit_code
        case.unit_code = unit.code
        result = {"office": unit.code, "office_name": unit.name, "transfer": True, "from": previous}
        ctx.record("complaint_routed", "R11", "转办", reason=str(params.get("reason") or ""), **result)
        return result
    topic = ctx.session.scalar(select(RightsTopic).where(RightsTopic.code == data.get("topic")))
    office = topic.office_code if topic is not None else case.unit_code
    unit = ctx.session.get(Unit, office)
    case.unit_code = office
    result = {
        "office": office,
        "office_name": unit.name if unit else office,
        "topic_name": topic.name if topic else str(data.get("topic")),
        "transfer": False,
    }
    ctx.record("complaint_routed", "R11", "分送办理部门", **result)
    return result


@operator
def accept_complaint(ctx: OperationContext, data: dict, params: dict) -> dict:
    """受理: the answer is due N working days after the first acceptance (a transfer does not restart the clock)."""
    case, cal, today = ctx.case, ctx.calendar, ctx.today
    days = int(ctx.params["rights_answer_days"])
    if case.accepted_on is None or case.promised_on is None:
        case.accepted_on = today
        case.promised_on = cal.add_working_days(today, days)
    due = case.promised_on
    remind_on = cal.add_working_days(case.accepted_on, max(days - int(ctx.params["rights_remind_working_days"]), 1))
    # the reminder fires at the start of its day; the escalation once the due day is over. A provisional due date
    # (next year's table not out) is used as is: a late answer is pressure on the office, never adverse to anyone.
    result = {
        "accepted_on": case.accepted_on.isoformat(),
        "due": due.isoformat(),
        "remind_at": end_of_day_utc(remind_on - timedelta(days=1)).isoformat(),
        "due_at": end_of_day_utc(due).isoformat(),
        "provisional": cal.is_provisional(case.accepted_on, due),
    }
    ctx.record("accepted", "R11", "受理", **result)
    return result


@operator
def answer_complaint(ctx: OperationContext, data: dict, params: dict) -> dict:
    """答复: on time or late against the due date; the complainant is told and has M working days to rate it."""
    case, cal, today = ctx.case, ctx.calendar, ctx.today
    due = case.promised_on or today
    accepted = case.accepted_on or today
    working_days = cal.working_days_between(accepted, today)
    rating_due = cal.add_working_days(today, int(ctx.params["rights_rating_days"]))
    result = {
        "answered_on": today.isoformat(),
        "due": due.isoformat(),
        "late": today > due,
        "working_days": working_days,
        "rating_due": rating_due.isoformat(),
        "rating_due_at": end_of_day_utc(rating_due).isoformat(),
    }
    ctx.record("complaint_answered", "R11", "答复", answer=str(data.get("handling_answer") or ""), **result)
    ctx.notifications.append({"to": "applicant", "kind": "rights_answered"})
    return result


@operator
def record_rating(ctx: OperationContext, data: dict, params: dict) -> dict:
    """评价: the complainant's stars (好差评) and reason, counted with the other ratings."""
    stars = int(data.get("rating_stars") or 0)
    if not 1 <= stars <= 5:
        raise EngineFailure("评价须为 1–5 星")
    reason = str(data.get("rating_reason") or "") or None
    if ctx.session.scalar(select(Rating.id).where(Rating.case_id == ctx.case.id)) is None:
        ctx.session.add(Rating(case_id=ctx.case.id, stars=stars, reason=reason, user_id=ctx.case.applicant_user_id))
    ctx.record("complaint_rated", None, "评价", stars=stars, reason=reason)
    return {"stars": stars}


@operator
def check_special_post(ctx: OperationContext, data: dict, params: dict) -> dict:
    """R8: only without a vacant post at the level (else refused); a term over the cap is returned to the unit for
    correction (退回修改: the case stays open) or, in "cap" mode, approved at the cap with the request on record."""
    term = int(data.get("term_months") or 0)
    cap = int(ctx.params["special_post_term_cap"])
    mode = ctx.params["special_post_term_mode"]
    result = {
        "eligible": True,
        "returned": False,
        "reason": "",
        "term_months": term,
        "requested_term_months": term,
        "cap": cap,
        "capped": False,
    }
    # R8: only without a vacant post at the level — the unit's own word, and the posts register (核定 − 实有)
    vacant = posts.vacancy_at(ctx.session, ctx.case.unit_code, str(data.get("post_level") or ""))
    result["register_vacancy"] = vacant
    if data.get("unit_has_vacancy_at_level"):
        result.update(eligible=False, reason="本单位有相应等级的空缺岗位，不得设置特设岗位")
    elif vacant is not None and vacant > 0:
        result.update(
            eligible=False,
            reason=f"岗位设置台账显示本单位{posts.normalize_level(data.get('post_level'))}有空缺岗位{vacant}个，"
            "应使用空缺岗位，不得设置特设岗位",
        )
    elif term <= 0:
        result.update(eligible=False, reason="聘期须为正整数个月")
    elif term > cap:
        if mode == "cap":
            result.update(term_months=cap, capped=True, reason=f"申请聘期{term}个月超过上限，按{cap}个月核定")
        else:
            result.update(
                eligible=False,
                returned=True,
                reason=f"特设岗位聘期一般不超过{cap}个月，申请聘期{term}个月超限，退回用人单位修改后重新提交",
            )
    ctx.record("decision", "R8", "特设岗位条件审查", **result)
    return result


@operator
def apply_revision(ctx: OperationContext, data: dict, params: dict) -> dict:
    """退回修改 answered: the unit's corrected fields become the application's (they are checked again next)."""
    proc = procedures.get(ctx.case.procedure)
    fields = [f for f in str(params.get("fields") or "").split(",") if f]
    changes = {f: data[f] for f in fields if f in proc.correctable and data.get(f) not in (None, "")}
    merged = {**ctx.case.start_data, **changes}
    validate(proc.start_schema, {k: v for k, v in merged.items() if k in proc.start_schema["properties"]}, "修改内容")
    ctx.case.start_data = merged
    note = str(data.get("revision_note") or "")
    ctx.record("resubmitted", None, "用人单位修改后重新提交", changes=changes, note=note)
    return {"changes": changes, "note": note}


def _date_or_none(value) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


@operator
def register_special_post(ctx: OperationContext, data: dict, params: dict) -> dict:
    """R8: the term starts on the requested start date, or on the approval day when the approval comes later (then
    recorded as such); a term of N months ends the day before the same-numbered day N months later, and its 核销 is
    scheduled for that day."""
    check = data.get("post_check") or {}
    requested_term = int(check.get("requested_term_months") or data["term_months"])
    term = int(check.get("term_months") or data["term_months"])
    approved_on = ctx.today
    requested_start = _date_or_none(data.get("requested_start_on"))
    if requested_start is not None and requested_start >= approved_on:
        start, basis, note = requested_start, "requested", "自申请的起始日期起聘"
    elif requested_start is not None:
        start, basis = approved_on, "approval"
        note = f"核准日期晚于申请的起始日期（{cn_date(requested_start)}），自核准之日起聘"
    else:
        start, basis, note = approved_on, "approval", "申请未载明起始日期，自核准之日起聘"
    term_end = ctx.calendar.term_end(start, term)
    post = SpecialPost(
        case_id=ctx.case.id,
        unit_code=ctx.case.unit_code,
        post_name=data.get("post_name", ""),
        post_level=data.get("post_level", ""),
        holder_name=data.get("holder_name", ""),
        holder_id_number=data.get("holder_id_number", ""),
        term_months=term,
        requested_term_months=requested_term,
        requested_start_on=requested_start,
        start_on=start,
        start_basis=basis,
        term_end=term_end,
    )
    ctx.session.add(post)
    ctx.session.flush()
    result = {
        "post_id": post.id,
        "approved_on": approved_on.isoformat(),
        "requested_start_on": _iso(requested_start),
        "start_on": start.isoformat(),
        "start_basis": basis,
        "start_note": note,
        "requested_term_months": requested_term,
        "term_months": term,
        "term_end": term_end.isoformat(),
        # 核销 on the term's last day (the timer fires as that day begins)
        "writeoff_on": term_end.isoformat(),
        "term_end_at": end_of_day_utc(term_end - timedelta(days=1)).isoformat(),
    }
    ctx.record("special_post", "R8", "特设岗位登记", **result)
    issue_for_step(ctx, "register_special_post", data, params, result)
    return result


@operator
def writeoff_special_post(ctx: OperationContext, data: dict, params: dict) -> dict:
    """R8 核销 with its reason (任务完成, 辞聘, 解聘, 期满 are distinct); a holder who stays (任务完成, 期满) moves to a
    regular post of the level when the unit has one vacant, else the move is left pending."""
    post = ctx.session.scalar(select(SpecialPost).where(SpecialPost.case_id == ctx.case.id))
    if post is None:
        raise EngineFailure("未找到该办件登记的特设岗位")
    code = str(params.get("reason") or "")
    label = WRITEOFF_REASONS.get(code, code)
    on = post.term_end if code == "term_end" else ctx.today
    post.status, post.written_off_on, post.writeoff_reason, post.writeoff_reason_code = "written_off", on, label, code
    if code in WRITEOFF_HOLDER_STAYS:
        # the posts register decides (not the unit's word): a vacancy at the level is filled by the move, in this
        # transaction; without one the move waits until the unit records it once a vacancy opens
        filled = posts.fill_vacancy(ctx.session, post.unit_code, post.post_level, ctx.case.case_no, ctx.actor.username)
        post.regular_post_status = "moved" if filled else "pending"
        post.regular_post_on = on if filled else None
        post.regular_post_note = (
            f"岗位设置台账中本单位有{post.post_level}空缺岗位，转聘至正常岗位"
            if filled
            else f"岗位设置台账中本单位暂无{post.post_level}空缺岗位，待出现相应等级空缺岗位后转聘"
        )
    else:
        post.regular_post_status, post.regular_post_note = "not_applicable", "聘用人员已离开本单位，不转聘"
    result = {
        "written_off_on": on.isoformat(),
        "reason": label,
        "reason_code": code,
        "regular_post": post.regular_post_status,
        "regular_post_on": _iso(post.regular_post_on),
        "regular_post_note": post.regular_post_note,
    }
    ctx.record("special_post", "R8", "特设岗位核销", **result)
    issue_for_step(ctx, "writeoff_special_post", data, params, result)
    return result


@operator
def tally_votes(ctx: OperationContext, data: dict, params: dict) -> dict:
    """R9: a quorate committee passes with at least the threshold (default two thirds) of the experts present."""
    errors = votes.count_errors(data, ctx.params["vote_quorum"])
    if errors or int(data.get("experts_present") or 0) <= 0:
        raise EngineFailure("表决票数无效：" + ("；".join(errors.values()) or "实到专家人数须大于0"))
    result = votes.tally(data, ctx.params["vote_quorum"], ctx.params["vote_threshold"])
    ctx.record("decision", "R9", "评审表决", **result)
    return result


@operator
def issue_documents(ctx: OperationContext, data: dict, params: dict) -> dict:
    """Issue what the procedure names for this step (事项配置: `issue_documents:<step>`, e.g. the 核准通知书 once the
    approving desk has decided) — a flow drawn in the modeler places it where the paper is due."""
    step = params.get("step")
    if not isinstance(step, str) or not step:
        raise EngineFailure(f"issue_documents 的 step 参数无效：{step!r}")
    docs = issue_for_step(ctx, "issue_documents", data, {"step": step})
    return {"step": step, "documents": [d.doc_no or d.kind for d in docs]}


@operator
def close_case(ctx: OperationContext, data: dict, params: dict) -> dict:
    """End the case with one of the outcomes of workflows/domain/outcomes.py and issue its paper."""
    outcome = params.get("outcome")
    if outcome not in outcomes.CLOSING:
        raise EngineFailure(f"close_case 的 outcome 参数无效：{outcome!r}")
    case = ctx.case
    rule_id = params.get("rule") or None
    outcome = closing_outcome(outcome, rule_id, lambda: _accepted(ctx))
    case.status = outcome
    case.outcome_rule = rule_id
    case.outcome_reason = str(params.get("reason") or "") or None
    from workflows.domain.clock import now_utc

    case.closed_at = now_utc()
    settled = quota.settle_case(ctx.session, case, consume=(outcome == "completed"))
    desk = next((e for e in reversed(ctx.events) if e.action == "task_completed"), None)
    role = (desk.payload or {}).get("role") if desk is not None else None
    label = procedures.get(case.procedure).refusal(rule_id, role) if outcome == "refused" else outcomes.label(outcome)
    ctx.record("closed", case.outcome_rule, label, outcome=outcome, reason=case.outcome_reason, quota=settled)
    hire_type = (case.start_data or {}).get("hire_type")
    if outcome == "completed" and hire_type:
        # R5: 列编 makes the person 编制内; the original hire date stays as it was
        ctx.record(
            "hire_type",
            "R5" if hire_type == procedures.HIRE_OUTSIDE else None,
            "列编注册：聘用类型转为编制内",
            before=procedures.HIRE_TYPES.get(hire_type, hire_type),
            after=procedures.HIRE_TYPES[procedures.HIRE_ESTABLISHED],
            original_hire_date=case.start_data.get("original_hire_date"),
        )
    ctx.notifications.append({"to": "applicant", "kind": f"case_{outcome}"})
    issue_for_step(ctx, "close_case", data, {**params, "outcome": outcome})
    return {"outcome": outcome}


def closing_outcome(outcome: str, rule_id: str | None, accepted: Callable[[], bool]) -> str:
    """Definitions deployed before the outcome vocabulary close every refusal as `refused`: one before acceptance is
    不予受理, an upheld 公示 objection (R7) ends the case (终止办理) rather than refusing it."""
    if outcome == "refused" and rule_id == "R7":
        return "terminated"
    if outcome == "refused" and not accepted():
        return "not_accepted"
    return outcome


def _accepted(ctx: OperationContext) -> bool:
    """Whether the case was accepted (受理): the acceptance step ran, or (procedures without one) an officer's desk
    was reached — the rule of services.queries.acceptance_date."""
    if ctx.case.accepted_on is not None:
        return True
    pending = [(e.action, e.payload) for e in ctx.events]
    stored = ctx.session.execute(
        select(CaseEvent.action, CaseEvent.payload).where(
            CaseEvent.case_id == ctx.case.id, CaseEvent.action.in_(("accepted", "task_opened"))
        )
    ).all()
    return any(
        action == "accepted" or (action == "task_opened" and (payload or {}).get("role") not in (None, "applicant"))
        for action, payload in [*stored, *pending]
    )


def bind(ctx: OperationContext) -> dict[str, Callable[[dict, dict], dict]]:
    """The operator table for one run, each operator closed over the run's context."""

    def bound(fn: Callable[..., dict]) -> Callable[[dict, dict], dict]:
        return lambda data, params: fn(ctx, data, params)

    return {name: bound(fn) for name, fn in OPERATORS.items()}
