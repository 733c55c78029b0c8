"""Process definitions in the administrator console: versions and their cases, drafts from the modeler, publish and
roll back, and the element-by-element comparison of two versions' BPMN XML.

The one console service that reaches the engine (`workflows.engine.specs` validates a draft and reads the XML,
`serialization` stores its spec): tests/test_layers.py lists it among the services' engine doors. No Flask here.

Every function validates first and changes nothing on bad input (it raises a `DomainError` with a Chinese message);
the callers wrap writes in `workflows.infra.db.transaction`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.domain.errors import Conflict, DefinitionInvalid, NotFound, ValidationFailed
from workflows.domain.models import Case, ProcessDefinition
from workflows.engine import serialization, specs
from workflows.services import decisions
from workflows.services import definitions as defs
from workflows.services.operations import OPERATORS

STATUS_LABELS = {"draft": "草稿", "published": "已发布（新办件使用）", "retired": "已停用"}
MAX_BPMN_BYTES = 2 * 1024 * 1024


def list_versions(session: Session, process_id: str) -> list[ProcessDefinition]:
    rows = session.scalars(
        select(ProcessDefinition)
        .where(ProcessDefinition.process_id == process_id)
        .order_by(ProcessDefinition.version.desc())
    ).all()
    if not rows:
        raise NotFound(f"流程“{process_id}”不存在")
    return list(rows)


def get_version(session: Session, process_id: str, version: int) -> ProcessDefinition:
    row = session.scalar(
        select(ProcessDefinition).where(
            ProcessDefinition.process_id == process_id, ProcessDefinition.version == version
        )
    )
    if row is None:
        raise NotFound(f"流程“{process_id}”没有版本 v{version}")
    return row


def case_counts(session: Session, process_id: str | None = None) -> dict[int, dict[str, int]]:
    """definition id → {status: count, 'total': n}."""
    q = select(Case.definition_id, Case.status, func.count()).group_by(Case.definition_id, Case.status)
    if process_id:
        q = q.join(ProcessDefinition, ProcessDefinition.id == Case.definition_id).where(
            ProcessDefinition.process_id == process_id
        )
    out: dict[int, dict[str, int]] = {}
    for def_id, status, n in session.execute(q):
        d = out.setdefault(def_id, {"total": 0})
        d[status] = int(n)
        d["total"] += int(n)
    return out


def process_overview(session: Session) -> list[dict]:
    """One row per process: name, published version, draft version, number of versions and cases."""
    rows = session.scalars(
        select(ProcessDefinition).order_by(ProcessDefinition.process_id, ProcessDefinition.version)
    ).all()
    counts = case_counts(session)
    out: dict[str, dict] = {}
    for r in rows:
        p = out.setdefault(
            r.process_id,
            {"process_id": r.process_id, "name": r.name, "published": None, "draft": None, "versions": 0, "cases": 0},
        )
        p["versions"] += 1
        p["cases"] += counts.get(r.id, {}).get("total", 0)
        if r.status == "published":
            p["published"] = r
            p["name"] = r.name
        elif r.status == "draft":
            p["draft"] = r
    return list(out.values())


def main_bpmn(row: ProcessDefinition) -> tuple[str, str]:
    """(file name, XML) of the version's main BPMN file."""
    bpmn = (row.source or {}).get("bpmn") or {}
    name = f"{row.process_id}.bpmn"
    if name not in bpmn:
        name = sorted(bpmn)[0]
    return name, bpmn[name]


def editing_base(session: Session, process_id: str) -> ProcessDefinition:
    """What the modeler opens: the draft if there is one, else the published version, else the newest."""
    rows = list_versions(session, process_id)
    for status in ("draft", "published"):
        for r in rows:
            if r.status == status:
                return r
    return rows[0]


def form_names(row: ProcessDefinition) -> list[str]:
    return sorted(((row.source or {}).get("forms") or {}).keys())


