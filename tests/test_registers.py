"""The registers behind R3 and R10, driven as an administrator and an applicant would, on exact dates."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from workflows.domain.errors import Conflict, ValidationFailed
from workflows.domain.legal_time import LegalCalendar
from workflows.domain.models import AdminEvent, BreachRecord
from workflows.infra.db import transaction
from workflows.services import registers
from workflows.services.settings import set_params
from workflows.services.timers import fire_due_timers

from .helpers import registration, reload, start, task_names
from .test_scenario_registration import REG

LI = "150102198506065125"  # 李某: a number with a correct check digit (in no demo register)


def _credit(**over) -> dict:
    d = {
        "id_number": LI,
        "name": "李某",
        "kind": "misconduct",
        "listed_on": "2026-01-05",
        "source_document": "内科发〔2026〕3号",
        "note": "经费违规",
    }
    d.update(over)
    return d


def _apply(session, **over):
    data = registration(applicant_name="李某", id_number=LI, **over)
    return reload(session, start(session, REG, data, username="hr_nky").case_no)


def _without_health_check() -> list[str]:
    return [m for m in registration()["materials"] if m != "health_check"]


def test_id_number_check_digit_is_verified():
    assert registers.id_number_checked(LI) == LI
    assert registers.id_number_checked("150102198711204446") == "150102198711204446"
    assert registers.id_number_checked("15010519850707345x") == "15010519850707345X"
    with pytest.raises(ValidationFailed, match="校验位"):
        registers.id_number_checked("150102198506065126")
    with pytest.raises(ValidationFailed, match="18 位"):
        registers.id_number_checked("1501021987")


def test_r10_listing_by_an_administrator_refuses_the_next_application_until_the_bar_ends(session, factory, clock):
    with transaction(session):
        rec = registers.add_credit(session, _credit(until="2026-03-31"), "admin")
    assert [registers.event_kind(e) for e in registers.history(session, "credit", rec.id)] == ["create"]
    session.commit()
    c = _apply(session)  # 2026-03-02
    assert c.status == "not_accepted" and c.outcome_rule == "R10"
    assert "2026年01月05日列入，至2026年03月31日" in c.outcome_reason
    clock.to(2026, 3, 31, 17)  # the last day of the bar still bars
    assert _apply(session).status == "not_accepted"
    clock.to(2026, 4, 1, 9)  # the day after: an ordinary application
    c = _apply(session)
    assert c.status == "running" and c.outcome_rule is None


def test_r10_a_listing_dated_in_the_future_does_not_bar_yet(session, clock):
    with transaction(session):
        registers.add_credit(session, _credit(listed_on="2026-03-10"), "admin")
    assert _apply(session).status == "running"


def test_r10_title_revoked_bars_three_years_to_the_corresponding_day(session, clock):
    # 民法典 第二百零一、二百零二条: the period starts the day after, and ends on the corresponding day of the year
    with transaction(session):
        registers.add_credit(session, _credit(kind="title_revoked", listed_on="2023-03-02"), "admin")
    assert _apply(session).status == "not_accepted"  # 2026-03-02: the last day of three years
    clock.to(2026, 3, 3, 9)
    assert _apply(session).status == "running"


def test_r10_shortening_the_bar_needs_a_basis_and_is_recorded(session, clock):
    with transaction(session):
        rec = registers.add_credit(session, _credit(), "admin")
    with pytest.raises(ValidationFailed, match="调整依据"):
        with transaction(session):
            registers.set_credit_end(session, rec.id, "2026-02-28", "", "admin")
    with transaction(session):
        registers.set_credit_end(session, rec.id, "2026-02-28", "内科发〔2026〕9号 提前解除", "admin")
    hist = registers.history(session, "credit", rec.id)
    assert [e.action for e in hist] == ["credit_create", "credit_update"] and hist[1].actor == "admin"
    assert hist[1].payload == {"until_before": None, "until": "2026-02-28", "basis": "内科发〔2026〕9号 提前解除"}
    assert _apply(session).status == "running"


def test_credit_entry_errors_change_nothing(session):
    for bad, msg in [
        (_credit(id_number="150102198506065126"), "校验位"),
        (_credit(kind="其他"), "记录类别"),
        (_credit(listed_on="2026/13/01"), "列入日期"),
        (_credit(until="2025-12-31"), "不能早于"),
        (_credit(source_document=""), "依据文件"),
    ]:
        with pytest.raises(ValidationFailed, match=msg):
            with transaction(session):
                registers.add_credit(session, bad, "admin")
    with transaction(session):
        registers.add_credit(session, _credit(), "admin")
    with pytest.raises(Conflict):
        with transaction(session):
            registers.add_credit(session, _credit(), "admin")
    assert registers.list_credit(session, LI).total == 1
    assert session.scalar(select(AdminEvent.seq).where(AdminEvent.action == "credit_create").offset(1)) is None


def test_credit_csv_import_is_all_or_nothing_and_skips_known_records(session):
    good = (
        "身份证号,姓名,类别,列入日期,惩戒截止日期,依据文件,事由\n"
        f"{LI},李某,科研失信,2026-01-05,,内科发〔2026〕3号,经费违规\n"
    )
    bad = good + "150102198506065126,王某,科研失信,2026-01-05,,内科发〔2026〕4号,\n"
    with pytest.raises(ValidationFailed) as e:
        with transaction(session):
            registers.import_credit(session, registers.parse_credit_file(bad.encode(), "x.csv"), "admin")
    assert "第 3 行" in e.value.message and "校验位" in e.value.message
    assert registers.list_credit(session, LI).total == 0
    with transaction(session):
        created = registers.import_credit(session, registers.parse_credit_file(good.encode("gb18030"), "x.csv"), "ad")
    assert [r.name for r in created] == ["李某"]
    with transaction(session):  # the same file again: nothing new
        assert registers.import_credit(session, registers.parse_credit_file(good.encode(), "x.csv"), "ad") == []
    assert [registers.event_kind(e) for e in registers.history(session, "credit", created[0].id)] == ["import"]


def test_r3_breach_expires_after_the_configured_period(session, clock):
    with transaction(session):
        set_params(session, {"breach_bar_months": "12"})
        rec = registers.record_breach(session, LI, None, "容缺材料逾期未补齐：体检报告", date(2025, 3, 2))
    assert rec.expires_on == date(2026, 3, 2)
    session.commit()
    # on the expiry day the bar has ended: 容缺 is open to this person again
    c = _apply(session, materials=_without_health_check())
    assert c.status == "running", c.outcome_reason
    assert task_names(session, c.case_no) == ["Task_rongque_commitment"]


def test_r3_breach_bars_rongque_until_an_administrator_lifts_it(session, clock):
    with transaction(session):
        rec = registers.record_breach(session, LI, None, "容缺材料逾期未补齐：体检报告", date(2026, 2, 2))
    assert rec.expires_on == date(2029, 2, 2)  # 36 months by default
    c = _apply(session, materials=_without_health_check())
    assert c.status == "not_accepted" and c.outcome_rule == "R3" and "违诺" in c.outcome_reason
    for day, reason, msg in [
        ("2026-03-03", "说明", "晚于今天"),
        ("2026-02-01", "说明", "早于违诺日期"),
        ("2026-03-02", "", "修复理由"),
    ]:
        with pytest.raises(ValidationFailed, match=msg):
            with transaction(session):
                registers.lift_breach(session, rec.id, day, reason, "admin")
    with transaction(session):
        registers.lift_breach(session, rec.id, "2026-03-02", "已补齐材料并书面说明", "admin")
    with pytest.raises(Conflict, match="已于"):
        with transaction(session):
            registers.lift_breach(session, rec.id, "2026-03-02", "再次", "admin")
    assert [registers.event_kind(e) for e in registers.history(session, "breach", rec.id)] == ["create", "lift"]
    c = _apply(session, materials=_without_health_check())
    assert c.status == "running", c.outcome_reason
    assert task_names(session, c.case_no) == ["Task_rongque_commitment"]


def test_r3_lapse_writes_a_breach_with_its_expiry_and_trail(session, factory, clock):
    from .test_scenario_registration import _rongque_case

    c = _rongque_case(session)
    clock.to(2026, 4, 15, 0, 5)
    assert fire_due_timers(factory) == 1
    assert reload(session, c.case_no).status == "terminated"
    rec = session.scalar(select(BreachRecord).where(BreachRecord.case_id == c.id))
    assert rec.expires_on == date(2029, 4, 15)
    assert [registers.event_kind(e) for e in registers.history(session, "breach", rec.id)] == ["create"]


def test_breach_csv_import_counts_the_period_from_each_record(session, clock):
    text = f"身份证号,违诺日期,事由\n{LI},2024-06-30,历史记录\n"
    with transaction(session):
        (rec,) = registers.import_breach(session, registers.parse_breach_file(text.encode(), "b.csv"), "admin")
    assert rec.expires_on == date(2027, 6, 30) and rec.case_id is None
    assert registers.active_breach(session, LI, date(2027, 6, 29)) is rec
    assert registers.active_breach(session, LI, date(2027, 6, 30)) is None
    with pytest.raises(ValidationFailed, match="晚于今天"):
        with transaction(session):
            registers.import_breach(session, registers.parse_breach_file(text.replace("2024", "2027").encode()), "a")


def test_breach_expiry_on_month_ends():
    assert LegalCalendar.add_months(date(2025, 8, 31), 6) == date(2026, 2, 28)
    assert LegalCalendar.add_months(date(2023, 2, 28), 12) == date(2024, 2, 28)
    assert LegalCalendar.add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
