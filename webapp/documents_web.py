"""Documents of a case for officers (/officer/cases/<case_no>/documents): list, 样稿 preview, issue by hand,
re-issue with a reason, download the archived PDF.

Who may do what (kept simple on purpose):

* **See, preview, download**: any officer who may see the case (`queries.get_case`: 404 outside the scope).
* **Issue / re-issue**: an officer in scope whose desk holds one of the case's open tasks (`cases.can_act` on any
  of them), **or** the desk of the office that issues that kind for this case — 人社 (`RS`) → `hrss`, 编办
  (`BB`) → `bianban`, 评委会办公室 (`PW`) → `committee`, a unit or department office → `unit_hr`/`dept` of that
  very unit. Anyone else in scope gets 403.
* **What may be issued by hand**: the 补正材料通知书 while the case is open (the step that returns a case to the
  applicant issues it by itself; by hand it is the counter's 当场一次告知), and any kind whose step has run (from the
  audit trail: 受理, 公示, 特设岗位登记/核销, 办结) but which has no current document. Anything already issued is
  changed only by a re-issue: a new document with a new 文号 and the reason; the old one is marked superseded.

The 卷宗 (GET …/documents/case-file): the whole record of the case as one PDF, for any officer in scope (see
`case_file_response`; the JSON API serves the same at /api/v1/cases/<case_no>/case-file).

Issuing numbers the document in one transaction (the number goes back on any error: DocumentDataError or
DomainError → a Chinese message, nothing stored); the render queue (webapp/issuing.py) renders and signs it off
the request path and retries what fails.
"""

from __future__ import annotations

import io

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

import documents
from documents import DocumentDataError
from documents.case_file import render_case_file
from webapp import issuing, uploads
from webapp.db import db_session
from webapp.security import OFFICER_ROLES, current_actor, roles_required
from workflows.domain import procedures
from workflows.domain.actors import Actor
from workflows.domain.clock import today_local
from workflows.domain.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from workflows.domain.models import Case, CaseEvent, Unit
from workflows.domain.register import REISSUE_CATEGORIES, reissue_label
from workflows.services import archive, case_file, cases, handling, issuance, queries
from workflows.services.runtime import TERMINAL

bp = Blueprint("documents_web", __name__, url_prefix="/officer/cases/<case_no>/documents")

DOC_STATUS = {"pending": _l("正在生成"), "issued": _l("当前有效"), "superseded": _l("已被替代")}
# The desk of the region-wide issuing offices.
OFFICE_ROLES = {
    procedures.HRSS_OFFICE: "hrss",
    procedures.BIANBAN_OFFICE: "bianban",
    procedures.COMMITTEE_OFFICE: "committee",
}
MAX_REASON = issuance.MAX_REASON


# ------------------------------------------------------------------------------------------------ helpers
def applicable_kinds(case: Case) -> list[str]:
    """The kinds of the case's procedure, in the order of documents.KINDS (which names procedures by short name)."""
    p = procedures.PROCEDURES.get(case.procedure)
    label = p.short_name if p is not None else None
    return [k for k, spec in documents.KINDS.items() if k in archive.KIND_TITLES and label and label in spec.procedure]


def steps_run(session, case: Case) -> dict[str, str]:
    """kind → issuing office of the documents whose step has run (read from the audit trail)."""
    out: dict[str, str] = {}
    rows = session.execute(
        select(CaseEvent.action, CaseEvent.rule_id, CaseEvent.task_name, CaseEvent.payload)
        .where(CaseEvent.case_id == case.id, CaseEvent.action.in_(("accepted", "publicity", "special_post", "closed")))
        .order_by(CaseEvent.seq)
    ).all()
    for action, rule_id, task_name, payload in rows:
        p = payload or {}
        if action == "accepted":
            step, params = "accept_case", {"mode": p.get("mode") or ("rongque" if rule_id == "R3" else "instant")}
        elif action == "publicity":
            step, params = "start_publicity", {"kind": p.get("kind", "unit")}
        elif action == "special_post":
            step, params = ("writeoff_special_post" if "核销" in (task_name or "") else "register_special_post"), {}
        else:
            step, params = "close_case", {"outcome": p.get("outcome") or case.status}
        for kind, office in archive.documents_for_step(case, step, params, p):
            out[kind] = office
    return out


