"""Administrator console services: process-definition drafts, versions and comparison; users, units, 编制 pools,
the holiday table and policy parameters. No Flask here: the web layer hashes passwords and passes the hash in.

Every function validates first and changes nothing on bad input (it raises a `DomainError` with a Chinese message);
the callers wrap writes in `workflows.db.transaction`.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Optional

from lxml import etree
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from workflows.engine import serialization, specs
from workflows.domain.actors import ROLE_LABELS
from workflows.domain.errors import Conflict, DefinitionInvalid, DomainError, NotFound, ValidationFailed
from workflows.domain.models import Case, Holiday, ProcessDefinition, QuotaPool, Unit, User
from workflows.services.operations import OPERATORS
from workflows.services import definitions as defs
from workflows.services import quota as quota_svc
from workflows.services import settings as settings_svc

log = logging.getLogger(__name__)

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
        except DefinitionInvalid:
            continue
        ids += [d.get("id") for d in root.iter() if etree.QName(d).localname == "decision" and d.get("id")]
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
                password_hash: str, id_number: Optional[str] = None, email: Optional[str] = None, *,
                must_change_password: bool = False) -> User:
    """`must_change_password`: someone else chose the password (the administrator's form, the bulk import), so the
    person is sent to change it at first sign-in; false when they typed it themselves (`flask create-user`)."""
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
                password_hash=password_hash, id_number=id_number, email=email, active=True,
                must_change_password=must_change_password)
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


def set_password_hash(session: Session, user_id: int, password_hash: str, *, must_change: bool = True,
                      by: Optional[str] = None) -> User:
    """An administrator (`by`) sets someone's password: by default they must change it at their next sign-in. Their
    open sessions end either way (the session identity includes the password: `accounts.password_fingerprint`)."""
    user = _user(session, user_id)
    if not password_hash:
        raise ValidationFailed("密码不能为空")
    user.password_hash = password_hash
    user.must_change_password = must_change
    session.flush()
    log.info("password reset by an administrator", extra={
        "event": "password_reset", "user_id": user.id, "username": user.username, "by": by, "how": "admin",
        "must_change_password": must_change})
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


# ------------------------------------------------------------------------------------------------------------------
# Bulk import of units and users (CSV, for onboarding a region)
#
# parse_*_file reads the file (size, encoding, header, row count); import_* validates every row against the file and
# the database, reports every problem with its line number and changes nothing if there is one, then writes through
# create_unit / update_unit / create_user (the same rules as the forms). The caller's transaction makes it all or
# nothing. Existing unit codes are updated (name, parent); existing user names are refused (import only creates
# accounts). Imported accounts get a random initial password, returned once to the caller and stored only hashed.
# ------------------------------------------------------------------------------------------------------------------

MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 5000
MAX_IMPORT_ERRORS = 50  # listed in the error details (all are counted)
INITIAL_PASSWORD_LENGTH = 12
_PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"  # no 0/O, 1/l/I: read aloud safely

# column → accepted header names; the first is the one of the template. Compared without spaces, case, "*" and a
# trailing "（…）" note, so "邮箱（可选）" and "Email" are read too.
UNIT_IMPORT_COLUMNS = {
    "code": ("单位代码", "代码", "code", "unit_code"),
    "name": ("单位名称", "名称", "name"),
    "parent_code": ("主管部门代码", "主管部门", "上级单位代码", "上级单位", "上级代码", "parent_code", "parent"),
    "kind": ("类型", "类别", "单位类型", "单位类别", "kind"),
}
USER_IMPORT_COLUMNS = {
    "username": ("用户名", "账号", "username"),
    "display_name": ("姓名", "display_name", "name"),
    "role": ("角色", "role"),
    "unit_code": ("单位代码", "所属单位代码", "所属单位", "单位", "unit_code", "unit"),
    "email": ("邮箱", "电子邮箱", "email"),
    "id_number": ("身份证号", "身份证号码", "id_number"),
}
_UNIT_REQUIRED = ("code", "name", "parent_code", "kind")
_USER_REQUIRED = ("username", "display_name", "role", "unit_code")
_IGNORED_COLUMNS = {"备注", "说明", "remark", "remarks", "note", "notes"}
# Roles a file may create: every assignable role but the administrator (created one by one, on purpose).
IMPORT_ROLES = {k: v for k, v in ASSIGNABLE_ROLES.items() if k != "admin"}

UNIT_IMPORT_TEMPLATE = [["单位代码", "单位名称", "主管部门代码", "类型"],
                        ["U0301", "内蒙古自治区示例研究院", "D01", "事业单位"]]
USER_IMPORT_TEMPLATE = [["用户名", "姓名", "角色", "单位代码", "邮箱", "身份证号"],
                        ["hr_example", "张三（示例研究院人事处）", "用人单位人事专员", "U0301", "zhangsan@example.cn", ""]]


@dataclass
class UnitImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


@dataclass
class ImportedUser:
    username: str
    display_name: str
    role: str
    unit_code: Optional[str]
    password: str  # the initial password in plain text: show it once, never store it


class _LineErrors:
    def __init__(self):
        self.items: list[tuple[int, str]] = []

    def add(self, line: int, message: str) -> None:
        self.items.append((line, message))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        lines = [f"第 {line} 行：{msg}" for line, msg in sorted(self.items, key=lambda x: x[0])]
        shown = lines[:20]
        raise ValidationFailed(f"导入文件有误（共 {len(lines)} 处），未做任何修改：" + "；".join(shown)
                               + (f"（另有 {len(lines) - len(shown)} 处）" if len(lines) > len(shown) else ""),
                               details={"errors": lines[:MAX_IMPORT_ERRORS], "error_count": len(lines)})


def _decode_table(content: bytes, filename: str) -> str:
    name = (filename or "").lower()
    if content.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")) or name.endswith((".xlsx", ".xls", ".et")):
        raise ValidationFailed("暂不支持 Excel 工作簿（.xlsx/.xls）：请在 Excel 中“另存为”“CSV UTF-8（逗号分隔）”"
                               "或“CSV（逗号分隔）”后上传")
    try:
        if content.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel "Unicode 文本": UTF-16, tab-separated
            text = content.decode("utf-16")
        elif content.startswith(b"\xef\xbb\xbf"):
            text = content.decode("utf-8-sig")
        else:
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                text = content.decode("gb18030")  # Excel on Chinese Windows ("CSV（逗号分隔）")
    except UnicodeDecodeError:
        raise ValidationFailed("无法识别文件编码：请保存为 UTF-8 或 GB18030（GBK）编码的 CSV 文件") from None
    if "\x00" in text:
        raise ValidationFailed("文件不是文本格式的 CSV：请在 Excel 中“另存为”CSV 后上传")
    return text


def _header_key(cell: str) -> str:
    h = re.sub(r"[（(][^）)]*[）)]\s*$", "", (cell or "").replace("\ufeff", "").strip())
    return re.sub(r"[\s*＊]", "", h).lower()


def _read_table(content: bytes, filename: str, columns: dict[str, tuple[str, ...]], required: tuple[str, ...],
                max_rows: int) -> list[dict]:
    """Header row, then one dict per data row: {"line": n, column: value, ...} (values stripped). Blank lines and
    lines starting with # are skipped. A file-level problem (size, encoding, header, row count) raises at once."""
    if not content:
        raise ValidationFailed("请选择要导入的文件")
    if len(content) > MAX_IMPORT_BYTES:
        raise ValidationFailed("文件超过 2 MB 的上限：请分批导入")
    text = _decode_table(content, filename)
    first = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    alias = {_header_key(a): col for col, names in columns.items() for a in names}
    mapping: dict[int, str] = {}
    header_seen = False
    width = 0
    rows: list[dict] = []
    count = 0
    prev = 0
    try:
        for record in reader:
            line, prev = prev + 1, reader.line_num
            cells = [c.strip() for c in record]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if not header_seen:
                header_seen = True
                width = max(i for i, c in enumerate(cells) if c) + 1
                unknown = []
                for i, cell in enumerate(cells):
                    key = _header_key(cell)
                    col = alias.get(key)
                    if col is None:
                        if key and key not in _IGNORED_COLUMNS:
                            unknown.append(cell)
                        continue
                    if col in mapping.values():
                        raise ValidationFailed(f"第 {line} 行（表头）：“{cell}”与另一列重复")
                    mapping[i] = col
                template = "，".join(names[0] for names in columns.values())
                missing = [columns[c][0] for c in required if c not in mapping.values()]
                if missing:
                    raise ValidationFailed(f"第 {line} 行（表头）缺少列：{'、'.join(missing)}。首行须为表头：{template}"
                                           "（可下载导入模板）")
                if unknown:
                    raise ValidationFailed(f"第 {line} 行（表头）有无法识别的列：{'、'.join(unknown)}。"
                                           f"可用的列：{template}")
                continue
            count += 1
            if count > max_rows:
                continue
            row: dict = {"line": line}
            for i, col in mapping.items():
                row[col] = cells[i] if i < len(cells) else ""
            if any(cells[width:]):
                row["_extra"] = "列数多于表头（单元格中的逗号须加引号）"
            rows.append(row)
    except csv.Error as e:
        raise ValidationFailed(f"第 {reader.line_num} 行：CSV 格式错误（{e}）") from None
    if not header_seen:
        raise ValidationFailed("文件为空：首行须为表头（可下载导入模板）")
    if count > max_rows:
        raise ValidationFailed(f"文件有 {count} 行数据，超过上限 {max_rows} 行：请分批导入")
    if not rows:
        raise ValidationFailed("文件中只有表头，没有数据行")
    return rows


def parse_units_file(content: bytes, filename: str = "", max_rows: int = MAX_IMPORT_ROWS) -> list[dict]:
    """CSV with the header 单位代码,单位名称,主管部门代码,类型 (or code,name,parent_code,kind); UTF-8 with or without
    BOM, GB18030, or Excel's UTF-16 text. Returns rows for `import_units`."""
    return _read_table(content, filename, UNIT_IMPORT_COLUMNS, _UNIT_REQUIRED, max_rows)


def parse_users_file(content: bytes, filename: str = "", max_rows: int = MAX_IMPORT_ROWS) -> list[dict]:
    """CSV with the header 用户名,姓名,角色,单位代码[,邮箱][,身份证号] (or username,display_name,role,unit_code,email,
    id_number); no passwords. Returns rows for `import_users`."""
    return _read_table(content, filename, USER_IMPORT_COLUMNS, _USER_REQUIRED, max_rows)


def _cell(row: dict, key: str) -> str:
    value = row.get(key)
    return "" if value is None else str(value).strip()


def _unit_kind(value: str) -> Optional[str]:
    """'' (not given), a kind code, or None (not a kind). Accepts unit/dept/office and 事业单位/主管部门/职能机构."""
    if not value:
        return ""
    if value.lower() in UNIT_KINDS:
        return value.lower()
    return next((k for k, label in UNIT_KINDS.items() if label == value), None)


def _import_role(value: str) -> Optional[str]:
    """A role code (unit_hr) or its Chinese label (用人单位人事专员); None if neither."""
    if value.lower() in ASSIGNABLE_ROLES:
        return value.lower()
    return next((k for k, label in ASSIGNABLE_ROLES.items() if label == value), None)


def import_units(session: Session, rows: list[dict]) -> UnitImportResult:
    """Create or update every unit of the file, or none. A parent may be a unit of the database or of the file
    (also further down). An existing code keeps its kind and gets the file's name and parent."""
    errors = _LineErrors()
    existing = {u.code: u for u in session.scalars(select(Unit))}
    plan: dict[str, dict] = {}
    for i, row in enumerate(rows, 1):
        line = row.get("line") or i
        if row.get("_extra"):
            errors.add(line, row["_extra"])
        code, name = _cell(row, "code"), _cell(row, "name")
        parent = _cell(row, "parent_code") or None
        kind_text = _cell(row, "kind")
        if not code:
            errors.add(line, "缺少单位代码")
            continue
        if not _CODE_RE.match(code):
            errors.add(line, f"单位代码“{code}”须为 1–32 位字母、数字、下划线或连字符")
            continue
        if code in plan:
            errors.add(line, f"单位代码 {code} 与第 {plan[code]['line']} 行重复")
            continue
        if not name or len(name) > 200:
            errors.add(line, "请填写单位名称（不超过 200 字）")
        parent_bad = bool(parent) and (not _CODE_RE.match(parent) or parent == code)
        if parent_bad:
            errors.add(line, "上级单位不能是本单位" if parent == code
                       else f"主管部门代码“{parent}”须为 1–32 位字母、数字、下划线或连字符")
            parent = None
        old = existing.get(code)
        kind = _unit_kind(kind_text)
        if kind is None:
            errors.add(line, f"类型“{kind_text}”无效，应为 事业单位、主管部门、职能机构（或 unit、dept、office）")
        elif not kind and old is None:
            errors.add(line, "新单位须填写类型（事业单位、主管部门或职能机构）")
        elif kind and old is not None and kind != old.kind:
            errors.add(line, f"单位 {code} 现为“{UNIT_KINDS.get(old.kind, old.kind)}”，导入不能修改类型")
        plan[code] = {"line": line, "name": name, "parent": parent, "parent_bad": parent_bad,
                      "kind": kind or (old.kind if old is not None else None)}

    def parent_of(code: str) -> Optional[str]:
        return plan[code]["parent"] if code in plan else existing[code].parent_code

    def kind_of(code: str) -> Optional[str]:
        return plan[code]["kind"] if code in plan else existing[code].kind

    for code, p in plan.items():
        parent, line = p["parent"], p["line"]
        if parent is None:
            if p["kind"] == "unit" and not p["parent_bad"]:
                errors.add(line, "事业单位须填写主管部门代码")
            continue
        if parent not in plan and parent not in existing:
            errors.add(line, f"主管部门 {parent} 不存在（系统中和文件中都没有）")
        elif p["kind"] == "unit" and kind_of(parent) not in ("dept", None):
            errors.add(line, f"事业单位的上级须为主管部门，{parent} 是“{UNIT_KINDS.get(kind_of(parent), kind_of(parent))}”")
    # Cycles: only the file changes parents (the database has none), so every cycle goes through a row of the file.
    reported: set[frozenset] = set()
    for code in plan:
        path: list[str] = []
        index: dict[str, int] = {}
        cur: Optional[str] = code
        while cur is not None and cur not in index and (cur in plan or cur in existing):
            index[cur] = len(path)
            path.append(cur)
            cur = parent_of(cur)
        if cur is not None and cur in index:
            cycle = path[index[cur]:]
            if len(cycle) > 1 and frozenset(cycle) not in reported:
                reported.add(frozenset(cycle))
                lines = sorted(plan[c]["line"] for c in cycle if c in plan)
                errors.add(lines[0], "上级关系形成循环：" + " → ".join(cycle + [cycle[0]])
                           + f"（第 {'、'.join(map(str, lines))} 行）")
    errors.raise_if_any()

    # Parents first (an order in which no intermediate state has a cycle or a missing parent).
    order: list[str] = []
    placed: set[str] = set()
    for code in plan:
        chain: list[str] = []
        cur = code
        while cur is not None and cur in plan and cur not in placed:
            chain.append(cur)
            placed.add(cur)
            cur = plan[cur]["parent"]
        order.extend(reversed(chain))
    result = UnitImportResult()
    for code in order:
        p, old = plan[code], existing.get(code)
        try:
            if old is None:
                create_unit(session, code, p["name"], p["parent"], p["kind"])
                result.created.append(code)
            elif old.name == p["name"] and old.parent_code == p["parent"]:
                result.unchanged.append(code)
            else:
                update_unit(session, code, p["name"], p["parent"])
                result.updated.append(code)
        except DomainError as e:  # the checks above should have caught it; the caller's transaction rolls back
            raise ValidationFailed(f"第 {p['line']} 行：{e.message}（未做任何修改）",
                                   details={"errors": [f"第 {p['line']} 行：{e.message}"], "error_count": 1}) from None
    return result


def new_initial_password() -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(INITIAL_PASSWORD_LENGTH))


