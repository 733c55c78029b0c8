"""Officer workspace (/officer): the inbox, a task's form and actions, the case page.

Routes stay thin: scope comes from `queries.get_case` / `queries.inbox` (404 outside it), every action is a
`workflows.services` call that checks the desk again (`can_act`) and commits its own transaction.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask import session as web_session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from webapp import _date_cn, schema_forms
from webapp.db import db_session
from webapp.security import OFFICER_ROLES, current_actor, roles_required
from webapp.views import STATUS_LABELS
from workflows.domain import votes
from workflows.domain.actors import REGION_ROLES, ROLE_LABELS, Actor
from workflows.domain.clock import today_local
from workflows.domain.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from workflows.domain.forms import validate
from workflows.domain.models import Case, OpenTask, QuotaMovement, QuotaPool, SpecialPost, Unit, User
from workflows.domain.procedures import COMPLAINT_IDS, PROCEDURES, material_name
from workflows.services import cases, handling, incidents, posts, queries, rights
from workflows.services import dossier as dossier_svc
from workflows.services.settings import get_params, load_calendar

bp = Blueprint("officer", __name__, url_prefix="/officer")

TAB_LABELS = {"mine": _l("我的待办"), "group": _l("本岗待办"), "overdue": _l("逾期"), "all": _l("辖区全部")}
SOON_WORKING_DAYS = 3
MESSAGE_LABELS = {
    "objection": _l("公示异议"),
    "rongque_supplied": _l("容缺材料补齐"),
    "special_post_writeoff": _l("特设岗位提前核销"),
    "material": _l("补交材料"),
}
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
    "migrated": _l("迁移流程版本"),
    "incident_data_fix": _l("修复数据"),
    "incident_retry": _l("异常重试"),
    "incident_skip": _l("跳过出错环节"),
    "incident_cancel": _l("异常终止办理"),
    "hire_type": _l("聘用类型"),
}
MATERIAL_STATUS = {"received": _l("已收取"), "owed": _l("容缺待补"), "waived": _l("免于提交"), "missing": _l("未提交")}
QUOTA_KINDS = {"reserve": _l("预留"), "release": _l("释放"), "consume": _l("占用"), "adjust": _l("调整")}
POST_STATUS = {"active": _l("在岗（聘期内）"), "written_off": _l("已核销")}
REGULAR_POST_STATUS = {
    "moved": _l("已转聘至正常岗位"),
    "pending": _l("待出现相应等级空缺岗位后转聘"),
    "not_applicable": _l("聘用人员已离开，不转聘"),
}
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


def _unit_label(case: Case) -> str:
    """A complaint's unit is the office handling it, not an employer."""
    return _("承办部门") if case.procedure in COMPLAINT_IDS else _("单位")


def _form_schema(case: Case, task: OpenTask) -> dict:
    schema = ((case.definition.source or {}).get("forms") or {}).get(task.form or "") or {}
    if case.procedure in COMPLAINT_IDS:
        schema = _with_offices(schema, case.unit_code)
    return schema


def _with_offices(schema: dict, current: str) -> dict:
    """A complaint's transfer field offers the offices (administrators' units) as a list, not a code to type."""
    props = schema.get("properties") or {}
    names = [n for n in props if n.endswith("_transfer_to")]
    if not names:
        return schema
    choices = [
        {"const": code, "title": name} for code, name in rights.transfer_choices(db_session()) if code != current
    ]
    props = {
        **props,
        **{n: {**{k: v for k, v in props[n].items() if k != "description"}, "oneOf": choices} for n in names},
    }
    return {**schema, "properties": props}


def _field_map(case: Case) -> dict[str, tuple[str, dict]]:
    """Every form field of the case's definition: name → (title, {value: option title})."""
    out = {}
    for schema in ((case.definition.source or {}).get("forms") or {}).values():
        for name, prop in (schema.get("properties") or {}).items():
            out[name] = (prop.get("title") or name, {str(v): t for v, t in schema_forms._options(prop)})
    return out


