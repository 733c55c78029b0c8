"""The JSON API (/api/v1): authentication (bearer token or session + X-CSRFToken), scope, optimistic locking,
uploads, idempotency, definitions, documents, and the OpenAPI document against `app.url_map`.

Each test gets its own copy of the demo database (`flask init-db --demo` run once under the frozen clock, see
tests/web/conftest.py) with CSRF checking switched on and its own UPLOAD_DIR."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from pathlib import Path

from sqlalchemy import func, select

from tests.web.conftest import bearer, login
from webapp import api as api_module
from workflows.domain.models import ApiToken, Case, CaseEvent, InboundMessage, MessageSubscription

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64
BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"


class Api:
    """A test client speaking JSON as one user, by bearer token."""

    def __init__(self, app, username: str):
        self.client = app.test_client()
        self.headers = bearer(app, username)

    def __getattr__(self, method):
        def call(path, json_body=None, headers=None, **kw):
            h = {**self.headers, **(headers or {})}
            if json_body is not None:
                kw["json"] = json_body
            return getattr(self.client, method)("/api/v1" + path, headers=h, **kw)

        return call


def session_client(app, username: str):
    c = app.test_client()
    login(c, username)
    r = c.get("/api/v1/auth/me")
    assert r.status_code == 200 and r.json["auth"] == "session"
    return c, r.json["csrf_token"]


def case_where(s, *conds) -> Case:
    case = s.scalar(select(Case).where(*conds).order_by(Case.id))
    assert case is not None
    s.commit()
    return case


def assert_error(r, status: int, code: str | None = None):
    assert r.status_code == status, r.get_data(as_text=True)[:500]
    assert r.is_json, r.get_data(as_text=True)[:200]
    err = r.json["error"]
    assert err["message"] and re.search(r"[\u4e00-\u9fff]", err["message"]), err
    if code:
        assert err["code"] == code, err
    return err


# ----------------------------------------------------------------------------------------------------------------
# Authentication
# ----------------------------------------------------------------------------------------------------------------
def test_no_credentials_is_401_json_never_a_redirect(api_app):
    c = api_app.test_client()
    for method, path in (
        ("get", "/api/v1/cases"),
        ("post", "/api/v1/cases"),
        ("get", "/api/v1/tasks"),
        ("get", "/api/v1/definitions"),
        ("post", "/api/v1/auth/tokens"),
    ):
        r = getattr(c, method)(path)
        assert_error(r, 401, "unauthorized")
        assert "Location" not in r.headers and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(c.get("/api/v1/cases", headers={"Authorization": "Bearer nope"}), 401, "unauthorized")
    assert_error(c.get("/api/v1/cases", headers={"Authorization": "Basic eDp5"}), 401, "unauthorized")
    assert_error(c.get("/api/v1/no-such-route"), 404)
    assert_error(c.delete("/api/v1/cases"), 405)
    assert c.get("/api/v1/ping").json == {"status": "ok"}


def test_token_lifecycle_session_creates_bearer_uses_revoked_refused(api_app, dbs):
    c, csrf = session_client(api_app, "hr_nky")
    r = c.post("/api/v1/auth/tokens", json={"name": "对接系统"}, headers={"X-CSRFToken": csrf})
    assert r.status_code == 201, r.json
    secret, token_id = r.json["token"], r.json["id"]
    row = dbs.get(ApiToken, token_id)
    assert row.token_sha256 == hashlib.sha256(secret.encode()).hexdigest() and row.name == "对接系统"
    assert secret not in json.dumps({c.name: str(getattr(row, c.name)) for c in ApiToken.__table__.columns})
    dbs.commit()

    t = api_app.test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    me = t.get("/api/v1/auth/me", headers=auth)
    assert me.status_code == 200 and me.json["username"] == "hr_nky" and me.json["auth"] == "token"
    assert me.json["csrf_token"] is None and "Set-Cookie" not in me.headers
    page = t.get("/api/v1/cases", headers=auth)
    assert page.status_code == 200 and page.json["total"] > 0
    assert {"items", "total", "page", "per_page"} <= set(page.json)
    dbs.expire_all()
    assert dbs.get(ApiToken, token_id).last_used_at is not None
    dbs.commit()
    # the list shows no secret; a token cannot mint tokens (session only)
    listed = t.get("/api/v1/auth/tokens", headers=auth).json["items"]
    assert [x["id"] for x in listed] == [token_id] and "token" not in listed[0]
    assert_error(t.post("/api/v1/auth/tokens", json={}, headers=auth), 403, "forbidden")
    # someone else cannot revoke it; its owner can (a bearer request needs no CSRF header)
    other = Api(api_app, "hr_nmgu")
    assert_error(other.delete(f"/auth/tokens/{token_id}"), 404)
    assert t.delete(f"/api/v1/auth/tokens/{token_id}", headers=auth).status_code == 204
    assert_error(t.get("/api/v1/cases", headers=auth), 401, "unauthorized")


def test_session_unsafe_request_needs_the_csrf_header(api_app):
    c, csrf = session_client(api_app, "zhangwei")
    assert c.get("/api/v1/cases").status_code == 200  # safe methods need no header
    err = assert_error(c.post("/api/v1/auth/tokens", json={}), 400, "csrf_failed")
    assert "CSRF" in err["message"]
    assert_error(c.post("/api/v1/auth/tokens", json={}, headers={"X-CSRFToken": "forged"}), 400, "csrf_failed")
    assert_error(c.post("/api/v1/cases/X/withdraw", json={}), 400, "csrf_failed")
    assert c.post("/api/v1/auth/tokens", json={}, headers={"X-CSRFToken": csrf}).status_code == 201


def test_invalid_json_and_wrong_shapes(api_app):
    hr = Api(api_app, "hr_nky")
    r = hr.post("/cases", data="{not json", headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_json")
    assert_error(hr.post("/cases", json_body=[1, 2]), 400, "invalid_json")
    err = assert_error(
        hr.post("/cases", json_body={"procedure": "special_post", "data": "x"}), 422, "validation_failed"
    )
    assert "data" in err["details"]["fields"]
    assert_error(hr.post("/cases", json_body={"procedure": "special_post", "data": {}, "extra": 1}), 422)
    err = assert_error(hr.post("/cases", json_body={"procedure": "special_post", "data": {"post_name": "x"}}), 422)
    assert "holder_name" in err["details"]["fields"]
    assert_error(hr.get("/cases?page=0"), 422)
    assert_error(hr.get("/tasks?tab=nonsense"), 422)


# ----------------------------------------------------------------------------------------------------------------
# Cases and tasks
# ----------------------------------------------------------------------------------------------------------------
def test_start_list_get_and_complete_with_optimistic_locking(api_app):
    hr = Api(api_app, "hr_nky")
    data = {
        "post_name": "智慧牧场首席工程师",
        "post_level": "专业技术三级",
        "term_months": 24,
        "holder_name": "韩雪",
        "holder_id_number": "150102198807074321",
        "unit_code": "U0101",
        "unit_has_vacancy_at_level": False,
        "reason": "数字牧业关键技术攻关",
    }
    # the materials: files uploaded to a draft first, then the case started from it
    draft = hr.post("/drafts", json_body={"procedure": "special_post", "data": data})
    assert draft.status_code == 201, draft.json
    for code, content in (("post_plan", PDF), ("holder_id_card", PNG)):
        up = hr.post(f"/drafts/{draft.json['id']}/materials/{code}", data={"file": (io.BytesIO(content), "x")})
        assert up.status_code == 200, up.json
    r = hr.post("/cases", json_body={"procedure": "special_post", "data": data, "draft_id": draft.json["id"]})
    assert r.status_code == 201, r.json
    case = r.json
    case_no = case["case_no"]
    assert r.headers["Location"].endswith(f"/api/v1/cases/{case_no}")
    assert case["status"] == "running" and case["procedure"] == "special_post" and case["version"] >= 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", case["created_at"])
    assert {m["code"] for m in case["materials"]} >= {"post_plan", "holder_id_card"}

    listed = hr.get(f"/cases?q={case_no}").json
    assert listed["total"] == 1 and listed["items"][0]["case_no"] == case_no
    assert hr.get("/cases?procedure=special_post&per_page=2").json["per_page"] == 2
    assert all(i["status"] == "refused" for i in hr.get("/cases?status=refused").json["items"])

    dept = Api(api_app, "dept_kjt")
    got = dept.get(f"/cases/{case_no}").json
    task = next(t for t in got["open_tasks"] if t["spec_name"] == "Task_dept_review")
    assert task["role"] == "dept" and task["scope_unit_code"] == "D01"
    assert task["due_on"] is None or re.fullmatch(r"\d{4}-\d\d-\d\d", task["due_on"])
    inbox = dept.get("/tasks?tab=group").json
    assert any(t["task_id"] == task["task_id"] for t in inbox["items"]) and inbox["counts"]["group"] >= 1
    assert dept.get(f"/tasks?tab=group&q={case_no}").json["total"] == 1

    path = f"/tasks/{case_no}/{task['task_id']}/complete"
    form = {"dept_decision": "approve", "dept_opinion": "同意"}
    stale = dept.post(path, json_body={"data": form, "version": got["version"] - 1})
    err = assert_error(stale, 409, "conflict")
    assert err["details"]["current_version"] == got["version"]
    assert_error(dept.post(path, json_body={"data": form, "version": "1"}), 422)
    assert_error(dept.post(path, json_body={"data": {"dept_decision": "maybe"}, "version": got["version"]}), 422)
    ok = dept.post(path, json_body={"data": form, "version": got["version"]})
    assert ok.status_code == 200, ok.json
    assert ok.json["version"] > got["version"]
    assert [t["spec_name"] for t in ok.json["open_tasks"]] == ["Task_hrss_approval"]
    # the same step again: it is no longer open
    assert_error(dept.post(path, json_body={"data": form}), 409)

    timeline = dept.get(f"/cases/{case_no}/timeline").json["items"]
    assert [e["seq"] for e in timeline] == sorted(e["seq"] for e in timeline)
    assert any(e["action"] == "task_completed" and e["actor"] == "dept_kjt" for e in timeline)


def test_scope_other_unit_gets_404_on_the_case_and_403_on_its_task(api_app, dbs):
    case = case_where(dbs, Case.unit_code == "U0101", Case.procedure == "senior_title_direct", Case.status == "running")
    task = case.open_tasks[0]
    assert task.spec_name == "Task_unit_review"
    dbs.commit()
    other = Api(api_app, "hr_nmgu")  # 内蒙古大学: another unit
    assert_error(other.get(f"/cases/{case.case_no}"), 404, "not_found")
    assert_error(other.get(f"/cases/{case.case_no}/timeline"), 404)
    assert_error(other.get(f"/cases/{case.case_no}/documents"), 404)
    assert case.case_no not in {c["case_no"] for c in other.get("/cases?per_page=100").json["items"]}
    for action, body in (
        ("complete", {"data": {}, "version": 1}),
        ("claim", None),
        ("release", None),
        ("return", {"reason": "x"}),
        ("transfer", {"to": "hr_nmgu"}),
    ):
        assert_error(other.post(f"/tasks/{case.case_no}/{task.task_id}/{action}", json_body=body), 403, "forbidden")
    # a stale version does not leak the current one to someone out of scope
    assert "current_version" not in json.dumps(
        other.post(f"/tasks/{case.case_no}/{task.task_id}/complete", json_body={"version": 0}).json
    )
    # the wrong role for the route is 403 too
    assert_error(Api(api_app, "zhangwei").post(f"/tasks/{case.case_no}/{task.task_id}/claim"), 403)
    assert_error(
        other.post(f"/cases/{case.case_no}/objections", json_body={"text": "x"}, headers={"Idempotency-Key": "k"}), 404
    )


def test_claim_release_transfer_and_return(api_app, dbs):
    case = case_where(dbs, Case.unit_code == "U0101", Case.procedure == "senior_title_direct", Case.status == "running")
    task_id = case.open_tasks[0].task_id
    dbs.commit()
    hr = Api(api_app, "hr_nky")
    base = f"/tasks/{case.case_no}/{task_id}"
    r = hr.post(base + "/claim")
    assert r.status_code == 200 and r.json["assignee"] == "hr_nky"
    assert any(t["task_id"] == task_id for t in hr.get("/tasks?tab=mine").json["items"])
    r = hr.post(base + "/release")
    assert r.status_code == 200 and r.json["assignee"] is None
    assert_error(hr.post(base + "/transfer", json_body={"to": "nobody"}), 404)
    assert_error(hr.post(base + "/transfer", json_body={"to": "hr_nmgu"}), 422)
    assert_error(hr.post(base + "/return", json_body={"reason": " "}), 422)
    r = hr.post(base + "/return", json_body={"reason": "请补充学位证书", "items": ["degree_certificate"]})
    assert r.status_code == 200, r.json
    assert r.json["status"] == "returned"


def test_withdraw(api_app, dbs):
    case = case_where(dbs, Case.procedure == "senior_title_direct", Case.applicant_name == "张伟")
    assert_error(Api(api_app, "liuna").post(f"/cases/{case.case_no}/withdraw", json_body={}), 404)
    r = Api(api_app, "zhangwei").post(f"/cases/{case.case_no}/withdraw", json_body={"reason": "另有安排"})
    assert r.status_code == 200 and r.json["status"] == "withdrawn" and r.json["open_tasks"] == []
    assert_error(Api(api_app, "zhangwei").post(f"/cases/{case.case_no}/withdraw"), 409, "conflict")


# ----------------------------------------------------------------------------------------------------------------
# Materials
# ----------------------------------------------------------------------------------------------------------------
def _owed_case(s) -> Case:
    return case_where(s, Case.rongque_deadline.is_not(None), Case.applicant_name == "张伟")


def _stored(app) -> list[str]:
    d = app.config["UPLOAD_DIR"]
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_material_upload_pdf_received_exe_refused_too_large_refused(api_app, dbs):
    case = _owed_case(dbs)
    zhang = Api(api_app, "zhangwei")
    url = f"/cases/{case.case_no}/materials/health_check"

    r = zhang.post(url, data={"file": (io.BytesIO(EXE), "体检.pdf")}, content_type="multipart/form-data")
    assert_error(r, 415, "unsupported_media_type")
    big = b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024 + 1)
    r = zhang.post(url, data={"file": (io.BytesIO(big), "big.pdf")}, content_type="multipart/form-data")
    assert_error(r, 413, "too_large")
    assert_error(zhang.post(url, json_body={"file": "x"}), 415)
    assert _stored(api_app) == []  # nothing kept of the refused files

    r = zhang.post(url, data={"file": (io.BytesIO(PDF), "../../体检报告.pdf")}, content_type="multipart/form-data")
    assert r.status_code == 200, r.json
    item = next(m for m in r.json["materials"] if m["code"] == "health_check")
    sha = hashlib.sha256(PDF).hexdigest()
    assert item["status"] == "received" and item["sha256"] == sha and item["file_name"] == "体检报告.pdf"
    assert _stored(api_app) == [sha]
    assert (Path(api_app.config["UPLOAD_DIR"]) / sha).read_bytes() == PDF
    # the same file again is the same upload (one effect); another item cannot be supplied twice
    r = zhang.post(url, data={"file": (io.BytesIO(PDF), "体检报告.pdf")}, content_type="multipart/form-data")
    assert r.status_code == 200 and r.headers["Idempotent-Replayed"] == "true"
    r = zhang.post(url, data={"file": (io.BytesIO(PNG), "scan.png")}, content_type="multipart/form-data")
    assert_error(r, 409, "conflict")
    assert _stored(api_app) == [sha]
    assert_error(
        zhang.post(
            f"/cases/{case.case_no}/materials/nonexistent",
            data={"file": (io.BytesIO(PNG), "a.png")},
            content_type="multipart/form-data",
        ),
        404,
    )
    # the last owed item (a PNG) lets the process go on
    r = zhang.post(
        f"/cases/{case.case_no}/materials/no_crime_record",
        data={"file": (io.BytesIO(PNG), "无犯罪记录.png")},
        content_type="multipart/form-data",
        headers={"Idempotency-Key": "supply-1"},
    )
    assert r.status_code == 200, r.json
    assert all(m["status"] != "owed" for m in r.json["materials"]) and r.json["complete_on"] == "2026-03-02"
    # another applicant's case is not found
    assert_error(
        Api(api_app, "liuna").post(url, data={"file": (io.BytesIO(PDF), "a.pdf")}, content_type="multipart/form-data"),
        404,
    )


# ----------------------------------------------------------------------------------------------------------------
# Messages: objections (R7) and 核销 (R8)
# ----------------------------------------------------------------------------------------------------------------
def test_objection_is_idempotent_by_key(api_app, dbs):
    case = case_where(
        dbs,
        Case.unit_code == "U0101",
        Case.id.in_(select(MessageSubscription.case_id).where(MessageSubscription.message_name == "objection")),
    )
    hr = Api(api_app, "hr_nky")
    url = f"/cases/{case.case_no}/objections"
    body = {"text": "公示期间收到实名异议：业绩材料存疑", "by": "群众来信"}
    assert_error(hr.post(url, json_body=body), 400, "bad_request")  # the key is required
    first = hr.post(url, json_body=body, headers={"Idempotency-Key": "obj-0001"})
    assert first.status_code == 200, first.json
    assert first.headers["Idempotent-Replayed"] == "false"
    second = hr.post(url, json_body=body, headers={"Idempotency-Key": "obj-0001"})
    assert second.status_code == 200 and second.headers["Idempotent-Replayed"] == "true"
    assert second.json["version"] == first.json["version"]
    dbs.expire_all()
    n = dbs.scalar(
        select(func.count())
        .select_from(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.action == "message", CaseEvent.task_name == "objection")
    )
    assert n == 1
    assert (
        dbs.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.correlation_key == case.case_no, InboundMessage.message_name == "objection")
        )
        == 1
    )
    dbs.commit()
    assert_error(hr.post(url, json_body={"text": " "}, headers={"Idempotency-Key": "obj-0002"}), 422)
    assert_error(Api(api_app, "zhangwei").post(url, json_body=body, headers={"Idempotency-Key": "x"}), 403)


def test_writeoff_of_a_special_post(api_app, dbs):
    case = case_where(
        dbs,
        Case.id.in_(
            select(MessageSubscription.case_id).where(MessageSubscription.message_name == "special_post_writeoff")
        ),
    )
    hr = Api(api_app, "hr_nky")
    assert_error(hr.post(f"/cases/{case.case_no}/writeoff", json_body={"reason": "bored"}), 422)
    assert_error(
        Api(api_app, "hr_nmgu").post(f"/cases/{case.case_no}/writeoff", json_body={"reason": "task_done"}), 404
    )
    r = hr.post(f"/cases/{case.case_no}/writeoff", json_body={"reason": "task_done"})
    assert r.status_code == 200, r.json
    again = hr.post(f"/cases/{case.case_no}/writeoff", json_body={"reason": "task_done"})
    assert again.status_code == 200 and again.json["version"] == r.json["version"]


# ----------------------------------------------------------------------------------------------------------------
# Documents
# ----------------------------------------------------------------------------------------------------------------
def test_documents_list_and_pdf(api_app, dbs):
    from workflows.services import archive

    case = case_where(dbs, Case.status == "completed", Case.procedure == "green_channel_registration")
    docs = archive.documents_of_case(dbs, case.id)
    dbs.commit()
    assert docs, "the demo's completed registration has documents"
    hr = Api(api_app, "hr_nky")
    items = hr.get(f"/cases/{case.case_no}/documents").json["items"]
    assert {d["doc_no"] for d in items} == {d.doc_no for d in docs}
    assert all(re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", d["verify_code"]) for d in items)
    issued = [d for d in items if d["sha256"]]
    assert issued, "init-db --demo renders the demo's documents"
    for d in issued:
        r = hr.get(d["pdf_url"].removeprefix("/api/v1"))
        assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF-")
        assert hashlib.sha256(r.data).hexdigest() == d["sha256"] == r.headers["X-Content-SHA256"]
    pending = [d for d in items if not d["sha256"]]
    for d in pending:
        assert_error(hr.get(f"/documents/{d['id']}/pdf"), 409)
    any_doc = items[0]["id"]
    assert_error(Api(api_app, "hr_nmgu").get(f"/documents/{any_doc}/pdf"), 404)
    assert_error(hr.get("/documents/999999/pdf"), 404)
    assert_error(hr.get("/documents/99999999999999999999999999/pdf"), 404)  # beyond any id: 404, not a 500


# ----------------------------------------------------------------------------------------------------------------
# Definitions
# ----------------------------------------------------------------------------------------------------------------
def test_definitions_list_xml_and_a_broken_definition_is_422_with_the_element(api_app):
    admin = Api(api_app, "admin")
    items = admin.get("/definitions").json["items"]
    published = {d["process_id"] for d in items if d["status"] == "published"}
    assert published == {
        "green_channel_registration",
        "special_post",
        "senior_title_direct",
        "senior_post_level2",
        "rights_complaint",
    }
    assert all(re.fullmatch(r"[0-9a-f]{64}", d["sha256"]) and d["version"] >= 1 for d in items)
    sp = next(d for d in items if d["process_id"] == "special_post")
    xml = admin.get(sp["xml_url"].removeprefix("/api/v1"))
    assert xml.status_code == 200 and xml.mimetype == "application/xml" and b"bpmn:definitions" in xml.data
    assert Api(api_app, "dept_kjt").get("/definitions").status_code == 200
    assert_error(Api(api_app, "zhangwei").get("/definitions"), 403)
    assert_error(admin.get("/definitions/999999/xml"), 404)

    source = (BPMN_DIR / "special_post.bpmn").read_text("utf-8")
    broken = source.replace("post_check['eligible']</bpmn", "__import__('os').system('id')</bpmn", 1)
    assert broken != source
    body = {"process_id": "special_post", "bpmn_xml": broken}
    assert_error(Api(api_app, "renshe").post("/definitions", json_body=body), 403)
    err = assert_error(admin.post("/definitions", json_body=body), 422, "validation_failed")
    found = [e for e in err["details"]["errors"] if e["element_id"] == "Flow_post_check_to_dept_review"]
    assert found and found[0]["line"] and found[0]["message"]
    assert_error(admin.post("/definitions", json_body={"process_id": "special_post", "bpmn_xml": "<oops"}), 422)
    assert_error(admin.post("/definitions", json_body={"process_id": "../x", "bpmn_xml": source}), 422)
    # nothing was stored; the same source again is the existing version (200), a changed one a new version (201)
    assert len(admin.get("/definitions?process_id=special_post").json["items"]) == 1
    same = admin.post("/definitions", json_body={"process_id": "special_post", "bpmn_xml": source, "note": "同一内容"})
    assert same.status_code == 200 and same.json["id"] == sp["id"]
    changed = source.replace("</bpmn:definitions>", "<!-- v2 -->\n</bpmn:definitions>")
    new = admin.post("/definitions", json_body={"process_id": "special_post", "bpmn_xml": changed, "publish": False})
    assert new.status_code == 201 and new.json["version"] == sp["version"] + 1 and new.json["status"] == "draft"
    # publishing asks for a release note (after validation: a broken definition still lists its problems)
    third = changed.replace("<!-- v2 -->", "<!-- v3 -->")
    err = assert_error(admin.post("/definitions", json_body={"process_id": "special_post", "bpmn_xml": third}), 422)
    assert "请填写发布说明" in err["message"]
    body = {"process_id": "special_post", "bpmn_xml": third, "note": "修订特设岗位说明"}
    published = admin.post("/definitions", json_body=body)
    assert published.status_code == 201 and published.json["status"] == "published"
    assert [n["note"] for n in published.json["release_notes"]] == ["修订特设岗位说明"]


# ----------------------------------------------------------------------------------------------------------------
# OpenAPI
# ----------------------------------------------------------------------------------------------------------------
def _api_routes(app) -> set[tuple[str, str]]:
    out = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule.rule)
            out |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return out


def test_openapi_document_is_valid_and_lists_every_route(api_app):
    from openapi_spec_validator import validate

    r = api_app.test_client().get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.is_json
    doc = r.json
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert documented == _api_routes(api_app)
    assert {"Case", "Task", "Material", "Error", "Page"} <= set(doc["components"]["schemas"])
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "cookie"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert any(c.startswith("2") for c in codes), (path, method)
            if op["security"]:
                assert "401" in codes, (path, method)
            for name in re.findall(r"{(\w+)}", path):
                assert any(p.get("name") == name and p["in"] == "path" for p in op.get("parameters", [])), (path, name)


def test_cli_create_token(api_app):
    if "create-token" not in api_app.cli.commands:
        api_module.register_api_cli(api_app)
    r = api_app.test_cli_runner().invoke(args=["create-token", "renshe", "--name", "对接"])
    assert r.exit_code == 0, r.output
    secret = r.output.strip().splitlines()[-1]
    c = api_app.test_client()
    assert c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"}).json["username"] == "renshe"
    assert api_app.test_cli_runner().invoke(args=["create-token", "nobody"]).exit_code != 0
