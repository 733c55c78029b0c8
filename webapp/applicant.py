"""Applicant portal (申请人): apply, track, supply owed items, withdraw, download notices, rate.

Routes are thin: parse the form, check uploads (uploads.py), call a workflows service, render. The pages only ever
reach the signed-in applicant's own cases (queries.get_case / list_cases scope them; anything else is 404).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp import _date_cn, schema_forms, uploads
from webapp.db import db_session
from webapp.documents_web import send_archived_pdf
from webapp.security import current_actor, roles_required
from workflows.domain import procedures
from workflows.domain.actors import ROLE_LABELS, Actor
from workflows.domain.clock import today_local
from workflows.domain.errors import DomainError, NotFound, ValidationFailed
from workflows.domain.forms import validate
from workflows.domain.models import Case, CaseEvent, Correction, Draft, OpenTask, Rating, Unit
from workflows.infra.db import transaction
from workflows.services import achievements, cases, handling, queries, rights
from workflows.services.archive import procedure_of
from workflows.services.audit import PendingEvent, append_event
from workflows.services.runtime import TERMINAL, lock_case
from workflows.services.settings import get_params, load_calendar

bp = Blueprint("applicant", __name__, url_prefix="/my")


def _intros() -> dict[str, str]:
    """Procedure id → what the choice page says about it, in the page's language (the registry holds both)."""
    en = str(get_locale() or "").startswith("en")
    return {p.id: (p.intro_en if en else p.intro) for p in procedures.PROCEDURES.values()}


def _may_apply(procedure: str) -> bool:
    """An applicant applies here for the procedures the registry opens to them (特设岗位 is filed by the unit)."""
    p = procedures.PROCEDURES.get(procedure)
    return p is not None and p.applicant_may_start and p.kind == "application"


FIXED_FIELDS = ("applicant_name", "id_number", "materials")
REGION_OFFICE = {"bianban": "BB", "hrss": "RS", "committee": "PW"}
ENUM_LABELS = {
    "introduction_mode": {"rigid": _l("刚性引进"), "flexible": _l("柔性引进"), "local": _l("本地培养人才")},
    "achievement": {
        "major_basic_research": _l("取得重大基础研究成果"),
        "key_core_technology": _l("突破关键核心技术"),
        "major_engineering_problem": _l("解决重大工程技术难题"),
        None: _l("无"),
    },
    "target_level": {"副高": _l("副高级"), "正高": _l("正高级")},
    "hire_type": {"outside_establishment": _l("编制外聘用"), "new_hire": _l("新引进")},
    "complaint_type": {"complaint": _l("投诉"), "feedback": _l("意见反馈")},
}
# Start-schema fields the form does not show: outside_establishment is the older API spelling of hire_type (R5).
HIDDEN_FIELDS = ("outside_establishment",)
CATEGORY_LABELS = {
    1: _l("第一类"),
    2: _l("第二类"),
    3: _l("第三类"),
    4: _l("第四类"),
    5: _l("第五类"),
    6: _l("第六类"),
    7: _l("第七类"),
}
FIELD_HELP = {
    "unit_code": _l("拟聘（现聘）的事业单位。"),
    "talent_category": _l(
        "按自治区高层次人才分类目录认定的类别（各事项适用的类别见页首说明）；尚未认定的请选“未认定”。"
    ),
    "introduction_mode": _l("刚性引进：人事关系转入本单位；柔性引进：不转人事关系。"),
    "hire_type": _l(
        "目前已在本单位以编制外聘用方式工作的，选“编制外聘用”（须经单位考核合格后列编）；新引进的选“新引进”。"
    ),
    "original_hire_date": _l("编制外聘用人员填写在本单位的原聘用日期（列编后保留，并载入列编备案表）。"),
    "achievement": _l("如有，选择最符合的一项；业绩证明材料在第三步上传。"),
    "current_post": _l("现聘的专业技术岗位等级，如“专业技术三级”。"),
    "current_post_since": _l("现岗位的聘用时间；三类以上人才破格申报不受正高级岗位受聘年限限制。"),
}
DECISION_WORDS = {
    "approve": _l("同意"),
    "refuse": _l("不同意"),
    "pass": _l("合格"),
    "fail": _l("不合格"),
    "upheld": _l("异议成立"),
    "rejected": _l("异议不成立"),
    "dismissed": _l("异议不成立"),
}


