"""事项配置: matters (procedures as data) — drafts, publish, export and import — and the registry they feed.

A matter with its own flow (one an administrator configured) keeps its process in the definition machinery: the
template the administrator picks is stored as the process's draft definition, edited in the bpmn-js modeler like
any other, and publishing the matter publishes that flow with the matter's body inside it (the definition's forms,
`MATTER_FORM`), so a case started on a version keeps that version's texts, materials and flow. A declared procedure
(procedures.py) is overlaid (`matters.overlay`: basic information, 承诺时限, start form, checklist, the 办结通知书's
outcome text): new cases take the published version; a running case keeps the version it started on
(`cases.matter_version`, read by `archive.procedure_of`) and the checklist it was started with (its `material` rows).

Every change leaves an administrator's audit event (`matter:<code>`). Callers wrap writes in `transaction`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from threading import Lock

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.domain import matter_flow, matters, procedures
from workflows.domain.clock import now_utc
from workflows.domain.errors import Conflict, NotFound, ValidationFailed
from workflows.domain.models import Matter, ProcessDefinition
from workflows.infra.db import bind_of
from workflows.services import definitions as defs
from workflows.services import settings
from workflows.services.audit import record_admin_event

MATTER_FORM = matters.MATTER_FORM
EXPORT_FORMAT = "green-channel-matter/1"
STATUS_LABELS = {"draft": "草稿", "published": "已发布（新办件使用）", "retired": "已停用"}
MAX_IMPORT_BYTES = 4 * 1024 * 1024


# ---- the registry -------------------------------------------------------------------------------------------------
_stamp: dict[str, tuple] = {}  # database url → (published ids) the registry was built from
_checked: dict[str, float] = {}
_lock = Lock()
CHECK_SECONDS = 5.0  # how stale another process's publish may be seen here


def _published(session: Session) -> list[Matter]:
    return list(session.scalars(select(Matter).where(Matter.status == "published").order_by(Matter.code)))


def load(session: Session) -> None:
    """Install the published matters of this database in the registry (the declared procedures plus these)."""
    rows = _published(session)
    procedures.install({r.code: matters.entry(r.body, r.version) for r in rows})
    with _lock:
        url = str(bind_of(session).engine.url)
        _stamp[url] = tuple(r.id for r in rows)
        _checked[url] = time.monotonic()


def refresh(session: Session, *, force: bool = False) -> None:
    """Reload the registry when another process published (checked at most every CHECK_SECONDS): one indexed read."""
    url = str(bind_of(session).engine.url)
    if not force and time.monotonic() - _checked.get(url, -1e9) < CHECK_SECONDS and url in _stamp:
        return
    ids = tuple(session.scalars(select(Matter.id).where(Matter.status == "published").order_by(Matter.code)))
    _checked[url] = time.monotonic()
    if ids != _stamp.get(url):
        load(session)


# ---- reading --------------------------------------------------------------------------------------------------------
def overview(session: Session) -> list[dict]:
    """One row per matter: the declared procedures (their checklists) and the configured ones."""
    rows = session.scalars(select(Matter).order_by(Matter.code, Matter.version)).all()
    out: dict[str, dict] = {}
    for p in procedures.DECLARED.values():
        if p.kind == "application":
            out[p.id] = {"code": p.id, "name": p.name, "declared": True, "published": None, "draft": None}
    for r in rows:
        d = out.setdefault(
            r.code,
            {"code": r.code, "name": r.body.get("name") or r.code, "declared": False, "published": None, "draft": None},
        )
        if r.status == "published":
            d["published"] = r
            d["name"] = r.body.get("name") or d["name"]
        elif r.status == "draft":
            d["draft"] = r
    return list(out.values())


def versions(session: Session, code: str) -> list[Matter]:
    return list(session.scalars(select(Matter).where(Matter.code == code).order_by(Matter.version.desc())))


def current(session: Session, code: str, status: str) -> Matter | None:
    return session.scalar(select(Matter).where(Matter.code == code, Matter.status == status))


def editing(session: Session, code: str) -> tuple[dict, Matter | None]:
    """What the edit page shows: the draft's body, else the published one's, else a declared procedure's checklist."""
    declared = procedures.DECLARED.get(code)
    for status in ("draft", "published"):
        row = current(session, code, status)
        if row is not None:  # a declared procedure's older body (its checklist only) shows the rest as declared
            return ({**matters.declared_body(declared), **row.body} if declared else dict(row.body)), row
    if declared is None or declared.kind != "application":
        raise NotFound(f"事项“{code}”不存在")
    return matters.declared_body(declared), None