def _describe(ev, fields: dict, users_by_name: dict, procedure: str = "") -> list[tuple[str, str]]:
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
        if p.get("items"):
            names = "、".join(material_name(procedure, str(code)) for code in p["items"])
            lines.append((_("补正材料"), names))
    elif ev.action == "transferred":
        lines.append((_("接收人"), users_by_name.get(p.get("to"), p.get("to") or "")))
    elif ev.action == "comment":
        lines.append((_("意见"), str(p.get("text", ""))))
    elif ev.action == "migrated":
        lines.append((_("版本"), f"v{p.get('from_version')} → v{p.get('to_version')}"))
    elif ev.action in ("file_attached", "material_received") and p.get("sha256"):
        lines.append((_("文件"), str(p.get("file_name") or "")))
        lines.append(("SHA-256", str(p["sha256"])))
    else:
        lines.extend(_payload_lines(ev, procedure))
    return lines


# What the system records (engine, operators, timers): its timeline entries say 系统, not the person whose action
# set the engine going. A document is the system's unless an officer issued or reissued it by hand.
SYSTEM_ACTIONS = frozenset(
    {
        "task_opened",
        "decision",
        "accepted",
        "quota",
        "publicity",
        "deadline",
        "closed",
        "breach",
        "special_post",
        "hold",
        "resume",
        "timer",
        "notification",
        "engine_error",
    }
)


def is_system_event(ev) -> bool:
    p = ev.payload or {}
    if ev.actor == "system" or ev.action in SYSTEM_ACTIONS:
        return True
    return ev.action == "document" and not (p.get("manual") or p.get("supersedes"))


# Audit payload keys shown on the case page, in this order, with their Chinese labels (the rest are internal:
# ids, UTC instants, versions).
PAYLOAD_LABELS = {
    "status": _l("审查结论"),
    "mode": _l("受理方式"),
    "blocked": _l("失信记录"),
    "eligible": _l("符合设岗条件"),
    "eligibility_ok": _l("符合条件"),
    "eligibility_reason": _l("判定依据"),
    "level2_ok": _l("可破格申报二级岗位"),
    "missing_key": _l("缺少的关键材料"),
    "owed": _l("容缺材料"),
    "barred": _l("有违诺记录"),
    "source": _l("编制来源"),
    "outcome": _l("办理结果"),
    "reason": _l("理由"),
    "note": _l("说明"),
    "accepted_on": _l("受理日期"),
    "promised_on": _l("承诺办结日期"),
    "rongque_deadline": _l("容缺补齐期限"),
    "complete_on": _l("材料齐全日期"),
    "start": _l("公示开始"),
    "end": _l("公示截止"),
    "due": _l("期限"),
    "hold_days": _l("暂停天数"),
    "term_months": _l("聘期（月）"),
    "capped": _l("聘期按上限核定"),
    "start_on": _l("聘期开始"),
    "term_end": _l("聘期届满"),
    "written_off_on": _l("核销日期"),
    "role": _l("岗位"),
    "doc_no": _l("文号"),
    "supersedes": _l("替代文书"),
    "stars": _l("评分"),
    "error": _l("异常信息"),
}
VALUE_LABELS = {
    "status": {"complete": _l("材料齐全"), "rongque": _l("容缺受理"), "incomplete": _l("材料不全")},
    "mode": {"instant": _l("即收即办"), "rongque": _l("容缺受理")},
    "source": {"own": _l("本单位空余编制"), "pool": _l("人才专项编制"), "none": _l("无可用编制（待编办调剂）")},
    "outcome": {
        "completed": _l("办结"),
        "not_accepted": _l("不予受理"),
        "refused": _l("不予批准"),
        "terminated": _l("终止办理"),
    },
}
DATE_KEYS = frozenset(
    {
        "accepted_on",
        "promised_on",
        "rongque_deadline",
        "complete_on",
        "start",
        "end",
        "due",
        "start_on",
        "term_end",
        "written_off_on",
    }
)
MATERIAL_KEYS = frozenset({"owed", "missing_key", "items"})


