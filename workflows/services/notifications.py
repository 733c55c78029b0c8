"""In-app notifications: addressed to a user, or to a role within a unit scope (every officer of that desk)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import and_, exists, func, or_, select, true
from sqlalchemy.orm import Session

from workflows.domain.actors import REGION_ROLES, Actor
from workflows.domain.models import Case, Material, Notification, NotificationRead, User

TEXTS = {
    "assigned": "新的待办：{case_no}「{title}」",
    "applicant_task": "您的申请 {case_no} 需要您本人办理「{title}」，请登录后在办件页面完成",
    "returned": "您的申请 {case_no} 被退回补正：{reason}",
    "resubmitted": "{case_no} 已补正并重新提交，请继续办理「{title}」",  # by the applicant or the applying unit
    "case_completed": "您的申请 {case_no} 已办结",
    "case_not_accepted": "您的申请 {case_no} 不予受理：{reason}",
    "case_refused": "您的申请 {case_no} 未获批准：{reason}",
    "case_terminated": "您的申请 {case_no} 已终止办理：{reason}",
    "rongque_lapsed": "您的申请 {case_no} 容缺材料逾期未补齐",
    "owed_due_soon": "您的申请 {case_no} 尚欠材料，请于 {deadline} 前补齐",
    "filing_reminder": "{case_no} 备案将于 {deadline} 到期",
    "filing_escalation": "{case_no} 备案已逾期（期限 {deadline}），请尽快办理",
    "dates_recomputed": "国务院公布节假日安排后，您的申请 {case_no} 的期限已重新计算：{changes}",
    "dates_recomputed_desk": "国务院公布节假日安排后，{case_no} 的期限已重新计算：{changes}",
    "transferred": "{case_no}「{title}」已转交给您办理",
    "rights_reminder": "权益保障投诉 {case_no} 应于 {deadline} 前答复，请抓紧办理",
    "rights_escalation": "权益保障投诉 {case_no} 答复已逾期（期限 {deadline}），请立即答复（逾期督办）",
    "rights_answered": "您的投诉反馈 {case_no} 已答复，请查看答复并评价",
}


def text_for(kind: str, **fields) -> str:
    template = TEXTS.get(kind, kind)
    try:
        return template.format(**fields)[:500]
    except KeyError:
        return template[:500]


def notify_user(session: Session, user_id: int | None, case: Case | None, kind: str, **fields) -> None:
    if user_id is None:
        return
    if kind == "assigned" and case is not None and user_id == case.applicant_user_id:
        kind = "applicant_task"  # an applicant has no 待办 list: say what is asked of them, in their words
    session.add(
        Notification(
            user_id=user_id,
            case_id=case.id if case else None,
            kind=kind,
            text=text_for(kind, case_no=case.case_no if case else "", **fields),
        )
    )


def notify_role(
    session: Session, role: str, scope_unit_code: str | None, case: Case | None, kind: str, **fields
) -> None:
    session.add(
        Notification(
            role=role,
            scope_unit_code=scope_unit_code,
            case_id=case.id if case else None,
            kind=kind,
            text=text_for(kind, case_no=case.case_no if case else "", **fields),
        )
    )


def _addressed_to(actor: Actor):
    mine = Notification.user_id == actor.user_id
    if actor.role == "applicant" or actor.user_id is None:
        return mine
    scope = (
        or_(Notification.scope_unit_code.is_(None), Notification.scope_unit_code == actor.unit_code)
        if actor.role not in REGION_ROLES
        else true()
    )
    return or_(mine, and_(Notification.user_id.is_(None), Notification.role == actor.role, scope))


def _unread(actor: Actor):
    return ~exists().where(
        NotificationRead.notification_id == Notification.id, NotificationRead.user_id == actor.user_id
    )


def unread_count(session: Session, actor: Actor) -> int:
    return (
        session.scalar(select(func.count()).select_from(Notification).where(_addressed_to(actor), _unread(actor))) or 0
    )


def list_for(session: Session, actor: Actor, limit: int = 20, offset: int = 0) -> list[tuple[Notification, bool]]:
    rows = session.execute(
        select(Notification, _unread(actor).label("unread"))
        .where(_addressed_to(actor))
        .order_by(Notification.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [(n, bool(u)) for n, u in rows]


def case_numbers(session: Session, items: list[tuple[Notification, bool]]) -> dict[int, str]:
    """case id → 办件编号 for the notices of a page (each notice links to its case)."""
    ids = {n.case_id for n, _ in items if n.case_id is not None}
    if not ids:
        return {}
    return {cid: no for cid, no in session.execute(select(Case.id, Case.case_no).where(Case.id.in_(ids)))}


def mark_read(session: Session, actor: Actor, ids: list[int] | None = None) -> int:
    """Mark the given (or all) notices addressed to the actor as read; returns how many changed."""
    q = select(Notification.id).where(_addressed_to(actor), _unread(actor))
    if ids:
        q = q.where(Notification.id.in_(ids))
    todo = list(session.scalars(q))
    for nid in todo:
        session.add(NotificationRead(notification_id=nid, user_id=actor.user_id))
    return len(todo)


def mark_one_read(session: Session, actor: Actor, notification_id: int) -> Notification | None:
    """One notice addressed to the actor marked read (again: no change); None when it is not theirs to read."""
    n = session.scalar(select(Notification).where(Notification.id == notification_id, _addressed_to(actor)))
    if n is not None:
        mark_read(session, actor, [n.id])
    return n


def remind_owed_items(session: Session, today: date, calendar, working_days: int = 5) -> int:
    """R3: once per case and deadline, tell the applicant (or the unit's HR desk when the applicant has no account)
    that 容缺 items are still owed and by which date, when the deadline is at most `working_days` away."""
    horizon = today
    for _ in range(working_days):
        horizon = calendar.next_working_day(horizon + timedelta(days=1))
    rows = session.execute(
        select(Case, func.min(Material.deadline))
        .join(Material, Material.case_id == Case.id)
        .where(
            Material.status == "owed",
            Material.deadline.is_not(None),
            Material.deadline <= horizon,
            Material.deadline >= today,
            Case.status.in_(("running", "on_hold", "returned")),
        )
        .group_by(Case.id)
    ).all()
    sent = 0
    for case, deadline in rows:
        already = session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.case_id == case.id,
                Notification.kind == "owed_due_soon",
                Notification.text.contains(deadline.isoformat()),
            )
        )
        if already:
            continue
        fields = {"deadline": deadline.isoformat()}
        if case.applicant_user_id:
            notify_user(session, case.applicant_user_id, case, "owed_due_soon", **fields)
        else:
            notify_role(session, "unit_hr", case.unit_code, case, "owed_due_soon", **fields)
        sent += 1
    return sent


def recipients(session: Session, n: Notification) -> list[str]:
    """E-mail addresses a notice goes to: its user, or every active officer of its desk with an address."""
    if n.user_id is not None:
        email = session.scalar(select(User.email).where(User.id == n.user_id, User.active.is_(True)))
        return [email] if email else []
    q = select(User.email).where(User.role == n.role, User.active.is_(True), User.email.is_not(None))
    if n.scope_unit_code is not None and n.role not in REGION_ROLES:
        q = q.where(User.unit_code == n.scope_unit_code)
    return [e for e in session.scalars(q) if e]
