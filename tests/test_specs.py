"""Deploy-time refusals and the spec/state round trip (workflows.engine.specs, workflows.engine.serialization)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.task import TaskState

from workflows.domain.actors import LANE_ROLES
from workflows.domain.errors import DefinitionError, DefinitionInvalid
from workflows.engine import serialization
from workflows.engine.scripting import make_script_engine
from workflows.engine.specs import parse_definition

BPMN_DIR = Path(__file__).resolve().parents[1] / "bpmn"

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
  id="Definitions_tiny" targetNamespace="http://bpmn.io/schema/bpmn">
"""

TINY = (
    HEAD
    + """  <bpmn:process id="tiny" name="小流程" isExecutable="true">
    <bpmn:laneSet id="LaneSet_1">
      <bpmn:lane id="Lane_applicant" name="{lane}">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>prepare</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>gw</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>fill</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>call_op</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>wait</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="开始">
      <bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:scriptTask id="prepare" name="准备数据">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw" name="是否填写"{default}>
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f_yes</bpmn:outgoing>
      <bpmn:outgoing>f_no</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="prepare" />
    <bpmn:sequenceFlow id="f2" sourceRef="prepare" targetRef="gw" />
    <bpmn:sequenceFlow id="f_yes" name="是" sourceRef="gw" targetRef="fill">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no" name="否" sourceRef="gw" targetRef="end">{no_condition}</bpmn:sequenceFlow>
    <bpmn:userTask id="fill" name="填写申请">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="{form}" />
          <spiffworkflow:property name="dueWorkingDays" value="5" />
          <spiffworkflow:property name="ruleId" value="{rule}" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f_yes</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="fill" targetRef="call_op" />
    <bpmn:serviceTask id="call_op" name="受理">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="{operator}" resultVariable="acceptance">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="mode" type="str" value="'instant'" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming>
      <bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f4" sourceRef="call_op" targetRef="wait" />
    <bpmn:intermediateCatchEvent id="wait" name="等待">
      <bpmn:incoming>f4</bpmn:incoming>
      <bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:timerEventDefinition id="TimerDef_1">
        <bpmn:timeDate xsi:type="bpmn:tFormalExpression">{timer}</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f5" sourceRef="wait" targetRef="end" />
    <bpmn:endEvent id="end" name="结束">
      <bpmn:incoming>f_no</bpmn:incoming>
      <bpmn:incoming>f5</bpmn:incoming>
    </bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""
)

DEFAULTS = dict(
    lane="申请人",
    script="x = 1\nitems = [i * 2 for i in range(3)]",
    default=' default="f_no"',
    condition="x &gt; 0",
    no_condition="",
    form="fill.schema.json",
    rule="R1",
    operator="accept_case",
    timer='acceptance["due_at"]',
)
FORMS = {"fill.schema.json"}
OPERATORS = {"accept_case"}


def tiny(**kw) -> bytes:
    return TINY.format(**{**DEFAULTS, **kw}).encode("utf-8")


def line_of(xml: bytes, needle: str) -> int:
    return xml[: xml.index(needle.encode("utf-8"))].count(b"\n") + 1


def refused(xml: bytes, **kw) -> list[DefinitionError]:
    with pytest.raises(DefinitionInvalid) as info:
        parse_definition({"tiny.bpmn": xml}, {}, "tiny", kw.get("forms", FORMS), kw.get("operators", OPERATORS))
    errors = info.value.errors
    assert errors and all(isinstance(e, DefinitionError) for e in errors)
    for e in errors:
        assert re.search(r"[\u4e00-\u9fff]", e.message), e.message  # Chinese message
    return errors


# -- refusals -----------------------------------------------------------------------------------------------------


def test_malformed_xml_refused_with_line():
    xml = tiny().replace(b"</bpmn:scriptTask>", b"</bpmn:scriptTsk>")
    (err,) = refused(xml)
    assert err.line == line_of(xml, "</bpmn:scriptTsk>")
    assert "XML" in err.message and str(err.line) in err.message


def test_unknown_element_refused_with_line():
    xml = tiny().replace(b"<bpmn:script>", b"<bpmn:bogusElement/><bpmn:script>")
    errors = refused(xml)
    assert any(e.line == line_of(xml, "<bpmn:bogusElement") and "bogusElement" in e.message for e in errors), errors


def test_gateway_missing_condition_without_default_refused():
    xml = tiny(default="")
    errors = refused(xml)
    err = next(e for e in errors if e.element_id == "f_no")
    assert err.line == line_of(xml, '<bpmn:sequenceFlow id="f_no"')
    assert "条件" in err.message and "是否填写" in err.message


def test_python_syntax_error_in_gateway_condition_refused():
    xml = tiny(condition="x &gt;&gt; = 0")
    (err,) = refused(xml)
    assert err.element_id == "f_yes" and err.element_name == "是"
    assert err.line == line_of(xml, "<bpmn:conditionExpression")
    assert "条件表达式" in err.message and "tiny.bpmn" in err.message


def test_forbidden_code_in_script_task_refused_with_script_line():
    xml = tiny(script="x = 1\nimport os")
    (err,) = refused(xml)
    assert err.element_id == "prepare" and err.element_name == "准备数据"
    assert err.line == line_of(xml, "import os")
    assert "导入" in err.message


def test_syntax_error_in_timer_and_service_parameter_refused():
    xml = tiny(timer="acceptance[", operator="accept_case").replace(b"value=\"'instant'\"", b'value="mode ="')
    errors = refused(xml)
    assert {e.element_id for e in errors} == {"wait", "call_op"}


def test_unknown_lane_refused():
    xml = tiny(lane="财务处")
    (err,) = refused(xml)
    assert err.element_id == "Lane_applicant" and err.element_name == "财务处"
    assert err.line == line_of(xml, "<bpmn:lane ")
    assert "泳道" in err.message


def test_missing_form_refused():
    xml = tiny(form="nope.schema.json")
    (err,) = refused(xml)
    assert err.element_id == "fill" and err.line == line_of(xml, 'name="formJsonSchemaFilename"')
    assert "nope.schema.json" in err.message


def test_missing_form_property_refused():
    xml = tiny().replace(b'name="formJsonSchemaFilename"', b'name="formJsonSchemaFileName"')
    errors = refused(xml)
    assert any("缺少 formJsonSchemaFilename" in e.message and e.element_id == "fill" for e in errors)


def test_operator_not_allow_listed_and_bad_rule_id_refused():
    errors = refused(tiny(operator="rm_rf", rule="R12"))  # R1..R11 are known (R11: the 权益保障 window)
    assert any("rm_rf" in e.message for e in errors)
    assert any("R12" in e.message for e in errors)


def test_misspelled_spiff_extension_refused():
    xml = tiny().replace(
        b"<bpmn:script>",
        b"<bpmn:extensionElements><spiffworkflow:preScritp>y = 1"
        b"</spiffworkflow:preScritp></bpmn:extensionElements><bpmn:script>",
    )
    errors = refused(xml)
    assert any("preScritp" in e.message for e in errors)


def test_pre_script_on_script_task_refused_as_ignored():
    xml = tiny().replace(
        b"<bpmn:script>",
        b"<bpmn:extensionElements><spiffworkflow:preScript>y = 1"
        b"</spiffworkflow:preScript></bpmn:extensionElements><bpmn:script>",
    )
    errors = refused(xml)
    assert any(e.element_id == "prepare" and "忽略" in e.message for e in errors), errors


@pytest.mark.parametrize(
    "payload",
    [
        b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<d>&xxe;</d>',
        b'<?xml version="1.0"?>\n<!DOCTYPE lol [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>\n<d>&b;</d>',
        b'<?xml version="1.0"?>\n<!doctype d SYSTEM "http://example.com/evil.dtd">\n<d/>',
    ],
)
def test_doctype_and_entities_refused(payload):
    (err,) = refused(payload)
    assert err.line == 2 and "DOCTYPE" in err.message


def test_xxe_in_dmn_refused():
    with pytest.raises(DefinitionInvalid) as info:
        parse_definition(
            {"tiny.bpmn": tiny()},
            {"x.dmn": b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'},
            "tiny",
            FORMS,
            OPERATORS,
        )
    assert "x.dmn" in info.value.errors[0].message


def test_all_errors_reported_together():
    errors = refused(tiny(lane="财务处", form="nope.json", condition="x &gt;"))
    assert len(errors) >= 3


# -- a valid definition ---------------------------------------------------------------------------------------------


def test_valid_definition_parses():
    parsed = parse_definition({"tiny.bpmn": tiny()}, {}, "tiny", FORMS, OPERATORS)
    assert parsed.process_id == "tiny" and parsed.name == "小流程"
    assert parsed.lanes == {"申请人"}
    assert parsed.user_tasks == [
        {
            "id": "fill",
            "name": "填写申请",
            "process_id": "tiny",
            "lane": "申请人",
            "role": "applicant",
            "form": "fill.schema.json",
            "due_working_days": 5,
            "hold_reason": None,
            "rule_id": "R1",
        }
    ]
    assert re.fullmatch(r"[0-9a-f]{64}", parsed.sha256)
    assert parsed.sha256 == parse_definition({"tiny.bpmn": tiny()}, {}, "tiny", FORMS, OPERATORS).sha256
    assert parsed.sha256 != parse_definition({"tiny.bpmn": tiny(rule="R2")}, {}, "tiny", FORMS, OPERATORS).sha256
    json.dumps(parsed.spec_dict)  # storable as JSON
    # form_names/operators not given: those checks are skipped
    parse_definition({"tiny.bpmn": tiny(form="other.json", operator="x")}, {}, "tiny", None, None)


def _run_to_user_task(wf):
    wf.do_engine_steps()
    (task,) = wf.get_tasks(state=TaskState.READY, manual=True)
    return task


def test_spec_and_state_round_trip():
    parsed = parse_definition({"tiny.bpmn": tiny()}, {}, "tiny", FORMS, OPERATORS)
    spec_json = json.dumps(parsed.spec_dict, ensure_ascii=False)
    spec, subprocess_specs = serialization.spec_from_dict(json.loads(spec_json))
    assert spec.name == "tiny" and set(spec.task_specs) == set(parsed.spec.task_specs)

    calls = []

    def accept_case(data, params):
        calls.append(params)
        return {"mode": params["mode"], "due_at": "2000-01-01T00:00:00+00:00"}

    engine = make_script_engine({"accept_case": accept_case})
    wf = BpmnWorkflow(spec, subprocess_specs, script_engine=engine)
    task = _run_to_user_task(wf)
    assert task.task_spec.name == "fill" and task.data["items"] == [0, 2, 4]

    state = serialization.state_to_json(wf)
    doc = json.loads(state)
    assert "spec" not in doc and "subprocess_specs" not in doc
    assert '"task_specs"' not in state and doc["serializer_version"] == serialization.SERIALIZER_VERSION
    assert len(state) < len(spec_json)

    wf2 = serialization.workflow_from_state(state, json.loads(spec_json), engine)
    assert wf2.script_engine is engine
    task2 = _run_to_user_task(wf2)
    assert task2.id == task.id and task2.data == task.data
    task2.data["answer"] = "是"
    task2.run()
    wf2.do_engine_steps()
    for _ in range(3):  # the timer (already due) fires in refresh_timers
        wf2.refresh_timers()
        wf2.do_engine_steps()
    assert wf2.completed and calls == [{"mode": "instant"}]
    last = wf2.last_task.data
    assert last["acceptance"]["mode"] == "instant" and last["answer"] == "是"

    # and once more from a state saved mid-way, passing restored specs instead of the dict
    wf3 = serialization.workflow_from_state(serialization.state_to_json(wf2), (spec, subprocess_specs), engine)
    assert wf3.completed


def test_state_with_typename_key_refused():
    parsed = parse_definition({"tiny.bpmn": tiny()}, {}, "tiny", FORMS, OPERATORS)
    wf = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=make_script_engine())
    task = _run_to_user_task(wf)
    task.data["form"] = {"nested": [{"typename": "x"}]}
    with pytest.raises(serialization.SerializationError) as info:
        serialization.state_to_json(wf)
    assert "typename" in str(info.value)


def test_date_and_decimal_round_trip():
    import datetime as dt
    from decimal import Decimal

    parsed = parse_definition({"tiny.bpmn": tiny()}, {}, "tiny", FORMS, OPERATORS)
    wf = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=make_script_engine())
    task = _run_to_user_task(wf)
    value = {"d": dt.date(2024, 2, 29), "n": Decimal("1.10"), "t": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}
    task.data.update(value)
    wf2 = serialization.workflow_from_state(serialization.state_to_json(wf), parsed.spec_dict, make_script_engine())
    restored = wf2.get_task_from_id(task.id).data
    assert {k: restored[k] for k in value} == value


# -- the real definitions -------------------------------------------------------------------------------------------

README_OPERATORS = {
    "check_credit",
    "check_dossier",
    "accept_case",
    "record_breach",
    "allocate_quota",
    "start_publicity",
    "compute_filing_due",
    "notify",
    "check_special_post",
    "apply_revision",
    "register_special_post",
    "writeoff_special_post",
    "tally_votes",
    "close_case",
}


def _readme_operators() -> set[str]:
    readme = BPMN_DIR / "README.md"
    if not readme.exists():
        return README_OPERATORS
    found = set(re.findall(r"^\| `([a-z_]+)` \|", readme.read_text("utf-8"), re.M))
    return found or README_OPERATORS


@pytest.mark.parametrize("path", sorted(BPMN_DIR.glob("*.bpmn")), ids=lambda p: p.name)
def test_bundled_definitions_pass(path):
    dmn = {p.name: p.read_bytes() for p in sorted(BPMN_DIR.glob("*.dmn"))}
    forms_dir = BPMN_DIR / "forms"
    form_names = {p.name for p in forms_dir.glob("*.schema.json")} or None  # forms may be written by another helper
    parsed = parse_definition({path.name: path.read_bytes()}, dmn, path.stem, form_names, _readme_operators())
    assert parsed.lanes <= set(LANE_ROLES)
    assert parsed.user_tasks and all(t["form"] for t in parsed.user_tasks)
    spec, subs = serialization.spec_from_dict(json.loads(json.dumps(parsed.spec_dict)))
    assert spec.name == path.stem


# -- timer values (ISO 8601 with bounds) --------------------------------------------------------------------------


def _timer(kind: str, expression: str) -> bytes:
    xml = tiny(timer=expression)
    return xml.replace(b"bpmn:timeDate", f"bpmn:{kind}".encode())


@pytest.mark.parametrize(
    "kind, expression, words",
    [
        ("timeDate", "'P1D'", "不是时间点"),
        ("timeDate", "12345", "ISO 8601 时间点文本"),
        ("timeDate", "'not a date'", "不是合法的 ISO 8601 时间点"),
        ("timeDate", "'9999-01-01T00:00:00+08:00'", "超出范围"),
        ("timeDuration", "'P9000Y'", "超出上限"),
        ("timeDuration", "'P1X'", "不是合法的 ISO 8601 时长"),
        ("timeDuration", "'P4000000Y'", "超出上限"),
        ("timeDuration", "12345", "ISO 8601 时长文本"),
        ("timeDuration", "'2026-05-01'", "不是合法的 ISO 8601 时长"),
        ("timeCycle", "'R/PT1M'", "重复次数"),
        ("timeCycle", "'R5/PT1S'", "过短"),
        ("timeCycle", "'R3/P9000Y'", "超出上限"),
        ("timeCycle", "'P1D'", "周期"),
    ],
)
def test_bad_timer_values_are_refused_at_save_naming_the_element(kind, expression, words):
    xml = _timer(kind, expression.replace("'", "&apos;"))
    (err,) = refused(xml)
    assert err.element_id == "wait" and err.element_name == "等待"
    assert kind in err.message and words in err.message, err.message
    assert err.line == line_of(xml, f"<bpmn:{kind}")


@pytest.mark.parametrize(
    "kind, expression",
    [
        ("timeDate", "'2026-05-01T09:00:00+08:00'"),
        ("timeDate", "'2026-05-01'"),
        ("timeDate", 'acceptance["due_at"]'),
        ("timeDuration", "'P30D'"),
        ("timeDuration", "'PT12H'"),
        ("timeDuration", "'P1Y2M'"),
        ("timeDuration", "'P10Y'"),
        ("timeDuration", "delay"),
        ("timeCycle", "'R3/P1D'"),
        ("timeCycle", "'R2/2026-05-01T09:00:00+08:00/P1D'"),
    ],
)
def test_good_timer_values_pass(kind, expression):
    parse_definition({"tiny.bpmn": _timer(kind, expression.replace("'", "&apos;"))}, {}, "tiny", FORMS, OPERATORS)


def test_the_engine_refuses_a_bad_timer_value_at_run_time_within_a_second():
    """A variable's value is only known when the timer runs: 'P4000000Y' looped 23 s inside SpiffWorkflow."""
    import time

    from workflows.engine.timers import TimerValueError, check_duration, install

    install()
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

    for bad in ("P4000000Y", "P9000Y", "P1X", 12345, None):
        start = time.monotonic()
        with pytest.raises(TimerValueError):
            TimerEventDefinition.parse_iso_duration(bad)
        assert time.monotonic() - start < 1
    assert check_duration("P1Y2M") == {"years": 1, "months": 2}