def _payload_lines(ev, procedure: str) -> list[tuple[str, str]]:
    """An audit event's payload in words: Chinese labels for keys and codes, dates as dates, material names."""
    p = ev.payload or {}
    out: list[tuple[str, str]] = []
    for key, label in PAYLOAD_LABELS.items():
        v = p.get(key)
        if v is None or v == "" or v == [] or (key == "hold_days" and not v):
            continue
        if key == "role" and ev.action != "task_opened":
            continue
        if isinstance(v, bool):
            text = _("是") if v else _("否")
        elif key in MATERIAL_KEYS and isinstance(v, list):
            text = "、".join(material_name(procedure, str(c)) for c in v)
        elif key in VALUE_LABELS:
            text = str(VALUE_LABELS[key].get(str(v), v))
        elif key == "role":
            text = ROLE_LABELS.get(str(v), str(v))
        elif key in DATE_KEYS:
            try:
                text = _date_cn(date.fromisoformat(str(v)))
            except ValueError:
                text = str(v)
        else:
            text = str(v)
        out.append((str(label), text))
    return out


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
INBOX_FILTERS = "officer_inbox_filters"
FILTER_KEYS = ("tab", "q", "procedure", "status")


def _inbox_filters(actor: Actor) -> dict:
    """The inbox's tab and filters: from the request when it names any, else the ones this user chose last
    (kept in their session, so coming back from a task shows the same list); `clear=1` forgets them."""
    if request.args.get("clear"):
        web_session.pop(INBOX_FILTERS, None)
        return {"tab": request.args.get("tab")}
    if any(k in request.args for k in FILTER_KEYS):
        return {k: request.args.get(k) for k in FILTER_KEYS}
    kept = web_session.get(INBOX_FILTERS) or {}
    return kept if kept.get("user") == actor.user_id else {}


@bp.get("/")
@roles_required(*OFFICER_ROLES)
def inbox():
    s = db_session()
    actor = current_actor()
    args = _inbox_filters(actor)
    tab = args.get("tab") or "group"
    tab = tab if tab in queries.TABS else "group"
    q = (args.get("q") or "").strip()[:100]
    procedure = args.get("procedure") or None
    procedure = procedure if procedure in PROCEDURES else None
    status = args.get("status") or None
    status = status if status in STATUS_LABELS else None
    web_session[INBOX_FILTERS] = {"user": actor.user_id, "tab": tab, "q": q, "procedure": procedure, "status": status}
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
        unit_filed=unit_filed(),
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
            # a message event's task name is the BPMN message's name: shown in words, never as the code
            "title": MESSAGE_LABELS.get(e.task_name or "", e.task_name) if e.action == "message" else e.task_name,
            "who": _("系统") if is_system_event(e) else users_by_name.get(e.actor, e.actor),
            "system": is_system_event(e),
            "lines": _describe(e, fields, users_by_name, c.procedure),
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
        accepted_on=queries.acceptance_date(c, trail),
        dossier=dossier_svc.build(s, c, trail),
        unit_name=units.get(c.unit_code, c.unit_code),
        unit_label=_unit_label(c),
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
        regular_post_status=REGULAR_POST_STATUS,
        may_record_move=bool(
            post
            and post.regular_post_status == "pending"
            and actor.role in ("unit_hr", "hrss")
            and (actor.role != "unit_hr" or actor.unit_code == c.unit_code)
        ),
        doc_status=DOC_STATUS,
        in_publicity=c.status == "running" and _waits_for_objection(c),
        incident=incidents.open_incident(s, c.id) if c.status == "error" else None,
        answers_return=c.status == "returned" and handling.answers_returns(actor, c),
        unit_corrects=handling.returned_to_unit(c),
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
        unit_label=_unit_label(c),
        due=due_class(task.due_on, today, cal),
        assignee=users_by_id.get(task.assignee_id) if task.assignee_id else None,
        mine=task.assignee_id == actor.user_id,
        taken=task.assignee_id not in (None, actor.user_id),
        return_values=return_values or {},
        return_errors=return_errors or {},
        material_status=MATERIAL_STATUS,
        dossier=dossier_svc.build(s, c),
        came_back=_banner(s, c, dossier_svc.task_return(s, c, task.spec_name, task.title)),
        incident=incidents.open_incident(s, c.id) if c.status == "error" else None,
        unit_corrects=handling.returned_to_unit(c),
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
    errors = {**vote_errors(schema, data), **errors}
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
    return _to_next_task(s, actor)


