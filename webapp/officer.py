"""Officer workspace (/officer): the inbox, a task's form and actions, the case page.

Routes stay thin: scope comes from `queries.get_case` / `queries.inbox` (404 outside it), every action is a
`workflows.services` call that checks the desk again (`can_act`) and commits its own transaction.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from webapp import schema_forms
from webapp.db import db_session
from webapp.security import OFFICER_ROLES, current_actor, roles_required
from webapp.views import STATUS_LABELS
from workflows.domain.actors import REGION_ROLES, Actor
from workflows.domain.clock import today_local
from workflows.domain.errors import DomainError, Forbidden, NotFound, ValidationFailed
from workflows.domain.forms import validate
from workflows.domain.models import Case, OpenTask, QuotaMovement, QuotaPool, SpecialPost, Unit, User
from workflows.domain.procedures import PROCEDURES
from workflows.services import cases, handling, queries
from workflows.services import dossier as dossier_svc
from workflows.services.settings import load_calendar

bp = Blueprint("officer", __name__, url_prefix="/officer")

TAB_LABELS = {"mine": _l("我的待办"), "group": _l("本岗待办"), "overdue": _l("逾期"), "all": _l("辖区全部")}
SOON_WORKING_DAYS = 3
ACTION_LABELS = {
    "submitted": _l("提交申请"),
    "task_opened": _l("环节开始"),
    "task_completed": _l("办理完成"),
    "decision": _l("规则判定"),
    "accepted": _l("受理"),
    "returned": _l("退回补正"),
    "resubmitted": _l("重新提交"),
    "transferred": _l("转交"),
    "comment": _l("办理意见"),
    "claimed": _l("认领"),
    "released": _l("释放"),
    "closed": _l("办结"),
    "hold": _l("暂停计时"),
    "resume": _l("恢复计时"),
    "material_received": _l("收到材料"),
    "file_attached": _l("上传材料文件"),
    "message": _l("收到消息"),
    "timer": _l("定时器"),
    "quota": _l("编制"),
    "publicity": _l("公示"),
    "deadline": _l("期限"),
    "breach": _l("违诺记录"),
    "special_post": _l("特设岗位"),
    "notification": _l("提醒"),
    "document": _l("文书"),
    "withdrawn": _l("撤回"),
    "rated": _l("评价"),
    "engine_error": _l("异常"),
}
MATERIAL_STATUS = {"received": _l("已收取"), "owed": _l("容缺待补"), "waived": _l("免于提交"), "missing": _l("未提交")}
QUOTA_KINDS = {"reserve": _l("预留"), "release": _l("释放"), "consume": _l("占用"), "adjust": _l("调整")}
POST_STATUS = {"active": _l("在岗（聘期内）"), "written_off": _l("已核销")}
DOC_STATUS = {"pending": _l("正在生成"), "issued": _l("已签发"), "superseded": _l("已被替代")}
STATE_LABELS = {"done": _l("已办"), "active": _l("当前"), "overdue": _l("逾期")}


# ------------------------------------------------------------------------------------------------ helpers
def _safe_next(default: str) -> str:
    target = request.form.get("next") or request.args.get("next") or ""
    if target.startswith("/officer/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def _calendar(session):
    try:
        return load_calendar(session)
    except Exception:  # the colour is a hint; never break the page over it
        return None


def due_class(due_on: date | None, today: date, calendar) -> str:
    """overdue (red), due within 3 working days (amber), else ok (green); '' without a due date."""
    if not due_on:
        return ""
    if due_on < today:
        return "overdue"
    try:
        left = calendar.working_days_between(today, due_on) if calendar else (due_on - today).days
    except Exception:  # a year the calendar does not know
        left = (due_on - today).days
    return "soon" if left <= SOON_WORKING_DAYS else "ok"


def _names(session, ids=(), usernames=()) -> tuple[dict, dict, dict]:
    """Unit names, and display names of just the users a page mentions (a region has tens of thousands)."""
    units = dict(session.execute(select(Unit.code, Unit.name)).all())
    ids, usernames = {i for i in ids if i}, {u for u in usernames if u}
    rows = (
        session.execute(
            select(User.id, User.username, User.display_name).where(or_(User.id.in_(ids), User.username.in_(usernames)))
        ).all()
        if ids or usernames
        else []
    )
    return units, {i: d for i, _, d in rows}, {u: d for _, u, d in rows}


def _colleagues(session, actor: Actor, task: OpenTask) -> list[User]:
    """Active users of the task's desk (same role; same unit outside the region-wide offices), not me."""
    q = select(User).where(User.role == task.role, User.active.is_(True), User.id != actor.user_id)
    if task.role not in REGION_ROLES:
        q = q.where(User.unit_code == task.scope_unit_code)
    return list(session.scalars(q.order_by(User.username)))


