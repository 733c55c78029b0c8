"""At the year boundary intake never stops (DESIGN §3; issue 12 item 1).

Applications in late 2026 whose deadlines reach into 2027, before the State Council's 2027 arrangement is loaded:
accepted with provisional (weekday-only) dates, shown and printed as 暂计至…，以国务院公布的节假日安排为准, no lapse
or escalation fires on a provisional date, and loading the official table recomputes every such date — one audit
event per case whose date moved, a notice to the parties.

The 2027 table below is a test arrangement (not the State Council's): 元旦 on Friday 1 January, a 调休 working
Saturday on 30 January, a Spring Festival break 5–11 February.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from webapp.demo.accounts import actor_for
from workflows.domain.legal_time import LegalCalendar
from workflows.domain.models import BreachRecord, Case, Notification
from workflows.infra.db import transaction
from workflows.services import confirm_dates, holidays, provisional
from workflows.services.settings import params_and_calendar
from workflows.services.timers import fire_due_timers

from .helpers import act, events, find_task, registration, reload, start

REG = "green_channel_registration"

TABLE_2027 = [
    (date(2027, 1, 1), False, "元旦"),
    (date(2027, 1, 30), True, "春节调休上班"),
    (date(2027, 2, 5), False, "春节"),
    (date(2027, 2, 6), False, "春节"),
    (date(2027, 2, 7), False, "春节"),
    (date(2027, 2, 8), False, "春节"),
    (date(2027, 2, 9), False, "春节"),
    (date(2027, 2, 10), False, "春节"),
    (date(2027, 2, 11), False, "春节"),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request):
    """The scenario on both databases (the JSON column's NULL and the row locks differ)."""
    f = request.getfixturevalue("factory" if request.param == "sqlite" else "pg_factory")
    s = f()
    yield f, s
    s.close()


def _load_2027(session, who="admin"):
    with transaction(session):
        holidays.replace_holidays(session, 2027, TABLE_2027)
        done = confirm_dates.confirm_all(session, actor_for(session, who))
    return done


def _rongque_case(session):
    mats = [m for m in registration()["materials"] if m not in ("health_check", "no_crime_record")]
    c = start(session, REG, registration(materials=mats))
    act(session, c.case_no, "Task_rongque_commitment")
    return reload(session, c.case_no)


def test_provisional_calendar_counts_weekdays_and_says_so():
    cal = LegalCalendar(provisional=True)
    assert cal.add_working_days(date(2026, 11, 20), 30) == date(2027, 1, 1)  # 元旦 counted: only a guess
    assert cal.is_provisional(date(2026, 11, 20), date(2027, 1, 1))
    assert not cal.is_provisional(date(2026, 11, 20), date(2026, 12, 31))
    official = LegalCalendar({d: w for d, w, _ in TABLE_2027}, [2027], provisional=True)
    assert official.add_working_days(date(2026, 11, 20), 30) == date(2027, 1, 4)  # ends on a holiday → Monday
    assert official.deadline_after_months(date(2026, 12, 30), 1) == date(2027, 1, 30)  # a 调休 working Saturday
    assert cal.deadline_after_months(date(2026, 12, 30), 1) == date(2027, 2, 1)  # provisional: Saturday → Monday
    assert not official.is_provisional(date(2027, 1, 30))
    assert provisional.note(date(2027, 1, 1)) == "暂计至2027年1月1日，以国务院公布的节假日安排为准"


def test_year_boundary_accepts_provisionally_never_lapses_on_it_and_recomputes_on_the_official_table(db, clock):
    factory, session = db
    # A: 容缺受理 on Friday 20 November 2026; its 30 working days end on 1 January 2027 counted as a weekday
    clock.to(2026, 11, 20, 9)
    a = _rongque_case(session)
    assert a.status == "running" and a.accepted_on == date(2026, 11, 20)
    assert a.rongque_deadline == date(2027, 1, 1) and a.promised_on == date(2027, 1, 15)
    assert {"promised_on", "rongque_deadline"} <= set(a.provisional_dates)
    assert all(m.deadline == date(2027, 1, 1) for m in a.materials if m.status == "owed")
    act(session, a.case_no, "Task_unit_review")
    act(session, a.case_no, "Task_dept_review")

    # B: complete dossier on Wednesday 30 December 2026; 备案 one month later falls on Saturday 30 January 2027
    clock.to(2026, 12, 30, 9)
    b = start(
        session, REG, registration(applicant_name="刘娜", id_number="150104198805052345", unit_code="U0201"), "liuna"
    )
    assert find_task(session, b.case_no, "Task_unit_review").due_on == date(2027, 1, 6)  # provisional 5 days
    act(session, b.case_no, "Task_unit_review")
    act(session, b.case_no, "Task_dept_review")
    b = reload(session, b.case_no)
    assert b.filing_due_on == date(2027, 2, 1)  # provisional: Saturday rolled to Monday
    assert find_task(session, b.case_no, "Task_filing").due_on == date(2027, 2, 1)
    assert "filing_due_on" in b.provisional_dates

    # the administrators are warned (from 1 October until the table is loaded)
    _, cal = params_and_calendar(session)
    assert confirm_dates.next_year_pending(session, cal, date(2026, 12, 30)) == {"year": 2027, "cases": 2}
    assert confirm_dates.next_year_pending(session, cal, date(2026, 9, 30)) is None
    session.commit()

    # 2 January 2027: the provisional 容缺 deadline is over, the table still not loaded — nothing lapses
    clock.to(2027, 1, 2, 0, 5)
    assert fire_due_timers(factory) == 0
    a = reload(session, a.case_no)
    assert a.status == "running"
    assert session.scalar(select(BreachRecord).where(BreachRecord.id_number == a.id_number)) is None
    session.commit()

    # the administrator loads the official 2027 table: every provisional date is recomputed
    clock.to(2027, 1, 2, 10)
    assert _load_2027(session) == {"checked": 2, "moved": 2, "failed": 0}
    a, b = reload(session, a.case_no), reload(session, b.case_no)
    assert a.rongque_deadline == date(2027, 1, 4)  # 1 January is 元旦
    assert a.promised_on == date(2027, 1, 18)
    assert all(m.deadline == date(2027, 1, 4) for m in a.materials if m.status == "owed")
    assert a.provisional_dates is None and b.provisional_dates is None
    assert session.scalars(select(Case.case_no).where(Case.provisional_dates.is_not(None))).all() == []  # SQL NULL
    assert b.filing_due_on == date(2027, 1, 30)  # the 调休 Saturday is a working day
    assert find_task(session, b.case_no, "Task_filing").due_on == date(2027, 1, 30)
    assert b.promised_on == date(2027, 3, 3)  # 元旦 and five Spring Festival weekdays out, one Saturday in

    moved = events(session, a.case_no, "dates_recomputed")
    assert len(moved) == 1 and moved[0].actor == "admin"
    assert moved[0].payload["changes"]["rongque_deadline"] == {"from": "2027-01-01", "to": "2027-01-04"}
    assert moved[0].payload["changes"]["promised_on"] == {"from": "2027-01-15", "to": "2027-01-18"}
    assert len(events(session, b.case_no, "dates_recomputed")) == 1
    notes = {
        n.case_id: n.text for n in session.scalars(select(Notification).where(Notification.kind == "dates_recomputed"))
    }
    assert "容缺材料补齐期限由2027年1月1日改为2027年1月4日" in notes[a.id]
    assert "承诺办结时限由2027年1月15日改为2027年1月18日" in notes[a.id]
    desk = session.scalars(
        select(Notification).where(Notification.kind == "dates_recomputed_desk", Notification.case_id == b.id)
    ).all()
    assert desk and desk[0].role == "hrss" and "备案期限由2027年2月1日改为2027年1月30日" in desk[0].text
    session.commit()
    # a second load of the same table changes nothing and writes nothing
    assert _load_2027(session) == {"checked": 0, "moved": 0, "failed": 0}

    # the confirmed deadline is the one that counts: A lapses after Monday 4 January, not before
    clock.to(2027, 1, 4, 23)
    assert fire_due_timers(factory) == 0
    clock.to(2027, 1, 5, 0, 5)
    assert fire_due_timers(factory) >= 1
    a = reload(session, a.case_no)
    assert a.status == "terminated" and a.outcome_rule == "R3"
    assert session.scalar(select(BreachRecord).where(BreachRecord.id_number == a.id_number)) is not None
    session.commit()

    # B's 备案 is escalated after the 调休 Saturday, the confirmed due date
    clock.to(2027, 1, 30, 23)
    fire_due_timers(factory)
    assert not [e for e in events(session, b.case_no, "notification") if e.payload.get("kind") == "filing_escalation"]
    clock.to(2027, 1, 31, 0, 5)
    fire_due_timers(factory)
    assert [e for e in events(session, b.case_no, "notification") if e.payload.get("kind") == "filing_escalation"]


def test_provisional_dates_are_printed_as_provisional(session, factory, clock):
    import subprocess

    from webapp.issuing import render_pending
    from workflows.domain.models import Document

    clock.to(2026, 11, 20, 9)
    a = _rongque_case(session)
    assert render_pending(factory) == 2
    session.expire_all()
    docs = {d.kind: d.pdf for d in session.scalars(select(Document).where(Document.case_id == a.id))}
    session.commit()
    for kind in ("rongque_acceptance_notice", "rongque_commitment"):
        text = subprocess.run(["pdftotext", "-", "-"], input=docs[kind], capture_output=True, check=True).stdout
        flat = "".join(text.decode().split())
        assert "2027年1月1日前（暂计至2027年1月1日，以国务院公布的节假日安排为准）" in flat, kind
    assert "本件承诺于2027年1月15日前办结（暂计至2027年1月15日，以国务院公布的节假日安排为准）" in "".join(
        subprocess.run(
            ["pdftotext", "-", "-"], input=docs["rongque_acceptance_notice"], capture_output=True, check=True
        )
        .stdout.decode()
        .split()
    )


def test_demo_loads_no_holiday_table_for_next_year(tmp_path):
    """`init-db --demo-if-empty` (README production step 3) never adds a stop-gap 2027 table, which would make 2027
    count its holidays as working days in a production database; demo deadlines there are provisional instead."""
    from webapp import create_app
    from workflows.domain.models import Holiday

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/demo.sqlite3", "TESTING": True})
    r = app.test_cli_runner().invoke(args=["init-db", "--demo-if-empty"])
    assert r.exit_code == 0, r.output
    s = app.extensions["db_factory"]()
    assert s.scalars(select(Holiday)).all() == []
    assert s.scalar(select(Case).where(Case.status == "running")) is not None
    s.close()
    app.extensions["db_engine"].dispose()


def test_a_publicity_across_new_year_never_ends_on_a_provisional_day(session, factory, clock):
    """R7 公示 of 5 working days from Monday 28 December 2026: provisionally 28–31 December and 1 January; the
    official table makes 1 January 元旦, so it ends on Monday 4 January — and it never ends before that is known."""
    from .helpers import task_names, title

    clock.to(2026, 12, 28, 9)
    t1 = start(session, "senior_title_direct", title())
    t2 = start(session, "senior_title_direct", title(applicant_name="王芳", id_number="150102199202023456"), "hr_nky")
    assert find_task(session, t2.case_no, "Task_unit_review").due_on == date(2027, 1, 4)  # 5 days, provisional
    act(session, t1.case_no, "Task_unit_review")
    pub = [e for e in events(session, t1.case_no, "publicity")][-1].payload
    assert (pub["start"], pub["end"], pub["end_at"]) == ("2026-12-28", "2027-01-01", provisional.UNCONFIRMED_AT)
    session.commit()

    clock.to(2027, 1, 2, 0, 5)
    assert fire_due_timers(factory) == 0  # the provisional last day is over: the 公示 still runs
    assert task_names(session, t1.case_no) == []
    clock.to(2027, 1, 2, 10)
    assert _load_2027(session) == {"checked": 2, "moved": 2, "failed": 0}
    [moved] = events(session, t1.case_no, "dates_recomputed")
    assert moved.payload["changes"]["publicity"] == {"from": "2027-01-01", "to": "2027-01-04"}
    assert find_task(session, t2.case_no, "Task_unit_review").due_on == date(2027, 1, 5)
    [desk] = session.scalars(
        select(Notification).where(Notification.kind == "dates_recomputed_desk", Notification.case_id == t2.id)
    ).all()
    assert desk.role == "unit_hr" and "由2027年1月4日改为2027年1月5日" in desk.text
    session.commit()

    clock.to(2027, 1, 4, 23)
    assert fire_due_timers(factory) == 0
    clock.to(2027, 1, 5, 0, 5)
    assert fire_due_timers(factory) == 1
    assert task_names(session, t1.case_no) == ["Task_dept_review"]


def test_a_case_the_engine_cannot_run_does_not_stop_the_import(session, clock):
    clock.to(2026, 11, 20, 9)
    good = _rongque_case(session)
    bad = start(
        session, REG, registration(applicant_name="刘娜", id_number="150104198805052345", unit_code="U0201"), "liuna"
    )
    with transaction(session):
        row = session.get(Case, reload(session, bad.case_no).id)
        row.state = '{"broken": true}'
    clock.to(2026, 12, 1, 10)
    assert _load_2027(session) == {"checked": 2, "moved": 1, "failed": 1}
    assert reload(session, good.case_no).provisional_dates is None
    assert reload(session, bad.case_no).provisional_dates  # kept for the next import after the repair
    assert events(session, bad.case_no, "dates_recomputed") == []