def declared_facts(session: Session, code: str) -> dict:
    """What the page shows read-only about a declared procedure, with why: who applies, the desks its flow's lanes
    name (published version), and the policy parameter its 承诺时限 falls back on."""
    p = procedures.DECLARED[code]
    flow = session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.process_id == code, ProcessDefinition.status == "published")
    )
    bpmn = ((flow.source or {}).get("bpmn") or {}) if flow is not None else {}
    return {
        "applicant": "person" if p.applicant_may_start else "unit",
        "desks": matters.flow_desks(bpmn),
        "promise_step": p.promise_step,
        "promise_param": settings.get_params(session)["promise_working_days"],
        "reads": dict(p.code_reads),
        "placeholders": p.outcome_placeholders,
        "completion_notice": matters.issues_completion_notice(p),
    }


def is_declared(code: str) -> bool:
    return code in procedures.DECLARED


# ---- writing --------------------------------------------------------------------------------------------------------
def _next_version(session: Session, code: str) -> int:
    return (session.scalar(select(func.max(Matter.version)).where(Matter.code == code)) or 0) + 1


def _support(directory: str | Path | None) -> tuple[dict[str, str], dict[str, dict]]:
    """The bundled DMN tables and forms a configured flow may use."""
    d = defs.bpmn_dir(directory)
    dmn = {p.name: defs.read_text(p) for p in sorted(d.glob("*.dmn"))}
    forms = {p.name: json.loads(defs.read_text(p)) for p in sorted((d / "forms").glob("*.schema.json"))}
    return dmn, forms


def create(
    session: Session, code: str, name: str, template: str, by: str, directory: str | Path | None = None
) -> Matter:
    """A new matter: its draft (name only, filled in on the edit page) and its flow drawn from `template`."""
    if not matters.CODE_RE.match(code or ""):
        raise ValidationFailed(
            "事项代码须为 3–40 位小写字母、数字或下划线，以字母开头", details={"fields": {"code": "格式不正确"}}
        )
    name = (name or "").strip()
    if not name or len(name) > 50:
        raise ValidationFailed("请填写事项名称（不超过 50 个字符）", details={"fields": {"name": "请填写事项名称"}})
    if template not in matter_flow.TEMPLATES:
        raise ValidationFailed("请选择流程模板", details={"fields": {"template": "请选择流程模板"}})
    taken = code in procedures.DECLARED or session.scalar(select(Matter.id).where(Matter.code == code)) is not None
    if taken or session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.process_id == code)):
        raise Conflict(f"事项代码“{code}”已被使用")
    dmn, forms = _support(directory)
    flow = defs.deploy(
        session, code, {f"{code}.bpmn": matter_flow.build(template, code, name)}, dmn, forms, by=by, publish=False
    )
    row = Matter(
        code=code,
        version=1,
        status="draft",
        body={"code": code, "name": name, "template": template},
        definition_id=flow.id,
        created_by=by,
    )
    session.add(row)
    session.flush()
    record_admin_event(session, by, "matter_created", f"matter:{code}", template=template, name=name)
    return row


def save(session: Session, code: str, body: Mapping, by: str) -> Matter:
    """Check the body and keep it as the matter's draft (created from the published version when there is none)."""
    declared = is_declared(code)
    if not declared and current(session, code, "draft") is None and current(session, code, "published") is None:
        raise NotFound(f"事项“{code}”不存在")
    # a declared procedure's page may post some sections only: the others keep what the draft (or version) holds
    base = editing(session, code)[0] if declared else {}
    cleaned = matters.clean({**base, **body, "code": code}, declared=declared)
    if not declared:
        cleaned["template"] = editing(session, code)[0].get("template")
    row = current(session, code, "draft")
    if row is None:
        published = current(session, code, "published")
        row = Matter(
            code=code,
            version=_next_version(session, code),
            status="draft",
            body=cleaned,
            definition_id=published.definition_id if published is not None else None,
            created_by=by,
        )
        session.add(row)
    else:
        row.body = cleaned
    session.flush()
    record_admin_event(session, by, "matter_saved", f"matter:{code}", version=row.version)
    return row


def _flow_source(session: Session, code: str) -> ProcessDefinition:
    """The flow to publish with the matter: the process's draft (edited in the modeler), else its published one."""
    for status in ("draft", "published"):
        row = session.scalar(
            select(ProcessDefinition).where(ProcessDefinition.process_id == code, ProcessDefinition.status == status)
        )
        if row is not None:
            return row
    raise NotFound(f"事项“{code}”还没有流程")