# ---------------------------------------------------------------------------------------------------------------
# The guided form: fields from the start schema (Chinese labels from its titles), rendered by schema_forms
# ---------------------------------------------------------------------------------------------------------------
def form_fields(
    session: Session,
    procedure: str,
    values: dict | None = None,
    errors: dict | None = None,
    only: Iterable[str] | None = None,
    proc: procedures.Procedure | None = None,
) -> list[schema_forms.Field]:
    """The applicant's part of the start schema (identity and materials come from elsewhere), 用人单位 first; every
    choice a select. `only` keeps just those fields (the correctable ones of a resubmission)."""
    schema = (proc or procedures.get(procedure)).start_schema  # `proc`: a running case's version of its matter
    props = schema["properties"]
    names = [
        n
        for n in ["unit_code"] + [n for n in props if n != "unit_code"]
        if n not in FIXED_FIELDS and n not in HIDDEN_FIELDS and (only is None or n in only)
    ]
    # 事项配置: a help text or a choice's label an administrator set in the schema wins over the built-in ones
    overrides: dict[str, dict] = {
        name: {"description": str(hint)}
        for name, hint in FIELD_HELP.items()
        if not props.get(name, {}).get("description")
    }
    units = session.scalars(select(Unit).where(Unit.kind == "unit").order_by(Unit.code))
    overrides.setdefault("unit_code", {})["options"] = [(u.code, u.name) for u in units]
    overrides.setdefault("talent_category", {})["options"] = [(n, str(lbl)) for n, lbl in CATEGORY_LABELS.items()] + [
        (None, _("未认定"))
    ]
    if "achievement" in names:  # R9: the register's entries active today (the start service checks again)
        labels = ENUM_LABELS["achievement"]
        overrides.setdefault("achievement", {})["options"] = [
            (c.code, str(labels.get(c.code, c.name))) for c in achievements.choices(session)
        ] + [(None, _("无"))]
    for name in names:
        if "enum" in props[name]:
            labels = enum_labels(props[name], name)
            overrides.setdefault(name, {})["options"] = [(v, labels[v]) for v in props[name]["enum"]]
    return schema_forms.build_fields(schema, values, errors, names=names, overrides=overrides, radio_max=0)


def enum_labels(prop: dict, name: str) -> dict:
    """value → label of a choice: the schema's (事项配置; translated when it is a built-in label), else the built-in."""
    titles = list(prop.get("x-enumTitles") or [])
    built_in = ENUM_LABELS.get(name, {})
    out = {}
    for i, v in enumerate(prop.get("enum") or []):
        if i < len(titles) and titles[i]:
            out[v] = _(titles[i])
        else:
            out[v] = str(built_in.get(v, _("无") if v is None else str(v)))
    return out


def parse_form(fields: list[schema_forms.Field], form) -> tuple[dict, dict[str, str]]:
    """Typed values as the start schema wants them (a required field left empty is left out → 此项为必填项; an
    optional text cleared is kept as "" so a correction can clear it), and the values no choice allows."""
    return schema_forms.parse_fields(fields, form, keep_blank=True)


def _own_draft(session: Session, actor: Actor, draft_id: int | None) -> Draft | None:
    if draft_id is None:
        return None
    draft = next((d for d in handling.drafts_of(session, actor) if d.id == draft_id), None)
    if draft is None:
        raise NotFound("草稿不存在")
    return draft


def _identity() -> tuple[str, str]:
    actor = current_actor()
    if not actor.id_number:
        raise ValidationFailed("您的账号没有登记公民身份号码，无法提交申请，请联系系统管理员")
    return current_user.display_name, actor.id_number


def attach_files(
    session: Session, case_no: str, files: Mapping[str, uploads.Checked | KeptFile], via: str = "application"
) -> None:
    """Record the stored file (name for display, sha256) of each item received with an application or a
    resubmission, in one transaction; the trail keeps each file's sha256 (the dossier's history of a material)."""
    if not files:
        return
    with transaction(session):
        case = lock_case(session, case_no)
        for m in case.materials:
            item = files.get(m.code)
            if item is not None and m.status == "received":
                m.file_name, m.sha256 = item.display_name, item.sha256
                append_event(
                    session,
                    case,
                    PendingEvent(
                        current_actor().username,
                        "file_attached",
                        m.name,
                        payload={"code": m.code, "file_name": item.display_name, "sha256": item.sha256, "via": via},
                    ),
                )


def _check_files(
    codes: list[tuple[str, str]], prefix: str = "file_"
) -> tuple[dict[str, uploads.Checked], dict[str, str]]:
    """Check every chosen file (nothing is stored yet); returns the good ones and a message per bad input."""
    good, errors = {}, {}
    for code, name in codes:
        try:
            item = uploads.check(request.files.get(prefix + code), name)
        except uploads.UploadRejected as e:
            errors[code] = e.message
            continue
        if item is not None:
            good[code] = item
    return good, errors


# ---------------------------------------------------------------------------------------------------------------
# Home, new application, drafts
# ---------------------------------------------------------------------------------------------------------------
@bp.get("/")
@roles_required("applicant")
def home():
    s, actor = db_session(), current_actor()
    page = queries.list_cases(s, actor, page=request.args.get("page", 1, type=int))
    hints = {c.id: _case_hint(c) for c in page.items}
    drafts = handling.drafts_of(s, actor)
    return render_template(
        "applicant/home.html",
        page=page,
        hints=hints,
        drafts=drafts,
        posts=queries.posts_held(s, actor),
        units=_unit_names(s),
    )


def _case_hint(case: Case) -> str:
    """The one thing the applicant should know about a case at a glance (dates, not durations)."""
    if _commitment_task(case) is not None:
        return _("待您签署容缺承诺书")
    if case.status == "returned":
        return _("已退回补正，请按要求修改后重新提交")
    owed = [m for m in case.materials if m.status == "owed"]
    if owed and case.status not in TERMINAL:
        due = min((m.deadline for m in owed if m.deadline), default=None)
        return (
            _("尚欠材料 %(n)s 项，请于%(date)s前补齐", n=len(owed), date=_date_cn(due))
            if due
            else _("尚欠材料 %(n)s 项", n=len(owed))
        )
    if any(t.role == "applicant" and (t.form or "").startswith("rights_rating") for t in case.open_tasks):
        return _("已答复，请评价")
    if case.status in handling.RATEABLE:
        return _("已办结，欢迎评价") if case.status == "completed" else (case.outcome_reason or "")
    if case.open_tasks:
        t = case.open_tasks[0]
        return _("%(step)s（%(role)s办理中）", step=t.title, role=ROLE_LABELS.get(t.role, t.role))
    return ""


