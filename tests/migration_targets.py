"""Edited versions of the registration process, as an administrator would make them in the modeler, for the case
migration tests (service, web and browser)."""

from __future__ import annotations

from lxml import etree

from workflows.infra.db import transaction
from workflows.services.definitions import deploy, read_bundle

REG = "green_channel_registration"
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
B = f"{{{NS['bpmn']}}}"
S, DI, DC = (f"{{{NS[k]}}}" for k in ("spiffworkflow", "bpmndi", "dc"))


def _by_id(root, el_id: str):
    found = root.xpath(f"//*[@id='{el_id}']")
    assert found, el_id
    return found[0]


def _flow_refs(node, tag: str, old: str, new: str | None) -> None:
    for ref in node.findall(f"{B}{tag}"):
        if (ref.text or "").strip() == old:
            if new is None:
                node.remove(ref)
            else:
                ref.text = new


def _add_incoming(node, flow_id: str) -> None:
    """A new <incoming> after the node's last one (the schema wants incoming before outgoing)."""
    ref = etree.Element(f"{B}incoming")
    ref.text = flow_id
    anchors = node.findall(f"{B}incoming") or node.findall(f"{B}extensionElements")
    if anchors:
        anchors[-1].addnext(ref)
    else:
        node.insert(0, ref)


def remove_elements(root, ids: set[str], retarget: dict[str, str]) -> None:
    """Delete the flow nodes `ids` with their flows, lane entries and shapes; each flow of `retarget` (flow id →
    node id) that led into them now leads to the given node instead."""
    process = root.find(f"{B}process")
    for flow_id, node_id in retarget.items():
        flow = _by_id(root, flow_id)
        old_target = flow.get("targetRef")
        flow.set("targetRef", node_id)
        _add_incoming(_by_id(root, node_id), flow_id)
        _flow_refs(_by_id(root, old_target), "incoming", flow_id, None)
    gone = set(ids)
    for flow in process.findall(f"{B}sequenceFlow"):
        if flow.get("id") not in retarget and (flow.get("sourceRef") in ids or flow.get("targetRef") in ids):
            gone.add(flow.get("id"))
            for end in (flow.get("sourceRef"), flow.get("targetRef")):
                if end not in ids:
                    node = _by_id(root, end)
                    _flow_refs(node, "incoming", flow.get("id"), None)
                    _flow_refs(node, "outgoing", flow.get("id"), None)
    for el_id in gone:
        el = _by_id(root, el_id)
        el.getparent().remove(el)
    for ref in root.iter(f"{B}flowNodeRef"):
        if (ref.text or "").strip() in gone:
            ref.getparent().remove(ref)
    for shape in root.xpath("//*[@bpmnElement]"):
        if shape.get("bpmnElement") in gone:
            shape.getparent().remove(shape)


def insert_user_task(root, flow_id: str, task_id: str, name: str, form: str, lane_of: str) -> None:
    """Put a new user task on the flow `flow_id` (in the lane of the node `lane_of`), with its diagram shape."""
    process = root.find(f"{B}process")
    flow = _by_id(root, flow_id)
    target = _by_id(root, flow.get("targetRef"))
    new_flow_id = f"Flow_{task_id}_out"
    task = etree.SubElement(process, f"{B}userTask", id=task_id, name=name)
    ext = etree.SubElement(task, f"{B}extensionElements")
    props = etree.SubElement(ext, f"{S}properties")
    etree.SubElement(props, f"{S}property", name="formJsonSchemaFilename", value=form)
    etree.SubElement(task, f"{B}incoming").text = flow_id
    etree.SubElement(task, f"{B}outgoing").text = new_flow_id
    etree.SubElement(process, f"{B}sequenceFlow", id=new_flow_id, sourceRef=task_id, targetRef=target.get("id"))
    _flow_refs(target, "incoming", flow_id, new_flow_id)
    flow.set("targetRef", task_id)
    for ref in root.iter(f"{B}flowNodeRef"):
        if (ref.text or "").strip() == lane_of:
            etree.SubElement(ref.getparent(), f"{B}flowNodeRef").text = task_id
    plane = root.find(".//bpmndi:BPMNPlane", NS)
    shape = etree.SubElement(plane, f"{DI}BPMNShape", id=f"{task_id}_di", bpmnElement=task_id)
    etree.SubElement(shape, f"{DC}Bounds", x="100", y="100", width="100", height="80")


def user_task_to_script(root, task_id: str, script: str) -> None:
    """The same element id, now a script task (what a case standing on it cannot follow)."""
    old = _by_id(root, task_id)
    new = etree.Element(f"{B}scriptTask", id=task_id, name=old.get("name"))
    for child in old:
        if etree.QName(child).localname in ("incoming", "outgoing"):
            new.append(child)
    etree.SubElement(new, f"{B}script").text = script
    old.getparent().replace(old, new)


def edit(xml: str, *changes) -> str:
    root = etree.fromstring(xml.encode("utf-8"))
    for change in changes:
        change(root)
    return etree.tostring(root, encoding="unicode")


def deploy_edited(session, *changes, publish: bool = True, forms_patch=None):
    """Deploy the bundled registration process with `changes` applied (each a function of the XML root) and its forms
    changed by `forms_patch` (a function of the forms dict)."""
    bpmn, dmn, forms = read_bundle(REG)
    if forms_patch is not None:
        forms_patch(forms)
    name = next(iter(bpmn))
    with transaction(session):
        row = deploy(
            session,
            REG,
            {name: edit(bpmn[name], *changes)},
            dmn,
            forms,
            by="admin",
            publish=publish,
            note="迁移测试目标版本",
        )
        return row.version


def v2_changes():
    """v2 of the scenario: 编制外聘用考核 removed (the outside-establishment branch goes straight to 公示), 主管部门审核
    becomes a script, a new 备案预审 step before 列编备案, and the filing reminder fires at the due time."""

    def remove_assessment(root):
        remove_elements(
            root,
            {"Task_assessment", "Gateway_assessment", "Task_close_assessment_failed", "End_assessment_failed"},
            {"Flow_outside_to_assessment": "Task_publicity"},
        )

    def dept_script(root):
        user_task_to_script(root, "Task_dept_review", "dept_decision = 'approve'\ndept_opinion = '同意'")

    def precheck(root):
        insert_user_task(
            root,
            "Flow_compute_filing_due_to_filing",
            "Task_filing_precheck",
            "备案预审",
            "filing.schema.json",
            "Task_filing",
        )

    def remind_at_due(root):
        for node in root.iter(f"{B}timeDate"):
            if (node.text or "").strip() == "filing['remind_at']":
                node.text = "filing['due_at']"

    return remove_assessment, dept_script, precheck, remind_at_due


def needs_new_data(root):
    """v3: the 主管部门 approval also reads a value no running case has."""
    for node in root.iter(f"{B}conditionExpression"):
        if (node.text or "").strip() == "dept_decision == 'approve'":
            node.text = "dept_decision == 'approve' and fast_track_ok"
