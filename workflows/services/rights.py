"""The 科研人员权益保障 window (seed 000 §三(三)): complaint topics routed to offices, filing a complaint (anonymous to the
handling office if the complainant chooses), the office transfer check, and the complaints' figures for the quarterly
dispatch report (季度调度通报).

A complaint is a case of the `kind="complaint"` procedure, so the inbox, timers, audit trail and status page work
unchanged. Its case carries the handling office as its unit (a transfer moves it) and, when anonymous, no name and no
ID number; what identifies the complainant (account, contact, own unit) stays in `complaint`, which only the
complainant and administrators read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.domain import procedures
from workflows.domain.actors import Actor
from workflows.domain.clock import LOCAL_TZ
from workflows.domain.errors import Forbidden, ValidationFailed
from workflows.domain.models import AdminEvent, Case, CaseEvent, Complaint, Rating, RightsTopic, Unit, User
from workflows.infra.db import transaction
from workflows.services import cases
from workflows.services.audit import record_admin_event

PROCEDURE = procedures.RIGHTS_COMPLAINT
OFFICE_KINDS = ("office", "dept")  # units that can run a window (a transfer goes to one of them)
TYPE_LABELS = {"complaint": "投诉", "feedback": "意见反馈"}


# ---- topics (administrators) ----------------------------------------------------------------------------------
def list_topics(session: Session, active_only: bool = False) -> list[RightsTopic]:
    q = select(RightsTopic).order_by(RightsTopic.position, RightsTopic.id)
    if active_only:
        q = q.where(RightsTopic.active.is_(True))
    return list(session.scalars(q))


def offices(session: Session) -> list[Unit]:
    """The offices a topic can route to and a complaint can be transferred to."""
    return list(session.scalars(select(Unit).where(Unit.kind.in_(OFFICE_KINDS)).order_by(Unit.code)))


def _office(session: Session, code: str) -> Unit:
    unit = session.get(Unit, (code or "").strip())
    if unit is None or unit.kind not in OFFICE_KINDS:
        raise ValidationFailed(
            f"办理部门「{code}」不存在或不是厅局/办公室", details={"fields": {"office_code": "请选择办理部门"}}
        )
    return unit


def save_topic(
    session: Session,
    by: str,
    code: str,
    name: str,
    office_code: str,
    active: bool = True,
    position: int | None = None,
) -> RightsTopic:
    """Create or change a topic (by its code); every change is an event of the administrators' trail (`admin_event`)."""
    code, name = (code or "").strip(), (name or "").strip()
    errors = {}
    if not code or len(code) > 32 or not code.replace("_", "").isalnum() or not code.isascii():
        errors["code"] = "代码须为 1–32 位字母、数字或下划线"
    if not name or len(name) > 100:
        errors["name"] = "请填写类别名称（不超过100字）"
    if errors:
        raise ValidationFailed("；".join(errors.values()), details={"fields": errors})
    with transaction(session):
        office = _office(session, office_code)
        topic = session.scalar(select(RightsTopic).where(RightsTopic.code == code))
        before = None
        if topic is None:
            if position is None:
                position = (session.scalar(select(func.max(RightsTopic.position))) or 0) + 10
            topic = RightsTopic(code=code, name=name, office_code=office.code, active=active, position=position)
            session.add(topic)
            action = "create"
        else:
            before = {"name": topic.name, "office_code": topic.office_code, "active": topic.active}
            topic.name, topic.office_code, topic.active = name, office.code, active
            if position is not None:
                topic.position = position
            action = "update"
        session.flush()
        after = {"name": name, "office_code": office.code, "active": active}
        if before != after:
            record_admin_event(
                session, by, f"rights_topic_{action}", f"rights_topic:{topic.id}", before=before, **after
            )
    return topic


def topic_history(session: Session, limit: int = 50) -> list[AdminEvent]:
    """The topics' changes, newest first."""
    return list(
        session.scalars(
            select(AdminEvent)
            .where(AdminEvent.target.like("rights_topic:%"))
            .order_by(AdminEvent.seq.desc())
            .limit(limit)
        )
    )