@bp.get("/new")
@roles_required("applicant")
def new():
    s, actor = db_session(), current_actor()
    mine = procedures.applicant_procedures()
    return render_template(
        "applicant/new.html",
        procedures=[p.id for p in mine],
        intro=_intros(),
        unit_only=[p.id for p in procedures.PROCEDURES.values() if not p.applicant_may_start],
        drafts=handling.drafts_of(s, actor),
        checklists={p.id: p.materials for p in mine},
    )


def _apply_page(procedure: str, values: dict, draft: Draft | None, errors: dict, file_errors: dict, status: int = 200):
    s = db_session()
    proc = procedures.get(procedure)
    return render_template(
        "applicant/apply.html",
        procedure=procedure,
        intro=_intros()[procedure],
        rongque=proc.rongque,
        fields=form_fields(s, procedure, values, errors),
        draft=draft,
        kept=handling.draft_files(draft),
        file_errors=file_errors,
        materials=proc.materials,
        max_mb=uploads.MAX_FILE_MB,
        accept=uploads.ACCEPT,
        request_mb=(current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024),
        identity=_identity(),
        rongque_days=get_params(s)["rongque_days"],
    ), status


@bp.get("/new/<procedure>")
@roles_required("applicant")
def apply(procedure: str):
    if not _may_apply(procedure):
        if procedure in procedures.PROCEDURES:  # filed by the unit: say so on the choice page
            flash(_intros()[procedure], "info")
            return redirect(url_for("applicant.new"))
        abort(404)
    s, actor = db_session(), current_actor()
    draft = _own_draft(s, actor, request.args.get("draft", type=int))
    if draft is not None and draft.procedure != procedure:
        return redirect(url_for("applicant.apply", procedure=draft.procedure, draft=draft.id))
    values = (
        schema_forms.form_values(form_fields(s, procedure), handling.draft_fields(draft))
        if draft
        else {"unit_code": actor.unit_code or ""}
    )
    return _apply_page(procedure, values, draft, {}, {})


@dataclass(frozen=True)
class KeptFile:
    """A file stored with a draft, standing in for an `uploads.Checked` when the case is started."""

    sha256: str
    display_name: str


def _kept_and_new(draft: Draft | None, procedure: str) -> tuple[dict[str, KeptFile], dict[str, str]]:
    """Check and store every file chosen now (a good file is stored at once, so that a later error cannot lose it);
    the draft's files fill in the items not chosen again, a new choice replaces the kept one, a "remove" box drops
    it. Returns the files by material code and a message per rejected file."""
    codes = [(m.code, m.name) for m in procedures.get(procedure).materials]
    dropped = set(request.form.getlist("remove_file"))
    files = {
        c: KeptFile(f["sha256"], f.get("file_name") or "")
        for c, f in handling.draft_files(draft).items()
        if c not in dropped
    }
    good, file_errors = _check_files(codes)
    for code, item in good.items():
        uploads.store(item)
        files[code] = KeptFile(item.sha256, item.display_name)
    return files, file_errors


def _keep(actor: Actor, procedure: str, data: dict, draft: Draft | None, files: dict[str, KeptFile]) -> Draft:
    kept = {c: {"sha256": f.sha256, "file_name": f.display_name} for c, f in files.items()}
    return handling.save_draft(db_session(), actor, procedure, data, draft.id if draft else None, files=kept)