def _case_and_task(case_no: str, task_id: str) -> tuple[Case, OpenTask | None]:
    s = db_session()
    case = queries.get_case(s, current_actor(), case_no)
    return case, next((t for t in case.open_tasks if t.task_id == task_id), None)


def _form_schema(case: Case, task: OpenTask) -> dict:
    return ((case.definition.source or {}).get("forms") or {}).get(task.form or "") or {}


def _field_map(case: Case) -> dict[str, tuple[str, dict]]:
    """Every form field of the case's definition: name → (title, {value: option title})."""
    out = {}
    for schema in ((case.definition.source or {}).get("forms") or {}).values():
        for name, prop in (schema.get("properties") or {}).items():
            out[name] = (prop.get("title") or name, {str(v): t for v, t in schema_forms._options(prop)})
    return out


def _describe(ev, fields: dict, users_by_name: dict) -> list[tuple[str, str]]:
    """The opinion lines worth showing for a timeline event."""
    p = ev.payload or {}
    lines: list[tuple[str, str]] = []
    if ev.action == "task_completed":
        for k, v in (p.get("data") or {}).items():
            title, options = fields.get(k, (k, {}))
            if isinstance(v, bool):
                v = _("是") if v else _("否")
            lines.append((title, options.get(str(v), str(v))))
    elif ev.action == "returned":
        target = p.get("target")
        lines.append((_("退回至"), _("申请人") if target == "applicant" else str(target)))
        lines.append((_("理由"), str(p.get("reason", ""))))
    elif ev.action == "transferred":
        lines.append((_("接收人"), users_by_name.get(p.get("to"), p.get("to") or "")))
    elif ev.action == "comment":
        lines.append((_("意见"), str(p.get("text", ""))))
    elif ev.action in ("file_attached", "material_received") and p.get("sha256"):
        lines.append((_("文件"), str(p.get("file_name") or "")))
        lines.append(("SHA-256", str(p["sha256"])))
    else:
        for key, label in (("reason", _("理由")), ("note", _("说明")), ("source", _("来源")), ("doc_no", _("文号"))):
            if p.get(key):
                lines.append((label, str(p[key])))
    return lines


def _bpmn(case: Case) -> tuple[str, dict[str, str]]:
    """The definition's BPMN XML (one file) and the names of its tasks and events (id → name)."""
    files = (case.definition.source or {}).get("bpmn") or {}
    xml = next(iter(files.values()), "") if isinstance(files, dict) else str(files or "")
    names: dict[str, str] = {}
    try:
        for el in ET.fromstring(xml.encode("utf-8")).iter():
            tag = el.tag.rsplit("}", 1)[-1]
            if el.get("id") and el.get("name") and (tag.endswith("Task") or tag.endswith("Event")):
                names[el.get("id")] = el.get("name")
    except ET.ParseError:
        pass
    return xml, names


def _documents(session, case: Case) -> list:
    try:
        from workflows.services.archive import Document
    except ImportError:
        return []
    try:
        return list(session.scalars(select(Document).where(Document.case_id == case.id).order_by(Document.id)))
    except Exception:  # the archive table may not exist in an older database
        session.rollback()
        return []


def _domain_redirect(e: DomainError, target: str):
    """Refusals that are about the request (403/404) get their error page; the rest a message and the way back."""
    if isinstance(e, (Forbidden, NotFound)):
        raise e
    flash(e.message, "error")
    return redirect(target, code=303)