# ---- filing -----------------------------------------------------------------------------------------------------
def file_complaint(
    session: Session,
    actor: Actor,
    topic_code: str,
    subject: str,
    content: str,
    anonymous: bool,
    contact: str,
    complaint_type: str = "complaint",
) -> Case:
    """A signed-in researcher files a complaint or feedback; it is routed to the topic's office."""
    if actor.role != "applicant" or actor.user_id is None:
        raise Forbidden("只有登录的科研人员（申请人账号）可以提交投诉反馈")
    topic = session.scalar(select(RightsTopic).where(RightsTopic.code == topic_code, RightsTopic.active.is_(True)))
    if topic is None:
        raise ValidationFailed("请选择问题类别", details={"fields": {"topic": "请选择问题类别"}})
    contact = (contact or "").strip()
    if not contact:
        raise ValidationFailed("请填写联系方式（用于答复）", details={"fields": {"contact": "请填写联系方式"}})
    user = session.get(User, actor.user_id)
    name = procedures.ANONYMOUS_NAME if anonymous else (user.display_name if user else actor.username)
    data = {
        "applicant_name": name,
        "id_number": "" if anonymous else (actor.id_number or ""),
        "unit_code": topic.office_code,
        "topic": topic.code,
        "topic_name": topic.name,
        "subject": (subject or "").strip(),
        "content": (content or "").strip(),
        "complaint_type": complaint_type,
        "anonymous": bool(anonymous),
        # the office sees the contact only when the complainant is named; an anonymous one is answered in the system
        "contact": "" if anonymous else contact[:100],
        "materials": [],
    }
    case = cases.start_case(session, PROCEDURE.id, data, actor)
    with transaction(session):
        session.add(
            Complaint(
                case_id=case.id,
                topic_code=topic.code,
                anonymous=bool(anonymous),
                contact=contact[:100],
                complainant_unit_code=actor.unit_code,
            )
        )
    return case


def own_complaints(session: Session, actor: Actor) -> list[tuple[Case, Complaint]]:
    return list(
        session.execute(
            select(Case, Complaint)
            .join(Complaint, Complaint.case_id == Case.id)
            .where(Case.applicant_user_id == actor.user_id)
            .order_by(Case.id.desc())
        ).tuples()
    )


def complaint_of(session: Session, case: Case) -> Complaint | None:
    return session.get(Complaint, case.id)


def transfer_choices(session: Session) -> list[tuple[str, str]]:
    return [(u.code, u.name) for u in offices(session)]


# ---- the quarterly dispatch report (季度调度通报) ---------------------------------------------------------------
@dataclass
class QuarterFigures:
    year: int
    quarter: int
    start: date
    end: date
    filed: int
    by_topic: list[tuple[str, int, int]]  # (topic name, filed, answered)
    by_office: list[tuple[str, int, int, int]]  # (office name, handled, answered, answered late)
    by_status: list[tuple[str, int]]
    answer_days_p50: float | None
    answer_days_max: int | None
    on_time: int
    late: int
    transferred: int
    ratings: list[tuple[int, int]]  # (stars, count)


def quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    if quarter not in (1, 2, 3, 4):
        raise ValidationFailed("季度须为 1–4")
    start = date(year, 3 * quarter - 2, 1)
    end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return start, end


STATUS_LABELS = {
    "running": "办理中",
    "on_hold": "办理中",
    "returned": "办理中",
    "completed": "已办结",
    "refused": "不予受理",
    "terminated": "已终止",
    "withdrawn": "已撤回",
}


