"""Flow templates a matter's administrator picks instead of drawing from nothing: BPMN XML (with its diagram, so the
modeler opens it laid out in lanes) that the bpmn-js modeler then edits like any other definition.

Each template uses only the allow-listed operators and the bundled forms (bpmn/forms), so the definition passes the
same validation and lint as a drawn one. The templates draw no 退回补正 step: a return to the applicant (or the
applying unit) is the generic action on any open desk step (`handling.return_for_correction` / `resubmit`), which
holds the step, stops the clock and issues the 补正材料通知书 as in the built procedures. Pure text; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

TEMPLATES = {
    "unit_dept_hrss_filing": "用人单位申请 → 主管部门审核 → 人社部门核准（出具核准文书）→ 人社部门备案 → 办结",
    "dept_hrss": "申请 → 主管部门审核 → 人社部门核准（出具核准文书）→ 办结",
}
LANE_NAMES = {"unit_hr": "用人单位", "dept": "主管部门", "hrss": "人社部门"}


@dataclass(frozen=True)
class _Node:
    id: str
    kind: str  # startEvent | endEvent | userTask | serviceTask | exclusiveGateway
    name: str
    lane: str
    x: int
    row: int = 0  # 0: the main line of its lane, 1: below it (the refusals)
    inner: str = ""
    default: str = ""


def _operator(op: str, result: str, **params: str) -> str:
    ps = "".join(f'<spiffworkflow:parameter id="{k}" type="str" value={quoteattr(v)}/>' for k, v in params.items())
    return (
        f'<bpmn:extensionElements><spiffworkflow:serviceTaskOperator id="{op}" resultVariable="{result}">'
        f"<spiffworkflow:parameters>{ps}</spiffworkflow:parameters></spiffworkflow:serviceTaskOperator>"
        "</bpmn:extensionElements>"
    )


def _form(schema: str, due: int) -> str:
    return (
        "<bpmn:extensionElements><spiffworkflow:properties>"
        f'<spiffworkflow:property name="formJsonSchemaFilename" value="{schema}"/>'
        f'<spiffworkflow:property name="dueWorkingDays" value="{due}"/>'
        "</spiffworkflow:properties></bpmn:extensionElements>"
    )


def _close(outcome: str, rule: str, reason: str) -> str:
    return _operator("close_case", "closure", outcome=f"'{outcome}'", rule=rule, reason=reason)


def build(template: str, process_id: str, name: str) -> str:
    """The BPMN XML of `template` for a process `process_id` named `name`."""
    if template not in TEMPLATES:
        raise ValueError(template)
    filing = template == "unit_dept_hrss_filing"
    start_lane = "unit_hr" if filing else "dept"
    nodes = [
        _Node("Start_application", "startEvent", "提出申请", start_lane, 0),
        _Node(
            "Task_check_credit", "serviceTask", "科研失信核查", start_lane, 1, inner=_operator("check_credit", "credit")
        ),
        _Node("Gateway_credit", "exclusiveGateway", "是否失信？", start_lane, 2, default="Flow_credit_blocked"),
        _Node(
            "Task_close_credit_blocked",
            "serviceTask",
            "关闭办件（失信）",
            start_lane,
            2,
            1,
            _close("not_accepted", "'R10'", "credit['reason']"),
        ),
        _Node("End_credit_blocked", "endEvent", "不予受理", start_lane, 3, 1),
        _Node("Task_dept_review", "userTask", "主管部门审核", "dept", 3, inner=_form("dept_review.schema.json", 5)),
        _Node("Gateway_dept", "exclusiveGateway", "主管部门意见", "dept", 4, default="Flow_dept_refused"),
        _Node(
            "Task_close_dept_refused",
            "serviceTask",
            "关闭办件（主管部门不同意）",
            "dept",
            4,
            1,
            _close("refused", "None", "dept_opinion"),
        ),
        _Node("End_dept_refused", "endEvent", "不予核准", "dept", 5, 1),
        _Node(
            "Task_hrss_approval", "userTask", "人社部门核准", "hrss", 5, inner=_form("hrss_approval.schema.json", 10)
        ),
        _Node("Gateway_hrss", "exclusiveGateway", "人社意见", "hrss", 6, default="Flow_hrss_refused"),
        _Node(
            "Task_close_hrss_refused",
            "serviceTask",
            "关闭办件（不予核准）",
            "hrss",
            6,
            1,
            _close("refused", "None", "hrss_opinion"),
        ),
        _Node("End_hrss_refused", "endEvent", "不予核准", "hrss", 7, 1),
        _Node(
            "Task_issue_approval",
            "serviceTask",
            "出具核准文书",
            "hrss",
            7,
            inner=_operator("issue_documents", "issued", step="'approve'"),
        ),
    ]
    flows = [
        ("Flow_start", "Start_application", "Task_check_credit", "", ""),
        ("Flow_credit", "Task_check_credit", "Gateway_credit", "", ""),
        ("Flow_credit_blocked", "Gateway_credit", "Task_close_credit_blocked", "失信", ""),
        ("Flow_credit_clear", "Gateway_credit", "Task_dept_review", "未失信", "not credit['blocked']"),
        ("Flow_credit_end", "Task_close_credit_blocked", "End_credit_blocked", "", ""),
        ("Flow_dept", "Task_dept_review", "Gateway_dept", "", ""),
        ("Flow_dept_refused", "Gateway_dept", "Task_close_dept_refused", "不同意", ""),
        ("Flow_dept_approved", "Gateway_dept", "Task_hrss_approval", "同意", "dept_decision == 'approve'"),
        ("Flow_dept_end", "Task_close_dept_refused", "End_dept_refused", "", ""),
        ("Flow_hrss", "Task_hrss_approval", "Gateway_hrss", "", ""),
        ("Flow_hrss_refused", "Gateway_hrss", "Task_close_hrss_refused", "不予核准", ""),
        ("Flow_hrss_approved", "Gateway_hrss", "Task_issue_approval", "核准", "hrss_decision == 'approve'"),
        ("Flow_hrss_end", "Task_close_hrss_refused", "End_hrss_refused", "", ""),
    ]
    last = "Task_issue_approval"
    if filing:
        nodes.append(_Node("Task_filing", "userTask", "人社部门备案", "hrss", 8, inner=_form("filing.schema.json", 5)))
        flows.append(("Flow_to_filing", last, "Task_filing", "", ""))
        last = "Task_filing"
    x = 9 if filing else 8
    nodes += [
        _Node("Task_close_completed", "serviceTask", "办结", "hrss", x, inner=_close("completed", "None", "''")),
        _Node("End_completed", "endEvent", "已办结", "hrss", x + 1),
    ]
    flows += [
        ("Flow_to_close", last, "Task_close_completed", "", ""),
        ("Flow_close_end", "Task_close_completed", "End_completed", "", ""),
    ]
    return _xml(process_id, name, nodes, flows)


_SIZE = {"startEvent": (36, 36), "endEvent": (36, 36), "exclusiveGateway": (50, 50)}
_LANE_H, _LEFT, _STEP, _TOP = 260, 260, 170, 80


def _xml(pid: str, name: str, nodes: list[_Node], flows: list[tuple[str, str, str, str, str]]) -> str:
    lanes = [lane for lane in LANE_NAMES if any(n.lane == lane for n in nodes)]
    incoming: dict[str, list[str]] = {}
    outgoing: dict[str, list[str]] = {}
    for fid, src, tgt, _, _ in flows:
        outgoing.setdefault(src, []).append(fid)
        incoming.setdefault(tgt, []).append(fid)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
        'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'id="Definitions_{pid}" targetNamespace="http://bpmn.io/schema/bpmn" exporter="matter template" '
        'exporterVersion="1.0">',
        f'<bpmn:collaboration id="Collaboration_{pid}"><bpmn:participant id="Participant_{pid}" '
        f'name={quoteattr(name)} processRef="{pid}"/></bpmn:collaboration>',
        f'<bpmn:process id="{pid}" name={quoteattr(name)} isExecutable="true">',
        f'<bpmn:laneSet id="LaneSet_{pid}">',
    ]
    for lane in lanes:
        refs = "".join(f"<bpmn:flowNodeRef>{n.id}</bpmn:flowNodeRef>" for n in nodes if n.lane == lane)
        out.append(f'<bpmn:lane id="Lane_{lane}" name="{LANE_NAMES[lane]}">{refs}</bpmn:lane>')
    out.append("</bpmn:laneSet>")
    for n in nodes:
        default = f' default="{n.default}"' if n.default else ""
        links = "".join(f"<bpmn:incoming>{f}</bpmn:incoming>" for f in incoming.get(n.id, []))
        links += "".join(f"<bpmn:outgoing>{f}</bpmn:outgoing>" for f in outgoing.get(n.id, []))
        end = '<bpmn:terminateEventDefinition id="Terminate_' + n.id + '"/>' if n.kind == "endEvent" and n.row else ""
        out.append(
            f'<bpmn:{n.kind} id="{n.id}" name={quoteattr(n.name)}{default}>{n.inner}{links}{end}</bpmn:{n.kind}>'
        )
    for fid, src, tgt, label, cond in flows:
        named = f" name={quoteattr(label)}" if label else ""
        body = (
            f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{_esc(cond)}</bpmn:conditionExpression>'
            if cond
            else ""
        )
        out.append(
            f'<bpmn:sequenceFlow id="{fid}"{named} sourceRef="{src}" targetRef="{tgt}">{body}</bpmn:sequenceFlow>'
        )
    out.append("</bpmn:process>")
    out += _diagram(pid, lanes, nodes, flows)
    out.append("</bpmn:definitions>")
    return "\n".join(out)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _diagram(pid, lanes, nodes, flows) -> list[str]:
    width = _LEFT + _STEP * (max(n.x for n in nodes) + 1)
    box: dict[str, tuple[int, int, int, int]] = {}
    out = [
        f'<bpmndi:BPMNDiagram id="Diagram_{pid}"><bpmndi:BPMNPlane id="Plane_{pid}" bpmnElement="Collaboration_{pid}">'
    ]
    out.append(
        f'<bpmndi:BPMNShape id="Participant_{pid}_di" bpmnElement="Participant_{pid}" isHorizontal="true">'
        f'<dc:Bounds x="150" y="{_TOP}" width="{width}" height="{_LANE_H * len(lanes)}"/></bpmndi:BPMNShape>'
    )
    for i, lane in enumerate(lanes):
        out.append(
            f'<bpmndi:BPMNShape id="Lane_{lane}_di" bpmnElement="Lane_{lane}" isHorizontal="true">'
            f'<dc:Bounds x="180" y="{_TOP + i * _LANE_H}" width="{width - 30}" height="{_LANE_H}"/></bpmndi:BPMNShape>'
        )
    for n in nodes:
        w, h = _SIZE.get(n.kind, (110, 80))
        cx = _LEFT + n.x * _STEP + 55
        cy = _TOP + lanes.index(n.lane) * _LANE_H + 80 + n.row * 120
        box[n.id] = (cx - w // 2, cy - h // 2, w, h)
        x, y, _, _ = box[n.id]
        marker = ' isMarkerVisible="true"' if n.kind == "exclusiveGateway" else ""
        out.append(
            f'<bpmndi:BPMNShape id="{n.id}_di" bpmnElement="{n.id}"{marker}>'
            f'<dc:Bounds x="{x}" y="{y}" width="{w}" height="{h}"/></bpmndi:BPMNShape>'
        )
    for fid, src, tgt, _, _ in flows:
        sx, sy, sw, sh = box[src]
        tx, ty, tw, th = box[tgt]
        a = (sx + sw, sy + sh // 2) if tx > sx else (sx + sw // 2, sy + sh)
        b = (tx, ty + th // 2) if tx > sx else (tx + tw // 2, ty)
        points = [a, (b[0] - 20, a[1]), (b[0] - 20, b[1]), b] if a[1] != b[1] and tx > sx else [a, b]
        wps = "".join(f'<di:waypoint x="{px}" y="{py}"/>' for px, py in points)
        out.append(f'<bpmndi:BPMNEdge id="{fid}_di" bpmnElement="{fid}">{wps}</bpmndi:BPMNEdge>')
    out.append("</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>")
    return out
