"""Read models for the portals: what an actor may see (scope), the officer inbox, a case's timeline.

Scope is enforced here, in the query, so a page or API that lists or opens a case cannot show more than this allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Text, and_, bindparam, false, func, or_, select, true
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import True_

from workflows.domain import procedures
from workflows.domain.actors import REGION_ROLES, SYSTEM, Actor
from workflows.domain.clock import local_day, today_local
from workflows.domain.errors import NotFound
from workflows.domain.models import Case, CaseEvent, Document, OpenTask, SpecialPost, Unit
from workflows.services.paging import Page

PER_PAGE = 20
OWN_PROCEDURES = tuple(p.id for p in procedures.applicant_procedures())  # a person's own applications
FEW_MATCHES = 1000  # list_cases: up to this many matches, a page is sorted from all of them


COMPLAINTS = sorted(procedures.COMPLAINT_IDS)


def case_scope(actor: Actor):
    """SQL condition on `Case` for the cases an actor may see."""
    if actor.sees_everything:
        return true()
    if actor.role == "applicant":
        conds = []
        if actor.user_id is not None:
            conds.append(Case.applicant_user_id == actor.user_id)
        if actor.id_number:
            # matched by ID number only in procedures a person files for themself: a special post names its holder,
            # but the application is the unit's (the holder sees the decision about the post: `posts_held`)
            conds.append(and_(Case.id_number == actor.id_number, Case.procedure.in_(OWN_PROCEDURES)))
        return or_(*conds) if conds else false()
    if actor.role == "rights_office":
        # the 权益保障 window: the complaints its office handles now (a transfer hands them on), nothing else
        return and_(Case.procedure.in_(COMPLAINTS), Case.unit_code == actor.unit_code)
    # complaints are the window's alone: no other desk sees them (a complaint is often about the employer)
    not_complaint = Case.procedure.not_in(COMPLAINTS)
    if actor.role in REGION_ROLES:
        return not_complaint
    if actor.role == "unit_hr":
        return and_(Case.unit_code == actor.unit_code, not_complaint)
    if actor.role == "dept":
        # one semi-join (the department itself or a unit under it) rather than `= D OR IN (…)`: the planner then
        # reads the ~10 units' cases through the unit_code index instead of filtering every case
        own_or_subordinate = select(Unit.code).where(
            or_(Unit.code == actor.unit_code, Unit.parent_code == actor.unit_code)
        )
        return and_(Case.unit_code.in_(own_or_subordinate), not_complaint)
    return false()


def is_own_case(actor: Actor, case: Case) -> bool:
    """`case_scope` for one loaded case and an applicant: their own application (by account, or by ID number in a
    procedure a person files for themself)."""
    if actor.role != "applicant":
        return False
    if actor.user_id is not None and case.applicant_user_id == actor.user_id:
        return True
    return bool(actor.id_number) and actor.id_number == case.id_number and case.procedure in OWN_PROCEDURES


@dataclass
class HeldPost:
    """What the person a unit's application names (a special post's holder) may see: the post and its decision."""

    case_no: str
    procedure: str
    unit_code: str
    status: str
    post_name: str
    documents: list[Document]


def posts_held(session: Session, actor: Actor) -> list[HeldPost]:
    """Applications units filed about this applicant (matched by ID number): the post, the case's state and the
    issued documents of the kinds that decide about it (`Procedure.holder_documents`)."""
    if actor.role != "applicant" or not actor.id_number:
        return []
    about = [p.id for p in procedures.PROCEDURES.values() if not p.applicant_may_start and p.holder_documents]
    found = list(
        session.scalars(
            select(Case)
            .where(Case.id_number == actor.id_number, Case.procedure.in_(about))
            .order_by(Case.created_at.desc())
        )
    )
    kinds = {c.id: procedures.get(c.procedure).holder_documents for c in found}
    docs: dict[int, list[Document]] = {c.id: [] for c in found}
    if found:
        for d in session.scalars(
            select(Document).where(Document.case_id.in_(list(docs)), Document.status == "issued").order_by(Document.id)
        ):
            if d.case_id is not None and d.kind in kinds[d.case_id]:
                docs[d.case_id].append(d)
    return [
        HeldPost(
            c.case_no,
            c.procedure,
            c.unit_code,
            c.status,
            str((c.start_data or {}).get("post_name") or ""),
            docs[c.id],
        )
        for c in found
    ]


def task_scope(actor: Actor):
    """SQL condition on `OpenTask` for the tasks an actor may act on (their lane and unit scope)."""
    if actor.is_system:
        return true()
    if actor.role == "admin":
        return false()
    if actor.role == "applicant":
        return and_(OpenTask.role == "applicant", case_scope(actor))
    if actor.role in REGION_ROLES:
        return OpenTask.role == actor.role
    return and_(OpenTask.role == actor.role, OpenTask.scope_unit_code == actor.unit_code)


def get_case(session: Session, actor: Actor, case_no: str) -> Case:
    """A case the actor may see; anything else is 'not found' (no hint that it exists)."""
    case = session.scalar(select(Case).where(Case.case_no == case_no, case_scope(actor)))
    if case is None:
        raise NotFound("办件不存在或您无权查看")
    return case


def search_condition(q: str, session: Session | None = None):
    q = q.strip()
    like = f"%{q}%"
    units = select(Unit.code).where(Unit.name.like(like))
    if session is not None:
        # the matching units as a list of values: every arm of the OR is then indexable (a BitmapOr on PostgreSQL)
        # where `IN (subquery)` would make the planner filter every case
        return or_(
            Case.case_no == q,
            Case.id_number == q,
            name_condition(q, session),
            Case.unit_code == q,
            Case.unit_code.in_(list(session.scalars(units))),
        )
    return or_(
        Case.case_no == q,
        Case.id_number == q,
        name_condition(q, session),
        Case.unit_code == q,
        Case.unit_code.in_(units),
    )


def name_condition(q: str, session: Session | None = None):
    """`applicant_name LIKE '%q%'`, which the trigram index (migration 0002) serves on PostgreSQL for terms of 3+
    characters. A term of 1 or 2 characters (王, 张伟) has no trigram: on PostgreSQL the condition is then that the
    name has these characters, `string_to_array(applicant_name, NULL) @> ARRAY['张', '伟']`, which the GIN index
    ix_cases_applicant_name_chars (migration 0004) serves, and for 2 characters the LIKE as well (张明伟 has both).
    The same rows as the LIKE alone, which stays on SQLite and for a term holding a LIKE wildcard or the escape
    character (`_` and `%` match any character there)."""
    # the pattern goes into the SQL text (escaped by SQLAlchemy): a prepared statement's generic plan cannot know
    # whether it is long enough for the trigram index, and with a 2-character name it scanned that index for 300 ms
    like = Case.applicant_name.like(bindparam("name_like", f"%{q}%", literal_execute=True))
    if (
        not 1 <= len(q) <= 2
        or any(c in q for c in "%_\\")
        or session is None
        or session.get_bind().dialect.name != "postgresql"
    ):
        return like
    chars: Any = postgresql.array([bindparam(f"name_char{i}", c, literal_execute=True) for i, c in enumerate(q)])
    has_chars = func.string_to_array(Case.applicant_name, None, type_=postgresql.ARRAY(Text)).contains(chars)
    return has_chars if len(q) == 1 else and_(has_chars, like)


TABS = ("mine", "group", "overdue", "all")


def inbox(
    session: Session,
    actor: Actor,
    tab: str = "group",
    q: str = "",
    procedure: str | None = None,
    status: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> tuple[Page, dict[str, int]]:
    """Open tasks for an officer. Tabs: mine (claimed by me), group (my desk), overdue, all (every open task of
    the cases in my scope, any desk). Returns the page of (OpenTask, Case) rows and the count of each tab."""
    base = select(OpenTask, Case).join(Case, OpenTask.case_id == Case.id).where(case_scope(actor))
    if q:
        base = base.where(search_condition(q, session))
    if procedure:
        base = base.where(Case.procedure == procedure)
    if status:
        base = base.where(Case.status == status)
    today = today_local()
    tab_cond = {
        "mine": and_(task_scope(actor), OpenTask.assignee_id == actor.user_id),
        "group": task_scope(actor),
        "overdue": and_(task_scope(actor), OpenTask.due_on.is_not(None), OpenTask.due_on < today),
        "all": true(),
    }
    # the four counts in one pass over the tasks in scope (count … FILTER (WHERE …)); when nothing restricts the
    # case (region-wide desk, no filter) the join cannot change a count: every open task has its case (FK, NOT NULL)
    scope = case_scope(actor)
    counted: Any
    if q or procedure or status:
        counted = base
    elif isinstance(scope, True_):
        counted = select(OpenTask)
    elif actor.role in REGION_ROLES:  # region-wide but for the window's complaints (a few rows to leave out)
        counted = select(OpenTask).where(OpenTask.case_id.not_in(select(Case.id).where(Case.procedure.in_(COMPLAINTS))))
    else:
        counted = base
    tally = counted.with_only_columns(*[func.count().filter(c).label(t) for t, c in tab_cond.items()])
    counts = {t: n or 0 for t, n in session.execute(tally).one()._mapping.items()}
    # NULLS LAST (no due date at the end) in a form a (…, due_on, id) index can deliver in order
    stmt = (
        base.where(tab_cond.get(tab, tab_cond["group"]))
        .order_by(OpenTask.due_on.asc().nulls_last(), OpenTask.id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    )
    return Page(list(session.execute(stmt).all()), counts.get(tab, 0), max(page, 1), per_page), counts


def list_cases(
    session: Session,
    actor: Actor,
    q: str = "",
    procedure: str | None = None,
    status: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page:
    stmt = select(Case).where(case_scope(actor))
    if q:
        stmt = stmt.where(search_condition(q, session))
    if procedure:
        stmt = stmt.where(Case.procedure == procedure)
    if status:
        stmt = stmt.where(Case.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    # Newest first. Few matches (the count says so): fetch them all and sort them (`id + 0`: the same order, but not
    # the primary key's), rather than walk the primary key backwards until a page is full. The planner takes that
    # walk when it overestimates the matches in the scope (a 主管部门 searching 包: the units named 包头… are not
    # under it), and then read 60,000 cases (45-70 ms) to find 32.
    newest = (Case.id + 0).desc() if total <= FEW_MATCHES else Case.id.desc()
    items = list(session.scalars(stmt.order_by(newest).limit(per_page).offset((max(page, 1) - 1) * per_page)))
    return Page(items, total, max(page, 1), per_page)


def timeline(session: Session, case: Case) -> list[CaseEvent]:
    return list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)))


def step_states(session: Session, case: Case) -> dict[str, str]:
    """BPMN element id → done | active | overdue, for marking the diagram."""
    from workflows.services.runtime import CaseRun

    run = CaseRun(session, case, SYSTEM)
    run.restore()
    done, waiting_on = run.element_states()
    states: dict[str, str] = dict.fromkeys(done, "done")
    today = today_local()
    for t in case.open_tasks:
        states[t.spec_name] = "overdue" if t.due_on and t.due_on < today else "active"
    for name in waiting_on:
        states.setdefault(name, "active")
    return states


def acceptance_date(case: Case, events: list[CaseEvent]) -> date | None:
    """The day the case was accepted (受理): `accepted_on` or the `accepted` event where the procedure has an
    acceptance step (列编注册: 即收即办 / 容缺受理); in a procedure without one (特设岗位, 职称) the case is accepted once
    it passed the automatic checks (失信, 条件) and reached its first desk — the first officer task opened."""
    if case.accepted_on:
        return case.accepted_on
    for e in events:
        p = e.payload or {}
        if e.action == "accepted":
            try:
                return date.fromisoformat(str(p.get("accepted_on")))
            except ValueError:
                return local_day(e.at)
        if e.action == "task_opened" and p.get("role") not in (None, "applicant"):
            return local_day(e.at)
    return None


def next_task(session: Session, actor: Actor) -> tuple[OpenTask, Case] | None:
    """The officer's next open task at their desk, in the inbox's order (due date first, overdue at the top): one
    they hold or nobody has claimed, of a case not waiting for the applicant's correction."""
    stmt = (
        select(OpenTask, Case)
        .join(Case, OpenTask.case_id == Case.id)
        .where(
            case_scope(actor),
            task_scope(actor),
            or_(OpenTask.assignee_id.is_(None), OpenTask.assignee_id == actor.user_id),
            Case.status != "returned",
        )
        .order_by(OpenTask.due_on.asc().nulls_last(), OpenTask.id)
        .limit(1)
    )
    row = session.execute(stmt).first()
    return (row[0], row[1]) if row else None


def special_posts(session: Session, actor: Actor, limit: int = 500) -> list[tuple[SpecialPost, str]]:
    """R8 ledger: the special posts of the cases the actor may see, with their case numbers — the active ones first,
    each group by its term's end (the day an active post's 核销 is scheduled for)."""
    rows = session.execute(
        select(SpecialPost, Case.case_no)
        .join(Case, Case.id == SpecialPost.case_id)
        .where(case_scope(actor))
        .order_by((SpecialPost.status == "active").desc(), SpecialPost.term_end, SpecialPost.id)
        .limit(limit)
    ).all()
    return [(p, no) for p, no in rows]
