"""Drive cases through the services as people would."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from webapp.demo.accounts import actor_for
from webapp.demo.samples import ALL_REG_MATERIALS, APPROVE_FORMS
from workflows.domain.models import Case, CaseEvent, OpenTask
from workflows.services import cases as svc

ROLE_USER = {
    "applicant": "zhangwei",
    "unit_hr": "hr_nky",
    "dept": "dept_kjt",
    "bianban": "bianban",
    "hrss": "renshe",
    "committee": "pingwei",
}
UNIT_USERS = {
    "U0101": ("hr_nky", "dept_kjt"),
    "U0102": ("hr_kjxx", "dept_kjt"),
    "U0201": ("hr_nmgu", "dept_jyt"),
    "U0202": ("hr_nmgu", "dept_jyt"),
}

APPROVE = APPROVE_FORMS


def registration(**over) -> dict:
    d = {
        "applicant_name": "张伟",
        "id_number": "150102199001011234",
        "unit_code": "U0101",
        "talent_category": 3,
        "introduction_mode": "rigid",
        "outside_establishment": False,
        "materials": list(ALL_REG_MATERIALS),
    }
    d.update(over)
    if d.get("outside_establishment") and "original_hire_date" not in d:
        d["original_hire_date"] = "2024-03-01"  # R5: an 编制外聘用 person's hire date is part of the application
    return d


def special_post(**over) -> dict:
    d = {
        "post_name": "草原生态修复首席专家",
        "post_level": "专业技术二级",
        "term_months": 36,
        "holder_name": "陈晨",
        "holder_id_number": "150102198601013333",
        "unit_code": "U0101",
        "unit_has_vacancy_at_level": False,
        "reason": "急需紧缺高层次人才",
        "materials": ["post_plan", "holder_id_card"],
    }
    d.update(over)
    return d


def title(**over) -> dict:
    d = {
        "applicant_name": "张伟",
        "id_number": "150102199001011234",
        "unit_code": "U0101",
        "talent_category": 3,
        "introduction_mode": "rigid",
        "achievement": None,
        "target_level": "正高",
        "major": "作物遗传育种",
        "on_leave_entrepreneur": False,
        "delayed_retirement": False,
        "materials": ["id_card", "achievement_proof"],
    }
    d.update(over)
    return d


def start(session, procedure: str, data: dict, username: str | None = None):
    who = username or ("hr_nky" if procedure == "special_post" else "zhangwei")
    return start_as(session, procedure, data, actor_for(session, who))


def start_as(session, procedure: str, data: dict, actor):
    """Start a case with the listed materials received as they would be: an applicant's as stored files (the refs the
    web layer passes after storing the uploads), an officer's as recorded in-person receipt."""
    codes = list(data.get("materials") or [])
    if actor.role == "applicant":
        files = {c: svc.FileRef(hashlib.sha256(c.encode()).hexdigest(), f"{c}.pdf") for c in codes}
        return svc.start_case(session, procedure, data, actor, files=files)
    return svc.start_case(session, procedure, data, actor, in_person=codes)


def done_reading(session, value):
    """End the read transaction (SQLite's BEGIN IMMEDIATE would otherwise keep other writers waiting)."""
    session.commit()
    return value


def reload(session, case_no: str) -> Case:
    session.expire_all()
    case = session.scalar(select(Case).where(Case.case_no == case_no))
    case.materials, case.open_tasks  # noqa: B018  (load before the transaction ends)
    return done_reading(session, case)


def open_tasks(session, case_no: str) -> list[OpenTask]:
    session.expire_all()
    return done_reading(
        session, list(session.scalars(select(OpenTask).join(Case).where(Case.case_no == case_no).order_by(OpenTask.id)))
    )


def task_names(session, case_no: str) -> list[str]:
    return [t.spec_name for t in open_tasks(session, case_no)]


def find_task(session, case_no: str, spec_prefix: str) -> OpenTask:
    matches = [t for t in open_tasks(session, case_no) if t.spec_name.startswith(spec_prefix)]
    assert matches, f"{spec_prefix} not open; open: {task_names(session, case_no)}"
    return matches[0]


def user_for(session, case: Case, role: str) -> str:
    if role == "unit_hr":
        return UNIT_USERS[case.unit_code][0]
    if role == "dept":
        return UNIT_USERS[case.unit_code][1]
    if role == "applicant":
        return {"150102199001011234": "zhangwei", "150104198805052345": "liuna"}.get(case.id_number, "zhangwei")
    return ROLE_USER[role]


def act(session, case_no: str, spec_prefix: str, data: dict | None = None, username: str | None = None) -> Case:
    t = find_task(session, case_no, spec_prefix)
    case = reload(session, case_no)
    who = username or user_for(session, case, t.role)
    payload = APPROVE.get(t.spec_name, {}) if data is None else data
    return svc.complete_task(session, case_no, t.task_id, payload, actor_for(session, who))


def events(session, case_no: str, action: str | None = None) -> list[CaseEvent]:
    case = reload(session, case_no)
    q = select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
    if action:
        q = q.where(CaseEvent.action == action)
    return done_reading(session, list(session.scalars(q)))


def rules_recorded(session, case_no: str) -> set[str]:
    return {e.rule_id for e in events(session, case_no) if e.rule_id}
