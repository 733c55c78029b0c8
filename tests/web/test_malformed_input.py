"""Issue 13, item 7: malformed input is a clear 4xx (or a CLI error), never a 500 or a traceback.

NUL characters (PostgreSQL text cannot hold them), page numbers and ids beyond the database's integers, JSON
nested 1,000 (API) or 100,000 (modeler save) deep, a UTF-16 or Latin-1 definition file to `flask deploy`. Each of
these answered 500 (or printed a traceback) before webapp/input_guard.py."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import signed_in
from tests.web.test_api import Api, assert_error
from webapp import create_app

HUGE = str(2**63)
HUGER = "9" * 5000  # beyond Python's int-from-string limit too


def _is_clear_4xx(r, status: int | None = None) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.get_data(as_text=True)[:300])
    if status is not None:
        assert r.status_code == status, r.get_data(as_text=True)[:300]
    text = r.get_data(as_text=True)
    assert re.search(r"[\u4e00-\u9fff]", text), text[:300]  # a message a person can read


def test_nul_in_q_is_400_on_the_api_and_on_pages(web_app):
    api = Api(web_app, "renshe")
    for path in ("/cases?q=%00", "/tasks?q=a%00b", "/cases/150000L260302%00001"):
        assert_error(api.get(path), 400, "bad_request")
    officer = signed_in(web_app, "renshe")
    for path in ("/officer/?q=%00", "/overview?q=x%00", "/officer/cases/1%00"):
        _is_clear_4xx(officer.get(path), 400)
    # a NUL typed into a form field is refused the same way
    _is_clear_4xx(officer.post("/notifications/read", data={"id": "1\x00"}), 400)


def test_page_beyond_any_integer_is_a_clear_4xx(web_app):
    api = Api(web_app, "renshe")
    for value in (HUGE, HUGER, "-" + HUGE):
        assert_error(api.get(f"/cases?page={value}"), 422, "validation_failed")
        assert_error(api.get(f"/tasks?page={value}"), 422, "validation_failed")
    officer = signed_in(web_app, "renshe")
    for path in (f"/officer/?page={HUGE}", f"/overview?page={HUGE}", f"/overview?page={HUGER}"):
        _is_clear_4xx(officer.get(path), 400)
    applicant = signed_in(web_app, "zhangwei")
    _is_clear_4xx(applicant.get(f"/my/?page={HUGE}"), 400)


def test_huge_year_version_and_ids_on_admin_pages_and_notifications(web_app):
    admin = signed_in(web_app, "admin")
    for path in (
        f"/admin/holidays?year={HUGE}",
        f"/admin/processes/green_channel_registration/edit?version={HUGE}",
        f"/admin/processes/green_channel_registration/compare?a=1&b={HUGE}",
        f"/admin/processes/green_channel_registration/versions/{HUGE}/bpmn",
        f"/admin/processes/green_channel_registration/versions/{HUGE}/cases",
    ):
        _is_clear_4xx(admin.get(path))
    for path in (f"/admin/users/{HUGE}/active", f"/admin/quota/{HUGE}/adjust"):
        _is_clear_4xx(admin.post(path, data={}))
    _is_clear_4xx(admin.post("/admin/holidays/import", data={"year": HUGE}))
    user = signed_in(web_app, "zhangwei")
    _is_clear_4xx(user.post(f"/notifications/{HUGE}/read"), 404)
    _is_clear_4xx(user.post("/notifications/read", data={"id": [HUGE, "1"]}), 400)
    assert user.post("/notifications/read", data={"id": "²"}).status_code in (302, 303)  # not a number: ignored


def test_json_nested_too_deep_is_400(web_app):
    api = Api(web_app, "zhangwei")
    deep = "[" * 1000 + "]" * 1000
    r = api.post(
        "/cases", data='{"procedure": "x", "data": ' + deep + "}", headers={"Content-Type": "application/json"}
    )
    assert_error(r, 400, "invalid_json")
    r = api.post("/cases", data="[" * 100_000 + "]" * 100_000, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_json")
    r = api.post("/cases", data='{"procedure": "a\\u0000b", "data": {}}', headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_json")
    admin = signed_in(web_app, "admin")
    body = '{"xml": ' + "[" * 100_000 + "]" * 100_000 + "}"
    r = admin.post(
        "/admin/processes/green_channel_registration/draft", data=body, headers={"Content-Type": "application/json"}
    )
    assert 400 <= r.status_code < 500, r.status_code


@pytest.fixture
def cli_app(tmp_path, clock):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3", "TESTING": True})
    app.test_cli_runner().invoke(args=["db-upgrade"])
    yield app
    app.extensions["db_engine"].dispose()


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_deploy_of_a_file_not_in_utf8_is_a_cli_error_not_a_traceback(cli_app, tmp_path, encoding):
    folder = tmp_path / encoding
    folder.mkdir()
    path = folder / "special_post.bpmn"
    xml = "<?xml version='1.0'?><bpmn:definitions xmlns:bpmn='http://www.omg.org/spec/BPMN/20100524/MODEL' id='Définitions'/>"
    path.write_bytes(xml.encode(encoding))
    r = cli_app.test_cli_runner().invoke(args=["deploy", str(path), "--note", "编码测试"])
    assert r.exit_code == 1, r.output
    assert isinstance(r.exception, SystemExit), repr(r.exception)  # a ClickException, not an uncaught error
    assert "UTF-8" in r.output and "未部署" in r.output


# ----------------------------------------------------------------------------------------------------------------
# Item 9's mismatches between the API and its OpenAPI document (found by schemathesis, tests/web/test_api_fuzz.py)
# ----------------------------------------------------------------------------------------------------------------
def test_405_names_the_allowed_methods(web_app):
    api = Api(web_app, "renshe")
    r = api.delete("/cases")
    assert_error(r, 405)
    assert set(r.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    page = signed_in(web_app, "renshe").delete("/officer/")
    assert page.status_code == 405 and "GET" in page.headers["Allow"]


def test_documented_query_limits_are_enforced(web_app):
    api = Api(web_app, "renshe")
    for path, field in (
        ("/cases?status=nonsense", "status"),
        ("/cases?status=", "status"),
        ("/cases?procedure=x", "procedure"),
        ("/cases?q=" + "字" * 101, "q"),
        ("/cases?page=1&page=2", "page"),
        ("/definitions?process_id=" + "p" * 65, "process_id"),
        ("/definitions?process_id=%C3%86F", "process_id"),
    ):
        err = assert_error(api.get(path), 422, "validation_failed")
        assert field in err["details"]["fields"], (path, err)
    assert api.get("/cases?status=running&procedure=special_post").status_code == 200


def test_json_body_must_match_its_documented_schema(web_app):
    zhang = Api(web_app, "zhangwei")
    case_no = zhang.get("/cases").json["items"][0]["case_no"]
    err = assert_error(zhang.post(f"/cases/{case_no}/withdraw", json_body={"reason": None}), 422)
    assert "reason" in err["details"]["fields"]
    assert zhang.get(f"/cases/{case_no}").json["status"] != "withdrawn"
