"""Decision tables (DMN) in the administrator console: versions of their own, drafts from dmn-js, publish, roll back and
a rule-by-rule comparison.

How a table version relates to process versions: a case runs on the process version it started with, and that
version's spec carries the decision table it was parsed with (`source["dmn"]`). So publishing a table version
publishes, in the same transaction, a new version of every process that calls the decision — its published BPMN and
forms with the new table — and new cases take it while running cases keep theirs. A roll-back publishes the older
table the same way (a process version with exactly that content already exists, so it is published again rather than
copied). A process's draft is moved onto the new table too, so publishing it later cannot bring the old one back.

Every function validates first and changes nothing on bad input (a `DomainError` or `DefinitionInvalid` with a Chinese
message naming the cell); the callers wrap writes in `workflows.infra.db.transaction`. No Flask here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.domain.errors import Conflict, DefinitionError, DefinitionInvalid, NotFound, ValidationFailed
from workflows.domain.models import DecisionDefinition, ProcessDefinition
from workflows.engine import serialization, specs
from workflows.services import definitions as defs
from workflows.services.audit import record_admin_event
from workflows.services.operations import OPERATORS

STATUS_LABELS = {"draft": "草稿", "published": "已发布（新办件使用）", "retired": "已停用"}
MAX_DMN_BYTES = 1024 * 1024


def _sha(xml: str) -> str:
    return hashlib.sha256(xml.encode("utf-8")).hexdigest()


def list_versions(session: Session, decision_id: str) -> list[DecisionDefinition]:
    rows = list(
        session.scalars(
            select(DecisionDefinition)
            .where(DecisionDefinition.decision_id == decision_id)
            .order_by(DecisionDefinition.version.desc())
        )
    )
    if not rows:
        raise NotFound(f"决策表“{decision_id}”不存在")
    return rows


def get_version(session: Session, decision_id: str, version: int) -> DecisionDefinition:
    row = session.scalar(
        select(DecisionDefinition).where(
            DecisionDefinition.decision_id == decision_id, DecisionDefinition.version == version
        )
    )
    if row is None:
        raise NotFound(f"决策表“{decision_id}”没有版本 v{version}")
    return row


def _with_status(session: Session, decision_id: str, status: str) -> DecisionDefinition | None:
    return session.scalar(
        select(DecisionDefinition).where(
            DecisionDefinition.decision_id == decision_id, DecisionDefinition.status == status
        )
    )


def editing_base(session: Session, decision_id: str) -> DecisionDefinition:
    """What the editor opens: the draft if there is one, else the published version, else the newest."""
    rows = list_versions(session, decision_id)
    return next((r for s in ("draft", "published") for r in rows if r.status == s), rows[0])


def _published_processes(session: Session) -> list[ProcessDefinition]:
    return list(
        session.scalars(
            select(ProcessDefinition)
            .where(ProcessDefinition.status == "published")
            .order_by(ProcessDefinition.process_id)
        )
    )


def _callers(session: Session, decision_id: str, status: str = "published") -> list[ProcessDefinition]:
    """The processes' versions (of `status`) whose BPMN calls the decision."""
    rows = session.scalars(
        select(ProcessDefinition).where(ProcessDefinition.status == status).order_by(ProcessDefinition.process_id)
    )
    return [r for r in rows if decision_id in specs.called_decisions((r.source or {}).get("bpmn") or {})]


def _table_in(row: ProcessDefinition, decision_id: str) -> tuple[str | None, str | None]:
    """(file name, XML) of the decision's table inside a process version, or (None, None)."""
    for filename, xml in sorted(((row.source or {}).get("dmn") or {}).items()):
        try:
            if specs.read_decision(xml.encode("utf-8"), filename).decision_id == decision_id:
                return filename, xml
        except DefinitionInvalid:
            continue
    return None, None


def overview(session: Session) -> list[dict]:
    """One row per decision table: name, published and draft versions, and the processes that call it."""
    rows = list(session.scalars(select(DecisionDefinition).order_by(DecisionDefinition.decision_id)))
    out: dict[str, dict] = {}
    for r in rows:
        d = out.setdefault(
            r.decision_id,
            {"decision_id": r.decision_id, "name": r.name, "published": None, "draft": None, "versions": 0},
        )
        d["versions"] += 1
        if r.status == "published":
            d["published"], d["name"] = r, r.name
        elif r.status == "draft":
            d["draft"] = r
    for d in out.values():
        d["processes"] = usage(session, d["decision_id"])
    return list(out.values())


