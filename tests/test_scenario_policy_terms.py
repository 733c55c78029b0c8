"""Issue 12, items 2 and 5 on exact dates: the terms of a 特设岗位 (R8) — start, end, 核销 and what follows it — and the
hire type of a 列编 (R5) through to the 备案表 PDF."""

from __future__ import annotations

import io
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from webapp.demo.accounts import actor_for
from workflows.domain.errors import Conflict, ValidationFailed
from workflows.domain.legal_time import LegalCalendar
from workflows.domain.models import AdminEvent, Document, SpecialPost
from workflows.infra.db import transaction
from workflows.services import dossier, posts
from workflows.services.cases import record_regular_post, request_writeoff
from workflows.services.settings import set_param
from workflows.services.timers import fire_due_timers

from .helpers import act, events, find_task, registration, reload, special_post, start, task_names

SP, REG = "special_post", "green_channel_registration"


def post_of(session, case_no: str) -> SpecialPost:
    c = reload(session, case_no)
    p = session.scalar(select(SpecialPost).where(SpecialPost.case_id == c.id))
    session.commit()
    return p


def approve(session, case_no: str) -> None:
    act(session, case_no, "Task_dept_review")
    act(session, case_no, "Task_hrss_approval")


def pdf_text(session, factory, case_no: str, kind: str) -> str:
    from webapp.issuing import render_pending

    render_pending(factory)
    c = reload(session, case_no)
    session.expire_all()
    doc = session.scalar(
        select(Document).where(Document.case_id == c.id, Document.kind == kind).order_by(Document.id.desc())
    )
    assert doc is not None and doc.status == "issued", kind
    text = "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(doc.pdf)).pages)
    session.commit()
    return text.replace("\n", "").replace(" ", "")


# ---- the end of a term -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start_on,months,end",
    [
        (date(2026, 7, 1), 60, date(2031, 6, 30)),  # the seeds' 5 years from 1 July
        (date(2026, 7, 1), 12, date(2027, 6, 30)),
        (date(2026, 3, 1), 1, date(2026, 3, 31)),
        (date(2026, 3, 2), 36, date(2029, 3, 1)),
        (date(2027, 1, 31), 1, date(2027, 2, 28)),  # no 31 February: the month's last day
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2026, 1, 30), 1, date(2026, 2, 28)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2026, 12, 1), 1, date(2026, 12, 31)),
    ],
)
def test_a_term_of_n_months_ends_the_day_before_the_same_numbered_day(start_on, months, end):
    assert LegalCalendar.term_end(start_on, months) == end


def test_term_from_1_july_ends_30_june_and_is_written_off_that_day(session, factory, clock):
    c = start(session, SP, special_post(term_months=60, requested_start_on="2026-07-01"))
    approve(session, c.case_no)  # approved on 2 March, before the requested start
    p = post_of(session, c.case_no)
    assert (p.start_on, p.start_basis, p.requested_start_on) == (date(2026, 7, 1), "requested", date(2026, 7, 1))
    assert (p.term_months, p.term_end) == (60, date(2031, 6, 30))
    reg = [e.payload for e in events(session, c.case_no, "special_post")][0]
    assert reg["writeoff_on"] == "2031-06-30"
    clock.to(2031, 6, 29, 23, 50)
    assert fire_due_timers(factory) == 0
    clock.to(2031, 6, 30, 0, 5)  # 核销 scheduled for the end date itself
    assert fire_due_timers(factory) == 1
    p = post_of(session, c.case_no)
    assert (p.status, p.written_off_on, p.writeoff_reason_code, p.writeoff_reason) == (
        "written_off",
        date(2031, 6, 30),
        "term_end",
        "聘期届满",
    )
    assert p.regular_post_status == "pending" and reload(session, c.case_no).status == "completed"
    text = pdf_text(session, factory, c.case_no, "special_post_writeoff_notice")
    assert "聘期届满" in text and "2031年6月30日予以核销" in text and "待你单位出现专业技术二级空缺岗位后转聘" in text