# ------------------------------------------------------------------------------------------------ inbox
@bp.get("/")
@roles_required(*OFFICER_ROLES)
def inbox():
    s = db_session()
    actor = current_actor()
    tab = request.args.get("tab", "group")
    tab = tab if tab in queries.TABS else "group"
    q = (request.args.get("q") or "").strip()[:100]
    procedure = request.args.get("procedure") or None
    procedure = procedure if procedure in PROCEDURES else None
    status = request.args.get("status") or None
    status = status if status in STATUS_LABELS else None
    page_no = max(1, request.args.get("page", 1, type=int) or 1)
    page, counts = queries.inbox(s, actor, tab, q=q, procedure=procedure, status=status, page=page_no)
    units, users_by_id, _by_name = _names(s, ids=[t.assignee_id for t, _ in page.items])
    today, cal = today_local(), _calendar(s)
    came_back = _came_back(s, [(t.case_id, t.spec_name, t.title) for t, _ in page.items])
    rows = [
        {
            "task": t,
            "case": c,
            "due": due_class(t.due_on, today, cal),
            "can_act": cases.can_act(s, actor, t, c),
            "mine": t.assignee_id == actor.user_id,
            "assignee": users_by_id.get(t.assignee_id) if t.assignee_id else None,
            "unit": units.get(c.unit_code, c.unit_code),
            "came_back": came_back.get((t.case_id, t.spec_name)),
        }
        for t, c in page.items
    ]
    args = {k: v for k, v in (("q", q), ("procedure", procedure), ("status", status)) if v}
    return render_template(
        "officer/inbox.html",
        page=page,
        counts=counts,
        tab=tab,
        rows=rows,
        q=q,
        procedure=procedure,
        status=status,
        args=args,
        tab_labels=TAB_LABELS,
        status_choices=STATUS_LABELS,
    )


# ------------------------------------------------------------------------------------------------ case page
@bp.get("/cases/<case_no>")
@roles_required(*OFFICER_ROLES, "admin")
def case(case_no: str):
    s = db_session()
    actor = current_actor()
    c = queries.get_case(s, actor, case_no)
    trail = queries.timeline(s, c)
    units, users_by_id, users_by_name = _names(
        s,
        ids=[t.assignee_id for t in c.open_tasks],
        usernames=[e.actor for e in trail] + [str((e.payload or {}).get("to") or "") for e in trail],
    )
    try:
        states = queries.step_states(s, c)
    except Exception:  # a broken instance still shows its record
        states = {}
    xml, element_names = _bpmn(c)
    fields = _field_map(c)
    events = [
        {
            "ev": e,
            "label": ACTION_LABELS.get(e.action, e.action),
            "who": users_by_name.get(e.actor, e.actor),
            "lines": _describe(e, fields, users_by_name),
        }
        for e in trail
    ]
    today, cal = today_local(), _calendar(s)
    tasks = [
        {
            "task": t,
            "due": due_class(t.due_on, today, cal),
            "can_act": cases.can_act(s, actor, t, c),
            "assignee": users_by_id.get(t.assignee_id) if t.assignee_id else None,
        }
        for t in sorted(c.open_tasks, key=lambda t: t.id)
    ]
    movements = s.execute(
        select(QuotaMovement, QuotaPool)
        .join(QuotaPool, QuotaMovement.pool_id == QuotaPool.id)
        .where(QuotaMovement.case_id == c.id)
        .order_by(QuotaMovement.id)
    ).all()
    post = s.scalar(select(SpecialPost).where(SpecialPost.case_id == c.id))
    documents = _documents(s, c)
    step_list = [(element_names[k], STATE_LABELS.get(v, v), v) for k, v in states.items() if k in element_names]
    materials = list(c.materials)
    return render_template(
        "officer/case.html",
        case=c,
        dossier=dossier_svc.build(s, c),
        unit_name=units.get(c.unit_code, c.unit_code),
        events=events,
        tasks=tasks,
        movements=movements,
        post=post,
        documents=documents,
        materials=materials,
        diagram={"xml": xml, "states": states},
        step_list=step_list,
        material_status=MATERIAL_STATUS,
        quota_kinds=QUOTA_KINDS,
        post_status=POST_STATUS,
        doc_status=DOC_STATUS,
    )


@bp.post("/cases/<case_no>/comment")
@roles_required(*OFFICER_ROLES)
def comment(case_no: str):
    s = db_session()
    actor = current_actor()
    queries.get_case(s, actor, case_no)  # scope: 404 outside it
    target = url_for("officer.case", case_no=case_no) + "#timeline"
    try:
        handling.comment(s, case_no, actor, request.form.get("text", ""))
    except DomainError as e:
        return _domain_redirect(e, target)
    flash(_("意见已记录"), "success")
    return redirect(target, code=303)


