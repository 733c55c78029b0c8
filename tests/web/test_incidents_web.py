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

    # officers read that the case is being repaired (not an error); the administrator also what failed
    for client, path in ((hr, url), (hr, f"/officer/cases/{case_no}")):
        r = client.get(path)
        page = r.get_data(as_text=True)
        assert r.status_code == 200, (path, r.status_code)
        assert 'data-testid="incident"' in page and "办件正在修复中" in page
        banner = page.split('data-testid="incident"', 1)[1].split("</div>", 1)[0]
        assert "P1D" not in banner and "timeDate" not in banner
    page = signed_in(web_app, "admin").get(f"/officer/cases/{case_no}").get_data(as_text=True)
    assert "办件正在修复中" in page and TIMER in page and "容缺期限届满" in page and "P1D" in page
    assert "/admin/incidents/" in page  # the way to repair it
    # trying again says the case is being repaired instead of failing the same way
    r = hr.post(url + "/complete", data=APPROVE_FORMS["Task_unit_review"], follow_redirects=True)
    assert r.status_code == 200 and f"办件 {case_no} 正在修复中" in r.get_data(as_text=True)
    # so does the applicant's status page
    page = signed_in(web_app, "zhangwei").get(f"/my/case/{case_no}").get_data(as_text=True)
    assert 'data-testid="repairing"' in page and "办件正在修复中" in page and "P1D" not in page

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


def _errored_case(db) -> tuple[str, dict]:
    from tests.test_incident_actions import poison_deadline_variable

    case_no = rongque_case(db).case_no
    good = poison_deadline_variable(db, case_no, "P1D")
    hr_task = find_task(db, case_no, "Task_unit_review")
    from webapp.demo.accounts import actor_for
    from workflows.domain.errors import EngineIncident
    from workflows.services import cases

    try:
        cases.complete_task(db, case_no, hr_task.task_id, APPROVE_FORMS["Task_unit_review"], actor_for(db, "hr_nky"))
    except EngineIncident:
        pass
    assert reload(db, case_no).status == "error"
    return case_no, good


def _incident_id(db, case_no: str) -> int:
    from tests.test_incident_actions import open_incident

    return open_incident(db, case_no).id


def test_the_administrator_sees_the_incident_fixes_the_data_and_retries(web_app, db):
    case_no, good = _errored_case(db)
    inc = _incident_id(db, case_no)
    admin = signed_in(web_app, "admin")
    page = admin.get("/admin/incidents").get_data(as_text=True)
    assert f"/admin/incidents/{inc}" in page
    r = admin.get(f"/admin/incidents/{inc}")
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    for words in (
        TIMER,
        "容缺期限届满",
        "P1D",
        "acceptance",
        "rongque_deadline_at",
        'id="diagram-data"',
        "重试",
        "终止办理",
    ):
        assert words in page, words
    assert f'"{TIMER}": "overdue"' in page  # the failed element, marked on the diagram

    # refused inputs: a Chinese message on the page, nothing changed
    r = admin.post(f"/admin/incidents/{inc}/variable", data={"name": "acceptance", "value": "{oops"})
    assert r.status_code == 422 and "不是合法的 JSON" in r.get_data(as_text=True)
    r = admin.post(f"/admin/incidents/{inc}/skip", data={"reason": ""})
    assert r.status_code == 422 and "请填写原因" in r.get_data(as_text=True)
    # an officer cannot repair
    hr = signed_in(web_app, "hr_nky")
    assert hr.post(f"/admin/incidents/{inc}/retry").status_code == 403
    assert hr.get(f"/admin/incidents/{inc}").status_code == 403

    import json

    r = admin.post(
        f"/admin/incidents/{inc}/variable",
        data={"name": "acceptance", "value": json.dumps(good), "reason": "期限值有误"},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "已修改变量 acceptance" in r.get_data(as_text=True)
    r = admin.post(f"/admin/incidents/{inc}/retry", data={"reason": "数据已修复"}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "已重试" in page and 'data-testid="resolution"' in page
    assert reload(db, case_no).status == "running"
    page = admin.get(f"/officer/cases/{case_no}").get_data(as_text=True)
    assert "修复数据" in page and "异常重试" in page  # in the case's trail


def test_a_retry_that_fails_again_shows_the_new_incident_not_a_500(web_app, db):
    case_no, _good = _errored_case(db)
    inc = _incident_id(db, case_no)
    admin = signed_in(web_app, "admin")
    r = admin.post(f"/admin/incidents/{inc}/retry")
    assert r.status_code == 302
    newer = _incident_id(db, case_no)
    assert newer != inc and r.headers["Location"].endswith(f"/admin/incidents/{newer}")
    page = admin.get(r.headers["Location"]).get_data(as_text=True)
    assert "处理后再次出错" in page and "P1D" in page


def test_the_api_lists_retries_skips_and_cancels_incidents(api_app, dbs):
    from tests.web.test_api import Api, assert_error

    admin = Api(api_app, "admin")
    case_no, good = _errored_case(dbs)
    inc = _incident_id(dbs, case_no)
    items = admin.get("/incidents").json["items"]
    assert [i["id"] for i in items] == [inc] and items[0]["element_id"] == TIMER
    detail = admin.get(f"/incidents/{inc}").json
    assert detail["relevant"]["acceptance"]["rongque_deadline_at"] == "P1D" and detail["can_skip"]
    assert_error(Api(api_app, "renshe").get("/incidents"), 403)
    assert_error(Api(api_app, "hr_nky").post(f"/incidents/{inc}/cancel", json_body={"reason": "x"}), 403)
    assert_error(admin.get("/incidents/999999"), 404)

    err = assert_error(admin.post(f"/incidents/{inc}/retry", json_body={}), 422, "engine_incident")
    assert "P1D" in err["message"]
    inc = _incident_id(dbs, case_no)
    assert_error(admin.post(f"/incidents/{inc}/variables", json_body={"name": "x", "value": {"typename": 1}}), 422)
    fixed = admin.post(f"/incidents/{inc}/variables", json_body={"name": "acceptance", "value": good})
    assert fixed.status_code == 200 and fixed.json["relevant"]["acceptance"] == good
    done = admin.post(f"/incidents/{inc}/retry", json_body={"reason": "修复"})
    assert done.status_code == 200 and done.json["resolution"] == "retry" and done.json["case_status"] == "running"
    assert_error(admin.post(f"/incidents/{inc}/retry", json_body={}), 409)

    other, _ = _errored_case(dbs)
    inc = _incident_id(dbs, other)
    assert_error(admin.post(f"/incidents/{inc}/cancel", json_body={"reason": ""}), 422)
    done = admin.post(f"/incidents/{inc}/cancel", json_body={"reason": "无法修复"})
    assert done.status_code == 200 and done.json["case_status"] == "terminated"

    third, _ = _errored_case(dbs)
    inc = _incident_id(dbs, third)
    done = admin.post(f"/incidents/{inc}/skip", json_body={"reason": "按期满处理"})
    assert done.status_code == 200 and done.json["resolution"] == "skip"