@bp.post("/new/<procedure>")
@roles_required("applicant")
def submit(procedure: str):
    if not _may_apply(procedure):
        abort(404)
    s, actor = db_session(), current_actor()
    draft = _own_draft(s, actor, request.form.get("draft_id", type=int))
    if draft is not None and draft.procedure != procedure:
        abort(404)
    fields = form_fields(s, procedure)
    data, errors = parse_form(fields, request.form)
    values = {k: v for k, v in request.form.items() if k in {f.name for f in fields}}
    name, id_number = _identity()
    files, file_errors = _kept_and_new(draft, procedure)
    if request.form.get("action") == "draft":  # a draft keeps what is valid so far, and the files that passed
        saved = _keep(actor, procedure, data, draft, files)
        flash(
            _("草稿已保存（%(date)s），已上传的材料文件随草稿保存。", date=_date_cn(today_local()))
            + (
                _("有材料文件未通过检查，未保存：%(items)s。", items="；".join(file_errors.values()))
                if file_errors
                else ""
            ),
            "success" if not file_errors else "warning",
        )
        return redirect(url_for("applicant.apply", procedure=procedure, draft=saved.id))
    if file_errors or errors:
        # Nothing is lost: the fields come back as typed and every file that passed stays with the draft.
        draft = _keep(actor, procedure, data, draft, files)
        flash(
            _("有材料文件未通过检查，请按提示重新选择；其他已上传的文件已保存，无需重新选择。")
            if file_errors
            else _("表单填写有误，请按提示修改") + (_("（已上传的材料文件已保存，无需重新选择）") if files else ""),
            "error",
        )
        return _apply_page(procedure, values, draft, errors, file_errors, 422)
    refusals = handling.refused_at_once(s, procedure, id_number, set(files), data)
    full = {**data, "applicant_name": name, "id_number": id_number, "materials": sorted(files)}
    try:  # the form's own mistakes come back on the form before any talk of refusal
        validate(procedures.get(procedure).start_schema, full, "申请表")
    except ValidationFailed as e:
        refusals = []
        if request.form.get("confirm") != "1":
            draft = _keep(actor, procedure, data, draft, files)
            flash(e.message + (_("（已上传的材料文件已保存，无需重新选择）") if files else ""), "error")
            return _apply_page(procedure, values, draft, dict((e.details or {}).get("fields") or {}), {}, 422)
    if refusals and request.form.get("confirm") != "1":
        draft = _keep(actor, procedure, data, draft, files)
        return render_template(
            "applicant/confirm_submit.html",
            procedure=procedure,
            draft=draft,
            refusals=refusals,
            values=values,
            files=files,
            materials=procedures.get(procedure).materials,
        )
    try:  # the one start service (the API's too): the files stored above, the draft consumed with the start
        case = cases.start_case(
            s,
            procedure,
            full,
            actor,
            files={c: cases.FileRef(f.sha256, f.display_name) for c, f in files.items()},
            draft_id=draft.id if draft is not None else None,
        )
    except ValidationFailed as e:
        errors = dict((e.details or {}).get("fields") or {})
        draft = _keep(actor, procedure, data, draft, files)
        flash(e.message + (_("（已上传的材料文件已保存，无需重新选择）") if files else ""), "error")
        return _apply_page(procedure, values, draft, errors, {}, 422)
    s.refresh(case)
    if _commitment_task(case) is not None:
        flash(_("关键材料已齐全，可以容缺受理：请阅读并签署容缺受理承诺书。"), "warning")
        return redirect(url_for("applicant.commitment", case_no=case.case_no))
    if case.status in ("not_accepted", "refused"):
        flash(_("申请已提交，但未予受理：%(reason)s", reason=case.outcome_reason or ""), "error")
    else:
        flash(_("申请已提交，办件编号 %(case_no)s。", case_no=case.case_no), "success")
    return redirect(url_for("applicant.status", case_no=case.case_no))


@bp.post("/drafts/<int:draft_id>/delete")
@roles_required("applicant")
def delete_draft(draft_id: int):
    handling.delete_draft(db_session(), current_actor(), draft_id)
    flash(_("草稿已删除"), "success")
    return redirect(url_for("applicant.new"))


# ---------------------------------------------------------------------------------------------------------------
# The status page (一网通办 style)
# ---------------------------------------------------------------------------------------------------------------
def _commitment_task(case: Case) -> OpenTask | None:
    """The applicant's open 签署容缺承诺书 step (form rongque_commitment.schema.json), if any."""
    return next(
        (
            t
            for t in case.open_tasks
            if t.role == "applicant" and (t.form or "").split(".", 1)[0] == "rongque_commitment"
        ),
        None,
    )


def _unit_names(session: Session) -> dict[str, str]:
    return {u.code: u.name for u in session.scalars(select(Unit))}


def holder_of(task: OpenTask, units: dict[str, str]) -> str:
    """Who holds a step: the role and the office or unit."""
    role = ROLE_LABELS.get(task.role, task.role)
    if task.role == "applicant":
        return _("申请人（本人）")
    code = task.scope_unit_code or REGION_OFFICE.get(task.role)
    place = units.get(code or "", "")
    if task.role == "unit_hr":
        return _("%(unit)s 人事部门", unit=place) if place else role
    if task.role == "dept":
        return _("%(unit)s（主管部门）", unit=place) if place else role
    return place or role


def _d(value) -> str:
    return _date_cn(value) if value else ""


