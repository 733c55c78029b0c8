"""Administrator console, 事项配置: matters (procedures as data) — list, create from a flow template, edit (basic
information, materials checklist, start form, documents per step, the 核准通知书's texts), publish, discard a draft,
export one file and import it. Routes on the admin blueprint; the flow itself is edited in the bpmn-js modeler
(admin.edit) like any other process.

Thin routes over workflows/services/matters.py, one transaction per action. The start form is edited as a table of
fields that becomes a JSON Schema (shown beside it), not with form-js: every form of the system — the applicant's,
the unit's, the officers' — is rendered and validated from JSON Schema (webapp/schema_forms.py,
workflows/domain/forms.py), so a matter's form needs no second renderer and its rules are checked by the same code
on the page and in the API.
"""

from __future__ import annotations

import json

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from webapp.admin import bp
from webapp.db import db_session
from webapp.security import current_actor, roles_required
from workflows.domain import matter_flow, matters, procedures
from workflows.domain.errors import DomainError, ValidationFailed
from workflows.infra.db import transaction
from workflows.services import matters as svc
from workflows.services.audit import admin_events

BLANK_ROWS = 3  # empty rows offered for new materials and new form fields
EVENTS_SHOWN = 20
ACTION_LABELS = {
    "matter_created": _l("创建事项"),
    "matter_saved": _l("保存草稿"),
    "matter_published": _l("发布"),
    "matter_draft_discarded": _l("删除草稿"),
    "matter_imported": _l("导入"),
}


@bp.get("/matters")
@roles_required("admin")
def matters_list():
    return render_template(
        "admin/matters.html",
        rows=svc.overview(db_session()),
        templates=matter_flow.TEMPLATES,
        status_labels=svc.STATUS_LABELS,
    )


@bp.post("/matters")
@roles_required("admin")
def create_matter():
    s, actor = db_session(), current_actor()
    code = request.form.get("code", "").strip()
    try:
        with transaction(s):
            svc.create(s, code, request.form.get("name", ""), request.form.get("template", ""), actor.username)
    except DomainError as e:
        flash(e.message, "error")
        return redirect(url_for("admin.matters_list"), code=303)
    flash(_("事项已创建，请填写基本信息、材料清单、申请表和文书后发布。"), "success")
    return redirect(url_for("admin.edit_matter", code=code), code=303)


def _checked(name: str) -> bool:
    return request.form.get(name) in ("1", "on", "true")


def _rows(prefix: str, keys: tuple[str, ...]) -> list[dict]:
    """Rows of a table form (`<prefix>-<i>-<key>`), in order; a row without its first key is left out."""
    out = []
    for i in range(200):
        if f"{prefix}-{i}-{keys[0]}" not in request.form:
            break
        row = {k: request.form.get(f"{prefix}-{i}-{k}", "").strip() for k in keys}
        if row[keys[0]]:
            out.append({**row, "_i": i})
    return out


def _body_from_form(declared: bool) -> dict:
    materials = [
        {
            "code": r["code"],
            "name": r["name"],
            "is_key": _checked(f"m-{r['_i']}-is_key"),
            "rongque": _checked(f"m-{r['_i']}-rongque"),
            "file_types": [t for t in matters.FILE_TYPES if _checked(f"m-{r['_i']}-type-{t}")],
        }
        for r in _rows("m", ("code", "name"))
    ]
    if declared:
        return _declared_from_form(materials)
    fields = [
        {
            "key": r["key"],
            "title": r["title"],
            "type": r["type"],
            "required": _checked(f"f-{r['_i']}-required"),
            "choices": [c for c in r["choices"].replace("，", ",").split(",") if c.strip()],
        }
        for r in _rows("f", ("key", "title", "type", "choices"))
    ]

    def days(name: str):
        raw = request.form.get(name, "").strip()
        return int(raw) if raw.isdigit() and len(raw) < 4 else raw

    documents = {
        step: [
            [kind, request.form.get(f"doc-{step}-office", "")]
            for kind in matters.MATTER_KINDS
            if _checked(f"doc-{step}-{kind}")
        ]
        for step in matters.DOCUMENT_STEPS
    }
    return {
        **{
            k: request.form.get(k, "")
            for k in (
                "name",
                "name_en",
                "letter",
                "basis_source",
                "basis_clause",
                "conditions",
                "intro",
                "applicant",
                "office",
            )
        },
        "promise_days": days("promise_days"),
        "legal_days": days("legal_days"),
        "desks": request.form.getlist("desks"),
        "materials": materials,
        "fields": fields,
        "documents": documents,
        "notice": {"title": request.form.get("notice_title", ""), "body": request.form.get("notice_body", "")},
    }