def office_for(session, case: Case, kind: str, ran: dict | None = None) -> str:
    ran = steps_run(session, case) if ran is None else ran
    if kind in ran:
        return ran[kind]
    if kind == "correction_notice":
        return procedures.get(case.procedure).office
    return issuing._default_office(case, kind)


def is_office_desk(session, actor: Actor, office: str) -> bool:
    role = OFFICE_ROLES.get(office)
    if role is not None:
        return actor.role == role
    unit = session.get(Unit, office)
    if unit is None or actor.unit_code != office:
        return False
    return actor.role == ("dept" if unit.kind == "dept" else "unit_hr")


def may_issue(session, actor: Actor, case: Case, office: str) -> bool:
    """See the module note: the desk of a current task, or the desk of the issuing office."""
    if actor.role not in OFFICER_ROLES:
        return False
    return any(cases.can_act(session, actor, t, case) for t in case.open_tasks) or is_office_desk(
        session, actor, office
    )


def issuable_kinds(session, case: Case, ran: dict | None = None) -> list[str]:
    """What may be issued by hand now (see the module note)."""
    ran = steps_run(session, case) if ran is None else ran
    out = []
    for kind in applicable_kinds(case):
        if kind == "correction_notice":
            if case.status not in TERMINAL:
                out.append(kind)
        elif kind in ran and archive.current_document(session, case.id, kind) is None:
            out.append(kind)
    return out


def _case(case_no: str) -> Case:
    return queries.get_case(db_session(), current_actor(), case_no)


def _kind_or_404(case: Case, kind: str) -> str:
    if kind not in archive.KIND_TITLES or kind not in documents.KINDS or kind not in applicable_kinds(case):
        abort(404)
    return kind


def _document_or_404(session, case: Case, doc_id: int) -> archive.Document:
    doc = session.get(archive.Document, doc_id)
    if doc is None or doc.case_id != case.id:
        abort(404)
    return doc


def _back(case_no: str) -> str:
    return url_for("documents_web.index", case_no=case_no)


def _render_now(case_id: int) -> None:
    """Hand what was just planned to the render queue (the worker, or the in-process thread of `make run`): the
    request does not wait for WeasyPrint; the list shows 生成中 until the PDF is archived."""
    issuing.wake(current_app)


def _check_renderable(doc: archive.Document) -> None:
    """Refuse, before the commit, data the renderer would reject (so no number is used for nothing)."""
    try:
        documents.validate(doc.kind, issuing.render_data(doc))
    except DocumentDataError as e:
        raise ValidationFailed(f"《{doc.title}》无法出具：{e}") from e


# ------------------------------------------------------------------------------------------------ pages
def _page(case: Case, *, status: int = 200, reason_errors: dict | None = None, reasons: dict | None = None):
    s = db_session()
    actor = current_actor()
    docs = archive.documents_of_case(s, case.id)
    ran = steps_run(s, case)
    issuable = set(issuable_kinds(s, case, ran))
    kinds = []
    for kind in applicable_kinds(case):
        office = office_for(s, case, kind, ran)
        kinds.append(
            {
                "kind": kind,
                "title": archive.KIND_TITLES[kind],
                "office": office,
                "current": archive.current_document(s, case.id, kind),
                "can_issue": kind in issuable and may_issue(s, actor, case, office),
            }
        )
    rows = [
        {"doc": d, "can_reissue": d.status != "superseded" and may_issue(s, actor, case, d.office_code)} for d in docs
    ]
    materials = [m for m in case.materials]
    corr = issuance.open_correction(s, case)
    ctx = dict(
        case=case,
        rows=rows,
        kinds=kinds,
        doc_status=DOC_STATUS,
        materials=materials,
        correction=corr,
        reason_errors=reason_errors or {},
        reasons=reasons or {},
        display_code=archive.display_code,
        reissue_categories=REISSUE_CATEGORIES,
        reissue_label=reissue_label,
    )
    return render_template("officer/documents.html", **ctx), status


