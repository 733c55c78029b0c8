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

from workflows.domain import outcomes, procedures
from workflows.domain.actors import Actor
from workflows.domain.clock import today_local
from workflows.domain.errors import EngineFailure
from workflows.domain.legal_time import LegalCalendar, end_of_day_utc
from workflows.domain.models import BreachRecord, Case, CaseEvent, CreditRecord, SpecialPost
from workflows.domain.procedures import WRITEOFF_REASONS, material_name
from workflows.services import quota
from workflows.services.archive import issue_for_step
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
    today = ctx.today
    reason = ""
    for rec in ctx.session.scalars(select(CreditRecord).where(CreditRecord.id_number == id_number)):
        if rec.kind == "misconduct" and (rec.until is None or rec.until >= today):
            reason = f"当事人列入科研失信名单（{rec.listed_on:%Y年%m月%d日}列入{('，至' + rec.until.strftime('%Y年%m月%d日')) if rec.until else ''}）"
        elif rec.kind == "title_revoked" and rec.listed_on > _years_before(today, 3):
            reason = f"当事人三年内因弄虚作假被撤销职称（{rec.listed_on:%Y年%m月%d日}）"
        if reason:
            break
    result = {"blocked": bool(reason), "reason": reason or "未发现失信记录"}
    ctx.record("decision", "R10", "失信核查", **result)
    return result


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


@operator
def check_dossier(ctx: OperationContext, data: dict, params: dict) -> dict:
    """R2/R3: complete → 即收即办; only non-key items missing → 容缺 (unless a 违诺 record bars it); else incomplete."""
    missing = [m for m in ctx.case.materials if m.status in ("missing", "owed")]
    missing_key = [m.code for m in missing if m.is_key]
    owed = [m.code for m in missing if not m.is_key]
    barred = (
        ctx.session.scalar(select(BreachRecord.id).where(BreachRecord.id_number == ctx.case.id_number).limit(1))
        is not None
    )
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
    case.promised_on = cal.add_working_days(today, int(ctx.params["promise_working_days"]))
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
    deadline = min(cal.add_working_days(today, int(ctx.params["rongque_days"])), case.promised_on)
    case.rongque_deadline = deadline
    for m in case.materials:
        if m.status == "missing" and not m.is_key:
            m.status, m.deadline = "owed", deadline
    result["rongque_deadline"] = deadline.isoformat()
    result["rongque_deadline_at"] = end_of_day_utc(deadline).isoformat()
    ctx.record("accepted", "R3", "容缺受理", owed=[m.code for m in case.materials if m.status == "owed"], **result)
    issue_for_step(ctx, "accept_case", data, params, result)
    return result


