"""One renderer for the applicant's start forms and the officers' task forms (webapp/schema_forms.py and
templates/_schema_form.html), on the demo database (tests/web/conftest.py)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from tests.web.conftest import signed_in
from webapp import schema_forms
from webapp.applicant import form_fields, parse_form
from workflows.domain.models import Case, Draft

REG, TITLE = "green_channel_registration", "senior_title_direct"
Z1 = "150000Z260302000001"  # senior title, waiting for 用人单位审核 (hr_nky)


def _count(db, model) -> int:
    n = db.scalar(select(func.count()).select_from(model))
    db.commit()
    return n


def test_start_form_fields_come_from_the_start_schema(web_app, db):
    with web_app.test_request_context():
        fields = {f.name: f for f in form_fields(db, TITLE)}
    db.commit()
    assert list(fields)[0] == "unit_code" and not {"applicant_name", "id_number", "materials"} & set(fields)
    assert {f.kind for f in fields.values() if f.options} == {"select"}  # every choice a select on the phone form
    assert fields["achievement"].options[-1] == (None, "无")
    assert fields["talent_category"].options[-1] == (None, "未认定")
    assert fields["delayed_retirement"].kind == "checkbox" and fields["major"].kind == "text"
    assert fields["unit_code"].required and "事业单位" in fields["unit_code"].description
    # typed back: ints and null from the choices, "" for a cleared optional text, refused choices named
    data, errors = parse_form(
        list(fields.values()),
        {
            "unit_code": "U0101",
            "talent_category": "3",
            "achievement": "none",
            "target_level": "正高",
            "introduction_mode": "local",
            "major": " ",
            "delayed_retirement": "1",
        },
    )
    assert errors == {} and data == {
        "unit_code": "U0101",
        "talent_category": 3,
        "achievement": None,
        "target_level": "正高",
        "introduction_mode": "local",
        "major": "",
        "delayed_retirement": True,
        "on_leave_entrepreneur": False,
    }
    assert schema_forms.form_values(fields.values(), data)["achievement"] == "none"
    data, errors = parse_form(list(fields.values()), {"unit_code": "U9999", "talent_category": "8"})
    assert errors == {"unit_code": "取值不在允许范围内", "talent_category": "取值不在允许范围内"}


def test_an_impossible_choice_comes_back_on_the_applicant_form(web_app, db):
    zhang = signed_in(web_app, "zhangwei")
    before = _count(db, Case)
    r = zhang.post(
        f"/my/new/{REG}",
        data={"unit_code": "U0101", "talent_category": "99", "introduction_mode": "rigid", "action": "submit"},
        content_type="multipart/form-data",
    )
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "表单填写有误" in page
    assert re.search(
        r'<select id="f-talent_category" name="talent_category" required aria-invalid="true" '
        r'aria-describedby="f-talent_category-hint f-talent_category-error">',
        page,
    )
    assert 'id="f-talent_category-error" data-error-for="talent_category">取值不在允许范围内<' in page
    assert '<option value="U0101" selected>' in page  # what was entered stays
    assert _count(db, Case) == before
    # a draft keeps what is valid
    r = zhang.post(
        f"/my/new/{REG}",
        data={"unit_code": "U0101", "talent_category": "99", "action": "draft"},
        content_type="multipart/form-data",
    )
    draft = db.scalar(select(Draft).order_by(Draft.id.desc()))
    db.commit()
    assert r.status_code == 302 and draft.data == {"unit_code": "U0101"}  # no hidden checkbox reads as false


def test_the_same_markup_on_both_sides(web_app):
    """Labels tied to inputs, the help text and the error linked by aria-describedby, required marked: on the
    applicant's start form and on an officer's task form alike."""
    applicant = signed_in(web_app, "zhangwei").get(f"/my/new/{REG}").get_data(as_text=True)
    officer_page = signed_in(web_app, "hr_nky")
    task = re.search(
        r'href="(/officer/cases/' + Z1 + r'/tasks/[^"]+)"',
        officer_page.get(f"/officer/cases/{Z1}").get_data(as_text=True),
    ).group(1)
    officer = officer_page.get(task).get_data(as_text=True)
    for page in (applicant, officer):
        found = list(re.finditer(r'<div class="field sf sf-(\w+)[^"]*" data-field="(\w+)"', page))
        assert len(found) >= 2
        for m in found:
            kind, name = m.groups()
            if kind != "radio":
                assert f'<label for="f-{name}"' in page or f'<label class="choice" for="f-{name}"' in page, name
                assert f'id="f-{name}"' in page, name
    assert 'class="field sf sf-select" data-field="unit_code"' in applicant
    assert re.search(
        r'<select id="f-unit_code" name="unit_code" required\s+aria-describedby="f-unit_code-hint">', applicant
    )
    assert 'class="field sf sf-radio" data-field="unit_decision"' in officer
    assert "officer_form.js" in officer
