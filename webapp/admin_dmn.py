"""Administrator console, 决策表: the DMN decision tables edited in dmn-js with the processes' cycle — validate, save a
draft, publish (into every process that calls the decision), compare versions rule by rule, roll back. Routes on the
admin blueprint, kept out of webapp/admin.py.

Thin routes: parse, call `workflows.services.decisions` in one transaction, render. A refused table changes nothing
and names the cell at fault (the editor marks it).
"""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from webapp.admin import _compared, _draft_saved, _refused, _refused_invalid, _xml_response, bp, error_items
from webapp.db import db_session
from webapp.security import roles_required
from workflows.domain.errors import DefinitionInvalid, DomainError
from workflows.infra.db import transaction
from workflows.services import decisions
from workflows.services.definitions import adopt_decision_tables

CHANGE_LABELS = {"added": "新增", "removed": "删除", "changed": "修改"}


@bp.get("/decisions")
@roles_required("admin")
def decision_tables():
    s = db_session()
    if not decisions.overview(s):
        # a database from before tables were versioned apart: register the tables its processes carry (once)
        try:
            with transaction(s):
                adopt_decision_tables(s, current_user.username)
        except IntegrityError:
            s.rollback()  # another request registered them first
    return render_template("admin/decisions.html", tables=decisions.overview(s), status_names=decisions.STATUS_LABELS)


@bp.get("/decisions/<decision_id>")
@roles_required("admin")
def decision_versions(decision_id: str):
    s = db_session()
    rows = decisions.list_versions(s, decision_id)
    return render_template(
        "admin/decision_versions.html",
        decision_id=decision_id,
        rows=rows,
        name=next((r.name for r in rows if r.status == "published"), rows[0].name),
        usage=decisions.usage(s, decision_id),
        status_names=decisions.STATUS_LABELS,
    )


@bp.get("/decisions/<decision_id>/versions/<int:version>/dmn")
@roles_required("admin")
def decision_xml(decision_id: str, version: int):
    row = decisions.get_version(db_session(), decision_id, version)
    return _xml_response(row.xml, f"{decision_id}-v{version}.dmn")


@bp.get("/decisions/<decision_id>/edit")
@roles_required("admin")
def edit_decision(decision_id: str):
    s = db_session()
    version = request.args.get("version", type=int)
    row = decisions.get_version(s, decision_id, version) if version else decisions.editing_base(s, decision_id)
    config = {
        "decisionId": decision_id,
        "version": row.version,
        "status": row.status,
        "xmlUrl": url_for("admin.decision_xml", decision_id=decision_id, version=row.version),
        "saveUrl": url_for("admin.save_decision_draft", decision_id=decision_id),
        "versionsUrl": url_for("admin.decision_versions", decision_id=decision_id),
    }
    return render_template(
        "admin/dmn_editor.html",
        row=row,
        config=config,
        usage=decisions.usage(s, decision_id),
        status_names=decisions.STATUS_LABELS,
    )


@bp.post("/decisions/<decision_id>/draft")
@roles_required("admin")
def save_decision_draft(decision_id: str):
    """JSON in ({xml}), JSON out: 200 with the draft, or 422 with every problem and the cell it concerns."""
    payload = request.get_json(silent=True)
    xml = payload.get("xml") if isinstance(payload, dict) else None
    s = db_session()
    try:
        with transaction(s):
            row, changed = decisions.save_draft(s, decision_id, xml, current_user.username)
            out = {
                "version": row.version,
                "status": row.status,
                "changed": changed,
                "statusLabel": decisions.STATUS_LABELS.get(row.status, row.status),
                "versionsUrl": url_for("admin.decision_versions", decision_id=decision_id),
            }
    except DefinitionInvalid as e:
        message = _("决策表未通过校验（%(n)s 个问题），未保存", n=len(e.errors))
        return jsonify({"message": message, "errors": error_items(e)}), 422
    except DomainError as e:
        return jsonify({"message": e.message, "errors": []}), e.status
    return _draft_saved(out, changed)


@bp.post("/decisions/<decision_id>/versions/<int:version>/publish")
@roles_required("admin")
def publish_decision(decision_id: str, version: int):
    s = db_session()
    try:
        with transaction(s):
            was = decisions.get_version(s, decision_id, version).status
            done = decisions.publish_version(s, decision_id, version, current_user.username, request.form.get("note"))
    except DomainError as e:
        return _refused(e, decision_versions, decision_id)
    except DefinitionInvalid as e:
        return _refused_invalid(e, version, decision_versions, decision_id)
    moved = "、".join(f"{pid} v{v}" for pid, v in done.processes) or _("无")
    flash(
        (_("已回滚到决策表 v%(v)s", v=version) if was == "retired" else _("已发布决策表 v%(v)s", v=version))
        + _("：调用它的流程已发布新版本（%(moved)s），新办件使用新表，办理中的办件仍按原版本运行", moved=moved),
        "success",
    )
    return redirect(url_for("admin.decision_versions", decision_id=decision_id))


@bp.post("/decisions/<decision_id>/draft/discard")
@roles_required("admin")
def discard_decision_draft(decision_id: str):
    s = db_session()
    try:
        with transaction(s):
            v = decisions.discard_draft(s, decision_id)
    except DomainError as e:
        return _refused(e, decision_versions, decision_id)
    flash(_("已删除草稿 v%(v)s", v=v), "success")
    return redirect(url_for("admin.decision_versions", decision_id=decision_id))


@bp.get("/decisions/<decision_id>/compare")
@roles_required("admin")
def compare_decisions(decision_id: str):
    s = db_session()
    rows = decisions.list_versions(s, decision_id)
    pair = _compared(rows)
    if pair is None:
        return redirect(url_for("admin.decision_versions", decision_id=decision_id))
    a, b = pair
    diff = decisions.compare_versions(s, decision_id, a, b)
    return render_template(
        "admin/decision_compare.html",
        decision_id=decision_id,
        rows=rows,
        diff=diff,
        name=rows[0].name,
        change_labels=CHANGE_LABELS,
    )