def quarter_figures(session: Session, year: int, quarter: int) -> QuarterFigures:
    """The complaints filed in the quarter (Asia/Shanghai dates): by topic, office, status, time to answer."""
    start, end = quarter_bounds(year, quarter)
    lo = datetime.combine(start, time.min, LOCAL_TZ)
    hi = datetime.combine(end, time.min, LOCAL_TZ)
    rows = session.execute(
        select(Case, Complaint)
        .join(Complaint, Complaint.case_id == Case.id)
        .where(Complaint.filed_at >= lo, Complaint.filed_at < hi)
    ).all()
    topics = {t.code: t.name for t in list_topics(session)}
    units = {u.code: u.name for u in session.scalars(select(Unit))}
    ids = [c.id for c, _ in rows]
    answers: dict[int, dict] = {}
    transfers: set[int] = set()
    if ids:
        for case_id, action, payload in session.execute(
            select(CaseEvent.case_id, CaseEvent.action, CaseEvent.payload).where(
                CaseEvent.case_id.in_(ids), CaseEvent.action.in_(("complaint_answered", "complaint_routed"))
            )
        ):
            if action == "complaint_answered":
                answers[case_id] = payload or {}
            elif (payload or {}).get("transfer"):
                transfers.add(case_id)
    by_topic: dict[str, list[int]] = {}
    by_office: dict[str, list[int]] = {}
    by_status: dict[str, int] = {}
    days: list[int] = []
    for case, complaint in rows:
        answered = case.id in answers
        t = by_topic.setdefault(topics.get(complaint.topic_code, complaint.topic_code), [0, 0])
        t[0] += 1
        t[1] += answered
        o = by_office.setdefault(units.get(case.unit_code, case.unit_code), [0, 0, 0])
        o[0] += 1
        if answered:
            o[1] += 1
            o[2] += bool(answers[case.id].get("late"))
            days.append(int(answers[case.id].get("working_days") or 0))
        label = STATUS_LABELS.get(case.status, case.status)
        by_status[label] = by_status.get(label, 0) + 1
    late = sum(1 for a in answers.values() if a.get("late"))
    ratings = {
        int(stars): int(n)
        for stars, n in session.execute(
            select(Rating.stars, func.count()).where(Rating.case_id.in_(ids or [-1])).group_by(Rating.stars)
        )
    }
    days.sort()
    return QuarterFigures(
        year=year,
        quarter=quarter,
        start=start,
        end=end,
        filed=len(rows),
        by_topic=sorted(((k, v[0], v[1]) for k, v in by_topic.items()), key=lambda r: -r[1]),
        by_office=sorted(((k, v[0], v[1], v[2]) for k, v in by_office.items()), key=lambda r: -r[1]),
        by_status=sorted(by_status.items(), key=lambda r: -r[1]),
        answer_days_p50=_median(days),
        answer_days_max=days[-1] if days else None,
        on_time=len(answers) - late,
        late=late,
        transferred=len(transfers),
        ratings=sorted(ratings.items()),
    )


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    n = len(values)
    return float(values[n // 2]) if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


DISPATCH_ISSUER = "内蒙古自治区科学技术厅"  # seed 000 三(三): 自治区科技厅按季度……进行调度，……进行通报
QUARTER_NAMES = {1: "第一季度", 2: "第二季度", 3: "第三季度", 4: "第四季度"}


def previous_quarter(today: date) -> tuple[int, int]:
    q = (today.month - 1) // 3 + 1
    return (today.year - 1, 4) if q == 1 else (today.year, q - 1)


def dispatch_report_data(
    session: Session, year: int, quarter: int, today: date, green_channel: list[dict] | None = None
) -> dict:
    """What the 季度调度通报 prints (documents.dispatch_report). `green_channel`: the quarter's green-channel sections
    (title, rows, svg) — the hook for the statistics service; without it the report covers the complaints only."""
    f = quarter_figures(session, year, quarter)
    period = f"{year}年{QUARTER_NAMES[quarter]}"
    return {
        "issuer": DISPATCH_ISSUER,
        "title": f"关于{period}科研人员权益保障投诉问题及解决情况的通报",
        "addressee": "自治区财政厅、教育厅、人力资源和社会保障厅，各有关单位",
        "period": period,
        "issue_date": today.isoformat(),
        "filed": f.filed,
        "by_topic": f.by_topic,
        "by_office": f.by_office,
        "by_status": f.by_status,
        "ratings": f.ratings,
        "on_time": f.on_time,
        "late": f.late,
        "transferred": f.transferred,
        "answer_days_p50": f.answer_days_p50,
        "answer_days_max": f.answer_days_max,
        "green_channel": green_channel,
    }