def publish(session: Session, code: str, by: str, note: str | None = None) -> Matter:
    """Publish the draft: new cases take it (its checklist, form, texts and flow); running cases keep theirs. The
    release note (required) goes with the flow's published version."""
    row = current(session, code, "draft")
    if row is None:
        raise Conflict("没有待发布的草稿")
    text = defs.release_note(note)
    declared = is_declared(code)
    body = matters.clean(row.body, declared=declared)  # a draft stored before a check existed is checked again
    if not declared:
        flow = _flow_source(session, code)
        source = flow.source or {}
        bpmn, dmn = dict(source.get("bpmn") or {}), dict(source.get("dmn") or {})
        outside = matters.lanes_outside_desks(body, bpmn)
        if outside:
            raise ValidationFailed(
                f"流程中的泳道“{'、'.join(outside)}”不在本事项的办理岗位中：请在基本信息中勾选，或修改流程图",
                details={"fields": {"desks": "与流程泳道不一致"}},
            )
        forms = {**(source.get("forms") or {}), MATTER_FORM: {**body, "_version": row.version}}
        sha = defs.bundle_sha256(bpmn, dmn, forms)
        if (
            flow.status == "draft"
            and session.scalar(
                select(ProcessDefinition.id).where(
                    ProcessDefinition.process_id == code, ProcessDefinition.sha256 == sha
                )
            )
            is None
        ):  # the draft edited in the modeler becomes the published version, the matter inside it
            flow.source, flow.sha256 = {"bpmn": bpmn, "dmn": dmn, "forms": forms}, sha
            defs.validate_stored(flow)
            defs._publish(session, flow, text, by)
        else:
            flow = defs.deploy(session, code, bpmn, dmn, forms, by=by, publish=True, note=text)
        row.definition_id = flow.id
    for other in session.scalars(select(Matter).where(Matter.code == code, Matter.status == "published")):
        other.status = "retired"
    row.status, row.body = "published", body
    row.published_at, row.published_by = now_utc(), by
    session.flush()
    record_admin_event(session, by, "matter_published", f"matter:{code}", version=row.version, note=text)
    load(session)
    return row


def discard(session: Session, code: str, by: str) -> None:
    row = current(session, code, "draft")
    if row is None:
        raise Conflict("没有草稿")
    if current(session, code, "published") is None and not is_declared(code):
        raise Conflict("从未发布的事项不能删除草稿（可直接修改）")
    session.delete(row)
    record_admin_event(session, by, "matter_draft_discarded", f"matter:{code}", version=row.version)


# ---- one file: export and import ----------------------------------------------------------------------------------
def export(session: Session, code: str) -> dict:
    """The published matter as one JSON document: its body (materials, form, documents, texts) and its flow (BPMN
    with the forms and decision tables it uses)."""
    row = current(session, code, "published")
    if row is None:
        raise NotFound(f"事项“{code}”尚未发布")
    out: dict = {"format": EXPORT_FORMAT, "code": code, "version": row.version, "matter": row.body}
    if not is_declared(code) and row.definition_id is not None:
        flow = session.get(ProcessDefinition, row.definition_id)
        source = (flow.source or {}) if flow is not None else {}
        out["flow"] = {
            "bpmn": source.get("bpmn") or {},
            "dmn": source.get("dmn") or {},
            "forms": {k: v for k, v in (source.get("forms") or {}).items() if k != MATTER_FORM},
        }
    return out


def import_file(
    session: Session, raw: bytes, by: str, directory: str | Path | None = None, *, publish_now: bool = False
) -> Matter:
    """Import an exported matter as the draft of this installation (its flow as the process's draft definition,
    validated and linted like any other). A matter whose code already exists here gets a new draft version."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise ValidationFailed("文件过大（上限 4 MB）")
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise ValidationFailed("文件不是有效的事项导出文件（JSON）") from None
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT or not isinstance(doc.get("matter"), dict):
        raise ValidationFailed("文件不是本系统导出的事项（格式标识不符）")
    body = doc["matter"]
    code = str(body.get("code") or "")
    declared = is_declared(code)
    cleaned = matters.clean(body, declared=declared)
    if not declared:
        cleaned["template"] = body.get("template")
        flow = doc.get("flow")
        if not isinstance(flow, dict) or not isinstance(flow.get("bpmn"), dict) or not flow["bpmn"]:
            raise ValidationFailed("导出文件缺少流程定义")
        dmn, forms = _support(directory)
        bpmn = {str(k): str(v) for k, v in flow["bpmn"].items()}
        dmn.update({str(k): str(v) for k, v in (flow.get("dmn") or {}).items()})
        forms.update({str(k): v for k, v in (flow.get("forms") or {}).items() if isinstance(v, dict)})
        for old in session.scalars(
            select(ProcessDefinition).where(ProcessDefinition.process_id == code, ProcessDefinition.status == "draft")
        ):
            old.status = "retired"  # replaced by the imported flow (a draft has no cases)
        session.flush()
        defs.deploy(session, code, bpmn, dmn, forms, by=by, publish=False)
    draft = current(session, code, "draft")
    if draft is not None:
        draft.body = cleaned
    else:
        draft = Matter(code=code, version=_next_version(session, code), status="draft", body=cleaned, created_by=by)
        session.add(draft)
    session.flush()
    record_admin_event(
        session, by, "matter_imported", f"matter:{code}", version=draft.version, exported_version=doc.get("version")
    )
    return publish(session, code, by, f"导入事项文件（{code}）") if publish_now else draft
