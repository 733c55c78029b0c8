"""Administrators' registers (R3, R10): the 科研失信 list and the 违诺 records with 信用修复.

Thin routes on the admin blueprint: parse, call `workflows.services.registers` in one transaction, render. A refused
input changes nothing and is shown in Chinese on the same page with its status.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from webapp.admin import _actor_name, _import_refused, _uploaded_file, bp, csv_download
from webapp.db import db_session
from webapp.security import roles_required
from workflows.domain.clock import today_local
from workflows.domain.errors import DomainError
from workflows.domain.spreadsheet import excel_csv
from workflows.infra.db import transaction
from workflows.services import registers


def _page_arg() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and len(raw) < 7 else 1


def _q() -> str:
    return (request.args.get("q") or "").strip()[:50]  # a NUL byte never gets here (webapp/input_guard.py: 400)


def _trails(s, register: str, page) -> dict:
    """The history under each record of a page (from the administrators' trail, admin_event)."""
    return {
        "histories": registers.histories(s, register, [r.id for r in page.items]),
        "event_kind": registers.event_kind,
    }


def _credit_ctx() -> dict:
    s, q = db_session(), _q()
    page = registers.list_credit(s, q, _page_arg())
    return {
        "page": page,
        "q": q,
        "kinds": registers.CREDIT_KINDS,
        "today": today_local(),
        "bar_end": registers.credit_bar_end,
        "active": registers.credit_active,
        **_trails(s, "credit", page),
    }


def _breach_ctx() -> dict:
    s, q = db_session(), _q()
    page = registers.list_breach(s, q, _page_arg())
    return {
        "page": page,
        "q": q,
        "today": today_local(),
        "active": registers.breach_active,
        "bar_months": registers.get_params(s)["breach_bar_months"],
        **_trails(s, "breach", page),
    }


def _credit_page():
    return render_template("admin/registers_credit.html", **_credit_ctx())


def _breach_page():
    return render_template("admin/registers_breach.html", **_breach_ctx())


def _refused(e: DomainError, view):
    flash(e.message, "error")
    return view(), e.status


@bp.get("/registers/credit")
@roles_required("admin")
def credit_register():
    return _credit_page()


@bp.post("/registers/credit")
@roles_required("admin")
def add_credit():
    s = db_session()
    try:
        with transaction(s):
            rec = registers.add_credit(s, request.form.to_dict(), _actor_name())
    except DomainError as e:
        return _refused(e, _credit_page)
    flash(_("已将 %(name)s 列入名单", name=rec.name), "success")
    return redirect(url_for("admin.credit_register"))


@bp.post("/registers/credit/<int:record_id>/end")
@roles_required("admin")
def set_credit_end(record_id: int):
    s = db_session()
    try:
        with transaction(s):
            rec = registers.set_credit_end(
                s, record_id, request.form.get("until"), request.form.get("basis"), _actor_name()
            )
    except DomainError as e:
        return _refused(e, _credit_page)
    flash(_("已调整 %(name)s 的惩戒截止日期", name=rec.name), "success")
    return redirect(url_for("admin.credit_register"))


@bp.get("/registers/credit/template.csv")
@roles_required("admin")
def credit_template():
    return csv_download(excel_csv(registers.CREDIT_IMPORT_TEMPLATE), "credit-template.csv")


@bp.post("/registers/credit/import")
@roles_required("admin")
def import_credit():
    s = db_session()
    try:
        content, filename = _uploaded_file()
        rows = registers.parse_credit_file(content, filename)
        with transaction(s):
            created = registers.import_credit(s, rows, _actor_name())
    except DomainError as e:
        return _import_refused(e, "admin/registers_credit.html", **_credit_ctx())
    flash(
        _("已导入 %(n)s 条记录（已有的记录跳过 %(skipped)s 条）", n=len(created), skipped=len(rows) - len(created)),
        "success",
    )
    return redirect(url_for("admin.credit_register"))


@bp.get("/registers/breach")
@roles_required("admin")
def breach_register():
    return _breach_page()


@bp.post("/registers/breach/<int:record_id>/lift")
@roles_required("admin")
def lift_breach(record_id: int):
    s = db_session()
    try:
        with transaction(s):
            registers.lift_breach(
                s, record_id, request.form.get("lifted_on"), request.form.get("reason"), _actor_name()
            )
    except DomainError as e:
        return _refused(e, _breach_page)
    flash(_("已信用修复：该记录不再限制容缺受理"), "success")
    return redirect(url_for("admin.breach_register"))


@bp.get("/registers/breach/template.csv")
@roles_required("admin")
def breach_template():
    return csv_download(excel_csv(registers.BREACH_IMPORT_TEMPLATE), "breach-template.csv")


@bp.post("/registers/breach/import")
@roles_required("admin")
def import_breach():
    s = db_session()
    try:
        content, filename = _uploaded_file()
        rows = registers.parse_breach_file(content, filename)
        with transaction(s):
            created = registers.import_breach(s, rows, _actor_name())
    except DomainError as e:
        return _import_refused(e, "admin/registers_breach.html", **_breach_ctx())
    flash(_("已导入 %(n)s 条违诺记录", n=len(created)), "success")
    return redirect(url_for("admin.breach_register"))