@bp.get("/")
@roles_required(*OFFICER_ROLES)
def index(case_no: str):
    return _page(_case(case_no))


@bp.get("/preview/<kind>")
@roles_required(*OFFICER_ROLES)
def preview(case_no: str, kind: str):
    """A 样稿: watermarked, unnumbered, no verification code; nothing stored, no number used."""
    s = db_session()
    case = _case(case_no)
    _kind_or_404(case, kind)
    office = office_for(s, case, kind)
    try:
        data = issuance.issue_data(s, case, kind, request.args.get("reason", ""))
    except ValidationFailed:
        if kind != "correction_notice":
            raise
        data = handling.correction_notice_data(s, case, "（补正要求）", [])  # the layout, before anything is typed
    data.update(
        doc_no=issuing.PREVIEW_NO,
        verify_code="样稿（无核验码）",
        verify_url=f"{issuing.public_base_url()}/verify/",
        issue_date=today_local().isoformat(),
        issuer=issuing._office_name(s, office),
        seal_image=issuing.seal_image(s, office),
    )
    try:
        pdf = issuing._render_watermarked(kind, data)
    except DocumentDataError as e:
        raise ValidationFailed(f"样稿无法生成：{e}") from e
    return send_file(
        io.BytesIO(pdf),
        mimetype="application/pdf",
        as_attachment=False,
        download_name=f"{archive.KIND_TITLES[kind]}（样稿）.pdf",
        max_age=0,
    )


@bp.post("/issue/<kind>")
@roles_required(*OFFICER_ROLES)
def issue(case_no: str, kind: str):
    s = db_session()
    actor = current_actor()
    case = _case(case_no)
    _kind_or_404(case, kind)
    ran = steps_run(s, case)
    office = office_for(s, case, kind, ran)
    if not may_issue(s, actor, case, office):
        raise Forbidden("您无权出具该文书（须为当前环节的办理岗位或该文书的出具机关）")
    try:
        if kind not in issuable_kinds(s, case, ran):
            current = archive.current_document(s, case.id, kind)
            raise Conflict(
                f"《{archive.KIND_TITLES[kind]}》已出具（{current.doc_no or '无发文字号'}），如需更正请重新出具"
                if current is not None
                else f"《{archive.KIND_TITLES[kind]}》当前不能出具（对应环节尚未办理）"
            )
        doc = issuance.issue(
            s,
            case_no,
            kind,
            office,
            actor,
            reason=request.form.get("reason") or "",
            items=[c for c in request.form.getlist("items") if c],
            check=_check_renderable,
        )
        doc_no, case_id = doc.doc_no, case.id
    except DomainError as e:
        return _refused(e, case_no)
    _render_now(case_id)
    if doc_no:
        flash(_("已出具《%(title)s》，文号 %(no)s", title=archive.KIND_TITLES[kind], no=doc_no), "success")
    else:
        flash(_("已出具《%(title)s》（无发文字号）", title=archive.KIND_TITLES[kind]), "success")
    return redirect(_back(case_no), code=303)


def _refused(e: DomainError, case_no: str):
    """An issue or re-issue refused: back to the case's documents with the reason (403 and 404 stay errors)."""
    if isinstance(e, (Forbidden, NotFound)):
        raise e
    flash(e.message, "error")
    return redirect(_back(case_no), code=303)


