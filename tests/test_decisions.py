"""Decision tables edited on their own: draft → publish → compare → roll back; a new case uses the published table,
a running case keeps the one it started with; a bad cell is refused naming the cell, nothing stored."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from workflows.domain.errors import Conflict, DefinitionInvalid
from workflows.domain.models import AdminEvent, DecisionDefinition, ProcessDefinition
from workflows.domain.rules import RULES
from workflows.infra.db import transaction
from workflows.services import decisions, versions
from workflows.services.definitions import published_definition

from .helpers import act, events, registration, reload, start

TABLE = "talent_eligibility"
REG = "green_channel_registration"
CALLERS = {"green_channel_registration", "senior_title_direct", "senior_post_level2"}

# A rule before the catch-all 第七类 row: rigid category-7 talent becomes eligible for 列编 (a policy change).
CATEGORY7_RULE = """<rule id="Rule_12">
        <description>列编：刚性引进第七类人才（试点） (R1)</description>
        <inputEntry id="InputEntry_12_0"><text>? in ("green_channel_registration", "registration")</text></inputEntry>
        <inputEntry id="InputEntry_12_1"><text>"rigid"</text></inputEntry>
        <inputEntry id="InputEntry_12_2"><text>? == 7</text></inputEntry>
        <inputEntry id="InputEntry_12_3"><text>-</text></inputEntry>
        <outputEntry id="OutputEntry_12_0"><text>True</text></outputEntry>
        <outputEntry id="OutputEntry_12_1"><text>"刚性引进的第七类人才，按试点办法办理列编注册。"</text></outputEntry>
        <outputEntry id="OutputEntry_12_2"><text>False</text></outputEntry>
      </rule>
      <rule id="Rule_4">"""


def published_xml(session) -> str:
    return decisions.editing_base(session, TABLE).xml


def with_category7(xml: str) -> str:
    assert '<rule id="Rule_4">' in xml
    return xml.replace('<rule id="Rule_4">', CATEGORY7_RULE, 1)


def save(session, xml: str, by: str = "admin"):
    with transaction(session):
        return decisions.save_draft(session, TABLE, xml, by)


def publish(session, version: int):
    with transaction(session):
        return decisions.publish_version(session, TABLE, version, "admin", "测试发布")


def test_the_bundled_table_is_its_published_v1_called_by_three_processes(session):
    rows = decisions.list_versions(session, TABLE)
    assert [(r.version, r.status, r.filename) for r in rows] == [(1, "published", "talent_eligibility.dmn")]
    usage = decisions.usage(session, TABLE)
    assert {u["process_id"] for u in usage} == CALLERS
    assert all(u["table_version"] == 1 for u in usage)


def test_edit_publish_new_case_uses_it_running_case_keeps_the_old_then_roll_back(session, clock):
    running = start(session, REG, registration())  # category 3, on the bundled table
    old_definition = reload(session, running.case_no).definition_id
    refused = start(session, REG, registration(talent_category=7, id_number="150102199001015555"), username="hr_nky")
    assert refused.status == "not_accepted" and refused.outcome_rule == "R1"

    draft, changed = save(session, with_category7(published_xml(session)))
    assert changed and (draft.version, draft.status) == (2, "draft")
    # a draft changes nothing for new cases
    still = start(session, REG, registration(talent_category=7, id_number="150102199001016666"), username="hr_nky")
    assert still.status == "not_accepted"

    done = publish(session, 2)
    assert {pid for pid, _ in done.processes} == CALLERS
    reg = published_definition(session, REG)
    assert reg.id != old_definition and reg.created_by == "admin"
    assert "Rule_12" in reg.source["dmn"]["talent_eligibility.dmn"]
    assert [u["table_version"] for u in decisions.usage(session, TABLE)] == [2, 2, 2]
    event = session.scalars(select(AdminEvent).where(AdminEvent.action == "decision_published")).one()
    assert event.target == f"decision:{TABLE}" and event.payload["note"] == "测试发布"
    assert reg.release_notes[-1]["note"] == f"决策表 {TABLE} v2：测试发布"

    new = start(session, REG, registration(talent_category=7, id_number="150102199001017777"), username="hr_nky")
    new = reload(session, new.case_no)
    assert new.status == "running" and new.definition_id == reg.id
    r1 = [e for e in events(session, new.case_no, "decision") if e.rule_id == "R1"]
    assert r1 and r1[0].clause.endswith(RULES["R1"].clause)  # the rule id and its clause keep matching
    assert r1[0].payload["eligibility_reason"] == "刚性引进的第七类人才，按试点办法办理列编注册。"
    # the case started before keeps its version (and table) and goes on
    assert reload(session, running.case_no).definition_id == old_definition
    act(session, running.case_no, "Task_unit_review")

    diff = decisions.compare_versions(session, TABLE, 1, 2)
    added = diff.of("added")
    assert [(c.kind, c.element_id) for c in added] == [("规则", "Rule_12")]
    assert ("条件「人才类别」", "", "? == 7") in added[0].fields
    moved = {c.element_id for c in diff.of("changed")}
    assert "Rule_4" in moved  # the rows after the insertion moved down one place

    back = publish(session, 1)  # roll back
    assert back.row.status == "published"
    assert published_definition(session, REG).id != reg.id
    again = start(session, REG, registration(talent_category=7, id_number="150102199001018888"), username="hr_nky")
    assert again.status == "not_accepted" and again.outcome_rule == "R1"
    assert reload(session, new.case_no).definition_id == reg.id  # the case on v2's table keeps it
    assert [r.status for r in decisions.list_versions(session, TABLE)] == ["retired", "published"]
    with pytest.raises(Conflict):
        publish(session, 1)


def test_changing_an_output_shows_as_a_changed_cell(session):
    xml = published_xml(session)
    text = "“绿色通道”列编注册仅限刚性引进的一至六类人才，可按事业单位公开招聘或编制外聘用程序办理。"
    draft, _ = save(session, xml.replace(text, "仅限一至六类人才。", 1))
    diff = decisions.compare_versions(session, TABLE, 1, draft.version)
    [change] = diff.changes
    assert (change.kind, change.element_id, change.change) == ("规则", "Rule_4", "changed")
    assert change.fields == [("输出「判定理由」", f'"{text}"', '"仅限一至六类人才。"')]


@pytest.mark.parametrize(
    "edit,element_id,words",
    [
        (
            ("? is not None and 1 &lt;= ? &lt;= 6", "[1..6]"),
            "InputEntry_1_2",
            ["规则 1（Rule_1）", "「人才类别」输入列单元格"],
        ),
        (('<text>"rigid"</text>', '<text>__import__("os")</text>'), "InputEntry_1_1", ["规则 1", "「引进方式」"]),
        (("<text>True</text>", "<text>True +</text>"), "OutputEntry_1_0", ["规则 1", "「符合通道条件」输出列单元格"]),
        (('name="eligibility_reason"', 'name="reason"'), "Output_eligibility_reason", ["eligibility_reason", REG]),
        (('<decision id="talent_eligibility"', '<decision id="eligibility2"'), None, ["决策编号须保持为"]),
        (('hitPolicy="FIRST"', 'hitPolicy="PRIORITY"'), "DecisionTable_talent_eligibility", ["命中策略"]),
        (("(R9)", "(R99)"), "Rule_5", ["R99"]),
        (('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>', None), None, ["DOCTYPE"]),
    ],
)
def test_an_invalid_table_is_refused_naming_the_cell_and_nothing_is_stored(session, edit, element_id, words):
    xml = published_xml(session)
    old, new = edit
    bad = xml.replace("?>", "?>" + old, 1) if new is None else xml.replace(old, new, 1)
    assert bad != xml
    with pytest.raises(DefinitionInvalid) as info:
        save(session, bad)
    found = [e for e in info.value.errors if element_id is None or e.element_id == element_id]
    assert found, [e.message for e in info.value.errors]
    assert all(w in found[0].message for w in words), found[0].message
    assert [r.version for r in session.scalars(select(DecisionDefinition))] == [1]


def test_a_process_draft_follows_the_published_table(session, clock):
    # a draft of the registration process saved before the table changes
    bpmn_name, bpmn = versions.main_bpmn(published_definition(session, REG))
    with transaction(session):
        draft, _ = versions.save_draft(session, REG, bpmn.replace('name="单位审核"', 'name="用人单位审核"', 1), "admin")
    draft_id = draft.id
    save(session, with_category7(published_xml(session)))
    publish(session, 2)
    draft = session.get(ProcessDefinition, draft_id)
    assert draft.status == "draft" and "Rule_12" in draft.source["dmn"]["talent_eligibility.dmn"]
    # publishing that draft later keeps the new table
    with transaction(session):
        versions.publish_version(session, REG, draft.version, "测试发布")
    c = start(session, REG, registration(talent_category=7, id_number="150102199001019999"), username="hr_nky")
    assert reload(session, c.case_no).status == "running"
    # and a process draft saved from the modeler now takes the published table too
    with transaction(session):
        again, _ = versions.save_draft(
            session,
            "special_post",
            versions.main_bpmn(published_definition(session, "special_post"))[1].replace("特设岗位", "特设岗位 ", 1),
            "admin",
        )
    assert "Rule_12" in again.source["dmn"]["talent_eligibility.dmn"]


def test_discarding_a_draft(session):
    save(session, with_category7(published_xml(session)))
    with transaction(session):
        assert decisions.discard_draft(session, TABLE) == 2
    assert [r.version for r in decisions.list_versions(session, TABLE)] == [1]


def test_publish_and_roll_back_on_postgres(pg_factory, clock):
    session = pg_factory()
    try:
        save(session, with_category7(published_xml(session)))
        publish(session, 2)
        c = start(session, REG, registration(talent_category=7, id_number="150102199001017777"), username="hr_nky")
        assert reload(session, c.case_no).status == "running"
        publish(session, 1)
        again = start(session, REG, registration(talent_category=7, id_number="150102199001018888"), username="hr_nky")
        assert again.status == "not_accepted"
        assert [r.status for r in decisions.list_versions(session, TABLE)] == ["retired", "published"]
    finally:
        session.close()
