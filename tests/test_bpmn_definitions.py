"""The process definitions in ``bpmn/`` against the contract of ``bpmn/README.md``.

Static checks (parse with the spiff validator, lanes, forms, operators, DI, rule ids, gateways) and one path test per
branch of every process, driven in raw SpiffWorkflow with a fake service environment.  The path tests are the proof
that the diagrams do what the README and DESIGN rules R1–R10 say.
"""

from __future__ import annotations

import ast
import json
from copy import deepcopy
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from lxml import etree
from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.specs.defaults import ServiceTask, UserTask
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState

ROOT = Path(__file__).resolve().parent.parent
BPMN_DIR = ROOT / "bpmn"
FORMS_DIR = BPMN_DIR / "forms"
DMN_FILE = BPMN_DIR / "talent_eligibility.dmn"
PROCESS_IDS = [
    "green_channel_registration",
    "special_post",
    "senior_title_direct",
    "senior_post_level2",
    "rights_complaint",
]

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}

# README: lane name -> role code
LANES = {
    "申请人": "applicant",
    "用人单位": "unit_hr",
    "主管部门": "dept",
    "编办": "bianban",
    "人社部门": "hrss",
    "评委会办公室": "committee",
    "权益保障窗口": "rights_office",
}
# README: operator -> parameter names
OPERATORS = {
    "check_credit": set(),
    "check_dossier": set(),
    "accept_case": {"mode"},
    "record_breach": set(),
    "allocate_quota": set(),
    "start_publicity": {"kind"},
    "compute_filing_due": set(),
    "notify": {"kind"},
    "check_special_post": set(),
    "apply_revision": {"fields"},
    "register_special_post": set(),
    "writeoff_special_post": {"reason"},
    "tally_votes": set(),
    "close_case": {"outcome", "rule", "reason"},
    "route_complaint": {"to", "reason"},
    "accept_complaint": set(),
    "answer_complaint": set(),
    "record_rating": set(),
}
# README: message -> payload variable
MESSAGES = {"rongque_supplied": "supplied", "objection": "objection", "special_post_writeoff": "writeoff"}
USER_TASK_PROPERTIES = {"formJsonSchemaFilename", "dueWorkingDays", "dueDateExpression", "holdReason", "ruleId"}
RULE_IDS = {f"R{i}" for i in range(1, 12)}


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------


def parse(pid):
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_dmn_file(str(DMN_FILE))
    parser.add_bpmn_file(str(BPMN_DIR / f"{pid}.bpmn"))
    return parser.get_spec(pid), parser.get_subprocess_specs(pid)


def xml(pid):
    return etree.parse(str(BPMN_DIR / f"{pid}.bpmn")).getroot()


def task_specs(pid):
    spec, _ = parse(pid)
    return [ts for ts in spec.task_specs.values() if getattr(ts, "bpmn_id", None)]