def describe(e: CaseEvent, procedure: str, units: dict[str, str]) -> str | None:
    """One timeline line in plain Chinese (dates, not durations); None for bookkeeping the applicant needn't see."""
    p, name = e.payload or {}, e.task_name or ""
    a = e.action
    if a == "submitted":
        n = len(p.get("materials") or [])
        return _("提交申请（随申请提交材料 %(n)s 项）", n=n)
    if a == "accepted":
        if p.get("mode") == "rongque":
            return _(
                "容缺受理：承诺%(promised)s前办结；容缺材料须于%(deadline)s前补齐",
                promised=_d(p.get("promised_on")),
                deadline=_d(p.get("rongque_deadline")),
            )
        return (
            _("即收即办，当日受理：承诺%(promised)s前办结", promised=_d(p.get("promised_on")))
            if p.get("promised_on")
            else _("即收即办，当日受理")
        )
    if a == "task_opened":
        if p.get("role") == "applicant":
            return _("待申请人办理「%(step)s」", step=name)
        who = ROLE_LABELS.get(p.get("role"), p.get("role") or "")
        due = _("，办理期限%(date)s", date=_d(p.get("due"))) if p.get("due") else ""
        return _("进入「%(step)s」环节（%(who)s）", step=name, who=who) + due
    if a == "task_completed":
        data = p.get("data") or {}
        verdict = next(
            (
                DECISION_WORDS.get(v, "")
                for k, v in data.items()
                if k.endswith(("_decision", "_result")) and isinstance(v, str)
            ),
            "",
        )
        if p.get("role") == "applicant":
            return _("申请人已完成「%(step)s」", step=name)
        return _("「%(step)s」办理完毕", step=name) + (f"：{verdict}" if verdict else "")
    if a == "decision":
        reason = p.get("reason")
        if name == "材料审查" and reason:
            return _("材料审查：%(reason)s", reason=reason)
        if name == "科研失信核查":
            return (
                _("科研失信核查：未发现失信记录")
                if not p.get("blocked")
                else _("科研失信核查：%(reason)s", reason=reason or _("不符合条件"))
            )
        return f"{name}：{reason}" if reason else None
    if a == "material_received":
        return _("收到补交材料：%(item)s", item=name)
    if a == "message":
        if name == "容缺材料补齐" or name == "rongque_supplied":
            return _("容缺材料已全部补齐")
        if name == "objection":
            return _("公示期间收到异议，暂停核查")
        return None
    if a == "returned":
        if p.get("target") == "applicant":
            return _("「%(step)s」环节退回申请人补正：%(reason)s", step=name, reason=p.get("reason", ""))
        return _("「%(step)s」环节退回至「%(target)s」重新办理", step=name, target=p.get("target", ""))
    if a == "resubmitted":
        return _("申请人已补正并重新提交")
    if a == "hold":
        return _("暂停办理（%(reason)s），暂停期间不计入办理时限", reason=name)
    if a == "resume":
        return _("恢复办理")
    if a == "publicity":
        return (
            _("公示：%(start)s至%(end)s", start=_d(p.get("start")), end=_d(p.get("end")))
            if p.get("start")
            else _("启动公示")
        )
    if a == "deadline":
        return _("备案期限：%(date)s", date=_d(p.get("due"))) if p.get("due") else None
    if a == "document":
        return _("出具「%(doc)s」（%(doc_no)s）", doc=name, doc_no=p.get("doc_no") or _("无发文字号"))
    if a == "closed":
        return f"{name}" + (f"：{p['reason']}" if p.get("reason") else "")
    if a == "withdrawn":
        return _("申请人撤回申请：%(reason)s", reason=p.get("reason", ""))
    if a == "breach":
        return _("容缺材料逾期未补齐，记录违诺")
    if a == "rated":
        return _("申请人评价：%(n)s星", n=p.get("stars"))
    if a in ("engine_error", "error"):
        return _("办件正在修复中")
    if a in ("incident_retry", "incident_skip"):
        return _("办件修复完成，继续办理")
    return None


@dataclass
class Stage:
    label: str
    state: str  # done | current | todo | stopped
    when: str = ""


def stages(case: Case, accepted_on: date | None = None) -> list[Stage]:
    """申请 → 受理 → 审查办理 → 办结, the strip at the top of the status page. `accepted_on`: the day the case was
    accepted (`queries.acceptance_date`: procedures without an acceptance step are accepted at their first desk)."""
    accepted_on = accepted_on or case.accepted_on
    closed = case.status in TERMINAL
    out = [Stage(_("申请"), "done", _localtime(case.created_at))]
    if accepted_on:
        out.append(Stage(_("受理"), "done", _d(accepted_on)))
    elif closed:
        out.append(Stage(_("受理"), "stopped", _("未受理")))
    else:
        out.append(Stage(_("受理"), "current", _("待受理")))
    if closed:
        # refused or ended after acceptance: the review happened, the end says how it ended
        out.append(Stage(_("审查办理"), "done" if accepted_on else "stopped", ""))
        label = {
            "completed": _("办结"),
            "withdrawn": _("已撤回"),
            "not_accepted": _("不予受理"),
            "refused": _("不予批准"),
            "terminated": _("终止办理"),
        }
        out.append(
            Stage(
                label.get(case.status, _("办结")),
                "done" if case.status == "completed" else "stopped",
                _localtime(case.closed_at),
            )
        )
    else:
        when = _("待申请人补正") if case.status == "returned" else ""
        out.append(Stage(_("审查办理"), "current" if accepted_on else "todo", when))
        out.append(Stage(_("办结"), "todo", _("承诺%(date)s前", date=_d(case.promised_on)) if case.promised_on else ""))
    return out


def _localtime(value) -> str:
    from webapp import _localtime as lt

    return lt(value) if value else ""


def _documents(session: Session, case: Case) -> list | None:
    try:
        from workflows.services import archive
    except ImportError:  # the archive is optional
        return None
    return archive.documents_of_case(session, case.id)