def decision_ids(row: ProcessDefinition) -> list[str]:
    ids = []
    for xml in ((row.source or {}).get("dmn") or {}).values():
        try:
            root = specs.safe_xml(xml.encode("utf-8"), "dmn")
        except DefinitionInvalid:
            continue
        ids += [d.get("id") or "" for d in root.iter() if etree.QName(d).localname == "decision" and d.get("id")]
    return sorted(ids)


def save_draft(session: Session, process_id: str, xml: str, by: str) -> tuple[ProcessDefinition, bool]:
    """Validate the edited BPMN with the DMN tables and forms of the process's current version, then store it as
    the process's draft (created, or overwritten while still a draft). Raises `DefinitionInvalid`.

    Returns (row, changed): `changed` is False when the content equals an existing version (nothing stored).
    """
    if not isinstance(xml, str) or not xml.strip():
        raise ValidationFailed("流程图内容为空")
    if len(xml.encode("utf-8")) > MAX_BPMN_BYTES:
        raise ValidationFailed("流程图文件过大（上限 2 MB）")
    base = editing_base(session, process_id)
    name, _ = main_bpmn(base)
    # the decision tables new cases use (published on /admin/decisions), not the copies the base version carries
    dmn = decisions.current_tables(session, dict((base.source or {}).get("dmn") or {}))
    forms = dict((base.source or {}).get("forms") or {})
    parsed = specs.parse_definition(
        {name: xml.encode("utf-8")},
        {k: v.encode("utf-8") for k, v in dmn.items()},
        process_id,
        form_names=set(forms),
        operators=set(OPERATORS),
    )
    bpmn = {name: xml}
    sha = defs.bundle_sha256(bpmn, dmn, forms)
    same = session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.process_id == process_id, ProcessDefinition.sha256 == sha)
    )
    if same is not None:
        return same, False
    spec = serialization.spec_to_dict(parsed.spec, parsed.subprocess_specs)
    draft = session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.process_id == process_id, ProcessDefinition.status == "draft")
    )
    if draft is None:
        version = (
            session.scalar(
                select(func.max(ProcessDefinition.version)).where(ProcessDefinition.process_id == process_id)
            )
            or 0
        ) + 1
        draft = ProcessDefinition(process_id=process_id, version=version, status="draft")
        session.add(draft)
    draft.name = parsed.name or process_id
    draft.sha256 = sha
    draft.source = {"bpmn": bpmn, "dmn": dmn, "forms": forms}
    draft.spec = spec
    draft.user_tasks = parsed.user_tasks
    draft.created_by = by
    session.flush()
    return draft, True


def publish_version(
    session: Session, process_id: str, version: int, note: str | None = None, by: str | None = None
) -> ProcessDefinition:
    """Publish a draft, or roll back to a retired version: new cases take it, running cases keep theirs. The release
    note is required (kept with each publication of the version)."""
    row = get_version(session, process_id, version)
    if row.status == "published":
        raise Conflict(f"v{version} 已是当前发布版本")
    note = defs.release_note(note)
    defs.validate_stored(row)  # raises DefinitionInvalid: e.g. a timer value a later check refuses
    defs._publish(session, row, note, by)
    session.flush()
    return row


def discard_draft(session: Session, process_id: str) -> int:
    draft = session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.process_id == process_id, ProcessDefinition.status == "draft")
    )
    if draft is None:
        raise NotFound("没有可删除的草稿")
    if session.scalar(select(func.count()).select_from(Case).where(Case.definition_id == draft.id)):
        raise Conflict("草稿已有办件使用，不能删除")
    v = draft.version
    session.delete(draft)
    session.flush()
    return v


def cases_of_version(session: Session, definition_id: int, limit: int = 200) -> list[Case]:
    return list(
        session.scalars(
            select(Case).where(Case.definition_id == definition_id).order_by(Case.created_at.desc()).limit(limit)
        )
    )


# -- comparison ----------------------------------------------------------------------------------------------------