def usage(session: Session, decision_id: str) -> list[dict]:
    """Each process that calls the decision: its published version and which table version that version carries
    (None when its table is none of the stored versions, e.g. a process rolled back past the table's history)."""
    by_sha = {
        sha: v
        for sha, v in session.execute(
            select(DecisionDefinition.sha256, DecisionDefinition.version).where(
                DecisionDefinition.decision_id == decision_id
            )
        )
    }
    out = []
    for p in _callers(session, decision_id):
        _, xml = _table_in(p, decision_id)
        out.append(
            {
                "process_id": p.process_id,
                "name": p.name,
                "version": p.version,
                "table_version": by_sha.get(_sha(xml)) if xml is not None else None,
            }
        )
    return out


# -- validation ----------------------------------------------------------------------------------------------------

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_against_processes(
    session: Session, decision_id: str, filename: str, xml: str, table: specs.ParsedDecision
) -> list[ProcessDefinition]:
    """The table must keep the decision id and every output the calling processes read, and each calling process
    (published version) must still parse and lint with it. Returns the calling processes' published versions."""
    errors: list[DefinitionError] = []
    if table.decision_id != decision_id:
        errors.append(
            DefinitionError(
                None,
                None,
                None,
                f"{filename}：决策编号须保持为 {decision_id}（流程按此编号调用），实际为 {table.decision_id}",
                filename,
            )
        )
        raise DefinitionInvalid(errors)
    callers = _callers(session, decision_id)
    current = _with_status(session, decision_id, "published")
    kept = {o["name"] for o in table.outputs}
    if current is not None:
        before = specs.read_decision(current.xml.encode("utf-8"), current.filename)
        for out in before.outputs:
            if out["name"] in kept:
                continue
            users = [
                p.process_id
                for p in callers
                if out["name"] in _IDENT_RE.findall("".join(((p.source or {}).get("bpmn") or {}).values()))
            ]
            if users:
                errors.append(
                    DefinitionError(
                        out["id"],
                        out["label"] or None,
                        None,
                        f"{filename}：输出列「{out['label'] or out['name']}」（{out['name']}）被删除或改名，"
                        f"但流程 {'、'.join(users)} 仍读取它",
                        filename,
                    )
                )
    for p in callers:
        source = p.source or {}
        try:
            specs.parse_definition(
                {k: v.encode("utf-8") for k, v in (source.get("bpmn") or {}).items()},
                {
                    k: v.encode("utf-8")
                    for k, v in _replace_table(source.get("dmn") or {}, decision_id, filename, xml).items()
                },
                p.process_id,
                form_names=set(source.get("forms") or {}),
                operators=set(OPERATORS),
            )
        except DefinitionInvalid as exc:
            errors += [
                DefinitionError(e.element_id, e.element_name, e.line, f"流程 {p.process_id}：{e.message}", e.file)
                for e in exc.errors
            ]
    if errors:
        raise DefinitionInvalid(errors)
    return callers


def _replace_table(dmn: dict[str, str], decision_id: str, filename: str, xml: str) -> dict[str, str]:
    """A process's DMN files with the decision's table replaced (whatever file name it had there)."""
    out = {}
    for name, text in dmn.items():
        try:
            if specs.read_decision(text.encode("utf-8"), name).decision_id == decision_id:
                continue
        except DefinitionInvalid:
            pass
        out[name] = text
    out[filename] = xml
    return out


def validate(session: Session, decision_id: str, xml: str) -> specs.ParsedDecision:
    """Everything a table must pass before it is stored: size, safe XML, the DMN schema and SpiffWorkflow's parser,
    the table's shape, every cell compiled under the script policy, and the calling processes parsed with it."""
    if not isinstance(xml, str) or not xml.strip():
        raise ValidationFailed("决策表内容为空")
    if len(xml.encode("utf-8")) > MAX_DMN_BYTES:
        raise ValidationFailed("决策表文件过大（上限 1 MB）")
    base = editing_base(session, decision_id)
    table = specs.parse_decision(xml.encode("utf-8"), base.filename)
    _check_against_processes(session, decision_id, base.filename, xml, table)
    return table


# -- actions -------------------------------------------------------------------------------------------------------


def save_draft(session: Session, decision_id: str, xml: str, by: str) -> tuple[DecisionDefinition, bool]:
    """Validate the edited table, then store it as the decision's draft (created, or overwritten while a draft).
    Returns (row, changed): `changed` is False when the content equals an existing version (nothing stored)."""
    table = validate(session, decision_id, xml)
    sha = _sha(xml)
    same = session.scalar(
        select(DecisionDefinition).where(
            DecisionDefinition.decision_id == decision_id, DecisionDefinition.sha256 == sha
        )
    )
    if same is not None:
        return same, False
    base = editing_base(session, decision_id)
    draft = _with_status(session, decision_id, "draft")
    if draft is None:
        version = (
            session.scalar(
                select(func.max(DecisionDefinition.version)).where(DecisionDefinition.decision_id == decision_id)
            )
            or 0
        ) + 1
        draft = DecisionDefinition(decision_id=decision_id, version=version, status="draft", filename=base.filename)
        session.add(draft)
    draft.name = table.name or decision_id
    draft.sha256 = sha
    draft.xml = xml
    draft.created_by = by
    session.flush()
    return draft, True


