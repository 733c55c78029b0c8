"""事项配置 (issue 16): a matter configured as data runs like a declared procedure — 高层次人才延迟退休 (seed 000 §二(二)
"根据工作需要，可按国家规定延迟退休"): the unit applies, 主管部门 reviews, 人社 approves (the configured 核准通知书 is
issued), 人社 files; an exported matter imports into a fresh database and runs; a declared procedure's checklist is
edited for new cases only."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.conftest import _prepare
from tests.helpers import act, reload, start_as
from webapp.demo.accounts import actor_for
from workflows.domain import procedures
from workflows.domain.errors import ValidationFailed
from workflows.domain.models import Document
from workflows.infra.db import make_engine, transaction
from workflows.services import matters as svc

CODE = "delayed_retirement"
CLAUSE = "根据工作需要，可按国家规定延迟退休"


def delayed_retirement_body() -> dict:
    return {
        "name": "高层次人才延迟退休",
        "name_en": "Delayed retirement of high-level talent",
        "letter": "Y",
        "basis_source": "内蒙古自治区党委办公厅 自治区人民政府办公厅关于进一步支持事业单位引进急需紧缺高层次人才的若干措施",
        "basis_clause": CLAUSE,
        "conditions": "经认定的高层次人才，根据工作需要，由用人单位申请，经主管部门审核、人社部门核准后延迟退休。",
        "promise_days": 10,
        "legal_days": 20,
        "applicant": "unit",
        "desks": ["unit_hr", "dept", "hrss"],
        "office": "RS",
        "materials": [
            {"code": "application_letter", "name": "单位延迟退休申请函", "is_key": True, "file_types": ["pdf"]},
            {"code": "talent_recognition", "name": "人才类别认定文件", "is_key": True},
            {"code": "personal_consent", "name": "本人同意延迟退休的书面意见", "is_key": False, "rongque": False},
        ],
        "fields": [
            {"key": "birth_date", "title": "出生日期", "type": "date", "required": True},
            {"key": "extend_years", "title": "延迟退休年限（年）", "type": "integer", "required": True},
            {"key": "reason", "title": "工作需要说明", "type": "long_text", "required": False},
        ],
        "documents": {"issue_documents:approve": [["approval_notice", "RS"]]},
        "notice": {
            "title": "关于同意高层次人才延迟退休的通知",
            "body": "经审核，同意{applicant_name}同志延迟退休{extend_years}年。",
        },
    }


@pytest.fixture(autouse=True)
def _registry():
    yield
    procedures.install({})  # the next test's database has none of these matters
    svc._stamp.clear()


def configure(session, body: dict | None = None):
    admin = "admin"
    with transaction(session):
        svc.create(session, CODE, "高层次人才延迟退休", "unit_dept_hrss_filing", admin)
    with transaction(session):
        svc.save(session, CODE, body or delayed_retirement_body(), admin)
    with transaction(session):
        return svc.publish(session, CODE, admin, "首次发布")


def application(**over) -> dict:
    return {
        "applicant_name": "张伟",
        "id_number": "150102199001011234",
        "unit_code": "U0101",
        "birth_date": "1966-05-01",
        "extend_years": 3,
        "materials": ["application_letter", "talent_recognition", "personal_consent"],
        **over,
    }


def run_to_end(session, unit_code: str = "U0101"):
    hr = actor_for(session, "hr_nky")
    case = start_as(session, CODE, application(unit_code=unit_code), hr)
    act(session, case.case_no, "Task_dept_review", {"dept_decision": "approve", "dept_opinion": "同意"})
    act(session, case.case_no, "Task_hrss_approval", {"hrss_decision": "approve", "hrss_opinion": "核准"})
    act(session, case.case_no, "Task_filing", {"filing_confirmed": True})
    return reload(session, case.case_no)


def test_a_configured_matter_runs_and_issues_its_notice(session, clock):
    row = configure(session)
    assert row.version == 1 and procedures.get(CODE).name == "高层次人才延迟退休"
    case = run_to_end(session)
    assert case.status == "completed" and case.case_no[6] == "Y"
    assert case.promised_on.isoformat() == "2026-03-16"  # 10 working days from Monday 2 March
    docs = session.scalars(select(Document).where(Document.case_id == case.id)).all()
    notice = next(d for d in docs if d.kind == "approval_notice")
    assert notice.title == "关于同意高层次人才延迟退休的通知"
    assert notice.data["body"] == "经审核，同意张伟同志延迟退休3年。"
    assert notice.data["basis_clause"] == CLAUSE
    assert notice.doc_no.startswith("内人社备字〔2026〕")  # the 备案核准类 series of 人社


def test_the_unit_files_and_secondary_items_without_rongque_are_required(session, clock):
    configure(session)
    hr = actor_for(session, "hr_nky")
    with pytest.raises(Exception, match="由用人单位申请"):
        start_as(session, CODE, application(), actor_for(session, "zhangwei"))
    with pytest.raises(ValidationFailed, match="缺少必备材料，不予受理：本人同意延迟退休的书面意见"):
        start_as(session, CODE, application(materials=["application_letter", "talent_recognition"]), hr)
    case = start_as(session, CODE, application(), hr)
    consent = next(m for m in reload(session, case.case_no).materials if m.code == "personal_consent")
    assert consent.is_key  # 容缺 not allowed: needed at intake like a key item


def test_a_refusal_by_the_department_ends_with_the_matters_decision(session, clock):
    configure(session)
    case = start_as(session, CODE, application(), actor_for(session, "hr_nky"))
    act(session, case.case_no, "Task_dept_review", {"dept_decision": "refuse", "dept_opinion": "不符合工作需要"})
    case = reload(session, case.case_no)
    assert case.status == "refused"
    assert {d.kind for d in session.scalars(select(Document).where(Document.case_id == case.id))} == {
        "refusal_decision"
    }


def test_running_cases_keep_the_version_they_started_on(session, clock):
    configure(session)
    hr = actor_for(session, "hr_nky")
    first = start_as(session, CODE, application(), hr)
    changed = delayed_retirement_body()
    changed["notice"]["body"] = "新版正文：同意{applicant_name}延迟退休。"
    changed["materials"].append({"code": "overseas_degree", "name": "国（境）外学历学位认证书", "is_key": False})
    with transaction(session):
        svc.save(session, CODE, changed, "admin")
    with transaction(session):
        assert svc.publish(session, CODE, "admin", "修订").version == 2
    act(session, first.case_no, "Task_dept_review", {"dept_decision": "approve"})
    act(session, first.case_no, "Task_hrss_approval", {"hrss_decision": "approve"})
    first = reload(session, first.case_no)
    notice = session.scalar(select(Document).where(Document.case_id == first.id, Document.kind == "approval_notice"))
    assert notice.data["body"] == "经审核，同意张伟同志延迟退休3年。"  # v1's text
    assert "overseas_degree" not in {m.code for m in first.materials}
    second = start_as(session, CODE, application(), hr)
    assert "overseas_degree" in {m.code for m in reload(session, second.case_no).materials}


def test_export_imports_into_a_fresh_database_and_runs(session, clock, tmp_path):
    configure(session)
    exported = json.dumps(svc.export(session, CODE), ensure_ascii=False).encode()
    session.commit()
    procedures.install({})
    svc._stamp.clear()
    engine = make_engine(f"sqlite:///{tmp_path}/fresh.sqlite3")
    fresh = _prepare(engine)()
    try:
        with pytest.raises(ValidationFailed):
            procedures.get(CODE)
        with transaction(fresh):
            row = svc.import_file(fresh, exported, "admin", publish_now=True)
        assert row.status == "published" and procedures.get(CODE).letter == "Y"
        case = run_to_end(fresh)
        assert case.status == "completed"
        kinds = {d.kind for d in fresh.scalars(select(Document).where(Document.case_id == case.id))}
        assert "approval_notice" in kinds
    finally:
        fresh.close()
        engine.dispose()


def test_a_declared_procedures_checklist_gains_an_item_for_new_cases_only(session, clock):
    from tests.helpers import registration, start

    before = start(session, "green_channel_registration", registration())
    body = svc.editing(session, "green_channel_registration")[0]
    body["materials"].append({"code": "transfer_consent", "name": "原单位同意调动函", "is_key": False})
    body["materials"].append({"code": "archive_transfer", "name": "档案转递记录", "is_key": False})
    with transaction(session):
        svc.save(session, "green_channel_registration", body, "admin")
    with transaction(session):
        svc.publish(session, "green_channel_registration", "admin", "增加材料")
    proc = procedures.get("green_channel_registration")
    assert proc.material_name("transfer_consent") == "原单位同意调动函" and proc.rule_id == "R1"
    after = start(session, "green_channel_registration", registration())
    assert "transfer_consent" in {m.code for m in reload(session, after.case_no).materials}
    assert "transfer_consent" not in {m.code for m in reload(session, before.case_no).materials}


def test_bad_configuration_is_refused_naming_the_fields(session):
    with transaction(session):
        svc.create(session, CODE, "高层次人才延迟退休", "unit_dept_hrss_filing", "admin")
    bad = {**delayed_retirement_body(), "promise_days": 30, "letter": "L", "materials": []}
    with pytest.raises(ValidationFailed) as e:
        svc.save(session, CODE, bad, "admin")
    assert {"promise_days", "letter", "materials"} <= set(e.value.details["fields"])


def test_every_change_is_on_the_administrators_trail(session):
    from workflows.services.audit import admin_events, verify_admin_chain

    configure(session)
    events, total = admin_events(session, f"matter:{CODE}")
    assert total == 3 and {e.action for e in events} == {"matter_created", "matter_saved", "matter_published"}
    assert all(e.actor == "admin" for e in events)
    assert verify_admin_chain(session) == []


def test_on_postgresql_a_published_matter_runs_and_keeps_its_version(pg_factory, clock):
    s = pg_factory()
    try:
        configure(s)
        case = run_to_end(s)
        assert case.status == "completed"
        notice = s.scalar(select(Document).where(Document.case_id == case.id, Document.kind == "approval_notice"))
        assert notice.data["body"] == "经审核，同意张伟同志延迟退休3年。"
    finally:
        s.close()


def test_a_flow_lane_outside_the_matters_desks_is_refused_at_publish(session):
    body = {**delayed_retirement_body(), "desks": ["unit_hr", "hrss"]}  # the template has a 主管部门 lane
    with transaction(session):
        svc.create(session, CODE, "高层次人才延迟退休", "unit_dept_hrss_filing", "admin")
    with transaction(session):
        svc.save(session, CODE, body, "admin")
    with pytest.raises(ValidationFailed, match="泳道“主管部门”不在本事项的办理岗位中"):
        with transaction(session):
            svc.publish(session, CODE, "admin", "修订")
    assert svc.current(session, CODE, "published") is None


def test_returned_by_the_department_the_unit_corrects_and_resubmits(session, clock):
    """退回补正 of a configured matter: 主管部门 returns the unit's application with a reason and the item to supply
    again; the case holds (the clock stops) and a 补正材料通知书 is issued; the unit corrects a field and the item and
    resubmits; the same review step reopens and the case runs to the end."""
    from tests.helpers import events, find_task
    from workflows.domain.errors import Forbidden
    from workflows.services import handling

    configure(session)
    hr = actor_for(session, "hr_nky")
    case = start_as(session, CODE, application(), hr)
    review = find_task(session, case.case_no, "Task_dept_review")
    handling.return_for_correction(
        session,
        case.case_no,
        review.task_id,
        actor_for(session, "dept_kjt"),
        "延迟年限超过规定，请重新填写并补交本人书面意见",
        items=["personal_consent"],
    )
    case = reload(session, case.case_no)
    assert case.status == "returned" and case.hold_reason == "退回用人单位补正" and case.hold_since is not None
    notice = session.scalar(select(Document).where(Document.case_id == case.id, Document.kind == "correction_notice"))
    assert notice is not None and notice.data["items"][0]["name"] == "本人同意延迟退休的书面意见"
    assert [e.payload["reason"] for e in events(session, case.case_no, "returned")] == [
        "延迟年限超过规定，请重新填写并补交本人书面意见"
    ]
    with pytest.raises(Forbidden):  # another unit's HR cannot answer the return
        handling.resubmit(
            session, case.case_no, actor_for(session, "hr_kjxx"), {"extend_years": 2}, ["personal_consent"]
        )
    with pytest.raises(ValidationFailed, match="仍需补正的材料未提交"):
        handling.resubmit(session, case.case_no, hr, {"extend_years": 2}, [])
    clock.to(2026, 3, 5, 9, 0)
    handling.resubmit(session, case.case_no, hr, {"extend_years": 2}, ["personal_consent"])
    case = reload(session, case.case_no)
    assert case.status == "running" and case.hold_days == 3 and case.start_data["extend_years"] == 2
    act(session, case.case_no, "Task_dept_review", {"dept_decision": "approve", "dept_opinion": "同意"})
    act(session, case.case_no, "Task_hrss_approval", {"hrss_decision": "approve", "hrss_opinion": "核准"})
    act(session, case.case_no, "Task_filing", {"filing_confirmed": True})
    case = reload(session, case.case_no)
    assert case.status == "completed"
    approval = session.scalar(select(Document).where(Document.case_id == case.id, Document.kind == "approval_notice"))
    assert approval.data["body"] == "经审核，同意张伟同志延迟退休2年。"  # the corrected field
