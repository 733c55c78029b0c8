"""Administrators' registers: the 科研失信 list (R10), the 违诺 records with 信用修复 (R3), each unit's posts and 编制
(R8, R4; 编办 adjusts 编制 too) and the major achievements and awards of R9.

Thin routes on the admin blueprint: parse, call `workflows.services.registers` in one transaction, render. A refused
input changes nothing and is shown in Chinese on the same page with its status.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from webapp.admin import _actor_name, _import_refused, _imported, _refused, bp, csv_download
from webapp.db import db_session
from webapp.security import current_actor, roles_required
from workflows.domain.clock import today_local
from workflows.domain.errors import DomainError
from workflows.domain.spreadsheet import excel_csv
from workflows.infra.db import transaction
from workflows.services import achievements, posts, registers


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
    try:
        rows, created = _imported(
            registers.parse_credit_file, lambda s, rows: registers.import_credit(s, rows, _actor_name())
        )
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
    try:
        _rows, created = _imported(
            registers.parse_breach_file, lambda s, rows: registers.import_breach(s, rows, _actor_name())
        )
    except DomainError as e:
        return _import_refused(e, "admin/registers_breach.html", **_breach_ctx())
    flash(_("已导入 %(n)s 条违诺记录", n=len(created)), "success")
    return redirect(url_for("admin.breach_register"))


# -- each unit's posts and 编制 (R8, R4): administrators; 编办 sees them and adjusts 编制 ---------------------------------


def _unit_arg() -> str:
    return (request.args.get("unit") or request.form.get("unit_filter") or "").strip()[:32]


def _posts_ctx() -> dict:
    s, unit = db_session(), _unit_arg()
    views = posts.units_view(s, unit or None)
    targets = [f"establishment:{v.unit.code}" for v in views] + [f"post:{p.id}" for v in views for p in v.posts]
    return {
        "views": views,
        "unit": unit,
        "all_units": posts.units_view(s) if unit else views,
        "post_types": posts.POST_TYPES,
        "levels": posts.LEVELS,
        "trails": posts.trail(s, targets),
        "event_kind": registers.event_kind,
        "field_labels": {"approved": _("核定"), "filled": _("实有")},
        "is_admin": current_actor().role == "admin",
    }


def _posts_page():
    return render_template("admin/registers_posts.html", **_posts_ctx())


def _back_to_posts(unit_code: str):
    return redirect(url_for("admin.posts_register", unit=_unit_arg() or None, _anchor=f"unit-{unit_code}"), code=303)


@bp.get("/registers/posts")
@roles_required("admin", "bianban")
def posts_register():
    return _posts_page()


@bp.post("/registers/posts")
@roles_required("admin")
def set_post():
    s, f = db_session(), request.form
    try:
        with transaction(s):
            post = posts.set_post(
                s, f.get("unit_code"), f.get("post_type"), f.get("level"), f.get("approved"), f.get("filled"),
                f.get("basis"), _actor_name(),
            )  # fmt: skip
    except DomainError as e:
        return _refused(e, _posts_page)
    flash(_("已保存 %(unit)s %(level)s 的岗位数", unit=post.unit_code, level=post.level), "success")
    return _back_to_posts(post.unit_code)


@bp.post("/registers/posts/establishment")
@roles_required("admin", "bianban")
def set_establishment():
    s, f = db_session(), request.form
    actor = current_actor()
    try:
        with transaction(s):
            pool = posts.set_establishment(
                s, f.get("unit_code"), f.get("approved"), f.get("filled"), f.get("basis"), actor.username, actor.role
            )
    except DomainError as e:
        return _refused(e, _posts_page)
    flash(_("已保存 %(unit)s 的编制数", unit=pool.unit_code), "success")
    return _back_to_posts(str(pool.unit_code))


@bp.get("/registers/posts/template.csv")
@roles_required("admin", "bianban")
def posts_template():
    return csv_download(excel_csv(posts.IMPORT_TEMPLATE), "posts-template.csv")


@bp.post("/registers/posts/import")
@roles_required("admin", "bianban")
def import_posts():
    actor = current_actor()
    try:
        rows, changed = _imported(
            posts.parse_file, lambda s, rows: posts.import_rows(s, rows, actor.username, actor.role)
        )
    except DomainError as e:
        return _import_refused(e, "admin/registers_posts.html", **_posts_ctx())
    flash(_("已导入 %(n)s 行（其中 %(changed)s 行有变化）", n=len(rows), changed=changed), "success")
    return redirect(url_for("admin.posts_register"), code=303)


# -- R9's major achievements and awards ------------------------------------------------------------------------------


def _achievements_ctx() -> dict:
    s, q = db_session(), _q()
    page = achievements.list_entries(s, q, _page_arg())
    return {
        "page": page,
        "q": q,
        "categories": achievements.CATEGORIES,
        "today": today_local(),
        "state": achievements.state,
        **_trails(s, achievements.REGISTER, page),
        "field_labels": {"active_to": _("截止日期")},
    }


def _achievements_page():
    return render_template("admin/registers_achievements.html", **_achievements_ctx())


@bp.get("/registers/achievements")
@roles_required("admin")
def achievements_register():
    return _achievements_page()


@bp.post("/registers/achievements")
@roles_required("admin")
def add_achievement():
    s = db_session()
    try:
        with transaction(s):
            rec = achievements.add(s, request.form.to_dict(), _actor_name())
    except DomainError as e:
        return _refused(e, _achievements_page)
    flash(_("已列入目录：%(name)s", name=rec.name), "success")
    return redirect(url_for("admin.achievements_register"), code=303)


@bp.post("/registers/achievements/<int:record_id>/end")
@roles_required("admin")
def end_achievement(record_id: int):
    s = db_session()
    try:
        with transaction(s):
            rec = achievements.set_end(
                s, record_id, request.form.get("active_to"), request.form.get("basis"), _actor_name()
            )
    except DomainError as e:
        return _refused(e, _achievements_page)
    flash(_("已调整“%(name)s”的截止日期", name=rec.name), "success")
    return redirect(url_for("admin.achievements_register"), code=303)


@bp.get("/registers/achievements/template.csv")
@roles_required("admin")
def achievements_template():
    return csv_download(excel_csv(achievements.IMPORT_TEMPLATE), "achievements-template.csv")


@bp.post("/registers/achievements/import")
@roles_required("admin")
def import_achievements():
    try:
        _rows, created = _imported(
            achievements.parse_file, lambda s, rows: achievements.import_rows(s, rows, _actor_name())
        )
    except DomainError as e:
        return _import_refused(e, "admin/registers_achievements.html", **_achievements_ctx())
    flash(_("已导入 %(n)s 个目录条目", n=len(created)), "success")
    return redirect(url_for("admin.achievements_register"), code=303)