def test_start_date_before_the_approval_starts_on_the_approval_day_on_record(session, factory, clock):
    c = start(session, SP, special_post(term_months=24, requested_start_on="2026-03-05"))
    act(session, c.case_no, "Task_dept_review")
    clock.to(2026, 3, 10, 10)  # 人社 approves after the requested start
    act(session, c.case_no, "Task_hrss_approval")
    p = post_of(session, c.case_no)
    assert (p.requested_start_on, p.start_on, p.start_basis) == (date(2026, 3, 5), date(2026, 3, 10), "approval")
    assert p.term_end == date(2028, 3, 9)
    reg = [e.payload for e in events(session, c.case_no, "special_post")][0]
    assert reg["start_basis"] == "approval" and "核准日期晚于申请的起始日期" in reg["start_note"]
    text = pdf_text(session, factory, c.case_no, "special_post_form")
    assert "2026年3月10日至2028年3月9日" in text and "自核准之日起聘" in text


def test_a_start_date_that_is_not_a_date_is_refused(session, clock):
    with pytest.raises(ValidationFailed) as e:
        start(session, SP, special_post(requested_start_on="2026-02-30"))
    assert "requested_start_on" in e.value.details["fields"]


# ---- an over-long term: returned (refuse mode) or capped (cap mode) --------------------------------------------


def test_refuse_mode_returns_to_the_unit_and_the_resubmission_goes_on(session, clock):
    c = start(session, SP, special_post(term_months=72))
    c = reload(session, c.case_no)
    assert (c.status, c.hold_reason, c.closed_at) == ("on_hold", "退回用人单位修改", None)
    t = find_task(session, c.case_no, "Task_unit_revise")
    assert t.role == "unit_hr" and t.scope_unit_code == "U0101"
    decision = [e for e in events(session, c.case_no, "decision") if e.rule_id == "R8"][0].payload
    assert decision["returned"] is True and "退回用人单位修改" in decision["reason"]
    # still too long: back again, the case still open
    act(session, c.case_no, "Task_unit_revise", {"term_months": 61})
    assert task_names(session, c.case_no) == ["Task_unit_revise"]
    clock.to(2026, 3, 5, 9)
    act(session, c.case_no, "Task_unit_revise", {"term_months": 48, "revision_note": "按上限以内调整为48个月"})
    c = reload(session, c.case_no)
    assert c.status == "running" and c.start_data["term_months"] == 48 and c.hold_days == 3
    assert task_names(session, c.case_no) == ["Task_dept_review"]
    resub = events(session, c.case_no, "resubmitted")
    assert [e.payload["changes"] for e in resub] == [{"term_months": 61}, {"term_months": 48}]
    approve(session, c.case_no)
    p = post_of(session, c.case_no)
    assert (p.requested_term_months, p.term_months, p.start_on, p.term_end) == (
        48,
        48,
        date(2026, 3, 5),
        date(2030, 3, 4),
    )


def test_a_vacancy_at_the_level_is_still_a_closed_refusal(session, clock):
    c = reload(session, start(session, SP, special_post(unit_has_vacancy_at_level=True)).case_no)
    assert c.status == "not_accepted" and task_names(session, c.case_no) == []


def test_a_vacancy_in_the_posts_register_refuses_the_special_post(session, clock):
    """R8 reads the register too: the unit says it has no vacancy at 专业技术四级, the register shows two (核定 9,
    实有 7 after the demo's adjustment) — refused naming the register; at 专业技术二级 (2/2) it goes on."""
    c = reload(session, start(session, SP, special_post(post_level="专技4级")).case_no)
    assert c.status == "not_accepted"
    check = next(e.payload for e in events(session, c.case_no, "decision") if e.rule_id == "R8")
    decided = {x["name"]: x["display"] for x in dossier.build(session, reload(session, c.case_no))["decided"]}
    assert decided["register_vacancy"] == "2个"
    assert check["register_vacancy"] == 2 and "岗位设置台账显示本单位专业技术四级有空缺岗位2个" in check["reason"]
    assert reload(session, start(session, SP, special_post()).case_no).status == "running"


def test_cap_mode_document_states_requested_and_approved_terms(session, factory, clock):
    with transaction(session):
        set_param(session, "special_post_term_mode", "cap")
    c = start(session, SP, special_post(term_months=72, requested_start_on="2026-07-01"))
    approve(session, c.case_no)
    p = post_of(session, c.case_no)
    assert (p.requested_term_months, p.term_months, p.term_end) == (72, 60, date(2031, 6, 30))
    text = pdf_text(session, factory, c.case_no, "special_post_form")
    assert "核准聘期60个月" in text and "申请聘期72个月" in text
    assert "申请聘期72个月超过上限，按60个月核准" in text and "2026年7月1日至2031年6月30日" in text


