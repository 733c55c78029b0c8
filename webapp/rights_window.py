"""The 科研人员权益保障 window (seed 000 三(三)) on the web: a researcher files a complaint or feedback by topic and rates
the answer (applicant blueprint); administrators edit the topics and the offices they go to (admin blueprint).

Thin routes over `workflows.services.rights`; the case itself is followed on the ordinary status page and handled in
the officers' inbox like any other step.
"""

from __future__ import annotations

import io

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from webapp.admin import _actor_name
from webapp.admin import bp as admin_bp
from webapp.applicant import _own_case
from webapp.applicant import bp as applicant_bp
from webapp.db import db_session
from webapp.security import current_actor, roles_required
from workflows.domain.clock import today_local
from workflows.domain.errors import DomainError, ValidationFailed
from workflows.domain.models import Document
from workflows.infra.db import transaction
from workflows.services import cases, quarterly, rights, statistics

RATING_FORM = "rights_rating"


def rating_task(case):
    """The complainant's open 评价 step of a complaint, if any."""
    return next(
        (t for t in case.open_tasks if t.role == "applicant" and (t.form or "").split(".", 1)[0] == RATING_FORM), None
    )


def _window_page(values: dict | None = None, errors: dict | None = None, status: int = 200):
    s, actor = db_session(), current_actor()
    return render_template(
        "applicant/rights.html",
        topics=rights.list_topics(s, active_only=True),
        offices={u.code: u.name for u in rights.offices(s)},
        mine=rights.own_complaints(s, actor),
        values=values or {},
        errors=errors or {},
        types=rights.TYPE_LABELS,
    ), status


@applicant_bp.get("/rights")
@roles_required("applicant")
def rights_window():
    return _window_page()


@applicant_bp.post("/rights")
@roles_required("applicant")
def file_complaint():
    s, actor = db_session(), current_actor()
    f = request.form
    values = {k: (f.get(k) or "").strip() for k in ("topic", "subject", "content", "contact", "complaint_type")}
    values["anonymous"] = f.get("anonymous") in ("1", "on", "true")
    kind = values["complaint_type"] if values["complaint_type"] in rights.TYPE_LABELS else "complaint"
    errors = {}
    if not values["subject"]:
        errors["subject"] = _("请填写标题")
    if not values["content"]:
        errors["content"] = _("请填写投诉反馈内容")
    if len(values["subject"]) > 100 or len(values["content"]) > 4000:
        errors["content"] = _("标题不超过100字，内容不超过4000字")
    if errors:
        flash(_("提交未成功，请按提示修改"), "error")
        return _window_page(values, errors, 422)
    try:
        case = rights.file_complaint(
            s,
            actor,
            values["topic"],
            values["subject"],
            values["content"],
            bool(values["anonymous"]),
            values["contact"],
            kind,
        )
    except ValidationFailed as e:
        flash(e.message, "error")
        return _window_page(values, (e.details or {}).get("fields", {}), e.status)
    flash(_("已提交，办件编号 %(no)s。办理进度可在“我的办件”中查看。", no=case.case_no), "success")
    return redirect(url_for("applicant.status", case_no=case.case_no), 303)


@applicant_bp.post("/case/<case_no>/rights-rating")
@roles_required("applicant")
def rate_complaint(case_no: str):
    s, actor = db_session(), current_actor()
    case = _own_case(case_no)  # out of the complainant's scope: 404
    task = rating_task(case)
    if task is None:
        flash(_("该办件没有待评价的答复"), "info")
        return redirect(url_for("applicant.status", case_no=case_no), 303)
    raw = request.form.get("rating_stars", "")
    data: dict = {"rating_stars": int(raw) if raw.isdigit() and len(raw) < 3 else 0}
    reason = (request.form.get("rating_reason") or "").strip()[:1000]
    if reason:
        data["rating_reason"] = reason
    try:
        cases.complete_task(
            s, case_no, task.task_id, data, actor, expected_version=request.form.get("version", type=int)
        )
    except DomainError as e:
        msg = _("不满意的评价请填写说明") if data["rating_stars"] in (1, 2) and not reason else e.message
        flash(_("评价未提交：%(reason)s", reason=msg), "error")
        return redirect(url_for("applicant.status", case_no=case_no) + "#rights-rating", 303)
    flash(_("感谢您的评价！"), "success")
    return redirect(url_for("applicant.status", case_no=case_no), 303)