# ------------------------------------------------------------------------------------------------ a task
def _render_task(
    c: Case, task: OpenTask, *, values=None, errors=None, return_values=None, return_errors=None, status: int = 200
):
    s = db_session()
    actor = current_actor()
    if not cases.can_act(s, actor, task, c):
        raise Forbidden("您无权办理该环节（角色或单位范围不符）")
    schema = _form_schema(c, task)
    fields = schema_forms.build_fields(schema, values, errors) if schema else []
    try:
        steps = handling.returnable_steps(s, c, task.task_id)
    except Exception:
        steps = []
    units, users_by_id, _by_name = _names(s, ids=[task.assignee_id])
    today, cal = today_local(), _calendar(s)
    ctx = dict(
        case=c,
        task=task,
        schema=schema,
        fields=fields,
        errors=errors or {},
        steps=steps,
        colleagues=_colleagues(s, actor, task),
        materials=list(c.materials),
        unit_name=units.get(c.unit_code, c.unit_code),
        due=due_class(task.due_on, today, cal),
        assignee=users_by_id.get(task.assignee_id) if task.assignee_id else None,
        mine=task.assignee_id == actor.user_id,
        taken=task.assignee_id not in (None, actor.user_id),
        return_values=return_values or {},
        return_errors=return_errors or {},
        material_status=MATERIAL_STATUS,
        dossier=dossier_svc.build(s, c),
        came_back=_banner(s, c, dossier_svc.task_return(s, c, task.spec_name, task.title)),
    )
    return render_template("officer/task.html", **ctx), status


def _require_desk(c: Case, task: OpenTask) -> None:
    """Before looking at the input: only the task's desk may act on it (403 otherwise; the services check again)."""
    if not cases.can_act(db_session(), current_actor(), task, c):
        raise Forbidden("您无权办理该环节（角色或单位范围不符）")


def _task_or_back(c: Case, task: OpenTask | None):
    if task is None:
        flash(_("该环节已办理完毕或不在待办状态"), "warning")
        return redirect(url_for("officer.case", case_no=c.case_no), code=303)
    return None


def _desk_task(case_no: str, task_id: str) -> tuple[Case, OpenTask]:
    """The case and its open task for an action by the task's desk; gone → back to the case page, wrong desk → 403."""
    c, t = _case_and_task(case_no, task_id)
    back = _task_or_back(c, t)
    if back:
        abort(back)
    _require_desk(c, t)
    return c, t


@bp.get("/cases/<case_no>/tasks/<task_id>")
@roles_required(*OFFICER_ROLES)
def task(case_no: str, task_id: str):
    c, t = _case_and_task(case_no, task_id)
    return _task_or_back(c, t) or _render_task(c, t)


@bp.post("/cases/<case_no>/tasks/<task_id>/complete")
@roles_required(*OFFICER_ROLES)
def complete(case_no: str, task_id: str):
    s = db_session()
    actor = current_actor()
    c, t = _desk_task(case_no, task_id)
    schema = _form_schema(c, t)
    data, errors = schema_forms.parse(schema, request.form) if schema else ({}, {})
    if errors:
        try:
            validate(schema, data)
        except ValidationFailed as e:
            errors = {**schema_forms.friendly(schema, e.details.get("fields", {})), **errors}
        flash(_("表单填写有误，请按提示修改"), "error")
        return _render_task(c, t, values=request.form, errors=errors, status=422)
    title = t.title
    version = request.form.get("version", type=int)
    try:
        cases.complete_task(s, case_no, task_id, data, actor, expected_version=version)
    except ValidationFailed as e:
        c, t = _case_and_task(case_no, task_id)
        if t is None:
            return _task_or_back(c, t)
        flash(e.message, "error")
        return _render_task(
            c, t, values=request.form, errors=schema_forms.friendly(schema, e.details.get("fields", {})), status=422
        )
    except DomainError as e:
        return _domain_redirect(e, url_for("officer.task", case_no=case_no, task_id=task_id))
    flash(_("已提交「%(step)s」的办理结果", step=title), "success")
    return redirect(url_for("officer.case", case_no=case_no), code=303)


