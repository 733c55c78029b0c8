"""A dozen demo cases across the three procedures, each driven through the real services into its state; every
material they mark as received has a stored sample file (`attach_sample_files`)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date

from sqlalchemy import select

from webapp.demo.accounts import actor_for
from webapp.demo.samples import (
    ALL_REG_MATERIALS,
    APPROVE_FORMS,
    IMAGE_CODES,
    sample_id_card_png,
    sample_pdfs,
)
from workflows.domain.clock import today_local
from workflows.domain.models import Case, Material
from workflows.domain.procedures import PROCEDURES, REGISTRATION, SENIOR_POST_LEVEL2, SENIOR_TITLE, SPECIAL_POST
from workflows.infra.db import transaction
from workflows.services import cases as svc

REG, SP, TT, L2 = REGISTRATION.id, SPECIAL_POST.id, SENIOR_TITLE.id, SENIOR_POST_LEVEL2.id
ALL = ALL_REG_MATERIALS

FORMS = APPROVE_FORMS
OFFICER = {
    "unit_hr": {"U0101": "hr_nky", "U0102": "hr_kjxx", "U0201": "hr_nmgu", "U0202": "hr_nmgu"},
    "dept": {"U0101": "dept_kjt", "U0102": "dept_kjt", "U0201": "dept_jyt", "U0202": "dept_jyt"},
}


def _reg(name, id_number, unit="U0101", materials=ALL, **over):
    return {
        "applicant_name": name,
        "id_number": id_number,
        "unit_code": unit,
        "talent_category": 3,
        "introduction_mode": "rigid",
        "outside_establishment": False,
        "materials": list(materials),
        **over,
    }


def _advance(session, case_no: str, steps: list[str]) -> None:
    for step in steps:
        case = session.scalar(select(Case).where(Case.case_no == case_no))
        task = next(t for t in case.open_tasks if t.spec_name == step)
        role = task.role
        who = (
            OFFICER.get(role, {}).get(case.unit_code)
            or {"applicant": "zhangwei", "bianban": "bianban", "hrss": "renshe", "committee": "pingwei"}[role]
        )
        session.commit()
        svc.complete_task(session, case_no, task.task_id, FORMS[step], actor_for(session, who))


def _upload_store() -> Callable[[str, bytes, str], object]:
    from webapp import uploads

    return uploads.blob_store().put


def attach_sample_files(session, put: Callable[[str, bytes, str], object] | None = None) -> int:
    """Give every received material without a file a generated sample (a one-page PDF, a PNG for ID cards), stored
    through the upload store (`put(sha256, content, mimetype)`, default: the app's) and recorded on its row, as an
    upload would. Returns how many rows got a file."""
    put = put or _upload_store()
    rows = session.execute(
        select(Material, Case.case_no, Case.applicant_name, Case.id_number)
        .join(Case, Material.case_id == Case.id)
        .where(Material.status == "received", Material.sha256.is_(None))
        .order_by(Material.id)
    ).all()
    session.commit()  # end the read: the files are made outside any transaction
    pdf_rows = [r for r in rows if r[0].code not in IMAGE_CODES]
    pdfs = dict(zip([r[0].id for r in pdf_rows], sample_pdfs([(m.name, n, no) for m, no, n, _i in pdf_rows])))
    files: dict[int, tuple[bytes, str, str]] = {}
    for m, _no, name, id_number in rows:
        if m.code in IMAGE_CODES:
            files[m.id] = (sample_id_card_png(name, id_number), "image/png", f"{m.name}（样例）.png")
        else:
            files[m.id] = (pdfs[m.id], "application/pdf", f"{m.name}（样例）.pdf")
    hashes = {}
    for mid, (content, mimetype, _file_name) in files.items():
        sha = hashlib.sha256(content).hexdigest()
        put(sha, content, mimetype)
        hashes[mid] = sha
    with transaction(session):
        for m in session.scalars(select(Material).where(Material.id.in_(list(files)))):
            m.file_name, m.sha256 = files[m.id][2], hashes[m.id]
    return len(files)


def _first_of_next_month() -> date:
    today = today_local()
    return date(today.year + today.month // 12, today.month % 12 + 1, 1)


def start_recorded(session, procedure: str, data: dict, actor, put: Callable[[str, bytes, str], object] | None = None):
    """Start a demo case with the listed materials received as they would be: an applicant's as stored sample files
    (uploaded with the application), an officer's as recorded in-person receipt (sample files follow in
    `attach_sample_files`)."""
    codes = list(data.get("materials") or [])
    if actor.role != "applicant":
        return svc.start_case(session, procedure, data, actor, in_person=codes)
    put = put or _upload_store()
    name, id_number = data.get("applicant_name", ""), data.get("id_number", "")
    names = {m.code: m.name for m in PROCEDURES[procedure].materials}
    pdf_codes = [c for c in codes if c not in IMAGE_CODES]
    contents = dict(zip(pdf_codes, sample_pdfs([(names[c], name, "") for c in pdf_codes])))
    files = {}
    for code in codes:
        content = contents.get(code) or sample_id_card_png(name, id_number)
        kind = "application/pdf" if code in contents else "image/png"
        sha = hashlib.sha256(content).hexdigest()
        put(sha, content, kind)
        files[code] = svc.FileRef(sha, f"{names[code]}（样例）{'.pdf' if code in contents else '.png'}")
    return svc.start_case(session, procedure, data, actor, files=files)


def create_demo_cases(session) -> None:
    hr, admin = actor_for(session, "hr_nky"), actor_for(session, "admin")
    zhang = actor_for(session, "zhangwei")
    owed = [m for m in ALL if m not in ("health_check", "no_crime_record")]
    # 1. 容缺受理 in progress: the applicant still owes two items
    c = start_recorded(session, REG, _reg("张伟", "150102199001011234", materials=owed), zhang)
    _advance(session, c.case_no, ["Task_rongque_commitment", "Task_unit_review"])
    # 2. 即收即办, waiting for 主管部门
    c = start_recorded(session, REG, _reg("刘娜", "150104198805052345", unit="U0201"), actor_for(session, "liuna"))
    _advance(session, c.case_no, ["Task_unit_review"])
    # 3. completed registration of a new hire (R5: 新引进 → 编制内, hired on the day of 列编)
    c = start_recorded(session, REG, _reg("王磊", "150102198703034567", hire_type="new_hire"), hr)
    _advance(session, c.case_no, ["Task_unit_review", "Task_dept_review", "Task_filing"])
    # 4. 不予受理 at once: 柔性引进 (R1)
    start_recorded(session, REG, _reg("赵云", "150102199202025678", introduction_mode="flexible"), hr)
    # 5. 不予受理 at once: 科研失信 (R10)
    start_recorded(session, REG, _reg("钱某", "150105198507073456"), hr)
    # 6. 编制外聘用 since 1 September 2024 (R5: the date stays on the 备案表): assessment passed, in 公示
    c = start_recorded(
        session,
        REG,
        _reg(
            "孙悦",
            "150102199105056789",
            outside_establishment=True,
            hire_type="outside_establishment",
            original_hire_date="2024-09-01",
        ),
        hr,
    )
    _advance(session, c.case_no, ["Task_unit_review", "Task_assessment"])
    # 7. no own vacancy → 人才专项编制 waiting for 编办
    c = start_recorded(session, REG, _reg("周敏", "150102199306067890", unit="U0102"), admin)
    _advance(session, c.case_no, ["Task_unit_review", "Task_dept_review"])
    # 8. special post waiting for 人社核准, to start on the first day of next month (R8: its term ends the day before
    # the same-numbered day 36 months later)
    sp = {
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
    c = start_recorded(session, SP, {**sp, "requested_start_on": _first_of_next_month().isoformat()}, hr)
    _advance(session, c.case_no, ["Task_dept_review"])
    # 9. special post approved and running its term
    c = start_recorded(
        session,
        SP,
        {
            **sp,
            "post_name": "稀土新材料首席科学家",
            "holder_name": "杨帆",
            "holder_id_number": "150102198202024444",
            "term_months": 60,
        },
        hr,
    )
    _advance(session, c.case_no, ["Task_dept_review", "Task_hrss_approval"])
    # 10. special post 不予受理: the unit has a vacant post at that level (R8)
    start_recorded(
        session,
        SP,
        {**sp, "holder_name": "黄河", "holder_id_number": "150102198303035555", "unit_has_vacancy_at_level": True},
        hr,
    )
    # 11. senior title: waiting for the unit
    tt = {
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
    start_recorded(session, TT, tt, zhang)
    # 12. senior title for a local talent with a major achievement, in unit 公示
    c = start_recorded(
        session,
        TT,
        {
            **tt,
            "applicant_name": "刘娜",
            "id_number": "150104198805052345",
            "unit_code": "U0201",
            "talent_category": None,
            "introduction_mode": "local",
            "achievement": "key_core_technology",
            "target_level": "副高",
        },
        actor_for(session, "liuna"),
    )
    _advance(session, c.case_no, ["Task_unit_review"])
    # 13. 专业技术二级岗位破格 (category 3): waiting for the unit's review
    start_recorded(
        session,
        L2,
        {
            "applicant_name": "张伟",
            "id_number": "150102199001011234",
            "unit_code": "U0101",
            "talent_category": 3,
            "current_post": "专业技术三级",
            "current_post_since": "2025-09-01",
            "major": "作物遗传育种",
            "materials": ["id_card", "talent_recognition", "post_appointment"],
        },
        zhang,
    )
    attach_sample_files(session)
