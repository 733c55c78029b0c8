"""事项配置 of the built procedures (issue 16 item 3): their administrator-facing parts — names, intro texts, legal
basis, 受理条件, 承诺时限, the start form, the 办结通知书's outcome text — are data in the same matter record, versioned
(new cases take the published version, running cases keep theirs) and exported/imported like a configured matter;
the fields their rules read cannot be removed or retyped."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.conftest import _prepare
from tests.helpers import act, registration, reload, start, title
from workflows.domain import matters, procedures
from workflows.domain.errors import ValidationFailed
from workflows.domain.models import Matter
from workflows.infra.db import make_engine, transaction
from workflows.services import matters as svc
from workflows.services.archive import procedure_of
from workflows.services.settings import params_and_calendar

REG, TITLE, LEVEL2 = "green_channel_registration", "senior_title_direct", "senior_post_level2"


@pytest.fixture(autouse=True)
def _registry():
    yield
    procedures.install({})  # the next test's database has none of these versions
    svc._stamp.clear()


def publish(session, code: str, change, note: str = "修订") -> Matter:
    body = svc.editing(session, code)[0]
    change(body)
    with transaction(session):
        svc.save(session, code, body, "admin")
    with transaction(session):
        return svc.publish(session, code, "admin", note)


def field(body: dict, key: str) -> dict:
    return next(f for f in body["fields"] if f["key"] == key)


def test_a_new_title_and_promise_reach_new_cases_and_running_cases_keep_theirs(session, clock):
    # started before: owes two items under 容缺, so it is accepted (and its promised date set) only after the
    # commitment, which it signs after the new version is published
    owing = [m for m in registration()["materials"] if m not in ("health_check", "no_crime_record")]
    running = start(session, REG, registration(materials=owing))
    assert reload(session, running.case_no).promised_on is None

    def change(body):
        field(body, "talent_category")["title"] = "人才类别（以认定文件为准）"
        field(body, "talent_category")["description"] = "按认定文件填写"
        body["promise_days"], body["legal_days"] = 15, 20

    row = publish(session, REG, change)
    proc = procedures.get(REG)
    assert proc.matter_version == row.version and proc.rule_id == "R1"  # the rules stay code
    prop = proc.start_schema["properties"]["talent_category"]
    assert (prop["title"], prop["description"]) == ("人才类别（以认定文件为准）", "按认定文件填写")
    assert prop["oneOf"] == procedures.CATEGORY["oneOf"]  # its declared type and bounds stay

    new = start(session, REG, registration())  # complete: accepted at once
    cal, today = params_and_calendar(session)[1], reload(session, new.case_no).accepted_on
    assert reload(session, new.case_no).promised_on == cal.add_working_days(today, 15)
    assert reload(session, new.case_no).matter_version == row.version

    act(session, running.case_no, "Task_rongque_commitment")
    running = reload(session, running.case_no)
    assert running.matter_version is None  # started on the procedure as declared
    assert running.promised_on == cal.add_working_days(running.accepted_on, 40)  # the policy parameter
    old = procedure_of(session, running).start_schema["properties"]["talent_category"]
    assert old["title"] == "人才类别" and "description" not in old


def test_a_running_case_keeps_the_version_it_started_on(session, clock):
    publish(session, REG, lambda b: b.update(promise_days=25))
    owing = [m for m in registration()["materials"] if m not in ("health_check", "no_crime_record")]
    case = start(session, REG, registration(materials=owing))
    publish(session, REG, lambda b: b.update(promise_days=10, name="列编注册（绿色通道）"))
    act(session, case.case_no, "Task_rongque_commitment")
    case = reload(session, case.case_no)
    cal = params_and_calendar(session)[1]
    assert case.matter_version == 1 and case.promised_on == cal.add_working_days(case.accepted_on, 25)
    assert procedure_of(session, case).name == "绿色通道列编注册" and procedures.get(REG).name == "列编注册（绿色通道）"


def test_removing_or_retyping_a_field_a_rule_reads_is_refused_naming_the_rule(session):
    body = svc.editing(session, TITLE)[0]
    body["fields"] = [f for f in body["fields"] if f["key"] != "achievement"]
    field(body, "talent_category")["type"] = "text"
    field(body, "introduction_mode")["choices"] = ["rigid", "local"]
    with pytest.raises(ValidationFailed) as e:
        svc.save(session, TITLE, body, "admin")
    message = e.value.details["fields"]["fields"]
    assert (
        "字段“achievement”（重大业绩）由 R9 人才类别与通道资格判定表（talent_eligibility.dmn） 读取，不能删除"
        in message
    )
    assert "字段“talent_category”由 R9" in message and "类型须保持为“整数”" in message
    assert "字段“introduction_mode”由 R9" in message and "选项的取值不能增删或修改" in message
    session.rollback()
    assert svc.current(session, TITLE, "draft") is None  # nothing saved

    body = svc.editing(session, REG)[0]
    field(body, "hire_type")["required"] = False  # optional as declared: may stay optional
    field(body, "introduction_mode")["required"] = False
    with pytest.raises(ValidationFailed, match="字段“introduction_mode”由 R1 .*须保持必填"):
        svc.save(session, REG, body, "admin")


def test_starts_are_validated_against_the_published_form(session, clock):
    def change(body):
        body["fields"].append(
            {"key": "research_field", "title": "研究方向", "type": "text", "required": True, "choices": []}
        )
        field(body, "introduction_mode")["choices"] = ["rigid=刚性引进人才", "flexible", "local"]
        field(body, "major")["required"] = True

    publish(session, TITLE, change)
    prop = procedures.get(TITLE).start_schema["properties"]["introduction_mode"]
    assert prop["enum"] == ["rigid", "flexible", "local"] and prop["x-enumTitles"][0] == "刚性引进人才"
    # 重大业绩's choices are the administrators' register (R9), not the form's: the field stays a register code
    assert "enum" not in procedures.get(TITLE).start_schema["properties"]["achievement"]
    with pytest.raises(ValidationFailed) as e:
        start(session, TITLE, title())
    assert "research_field" in str(e.value.details)
    session.rollback()
    case = start(session, TITLE, title(research_field="草原生态"))
    assert reload(session, case.case_no).start_data["research_field"] == "草原生态"


def test_the_outcome_text_takes_only_its_placeholders(session):
    body = svc.editing(session, LEVEL2)[0]
    body["completion_outcome"] = "核准聘用{post_level}"
    with pytest.raises(ValidationFailed, match="办结通知书办理结果只能使用占位符"):
        svc.save(session, LEVEL2, body, "admin")
    session.rollback()
    body["completion_outcome"] = "{quota_source}已列编"
    assert (
        svc.save(session, REG, {"completion_outcome": body["completion_outcome"]}, "admin").body["completion_outcome"]
        == "{quota_source}已列编"
    )


def test_a_built_procedures_matter_exports_and_imports_into_a_fresh_database(session, clock, tmp_path):
    def change(body):
        field(body, "target_level")["title"] = "拟申报级别"
        body["intro"] = "新的办事指南简介。"
        body["materials"].append({"code": "paper_list", "name": "代表性论文目录", "is_key": False})

    publish(session, TITLE, change)
    exported = svc.export(session, TITLE)
    assert "flow" not in exported  # the flow of a built procedure is its BPMN file
    raw = json.dumps(exported, ensure_ascii=False).encode()
    session.commit()
    procedures.install({})
    svc._stamp.clear()
    engine = make_engine(f"sqlite:///{tmp_path}/fresh.sqlite3")
    fresh = _prepare(engine)()
    try:
        assert procedures.get(TITLE).intro != "新的办事指南简介。"
        with transaction(fresh):
            row = svc.import_file(fresh, raw, "admin", publish_now=True)
        proc = procedures.get(TITLE)
        assert row.status == "published" and proc.intro == "新的办事指南简介。"
        assert proc.start_schema["properties"]["target_level"]["title"] == "拟申报级别"
        assert proc.material_name("paper_list") == "代表性论文目录"
        again = svc.export(fresh, TITLE)
        assert again["matter"] == exported["matter"]
        case = start(fresh, TITLE, title(materials=["id_card", "achievement_proof", "paper_list"]))
        assert {m.code for m in reload(fresh, case.case_no).materials} >= {"paper_list"}
    finally:
        fresh.close()
        engine.dispose()


def test_an_older_overlay_holding_only_the_checklist_still_loads(session):
    declared = procedures.DECLARED[REG]
    with transaction(session):
        session.add(
            Matter(
                code=REG,
                version=1,
                status="published",
                body={"code": REG, "materials": matters.declared_body(declared)["materials"][:4]},
                created_by="admin",
            )
        )
    svc.load(session)
    proc = procedures.get(REG)
    assert len(proc.materials) == 4 and proc.start_properties == declared.start_properties
    assert svc.editing(session, REG)[0]["name"] == declared.name
    assert session.scalar(select(Matter.code)) == REG


def test_on_postgresql_a_built_procedures_version_is_kept(pg_factory, clock):
    s = pg_factory()
    try:
        row = publish(s, REG, lambda b: b.update(promise_days=15))
        case = reload(s, start(s, REG, registration()).case_no)
        cal = params_and_calendar(s)[1]
        assert case.matter_version == row.version
        assert case.promised_on == cal.add_working_days(case.accepted_on, 15)
    finally:
        s.close()


def test_the_publicity_texts_are_data_with_placeholders_from_the_form(session):
    body = svc.editing(session, TITLE)[0]
    body["publicity"]["unit"]["detail"] = "拟推荐直接申报{target_level}级职称（{no_such_field}）"
    with pytest.raises(ValidationFailed, match="单位公示文字中的 \\{字段\\} 占位符须为申请表中的字段代码"):
        svc.save(session, TITLE, body, "admin")
    session.rollback()
    body["publicity"]["unit"]["detail"] = "拟推荐申报{target_level}级职称，专业：{major}"
    body["publicity"]["result"]["subject"] = "职称评审“绿色通道”评审结果公示"
    with transaction(session):
        svc.save(session, TITLE, body, "admin")
    with transaction(session):
        svc.publish(session, TITLE, "admin", "公示文字")
    unit, result = procedures.get(TITLE).publicity["unit"], procedures.get(TITLE).publicity["result"]
    assert unit.detail == "拟推荐申报{target_level}级职称，专业：{major}"
    assert result.subject == "职称评审“绿色通道”评审结果公示"


def test_a_new_case_publishes_the_new_publicity_text(session, clock):
    from tests.helpers import APPROVE
    from workflows.domain.models import Document

    def change(body):
        body["publicity"]["unit"]["detail"] = "拟推荐申报{target_level}级职称，专业：{major}"

    publish(session, TITLE, change)
    case = start(session, TITLE, title())
    act(session, case.case_no, "Task_unit_review", APPROVE["Task_unit_review"])
    notice = session.scalar(select(Document).where(Document.case_id == case.id, Document.kind == "publicity_notice"))
    assert notice.data["persons"][0]["detail"] == "拟推荐申报正高级职称，专业：作物遗传育种"


def test_a_running_case_completes_with_the_outcome_text_it_started_with(session, factory, clock):
    from tests.test_level2 import VOTE, level2
    from workflows.domain.models import Document
    from workflows.services.timers import fire_due_timers

    publish(session, LEVEL2, lambda b: b.update(completion_outcome="经专家评议，核准聘用专业技术二级岗位（v1）"))
    running = start(session, LEVEL2, level2())
    publish(session, LEVEL2, lambda b: b.update(completion_outcome="核准聘用专业技术二级岗位（v2）"))
    act(session, running.case_no, "Task_unit_review")
    clock.to(2026, 3, 7, 0, 5)
    fire_due_timers(factory)
    act(session, running.case_no, "Task_dept_review")
    act(session, running.case_no, "Task_committee_vote", VOTE)
    clock.to(2026, 3, 14, 0, 5)
    fire_due_timers(factory)
    act(session, running.case_no, "Task_hrss_approval", {"hrss_decision": "approve", "hrss_opinion": "核准"})
    act(
        session,
        running.case_no,
        "Task_unit_hire",
        {"hire_date": "2026-03-20", "hire_document": "内农科人字〔2026〕8号"},
    )
    case = reload(session, running.case_no)
    notice = session.scalar(select(Document).where(Document.case_id == case.id, Document.kind == "completion_notice"))
    assert case.status == "completed" and case.matter_version == 1
    assert notice.data["outcome"] == "经专家评议，核准聘用专业技术二级岗位（v1）"


def test_the_rights_window_is_not_a_matter_to_import(session):
    raw = json.dumps({"format": svc.EXPORT_FORMAT, "matter": {"code": "rights_complaint", "materials": []}}).encode()
    with pytest.raises(ValidationFailed, match="不能在事项配置中修改"):
        svc.import_file(session, raw, "admin")