DECLARED_TEXTS = ("name", "name_en", "intro", "intro_en", "basis_source", "basis_clause", "conditions")


def _declared_from_form(materials: list[dict]) -> dict:
    """A declared procedure's page: the sections the form holds (a section it leaves out keeps what the draft has).
    A choice is typed `value=label`; the null choice is `none`."""
    out: dict = {"materials": materials}
    for key in (*DECLARED_TEXTS, "completion_outcome"):
        if key in request.form:
            out[key] = request.form.get(key, "")
    for key in ("promise_days", "legal_days"):
        if key in request.form:
            raw = request.form.get(key, "").strip()
            out[key] = (int(raw) if raw.isdigit() and len(raw) < 4 else raw) or None
    kinds = [k for k in matters.PUBLICITY_KINDS if f"pub-{k}-subject" in request.form]
    if kinds:
        out["publicity"] = {
            k: {t: request.form.get(f"pub-{k}-{t}", "") for t in ("subject", "detail", "detail_without_category")}
            for k in kinds
        }
    if "f-0-key" in request.form:
        out["fields"] = [
            {
                "key": r["key"],
                "title": r["title"],
                "description": r["description"],
                "type": r["type"],
                "required": _checked(f"f-{r['_i']}-required"),
                "choices": [c.strip() for c in r["choices"].replace("，", ",").split(",") if c.strip()],
            }
            for r in _rows("f", ("key", "title", "description", "type", "choices"))
        ]
    return out


def choices_text(f: dict) -> str:
    """A declared field's choices as the table shows them: `value=label`, the null choice as `none`."""
    titles = f.get("choice_titles") or []
    out = []
    for i, v in enumerate(f.get("choices") or []):
        value = "none" if v is None else str(v)
        title = titles[i] if i < len(titles) else ""
        out.append(f"{value}={title}" if title and title != value else value)
    return ",".join(out)


def _edit_page(code: str, body: dict, row, errors: dict | None = None, status: int = 200):
    s = db_session()
    declared = svc.is_declared(code)
    schema = None
    try:
        if declared:
            proc = matters.overlay(procedures.DECLARED[code], matters.clean(body, declared=True), -1)
            schema = {"type": "object", "required": list(proc.required), "properties": dict(proc.start_properties)}
        else:
            schema = {"type": "object", "properties": matters.start_properties(matters._fields(body.get("fields"), {}))}
    except (KeyError, TypeError, ValidationFailed):
        schema = None
    return render_template(
        "admin/matter_edit.html",
        code=code,
        body=body,
        row=row,
        declared=declared,
        declared_proc=procedures.DECLARED.get(code),
        versions=svc.versions(s, code),
        errors=errors or {},
        blank_rows=BLANK_ROWS,
        file_types=matters.FILE_TYPES,
        field_types=matters.FIELD_TYPES,
        applicants=matters.APPLICANTS,
        desks=matters.DESKS,
        offices=matters.OFFICES,
        document_steps=matters.DOCUMENT_STEPS,
        matter_kinds={k: procedures_kind_title(k) for k in matters.MATTER_KINDS},
        templates=matter_flow.TEMPLATES,
        status_labels=svc.STATUS_LABELS,
        schema_json=json.dumps(schema, ensure_ascii=False, indent=2) if schema else "",
        events=admin_events(s, f"matter:{code}", 0, EVENTS_SHOWN)[0],
        action_labels=ACTION_LABELS,
        facts=svc.declared_facts(s, code) if declared else None,
        publicity_kinds=matters.PUBLICITY_KINDS,
        choices_text=choices_text,
    ), status