@dataclass
class Published:
    row: DecisionDefinition
    processes: list[tuple[str, int]]  # (process id, the version new cases now take)


def publish_version(session: Session, decision_id: str, version: int, by: str, note: str | None = None) -> Published:
    """Publish a draft, or roll back to a retired version: each calling process gets a published version carrying
    this table (new cases use it; running cases keep theirs), and its draft is moved onto the table. The release note
    (required) goes with each of those process versions, naming the table."""
    row = get_version(session, decision_id, version)
    if row.status == "published":
        raise Conflict(f"v{version} 已是当前发布版本")
    text = defs.release_note(note)
    table = specs.parse_decision(row.xml.encode("utf-8"), row.filename)
    callers = _check_against_processes(session, decision_id, row.filename, row.xml, table)
    moved = []
    for p in callers:
        source = p.source or {}
        dmn = _replace_table(source.get("dmn") or {}, decision_id, row.filename, row.xml)
        new = defs.deploy(
            session,
            p.process_id,
            dict(source.get("bpmn") or {}),
            dmn,
            dict(source.get("forms") or {}),
            by=by,
            note=f"决策表 {decision_id} v{version}：{text}",
        )
        moved.append((p.process_id, new.version))
    for draft in _callers(session, decision_id, status="draft"):
        _rebase_draft(session, draft, decision_id, row)
    for other in session.scalars(
        select(DecisionDefinition).where(
            DecisionDefinition.decision_id == decision_id, DecisionDefinition.status == "published"
        )
    ):
        other.status = "retired"
    row.status = "published"
    session.flush()
    # on the administrators' hash chain, like a matter's publication: which table, which processes moved, why
    record_admin_event(
        session,
        by,
        "decision_published",
        f"decision:{decision_id}",
        version=version,
        note=text,
        processes=[f"{pid} v{v}" for pid, v in moved],
    )
    return Published(row, moved)


def _rebase_draft(session: Session, draft: ProcessDefinition, decision_id: str, table: DecisionDefinition) -> None:
    """Put the table into a process's draft (parsed again); a draft that then equals a stored version is dropped."""
    source = draft.source or {}
    dmn = _replace_table(source.get("dmn") or {}, decision_id, table.filename, table.xml)
    bpmn, forms = dict(source.get("bpmn") or {}), dict(source.get("forms") or {})
    sha = defs.bundle_sha256(bpmn, dmn, forms)
    if sha == draft.sha256:
        return
    if session.scalar(
        select(ProcessDefinition.id).where(
            ProcessDefinition.process_id == draft.process_id, ProcessDefinition.sha256 == sha
        )
    ):
        session.delete(draft)
        return
    try:
        parsed = specs.parse_definition(
            {k: v.encode("utf-8") for k, v in bpmn.items()},
            {k: v.encode("utf-8") for k, v in dmn.items()},
            draft.process_id,
            form_names=set(forms),
            operators=set(OPERATORS),
        )
    except DefinitionInvalid as exc:
        raise DefinitionInvalid(
            [
                DefinitionError(
                    e.element_id,
                    e.element_name,
                    e.line,
                    f"流程 {draft.process_id} 的草稿 v{draft.version}：{e.message}",
                    e.file,
                )
                for e in exc.errors
            ]
        ) from None
    draft.source = {"bpmn": bpmn, "dmn": dmn, "forms": forms}
    draft.sha256 = sha
    draft.spec = serialization.spec_to_dict(parsed.spec, parsed.subprocess_specs)


def discard_draft(session: Session, decision_id: str) -> int:
    draft = _with_status(session, decision_id, "draft")
    if draft is None:
        raise NotFound("没有可删除的草稿")
    v = draft.version
    session.delete(draft)
    session.flush()
    return v


def current_tables(session: Session, dmn: dict[str, str]) -> dict[str, str]:
    """A process's DMN files with every table that has a published version of its own replaced by that version, so
    a process draft saved in the modeler carries the tables new cases use."""
    out = dict(dmn)
    for row in session.scalars(select(DecisionDefinition).where(DecisionDefinition.status == "published")):
        if row.filename in out or any(_holds(name, text, row.decision_id) for name, text in out.items()):
            out = _replace_table(out, row.decision_id, row.filename, row.xml)
    return out