_BPMN = specs.BPMN_NS
_SPIFF = specs.SPIFF_NS
_DI_NS = (
    "http://www.omg.org/spec/BPMN/20100524/DI",
    "http://www.omg.org/spec/DD/20100524/DI",
    "http://www.omg.org/spec/DD/20100524/DC",
)
KIND_NAMES = dict(specs._KIND_NAMES)
FIELD_LABELS = {
    "name": "名称",
    "condition": "条件表达式",
    "default": "默认连线",
    "sourceRef": "起点",
    "targetRef": "终点",
    "timeDate": "定时器 timeDate",
    "timeDuration": "定时器 timeDuration",
    "timeCycle": "定时器 timeCycle",
    "script": "脚本",
    "preScript": "前置脚本",
    "postScript": "后置脚本",
    "operator": "服务操作",
    "resultVariable": "结果变量",
    "calledDecisionId": "调用决策",
    "messageVariable": "消息变量",
    "lane_members": "泳道内元素",
    "lane": "所在泳道",
    "documentation": "说明",
    "eventDefinitions": "事件类型",
    "messageRef": "消息",
    "attachedToRef": "附着于",
    "cancelActivity": "中断",
}


@dataclass
class ElementDiff:
    element_id: str
    kind: str
    name: str
    change: str  # added | removed | changed
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (label, old, new)


@dataclass
class VersionDiff:
    a: int
    b: int
    elements: list[ElementDiff]
    moved: int  # elements whose diagram position or size changed only
    other_files: list[str]  # DMN / forms that differ

    @property
    def added(self):
        return [e for e in self.elements if e.change == "added"]

    @property
    def removed(self):
        return [e for e in self.elements if e.change == "removed"]

    @property
    def changed(self):
        return [e for e in self.elements if e.change == "changed"]


def _text(node) -> str:
    return (node.text or "").strip() if node is not None else ""


def _element_signature(el, lane_of: dict[str, str]) -> dict[str, str]:
    sig: dict[str, str] = {}
    for k, v in el.attrib.items():
        q = etree.QName(k)
        if q.localname == "id" or q.namespace:
            continue
        sig[q.localname] = v
    ns = {"bpmn": _BPMN, "spiffworkflow": _SPIFF}
    cond = el.find(f"{{{_BPMN}}}conditionExpression")
    if cond is not None:
        sig["condition"] = _text(cond)
    script = el.find(f"{{{_BPMN}}}script")
    if script is not None:
        sig["script"] = _text(script)
    doc = el.find(f"{{{_BPMN}}}documentation")
    if doc is not None and _text(doc):
        sig["documentation"] = _text(doc)
    kinds = []
    for ev in el:
        ln = etree.QName(ev).localname
        if ln.endswith("EventDefinition"):
            kinds.append(ln)
            for t in ev:
                tl = etree.QName(t).localname
                if tl in ("timeDate", "timeDuration", "timeCycle"):
                    sig[tl] = _text(t)
            if ev.get("messageRef"):
                sig["messageRef"] = ev.get("messageRef")
            for mv in ev.iter(f"{{{_SPIFF}}}messageVariable"):
                sig["messageVariable"] = _text(mv)
    if kinds:
        sig["eventDefinitions"] = "、".join(kinds)
    ext = el.find(f"{{{_BPMN}}}extensionElements")
    if ext is not None:
        for p in ext.xpath("./spiffworkflow:properties/spiffworkflow:property", namespaces=ns):
            sig[f"属性 {p.get('name')}"] = p.get("value") or ""
        for op in ext.xpath("./spiffworkflow:serviceTaskOperator", namespaces=ns):
            sig["operator"] = op.get("id") or ""
            if op.get("resultVariable"):
                sig["resultVariable"] = op.get("resultVariable")
            for prm in op.xpath(".//spiffworkflow:parameter", namespaces=ns):
                sig[f"参数 {prm.get('id')}"] = prm.get("value") or ""
        for tag in ("calledDecisionId", "preScript", "postScript", "messageVariable", "instructionsForEndUser"):
            node = ext.find(f"{{{_SPIFF}}}{tag}")
            if node is not None:
                sig[tag] = _text(node)
    if etree.QName(el).localname == "lane":
        sig["lane_members"] = "、".join(sorted(_text(r) for r in el.findall(f"{{{_BPMN}}}flowNodeRef")))
    elif el.get("id") in lane_of:
        sig["lane"] = lane_of[el.get("id")]
    return sig