def _to_next_task(s, actor: Actor):
    """After a submission: straight on to the desk's next open task, or back to the inbox when there is none."""
    nxt = queries.next_task(s, actor)
    if nxt is None:
        flash(_("本岗位暂无其他待办，已返回待办列表"), "info")
        return redirect(url_for("officer.inbox"), code=303)
    t, c = nxt
    flash(_("下一件待办：%(case_no)s「%(step)s」", case_no=c.case_no, step=t.title), "info")
    return redirect(url_for("officer.task", case_no=c.case_no, task_id=t.task_id), code=303)


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
        (
            _("已将「%(step)s」退回用人单位补正", step=title)
            if handling.returned_to_unit(c)
            else _("已将「%(step)s」退回申请人补正", step=title)
        )
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


# ------------------------------------------------------------------------------------------------ issue #10: pages
# for what only the API did: a special post filed by unit HR, its early 核销, a 公示 objection; the vote's counts.
WRITEOFF_CHOICES = {
    "task_done": _l("任务完成"),
    "resigned": _l("辞聘"),
    "dismissed": _l("解聘"),
    "term_end": _l("期满"),  # offered only from the term's last day on (the timer writes it off that day)
}
SPECIAL_POST_HELP = {
    "post_level": _l("如：专业技术二级岗位"),
    "term_months": _l(
        "按月计，不超过规定的最长聘期；聘期至期满月对应日的前一日止（如7月1日起聘60个月，至第五年6月30日止）"
    ),
    "requested_start_on": _l("聘期自此日起算；核准晚于此日或未填写的，自核准之日起聘"),
    "unit_has_vacancy_at_level": _l("本单位有相应等级空缺岗位的，应使用空缺岗位，不设特设岗位"),
}


def _filing_fields(proc, values=None, errors=None) -> list[schema_forms.Field]:
    """The registry's start form of a procedure the unit files, without what the page fixes (the unit: the
    officer's own)."""
    names = [n for n in proc.start_schema["properties"] if n not in ("unit_code", "materials")]
    props = proc.start_schema["properties"]
    overrides: dict[str, dict] = (  # a help text an administrator set (事项配置) wins
        {n: {"description": str(h)} for n, h in SPECIAL_POST_HELP.items() if not props.get(n, {}).get("description")}
        if proc.id == SPECIAL_POST_ID
        else {}
    )
    overrides[proc.person_fields[1]] = {"kind": "text", "max_length": 18}  # one line, 18 characters
    return schema_forms.build_fields(proc.start_schema, values, errors, names=names, overrides=overrides)


def _filing_page(proc, values=None, errors=None, file_errors=None, status: int = 200):
    from webapp import uploads

    s = db_session()
    actor = current_actor()
    special = proc.id == SPECIAL_POST_ID
    return render_template(
        "officer/special_post_new.html",
        proc=proc,
        special=special,
        action=url_for("officer.special_post_new") if special else url_for("officer.unit_filing", procedure=proc.id),
        fields=_filing_fields(proc, values, errors),
        materials=proc.materials,
        file_errors=file_errors or {},
        unit_name=s.scalar(select(Unit.name).where(Unit.code == actor.unit_code)) or actor.unit_code,
        max_mb=uploads.MAX_FILE_MB,
        accept=uploads.ACCEPT,
    ), status


SPECIAL_POST_ID = next(p.id for p in PROCEDURES.values() if p.rule_id == "R8")
FILE_TYPES = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}  # checked by content


def unit_filed() -> list:
    """The configured matters a unit files about a person (事项配置; the special post has its own page)."""
    return [p for p in PROCEDURES.values() if p.kind == "application" and not p.applicant_may_start and p.configured]


