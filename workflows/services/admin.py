"""Administrator console services: process-definition drafts, versions and comparison; users, units, 编制 pools,
the holiday table and policy parameters. No Flask here: the web layer hashes passwords and passes the hash in.

Every function validates first and changes nothing on bad input (it raises a `DomainError` with a Chinese message);
the callers wrap writes in `workflows.db.transaction`.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Optional

from lxml import etree
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .. import serialization, specs
from ..actors import ROLE_LABELS
from ..errors import Conflict, NotFound, ValidationFailed
from ..models import Case, Holiday, ProcessDefinition, QuotaPool, Unit, User
from ..operations import OPERATORS
from . import definitions as defs
from . import quota as quota_svc
from . import settings as settings_svc

# ------------------------------------------------------------------------------------------------------------------
# Process definitions: drafts, publish, roll back, compare, cases per version
# ------------------------------------------------------------------------------------------------------------------

STATUS_LABELS = {"draft": "草稿", "published": "已发布（新办件使用）", "retired": "已停用"}
MAX_BPMN_BYTES = 2 * 1024 * 1024


def list_versions(session: Session, process_id: str) -> list[ProcessDefinition]:
    rows = session.scalars(select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
                           .order_by(ProcessDefinition.version.desc())).all()
    if not rows:
        raise NotFound(f"流程“{process_id}”不存在")
    return list(rows)


def get_version(session: Session, process_id: str, version: int) -> ProcessDefinition:
    row = session.scalar(select(ProcessDefinition).where(ProcessDefinition.process_id == process_id,
                                                         ProcessDefinition.version == version))
    if row is None:
        raise NotFound(f"流程“{process_id}”没有版本 v{version}")
    return row


def case_counts(session: Session, process_id: Optional[str] = None) -> dict[int, dict[str, int]]:
    """definition id → {status: count, 'total': n}."""
    q = select(Case.definition_id, Case.status, func.count()).group_by(Case.definition_id, Case.status)
    if process_id:
        q = q.join(ProcessDefinition, ProcessDefinition.id == Case.definition_id).where(
            ProcessDefinition.process_id == process_id)
    out: dict[int, dict[str, int]] = {}
    for def_id, status, n in session.execute(q):
        d = out.setdefault(def_id, {"total": 0})
        d[status] = int(n)
        d["total"] += int(n)
    return out


def process_overview(session: Session) -> list[dict]:
    """One row per process: name, published version, draft version, number of versions and cases."""
    rows = session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.process_id,
                                                              ProcessDefinition.version)).all()
    counts = case_counts(session)
    out: dict[str, dict] = {}
    for r in rows:
        p = out.setdefault(r.process_id, {"process_id": r.process_id, "name": r.name, "published": None,
                                          "draft": None, "versions": 0, "cases": 0})
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
        except specs.DefinitionInvalid:
            continue
        ids += [d.get("id") for d in root.iter() if etree.QName(d).localname == "decision" and d.get("id")]
    return sorted(ids)


def save_draft(session: Session, process_id: str, xml: str, by: str) -> tuple[ProcessDefinition, bool]:
    """Validate the edited BPMN with the DMN tables and forms of the process's current version, then store it as
    the process's draft (created, or overwritten while still a draft). Raises `specs.DefinitionInvalid`.

    Returns (row, changed): `changed` is False when the content equals an existing version (nothing stored).
    """
    if not isinstance(xml, str) or not xml.strip():
        raise ValidationFailed("流程图内容为空")
    if len(xml.encode("utf-8")) > MAX_BPMN_BYTES:
        raise ValidationFailed("流程图文件过大（上限 2 MB）")
    base = editing_base(session, process_id)
    name, _ = main_bpmn(base)
    dmn = dict((base.source or {}).get("dmn") or {})
    forms = dict((base.source or {}).get("forms") or {})
    parsed = specs.parse_definition({name: xml.encode("utf-8")}, {k: v.encode("utf-8") for k, v in dmn.items()},
                                    process_id, form_names=set(forms), operators=set(OPERATORS))
    bpmn = {name: xml}
    sha = defs.bundle_sha256(bpmn, dmn, forms)
    same = session.scalar(select(ProcessDefinition).where(ProcessDefinition.process_id == process_id,
                                                          ProcessDefinition.sha256 == sha))
    if same is not None:
        return same, False
    spec = serialization.spec_to_dict(parsed.spec, parsed.subprocess_specs)
    draft = session.scalar(select(ProcessDefinition).where(ProcessDefinition.process_id == process_id,
                                                           ProcessDefinition.status == "draft"))
    if draft is None:
        version = (session.scalar(select(func.max(ProcessDefinition.version))
                                  .where(ProcessDefinition.process_id == process_id)) or 0) + 1
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


def publish_version(session: Session, process_id: str, version: int) -> ProcessDefinition:
    """Publish a draft, or roll back to a retired version: new cases take it, running cases keep theirs."""
    row = get_version(session, process_id, version)
    if row.status == "published":
        raise Conflict(f"v{version} 已是当前发布版本")
    defs._publish(session, row)
    session.flush()
    return row


def discard_draft(session: Session, process_id: str) -> int:
    draft = session.scalar(select(ProcessDefinition).where(ProcessDefinition.process_id == process_id,
                                                           ProcessDefinition.status == "draft"))
    if draft is None:
        raise NotFound("没有可删除的草稿")
    if session.scalar(select(func.count()).select_from(Case).where(Case.definition_id == draft.id)):
        raise Conflict("草稿已有办件使用，不能删除")
    v = draft.version
    session.delete(draft)
    session.flush()
    return v


def cases_of_version(session: Session, definition_id: int, limit: int = 200) -> list[Case]:
    return list(session.scalars(select(Case).where(Case.definition_id == definition_id)
                                .order_by(Case.created_at.desc()).limit(limit)))


# -- comparison ----------------------------------------------------------------------------------------------------

_BPMN = specs.BPMN_NS
_SPIFF = specs.SPIFF_NS
_DI_NS = ("http://www.omg.org/spec/BPMN/20100524/DI", "http://www.omg.org/spec/DD/20100524/DI",
          "http://www.omg.org/spec/DD/20100524/DC")
_SKIP = {"incoming", "outgoing", "extensionElements", "flowNodeRef", "laneSet", "conditionExpression", "script",
         "timerEventDefinition", "documentation"}
KIND_NAMES = dict(specs._KIND_NAMES)
FIELD_LABELS = {"name": "名称", "condition": "条件表达式", "default": "默认连线", "sourceRef": "起点", "targetRef": "终点",
                "timeDate": "定时器 timeDate", "timeDuration": "定时器 timeDuration", "timeCycle": "定时器 timeCycle",
                "script": "脚本", "preScript": "前置脚本", "postScript": "后置脚本", "operator": "服务操作",
                "resultVariable": "结果变量", "calledDecisionId": "调用决策", "messageVariable": "消息变量",
                "lane_members": "泳道内元素", "lane": "所在泳道", "documentation": "说明", "eventDefinitions": "事件类型",
                "messageRef": "消息", "attachedToRef": "附着于", "cancelActivity": "中断"}


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
            lane_of[_text(ref)] = lane.get("name") or lane.get("id")
    out: dict[str, tuple[str, str, dict]] = {}
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        q = etree.QName(el)
        if q.namespace != _BPMN or not el.get("id") or q.localname in ("definitions", "laneSet") \
                or q.localname.endswith("EventDefinition"):
            continue
        out[el.get("id")] = (q.localname, el.get("name") or "", _element_signature(el, lane_of))
    shapes: dict[str, tuple] = {}
    for el in root.iter():
        if isinstance(el.tag, str) and etree.QName(el).namespace in _DI_NS and el.get("bpmnElement"):
            coords = tuple((c.get("x"), c.get("y"), c.get("width"), c.get("height"))
                           for c in el.iter() if isinstance(c.tag, str) and etree.QName(c).localname in
                           ("Bounds", "waypoint"))
            shapes[el.get("bpmnElement")] = coords
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


# ------------------------------------------------------------------------------------------------------------------
# Users and roles
# ------------------------------------------------------------------------------------------------------------------

ASSIGNABLE_ROLES = {k: v for k, v in ROLE_LABELS.items() if k != "system"}
UNIT_ROLES = {"unit_hr", "dept", "bianban", "hrss", "committee"}  # need a unit
_USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{2,63}$")
_ID_RE = re.compile(r"^\d{17}[\dXx]$")


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.role, User.username)))


def _check_role_unit(session: Session, role: str, unit_code: Optional[str]) -> Optional[str]:
    if role not in ASSIGNABLE_ROLES:
        raise ValidationFailed(f"未知的角色：{role}")
    unit_code = (unit_code or "").strip() or None
    if unit_code and session.get(Unit, unit_code) is None:
        raise ValidationFailed(f"单位 {unit_code} 不存在")
    if role in UNIT_ROLES and not unit_code:
        raise ValidationFailed(f"角色“{ASSIGNABLE_ROLES[role]}”须指定所属单位")
    if role == "dept" and session.get(Unit, unit_code).kind != "dept":
        raise ValidationFailed("主管部门审核员须属于主管部门类单位")
    return unit_code


def create_user(session: Session, username: str, display_name: str, role: str, unit_code: Optional[str],
                password_hash: str, id_number: Optional[str] = None, email: Optional[str] = None) -> User:
    username = (username or "").strip()
    email = _email(email)
    display_name = (display_name or "").strip()
    if not _USERNAME_RE.match(username):
        raise ValidationFailed("用户名须以字母开头，3–64 位字母、数字、下划线、点或连字符")
    if not display_name or len(display_name) > 100:
        raise ValidationFailed("请填写姓名（不超过 100 字）")
    if not password_hash:
        raise ValidationFailed("请设置初始密码")
    unit_code = _check_role_unit(session, role, unit_code)
    id_number = (id_number or "").strip().upper() or None
    if id_number and not _ID_RE.match(id_number):
        raise ValidationFailed("身份证号须为 18 位")
    if role == "applicant" and not id_number:
        raise ValidationFailed("申请人账号须填写身份证号")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"用户名 {username} 已存在")
    user = User(username=username, display_name=display_name, role=role, unit_code=unit_code,
                password_hash=password_hash, id_number=id_number, email=email, active=True)
    session.add(user)
    session.flush()
    return user


_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")


def _email(value: Optional[str]) -> Optional[str]:
    value = (value or "").strip()
    if value and (len(value) > 200 or not _EMAIL_RE.match(value)):
        raise ValidationFailed("电子邮箱格式不正确")
    return value or None


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("用户不存在")
    return user


def _last_admin(session: Session, user: User) -> bool:
    return user.role == "admin" and user.active and (session.scalar(
        select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True))) or 0) <= 1


def update_user(session: Session, user_id: int, role: str, unit_code: Optional[str],
                display_name: Optional[str] = None, by_user_id: Optional[int] = None,
                email: Optional[str] = None) -> User:
    user = _user(session, user_id)
    if email is not None:
        user.email = _email(email)
    unit_code = _check_role_unit(session, role, unit_code)
    if user.id == by_user_id and role != "admin":
        raise ValidationFailed("不能取消自己的管理员角色")
    if role != "admin" and _last_admin(session, user):
        raise ValidationFailed("至少保留一名在用的系统管理员")
    if display_name is not None:
        display_name = display_name.strip()
        if not display_name or len(display_name) > 100:
            raise ValidationFailed("请填写姓名（不超过 100 字）")
        user.display_name = display_name
    user.role = role
    user.unit_code = unit_code
    session.flush()
    return user


def set_password_hash(session: Session, user_id: int, password_hash: str) -> User:
    user = _user(session, user_id)
    if not password_hash:
        raise ValidationFailed("密码不能为空")
    user.password_hash = password_hash
    session.flush()
    return user


def set_active(session: Session, user_id: int, active: bool, by_user_id: Optional[int] = None) -> User:
    user = _user(session, user_id)
    if not active and user.id == by_user_id:
        raise ValidationFailed("不能停用自己的账号")
    if not active and _last_admin(session, user):
        raise ValidationFailed("至少保留一名在用的系统管理员")
    user.active = active
    session.flush()
    return user


# ------------------------------------------------------------------------------------------------------------------
# Units and their hierarchy
# ------------------------------------------------------------------------------------------------------------------

UNIT_KINDS = {"unit": "事业单位", "dept": "主管部门", "office": "职能机构"}
_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def unit_tree(session: Session) -> list[tuple[int, Unit]]:
    """Depth-first (depth, unit) list, roots first."""
    units = list(session.scalars(select(Unit).order_by(Unit.code)))
    children: dict[Optional[str], list[Unit]] = {}
    for u in units:
        children.setdefault(u.parent_code, []).append(u)
    out: list[tuple[int, Unit]] = []

    def walk(code, depth):
        for u in children.get(code, []):
            out.append((depth, u))
            walk(u.code, depth + 1)
    walk(None, 0)
    return out


def create_unit(session: Session, code: str, name: str, parent_code: Optional[str], kind: str) -> Unit:
    code, name = (code or "").strip(), (name or "").strip()
    parent_code = (parent_code or "").strip() or None
    if not _CODE_RE.match(code):
        raise ValidationFailed("单位代码须为 1–32 位字母、数字、下划线或连字符")
    if not name or len(name) > 200:
        raise ValidationFailed("请填写单位名称（不超过 200 字）")
    if kind not in UNIT_KINDS:
        raise ValidationFailed("单位类别无效")
    if session.get(Unit, code) is not None:
        raise Conflict(f"单位代码 {code} 已存在")
    if parent_code:
        parent = session.get(Unit, parent_code)
        if parent is None:
            raise ValidationFailed(f"上级单位 {parent_code} 不存在")
        if kind == "unit" and parent.kind != "dept":
            raise ValidationFailed("事业单位的上级须为主管部门")
    elif kind == "unit":
        raise ValidationFailed("事业单位须指定主管部门（上级单位）")
    unit = Unit(code=code, name=name, parent_code=parent_code, kind=kind)
    session.add(unit)
    session.flush()
    return unit


def update_unit(session: Session, code: str, name: str, parent_code: Optional[str]) -> Unit:
    unit = session.get(Unit, code)
    if unit is None:
        raise NotFound("单位不存在")
    name = (name or "").strip()
    parent_code = (parent_code or "").strip() or None
    if not name or len(name) > 200:
        raise ValidationFailed("请填写单位名称（不超过 200 字）")
    if parent_code:
        parent = session.get(Unit, parent_code)
        if parent is None:
            raise ValidationFailed(f"上级单位 {parent_code} 不存在")
        cur = parent
        while cur is not None:
            if cur.code == unit.code:
                raise ValidationFailed("上级单位不能是本单位或其下级单位")
            cur = session.get(Unit, cur.parent_code) if cur.parent_code else None
        if unit.kind == "unit" and parent.kind != "dept":
            raise ValidationFailed("事业单位的上级须为主管部门")
    elif unit.kind == "unit":
        raise ValidationFailed("事业单位须指定主管部门（上级单位）")
    unit.name = name
    unit.parent_code = parent_code
    session.flush()
    return unit


# ------------------------------------------------------------------------------------------------------------------
# 编制 pools
# ------------------------------------------------------------------------------------------------------------------

def list_pools(session: Session) -> list[QuotaPool]:
    return list(session.scalars(select(QuotaPool).order_by(QuotaPool.kind.desc(), QuotaPool.unit_code)))


def parse_delta(value) -> int:
    try:
        delta = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValidationFailed("调整数量须为整数（正数增加，负数核减）") from None
    if delta == 0:
        raise ValidationFailed("调整数量不能为 0")
    if abs(delta) > 10000:
        raise ValidationFailed("调整数量过大")
    return delta


def adjust_pool(session: Session, pool_id: int, delta, note: str) -> QuotaPool:
    delta = parse_delta(delta)
    note = (note or "").strip()
    if not note:
        raise ValidationFailed("请填写调整依据（文号或说明）")
    if len(note) > 200:
        raise ValidationFailed("调整依据不超过 200 字")
    return quota_svc.adjust_pool(session, pool_id, delta, note)


def create_unit_pool(session: Session, unit_code: str, total) -> QuotaPool:
    unit = session.get(Unit, (unit_code or "").strip())
    if unit is None:
        raise ValidationFailed("单位不存在")
    if quota_svc.own_pool(session, unit.code) is not None:
        raise Conflict("该单位已有编制台账")
    try:
        total = int(str(total).strip())
    except (TypeError, ValueError):
        raise ValidationFailed("编制数须为非负整数") from None
    if total < 0:
        raise ValidationFailed("编制数须为非负整数")
    pool = QuotaPool(kind=quota_svc.UNIT_OWN, unit_code=unit.code, name=f"{unit.code} 本单位编制", total=total)
    session.add(pool)
    session.flush()
    return pool


# ------------------------------------------------------------------------------------------------------------------
# Holiday table
# ------------------------------------------------------------------------------------------------------------------

_TRUE = {"1", "true", "yes", "y", "是", "班", "上班", "工作日"}
_FALSE = {"0", "false", "no", "n", "否", "休", "休息", "假", "节假日"}


def holiday_years(session: Session) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for h in session.scalars(select(Holiday)):
        d = out.setdefault(h.day.year, {"total": 0, "off": 0, "work": 0})
        d["total"] += 1
        d["work" if h.is_working_day else "off"] += 1
    return dict(sorted(out.items()))


def list_holidays(session: Session, year: int) -> list[Holiday]:
    return list(session.scalars(select(Holiday).where(Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31))
                                .order_by(Holiday.day)))


def _flag(value) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return bool(value) if value in (0, 1) else None
    v = str(value if value is not None else "").strip().lower()
    return True if v in _TRUE else False if v in _FALSE else None


def parse_holiday_file(content: bytes, filename: str, year: int) -> list[tuple[date, bool, str]]:
    """CSV (`date,is_working_day,name`, header optional) or JSON (a list of objects with those keys).
    Every row must fall in `year`; all problems are reported together."""
    if not content:
        raise ValidationFailed("请选择要导入的文件")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed("文件须为 UTF-8 编码") from None
    raw: list[tuple[int, object, object, object]] = []
    if (filename or "").lower().endswith(".json") or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ValidationFailed(f"JSON 格式错误：{e}") from None
        if not isinstance(data, list):
            raise ValidationFailed("JSON 须为数组：[{\"date\": \"2027-01-01\", \"is_working_day\": false, \"name\": \"元旦\"}]")
        for i, item in enumerate(data, 1):
            if not isinstance(item, dict):
                raise ValidationFailed(f"第 {i} 项不是对象")
            raw.append((i, item.get("date"), item.get("is_working_day"), item.get("name", "")))
    else:
        for i, row in enumerate(csv.reader(io.StringIO(text)), 1):
            if not row or not "".join(row).strip() or row[0].strip().startswith("#"):
                continue
            if i == 1 and row[0].strip().lower() in ("date", "日期"):
                continue
            raw.append((i, row[0] if len(row) > 0 else "", row[1] if len(row) > 1 else "",
                        row[2] if len(row) > 2 else ""))
    errors: list[str] = []
    rows: dict[date, tuple[date, bool, str]] = {}
    for i, d, w, name in raw:
        where = f"第 {i} 行"
        try:
            day = date.fromisoformat(str(d).strip())
        except (TypeError, ValueError):
            errors.append(f"{where}：日期“{d}”格式应为 YYYY-MM-DD")
            continue
        if day.year != year:
            errors.append(f"{where}：{day.isoformat()} 不属于 {year} 年")
            continue
        flag = _flag(w)
        if flag is None:
            errors.append(f"{where}：is_working_day 须为 1/0、true/false、是/否，实际为“{w}”")
            continue
        name = str(name or "").strip()
        if len(name) > 50:
            errors.append(f"{where}：名称不超过 50 字")
            continue
        if day in rows:
            errors.append(f"{where}：日期 {day.isoformat()} 重复")
            continue
        if flag and day.weekday() < 5:
            errors.append(f"{where}：{day.isoformat()} 本是工作日，无需标为调休上班")
            continue
        if not flag and day.weekday() >= 5 and not name:
            errors.append(f"{where}：{day.isoformat()} 本是周末，标为休息日须注明节日名称")
            continue
        rows[day] = (day, flag, name)
    if errors:
        raise ValidationFailed("导入文件有误，未做任何修改：" + "；".join(errors[:20])
                               + (f"（另有 {len(errors) - 20} 处）" if len(errors) > 20 else ""),
                               details={"errors": errors})
    if not rows:
        raise ValidationFailed("文件中没有日期")
    return sorted(rows.values())


def replace_holidays(session: Session, year: int, rows: list[tuple[date, bool, str]]) -> int:
    """Replace that year's entries (the caller's transaction makes it all or nothing)."""
    if any(d.year != year for d, _, _ in rows):
        raise ValidationFailed(f"所有日期须属于 {year} 年")
    session.execute(delete(Holiday).where(Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31)))
    for d, w, name in rows:
        session.add(Holiday(day=d, is_working_day=w, name=name))
    bump = getattr(settings_svc, "bump_holiday_rev", None)
    if bump is not None:  # the calendar cache follows the table (bulk DELETE bypasses the ORM hook)
        bump(session)
    session.flush()
    return len(rows)


# ------------------------------------------------------------------------------------------------------------------
# Policy parameters
# ------------------------------------------------------------------------------------------------------------------

PARAM_LABELS = {
    "rongque_days": ("容缺补正期限（工作日）", "R3：容缺受理后补齐材料的工作日数"),
    "promise_working_days": ("承诺办结时限（工作日）", "受理后承诺办结的工作日数"),
    "publicity_days": ("公示期（工作日）", "R7：公示的工作日数，含起始日"),
    "special_post_term_cap": ("特设岗位聘期上限（月）", "R8：特设岗位聘期的最长月数"),
    "special_post_term_mode": ("聘期超限处理方式", "R8：申请聘期超过上限时 退回（refuse）或 按上限核定（cap）"),
    "filing_remind_working_days": ("备案提醒提前量（工作日）", "R6：备案到期前多少个工作日提醒"),
}
TERM_MODES = {"refuse": "退回（不予受理）", "cap": "按上限核定"}


def set_params(session: Session, form: dict[str, str]) -> dict[str, object]:
    """Validate every submitted value, then set them all (or none)."""
    changed: dict[str, object] = {}
    errors: list[str] = []
    for key, default in settings_svc.DEFAULT_PARAMS.items():
        if key not in form:
            continue
        raw = (form.get(key) or "").strip()
        label = PARAM_LABELS.get(key, (key,))[0]
        if isinstance(default, int):
            try:
                value = int(raw)
            except ValueError:
                errors.append(f"{label}须为正整数")
                continue
            if value <= 0 or value > 3650:
                errors.append(f"{label}须为 1–3650 之间的整数")
                continue
        else:
            value = raw
            if key == "special_post_term_mode" and value not in TERM_MODES:
                errors.append(f"{label}须为 refuse 或 cap")
                continue
        changed[key] = value
    if errors:
        raise ValidationFailed("；".join(errors), details={"errors": errors})
    current = settings_svc.get_params(session)
    for key, value in changed.items():
        if current.get(key) != value:
            settings_svc.set_param(session, key, value)
    session.flush()
    return {k: v for k, v in changed.items() if current.get(k) != v}