def _elements(xml: str) -> tuple[dict[str, tuple[str, str, dict]], dict[str, tuple]]:
    root = specs.safe_xml(xml.encode("utf-8"), "bpmn")
    lane_of: dict[str, str] = {}
    for lane in root.iter(f"{{{_BPMN}}}lane"):
        for ref in lane.findall(f"{{{_BPMN}}}flowNodeRef"):
            lane_of[_text(ref)] = lane.get("name") or lane.get("id") or ""
    out: dict[str, tuple[str, str, dict]] = {}
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        q = etree.QName(el)
        if (
            q.namespace != _BPMN
            or not el.get("id")
            or q.localname in ("definitions", "laneSet")
            or q.localname.endswith("EventDefinition")
        ):
            continue
        out[el.get("id") or ""] = (q.localname, el.get("name") or "", _element_signature(el, lane_of))
    shapes: dict[str, tuple] = {}
    for el in root.iter():
        if isinstance(el.tag, str) and etree.QName(el).namespace in _DI_NS and el.get("bpmnElement"):
            coords = tuple(
                (c.get("x"), c.get("y"), c.get("width"), c.get("height"))
                for c in el.iter()
                if isinstance(c.tag, str) and etree.QName(c).localname in ("Bounds", "waypoint")
            )
            shapes[el.get("bpmnElement") or ""] = coords
    return out, shapes


def diff_xml(a_xml: str, b_xml: str) -> tuple[list[ElementDiff], int]:
    a, a_shapes = _elements(a_xml)
    b, b_shapes = _elements(b_xml)
    out: list[ElementDiff] = []
    for el_id in sorted(set(a) | set(b)):
        if el_id not in a:
            kind, name, _ = b[el_id]
            out.append(ElementDiff(el_id, KIND_NAMES.get(kind, kind), name, "added"))
        elif el_id not in b:
            kind, name, _ = a[el_id]
            out.append(ElementDiff(el_id, KIND_NAMES.get(kind, kind), name, "removed"))
        else:
            (ka, na, sa), (kb, nb, sb) = a[el_id], b[el_id]
            fields = []
            if ka != kb:
                fields.append(("类型", KIND_NAMES.get(ka, ka), KIND_NAMES.get(kb, kb)))
            for key in sorted(set(sa) | set(sb)):
                if sa.get(key, "") != sb.get(key, ""):
                    fields.append((FIELD_LABELS.get(key, key), sa.get(key, ""), sb.get(key, "")))
            if fields:
                out.append(ElementDiff(el_id, KIND_NAMES.get(kb, kb), nb or na, "changed", fields))
    moved = sum(1 for k in set(a_shapes) & set(b_shapes) if a_shapes[k] != b_shapes[k])
    order = {"changed": 0, "added": 1, "removed": 2}
    out.sort(key=lambda d: (order[d.change], d.element_id))
    return out, moved


def compare_versions(session: Session, process_id: str, a: int, b: int) -> VersionDiff:
    ra, rb = get_version(session, process_id, a), get_version(session, process_id, b)
    elements, moved = diff_xml(main_bpmn(ra)[1], main_bpmn(rb)[1])
    other = []
    for kind in ("dmn", "forms"):
        fa, fb = (ra.source or {}).get(kind) or {}, (rb.source or {}).get(kind) or {}
        other += [f"{kind}/{n}" for n in sorted(set(fa) | set(fb)) if fa.get(n) != fb.get(n)]
    return VersionDiff(a, b, elements, moved, other)
