"""Pages every signed-in user shares (overview, notifications) and the health endpoints."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, send_from_directory, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from sqlalchemy import select, text

from webapp import input_guard
from webapp.db import db_session
from webapp.security import OFFICER_ROLES, current_actor, roles_required
from workflows.domain.models import OpenTask, ProcessDefinition, Unit
from workflows.domain.procedures import PROCEDURES
from workflows.infra.db import transaction
from workflows.services import notifications as notices
from workflows.services import queries

bp = Blueprint("views", __name__)

STATUS_LABELS = {
    "running": _l("办理中"),
    "on_hold": _l("暂停（等待）"),
    "returned": _l("退回补正"),
    "completed": _l("已办结"),
    "not_accepted": _l("不予受理"),
    "refused": _l("不予批准"),
    "terminated": _l("终止办理"),
    "withdrawn": _l("已撤回"),
    "error": _l("正在修复中"),
}


def procedure_labels() -> dict[str, str]:
    """Procedure id → its name in the page's language (the registry holds both)."""
    locale = get_locale()
    return {p.id: p.label(str(locale) if locale else None) for p in PROCEDURES.values()}


@bp.app_context_processor
def _labels():
    return {"status_labels": STATUS_LABELS, "procedure_names": procedure_labels()}


@bp.get("/overview")
@roles_required(*OFFICER_ROLES, "admin")
def overview():
    s = db_session()
    actor = current_actor()
    q = (request.args.get("q") or "").strip()
    page = queries.list_cases(
        s,
        actor,
        q=q,
        procedure=request.args.get("procedure") or None,
        status=request.args.get("status") or None,
        page=request.args.get("page", 1, type=int),
    )
    tasks: dict[int, list] = {}
    for t in s.scalars(select(OpenTask).where(OpenTask.case_id.in_([c.id for c in page.items]))):
        tasks.setdefault(t.case_id, []).append(t)
    definitions = s.scalars(
        select(ProcessDefinition).order_by(ProcessDefinition.process_id, ProcessDefinition.version)
    ).all()
    unit_names = dict(s.execute(select(Unit.code, Unit.name)).all())
    return render_template(
        "index.html",
        cases=page.items,
        tasks=tasks,
        total=page.total,
        page=page.page,
        per_page=page.per_page,
        q=q,
        definitions=definitions,
        unit_names=unit_names,
    )


@bp.get("/notifications")
@login_required
def notifications():
    s = db_session()
    actor = current_actor()
    items = notices.list_for(s, actor, limit=50)
    case_nos = notices.case_numbers(s, items)
    view = "applicant.status" if actor.role == "applicant" else "officer.case"
    links = {
        n.id: url_for(view, case_no=case_nos[n.case_id])
        for n, _unread in items
        if n.case_id in case_nos and actor.role != "admin"
    }
    return render_template("notifications.html", items=items, links=links, case_nos=case_nos)


@bp.post("/notifications/read")
@login_required
def notifications_read():
    s = db_session()
    ids = [input_guard.bounded_int(x) for x in request.form.getlist("id") if x.isascii() and x.isdigit()]
    with transaction(s):
        n = notices.mark_read(s, current_actor(), ids or None)
    flash(_("已标记 %(n)s 条为已读", n=n), "success")
    return redirect(url_for("views.notifications"))


@bp.post("/notifications/<int:notification_id>/read")
@login_required
def notification_read(notification_id: int):
    """One notice marked read; a notice not addressed to this user changes nothing (404, no hint it exists)."""
    s = db_session()
    with transaction(s):
        n = notices.mark_one_read(s, current_actor(), notification_id)
    if n is None:
        abort(404)
    flash(_("已标记为已读"), "success")
    return redirect(url_for("views.notifications"), code=303)


VENDOR_ROOT = Path(__file__).resolve().parents[1] / "node_modules"
VENDOR_ALLOWED = (
    "bpmn-js/dist/",
    "bpmn-js-properties-panel/dist/",
    "@bpmn-io/properties-panel/dist/",
    "bpmn-js-token-simulation/assets/",
    "echarts/dist/",
    "dmn-js/dist/",
)


@bp.get("/vendor/<path:filename>")
def vendor(filename: str):
    """Browser libraries installed by npm at set-up (no CDN); only their dist folders are served."""
    if not filename.startswith(VENDOR_ALLOWED) or ".." in filename:
        abort(404)
    return send_from_directory(VENDOR_ROOT, filename, max_age=86400)


@bp.get("/favicon.ico")
def favicon():
    return "", 204


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    try:
        db_session().execute(text("SELECT 1"))
    except Exception as e:  # the database is the one dependency
        return jsonify({"status": "unavailable", "error": str(e)[:200]}), 503
    return jsonify({"status": "ready"})