def check_users(session: Session, rows: list[dict]) -> list[dict]:
    """Validate every row of a user file against the file and the database (reads only); raise `ValidationFailed`
    with every problem and its line number, else return the rows normalised. The units must exist already (import
    them first). A user name that exists is an error: the import never changes an account."""
    errors = _LineErrors()
    for _u in session.scalars(select(Unit)):  # in the identity map: the per-row unit checks read no more
        pass
    taken = set(session.scalars(select(User.username)))
    seen: dict[str, int] = {}
    valid: list[dict] = []
    for i, row in enumerate(rows, 1):
        line = row.get("line") or i
        before = len(errors.items)
        if row.get("_extra"):
            errors.add(line, row["_extra"])
        username, display_name = _cell(row, "username"), _cell(row, "display_name")
        role_text, unit_code = _cell(row, "role"), _cell(row, "unit_code") or None
        id_number = _cell(row, "id_number").upper() or None
        if not _USERNAME_RE.match(username):
            errors.add(line, f"用户名“{username}”须以字母开头，3–64 位字母、数字、下划线、点或连字符" if username
                       else "缺少用户名")
        elif username in seen:
            errors.add(line, f"用户名 {username} 与第 {seen[username]} 行重复")
        elif username in taken:
            errors.add(line, f"用户名 {username} 已存在（导入只新建账号：请删去此行，已有账号在“用户与角色”页修改）")
        if _USERNAME_RE.match(username):
            seen.setdefault(username, line)
        if not display_name or len(display_name) > 100:
            errors.add(line, "请填写姓名（不超过 100 字）")
        role = _import_role(role_text)
        if role is None:
            errors.add(line, f"角色“{role_text}”无效，可用：" + "、".join(f"{k}（{v}）" for k, v in IMPORT_ROLES.items())
                       if role_text else "缺少角色")
        elif role not in IMPORT_ROLES:
            errors.add(line, "系统管理员账号不能批量导入，请在“用户与角色”页逐个创建")
        else:
            try:
                unit_code = _check_role_unit(session, role, unit_code)
            except ValidationFailed as e:
                errors.add(line, e.message)
            if role == "applicant" and not id_number:
                errors.add(line, "申请人账号须填写身份证号")
        try:
            email = _email(_cell(row, "email"))
        except ValidationFailed as e:
            errors.add(line, f"{e.message}（{_cell(row, 'email')}）")
            email = None
        if id_number and not _ID_RE.match(id_number):
            errors.add(line, "身份证号须为 18 位（Excel 可能把它显示成科学计数法：请把该列设为“文本”）")
        if len(errors.items) == before:
            valid.append({"line": line, "username": username, "display_name": display_name, "role": role,
                          "unit_code": unit_code, "email": email, "id_number": id_number})
    errors.raise_if_any()
    return valid