@bp.route("/special-posts/new", methods=["GET", "POST"])
@roles_required("unit_hr")
def special_post_new():
    """Unit HR files a 特设岗位 application for its own unit: the start form, the materials, then 主管部门's inbox."""
    return _unit_filing(PROCEDURES[SPECIAL_POST_ID])


@bp.route("/apply/<procedure>", methods=["GET", "POST"])
@roles_required("unit_hr")
def unit_filing(procedure: str):
    """Unit HR files a configured matter (事项配置) for a person of its own unit."""
    proc = next((p for p in unit_filed() if p.id == procedure), None)
    if proc is None:
        abort(404)
    return _unit_filing(proc)


def _unit_filing(proc):
    from webapp import uploads

    if request.method == "GET":
        return _filing_page(proc)
    s = db_session()
    actor = current_actor()
    fields = _filing_fields(proc)
    names = {f.name for f in fields}
    values = {k: v for k, v in request.form.items() if k in names}
    data, errors = schema_forms.parse_fields(fields, request.form)
    files, file_errors = {}, {}
    for m in proc.materials:
        try:
            item = uploads.check(request.files.get("file_" + m.code), m.name)
        except uploads.UploadRejected as e:
            file_errors[m.code] = e.message
            continue
        if item is not None and FILE_TYPES.get(item.mimetype) not in m.file_types:
            types = "、".join(t.upper() for t in m.file_types)
            file_errors[m.code] = _("“%(item)s”只接受 %(types)s 文件", item=m.name, types=types)
            continue
        if item is not None:
            files[m.code] = item
    data.update(unit_code=actor.unit_code or "", materials=sorted(files))
    try:  # the schema's own findings (a required field left empty) beside the conversion errors
        validate(proc.start_schema, data)
    except ValidationFailed as e:
        errors = {**schema_forms.friendly(proc.start_schema, (e.details or {}).get("fields") or {}), **errors}
    missing = [m for m in proc.materials if m.required_at_intake and m.code not in files]
    for m in missing:
        file_errors.setdefault(m.code, _("请上传“%(item)s”（必备材料）", item=m.name))
    if errors or file_errors:
        flash(_("表单填写有误，请按提示修改（材料文件需重新选择）"), "error")
        return _filing_page(proc, values, errors, file_errors, 422)
    for item in files.values():  # stored before the case exists: a failed start leaves only an unreferenced file
        uploads.store(item)
    try:
        case = cases.start_case(
            s,
            proc.id,
            data,
            actor,
            files={c: cases.FileRef(f.sha256, f.display_name) for c, f in files.items()},
        )
    except ValidationFailed as e:
        flash(e.message, "error")
        return _filing_page(
            proc, values, schema_forms.friendly(proc.start_schema, e.details.get("fields", {})), {}, 422
        )
    if proc.id == SPECIAL_POST_ID:
        flash(_("特设岗位申请已提交，办件编号 %(case_no)s，已送主管部门审核。", case_no=case.case_no), "success")
    else:
        flash(_("申请已提交，办件编号 %(case_no)s。", case_no=case.case_no), "success")
    return redirect(url_for("officer.case", case_no=case.case_no), code=303)


@bp.route("/cases/<case_no>/resubmit", methods=["GET", "POST"])
@roles_required("unit_hr")
def resubmit(case_no: str):
    """The unit HR desk answers a return of a case its unit filed: the applicant's correction form and service."""
    from webapp.applicant import answer_return

    c = queries.get_case(db_session(), current_actor(), case_no)
    if c.status == "returned" and not handling.answers_returns(current_actor(), c):
        raise Forbidden("只能重新提交本单位的申请")
    return answer_return(c, url_for("officer.case", case_no=case_no))


def _active_post(case_no: str) -> tuple[Case, SpecialPost]:
    """A case in scope with its special post still active (else a message on the case page)."""
    s = db_session()
    c = queries.get_case(s, current_actor(), case_no)
    post = s.scalar(select(SpecialPost).where(SpecialPost.case_id == c.id))
    if post is None or post.status != "active":
        flash(_("该办件没有在聘期内的特设岗位，不能提前核销"), "warning")
        abort(redirect(url_for("officer.case", case_no=case_no), code=303))
    return c, post


