"""Deploy and version process definitions: stored once per sha256, a published version is never edited."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from threading import Lock

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.domain.clock import now_utc
from workflows.domain.errors import NotFound, ValidationFailed
from workflows.domain.models import DecisionDefinition, ProcessDefinition
from workflows.domain.procedures import PROCEDURES
from workflows.engine import serialization, specs
from workflows.infra.db import bind_of
from workflows.services.operations import OPERATORS

BUNDLED_PROCESSES = tuple(PROCEDURES)  # each procedure of the registry has its bpmn/<id>.bpmn


# The bundled definitions; the web app may point elsewhere (its BPMN_DIR setting) and passes that folder in.
BUNDLED_BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"


def bpmn_dir(directory: str | Path | None = None) -> Path:
    """`directory` when given, else the bundled bpmn/ folder."""
    return Path(directory) if directory else BUNDLED_BPMN_DIR


def bundle_sha256(bpmn: dict[str, str], dmn: dict[str, str], forms: dict[str, dict]) -> str:
    h = hashlib.sha256()
    for kind, files in (("bpmn", bpmn), ("dmn", dmn)):
        for name in sorted(files):
            h.update(f"{kind}:{name}\n".encode())
            h.update(files[name].encode("utf-8"))
    for name in sorted(forms):
        h.update(f"form:{name}\n".encode())
        h.update(json.dumps(forms[name], sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


def deploy(
    session: Session,
    process_id: str,
    bpmn: dict[str, str],
    dmn: dict[str, str],
    forms: dict[str, dict],
    by: str = "system",
    publish: bool = True,
    note: str | None = None,
) -> ProcessDefinition:
    """Validate, lint and store a version. The same files deployed twice give back the existing version. A
    publication needs its release note (`note`), checked after the definition passed validation."""
    sha = bundle_sha256(bpmn, dmn, forms)
    existing = session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.process_id == process_id, ProcessDefinition.sha256 == sha)
    )
    if existing is not None:
        if publish and existing.status != "published":
            validate_stored(existing)
            _publish(session, existing, note, by)
        return existing
    parsed = specs.parse_definition(
        {k: v.encode("utf-8") for k, v in bpmn.items()},
        {k: v.encode("utf-8") for k, v in dmn.items()},
        process_id,
        form_names=set(forms),
        operators=set(OPERATORS),
    )
    version = (
        session.scalar(select(func.max(ProcessDefinition.version)).where(ProcessDefinition.process_id == process_id))
        or 0
    ) + 1
    row = ProcessDefinition(
        process_id=process_id,
        name=parsed.name or process_id,
        version=version,
        sha256=sha,
        source={"bpmn": bpmn, "dmn": dmn, "forms": forms},
        spec=serialization.spec_to_dict(parsed.spec, parsed.subprocess_specs),
        user_tasks=parsed.user_tasks,
        status="draft",
        created_by=by,
    )
    session.add(row)
    session.flush()
    if publish:
        _publish(session, row, note, by)
    return row


def validate_stored(row: ProcessDefinition) -> None:
    """Validate and lint a stored version again (before it is published or rolled back to: it may have been stored
    before a check existed, or written around the checks). Raises DefinitionInvalid."""
    source = row.source or {}
    specs.parse_definition(
        {k: v.encode("utf-8") for k, v in (source.get("bpmn") or {}).items()},
        {k: v.encode("utf-8") for k, v in (source.get("dmn") or {}).items()},
        row.process_id,
        form_names=set(source.get("forms") or {}),
        operators=set(OPERATORS),
    )


BUNDLED_NOTE = "随系统部署的流程定义"
MAX_NOTE = 1_000


def release_note(note: str | None) -> str:
    """A publication's note, required (an administrator says what changed and why)."""
    text = (note or "").strip()
    if not text:
        raise ValidationFailed("请填写发布说明：这一版改了什么、为什么发布")
    if len(text) > MAX_NOTE:
        raise ValidationFailed(f"发布说明不能超过 {MAX_NOTE} 字")
    return text


def _publish(session: Session, row: ProcessDefinition, note: str | None = None, by: str | None = None) -> None:
    kind = "rollback" if row.status == "retired" else "publish"
    entry = {"at": now_utc().isoformat(), "by": by or "system", "note": release_note(note)}
    row.release_notes = [*(row.release_notes or []), {**entry, "kind": kind}]
    for other in session.scalars(
        select(ProcessDefinition).where(
            ProcessDefinition.process_id == row.process_id, ProcessDefinition.status == "published"
        )
    ):
        if other.id != row.id:
            other.status = "retired"
    row.status = "published"


@dataclass(frozen=True)
class Bundle:
    """What a run needs of a definition version; published versions never change, so this is cached per process."""

    id: int
    process_id: str
    version: int
    sha256: str
    spec: dict
    forms: dict


_bundles: dict[tuple[str, int], Bundle] = {}
_bundles_lock = Lock()