@bp.post("/cases/<case_no>/tasks/<task_id>/claim")
@roles_required(*OFFICER_ROLES)
def claim(case_no: str, task_id: str):
    s = db_session()
    actor = current_actor()
    c, t = _desk_task(case_no, task_id)
    release = request.form.get("release") == "1"
    target = _safe_next(url_for("officer.task", case_no=case_no, task_id=task_id))
    try:
        cases.claim(s, case_no, task_id, actor, release=release)
    except DomainError as e:
        return _domain_redirect(e, target)
    flash(
        _("已释放「%(step)s」，其他同事可以认领", step=t.title) if release else _("已认领「%(step)s」", step=t.title),
        "success",
    )
    return redirect(target, code=303)


@bp.post("/cases/<case_no>/tasks/<task_id>/return")
@roles_required(*OFFICER_ROLES)
def return_(case_no: str, task_id: str):
    s = db_session()
    actor = current_actor()
    c, t = _desk_task(case_no, task_id)
    reason = (request.form.get("reason") or "").strip()
    target = request.form.get("target") or "applicant"
    items = request.form.getlist("items") if target == "applicant" else []
    if not reason:
        flash(_("退回须填写理由"), "error")
        return _render_task(
            c,
            t,
            return_values={"target": target, "items": items},
            return_errors={"reason": _("此项为必填项")},
            status=422,
        )
    title = t.title
    try:
        handling.return_for_correction(s, case_no, task_id, actor, reason, target=target, items=items)
    except DomainError as e:
        return _domain_redirect(e, url_for("officer.task", case_no=case_no, task_id=task_id))
    flash(
        _("已将「%(step)s」退回申请人补正", step=title)
        if target == "applicant"
        else _("已从「%(step)s」退回到前序环节重新办理", step=title),
        "success",
    )
    return redirect(url_for("officer.case", case_no=case_no), code=303)


@bp.post("/cases/<case_no>/tasks/<task_id>/transfer")
@roles_required(*OFFICER_ROLES)
def transfer(case_no: str, task_id: str):
    s = db_session()
    actor = current_actor()
    c, t = _desk_task(case_no, task_id)
    to = (request.form.get("to") or "").strip()
    here = url_for("officer.task", case_no=case_no, task_id=task_id)
    if not to:
        flash(_("请选择接收人"), "error")
        return redirect(here, code=303)
    title = t.title
    try:
        handling.transfer(s, case_no, task_id, actor, to)
    except DomainError as e:
        return _domain_redirect(e if not isinstance(e, NotFound) else ValidationFailed(e.message), here)
    name = s.scalar(select(User.display_name).where(User.username == to)) or to
    flash(_("已将「%(step)s」转交给 %(name)s", step=title, name=name), "success")
    return redirect(url_for("officer.inbox"), code=303)


# ------------------------------------------------------------------------------------------------ the dossier
def _banner(session, case: Case, corr) -> dict | None:
    """What a returned step's desk must see: who sent it back, when, why and what was asked."""
    if corr is None:
        return None
    proc = PROCEDURES.get(case.procedure)
    name = session.scalar(select(User.display_name).where(User.username == corr.requested_by))
    return {
        "by": name or corr.requested_by,
        "at": corr.requested_at,
        "from_step": corr.task_title,
        "to_applicant": corr.target == "applicant",
        "resolved_at": corr.resolved_at,
        "reason": corr.reason,
        "items": [proc.material_name(i) if proc else i for i in (corr.items or [])],
    }


def _came_back(session, tasks: list[tuple[int, str, str]]) -> dict:
    """Banners for a page of inbox rows: one query for the returns, one for the names of who returned."""
    found = dossier_svc.inbox_returns(session, tasks)
    names = dict(
        session.execute(
            select(User.username, User.display_name).where(User.username.in_({c.requested_by for c in found.values()}))
        ).all()
        if found
        else []
    )
    return {
        key: {"by": names.get(c.requested_by, c.requested_by), "at": c.requested_at, "reason": c.reason}
        for key, c in found.items()
    }


@bp.get("/cases/<case_no>/materials/<code>")
@roles_required(*OFFICER_ROLES, "admin")
def material(case_no: str, code: str):
    """A material's file shown inline (the dossier's preview): scope as the case page, checks as the API's download."""
    from webapp.api.materials import send_material

    return send_material(queries.get_case(db_session(), current_actor(), case_no), code, inline=True)