def _returned_state(session: Session, case: Case, correction: Correction) -> dict:
    """退回补正 as the applicant sees it: the step is theirs, until the deadline the 补正材料通知书 states (the same
    document data), and the items asked for."""
    from workflows.domain.models import Document

    doc_data = session.scalar(
        select(Document.data)
        .where(Document.case_id == case.id, Document.kind == "correction_notice")
        .order_by(Document.id.desc())
        .limit(1)
    )
    raw = (doc_data or {}).get("deadline")
    try:
        deadline = date.fromisoformat(raw) if isinstance(raw, str) and raw else None
    except ValueError:
        deadline = None
    names = {m.code: m.name for m in case.materials}
    return {
        "since": correction.requested_at,
        "deadline": deadline,
        "items": [names.get(c, c) for c in (correction.items or [])],
        "asked": [i.get("name", "") for i in ((doc_data or {}).get("items") or []) if isinstance(i, dict)],
    }


def _own_case(case_no: str) -> Case:
    return queries.get_case(db_session(), current_actor(), case_no)


def submitted_data(case: Case, units: dict[str, str]) -> list[tuple[str, str]]:
    """What the applicant submitted, labelled as on the form (the registry's titles), read-only."""
    proc = procedure_of(db_session(), case)  # labelled as the version of its matter the case started on
    # a complaint's unit is the office that first received it (shown above as the handling office); its topic by name
    skip = {"materials", "unit_code", "topic"} if proc.kind == "complaint" else {"materials"}
    out = []
    for name, prop in proc.start_schema["properties"].items():
        if name in skip or name not in (case.start_data or {}):
            continue
        value = case.start_data[name]
        if name == "unit_code":
            text = units.get(value, value)
        elif name == "talent_category":
            text = str(CATEGORY_LABELS.get(value, _("未认定")))
        elif isinstance(value, bool):
            text = _("是") if value else _("否")
        elif name == "achievement" and value is not None and value not in ENUM_LABELS[name]:
            text = achievements.labels(db_session()).get(value, value)  # an entry of R9's register
        elif "enum" in prop or name in ENUM_LABELS:
            text = str(enum_labels(prop, name).get(value, value if value is not None else _("无")))
        else:
            text = "" if value is None else str(value)
        out.append((prop.get("title") or name, text or "—"))
    return out


def _form_titles(case: Case) -> dict[str, tuple[str, dict[str, str]]]:
    """Every task form field of the case's definition: name → (title, {value: option title})."""
    out = {}
    for schema in ((case.definition.source or {}).get("forms") or {}).values():
        for name, prop in (schema.get("properties") or {}).items():
            out[name] = (prop.get("title") or name, {str(v): t for v, t in schema_forms._options(prop)})
    return out


@dataclass
class Opinion:
    at: object
    step: str
    who: str
    lines: list[tuple[str, str]]


def opinions(case: Case, events: list[CaseEvent], units: dict[str, str]) -> list[Opinion]:
    """Every opinion and decision an office wrote on the case (task forms, returns, rule decisions, the outcome), in
    order, with the desk that wrote it: what the applicant is told, not the bookkeeping."""
    titles = _form_titles(case)
    out: list[Opinion] = []
    for e in events:
        p = e.payload or {}
        if e.action == "task_completed" and p.get("role") != "applicant":
            lines = []
            for k, v in (p.get("data") or {}).items():
                title, options = titles.get(k, (k, {}))
                if isinstance(v, bool):
                    v = _("是") if v else _("否")
                if v not in (None, ""):
                    lines.append((title, options.get(str(v), str(v))))
            if lines:
                out.append(Opinion(e.at, e.task_name or "", str(ROLE_LABELS.get(p.get("role"), "")), lines))
        elif e.action == "returned" and p.get("target") == "applicant":
            out.append(Opinion(e.at, e.task_name or "", _("退回补正"), [(_("理由"), str(p.get("reason", "")))]))
        elif e.action == "decision" and p.get("reason"):
            out.append(Opinion(e.at, e.task_name or "", _("规则判定"), [(_("结论"), str(p["reason"]))]))
        elif e.action == "closed":
            lines = [(_("结果"), e.task_name or "")] + ([(_("理由"), str(p["reason"]))] if p.get("reason") else [])
            out.append(Opinion(e.at, _("办结"), "", lines))
    return out


@bp.get("/case/<case_no>")
@roles_required("applicant")
def status(case_no: str):
    s = db_session()
    case = _own_case(case_no)
    units = _unit_names(s)
    trail = queries.timeline(s, case)
    lines = [(e, text) for e in trail if (text := describe(e, case.procedure, units))]
    accepted_on = queries.acceptance_date(case, trail)
    steps = [(t, holder_of(t, units)) for t in case.open_tasks]
    correction = (
        s.scalar(
            select(Correction)
            .where(Correction.case_id == case.id, Correction.target == "applicant")
            .order_by(Correction.id.desc())
            .limit(1)
        )
        if case.status == "returned"
        else None
    )
    rating = s.scalar(select(Rating).where(Rating.case_id == case.id))
    owed = [m for m in case.materials if m.status == "owed"]
    can_supply = case.status not in TERMINAL and case.status != "returned"
    strip = stages(case, accepted_on)
    returned = _returned_state(s, case, correction) if correction is not None else None
    if returned is not None:
        # the case waits for the applicant, not for the step that returned it
        steps = []
        for st in strip:
            if st.state == "current":
                st.when = _("待申请人补正")
    return render_template(
        "applicant/status.html",
        case=case,
        units=units,
        lines=lines,
        steps=steps,
        returned=returned,
        stages=strip,
        accepted_on=accepted_on,
        owed=owed,
        commitment=_commitment_task(case),
        correction=correction,
        rating=rating,
        can_rate=case.status in handling.RATEABLE and rating is None,
        can_withdraw=case.status not in TERMINAL,
        can_supply=can_supply,
        documents=_documents(s, case),
        max_mb=uploads.MAX_FILE_MB,
        accept=uploads.ACCEPT,
        waiting_for_owed=not case.open_tasks and bool(owed) and case.status not in TERMINAL,
        submitted=submitted_data(case, units),
        opinions=opinions(case, trail, units),
        **_complaint_parts(s, case, trail),
    )


