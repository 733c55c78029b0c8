"""An engine failure on a step: a clear 422 on the page (not a 500), the case marked errored, and every page that
shows the case says why — the officer's task and case pages, the administrators' incident list. Saving or publishing
a bad timer value is refused naming the element."""

from __future__ import annotations

from sqlalchemy import select

from tests.helpers import find_task, reload
from tests.test_incidents import TIMER, poison_timer_value, rongque_case
from tests.web.conftest import signed_in
from webapp.demo.samples import APPROVE_FORMS
from workflows.domain.models import ProcessDefinition
from workflows.infra.db import transaction
from workflows.services import versions as versions_svc
from workflows.services.definitions import bpmn_dir

REG = "green_channel_registration"
PUBLICITY = "publicity['end_at']"


def test_a_timer_failing_on_a_step_errors_the_case_and_every_page_says_why(web_app, db):
    case_no = rongque_case(db).case_no
    poison_timer_value(db, case_no, "P1D")
    t = find_task(db, case_no, "Task_unit_review")
    url = f"/officer/cases/{case_no}/tasks/{t.task_id}"
    hr = signed_in(web_app, "hr_nky")
    assert hr.post(url + "/claim").status_code in (302, 303)
    r = hr.post(url + "/complete", data=APPROVE_FORMS["Task_unit_review"])
    assert r.status_code == 303  # back to the task page with the reason (before: a 500, on every attempt)
    page = hr.get(r.headers["Location"]).get_data(as_text=True)
    assert "timeDate" in page and "不是时间点" in page
    assert reload(db, case_no).status == "error"

    for client, path in (
        (hr, url),
        (hr, f"/officer/cases/{case_no}"),
        (signed_in(web_app, "admin"), f"/officer/cases/{case_no}"),
    ):
        r = client.get(path)
        page = r.get_data(as_text=True)
        assert r.status_code == 200, (path, r.status_code)
        assert 'data-testid="incident"' in page and "等待系统管理员处理" in page
        assert TIMER in page and "容缺期限届满" in page and "P1D" in page
    # trying again says why instead of failing the same way
    r = hr.post(url + "/complete", data=APPROVE_FORMS["Task_unit_review"], follow_redirects=True)
    assert r.status_code == 200 and f"办件 {case_no} 流程执行出错" in r.get_data(as_text=True)

    admin = signed_in(web_app, "admin")
    r = admin.get("/admin/incidents")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and case_no in page and TIMER in page and "P1D" in page
    assert "异常办件" in admin.get("/admin/").get_data(as_text=True)  # the tab


BAD = {
    "'P1D'": "不是时间点",
    "12345": "ISO 8601 时间点文本",
    "'not a date'": "不是合法的 ISO 8601 时间点",
    "'P9000Y'": "不是时间点",
}


def test_bad_timer_values_are_refused_at_save_with_the_element(web_app):
    admin = signed_in(web_app, "admin")
    xml = (bpmn_dir() / f"{REG}.bpmn").read_text("utf-8")
    assert PUBLICITY in xml
    for value, words in BAD.items():
        r = admin.post(
            f"/admin/processes/{REG}/draft", json={"xml": xml.replace(PUBLICITY, value.replace("'", "&apos;"), 1)}
        )
        assert r.status_code == 422, value
        errors = r.get_json()["errors"]
        assert any(e["element_id"] and "timeDate" in e["message"] and words in e["message"] for e in errors), errors
    # durations: a timeDuration in place of the timeDate
    for value, words in {
        "'P4000000Y'": "超出上限",
        "'P9000Y'": "超出上限",
        "'P1X'": "不是合法的 ISO 8601 时长",
    }.items():
        edited = xml.replace(
            f'<bpmn:timeDate xsi:type="bpmn:tFormalExpression">{PUBLICITY}</bpmn:timeDate>'.replace("'", "'"),
            f'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{value}</bpmn:timeDuration>',
            1,
        )
        assert edited != xml
        r = admin.post(f"/admin/processes/{REG}/draft", json={"xml": edited})
        assert r.status_code == 422, value
        assert any("timeDuration" in e["message"] and words in e["message"] for e in r.get_json()["errors"])


def test_a_stored_version_with_a_bad_timer_value_is_not_published(web_app, db):
    admin = signed_in(web_app, "admin")
    xml = (bpmn_dir() / f"{REG}.bpmn").read_text("utf-8")
    r = admin.post(f"/admin/processes/{REG}/draft", json={"xml": xml.replace(PUBLICITY, PUBLICITY + " or None")})
    assert r.status_code == 200, r.get_json()
    v = r.get_json()["version"]
    with transaction(db):  # written around the validator (an older release, a hand edit of the database)
        row = db.scalar(
            select(ProcessDefinition).where(ProcessDefinition.process_id == REG, ProcessDefinition.version == v)
        )
        name, text = versions_svc.main_bpmn(row)
        row.source = {**row.source, "bpmn": {name: text.replace(PUBLICITY + " or None", "'P1D'")}}
    r = admin.post(f"/admin/processes/{REG}/versions/{v}/publish", data={"note": "定时器修正"})
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "未发布" in page and "timeDate" in page and "不是时间点" in page
    db.expire_all()
    row = db.scalar(
        select(ProcessDefinition).where(ProcessDefinition.process_id == REG, ProcessDefinition.version == v)
    )
    assert row.status == "draft"
    db.commit()