def bundle(session: Session, definition_id: int) -> Bundle:
    """Cached per database and id: a published or retired version never changes and an id is never reused. Drafts
    (edited in place) are not cached. Something that empties a database and refills it (tests) calls
    `forget_cached_definitions`."""
    key = (str(bind_of(session).engine.url), definition_id)
    hit = _bundles.get(key)
    if hit is not None:
        return hit
    row = session.get(ProcessDefinition, definition_id)
    if row is None:
        raise NotFound("流程定义不存在")
    b = Bundle(row.id, row.process_id, row.version, row.sha256, row.spec, (row.source or {}).get("forms") or {})
    if row.status != "draft":
        with _bundles_lock:
            if len(_bundles) > 256:
                _bundles.clear()
            _bundles[key] = b
    return b


def forget_cached_definitions() -> None:
    with _bundles_lock:
        _bundles.clear()


def published_definition(session: Session, process_id: str) -> ProcessDefinition:
    row = session.scalar(
        select(ProcessDefinition)
        .where(ProcessDefinition.process_id == process_id, ProcessDefinition.status == "published")
        .order_by(ProcessDefinition.version.desc())
        .limit(1)
    )
    if row is None:
        raise NotFound(f"事项“{process_id}”尚未发布流程定义")
    return row


def read_text(path: Path) -> str:
    """A definition file's text: UTF-8 (a BOM allowed) without NUL characters; anything else is a clear refusal,
    never a traceback (a UTF-16 or Latin-1 export from another modeler)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValidationFailed(
            f"文件不是 UTF-8 编码：{path.name}（第 {e.start + 1} 个字节无法按 UTF-8 解码），请另存为 UTF-8 后重试"
        ) from None
    if "\x00" in text:
        raise ValidationFailed(f"文件含有空字符（NUL），不是有效的文本文件：{path.name}")
    return text


def read_bundle(process_id: str, directory: str | Path | None = None) -> tuple[dict, dict, dict]:
    d = bpmn_dir(directory)
    path = d / f"{process_id}.bpmn"
    if not path.exists():
        raise NotFound(f"流程文件不存在：{path}")
    bpmn = {path.name: read_text(path)}
    dmn = {p.name: read_text(p) for p in sorted(d.glob("*.dmn"))}
    forms = {}
    for p in sorted((d / "forms").glob("*.schema.json")):
        try:
            forms[p.name] = json.loads(read_text(p))
        except ValueError as e:
            raise ValidationFailed(f"表单文件不是有效的 JSON：{p.name}（{e}）") from None
    return bpmn, dmn, forms


def deploy_file(session: Session, path: Path, by: str = "system", note: str | None = None) -> ProcessDefinition:
    """Deploy one .bpmn file (its process id is its file name's stem) with the DMN tables and forms beside it."""
    path = Path(path)
    if path.suffix != ".bpmn":
        raise ValidationFailed("只能部署 .bpmn 文件")
    _, dmn, forms = (
        read_bundle(path.stem, path.parent) if (path.parent / f"{path.stem}.bpmn").exists() else ({}, {}, {})
    )
    if not path.is_file():
        raise NotFound(f"流程文件不存在：{path}")
    return deploy(session, path.stem, {path.name: read_text(path)}, dmn, forms, by=by, note=note)


def deploy_bundled(
    session: Session, by: str = "system", directory: str | Path | None = None
) -> list[ProcessDefinition]:
    """Deploy the bundled processes (from `directory`, default the bundled bpmn/ folder) that have no published
    version yet. Once an administrator has published a version of their own, the files in bpmn/ never replace it
    (that would be a silent roll-back)."""
    out = []
    for pid in BUNDLED_PROCESSES:
        try:
            out.append(published_definition(session, pid))
        except NotFound:
            out.append(deploy(session, pid, *read_bundle(pid, directory), by=by, note=BUNDLED_NOTE))
    adopt_decision_tables(session, by)
    return out


def adopt_decision_tables(session: Session, by: str = "system") -> list[DecisionDefinition]:
    """Register, as its published v1, each decision table that published processes carry and that has no version of
    its own yet (a new database, or one from before decision tables were versioned apart). The table is taken from
    the newest published process that calls the decision, else from any that carries it."""
    known = set(session.scalars(select(DecisionDefinition.decision_id).distinct()))
    found: dict[str, tuple[bool, str, str, str]] = {}  # decision id -> (called, file name, name, xml)
    rows = session.scalars(
        select(ProcessDefinition)
        .where(ProcessDefinition.status == "published")
        .order_by(ProcessDefinition.process_id, ProcessDefinition.version)
    )
    for process in rows:
        source = process.source or {}
        called_ids = specs.called_decisions(source.get("bpmn") or {})
        for filename, xml in sorted((source.get("dmn") or {}).items()):
            try:
                table = specs.read_decision(xml.encode("utf-8"), filename)
            except specs.DefinitionInvalid:
                continue
            called = table.decision_id in called_ids
            if table.decision_id not in known and (table.decision_id not in found or called):
                found[table.decision_id] = (called, filename, table.name, xml)
    out = []
    for decision_id, (_called, filename, name, xml) in sorted(found.items()):
        table_row = DecisionDefinition(
            decision_id=decision_id,
            filename=filename,
            name=name or decision_id,
            version=1,
            sha256=hashlib.sha256(xml.encode("utf-8")).hexdigest(),
            xml=xml,
            status="published",
            created_by=by,
        )
        session.add(table_row)
        out.append(table_row)
    session.flush()
    return out