def _complaint_parts(s: Session, case: Case, trail: list[CaseEvent]) -> dict:
    """A complaint to the 权益保障 window: what was filed, the office's answer and the open 评价 step."""
    if case.procedure not in procedures.COMPLAINT_IDS:
        return {"complaint": None}
    answers = [e.payload for e in trail if e.action == "complaint_answered"]
    complaint = rights.complaint_of(s, case)
    topics = {t.code: t.name for t in rights.list_topics(s)}
    return {
        "complaint": complaint,
        "topic_name": topics.get(complaint.topic_code, complaint.topic_code) if complaint else "",
        "answer": answers[-1] if answers else None,
        "rating_task": next(
            (t for t in case.open_tasks if t.role == "applicant" and (t.form or "").startswith("rights_rating")), None
        ),
    }


# ---------------------------------------------------------------------------------------------------------------
# 容缺承诺书
# ---------------------------------------------------------------------------------------------------------------
def commitment_terms(session: Session, case: Case) -> tuple[list, date]:
    """The items that will be owed and the deadline if signed today (the same rule accept_case applies)."""
    params, cal, today = get_params(session), load_calendar(session), today_local()
    deadline = min(
        cal.add_working_days(today, int(params["rongque_days"])),
        cal.add_working_days(today, int(params["promise_working_days"])),
    )
    owed = [m for m in case.materials if m.status in ("missing", "owed") and not m.is_key]
    return owed, deadline


@bp.route("/case/<case_no>/commitment", methods=["GET", "POST"])
@roles_required("applicant")
def commitment(case_no: str):
    s, actor = db_session(), current_actor()
    case = _own_case(case_no)
    task = _commitment_task(case)
    if task is None:
        flash(_("该办件没有待签署的容缺承诺书"), "info")
        return redirect(url_for("applicant.status", case_no=case_no))
    error = None
    if request.method == "POST":
        if request.form.get("commitment_signed") not in ("1", "on", "true"):
            error = _("请勾选“本人已阅读并签署容缺受理承诺书”后再提交")
        else:
            data = {"commitment_signed": True}
            note = (request.form.get("commitment_note") or "").strip()
            if note:
                data["commitment_note"] = note[:500]
            cases.complete_task(
                s, case_no, task.task_id, data, actor, expected_version=request.form.get("version", type=int)
            )
            flash(_("承诺书已签署，办件已容缺受理。请在期限内补齐所欠材料。"), "success")
            return redirect(url_for("applicant.status", case_no=case_no))
    owed, deadline = commitment_terms(s, case)
    return render_template(
        "applicant/commitment.html",
        case=case,
        task=task,
        owed=owed,
        deadline=deadline,
        error=error,
        signer=current_user.display_name,
        today=today_local(),
    ), (422 if error else 200)


# ---------------------------------------------------------------------------------------------------------------
# Upload an owed item; withdraw; resubmit after a return; documents; rating
# ---------------------------------------------------------------------------------------------------------------
@bp.post("/case/<case_no>/supply/<code>")
@roles_required("applicant")
def supply(case_no: str, code: str):
    s, actor = db_session(), current_actor()
    case = _own_case(case_no)
    item = next((m for m in case.materials if m.code == code), None)
    if item is None:
        abort(404)
    try:
        checked = uploads.check(request.files.get("file"), item.name)
    except uploads.UploadRejected as e:
        flash(e.message, "error")
        return redirect(url_for("applicant.status", case_no=case_no) + "#materials"), 303
    if checked is None:
        flash(_("请选择“%(item)s”的文件后再上传", item=item.name), "error")
        return redirect(url_for("applicant.status", case_no=case_no) + "#materials"), 303
    uploads.store(checked)
    case = cases.supply_material(
        s,
        case_no,
        code,
        actor,
        file_name=checked.display_name,
        sha256=checked.sha256,
        idempotency_key=f"supply:{case_no}:{code}:{checked.sha256}",
    )
    still = [m.name for m in case.materials if m.status == "owed"]
    flash(
        _("已收到“%(item)s”。", item=item.name)
        + (_("尚欠：%(items)s。", items="、".join(still)) if still else _("所欠材料已全部补齐。")),
        "success",
    )
    return redirect(url_for("applicant.status", case_no=case_no) + "#materials"), 303


@bp.get("/case/<case_no>/materials/<code>")
@roles_required("applicant")
def material_file(case_no: str, code: str):
    case = _own_case(case_no)
    item = next((m for m in case.materials if m.code == code), None)
    stored = uploads.read(item.sha256) if item is not None else None
    if stored is None:
        abort(404)
    return send_file(
        io.BytesIO(stored.content),
        mimetype=stored.mimetype,
        as_attachment=True,
        download_name=item.file_name or f"{item.name}{stored.ext}",
        etag=stored.sha256,
    )