@bp.post("/<int:doc_id>/reissue")
@roles_required(*OFFICER_ROLES)
def reissue(case_no: str, doc_id: int):
    s = db_session()
    actor = current_actor()
    case = _case(case_no)
    old = _document_or_404(s, case, doc_id)
    if not may_issue(s, actor, case, old.office_code):
        raise Forbidden("您无权重新出具该文书（须为当前环节的办理岗位或该文书的出具机关）")
    reason = (request.form.get("reason") or "").strip()
    category = request.form.get("category") or ""
    if category not in REISSUE_CATEGORIES:
        flash(_("请选择重新出具的原因类别"), "error")
        return _page(case, status=422, reason_errors={doc_id: _("请选择原因类别")}, reasons={doc_id: reason})
    if category == "other" and not reason:
        flash(_("原因类别为“其他原因”时须说明理由"), "error")
        return _page(case, status=422, reason_errors={doc_id: _("此项为必填项")})
    if len(reason) > MAX_REASON:
        flash(_("重新出具理由过长（最多2000字）"), "error")
        return _page(case, status=422, reason_errors={doc_id: _("理由过长")}, reasons={doc_id: reason})
    try:
        new, old = issuance.reissue(
            s,
            case_no,
            doc_id,
            reason,
            actor,
            refresh=request.form.get("refresh") == "1",
            check=_check_renderable,
            category=category,
        )
        doc_no, old_no, case_id = new.doc_no, old.doc_no, case.id
    except DomainError as e:
        return _refused(e, case_no)
    _render_now(case_id)
    if doc_no:
        flash(_("已重新出具，新文号 %(no)s（原 %(old)s 已被替代）", no=doc_no, old=old_no), "success")
    else:
        flash(_("已重新出具（该文书无发文字号，原版本已被替代）"), "success")
    return redirect(_back(case_no), code=303)


@bp.get("/<int:doc_id>/pdf")
@roles_required(*OFFICER_ROLES)
def pdf(case_no: str, doc_id: int):
    s = db_session()
    case = _case(case_no)
    return send_archived_pdf(_document_or_404(s, case, doc_id), explain=True)


def send_archived_pdf(doc, *, explain: bool):
    """An issued document's archived PDF as a download (the officers' and the applicant's). One not archived yet or
    unusable: `explain` (officers) a 409 that says which; otherwise (the applicant) a plain 404."""
    content = bytes(doc.pdf or b"") if doc.sha256 else b""
    if not content.startswith(b"%PDF-"):
        if not explain:
            abort(404)
        if not doc.sha256:
            raise Conflict("该文书的 PDF 正在生成，请稍后再下载")
        raise Conflict("该文书的归档文件不可用，请联系管理员")
    return send_file(
        io.BytesIO(content),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"{doc.title}（{doc.doc_no}）.pdf" if doc.doc_no else f"{doc.title}.pdf",
        etag=doc.sha256,
    )


# ------------------------------------------------------------------------------------------------ the 卷宗
def _read_upload(sha256: str) -> bytes | None:
    stored = uploads.read(sha256)
    return stored.content if stored is not None else None


def case_file_response(actor: Actor, case_no: str, *, as_attachment: bool):
    """The 卷宗 of a case as a PDF response: gathered in the request's read (`case_file.gather`: 404 outside the
    actor's scope), rendered after the session is given back (a render takes a second or two), never stored."""
    data = case_file.gather(db_session(), actor, case_no, _read_upload)
    current_app.extensions["db_session"].remove()  # the render holds no database connection
    pdf = render_case_file(data)
    resp = send_file(
        io.BytesIO(pdf),
        mimetype="application/pdf",
        as_attachment=as_attachment,
        download_name=f"卷宗_{data['case']['case_no']}.pdf",
        max_age=0,
    )
    resp.headers["Cache-Control"] = "private, no-store"  # personal data: not kept by proxies or the browser cache
    return resp


@bp.get("/case-file")
@roles_required(*OFFICER_ROLES)
def case_file_pdf(case_no: str):
    return case_file_response(current_actor(), case_no, as_attachment=False)