@bp.route("/cases/<case_no>/writeoff", methods=["GET", "POST"])
@roles_required("unit_hr", "hrss")
def writeoff(case_no: str):
    """Early 核销 of an active special post (R8) with its reason; whether the holder moves to a regular post is the
    posts register's answer (a vacancy at the level), shown here."""
    c, post = _active_post(case_no)
    actor = current_actor()
    if actor.role == "unit_hr" and actor.unit_code != c.unit_code:
        raise Forbidden("只能核销本单位的特设岗位")
    choices = {k: v for k, v in WRITEOFF_CHOICES.items() if k != "term_end" or today_local() >= post.term_end}
    error, reason = None, request.form.get("reason") or ""
    if request.method == "POST":
        if reason not in choices:
            error = _("请选择核销原因")
        else:
            try:
                cases.request_writeoff(db_session(), case_no, reason, f"writeoff:{case_no}", actor)
            except DomainError as e:
                return _domain_redirect(e, url_for("officer.case", case_no=case_no))
            flash(_("特设岗位已核销（%(reason)s）", reason=WRITEOFF_CHOICES[reason]), "success")
            return redirect(url_for("officer.case", case_no=case_no), code=303)
    register_post = posts.post_at(db_session(), c.unit_code, post.post_level)
    return render_template(
        "officer/writeoff.html",
        case=c,
        post=post,
        choices=choices,
        reason=reason,
        register_post=register_post,
        error=error,
    ), (422 if error else 200)


@bp.route("/cases/<case_no>/regular-post", methods=["GET", "POST"])
@roles_required("unit_hr", "hrss")
def regular_post(case_no: str):
    """R8 after 核销: record that the holder left pending has moved to a regular post of the level (a vacancy opened)."""
    s = db_session()
    actor = current_actor()
    c = queries.get_case(s, actor, case_no)
    post = s.scalar(select(SpecialPost).where(SpecialPost.case_id == c.id))
    if post is None or post.regular_post_status != "pending":
        flash(_("该特设岗位没有待转聘的人员"), "warning")
        return redirect(url_for("officer.case", case_no=case_no), code=303)
    values = {"regular_post_on": request.form.get("regular_post_on") or today_local().isoformat(), "note": ""}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values["note"] = request.form.get("note") or ""
        status = 422
        try:
            cases.record_regular_post(s, case_no, actor, values["regular_post_on"], values["note"])
        except ValidationFailed as e:
            errors = dict((e.details or {}).get("fields") or {}) or {"regular_post_on": e.message}
        except Conflict as e:
            if not (e.details or {}).get("fields"):
                return _domain_redirect(e, url_for("officer.case", case_no=case_no))
            flash(e.message, "error")  # no vacancy at the level in the posts register
            errors, status = dict(e.details["fields"]), e.status
        except DomainError as e:
            return _domain_redirect(e, url_for("officer.case", case_no=case_no))
        else:
            flash(_("已登记转聘至正常岗位"), "success")
            return redirect(url_for("officer.case", case_no=case_no), code=303)
    register_post = posts.post_at(s, c.unit_code, post.post_level)
    return render_template(
        "officer/regular_post.html", case=c, post=post, values=values, errors=errors, register_post=register_post
    ), (status if errors else 200)


@bp.route("/special-posts")
@roles_required("unit_hr", "dept", "hrss", "admin")
def special_posts():
    """The special post ledger in the officer's scope: terms, the day each 核销 is scheduled for, how it ended."""
    s = db_session()
    rows = queries.special_posts(s, current_actor())
    units = {u.code: u.name for u in s.scalars(select(Unit))}
    return render_template(
        "officer/special_posts.html",
        rows=rows,
        units=units,
        post_status=POST_STATUS,
        regular_post_status=REGULAR_POST_STATUS,
        today=today_local(),
    )


