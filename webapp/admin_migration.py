"""Administrator console, 办件迁移: move running cases of a process from one version to another
(`workflows/services/case_migration.py`). Routes on the admin blueprint, kept out of webapp/admin.py.

The page selects the cases (all open cases of the source version, or by status, by the element they stand on, or by
number), runs the dry run and shows, case by case, whether it can move, why not, and what would change; the real run
then takes exactly the cases the dry run found movable (their numbers travel with the form), one transaction each.
A web request handles at most `WEB_MAX_CASES` cases; `flask migrate-cases` takes any number.
"""

from __future__ import annotations

import re

from flask import flash, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from webapp.admin import bp
from webapp.db import db_session
from webapp.security import current_actor, roles_required
from workflows.domain.errors import DomainError, ValidationFailed
from workflows.services import case_migration, versions

WEB_MAX_CASES = 200
CASE_NO = re.compile(r"^[0-9A-Z]{1,32}$")
OUTCOME_LABELS = {"movable": _l("可迁移"), "moved": _l("已迁移"), "refused": _l("不能迁移"), "failed": _l("迁移失败")}


def _page(process_id: str, report=None, status: int = 200):
    s = db_session()
    rows = versions.list_versions(s, process_id)
    counts = versions.case_counts(s, process_id)
    form = request.values
    return (
        render_template(
            "admin/migration.html",
            process_id=process_id,
            name=rows[0].name,
            rows=rows,
            counts=counts,
            status_names=versions.STATUS_LABELS,
            from_version=form.get("from", type=int),
            to_version=form.get("to", type=int),
            status=form.get("status") or "",
            element=form.get("element") or "",
            case_text=""
            if form.get("mode") == "migrate"
            else form.get("cases") or "",  # the run's list was the dry run's
            report=report,
            outcome_labels=OUTCOME_LABELS,
            statuses=case_migration.MOVABLE,
            movable=[c.case_no for c in report.cases if c.outcome == "movable"] if report else [],
            max_cases=WEB_MAX_CASES,
        ),
        status,
    )


@bp.get("/processes/<process_id>/migrate")
@roles_required("admin")
def migration(process_id: str):
    return _page(process_id)


def _case_numbers() -> list[str] | None:
    numbers = [n for n in re.split(r"[\s,，;；]+", request.form.get("cases") or "") if n]
    bad = [n for n in numbers if not CASE_NO.match(n)]
    if bad:
        raise ValidationFailed("办件编号格式不正确：" + "、".join(bad[:5]))
    return numbers or None


@bp.post("/processes/<process_id>/migrate")
@roles_required("admin")
def run_migration(process_id: str):
    form = request.form
    dry_run = form.get("mode") != "migrate"
    try:
        from_version, to_version = form.get("from", type=int), form.get("to", type=int)
        if not from_version or not to_version:
            raise ValidationFailed("请选择源版本和目标版本")
        report = case_migration.migrate_cases(
            db_session(),
            process_id,
            from_version,
            to_version,
            current_actor(),
            dry_run=dry_run,
            case_nos=_case_numbers(),
            status=form.get("status") or None,
            element=(form.get("element") or "").strip()[:100] or None,
            limit=WEB_MAX_CASES,
        )
    except DomainError as e:
        flash(e.message, "error")
        return _page(process_id, status=e.status)
    if not dry_run:
        flash(
            _("迁移完成：已迁移 %(moved)s 件，不能迁移 %(refused)s 件，失败 %(failed)s 件", **report.counts),
            "success" if not report.count("failed") else "warning",
        )
    return _page(process_id, report)