# ---- administrators: topics and their offices --------------------------------------------------------------------
def _topics_page(status: int = 200):
    s = db_session()
    report_year, report_quarter = rights.previous_quarter(today_local())
    return render_template(
        "admin/rights_topics.html",
        report_year=report_year,
        report_quarter=report_quarter,
        topics=rights.list_topics(s),
        offices=rights.offices(s),
        history=rights.topic_history(s),
    ), status


@admin_bp.get("/rights-topics")
@roles_required("admin")
def rights_topics():
    return _topics_page()


@admin_bp.post("/rights-topics")
@roles_required("admin")
def save_rights_topic():
    s = db_session()
    f = request.form
    raw_pos = (f.get("position") or "").strip()
    try:
        rights.save_topic(
            s,
            _actor_name(),
            f.get("code", ""),
            f.get("name", ""),
            f.get("office_code", ""),
            active=f.get("active") in ("1", "on", "true"),
            position=int(raw_pos) if raw_pos.isdigit() and len(raw_pos) < 6 else None,
        )
    except DomainError as e:
        flash(e.message, "error")
        return _topics_page(e.status)
    flash(_("问题类别已保存"), "success")
    return redirect(url_for("admin.rights_topics"), 303)


# ---- the quarterly dispatch report (季度调度通报) ---------------------------------------------------------------
@admin_bp.get("/rights-report")
@roles_required("admin")
def rights_report():
    """The reports the worker issued after each quarter (numbered, signed, archived), and the preview form."""
    year, quarter = rights.previous_quarter(today_local())
    return render_template(
        "admin/rights_report.html",
        reports=quarterly.archived(db_session()),
        report_year=year,
        report_quarter=quarter,
    )


@admin_bp.get("/rights-report/preview")
@roles_required("admin")
def rights_report_preview():
    """An unnumbered 季度调度通报 of any quarter as a PDF, on request (default: the last full quarter); nothing is
    stored and no number is used."""
    from documents.dispatch_report import render_dispatch_report
    from webapp.issuing import PREVIEW_NO

    s = db_session()
    today = today_local()
    year, quarter = rights.previous_quarter(today)
    year = request.args.get("year", year, type=int)
    quarter = request.args.get("quarter", quarter, type=int)
    if not (2000 <= year <= 2100) or quarter not in (1, 2, 3, 4):
        flash(_("请选择正确的年份和季度"), "error")
        return _topics_page(422)
    with transaction(s):
        statistics.refresh(s)  # the read model follows the cases that changed since the worker's last round
        data = quarterly.report_data(s, year, quarter, today)
    pdf = render_dispatch_report({**data, "doc_no": PREVIEW_NO})
    return send_file(
        io.BytesIO(pdf),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"科研人员权益保障季度调度通报-{year}Q{quarter}（样稿）.pdf",
    )


@admin_bp.get("/rights-report/<int:doc_id>.pdf")
@roles_required("admin")
def rights_report_pdf(doc_id: int):
    """An archived report, byte for byte as signed (its sha256 is on the page and checked at /verify/<code>)."""
    s = db_session()
    doc = s.get(Document, doc_id)
    if doc is None or doc.case_id is not None or doc.kind != quarterly.KIND:
        abort(404)
    if doc.sha256 is None or doc.pdf is None:
        flash(_("该通报正在生成，请稍后再下载"), "info")
        return redirect(url_for("admin.rights_report"), 303)
    return send_file(
        io.BytesIO(bytes(doc.pdf)),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"{doc.doc_no}.pdf",
        etag=doc.sha256,
    )
