"""A read-only overview page and health endpoint; the full officer/applicant/admin UI builds on these services."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request
from sqlalchemy import func, select, text

from workflows.models import Case, OpenTask, ProcessDefinition
from workflows.start_forms import PROCEDURE_NAMES

from . import db_session

bp = Blueprint("overview", __name__)

STATUS_LABELS = {"running": "办理中", "on_hold": "暂停（等待）", "completed": "已办结", "refused": "不予办理",
                 "terminated": "终止办理", "withdrawn": "已撤回", "error": "异常"}
PER_PAGE = 20


@bp.get("/")
def index():
    s = db_session()
    page = max(request.args.get("page", 1, type=int), 1)
    q = (request.args.get("q") or "").strip()
    stmt = select(Case).order_by(Case.id.desc())
    if q:
        stmt = stmt.where((Case.case_no == q) | (Case.applicant_name.contains(q)) | (Case.id_number == q))
    total = s.scalar(select(func.count()).select_from(stmt.subquery()))
    cases = s.scalars(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    tasks = {}
    for t in s.scalars(select(OpenTask).where(OpenTask.case_id.in_([c.id for c in cases]))):
        tasks.setdefault(t.case_id, []).append(t)
    definitions = s.scalars(select(ProcessDefinition).order_by(ProcessDefinition.process_id,
                                                               ProcessDefinition.version)).all()
    return render_template("index.html", cases=cases, tasks=tasks, total=total, page=page, per_page=PER_PAGE, q=q,
                           definitions=definitions, status_labels=STATUS_LABELS, procedure_names=PROCEDURE_NAMES)


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