def hash_initial_passwords(usernames: list[str], hash_password: Callable[[str], str]) -> dict[str, tuple[str, str]]:
    """username → (random initial password, its hash). Touches no database: call it between `check_users` and
    `import_users`, outside any transaction — the app's hash (scrypt) takes about 0.1 s per account, and on SQLite
    an open transaction holds the write lock. The hash releases the GIL, so a few threads share the work."""
    plain = {u: new_initial_password() for u in usernames}
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        hashes = dict(zip(plain, pool.map(hash_password, plain.values())))
    return {u: (plain[u], hashes[u]) for u in plain}


def import_users(session: Session, rows: list[dict], hash_password: Optional[Callable[[str], str]] = None, *,
                 initial_passwords: Optional[dict[str, tuple[str, str]]] = None) -> list[ImportedUser]:
    """Create every account of the file, or none (`check_users` first, again: the database may have changed).
    Each account gets a random initial password: from `initial_passwords` (see `hash_initial_passwords`) or made
    here and hashed with `hash_password` (the web layer's hash, as for the forms). Only the hash is stored; the
    plain text is returned, once. Every account must change its initial password at first sign-in."""
    valid = check_users(session, rows)
    missing = [r["username"] for r in valid if r["username"] not in (initial_passwords or {})]
    if missing and hash_password is None:
        raise ValueError(f"no initial password for {', '.join(missing[:5])}")
    passwords = dict(initial_passwords or {})
    if missing:
        passwords.update(hash_initial_passwords(missing, hash_password))
    out: list[ImportedUser] = []
    for r in valid:
        password, password_hash = passwords[r["username"]]
        try:
            user = create_user(session, r["username"], r["display_name"], r["role"], r["unit_code"],
                               password_hash, r["id_number"], r["email"], must_change_password=True)
        except DomainError as e:  # checked above; the caller's transaction rolls back
            raise ValidationFailed(f"第 {r['line']} 行：{e.message}（未做任何修改）",
                                   details={"errors": [f"第 {r['line']} 行：{e.message}"], "error_count": 1}) from None
        out.append(ImportedUser(user.username, user.display_name, user.role, user.unit_code, password))
    return out


def import_template_csv(kind: str) -> bytes:
    """The downloadable template (header and one example line), UTF-8 with BOM so that Excel opens it correctly."""
    rows = UNIT_IMPORT_TEMPLATE if kind == "units" else USER_IMPORT_TEMPLATE
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def initial_passwords_csv(users: list[ImportedUser]) -> str:
    """用户名,姓名,初始密码 — for handing the accounts out (the only place the plain passwords ever appear)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["用户名", "姓名", "初始密码"])
    w.writerows([u.username, u.display_name, u.password] for u in users)
    return buf.getvalue()