@operator
def record_breach(ctx: OperationContext, data: dict, params: dict) -> dict:
    """R3: the commitment lapsed — a 违诺 record bars this person from 容缺受理 from now on."""
    owed = [m.code for m in ctx.case.materials if m.status == "owed"]
    ctx.session.add(
        BreachRecord(
            id_number=ctx.case.id_number,
            case_id=ctx.case.id,
            note="容缺材料逾期未补齐：" + "、".join(material_name(ctx.case.procedure, c) for c in owed),
        )
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
    cal = ctx.calendar
    start = cal.next_working_day(ctx.today)
    end = cal.publicity_end(start, int(ctx.params["publicity_days"]))
    result = {
        "kind": params.get("kind", "unit"),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "end_at": end_of_day_utc(end).isoformat(),
    }
    ctx.record("publicity", "R7", "公示", **result)
    issue_for_step(ctx, "start_publicity", data, params, result)
    return result


@operator
def compute_filing_due(ctx: OperationContext, data: dict, params: dict) -> dict:
    """R6: one month from the day the application became complete, rolled to a working day, extended by holds."""
    case, cal = ctx.case, ctx.calendar
    complete_on = case.complete_on or case.accepted_on or ctx.today
    due = cal.deadline_after_months(complete_on, 1)
    if case.hold_days:
        due = cal.extend_for_hold(due, case.hold_days)
    remind_on = due
    for _ in range(int(ctx.params["filing_remind_working_days"])):
        remind_on = _previous_working_day(cal, remind_on)
    case.filing_due_on = due
    result = {
        "complete_on": complete_on.isoformat(),
        "due": due.isoformat(),
        "hold_days": case.hold_days,
        "due_at": end_of_day_utc(due).isoformat(),
        "remind_at": end_of_day_utc(remind_on - timedelta(days=1)).isoformat(),
    }
    ctx.record("deadline", "R6", "备案时限", **result)
    return result


def _previous_working_day(cal: LegalCalendar, d: date) -> date:
    d -= timedelta(days=1)
    while not cal.is_working_day(d):
        d -= timedelta(days=1)
    return d


@operator
def notify(ctx: OperationContext, data: dict, params: dict) -> dict:
    kind = params.get("kind")
    rule_id = "R6" if kind in ("filing_reminder", "filing_escalation") else None
    ctx.record(
        "notification",
        rule_id,
        {"filing_reminder": "备案到期提醒", "filing_escalation": "备案逾期督办"}.get(kind or "", kind),
        kind=kind,
        due=_iso(ctx.case.filing_due_on),
    )
    ctx.notifications.append({"to": "hrss", "kind": kind})
    return {"kind": kind}


@operator
def check_special_post(ctx: OperationContext, data: dict, params: dict) -> dict:
    """R8: only without a vacant post at the level; term ≤ cap (refused, or capped when so configured)."""
    term = int(data.get("term_months") or 0)
    cap = int(ctx.params["special_post_term_cap"])
    mode = ctx.params["special_post_term_mode"]
    result = {"eligible": True, "reason": "", "term_months": term, "capped": False}
    if data.get("unit_has_vacancy_at_level"):
        result.update(eligible=False, reason="本单位有相应等级的空缺岗位，不得设置特设岗位")
    elif term <= 0:
        result.update(eligible=False, reason="聘期须为正整数个月")
    elif term > cap:
        if mode == "cap":
            result.update(term_months=cap, capped=True, reason=f"申请聘期{term}个月超过上限，按{cap}个月核定")
        else:
            result.update(eligible=False, reason=f"特设岗位聘期一般不超过{cap}个月，申请聘期{term}个月超限，予以退回")
    ctx.record("decision", "R8", "特设岗位条件审查", **result)
    return result


@operator
def register_special_post(ctx: OperationContext, data: dict, params: dict) -> dict:
    term = int((data.get("post_check") or {}).get("term_months") or data["term_months"])
    start = ctx.today
    term_end = ctx.calendar.add_months(start, term)
    post = SpecialPost(
        case_id=ctx.case.id,
        unit_code=ctx.case.unit_code,
        post_name=data.get("post_name", ""),
        post_level=data.get("post_level", ""),
        holder_name=data.get("holder_name", ""),
        holder_id_number=data.get("holder_id_number", ""),
        term_months=term,
        start_on=start,
        term_end=term_end,
    )
    ctx.session.add(post)
    ctx.session.flush()
    result = {
        "post_id": post.id,
        "start_on": start.isoformat(),
        "term_end": term_end.isoformat(),
        "term_end_at": end_of_day_utc(term_end).isoformat(),
    }
    ctx.record("special_post", "R8", "特设岗位登记", **result)
    issue_for_step(ctx, "register_special_post", data, params, result)
    return result


@operator
def writeoff_special_post(ctx: OperationContext, data: dict, params: dict) -> dict:
    post = ctx.session.scalar(select(SpecialPost).where(SpecialPost.case_id == ctx.case.id))
    if post is None:
        raise EngineFailure("未找到该办件登记的特设岗位")
    reason = str(params.get("reason") or "")
    label = WRITEOFF_REASONS.get(reason, reason)
    post.status, post.written_off_on, post.writeoff_reason = "written_off", ctx.today, label
    ctx.record("special_post", "R8", "特设岗位核销", reason=label, written_off_on=ctx.today.isoformat())
    issue_for_step(ctx, "writeoff_special_post", data, params)
    return {"written_off_on": ctx.today.isoformat(), "reason": label}


@operator
def tally_votes(ctx: OperationContext, data: dict, params: dict) -> dict:
    """R9: the committee passes with at least two thirds of the experts present."""
    present, votes = int(data.get("experts_present") or 0), int(data.get("votes_for") or 0)
    if present <= 0 or votes < 0 or votes > present:
        raise EngineFailure("表决票数无效：赞成票须在0与出席专家人数之间")
    passed = votes * 3 >= present * 2
    result = {"passed": passed, "ratio": f"{votes}/{present}", "experts_present": present, "votes_for": votes}
    ctx.record("decision", "R9", "评审表决", **result)
    return result


@operator
def close_case(ctx: OperationContext, data: dict, params: dict) -> dict:
    """End the case with one of the outcomes of workflows/domain/outcomes.py and issue its paper."""
    outcome = params.get("outcome")
    if outcome not in outcomes.CLOSING:
        raise EngineFailure(f"close_case 的 outcome 参数无效：{outcome!r}")
    case = ctx.case
    rule_id = params.get("rule") or None
    # Definitions deployed before the outcome vocabulary close every refusal as `refused`: one before acceptance is
    # 不予受理, an upheld 公示 objection (R7) ends the case (终止办理) rather than refusing it.
    if outcome == "refused" and rule_id == "R7":
        outcome = "terminated"
    elif outcome == "refused" and not _accepted(ctx):
        outcome = "not_accepted"
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
    ctx.notifications.append({"to": "applicant", "kind": f"case_{outcome}"})
    issue_for_step(ctx, "close_case", data, {**params, "outcome": outcome})
    return {"outcome": outcome}


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
