"""The authorisation matrix: every route × every role × the object's scope (own unit / other unit).

For each rule of `app.url_map` (but `static` and `/vendor/…`) and each of its methods, the test signs in as each
role (anonymous, applicant, unit_hr, dept, bianban, hrss, committee, admin), fills the URL parameters from the demo
data — once with an object of the signed-in user's own scope and once with one of another unit — and sends the
request (GET, or the unsafe method with an empty body; CSRF is off for the pages, the JSON API is called with a
bearer token). It asserts:

* never a 500;
* anonymous → 302 to /login (401 JSON under /api/), unless the route is public;
* a role the route is not for → 403;
* an object outside the role's scope → 403/404, and the other unit's applicant (刘娜, her ID number) never appears
  in the body;
* in scope → 2xx/3xx for GET, anything but 401/403/404/5xx for an unsafe method (4xx validation is expected).

Who may use what is the table `ROUTES` below (endpoint → roles, the object the URL names). Scope is the rule of
`workflows.services.queries.case_scope` and `cases.can_act`, restated independently in `sees` / `acts`.
A state-changing request that succeeded is undone by restoring the database from a snapshot. On failure the test
prints the matrix (rows: routes; columns: roles; cells: own/other status) with the mismatches marked `!`; the full
matrix is written to test-output/authz-matrix.txt every run.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from tests.helpers import start_as

ROOT = Path(__file__).resolve().parents[2]
SH = ZoneInfo("Asia/Shanghai")

# ------------------------------------------------------------------------------------------------ who is who
ANON, A, HR, D, BB, RS, PW, AD = "anonymous", "applicant", "unit_hr", "dept", "bianban", "hrss", "committee", "admin"
ROLES = (ANON, A, HR, D, BB, RS, PW, AD)
SHORT = {ANON: "anon", A: "appl", HR: "hr", D: "dept", BB: "bb", RS: "hrss", PW: "pw", AD: "admin"}
USER_OF = {A: "zhangwei", HR: "hr_nky", D: "dept_kjt", BB: "bianban", RS: "renshe", PW: "pingwei", AD: "admin"}
OFFICERS = (HR, D, BB, RS, PW)
SIGNED_IN = (A,) + OFFICERS + (AD,)
PUBLIC = "public"
REGION = {BB, RS, PW}
# The other unit's applicant: never in a body shown to a role whose scope does not include U0201.
OTHER_NAME, OTHER_ID = "刘娜", "150104198805052345"
OWN_NAME, OWN_ID = "张伟", "150102199001011234"
SCOPED_ROLES = {A, HR, D}  # roles that must never see 刘娜's cases
DEPT_UNITS = {"D01": {"D01", "U0101", "U0102"}}

# ------------------------------------------------------------------------------------------------ the table
# Object kinds a URL can name: None (nothing), CASE (case_no [+ code]), TASK (case_no + task_id: lane and unit),
# DRAFT (an applicant's draft), DOC (case_no? + doc_id), TOKEN (an API token).
CASE, TASK, DRAFT, DOC, TOKEN = "case", "task", "draft", "doc", "token"


@dataclass(frozen=True)
class Route:
    roles: object  # PUBLIC or a tuple of roles
    obj: str | None = None
    case: str = "main"  # which own-scope case: main (张伟's 容缺 case), commitment (waits for his signature)
    get_ok: tuple = (200, 302, 303)
    post_ok: tuple = ()  # extra statuses an in-scope unsafe request may answer (e.g. 404: nothing to discard)
    auth: str = "bearer"  # API only: bearer token, or "session" (+ X-CSRFToken)
    doc_of_case: bool = False  # the URL names the case and the document: another case's document is not found


R = Route
API_OFFICERS = OFFICERS + (AD,)
ROUTES: dict[str, Route] = {
    # sign-in, overview, notifications, health
    "auth.login": R(PUBLIC),
    "auth.root": R(SIGNED_IN),
    "auth.logout": R(SIGNED_IN),
    "auth.change_password": R(SIGNED_IN),  # one's own password: an empty form is refused with 422
    "views.healthz": R(PUBLIC),
    "views.readyz": R(PUBLIC),
    "views.favicon": R(PUBLIC),
    "views.overview": R(OFFICERS + (AD,)),
    "views.notifications": R(SIGNED_IN),
    "views.notifications_read": R(SIGNED_IN),
    # one notice: 404 unless it is addressed to the user (its scope: tests/web/test_comfort.py)
    "views.notification_read": R(SIGNED_IN, post_ok=(404,)),
    # public verification
    "verify.form": R(PUBLIC),
    "verify.show": R(PUBLIC),
    "verify.check": R(PUBLIC),
    # applicant portal: only applicants, only their own cases and drafts
    "applicant.home": R((A,)),
    "applicant.new": R((A,)),
    "applicant.apply": R((A,)),
    "applicant.submit": R((A,)),
    "applicant.delete_draft": R((A,), DRAFT),
    "applicant.status": R((A,), CASE),
    "applicant.commitment": R((A,), CASE, case="commitment"),
    "applicant.supply": R((A,), CASE),
    "applicant.material_file": R((A,), CASE),
    # a decision about a post the applicant holds (a unit's application names them): 404 for every other document
    "applicant.held_post_document": R((A,), DOC, doc_of_case=True, get_ok=(200, 404)),
    "applicant.withdraw": R((A,), CASE),
    "applicant.resubmit": R((A,), CASE),
    "applicant.document": R((A,), DOC),
    "applicant.rate": R((A,), CASE),
    # the 权益保障 window: file (an empty form is refused with 422), rate the answer (no rating step open: back to
    # the status page)
    "applicant.rights_window": R((A,)),
    "applicant.file_complaint": R((A,)),
    "applicant.rate_complaint": R((A,), CASE),
    # officer workspace: the five officer roles, cases in their scope, tasks of their desk
    "officer.inbox": R(OFFICERS),
    "officer.case": R(OFFICERS + (AD,), CASE),
    "officer.comment": R(OFFICERS, CASE),
    "officer.task": R(OFFICERS, TASK),
    "officer.complete": R(OFFICERS, TASK),
    "officer.claim": R(OFFICERS, TASK),
    "officer.return_": R(OFFICERS, TASK),
    "officer.transfer": R(OFFICERS, TASK),
    "officer.special_post_new": R((HR,)),  # for the officer's own unit only (start_case checks it again)
    # a configured matter the unit files (事项配置); the demo has none, so the registry's procedure is not one: 404
    "officer.unit_filing": R((HR,), get_ok=(404,), post_ok=(404,)),
    # the unit HR desk answers a return of a case its unit filed (no open return: back to the case page)
    "officer.resubmit": R((HR,), CASE),
    "officer.writeoff": R((HR, RS), CASE),  # without an active special post: back to the case page
    "officer.regular_post": R((HR, RS), CASE),  # without a pending move: back to the case page
    "officer.special_posts": R((HR, D, RS, AD)),  # the special post ledger in the officer's scope
    "officer.objection": R(OFFICERS, CASE),  # outside 公示: back to the case page
    "officer.objection_file": R(OFFICERS + (AD,), CASE, get_ok=(200, 404)),  # a file no objection names: 404
    "officer.material": R(OFFICERS + (AD,), CASE),
    # documents of a case: any officer in scope sees and previews; issuing is for the desk or the issuing office
    "documents_web.index": R(OFFICERS, CASE),
    "documents_web.preview": R(OFFICERS, CASE),
    "documents_web.issue": R(OFFICERS, CASE, post_ok=(403,)),
    "documents_web.reissue": R(OFFICERS, DOC, post_ok=(403,), doc_of_case=True),
    "documents_web.pdf": R(OFFICERS, DOC, get_ok=(200, 302, 303, 409), doc_of_case=True),
    "documents_web.case_file_pdf": R(OFFICERS, CASE),  # the 卷宗: officers in scope only (not the administrator)
    # statistics: 人社, 编办 and administrators everything, a 主管部门 its units (tests/web/test_statistics_web.py)
    "statistics.index": R((D, BB, RS, AD)),
    "statistics.cases": R((D, BB, RS, AD)),
    "statistics.export": R((D, BB, RS, AD)),
    "statistics.chart_svg": R((D, BB, RS, AD)),
    # administrator console
    "admin.discard_draft": R((AD,), post_ok=(404,)),  # 404 when there is no draft to discard
    "admin.save_decision_draft": R((AD,)),
    "admin.publish_decision": R((AD,), post_ok=(409,)),
    "admin.discard_decision_draft": R((AD,), post_ok=(404,)),
    "admin.import_units": R((AD,)),  # bulk import (CSV): an empty upload is refused with 422
    "admin.units_import_template": R((AD,)),
    "admin.import_users": R((AD,)),
    "admin.users_import_template": R((AD,)),
    # 发文机关 (webapp/admin_offices.py): an empty form is refused with 422; no seal to delete or show is 404
    "admin.offices": R((AD,)),
    "admin.add_office": R((AD,)),
    "admin.office": R((AD,)),
    "admin.set_series_prefix": R((AD,)),
    "admin.upload_seal": R((AD,)),
    "admin.delete_seal": R((AD,), post_ok=(404,)),
    "admin.seal_png": R((AD,), get_ok=(200, 404)),  # 404: no seal uploaded
    # incidents (webapp/admin_incidents.py): no incident in this world, so 404 for the administrator
    "admin.incident": R((AD,), get_ok=(200, 404)),
    "admin.incident_retry": R((AD,), post_ok=(404,)),
    "admin.incident_skip": R((AD,), post_ok=(404, 422)),
    "admin.incident_cancel": R((AD,), post_ok=(404, 422)),
    "admin.incident_variable": R((AD,), post_ok=(404, 422)),
    # 事项配置 (webapp/admin_matters.py): a declared procedure's checklist; never published here, so no export (404)
    "admin.matters_list": R((AD,)),
    "admin.create_matter": R((AD,)),
    "admin.edit_matter": R((AD,)),
    "admin.save_matter": R((AD,)),
    "admin.publish_matter": R((AD,)),
    "admin.discard_matter": R((AD,)),
    "admin.export_matter": R((AD,), get_ok=(404,)),
    "admin.import_matter": R((AD,)),
    # the posts and 编制 register: 编办 reads it and adjusts 编制 (an import of post lines is refused line by line)
    "admin.posts_register": R((BB, AD)),
    "admin.set_establishment": R((BB, AD)),
    "admin.posts_template": R((BB, AD)),
    "admin.import_posts": R((BB, AD)),
    "admin.rights_report_pdf": R((AD,), get_ok=(200, 404)),  # 404: the id is not an archived 季度调度通报
    **{
        f"admin.{name}": R((AD,))
        for name in (
            "home",
            "processes",
            "versions",
            "version_bpmn",
            "edit",
            "save_draft",
            "publish",
            "compare",
            "version_cases",
            # decision tables (webapp/admin_dmn.py): an empty draft is refused with 422, a published version with 409,
            # no draft to discard with 404
            "decision_tables",
            "decision_versions",
            "decision_xml",
            "edit_decision",
            "compare_decisions",
            "simulation_page",  # simulation before publish: reads only (webapp/admin_simulation.py)
            "migration",
            "run_migration",  # an empty form is refused with 422
            "rights_topics",
            "save_rights_topic",
            "rights_report",
            "rights_report_preview",
            "users",
            "create_user",
            "update_user",
            "reset_password",
            "set_active",
            "unlock_user",
            "user_tokens",
            "revoke_token",
            "units",
            "create_unit",
            "update_unit",
            "quota",
            "adjust_quota",
            "create_pool",
            "holidays",
            "import_holidays",
            "params",
            "save_params",
            "credit_register",
            "add_credit",
            "set_credit_end",
            "credit_template",
            "import_credit",
            "breach_register",
            "lift_breach",
            "breach_template",
            "import_breach",
            "set_post",
            "achievements_register",
            "add_achievement",
            "end_achievement",
            "achievements_template",
            "import_achievements",
            "incidents",
            # signing certificates and the render queue (webapp/admin_signing.py): an empty form is refused with 422,
            # a retry of an issued document with 409
            "signing",
            "generate_certificate",
            "import_certificate",
            "certificate_pem",
            "rendering",
            "retry_rendering",
        )
    },
    # JSON API (bearer token; session + X-CSRFToken where a token cannot be used)
    "api.ping": R(PUBLIC),
    "api.openapi_document": R(PUBLIC),
    "api.me": R(SIGNED_IN),
    "api.list_tokens": R(SIGNED_IN),
    "api.create_token": R(SIGNED_IN, auth="session"),
    "api.revoke_token": R(SIGNED_IN, TOKEN),
    "api.list_cases": R(SIGNED_IN),
    "api.start_case": R((A, HR, AD)),
    "api.create_draft": R((A, HR, AD)),
    "api.get_draft": R((A, HR, AD), DRAFT),
    "api.upload_draft_material": R((A, HR, AD), DRAFT),
    "api.get_case": R(SIGNED_IN, CASE),
    "api.case_timeline": R(SIGNED_IN, CASE),
    "api.case_dossier": R(API_OFFICERS, CASE),
    "api.withdraw_case": R((A, HR, AD), CASE),
    "api.record_objection": R(API_OFFICERS, CASE),
    "api.writeoff": R((HR, RS, AD), CASE),
    "api.regular_post": R((HR, RS, AD), CASE),
    "api.inbox": R(SIGNED_IN),
    "api.complete_task": R(SIGNED_IN, TASK),
    "api.claim_task": R(API_OFFICERS, TASK),
    "api.release_task": R(API_OFFICERS, TASK),
    "api.return_task": R(API_OFFICERS, TASK),
    "api.transfer_task": R(API_OFFICERS, TASK),
    "api.upload_material": R((A, HR, AD), CASE),
    "api.material_file": R(SIGNED_IN, CASE),
    "api.case_documents": R(SIGNED_IN, CASE),
    "api.document_pdf": R(SIGNED_IN, DOC),
    "api.case_file": R(OFFICERS, CASE),
    "api.list_definitions": R(API_OFFICERS),
    "api.definition_xml": R(API_OFFICERS),
    "api.deploy_definition": R((AD,)),
    "api.list_decisions": R((AD,)),
    "api.list_decision_versions": R((AD,)),
    "api.decision_version_xml": R((AD,)),
    "api.save_decision_draft": R((AD,)),
    "api.publish_decision_version": R((AD,), post_ok=(409,)),
    "api.compare_decision_versions": R((AD,)),
    "api.simulate_definition": R((AD,)),  # reads only: a replay in memory
    "api.migrate": R((AD,)),  # an empty body is refused with 422
    "api.list_credit": R((AD,)),
    "api.add_credit": R((AD,)),
    "api.list_breach": R((AD,)),
    "api.lift_breach": R((AD,)),
    "api.list_incidents": R((AD,)),
    "api.get_incident": R((AD,), get_ok=(200, 404)),
    "api.retry_incident": R((AD,), post_ok=(404,)),
    "api.skip_incident": R((AD,), post_ok=(404, 422)),
    "api.cancel_incident": R((AD,), post_ok=(404, 422)),
    "api.set_incident_variable": R((AD,), post_ok=(404, 422)),
    "api.list_posts": R((BB, RS, AD)),
    "api.set_post": R((AD,)),
    "api.set_establishment": R((BB, AD)),
    "api.list_achievements": R(SIGNED_IN),
    "api.add_achievement": R((AD,)),
    "api.end_achievement": R((AD,)),
}
SKIP_ENDPOINTS = {"static", "views.vendor"}


# ------------------------------------------------------------------------------------------------ the world
@dataclass
class CaseRef:
    case_no: str
    unit_code: str
    id_number: str
    applicant_user_id: int | None


@dataclass
class TaskRef:
    case: CaseRef
    task_id: str
    role: str
    scope_unit_code: str | None


@dataclass
class World:
    users: dict = field(default_factory=dict)  # username → (id, role, unit_code, id_number)
    cases: dict = field(default_factory=dict)  # key → CaseRef
    tasks: list = field(default_factory=list)  # every open TaskRef
    drafts: dict = field(default_factory=dict)  # own / other → draft id
    docs: dict = field(default_factory=dict)  # own / other → (CaseRef, doc id)
    tokens: dict = field(default_factory=dict)  # username → (token id, secret)
    identities: dict = field(default_factory=dict)  # username → what the session keeps (LoginUser.get_id())
    verify_code: str = ""

    def user(self, role):
        return self.users[USER_OF[role]]


def sees(w: World, role: str, case: CaseRef) -> bool:
    """The scope rule: applicants see their own cases, unit HR their unit, a department its own subordinate
    units, the region-wide offices and the administrator everything."""
    if role in REGION or role == AD:
        return True
    uid, _r, unit, id_number = w.user(role)
    if role == A:
        return case.applicant_user_id == uid or case.id_number == id_number
    if role == HR:
        return case.unit_code == unit
    if role == D:
        return case.unit_code in DEPT_UNITS.get(unit, {unit})
    return False


def acts(w: World, role: str, task: TaskRef) -> bool:
    """The desk rule: the task's lane, and for unit-scoped desks the task's unit. The administrator sees every case
    but owns no lane, so acts on no step."""
    if role != task.role:
        return False
    if role == A:
        return sees(w, role, task.case)
    if role in REGION:
        return True
    return task.scope_unit_code == w.user(role)[2]


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def matrix_app(tmp_path_factory, demo_db_template):
    """A copy of the web tests' demo database (`flask init-db --demo`, tests/web/conftest.py), CSRF off, at
    Monday 2026-03-02 09:00 Asia/Shanghai (ticking: the matrix runs for a few seconds)."""
    traveller = time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=SH), tick=True)
    traveller.start()
    from tests.web.conftest import make_web_app

    folder = tmp_path_factory.mktemp("authz")
    app = make_web_app(folder, demo_db_template, UPLOAD_DIR=str(folder / "uploads"), SECRET_KEY="authz-matrix")
    db_path = Path(app.config["DATABASE_URL"].split("///", 1)[1])
    world = _build_world(app)
    snapshot = sqlite3.connect(":memory:")
    with sqlite3.connect(db_path) as src:
        src.backup(snapshot)
    app.config["AUTHZ_DB_PATH"] = db_path
    try:
        yield app, world, snapshot
    finally:
        app.extensions["db_engine"].dispose()
        snapshot.close()
        traveller.stop()


def _build_world(app) -> World:
    import hashlib

    from webapp import api as api_module
    from webapp import issuing
    from webapp.demo.accounts import actor_for
    from workflows.domain.models import Case, User
    from workflows.infra.db import transaction
    from workflows.services import archive, handling, sessions

    factory = app.extensions["db_factory"]
    s = factory()
    w = World()
    with transaction(s):
        for u in s.scalars(select(User)):
            w.users[u.username] = (u.id, u.role, u.unit_code, u.id_number)
            w.identities[u.username] = sessions.open_session(s, u.id, hours=24)  # a server-side session's key
    # 张伟 applies once more owing two items: his 容缺 commitment is then open (an applicant task)
    materials = [
        "id_card",
        "talent_recognition",
        "employment_contract",
        "assessment_material",
        "degree_certificate",
        "resume",
    ]
    started = start_as(
        s,
        "green_channel_registration",
        {
            "applicant_name": OWN_NAME,
            "id_number": OWN_ID,
            "unit_code": "U0101",
            "talent_category": 3,
            "introduction_mode": "rigid",
            "outside_establishment": False,
            "materials": materials,
        },
        actor_for(s, "zhangwei"),
    )
    commitment_no = started.case_no

    def ref(c: Case) -> CaseRef:
        return CaseRef(c.case_no, c.unit_code, c.id_number, c.applicant_user_id)

    s.expire_all()
    all_cases = list(s.scalars(select(Case).order_by(Case.id)))
    main = next(
        c
        for c in all_cases
        if c.applicant_name == OWN_NAME
        and c.unit_code == "U0101"
        and c.procedure == "green_channel_registration"
        and c.rongque_deadline is not None
    )
    other = next(
        c
        for c in all_cases
        if c.applicant_name == OTHER_NAME and c.unit_code == "U0201" and c.procedure == "green_channel_registration"
    )
    w.cases = {
        "main": ref(main),
        "other": ref(other),
        "commitment": ref(next(c for c in all_cases if c.case_no == commitment_no)),
    }
    for c in all_cases:
        for t in c.open_tasks:
            w.tasks.append(TaskRef(ref(c), t.task_id, t.role, t.scope_unit_code))
    # a stored file behind one material of each case (for the download route)
    upload_dir = Path(app.config["UPLOAD_DIR"])
    upload_dir.mkdir(parents=True, exist_ok=True)
    with transaction(s):
        for c in (main, other):
            content = f"%PDF-1.4 authz matrix {c.case_no}".encode()
            sha = hashlib.sha256(content).hexdigest()
            (upload_dir / sha).write_bytes(content)
            m = next(m for m in c.materials if m.code == "id_card")
            m.sha256, m.file_name = sha, "身份证.pdf"
    main_id, other_id = main.id, other.id
    s.commit()
    # drafts of both applicants; API tokens for everyone
    w.drafts["own"] = handling.save_draft(s, actor_for(s, "zhangwei"), "green_channel_registration", {}).id
    w.drafts["other"] = handling.save_draft(s, actor_for(s, "liuna"), "green_channel_registration", {}).id
    for username in list(USER_OF.values()) + ["liuna"]:
        user = s.scalar(select(User).where(User.username == username))
        row, secret = api_module.new_token(s, user, "authz matrix")
        w.tokens[username] = (row.id, secret)
    s.close()
    # render the documents of both cases (downloads need the archived PDF)
    issuing.render_pending(factory, case_id=main_id)
    issuing.render_pending(factory, case_id=other_id)
    s = factory()
    for key, cid in (("own", main_id), ("other", other_id)):
        docs = [d for d in archive.documents_of_case(s, cid) if d.sha256]
        assert docs, f"no rendered document for the {key} case"
        w.docs[key] = (w.cases["main" if key == "own" else "other"], docs[0].id)
    w.verify_code = archive.documents_of_case(s, main_id)[0].verify_code
    s.commit()
    s.close()
    return w


FINGERPRINT = """SELECT (SELECT count(*) FROM case_event), (SELECT coalesce(sum(version), 0) FROM cases),
  (SELECT count(*) FROM open_task WHERE assignee_id IS NOT NULL), (SELECT count(*) FROM material WHERE status = 'received'),
  (SELECT count(*) FROM draft), (SELECT count(*) FROM api_token WHERE revoked), (SELECT count(*) FROM app_user WHERE active),
  (SELECT count(*) FROM process_definition), (SELECT count(*) FROM unit), (SELECT coalesce(sum(total), 0) FROM quota_pool),
  (SELECT count(*) FROM setting), (SELECT count(*) FROM holiday), (SELECT count(*) FROM rating),
  (SELECT count(*) FROM correction), (SELECT count(*) FROM decision_definition)"""


def _fingerprint(app) -> tuple:
    """What a refused request must not have changed (events, case versions, claims, materials, drafts, tokens, users,
    definitions, units, quota, settings, holidays, ratings, corrections)."""
    with sqlite3.connect(app.config["AUTHZ_DB_PATH"]) as con:
        return tuple(con.execute(FINGERPRINT).fetchone())


def _restore(app, snapshot) -> None:
    """Undo whatever a request changed: close the pool, copy the snapshot back (sqlite backup API, WAL-safe)."""
    app.extensions["db_session"].remove()
    app.extensions["db_engine"].dispose()
    with sqlite3.connect(app.config["AUTHZ_DB_PATH"]) as dst:
        snapshot.backup(dst)


# ------------------------------------------------------------------------------------------------ probes
@dataclass
class Probe:
    endpoint: str
    rule: str
    method: str
    role: str
    scope: str  # own / other / mixed / -
    url: str = ""
    expected: str = ""  # open / login / forbidden / hidden / ok
    status: int = 0
    problem: str = ""


def _object_for(w: World, route: Route, role: str, scope: str):
    """The object a URL names for this role and scope, and whether the role may reach it (None: no object)."""
    if route.obj in (CASE, DOC, DRAFT, TOKEN, TASK) and role == ANON:
        scope = "own"
    if route.obj == CASE:
        case = w.cases[route.case] if scope == "own" else w.cases["other"]
        return case, sees(w, role, case) if role != ANON else False
    if route.obj == TASK:
        task = _pick_task(w, role, scope)
        if role == ANON or not sees(w, role, task.case):
            return task, False
        return task, True if acts(w, role, task) else "desk"
    if route.obj == DOC:  # mixed: my own case number with the other case's document id
        case = w.docs["own" if scope in ("own", "mixed") else "other"][0]
        doc_case, doc_id = w.docs["other" if scope in ("other", "mixed") else "own"]
        visible = (
            role != ANON
            and sees(w, role, doc_case)
            and sees(w, role, case)
            and not (route.doc_of_case and scope == "mixed")
        )
        return (case, doc_id), visible
    if route.obj == DRAFT:
        return w.drafts[scope], role == A and scope == "own"
    if route.obj == TOKEN:
        owner = USER_OF.get(role, "zhangwei") if scope == "own" else "liuna"
        return w.tokens[owner][0], role == AD or (role != ANON and scope == "own")
    return None, True


def _pick_task(w: World, role: str, scope: str) -> TaskRef:
    """own: an open task of the role's desk in a case it sees (else 张伟's main case task); other: the other unit's
    case task (a region-wide office sees it but it is not its desk)."""
    if scope == "other":
        return next(t for t in w.tasks if t.case.case_no == w.cases["other"].case_no)
    if role not in (ANON, AD):
        for t in w.tasks:
            if t.case.unit_code != "U0201" and sees(w, role, t.case) and acts(w, role, t):
                return t
    return next(t for t in w.tasks if t.case.case_no == w.cases["main"].case_no)


def _url(app, endpoint: str, rule, w: World, route: Route, obj, role: str, scope: str) -> str:
    values = {}
    for arg in rule.arguments:
        values[arg] = _fill(arg, endpoint, w, route, obj, role, scope)
    with app.test_request_context():
        from flask import url_for

        return url_for(endpoint, **values)


def _fill(arg: str, endpoint: str, w: World, route: Route, obj, role: str, scope: str):
    if arg == "case_no":
        if route.obj == CASE:
            return obj.case_no
        if route.obj == TASK:
            return obj.case.case_no
        if route.obj == DOC:
            return obj[0].case_no
    if arg == "task_id" and route.obj == TASK:
        return obj.task_id
    if arg == "doc_id" and route.obj == DOC:
        return obj[1]
    if arg == "draft_id" and route.obj == DRAFT:
        return obj
    if arg == "token_id" and route.obj == TOKEN:
        return obj
    if arg == "code":
        if endpoint.startswith("verify."):
            return w.verify_code
        if endpoint == "admin.update_unit":
            return "U0101"
        if "matter" in endpoint:
            return "green_channel_registration"  # 事项配置: a declared procedure's checklist
        if endpoint.startswith("admin."):
            return "RS"  # an issuing office
        if endpoint in ("applicant.supply", "api.upload_material"):
            return "health_check"  # owed in the main case (and listed in the other case)
        return "id_card"  # a received item with a stored file
    fixed = {
        "kind": "correction_notice",
        "fmt": "csv",
        "procedure": "green_channel_registration",
        "process_id": "green_channel_registration",
        "decision_id": "talent_eligibility",
        "version": 1,
        "user_id": w.users["hr_kjxx"][0],
        "pool_id": 1,
        "def_id": 1,
        "notification_id": 1,
        "record_id": 1,
        "incident_id": 1,
        "sha256": "0" * 64,
        "token_id": w.tokens["liuna"][0],  # the administrator revokes anyone's
        "group": "acceptance",
        "cert_id": 1,  # the demo's first signing certificate
        "doc_id": 1,  # (routes whose object is not a case's document: the render queue's retry)
    }
    if arg in fixed:
        return fixed[arg]
    raise LookupError(f"{endpoint}: no value for URL parameter <{arg}> — add it to _fill()")


def _expected(route: Route, role: str, reachable) -> str:
    if route.roles == PUBLIC:
        return "open"
    if role == ANON:
        return "login"
    if role not in route.roles:
        return "forbidden"
    if reachable == "desk":
        return "not-desk"
    return "ok" if reachable else "hidden"


def _check(p: Probe, resp, is_api: bool, route: Route) -> str:
    s = resp.status_code
    if s >= 500:
        return f"{s} server error"
    if p.expected == "open":
        return "" if s not in (401, 403) else f"public route refused ({s})"
    if p.expected == "login":
        if is_api:
            return "" if s == 401 else f"expected 401 JSON, got {s}"
        loc = resp.headers.get("Location", "")
        return "" if s in (302, 303) and "/login" in loc else f"expected 302 → /login, got {s} {loc}"
    if p.expected == "forbidden":
        return "" if s == 403 else f"expected 403 (wrong role), got {s}"
    if p.expected == "hidden":
        return "" if s in (403, 404) else f"expected 403/404 (out of scope), got {s}"
    if p.expected == "not-desk":
        return "" if s == 403 else f"expected 403 (the case is in scope but the task is not this desk's), got {s}"
    if p.method == "GET":
        return "" if s in route.get_ok else f"expected {'/'.join(map(str, route.get_ok))} (in scope), got {s}"
    if s in route.post_ok:
        return ""
    return "" if s not in (401, 403, 404) else f"expected success or validation (in scope), got {s}"


def _body_leak(p: Probe, body: str) -> str:
    if p.role in SCOPED_ROLES and (OTHER_NAME in body or OTHER_ID in body):
        return f"the other unit's applicant ({OTHER_NAME}) appears in the body"
    if p.role == ANON and any(x in body for x in (OWN_NAME, OTHER_NAME, OWN_ID, OTHER_ID)):
        return "an applicant's name or ID number appears in a body served to an anonymous visitor"
    return ""


def _send(app, w: World, p: Probe, route: Route):
    client = app.test_client()
    headers = {}
    is_api = p.url.startswith("/api/")
    if p.role != ANON:
        username = USER_OF[p.role]
        if is_api and route.auth == "bearer":
            headers["Authorization"] = f"Bearer {w.tokens[username][1]}"
        else:
            with client.session_transaction() as sess:
                sess["_user_id"] = w.identities[username]
                sess["_fresh"] = True
            if is_api and p.method not in ("GET", "HEAD"):
                me = client.get("/api/v1/auth/me").get_json() or {}
                headers["X-CSRFToken"] = me.get("csrf_token") or ""
    if is_api and p.method not in ("GET", "HEAD", "DELETE"):
        headers["Content-Type"] = "application/json"
    return client.open(
        p.url, method=p.method, headers=headers, data=b"" if p.method != "GET" else None, follow_redirects=False
    ), is_api


def _rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP_ENDPOINTS or rule.rule.startswith("/vendor/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def run_matrix(app, w: World, snapshot) -> list[Probe]:
    probes: list[Probe] = []
    for rule, method in _rules(app):
        route = ROUTES.get(rule.endpoint)
        if route is None:
            probes.append(
                Probe(
                    rule.endpoint, rule.rule, method, "-", "-", problem="no row in ROUTES: say who may use this route"
                )
            )
            continue
        for role in ROLES:
            scopes = (
                ["-"]
                if route.obj is None or role == ANON
                else (
                    ["own", "other", "mixed"] if route.obj == DOC and "case_no" in rule.arguments else ["own", "other"]
                )
            )
            for scope in scopes:
                obj, reachable = _object_for(w, route, role, scope if scope != "-" else "own")
                p = Probe(rule.endpoint, rule.rule, method, role, scope)
                try:
                    p.url = _url(app, rule.endpoint, rule, w, route, obj, role, scope)
                except LookupError as e:
                    p.problem = str(e)
                    probes.append(p)
                    continue
                p.expected = _expected(route, role, reachable)
                refused = p.expected not in ("ok", "open")
                before = _fingerprint(app) if refused and method != "GET" else None
                resp, is_api = _send(app, w, p, route)
                p.status = resp.status_code
                body = resp.get_data(as_text=True) if resp.mimetype != "application/pdf" else ""
                p.problem = _check(p, resp, is_api, route) or _body_leak(p, body)
                changed = before is not None and _fingerprint(app) != before
                if changed and not p.problem:
                    p.problem = f"refused ({p.status}) but the database changed"
                probes.append(p)
                if changed or method != "GET" and resp.status_code < 400 or rule.endpoint == "auth.logout":
                    _restore(app, snapshot)
    return probes


def render_matrix(probes: list[Probe], only_failing: bool) -> str:
    rows: dict[tuple[str, str], dict[str, list[Probe]]] = {}
    for p in probes:
        rows.setdefault((p.method, p.rule), {}).setdefault(p.role, []).append(p)
    bad_rows = {k for k, v in rows.items() if any(p.problem for ps in v.values() for p in ps)}
    width = max((len(f"{m} {r}") for m, r in rows), default=10)
    lines = [f"{'route':<{width}}  " + "  ".join(f"{SHORT[r]:<13}" for r in ROLES)]
    for key in sorted(rows):
        if only_failing and key not in bad_rows:
            continue
        cells = []
        for role in ROLES:
            ps = rows[key].get(role, [])
            cell = "/".join(f"{p.status or '?'}{'!' if p.problem else ''}" for p in ps)
            cells.append(f"{cell:<13}")
        lines.append(f"{key[0] + ' ' + key[1]:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ tests
def test_every_route_has_a_row_in_the_table(matrix_app):
    app, _w, _s = matrix_app
    endpoints = {rule.endpoint for rule, _m in _rules(app)}
    missing = sorted(endpoints - set(ROUTES))
    assert not missing, "routes without an authorisation row (add them to ROUTES): " + ", ".join(missing)


def test_authorisation_matrix(matrix_app):
    app, w, snapshot = matrix_app
    probes = run_matrix(app, w, snapshot)
    out = ROOT / "test-output"
    out.mkdir(exist_ok=True)
    routes = {(p.method, p.rule) for p in probes}
    header = (
        f"authorisation matrix: {len(routes)} route×method × {len(ROLES)} roles (own/other[/mixed] scope) = "
        f"{len(probes)} requests\ncells: status for own/other/mixed scope; ! = not as expected\n"
    )
    (out / "authz-matrix.txt").write_text(
        header
        + render_matrix(probes, only_failing=False)
        + "\n\n"
        + "\n".join(f"{p.method} {p.url or p.rule} as {p.role} ({p.scope}): {p.problem}" for p in probes if p.problem)
        + "\n",
        "utf-8",
    )
    failures = [p for p in probes if p.problem]
    if failures:
        detail = "\n".join(
            f"  {p.method} {p.url or p.rule} as {p.role} [{p.scope}] expected {p.expected}: {p.problem}"
            for p in failures
        )
        pytest.fail(
            f"{len(failures)} of {len(probes)} requests not as expected\n\n"
            f"{render_matrix(probes, only_failing=True)}\n\n{detail}",
            pytrace=False,
        )
    assert len(routes) >= 20 and len(probes) >= len(routes) * len(ROLES)