@bp.post("/case/<case_no>/withdraw")
@roles_required("applicant")
def withdraw(case_no: str):
    s, actor = db_session(), current_actor()
    _own_case(case_no)
    reason = (request.form.get("reason") or "").strip()[:500]
    cases.withdraw(s, case_no, actor, reason or "申请人撤回")
    flash(_("申请已撤回"), "success")
    return redirect(url_for("applicant.status", case_no=case_no))


def _resubmit_page(
    back: str,
    case: Case,
    correction: Correction | None,
    values: dict,
    errors: dict,
    file_errors: dict,
    status_code: int = 200,
):
    items = [(c, procedures.material_name(case.procedure, c)) for c in (correction.items if correction else [])]
    proc = procedure_of(db_session(), case)
    fields = form_fields(db_session(), case.procedure, values, errors, only=proc.correctable, proc=proc)
    return render_template(
        "applicant/resubmit.html",
        back=back,
        case=case,
        correction=correction,
        fields=fields,
        file_errors=file_errors,
        items=items,
        max_mb=uploads.MAX_FILE_MB,
        accept=uploads.ACCEPT,
    ), status_code


@bp.route("/case/<case_no>/resubmit", methods=["GET", "POST"])
@roles_required("applicant")
def resubmit(case_no: str):
    case = _own_case(case_no)
    return answer_return(case, url_for("applicant.status", case_no=case_no))


def answer_return(case: Case, back: str):
    """The correction form of a returned case and its resubmission — the applicant's, or the unit HR desk's for a case
    the unit filed (`officer.resubmit`); `back` is the case's page."""
    s, actor = db_session(), current_actor()
    case_no = case.case_no
    if case.status != "returned":
        flash(_("该办件没有待补正的退回"), "info")
        return redirect(back)
    correction = s.scalar(
        select(Correction)
        .where(Correction.case_id == case.id, Correction.resolved_at.is_(None))
        .order_by(Correction.id.desc())
        .limit(1)
    )
    proc = procedure_of(s, case)
    allowed = proc.correctable
    fields = form_fields(s, case.procedure, only=allowed, proc=proc)
    if request.method == "GET":
        return _resubmit_page(back, case, correction, schema_forms.form_values(fields, case.start_data), {}, {})
    values = {k: v for k, v in request.form.items() if k in allowed}
    wanted = [(c, procedures.material_name(case.procedure, c)) for c in (correction.items if correction else [])]
    files, file_errors = _check_files(wanted)
    if file_errors:
        flash(_("有材料文件未通过检查，请按提示重新选择。"), "error")
        return _resubmit_page(back, case, correction, values, {}, file_errors, 422)
    parsed, errors = parse_form(fields, request.form)
    if errors:
        flash(_("表单填写有误，请按提示修改"), "error")
        return _resubmit_page(back, case, correction, values, errors, {}, 422)
    changes = {k: v for k, v in parsed.items() if case.start_data.get(k) != v}
    for item in files.values():
        uploads.store(item)
    try:
        handling.resubmit(s, case_no, actor, changes, sorted(files))
    except ValidationFailed as e:
        flash(e.message, "error")
        return _resubmit_page(back, case, correction, values, dict((e.details or {}).get("fields") or {}), {}, 422)
    attach_files(s, case_no, files, via="resubmission")
    flash(_("补正材料已重新提交，办件继续办理。"), "success")
    return redirect(back)


@bp.get("/case/<case_no>/documents/<int:doc_id>")
@roles_required("applicant")
def document(case_no: str, doc_id: int):
    s = db_session()
    case = _own_case(case_no)
    try:
        from workflows.services import archive
    except ImportError:
        abort(404)
    doc = s.get(archive.Document, doc_id)
    return _send_document(doc if doc is not None and doc.case_id == case.id else None)


def _send_document(doc):
    """An issued document's archived PDF as a download; 404 for none or one not archived yet."""
    if doc is None:
        abort(404)
    return send_archived_pdf(doc, explain=False)


@bp.get("/posts/<case_no>/documents/<int:doc_id>")
@roles_required("applicant")
def held_post_document(case_no: str, doc_id: int):
    """A decision about a post the applicant holds (a unit's application names them): only those documents."""
    post = next((p for p in queries.posts_held(db_session(), current_actor()) if p.case_no == case_no), None)
    return _send_document(next((d for d in post.documents if d.id == doc_id), None) if post is not None else None)


@bp.post("/case/<case_no>/rate")
@roles_required("applicant")
def rate(case_no: str):
    s, actor = db_session(), current_actor()
    _own_case(case_no)
    raw = request.form.get("stars", "")
    stars = int(raw) if raw.isdigit() else 0
    try:
        handling.rate(s, case_no, actor, stars, request.form.get("reason", "")[:1000])
    except DomainError as e:  # shown on the status page next to the form
        flash(_("评价未提交：%(reason)s", reason=e.message), "error")
        return redirect(url_for("applicant.status", case_no=case_no) + "#rating"), 303
    flash(_("感谢您的评价！"), "success")
    return redirect(url_for("applicant.status", case_no=case_no) + "#rating"), 303
