"""Issue 13, items 1 and 2: a case start trusts nothing the client declares, and a special post's holder sees the
decision about their post — not the unit's application — and cannot withdraw it.

Each test failed before the fix: the API accepted `materials` without any file under any name and issued a
numbered 受理通知书; the holder (matched by ID number) read and withdrew the unit's application."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from tests.web.conftest import signed_in
from tests.web.test_api import PDF, PNG, Api, assert_error
from webapp.demo.accounts import DEMO_PASSWORD, actor_for
from webapp.demo.samples import ALL_REG_MATERIALS
from workflows.domain.errors import Forbidden
from workflows.domain.models import Case, Counter, Document, Draft, Material, User
from workflows.domain.passwords import hash_password
from workflows.domain.procedures import REGISTRATION, SPECIAL_POST
from workflows.infra.db import transaction
from workflows.services import cases as case_svc

ZHANG = {"applicant_name": "张伟", "id_number": "150102199001011234"}
KEY = [m.code for m in REGISTRATION.materials if m.is_key]


def reg_form(**over) -> dict:
    return {
        **ZHANG,
        "unit_code": "U0101",
        "talent_category": 3,
        "introduction_mode": "rigid",
        "outside_establishment": False,
        **over,
    }


def counts(s) -> tuple[int, int, int]:
    """Cases, documents and the numbers handed out (case and 文号 counters): an attack must change none."""
    out = (
        s.scalar(select(func.count()).select_from(Case)),
        s.scalar(select(func.count()).select_from(Document)),
        s.scalar(select(func.coalesce(func.sum(Counter.value), 0))),
    )
    s.commit()
    return out


# ----------------------------------------------------------------------------------------------------------------
# Item 1: the start trusts no declared material and no declared identity
# ----------------------------------------------------------------------------------------------------------------
def test_api_start_declaring_every_material_without_a_file_is_refused_and_numbers_nothing(api_app, dbs):
    before = counts(dbs)
    r = Api(api_app, "zhangwei").post(
        "/cases",
        json_body={"procedure": REGISTRATION.id, "data": reg_form(materials=list(ALL_REG_MATERIALS))},
    )
    err = assert_error(r, 422, "validation_failed")
    assert "没有上传文件" in err["details"]["fields"]["materials"]
    assert counts(dbs) == before


def test_api_start_under_another_name_or_id_number_is_refused(api_app, dbs):
    before = counts(dbs)
    zhang = Api(api_app, "zhangwei")
    for over, field in (
        ({"applicant_name": "王五"}, "applicant_name"),
        ({"id_number": "150102198001019999"}, "id_number"),
    ):
        err = assert_error(
            zhang.post("/cases", json_body={"procedure": REGISTRATION.id, "data": reg_form(materials=[], **over)}), 422
        )
        assert field in err["details"]["fields"], err
    assert counts(dbs) == before


def test_applicant_may_not_record_in_person_receipt(api_app, dbs):
    before = counts(dbs)
    r = Api(api_app, "zhangwei").post(
        "/cases",
        json_body={"procedure": REGISTRATION.id, "data": reg_form(), "received_in_person": list(ALL_REG_MATERIALS)},
    )
    assert_error(r, 403, "forbidden")
    assert counts(dbs) == before


def test_api_start_from_a_draft_counts_exactly_its_uploaded_files_and_takes_the_name_from_the_account(api_app, dbs):
    zhang = Api(api_app, "zhangwei")
    form = {k: v for k, v in reg_form().items() if k not in ZHANG}  # identity left out: the account's
    draft = zhang.post("/drafts", json_body={"procedure": REGISTRATION.id, "data": form}).json
    for code in KEY:
        up = zhang.post(f"/drafts/{draft['id']}/materials/{code}", data={"file": (io.BytesIO(PDF), f"{code}.pdf")})
        assert up.status_code == 200, up.json
    assert sorted(zhang.get(f"/drafts/{draft['id']}").json["files"]) == sorted(KEY)
    # someone else's draft is not found (neither to read, nor to upload to, nor to start from)
    liuna = Api(api_app, "liuna")
    assert_error(liuna.get(f"/drafts/{draft['id']}"), 404)
    assert_error(liuna.post(f"/drafts/{draft['id']}/materials/resume", data={"file": (io.BytesIO(PDF), "r.pdf")}), 404)
    assert_error(
        liuna.post("/cases", json_body={"procedure": REGISTRATION.id, "data": form, "draft_id": draft["id"]}), 404
    )
    # claiming more than the draft holds is refused
    claim = {**form, "materials": list(ALL_REG_MATERIALS)}
    assert_error(
        zhang.post("/cases", json_body={"procedure": REGISTRATION.id, "data": claim, "draft_id": draft["id"]}), 422
    )

    r = zhang.post("/cases", json_body={"procedure": REGISTRATION.id, "data": form, "draft_id": draft["id"]})
    assert r.status_code == 201, r.json
    mats = {m["code"]: m for m in r.json["materials"]}
    assert {c for c, m in mats.items() if m["status"] == "received"} == set(KEY)
    assert all(mats[c]["sha256"] and mats[c]["file_name"] for c in KEY)
    case = dbs.scalar(select(Case).where(Case.case_no == r.json["case_no"]))
    assert (case.applicant_name, case.id_number) == (ZHANG["applicant_name"], ZHANG["id_number"])
    assert dbs.get(Draft, draft["id"]) is None  # consumed with the start
    dbs.commit()
    # the stored file is the one uploaded
    got = zhang.get(f"/cases/{r.json['case_no']}/materials/{KEY[0]}")
    assert got.status_code == 200 and got.data == PDF


def test_unit_officer_records_in_person_receipt_named_in_the_trail(api_app, dbs):
    hr = Api(api_app, "hr_nky")
    data = {
        "post_name": "智慧牧场首席工程师",
        "post_level": "专业技术三级",
        "term_months": 24,
        "holder_name": "韩雪",
        "holder_id_number": "150102198807074321",
        "unit_code": "U0101",
        "unit_has_vacancy_at_level": False,
    }
    r = hr.post(
        "/cases",
        json_body={"procedure": SPECIAL_POST.id, "data": data, "received_in_person": ["post_plan", "holder_id_card"]},
    )
    assert r.status_code == 201, r.json
    trail = Api(api_app, "hr_nky").get(f"/cases/{r.json['case_no']}/timeline").json["items"]
    got = {e["payload"].get("code") for e in trail if e["action"] == "received_in_person" and e["actor"] == "hr_nky"}
    assert got == {"post_plan", "holder_id_card"}


def test_web_form_ignores_a_forged_materials_field(web_app, db):
    """The web form posts to the same start service: a `materials` field in the form is not how items arrive."""
    c = signed_in(web_app, "zhangwei")
    form = {k: str(v) for k, v in reg_form().items() if k not in ZHANG and not isinstance(v, bool)}
    form.update(talent_category="3", materials=list(ALL_REG_MATERIALS), confirm="1")
    for code in KEY:
        form[f"file_{code}"] = (io.BytesIO(PNG), f"{code}.png")
    r = c.post(f"/my/new/{REGISTRATION.id}", data=form, content_type="multipart/form-data")
    assert r.status_code in (302, 303), r.get_data(as_text=True)[:500]
    case = db.scalar(select(Case).order_by(Case.id.desc()).limit(1))
    received = {
        m.code for m in db.scalars(select(Material).where(Material.case_id == case.id)) if m.status == "received"
    }
    assert received == set(KEY)


# ----------------------------------------------------------------------------------------------------------------
# Item 2: a special post's holder sees the decision about their post, nothing of the unit's application
# ----------------------------------------------------------------------------------------------------------------
HOLDER_ID = "150102198202024444"  # the demo's approved special post (稀土新材料首席科学家, 杨帆)


@pytest.fixture
def holder(api_app, dbs):
    with transaction(dbs):
        dbs.add(
            User(
                username="yangfan",
                display_name="杨帆",
                role="applicant",
                unit_code="U0101",
                id_number=HOLDER_ID,
                password_hash=hash_password(DEMO_PASSWORD),
            )
        )
    case = dbs.scalar(select(Case).where(Case.id_number == HOLDER_ID, Case.procedure == SPECIAL_POST.id))
    dbs.commit()
    return case.case_no


def test_holder_cannot_read_or_withdraw_the_units_application(api_app, dbs, holder):
    me = Api(api_app, "yangfan")
    assert all(i["case_no"] != holder for i in me.get("/cases").json["items"])
    for path in (f"/cases/{holder}", f"/cases/{holder}/timeline", f"/cases/{holder}/materials/post_plan"):
        assert_error(me.get(path), 404)
    assert_error(me.post(f"/cases/{holder}/withdraw", json_body={}), 404)
    web = signed_in(api_app, "yangfan")
    assert web.get(f"/my/case/{holder}").status_code == 404
    with pytest.raises(Forbidden):  # the service itself refuses, whatever page or API calls it
        case_svc.withdraw(dbs, holder, actor_for(dbs, "yangfan"), "x")
    case = dbs.scalar(select(Case).where(Case.case_no == holder))
    assert case.status != "withdrawn"
    dbs.commit()
    # the unit still withdraws its own application
    r = Api(api_app, "hr_nky").post(f"/cases/{holder}/withdraw", json_body={"reason": "人选变更"})
    assert r.status_code == 200 and r.json["status"] == "withdrawn"


def test_holder_sees_the_post_and_its_decision_documents_only(api_app, dbs, holder):
    case = dbs.scalar(select(Case).where(Case.case_no == holder))
    docs = list(dbs.scalars(select(Document).where(Document.case_id == case.id, Document.status == "issued")))
    dbs.commit()
    web = signed_in(api_app, "yangfan")
    home = web.get("/my/").get_data(as_text=True)
    assert "稀土新材料首席科学家" in home and 'data-testid="held-posts"' in home
    for d in docs:
        r = web.get(f"/my/posts/{holder}/documents/{d.id}")
        assert r.status_code == (200 if d.kind in SPECIAL_POST.holder_documents else 404), (d.kind, r.status_code)
    assert any(d.kind == "special_post_form" for d in docs), [d.kind for d in docs]
    # someone else's post: nothing
    other = signed_in(api_app, "zhangwei")
    assert "稀土新材料首席科学家" not in other.get("/my/").get_data(as_text=True)
    assert all(other.get(f"/my/posts/{holder}/documents/{d.id}").status_code == 404 for d in docs)