def procedures_kind_title(kind: str) -> str:
    from workflows.domain.models import KIND_TITLES

    return KIND_TITLES.get(kind, kind)


@bp.get("/matters/<code>")
@roles_required("admin")
def edit_matter(code: str):
    body, row = svc.editing(db_session(), code)
    return _edit_page(code, body, row)


@bp.post("/matters/<code>")
@roles_required("admin")
def save_matter(code: str):
    s, actor = db_session(), current_actor()
    saved = svc.editing(s, code)[0]  # 404 for an unknown matter
    declared = svc.is_declared(code)
    body = _body_from_form(declared)
    try:
        with transaction(s):
            row = svc.save(s, code, body, actor.username)
    except ValidationFailed as e:
        flash(e.message, "error")
        shown = {**(saved if declared else {}), **body, "code": code}
        if declared:  # a row code reads that was emptied comes back (its error says why it stays)
            kept = {f["key"] for f in shown.get("fields") or []}
            reads = procedures.DECLARED[code].code_reads
            shown["fields"] = [
                *(shown.get("fields") or []),
                *(f for f in saved.get("fields") or [] if f["key"] in reads and f["key"] not in kept),
            ]
        return _edit_page(code, shown, None, (e.details or {}).get("fields") or {}, 422)
    flash(_("草稿 v%(v)s 已保存；发布后新办件使用。", v=row.version), "success")
    return redirect(url_for("admin.edit_matter", code=code), code=303)


@bp.post("/matters/<code>/publish")
@roles_required("admin")
def publish_matter(code: str):
    s, actor = db_session(), current_actor()
    try:
        with transaction(s):
            row = svc.publish(s, code, actor.username, request.form.get("note"))
    except DomainError as e:
        flash(e.message, "error")
    else:
        flash(_("v%(v)s 已发布：新办件使用此版本，办理中的办件仍按其原版本办理。", v=row.version), "success")
    return redirect(url_for("admin.edit_matter", code=code), code=303)


@bp.post("/matters/<code>/discard")
@roles_required("admin")
def discard_matter(code: str):
    s, actor = db_session(), current_actor()
    try:
        with transaction(s):
            svc.discard(s, code, actor.username)
    except DomainError as e:
        flash(e.message, "error")
    else:
        flash(_("草稿已删除。"), "success")
    return redirect(url_for("admin.edit_matter", code=code), code=303)


@bp.get("/matters/<code>/export")
@roles_required("admin")
def export_matter(code: str):
    doc = svc.export(db_session(), code)
    return Response(
        json.dumps(doc, ensure_ascii=False, indent=1),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="matter-{code}-v{doc["version"]}.json"'},
    )


@bp.post("/matters/import")
@roles_required("admin")
def import_matter():
    s, actor = db_session(), current_actor()
    f = request.files.get("file")
    if f is None or not f.filename:
        flash(_("请选择事项导出文件（JSON）"), "error")
        return redirect(url_for("admin.matters_list"), code=303)
    try:
        with transaction(s):
            row = svc.import_file(
                s,
                f.read(svc.MAX_IMPORT_BYTES + 1),
                actor.username,
                directory=_bpmn_dir(),
                publish_now=_checked("publish"),
            )
    except DomainError as e:
        flash(e.message, "error")
        return redirect(url_for("admin.matters_list"), code=303)
    flash(
        _(
            "事项“%(code)s”已导入（v%(v)s，%(status)s）。",
            code=row.code,
            v=row.version,
            status=svc.STATUS_LABELS[row.status],
        ),
        "success",
    )
    return redirect(url_for("admin.edit_matter", code=row.code), code=303)


def _bpmn_dir():
    from flask import current_app

    return current_app.config.get("BPMN_DIR")