# ---- 核销: four reasons, and the holder's move to a regular post -----------------------------------------------


@pytest.mark.parametrize(
    "reason,label,vacancy,regular",
    [
        ("task_done", "完成工作任务", True, "moved"),
        ("task_done", "完成工作任务", False, "pending"),
        ("resigned", "聘用人员辞聘", True, "not_applicable"),
        ("dismissed", "聘用人员被解聘", False, "not_applicable"),
    ],
)
def test_early_writeoff_reasons_are_distinct(session, factory, clock, reason, label, vacancy, regular):
    """`vacancy`: the posts register shows a vacant 专业技术二级 post at the 核销 (the unit's own word no longer
    decides: it says the opposite here); a move fills it."""
    c = start(session, SP, special_post())
    approve(session, c.case_no)
    clock.to(2027, 6, 1, 10)
    if vacancy:  # one 二级 holder retired: the administrator records it
        with transaction(session):
            posts.set_post(session, "U0101", "", "专业技术二级", 2, 1, "原二级岗位人员退休", "admin")
    request_writeoff(session, c.case_no, reason, "wo-1", actor_for(session, "hr_nky"), regular_post_vacancy=not vacancy)
    row = posts.post_at(session, "U0101", "专业技术二级")
    session.refresh(row)
    # a move fills the vacancy (实有 1 → 2); a holder who left takes none
    assert (row.approved, row.filled) == (2, 1 if vacancy and regular != "moved" else 2)
    p = post_of(session, c.case_no)
    assert (p.status, p.written_off_on, p.writeoff_reason_code, p.writeoff_reason) == (
        "written_off",
        date(2027, 6, 1),
        reason,
        label,
    )
    assert p.regular_post_status == regular
    assert p.regular_post_on == (date(2027, 6, 1) if regular == "moved" else None)
    text = pdf_text(session, factory, c.case_no, "special_post_writeoff_notice")
    assert label in text and "2027年6月1日予以核销" in text
    assert ("2027年6月1日起转聘至本单位专业技术二级正常岗位" in text) is (regular == "moved")


def test_term_end_cannot_be_claimed_before_the_term_ends(session, clock):
    c = start(session, SP, special_post(term_months=12))
    approve(session, c.case_no)  # 2 March 2026 – 1 March 2027
    clock.to(2026, 9, 1, 10)
    with pytest.raises(ValidationFailed, match="2027年3月1日届满"):
        request_writeoff(session, c.case_no, "term_end", "wo-early", actor_for(session, "hr_nky"))
    assert post_of(session, c.case_no).status == "active"


def test_pending_move_to_a_regular_post_is_recorded_when_a_vacancy_opens(session, factory, clock):
    c = start(session, SP, special_post(term_months=12))
    approve(session, c.case_no)
    clock.to(2027, 3, 1, 0, 5)
    assert fire_due_timers(factory) == 1
    p = post_of(session, c.case_no)
    assert (p.writeoff_reason_code, p.written_off_on, p.regular_post_status) == (
        "term_end",
        date(2027, 3, 1),
        "pending",
    )
    clock.to(2027, 5, 10, 10)
    hr = actor_for(session, "hr_nky")
    with pytest.raises(ValidationFailed):
        record_regular_post(session, c.case_no, hr, "2027-02-01")  # before the 核销
    with pytest.raises(ValidationFailed):
        record_regular_post(session, c.case_no, hr, "2027-06-01")  # in the future
    # the register shows no vacant 专业技术二级 post yet: the unit's word alone does not move the holder
    with pytest.raises(Conflict, match="专业技术二级该等级空缺岗位为0个"):
        record_regular_post(session, c.case_no, hr, "2027-05-10", "原二级岗位人员退休，出现空缺")
    assert post_of(session, c.case_no).regular_post_status == "pending"
    with transaction(session):
        posts.set_post(
            session, "U0101", "", "专业技术二级", 2, 1, "原二级岗位人员退休（内农牧科院字〔2027〕3号）", "admin"
        )
    record_regular_post(session, c.case_no, hr, "2027-05-10", "原二级岗位人员退休，出现空缺")
    p = post_of(session, c.case_no)
    assert (p.regular_post_status, p.regular_post_on) == ("moved", date(2027, 5, 10))
    assert events(session, c.case_no, "special_post")[-1].payload["regular_post_on"] == "2027-05-10"
    row = posts.post_at(session, "U0101", "专业技术二级")
    session.refresh(row)
    assert (row.approved, row.filled) == (2, 2)  # the move filled the vacancy, in the same transaction
    trail = list(
        session.scalars(select(AdminEvent).where(AdminEvent.target == f"post:{row.id}").order_by(AdminEvent.seq))
    )
    assert [(e.action, e.actor, e.payload["before"], e.payload["after"]) for e in trail][-2:] == [
        ("post_adjust", "admin", {"approved": 2, "filled": 2}, {"approved": 2, "filled": 1}),
        ("post_fill", "hr_nky", {"filled": 1}, {"filled": 2}),
    ]
    assert trail[-1].payload["case_no"] == c.case_no
    with pytest.raises(Conflict):
        record_regular_post(session, c.case_no, hr, "2027-05-10")


