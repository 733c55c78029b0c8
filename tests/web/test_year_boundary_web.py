"""The year boundary on the pages (issue 12 item 1): the applicant's status page shows provisional dates as such,
administrators are warned from 1 October, and importing the official table through the console recomputes."""

from __future__ import annotations

from sqlalchemy import select

from tests.helpers import act, registration, start
from workflows.domain.models import Case, CaseEvent

from .conftest import signed_in

NOTE = "暂计至2027年1月1日，以国务院公布的节假日安排为准"
TABLE_2027 = "date,is_working_day,name\n2027-01-01,0,元旦\n2027-01-30,1,春节调休上班\n2027-02-05,0,春节\n"


def _text(r) -> str:
    return r.get_data(as_text=True)


def test_provisional_dates_on_the_status_page_the_admin_warning_and_the_import(web_app, db, clock):
    import io

    clock.to(2026, 11, 20, 9)
    mats = [m for m in registration()["materials"] if m not in ("health_check", "no_crime_record")]
    c = start(db, "green_channel_registration", registration(materials=mats))
    act(db, c.case_no, "Task_rongque_commitment")
    db.commit()

    zhang = signed_in(web_app, "zhangwei")
    page = _text(zhang.get(f"/my/case/{c.case_no}"))
    assert NOTE in page  # the owed items' deadline
    assert "暂计至2027年1月15日，以国务院公布的节假日安排为准" in page  # 承诺时限
    english = _text(zhang.get(f"/my/case/{c.case_no}?lang=en"))
    assert "provisionally 2027年1月1日, subject to the holiday arrangement published by the State Council" in english

    officer = signed_in(web_app, "hr_nky")
    assert NOTE in _text(officer.get(f"/officer/cases/{c.case_no}"))
    api = officer.get(f"/api/v1/cases/{c.case_no}").get_json()
    assert {"promised_on", "rongque_deadline"} <= set(api["provisional_dates"])

    admin = signed_in(web_app, "admin")
    home = _text(admin.get("/admin/"))
    assert 'data-testid="calendar-warning"' in home and "2027 年节假日安排尚未导入" in home
    # (before 1 October there is none: tests/test_scenario_year_boundary.py)

    r = admin.post(
        "/admin/holidays/import",
        data={"year": "2027", "file": (io.BytesIO(TABLE_2027.encode()), "2027.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code in (302, 303)
    flashed = _text(admin.get("/admin/holidays?year=2027"))
    assert "复核 1 件办件的暂计期限，其中 1 件期限调整" in flashed
    assert 'data-testid="calendar-warning"' not in flashed
    db.expire_all()
    case = db.scalar(select(Case).where(Case.case_no == c.case_no))
    assert str(case.rongque_deadline) == "2027-01-04" and case.provisional_dates is None
    moved = db.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "dates_recomputed")
    ).all()
    assert len(moved) == 1 and moved[0].actor == "admin"
    db.commit()
    page = _text(zhang.get(f"/my/case/{c.case_no}"))
    assert "暂计至" not in page and "2027年1月4日" in page
    assert officer.get(f"/api/v1/cases/{c.case_no}").get_json()["provisional_dates"] == []