def _waits_for_objection(c: Case) -> bool:
    from workflows.domain.models import MessageSubscription

    return (
        db_session().scalar(
            select(MessageSubscription.id).where(
                MessageSubscription.case_id == c.id, MessageSubscription.message_name == "objection"
            )
        )
        is not None
    )


@bp.route("/cases/<case_no>/objection", methods=["GET", "POST"])
@roles_required(*OFFICER_ROLES)
def objection(case_no: str):
    """Record an objection received during the case's 公示 (R7): who, when, what, an optional attachment. The finding
    is the 异议核查 step that the objection opens (the case then waits for it)."""
    from uuid import uuid4

    from webapp import uploads

    s = db_session()
    actor = current_actor()
    c = queries.get_case(s, actor, case_no)
    if not _waits_for_objection(c):
        flash(_("该办件当前不在公示期，不能登记异议"), "warning")
        return redirect(url_for("officer.case", case_no=case_no), code=303)
    values = {
        "by": (request.form.get("by") or "").strip(),
        "received_on": (request.form.get("received_on") or today_local().isoformat()).strip(),
        "text": (request.form.get("text") or "").strip(),
        "key": request.form.get("key") or uuid4().hex,
    }
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not values["by"]:
            errors["by"] = _("此项为必填项")
        elif len(values["by"]) > 100:
            errors["by"] = _("不能超过 %(n)s 个字", n=100)
        try:
            received = date.fromisoformat(values["received_on"])
            if received > today_local():
                errors["received_on"] = _("收到日期不能晚于今天")
        except ValueError:
            errors["received_on"] = _("请输入日期，如 2026-03-02")
        if not values["text"]:
            errors["text"] = _("此项为必填项")
        elif len(values["text"]) > 2000:
            errors["text"] = _("不能超过 %(n)s 个字", n=2000)
        attachment = None
        try:
            item = uploads.check(request.files.get("attachment"), _("异议材料"))
        except uploads.UploadRejected as e:
            errors["attachment"], item = e.message, None
        if not errors:
            if item is not None:
                uploads.store(item)
                attachment = {"file_name": item.display_name, "sha256": item.sha256}
            try:
                cases.record_objection(
                    s,
                    case_no,
                    values["text"],
                    values["by"],
                    f"objection:{case_no}:{values['key'][:64]}",
                    actor,
                    received_on=values["received_on"],
                    attachment=attachment,
                )
            except DomainError as e:
                return _domain_redirect(e, url_for("officer.case", case_no=case_no))
            flash(_("异议已登记，办件转入异议核查，核查结论在该环节填写。"), "success")
            return redirect(url_for("officer.case", case_no=case_no) + "#timeline", code=303)
        flash(_("表单填写有误，请按提示修改"), "error")
    return render_template("officer/objection.html", case=c, values=values, errors=errors), (422 if errors else 200)


@bp.get("/cases/<case_no>/objection-files/<sha256>")
@roles_required(*OFFICER_ROLES, "admin")
def objection_file(case_no: str, sha256: str):
    """An objection's attachment, for officers who see the case (only a file an objection of this case names)."""
    import io

    from flask import send_file

    from webapp import uploads

    s = db_session()
    c = queries.get_case(s, current_actor(), case_no)
    named = any(
        ((e.payload or {}).get("payload") or {}).get("attachment", {}).get("sha256") == sha256
        for e in queries.timeline(s, c)
        if e.action == "message" and e.task_name == "objection"
    )
    stored = uploads.read(sha256) if named else None
    if stored is None:
        abort(404)
    return send_file(io.BytesIO(stored.content), mimetype=stored.mimetype, etag=stored.sha256)


def vote_errors(schema: dict, data: dict) -> dict[str, str]:
    """The committee's counts (应到 ≥ 实到, 同意 + 不同意 + 弃权 = 实到, the quorum; workflows.domain.votes) —
    checked on the form, before the engine (whose refusal would lose what was typed)."""
    props = schema.get("properties") or {}
    if "experts_present" not in props or "votes_for" not in props:
        return {}
    return votes.count_errors(data, get_params(db_session())["vote_quorum"])


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