# ---- R5: 编制外聘用 → 列编 keeps the original hire date ---------------------------------------------------------


def reg(**over) -> dict:
    """A 列编 application; a field given as None is left out."""
    return {k: v for k, v in registration(**over).items() if v is not None}


def _register(session, factory, clock, case_no: str) -> None:
    act(session, case_no, "Task_unit_review")
    act(session, case_no, "Task_assessment")
    clock.to(2026, 3, 7, 0, 1)  # 公示 2–6 March over
    assert fire_due_timers(factory) == 1
    act(session, case_no, "Task_dept_review")
    act(session, case_no, "Task_filing")
    assert reload(session, case_no).status == "completed"


def test_outside_hire_keeps_its_original_hire_date_on_the_filing_form(session, factory, clock):
    c = start(
        session,
        REG,
        reg(hire_type="outside_establishment", original_hire_date="2023-09-01", outside_establishment=None),
    )
    c = reload(session, c.case_no)
    assert (c.start_data["hire_type"], c.start_data["outside_establishment"]) == ("outside_establishment", True)
    assert task_names(session, c.case_no) == ["Task_unit_review"]
    _register(session, factory, clock, c.case_no)
    [ev] = events(session, c.case_no, "hire_type")
    assert ev.rule_id == "R5" and ev.payload == {
        "before": "编制外聘用",
        "after": "编制内",
        "original_hire_date": "2023-09-01",
    }
    text = pdf_text(session, factory, c.case_no, "registration_filing_form")
    assert "编制内（列编前：编制外聘用）" in text and "原聘用日期2023年9月1日" in text
    assert "2026年3月2日" not in text.split("原聘用日期")[1][:12]  # not the acceptance date


def test_new_hire_prints_the_registration_date(session, factory, clock):
    c = start(session, REG, reg(hire_type="new_hire"))
    act(session, c.case_no, "Task_unit_review")
    clock.to(2026, 3, 4, 10)
    act(session, c.case_no, "Task_dept_review")
    act(session, c.case_no, "Task_filing")
    text = pdf_text(session, factory, c.case_no, "registration_filing_form")
    assert "编制内（列编前：新引进）" in text and "聘用日期2026年3月4日" in text and "原聘用日期" not in text


@pytest.mark.parametrize(
    "over,field",
    [
        (dict(hire_type="outside_establishment", outside_establishment=None), "original_hire_date"),
        (dict(outside_establishment=True, original_hire_date=None), "original_hire_date"),
        (
            dict(hire_type="outside_establishment", original_hire_date="2026-04-01", outside_establishment=None),
            "original_hire_date",
        ),
        (dict(hire_type="new_hire", outside_establishment=True, original_hire_date="2024-01-01"), "hire_type"),
    ],
    ids=["no-date", "legacy-flag-no-date", "future-date", "disagreeing-flag"],
)
def test_hire_type_and_date_are_checked_at_intake(session, clock, over, field):
    with pytest.raises(ValidationFailed) as e:
        start(session, REG, reg(**over))
    assert field in e.value.details["fields"]


def test_the_dossier_reads_the_new_fields_in_words():
    from workflows.services.dossier import display

    assert display("requested_start_on", "2027-01-01") == "2027年1月1日"
    assert display("original_hire_date", "2023-09-01") == "2023年9月1日"
    assert display("hire_type", "outside_establishment") == "编制外聘用"
    assert display("hire_type", "new_hire") == "新引进"