def load_form(name):
    return json.loads((FORMS_DIR / name).read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------------------------
# static checks
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_parses_with_spiff_validator_and_dmn(pid):
    spec, subprocesses = parse(pid)
    assert spec.name == pid
    # the plain BPMN schema (spiff extensions are lax there) must accept the file as well
    plain = SpiffBpmnParser(validator=BpmnValidator())
    plain.add_dmn_file(str(DMN_FILE))
    plain.add_bpmn_file(str(BPMN_DIR / f"{pid}.bpmn"))
    assert plain.get_spec(pid).name == pid
    assert subprocesses == {}
    root = xml(pid)
    assert root.nsmap["spiffworkflow"] == NS["spiffworkflow"]
    process = root.find("bpmn:process", NS)
    assert process.get("isExecutable") == "true" and process.get("name")
    participants = root.findall("bpmn:collaboration/bpmn:participant", NS)
    assert [p.get("processRef") for p in participants] == [pid]


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_every_lane_is_a_known_role(pid):
    root = xml(pid)
    lanes = root.findall(".//bpmn:laneSet/bpmn:lane", NS)
    assert lanes
    assert {lane.get("name") for lane in lanes} <= set(LANES)
    in_lane = {ref.text for ref in root.iterfind(".//bpmn:lane/bpmn:flowNodeRef", NS)}
    flow_nodes = {
        el.get("id")
        for el in root.find("bpmn:process", NS)
        if etree.QName(el).localname not in ("laneSet", "sequenceFlow", "documentation")
    }
    assert flow_nodes == in_lane, "every flow node sits in exactly one lane"
    for ts in task_specs(pid):
        if isinstance(ts, UserTask):
            assert ts.lane in LANES, ts.bpmn_id


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_user_tasks_have_valid_forms(pid):
    user_tasks = [ts for ts in task_specs(pid) if isinstance(ts, UserTask)]
    assert user_tasks
    fields_by_task = {}
    for ts in user_tasks:
        props = ts.extensions.get("properties", {})
        assert set(props) <= USER_TASK_PROPERTIES, ts.bpmn_id
        assert "formJsonSchemaFilename" in props, ts.bpmn_id
        if "dueWorkingDays" in props:
            assert int(props["dueWorkingDays"]) > 0
        schema = load_form(props["formJsonSchemaFilename"])
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["additionalProperties"] is False and schema["required"]
        assert schema["title"] and ts.bpmn_name
        for name, prop in schema["properties"].items():
            assert prop.get("title"), f"{props['formJsonSchemaFilename']}: {name} has no title"
            assert name != "typename"
        fields_by_task[ts.bpmn_id] = set(schema["properties"])
    # no two tasks of a process write the same key
    seen = {}
    for task_id, fields in fields_by_task.items():
        for f in fields:
            assert f not in seen, f"{f} written by {seen.get(f)} and {task_id}"
            seen[f] = task_id


def test_every_form_file_is_referenced_and_valid():
    referenced = set()
    for pid in PROCESS_IDS:
        for ts in task_specs(pid):
            if isinstance(ts, UserTask):
                referenced.add(ts.extensions["properties"]["formJsonSchemaFilename"])
    files = {p.name for p in FORMS_DIR.glob("*.schema.json")}
    assert referenced <= files
    for name in files:
        Draft202012Validator.check_schema(load_form(name))


@pytest.mark.parametrize(
    "form,data,ok",
    [
        ("unit_review.schema.json", {"unit_decision": "approve"}, True),
        ("unit_review.schema.json", {"unit_decision": "refuse"}, False),
        ("unit_review.schema.json", {"unit_decision": "refuse", "unit_opinion": ""}, False),
        ("unit_review.schema.json", {"unit_decision": "refuse", "unit_opinion": "岗位已满"}, True),
        ("unit_review.schema.json", {"unit_decision": "maybe"}, False),
        ("unit_review.schema.json", {"unit_decision": "approve", "typename": "x"}, False),
        ("assessment.schema.json", {"assessment_result": "fail"}, False),
        ("objection_review.schema.json", {"objection_finding": "rejected"}, False),
        ("rongque_commitment.schema.json", {"commitment_signed": False}, False),
        ("rongque_commitment.schema.json", {"commitment_signed": True}, True),
        ("committee_vote.schema.json", {"experts_present": 0, "votes_for": 0}, False),
        ("committee_vote.schema.json", {"experts_present": 9, "votes_for": 6}, False),  # 应到/不同意/弃权 recorded too
        (
            "committee_vote.schema.json",
            {"experts_expected": 11, "experts_present": 9, "votes_for": 6, "votes_against": 2, "votes_abstain": 1},
            True,
        ),
        ("filing.schema.json", {"filing_confirmed": True, "filing_note": "x" * 501}, False),
    ],
)
def test_form_validation(form, data, ok):
    errors = list(Draft202012Validator(load_form(form)).iter_errors(data))
    assert (not errors) is ok, errors


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_service_tasks_use_listed_operators(pid):
    services = [ts for ts in task_specs(pid) if isinstance(ts, ServiceTask)]
    assert services
    for ts in services:
        assert ts.operation_name in OPERATORS, ts.bpmn_id
        assert set(ts.operation_params) == OPERATORS[ts.operation_name], ts.bpmn_id
        assert not ts.result_variable.startswith("spiff__"), f"{ts.bpmn_id} needs a resultVariable"
        for param in ts.operation_params.values():
            ast.parse(param["value"], mode="eval")


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_refusals_close_the_case_then_terminate(pid):
    root = xml(pid)
    process = root.find("bpmn:process", NS)
    by_id = {el.get("id"): el for el in process}
    flows = process.findall("bpmn:sequenceFlow", NS)
    for task in process.findall("bpmn:serviceTask", NS):
        op = task.find(".//spiffworkflow:serviceTaskOperator", NS)
        if op.get("id") != "close_case":
            continue
        outcome = op.find(".//spiffworkflow:parameter[@id='outcome']", NS).get("value")
        nxt = [by_id[f.get("targetRef")] for f in flows if f.get("sourceRef") == task.get("id")]
        assert len(nxt) == 1 and etree.QName(nxt[0]).localname == "endEvent"
        terminate = nxt[0].find("bpmn:terminateEventDefinition", NS) is not None
        assert terminate == (outcome != "'completed'"), task.get("id")


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_every_flow_node_and_flow_has_di(pid):
    root = xml(pid)
    process = root.find("bpmn:process", NS)
    shapes = {s.get("bpmnElement"): s for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): e for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    for el in process:
        kind = etree.QName(el).localname
        if kind in ("laneSet", "documentation"):
            continue
        if kind == "sequenceFlow":
            edge = edges.get(el.get("id"))
            assert edge is not None, el.get("id")
            points = edge.findall("{http://www.omg.org/spec/DD/20100524/DI}waypoint")
            assert len(points) >= 2
            for a, b in zip(points, points[1:]):  # orthogonal
                assert a.get("x") == b.get("x") or a.get("y") == b.get("y"), el.get("id")
        else:
            assert el.get("id") in shapes, el.get("id")
            assert el.get("name"), f"{el.get('id')} has no name"
    for lane in root.iterfind(".//bpmn:lane", NS):
        assert lane.get("id") in shapes
    assert f"Participant_{pid}" in shapes


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_rule_ids_are_known(pid):
    found = 0
    for prop in xml(pid).iterfind(".//spiffworkflow:property[@name='ruleId']", NS):
        assert prop.get("value") in RULE_IDS
        found += 1
    assert found
    for ts in task_specs(pid):
        rule = getattr(ts, "extensions", {}).get("properties", {}).get("ruleId")
        assert rule is None or rule in RULE_IDS


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_gateways_have_defaults_and_expressions_parse(pid):
    root = xml(pid)
    process = root.find("bpmn:process", NS)
    flows = process.findall("bpmn:sequenceFlow", NS)
    for gw in process.findall("bpmn:exclusiveGateway", NS):
        out = [f for f in flows if f.get("sourceRef") == gw.get("id")]
        if len(out) > 1:
            assert gw.get("default") in {f.get("id") for f in out}, gw.get("id")
            for f in out:
                cond = f.find("bpmn:conditionExpression", NS)
                assert (cond is None) == (f.get("id") == gw.get("default")), f.get("id")
    for cond in process.iterfind(".//bpmn:conditionExpression", NS):
        ast.parse(cond.text, mode="eval")
    for td in process.iterfind(".//bpmn:timeDate", NS):
        ast.parse(td.text, mode="eval")
    for script in process.iterfind(".//bpmn:script", NS):
        ast.parse(script.text)


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_messages_declare_payload_variable(pid):
    root = xml(pid)
    messages = {m.get("id"): m.get("name") for m in root.findall("bpmn:message", NS)}
    assert set(messages.values()) <= set(MESSAGES)
    for holder in root.iterfind(".//*[@messageRef]", NS):
        name = messages[holder.get("messageRef")]
        var = holder.find(".//spiffworkflow:messageVariable", NS)
        assert var is not None and var.text == MESSAGES[name], holder.get("id")


# ---------------------------------------------------------------------------------------------------------------
# driving the processes
# ---------------------------------------------------------------------------------------------------------------

PAST = "2000-01-03T09:00:00+08:00"
FUTURE = "2999-12-31T09:00:00+08:00"


def canned():
    return {
        "check_credit": {"blocked": False, "reason": ""},
        "check_dossier": {"status": "complete", "owed": [], "missing_key": [], "barred": False, "reason": ""},
        "accept_case": lambda p: {
            "accepted_on": "2026-03-02",
            "mode": p["mode"],
            "rongque_deadline": "2026-04-14" if p["mode"] == "rongque" else None,
            "rongque_deadline_at": FUTURE if p["mode"] == "rongque" else None,
        },
        "record_breach": {},
        "allocate_quota": {"source": "own"},
        "start_publicity": {"start": "2026-03-03", "end": "2026-03-09", "end_at": PAST},
        "compute_filing_due": {"complete_on": "2026-03-02", "due": "2026-04-02", "due_at": FUTURE, "remind_at": FUTURE},
        "notify": {},
        "check_special_post": {"eligible": True, "returned": False, "reason": "", "term_months": 36, "capped": False},
        "apply_revision": {"changes": {}, "note": ""},
        "register_special_post": {"post_id": "SP-2026-1", "term_end": "2029-03-01", "term_end_at": PAST},
        "writeoff_special_post": {"written_off_on": "2026-03-02"},
        "tally_votes": {"passed": True, "ratio": 0.8},
        "close_case": {},
    }


class FakeServices(TaskDataEnvironment):
    """Answers service tasks with canned JSON per operator and records every call."""

    def __init__(self, responses):
        super().__init__()
        self.responses = responses
        self.calls = []

    def call_service(self, context, operation_name=None, operation_params=None, **kwargs):
        params = {k: v["value"] for k, v in (operation_params or {}).items()}
        self.calls.append((operation_name, params))
        answer = self.responses[operation_name]
        if isinstance(answer, list):  # successive calls; the last answer repeats
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if callable(answer):
            answer = answer(params)
        return json.dumps(answer)


class Engine(PythonScriptEngine):
    # PythonScriptEngine.call_service in 3.2.0 raises NameError ('script') in its except clause.
    def call_service(self, task, **kwargs):
        return self.environment.call_service(task.data, **kwargs)


def initial_data(pid, **overrides):
    data = {
        "case_no": "150000A260302000001",
        "procedure": pid,
        "applicant_name": "张三",
        "id_number": "150102198001010011",
        "unit_code": "U001",
        "params": {
            "rongque_days": 30,
            "publicity_days": 5,
            "special_post_term_cap": 60,
            "special_post_term_mode": "refuse",
        },
    }
    if pid == "green_channel_registration":
        data.update(
            talent_category=3,
            introduction_mode="rigid",
            outside_establishment=False,
            materials=["id_card", "talent_certificate", "contract", "inspection"],
        )
    elif pid == "special_post":
        data.update(
            post_name="首席研究员",
            post_level="专业技术二级",
            term_months=36,
            holder_name="李四",
            holder_id_number="150102198001010022",
            unit_has_vacancy_at_level=False,
            reason="急需紧缺",
        )
    elif pid == "senior_post_level2":
        data.update(
            talent_category=2,
            introduction_mode=None,
            achievement=None,
            current_post="专业技术三级",
            current_post_since="2024-01-01",
            major="",
            on_leave_entrepreneur=False,
            delayed_retirement=False,
        )
    else:
        data.update(
            talent_category=5,
            introduction_mode="rigid",
            achievement=None,
            target_level="正高",
            on_leave_entrepreneur=False,
            delayed_retirement=False,
        )
    data.update(overrides)
    return data


def waiting_messages(wf):
    """Names of the messages the workflow waits for.

    ``wf.waiting_events()`` reports an event-based gateway as one MultipleEventDefinition without a name, so look
    at the event definitions of the waiting tasks themselves.
    """
    names = set()
    for task in wf.get_tasks(state=TaskState.WAITING):
        event_def = getattr(task.task_spec, "event_definition", None)
        for ed in getattr(event_def, "event_definitions", None) or [event_def]:
            if isinstance(ed, MessageEventDefinition):
                names.add(ed.name)
    return names


class Run:
    def __init__(self, pid, data=None, services=None, forms=None, messages=None):
        spec, subprocesses = parse(pid)
        responses = canned()
        responses.update(services or {})
        self.env = FakeServices(responses)
        self.wf = BpmnWorkflow(spec, subprocesses, script_engine=Engine(environment=self.env))
        self.forms = {k: (list(v) if isinstance(v, list) else [v]) for k, v in (forms or {}).items()}
        self.messages = list(messages or [])
        self.done_user_tasks = []
        start = self.wf.get_tasks(state=TaskState.READY)[0]
        start.data.update(initial_data(pid, **(data or {})))
        self.drive()

    def settle(self):
        def snapshot():
            return {(t.id, t.state) for t in self.wf.get_tasks()}

        for _ in range(50):
            before = snapshot()
            self.wf.refresh_timers()
            self.wf.do_engine_steps()
            if snapshot() == before:
                return
        raise AssertionError("workflow does not settle")

    def drive(self):
        for _ in range(100):
            self.settle()
            if self.wf.is_completed():
                return
            ready = self.wf.get_tasks(state=TaskState.READY, manual=True)
            if ready:
                task = ready[0]
                bpmn_id = task.task_spec.bpmn_id
                assert self.forms.get(bpmn_id), f"no form data for open task {bpmn_id}"
                answers = self.forms[bpmn_id]
                data = answers.pop(0) if len(answers) > 1 else answers[0]
                form = task.task_spec.extensions["properties"]["formJsonSchemaFilename"]
                Draft202012Validator(load_form(form)).validate(data)
                task.task_spec.add_data_from_form(task, deepcopy(data))
                task.run()
                self.done_user_tasks.append(bpmn_id)
                continue
            waiting = waiting_messages(self.wf)
            pending = [m for m in self.messages if m[0] in waiting]
            if not pending:
                return
            name, payload = pending[0]
            self.messages.remove(pending[0])
            self.wf.send_event(BpmnEvent(MessageEventDefinition(name), payload=payload))
        raise AssertionError("too many steps")

    # -- results ---------------------------------------------------------------------------------------------
    def ops(self, name=None):
        return [c for c in self.env.calls if name is None or c[0] == name]

    @property
    def closed(self):
        closes = self.ops("close_case")
        assert len(closes) == 1, closes
        return closes[0][1]

    @property
    def data(self):
        return self.wf.last_task.data if self.wf.last_task else self.wf.data

    def completed_specs(self):
        return {
            t.task_spec.bpmn_id
            for t in self.wf.get_tasks(state=TaskState.COMPLETED)
            if getattr(t.task_spec, "bpmn_id", None)
        }


APPROVE = {"unit_review": {"unit_decision": "approve"}, "dept_review": {"dept_decision": "approve"}}
REFUSE = {"unit_decision": "refuse", "unit_opinion": "单位不同意"}


def reg_forms(**extra):
    forms = {
        "Task_unit_review": {"unit_decision": "approve"},
        "Task_dept_review": {"dept_decision": "approve"},
        "Task_filing": {"filing_confirmed": True},
        "Task_rongque_commitment": {"commitment_signed": True},
        "Task_assessment": {"assessment_result": "pass"},
    }
    forms.update(extra)
    return forms


SUPPLIED = ("rongque_supplied", {"items": ["diploma"]})
OBJECTION = ("objection", {"by": "群众", "text": "学历存疑"})

# (id, run kwargs, expected close (outcome, rule, reason or None), extra check)
REGISTRATION = [
    (
        "credit_blocked",
        dict(services={"check_credit": {"blocked": True, "reason": "科研失信名单"}}),
        ("not_accepted", "R10", "科研失信名单"),
        lambda r: not r.ops("check_dossier"),
    ),
    (
        "flexible_refused",
        dict(data={"introduction_mode": "flexible"}),
        ("not_accepted", "R1", None),
        lambda r: "柔性引进协议" in r.closed["reason"] and not r.ops("check_dossier"),
    ),
    (
        "category7_refused",
        dict(data={"talent_category": 7}),
        ("not_accepted", "R1", None),
        lambda r: "一至六类" in r.closed["reason"] and "公开招聘" in r.closed["reason"],
    ),
    (
        "unrecognised_refused",
        dict(data={"talent_category": None}),
        ("not_accepted", "R1", None),
        lambda r: "认定" in r.closed["reason"],
    ),
    (
        "dossier_incomplete",
        dict(
            services={
                "check_dossier": {
                    "status": "incomplete",
                    "owed": [],
                    "missing_key": ["contract"],
                    "barred": False,
                    "reason": "缺少聘用合同",
                }
            }
        ),
        ("not_accepted", "R3", "缺少聘用合同"),
        lambda r: not r.ops("accept_case"),
    ),
    (
        "instant_own_quota_completed",
        dict(forms=reg_forms()),
        ("completed", "R6", ""),
        lambda r: (
            r.ops("accept_case") == [("accept_case", {"mode": "instant"})]
            and "Task_rongque_supply" not in r.completed_specs()
            and not r.ops("notify")
            and r.done_user_tasks == ["Task_unit_review", "Task_dept_review", "Task_filing"]
        ),
    ),
    (
        "rongque_supplied_completed",
        dict(
            services={
                "check_dossier": {
                    "status": "rongque",
                    "owed": ["diploma"],
                    "missing_key": [],
                    "barred": False,
                    "reason": "",
                }
            },
            forms=reg_forms(),
            messages=[SUPPLIED],
        ),
        ("completed", "R6", ""),
        lambda r: (
            r.ops("accept_case") == [("accept_case", {"mode": "rongque"})]
            and r.done_user_tasks[0] == "Task_rongque_commitment"
            and r.data["supplied"] == {"items": ["diploma"]}
            and not r.ops("record_breach")
        ),
    ),
    (
        "rongque_deadline_lapsed",
        dict(
            services={
                "check_dossier": {
                    "status": "rongque",
                    "owed": ["diploma"],
                    "missing_key": [],
                    "barred": False,
                    "reason": "",
                },
                "accept_case": {
                    "accepted_on": "2000-01-03",
                    "mode": "rongque",
                    "rongque_deadline": "2000-02-14",
                    "rongque_deadline_at": PAST,
                },
            },
            forms=reg_forms(),
        ),
        ("terminated", "R3", "容缺材料逾期未补齐"),
        lambda r: len(r.ops("record_breach")) == 1,
    ),
    (
        "unit_refused",
        dict(forms=reg_forms(Task_unit_review=REFUSE)),
        ("refused", None, "单位不同意"),
        lambda r: not r.ops("allocate_quota"),
    ),
    (
        "assessment_failed",
        dict(
            data={"outside_establishment": True},
            forms=reg_forms(Task_assessment={"assessment_result": "fail", "assessment_note": "考核不合格"}),
        ),
        ("refused", "R5", "考核不合格"),
        lambda r: not r.ops("start_publicity"),
    ),
    (
        "assessment_publicity_completed",
        dict(data={"outside_establishment": True}, forms=reg_forms()),
        ("completed", "R6", ""),
        lambda r: (
            r.ops("start_publicity") == [("start_publicity", {"kind": "unit"})]
            and "Task_publicity_objection_review" not in r.done_user_tasks
        ),
    ),
    (
        "objection_upheld",
        dict(
            data={"outside_establishment": True},
            services={"start_publicity": {"start": "2026-03-03", "end": "2999-12-31", "end_at": FUTURE}},
            forms=reg_forms(
                Task_publicity_objection_review={"objection_finding": "upheld", "objection_note": "学历造假属实"}
            ),
            messages=[OBJECTION],
        ),
        ("terminated", "R7", "学历造假属实"),
        lambda r: r.data["objection"] == OBJECTION[1],
    ),
    (
        "objection_rejected_completed",
        dict(
            data={"outside_establishment": True},
            services={"start_publicity": {"start": "2026-03-03", "end": "2999-12-31", "end_at": FUTURE}},
            forms=reg_forms(
                Task_publicity_objection_review={"objection_finding": "rejected", "objection_note": "经核查异议不成立"}
            ),
            messages=[OBJECTION],
        ),
        ("completed", "R6", ""),
        lambda r: "Task_publicity_objection_review" in r.done_user_tasks,
    ),
    (
        "dept_refused",
        dict(forms=reg_forms(Task_dept_review={"dept_decision": "refuse", "dept_opinion": "不同意"})),
        ("refused", None, "不同意"),
        lambda r: not r.ops("allocate_quota"),
    ),
    (
        "pool_approved_completed",
        dict(
            services={"allocate_quota": {"source": "pool"}},
            forms=reg_forms(Task_pool_review={"pool_decision": "approve"}),
        ),
        ("completed", "R6", ""),
        lambda r: "Task_pool_review" in r.done_user_tasks,
    ),
    (
        "pool_refused",
        dict(
            services={"allocate_quota": {"source": "pool"}},
            forms=reg_forms(Task_pool_review={"pool_decision": "refuse", "pool_opinion": "专项编制不足"}),
        ),
        ("refused", "R4", "专项编制不足"),
        None,
    ),
    (
        "quota_adjusted_retry_completed",
        dict(
            services={"allocate_quota": [{"source": "none"}, {"source": "own"}]},
            forms=reg_forms(Task_quota_adjust={"adjust_decision": "retry", "adjust_note": "已调剂空编"}),
        ),
        ("completed", "R6", ""),
        lambda r: len(r.ops("allocate_quota")) == 2 and "Task_quota_adjust" in r.done_user_tasks,
    ),
    (
        "quota_adjust_refused",
        dict(
            services={"allocate_quota": {"source": "none"}},
            forms=reg_forms(Task_quota_adjust={"adjust_decision": "refuse", "adjust_note": "无编制可调剂"}),
        ),
        ("refused", "R4", "无编制可调剂"),
        None,
    ),
    (
        "filing_reminder_and_escalation",
        dict(
            services={
                "compute_filing_due": {
                    "complete_on": "2000-01-03",
                    "due": "2000-02-03",
                    "due_at": PAST,
                    "remind_at": PAST,
                }
            },
            forms=reg_forms(),
        ),
        ("completed", "R6", ""),
        lambda r: sorted(p["kind"] for _, p in r.ops("notify")) == ["filing_escalation", "filing_reminder"],
    ),
]


def _check(run, expected, extra):
    assert run.wf.is_completed(), (
        f"stuck; open: {[t.task_spec.bpmn_id for t in run.wf.get_tasks(state=TaskState.READY)]}"
    )
    outcome, rule, reason = expected
    closed = run.closed
    assert (closed["outcome"], closed["rule"]) == (outcome, rule)
    if reason is not None:
        assert closed["reason"] == reason
    assert run.ops()[0][0] == "check_credit"
    if extra is not None:
        assert extra(run)


@pytest.mark.parametrize("case", REGISTRATION, ids=[c[0] for c in REGISTRATION])
def test_registration_paths(case):
    _, kwargs, expected, extra = case
    _check(Run("green_channel_registration", **kwargs), expected, extra)


def test_registration_waits_for_rongque_materials_and_publicity():
    """Nothing is supplied and the deadline is ahead: the case waits on both branches; the open filing task does
    not appear before the owed materials arrive."""
    run = Run(
        "green_channel_registration",
        services={
            "check_dossier": {
                "status": "rongque",
                "owed": ["diploma"],
                "missing_key": [],
                "barred": False,
                "reason": "",
            }
        },
        forms=reg_forms(),
    )
    assert not run.wf.is_completed()
    assert waiting_messages(run.wf) == {"rongque_supplied"}
    assert not run.wf.get_tasks(state=TaskState.READY, manual=True)
    assert "Task_filing" not in run.done_user_tasks and not run.ops("close_case")
    run.messages.append(SUPPLIED)
    run.drive()
    assert run.wf.is_completed() and run.closed["outcome"] == "completed"


def sp_forms(**extra):
    forms = {"Task_dept_review": {"dept_decision": "approve"}, "Task_hrss_approval": {"hrss_decision": "approve"}}
    forms.update(extra)
    return forms


SPECIAL_POST = [
    (
        "credit_blocked",
        dict(services={"check_credit": {"blocked": True, "reason": "职称撤销未满三年"}}),
        ("not_accepted", "R10", "职称撤销未满三年"),
        lambda r: not r.ops("check_special_post"),
    ),
    (
        "not_eligible",
        dict(
            services={
                "check_special_post": {
                    "eligible": False,
                    "returned": False,
                    "reason": "本单位有相应等级空岗",
                    "term_months": 36,
                    "capped": False,
                }
            }
        ),
        ("not_accepted", "R8", "本单位有相应等级空岗"),
        None,
    ),
    (
        "term_returned_then_resubmitted",  # R8 "refuse" mode: back to the unit, not closed
        dict(
            services={
                "check_special_post": [
                    {"eligible": False, "returned": True, "reason": "聘期超限", "term_months": 72, "capped": False},
                    {"eligible": True, "returned": False, "reason": "", "term_months": 48, "capped": False},
                ]
            },
            forms=sp_forms(Task_unit_revise={"term_months": 48}),
        ),
        ("completed", "R8", ""),
        lambda r: (
            "Task_unit_revise" in r.done_user_tasks
            and len(r.ops("check_special_post")) == 2
            and r.ops("apply_revision") == [("apply_revision", {"fields": "term_months,requested_start_on"})]
        ),
    ),
    (
        "dept_refused",
        dict(forms=sp_forms(Task_dept_review={"dept_decision": "refuse", "dept_opinion": "不同意"})),
        ("refused", None, "不同意"),
        lambda r: "Task_hrss_approval" not in r.done_user_tasks,
    ),
    (
        "hrss_refused",
        dict(forms=sp_forms(Task_hrss_approval={"hrss_decision": "refuse", "hrss_opinion": "超出"})),
        ("refused", "R8", "超出"),
        lambda r: not r.ops("register_special_post"),
    ),
    (
        "term_end_writeoff",
        dict(forms=sp_forms()),
        ("completed", "R8", ""),
        lambda r: r.ops("writeoff_special_post") == [("writeoff_special_post", {"reason": "term_end"})],
    ),
    (
        "early_writeoff",
        dict(
            services={"register_special_post": {"post_id": "SP-1", "term_end": "2999-12-31", "term_end_at": FUTURE}},
            forms=sp_forms(),
            messages=[("special_post_writeoff", {"reason": "holder_left"})],
        ),
        ("completed", "R8", ""),
        lambda r: r.ops("writeoff_special_post") == [("writeoff_special_post", {"reason": "holder_left"})],
    ),
]


@pytest.mark.parametrize("case", SPECIAL_POST, ids=[c[0] for c in SPECIAL_POST])
def test_special_post_paths(case):
    _, kwargs, expected, extra = case
    _check(Run("special_post", **kwargs), expected, extra)


def test_special_post_waits_for_term_end():
    run = Run(
        "special_post",
        services={"register_special_post": {"post_id": "SP-1", "term_end": "2999-12-31", "term_end_at": FUTURE}},
        forms=sp_forms(),
    )
    assert not run.wf.is_completed()
    assert waiting_messages(run.wf) == {"special_post_writeoff"}
    assert not run.ops("writeoff_special_post")


def title_forms(**extra):
    forms = {
        "Task_unit_review": {"unit_decision": "approve"},
        "Task_dept_review": {"dept_decision": "approve"},
        "Task_committee_vote": {
            "experts_expected": 9,
            "experts_present": 9,
            "votes_for": 7,
            "votes_against": 2,
            "votes_abstain": 0,
        },
        "Task_filing": {"filing_confirmed": True},
    }
    forms.update(extra)
    return forms


NO_END = {"start_publicity": {"start": "2026-03-03", "end": "2999-12-31", "end_at": FUTURE}}

TITLE = [
    (
        "credit_blocked",
        dict(services={"check_credit": {"blocked": True, "reason": "科研失信名单"}}),
        ("not_accepted", "R10", "科研失信名单"),
        None,
    ),
    (
        "not_eligible",
        dict(data={"introduction_mode": "flexible", "talent_category": 2}),
        ("not_accepted", "R9", None),
        lambda r: "常规程序" in r.closed["reason"],
    ),
    ("rigid_cat7_refused", dict(data={"talent_category": 7}), ("not_accepted", "R9", None), None),
    (
        "local_achievement",
        dict(
            data={
                "talent_category": None,
                "introduction_mode": "flexible",
                "achievement": "key_core_technology",
            },
            forms=title_forms(),
        ),
        ("completed", "R9", ""),
        lambda r: r.data["eligibility_ok"] is True,
    ),
    (
        "unit_refused",
        dict(forms=title_forms(Task_unit_review=REFUSE)),
        ("refused", None, "单位不同意"),
        lambda r: not r.ops("start_publicity"),
    ),
    (
        "unit_publicity_objection_upheld",
        dict(
            services=NO_END,
            messages=[OBJECTION],
            forms=title_forms(
                Task_publicity_objection_review={"objection_finding": "upheld", "objection_note": "异议属实"}
            ),
        ),
        ("terminated", "R7", "异议属实"),
        lambda r: "Task_dept_review" not in r.done_user_tasks,
    ),
    (
        "unit_publicity_objection_rejected",
        dict(
            services={"start_publicity": [NO_END["start_publicity"], canned()["start_publicity"]]},
            messages=[OBJECTION],
            forms=title_forms(
                Task_publicity_objection_review={"objection_finding": "rejected", "objection_note": "异议不成立"}
            ),
        ),
        ("completed", "R9", ""),
        lambda r: [p["kind"] for _, p in r.ops("start_publicity")] == ["unit", "result"],
    ),
    (
        "dept_refused",
        dict(forms=title_forms(Task_dept_review={"dept_decision": "refuse", "dept_opinion": "否"})),
        ("refused", None, "否"),
        lambda r: "Task_committee_vote" not in r.done_user_tasks,
    ),
    (
        "vote_failed",
        dict(services={"tally_votes": {"passed": False, "ratio": 0.5}}, forms=title_forms()),
        ("refused", "R9", "评审未通过"),
        lambda r: len(r.ops("start_publicity")) == 1,
    ),
    (
        "result_objection_upheld",
        dict(
            services={"start_publicity": [canned()["start_publicity"], NO_END["start_publicity"]]},
            messages=[OBJECTION],
            forms=title_forms(
                Task_result_publicity_objection_review={
                    "result_objection_finding": "upheld",
                    "result_objection_note": "评审材料不实",
                }
            ),
        ),
        ("terminated", "R7", "评审材料不实"),
        lambda r: "Task_filing" not in r.done_user_tasks,
    ),
    (
        "result_objection_rejected",
        dict(
            services={"start_publicity": [canned()["start_publicity"], NO_END["start_publicity"]]},
            messages=[OBJECTION],
            forms=title_forms(
                Task_result_publicity_objection_review={
                    "result_objection_finding": "rejected",
                    "result_objection_note": "异议不成立",
                }
            ),
        ),
        ("completed", "R9", ""),
        lambda r: "Task_filing" in r.done_user_tasks,
    ),
    (
        "plain_completed",
        dict(forms=title_forms()),
        ("completed", "R9", ""),
        lambda r: r.done_user_tasks == ["Task_unit_review", "Task_dept_review", "Task_committee_vote", "Task_filing"],
    ),
]


@pytest.mark.parametrize("case", TITLE, ids=[c[0] for c in TITLE])
def test_title_paths(case):
    _, kwargs, expected, extra = case
    _check(Run("senior_title_direct", **kwargs), expected, extra)


def level2_forms(**extra):
    forms = {
        "Task_unit_review": {"unit_decision": "approve"},
        "Task_dept_review": {"dept_decision": "approve"},
        "Task_committee_vote": {
            "experts_expected": 9,
            "experts_present": 9,
            "votes_for": 7,
            "votes_against": 2,
            "votes_abstain": 0,
        },
        "Task_hrss_approval": {"hrss_decision": "approve"},
        "Task_unit_hire": {"hire_date": "2026-06-01", "hire_document": "内农科人字〔2026〕8号"},
    }
    forms.update(extra)
    return forms


LEVEL2_STEPS = ["Task_unit_review", "Task_dept_review", "Task_committee_vote", "Task_hrss_approval", "Task_unit_hire"]
LEVEL2 = [
    (
        "credit_blocked",
        dict(services={"check_credit": {"blocked": True, "reason": "科研失信名单"}}),
        ("not_accepted", "R10", "科研失信名单"),
        None,
    ),
    (
        "category4_not_eligible",
        dict(data={"talent_category": 4}),
        ("not_accepted", "R9", None),
        lambda r: r.closed["reason"].startswith("不符合破格条件") and "常规程序" in r.closed["reason"],
    ),
    ("no_category_not_eligible", dict(data={"talent_category": None}), ("not_accepted", "R9", None), None),
    (
        "unit_refused",
        dict(forms=level2_forms(Task_unit_review=REFUSE)),
        ("refused", None, "单位不同意"),
        lambda r: not r.ops("start_publicity"),
    ),
    (
        "unit_publicity_objection_upheld",
        dict(
            services=NO_END,
            messages=[OBJECTION],
            forms=level2_forms(
                Task_publicity_objection_review={"objection_finding": "upheld", "objection_note": "异议属实"}
            ),
        ),
        ("terminated", "R7", "异议属实"),
        lambda r: "Task_dept_review" not in r.done_user_tasks,
    ),
    (
        "dept_refused",
        dict(forms=level2_forms(Task_dept_review={"dept_decision": "refuse", "dept_opinion": "否"})),
        ("refused", None, "否"),
        lambda r: "Task_committee_vote" not in r.done_user_tasks,
    ),
    (
        "vote_failed",
        dict(services={"tally_votes": {"passed": False, "ratio": 0.5}}, forms=level2_forms()),
        ("refused", "R9", None),
        lambda r: len(r.ops("start_publicity")) == 1 and "Task_hrss_approval" not in r.done_user_tasks,
    ),
    (
        "result_objection_upheld",
        dict(
            services={"start_publicity": [canned()["start_publicity"], NO_END["start_publicity"]]},
            messages=[OBJECTION],
            forms=level2_forms(
                Task_result_publicity_objection_review={
                    "result_objection_finding": "upheld",
                    "result_objection_note": "评议材料不实",
                }
            ),
        ),
        ("terminated", "R7", "评议材料不实"),
        lambda r: "Task_hrss_approval" not in r.done_user_tasks,
    ),
    (
        "hrss_refused",
        dict(forms=level2_forms(Task_hrss_approval={"hrss_decision": "refuse", "hrss_opinion": "聘期内考核未达要求"})),
        ("refused", None, "聘期内考核未达要求"),
        lambda r: "Task_unit_hire" not in r.done_user_tasks,
    ),
    (
        "approved_and_hired",
        dict(forms=level2_forms()),
        ("completed", "R9", ""),
        lambda r: r.done_user_tasks == LEVEL2_STEPS and r.data["hire_document"] == "内农科人字〔2026〕8号",
    ),
]


@pytest.mark.parametrize("case", LEVEL2, ids=[c[0] for c in LEVEL2])
def test_level2_paths(case):
    _, kwargs, expected, extra = case
    _check(Run("senior_post_level2", **kwargs), expected, extra)


# ---------------------------------------------------------------------------------------------------------------
# the decision table on its own
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "procedure,mode,category,achievement,ok,level2",
    [
        ("green_channel_registration", "rigid", 1, None, True, False),
        ("green_channel_registration", "rigid", 6, None, True, False),
        ("green_channel_registration", "rigid", 7, None, False, False),
        ("green_channel_registration", "rigid", None, None, False, False),
        ("green_channel_registration", "flexible", 2, None, False, False),
        ("senior_title_direct", "rigid", 1, None, True, True),
        ("senior_title_direct", "rigid", 3, None, True, True),
        ("senior_title_direct", "rigid", 4, None, True, False),
        ("senior_title_direct", "rigid", 6, None, True, False),
        ("senior_title_direct", "rigid", 7, None, False, False),
        ("senior_title_direct", "rigid", None, None, False, False),
        ("senior_title_direct", "flexible", 1, None, False, False),
        ("senior_title_direct", "flexible", None, "major_basic_research", True, False),
        ("senior_title_direct", "rigid", 7, "major_engineering_problem", True, False),
        ("senior_title_direct", "rigid", None, "other", False, False),
        ("senior_post_level2", None, 1, None, True, True),
        ("senior_post_level2", None, 3, None, True, True),
        ("senior_post_level2", "rigid", 4, None, False, False),
        ("senior_post_level2", None, 7, None, False, False),
        ("senior_post_level2", None, None, "key_core_technology", False, False),
    ],
)
def test_talent_eligibility_table(procedure, mode, category, achievement, ok, level2):
    spec, _ = parse("senior_title_direct")
    engine = spec.task_specs["Task_eligibility"].dmnEngine

    class _Wf:
        script_engine = Engine(environment=TaskDataEnvironment())

    class _Task:
        workflow = _Wf()
        data = {
            "procedure": procedure,
            "introduction_mode": mode,
            "talent_category": category,
            "achievement": achievement,
        }

    result = engine.result(_Task())
    assert (result["eligibility_ok"], result["level2_ok"]) == (ok, level2)
    assert result["eligibility_reason"]