def _holds(name: str, xml: str, decision_id: str) -> bool:
    try:
        return specs.read_decision(xml.encode("utf-8"), name).decision_id == decision_id
    except DefinitionInvalid:
        return False


# -- comparison ----------------------------------------------------------------------------------------------------


@dataclass
class Change:
    kind: str  # 输入列 | 输出列 | 规则 | 决策表
    element_id: str
    name: str
    change: str  # added | removed | changed
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (label, old, new)


@dataclass
class DecisionDiff:
    a: int
    b: int
    changes: list[Change]

    def of(self, change: str) -> list[Change]:
        return [c for c in self.changes if c.change == change]

    @property
    def rules(self) -> list[Change]:
        return [c for c in self.changes if c.kind == "规则"]


def _columns_diff(kind: str, a: list[dict], b: list[dict], labels: dict[str, str]) -> list[Change]:
    out = []
    am, bm = {c["id"]: c for c in a}, {c["id"]: c for c in b}
    for cid in [c["id"] for c in a] + [c["id"] for c in b if c["id"] not in am]:
        ca, cb = am.get(cid), bm.get(cid)
        if cb is None:
            out.append(Change(kind, cid, ca["label"] if ca else "", "removed"))
        elif ca is None:
            out.append(Change(kind, cid, cb["label"], "added"))
        else:
            fields = [(labels[k], ca[k], cb[k]) for k in labels if ca.get(k, "") != cb.get(k, "")]
            if fields:
                out.append(Change(kind, cid, cb["label"] or ca["label"], "changed", fields))
    return out


def diff_tables(a: specs.ParsedDecision, b: specs.ParsedDecision) -> list[Change]:
    out: list[Change] = []
    if a.hit_policy != b.hit_policy or a.name != b.name:
        fields = [("命中策略", a.hit_policy, b.hit_policy)] if a.hit_policy != b.hit_policy else []
        fields += [("名称", a.name, b.name)] if a.name != b.name else []
        out.append(Change("决策表", b.decision_id, b.name, "changed", fields))
    out += _columns_diff("输入列", a.inputs, b.inputs, {"label": "标题", "expression": "输入表达式", "type": "类型"})
    out += _columns_diff("输出列", a.outputs, b.outputs, {"label": "标题", "name": "变量名", "type": "类型"})

    def cells(t: specs.ParsedDecision, rule: dict) -> dict[str, tuple[str, str]]:
        """column id -> (column title, cell text)"""
        got = {}
        for cols, values, prefix in ((t.inputs, rule["inputs"], "条件"), (t.outputs, rule["outputs"], "输出")):
            for col, value in zip(cols, values, strict=False):
                got[col["id"]] = (f"{prefix}「{col['label'] or col.get('name') or col['id']}」", value)
        return got

    ar = {r["id"]: (i + 1, r) for i, r in enumerate(a.rules)}
    br = {r["id"]: (i + 1, r) for i, r in enumerate(b.rules)}
    for rid in [r["id"] for r in b.rules] + [r["id"] for r in a.rules if r["id"] not in br]:
        if rid not in ar:
            row, r = br[rid]
            fields = [(label, "", v) for label, v in cells(b, r).values()]
            out.append(Change("规则", rid, f"{row}. {r['description']}", "added", fields))
        elif rid not in br:
            row, r = ar[rid]
            fields = [(label, v, "") for label, v in cells(a, r).values()]
            out.append(Change("规则", rid, f"{row}. {r['description']}", "removed", fields))
        else:
            (rowa, ra), (rowb, rb) = ar[rid], br[rid]
            fields = []
            if rowa != rowb:
                fields.append(("顺序", str(rowa), str(rowb)))
            if ra["description"] != rb["description"]:
                fields.append(("说明", ra["description"], rb["description"]))
            ca, cb = cells(a, ra), cells(b, rb)
            for col in list(ca) + [c for c in cb if c not in ca]:
                old, new = ca.get(col, ("", ""))[1], cb.get(col, ("", ""))[1]
                if old != new:
                    fields.append(((cb.get(col) or ca[col])[0], old, new))
            if fields:
                out.append(Change("规则", rid, f"{rowb}. {rb['description']}", "changed", fields))
    return out


def compare_versions(session: Session, decision_id: str, a: int, b: int) -> DecisionDiff:
    ra, rb = get_version(session, decision_id, a), get_version(session, decision_id, b)
    ta = specs.read_decision(ra.xml.encode("utf-8"), ra.filename)
    tb = specs.read_decision(rb.xml.encode("utf-8"), rb.filename)
    return DecisionDiff(a, b, diff_tables(ta, tb))
