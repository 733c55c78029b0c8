"""Administrator console: process definitions (bpmn-js modeler), users, units, quota, holidays, parameters.

Routes are thin: parse, call the page's service (`workflows.services.versions`, `directory`, `bulk_import`, `quota`,
`holidays`, `settings`) inside one transaction, render. A refused input changes nothing (the transaction rolls back)
and is shown in Chinese on the same page with its status code.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from webapp.db import db_session
from webapp.security import current_actor, roles_required
from workflows.domain.actors import LANE_ROLES
from workflows.domain.clock import as_utc, now_utc
from workflows.domain.errors import DefinitionInvalid, DomainError, ValidationFailed
from workflows.domain.passwords import hash_password
from workflows.domain.rules import RULES
from workflows.infra.db import transaction
from workflows.services import bulk_import, confirm_dates, directory, sessions, sign_in
from workflows.services import holidays as holidays_svc
from workflows.services import quota as quota_svc
from workflows.services import settings as settings_svc
from workflows.services import versions as versions_svc
from workflows.services.operations import OPERATORS

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.context_processor
def _calendar_warning() -> dict:
    """From 1 October every admin page warns until next year's holiday table is loaded (DESIGN §3)."""
    return {"calendar_pending": confirm_dates.next_year_pending(db_session())}


MIN_PASSWORD = 8
# What each operator takes (bpmn/README.md); the modeler offers these parameter names.
OPERATOR_PARAMS = {
    "accept_case": ["mode"],
    "start_publicity": ["kind"],
    "notify": ["kind"],
    "writeoff_special_post": ["reason"],
    "apply_revision": ["fields"],
    "close_case": ["outcome", "rule", "reason"],
    "issue_documents": ["step"],
}


def _actor_name() -> str:
    return current_user.username


def _refused(e: DomainError, view, *args, **kwargs):
    """Show the refusal on the page the form came from, with the error's status (nothing was changed)."""
    flash(e.message, "error")
    return view(*args, **kwargs), e.status


def _refused_invalid(e: DefinitionInvalid, version: int, view, *args):
    """A version that fails validation at publication: its first problems on the versions page, 422."""
    flash(_("v%(v)s 未通过校验（%(n)s 个问题），未发布", v=version, n=len(e.errors)), "error")
    for problem in e.errors[:20]:
        flash(problem.message, "error")
    return view(*args), 422


def error_items(e: DefinitionInvalid) -> list[dict]:
    """A refused definition's problems, each with the element (or DMN cell) the editor marks."""
    return [
        {"element_id": x.element_id, "element_name": x.element_name, "line": x.line, "message": x.message}
        for x in e.errors
    ]


def _draft_saved(out: dict, changed: bool):
    """The editors' reply to a saved draft (`out`: version, status, statusLabel, ...) with its message."""
    out["message"] = (
        _("已保存为草稿 v%(v)s", v=out["version"])
        if changed
        else _("内容与 v%(v)s（%(status)s）相同，未另存", v=out["version"], status=out["statusLabel"])
    )
    return jsonify(out)


def _xml_response(xml: str, filename: str) -> Response:
    """A version's XML for the editor, or as a download with ?download=1."""
    resp = Response(xml, mimetype="application/xml")
    if request.args.get("download"):
        resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp


def _compared(rows: list) -> tuple[int, int] | None:
    """The two versions to compare: ?a= and ?b=, else the latest two; None (flashed) when there are fewer than two:
    the caller sends the administrator back to the versions."""
    a = request.args.get("a", type=int)
    b = request.args.get("b", type=int)
    if a is not None and b is not None:
        return a, b
    if len(rows) < 2:
        flash(_("至少需要两个版本才能比较"), "warning")
        return None
    return rows[1].version, rows[0].version


@bp.get("/")
@roles_required("admin")
def home():
    s = db_session()
    return render_template(
        "admin/home.html",
        processes=versions_svc.process_overview(s),
        years=holidays_svc.holiday_years(s),
        users=len(directory.list_users(s)),
        pools=quota_svc.list_pools(s),
    )


# -- process definitions -------------------------------------------------------------------------------------------


@bp.get("/processes")
@roles_required("admin")
def processes():
    return render_template("admin/processes.html", processes=versions_svc.process_overview(db_session()))


@bp.get("/processes/<process_id>")
@roles_required("admin")
def versions(process_id: str):
    s = db_session()
    rows = versions_svc.list_versions(s, process_id)
    return render_template(
        "admin/versions.html",
        process_id=process_id,
        rows=rows,
        name=rows[0].name,
        counts=versions_svc.case_counts(s, process_id),
        status_names=versions_svc.STATUS_LABELS,
    )


@bp.get("/processes/<process_id>/versions/<int:version>/bpmn")
@roles_required("admin")
def version_bpmn(process_id: str, version: int):
    row = versions_svc.get_version(db_session(), process_id, version)
    _name, xml = versions_svc.main_bpmn(row)
    return _xml_response(xml, f"{process_id}-v{version}.bpmn")


@bp.get("/processes/<process_id>/edit")
@roles_required("admin")
def edit(process_id: str):
    s = db_session()
    version = request.args.get("version", type=int)
    row = versions_svc.get_version(s, process_id, version) if version else versions_svc.editing_base(s, process_id)
    config = {
        "processId": process_id,
        "version": row.version,
        "status": row.status,
        "xmlUrl": url_for("admin.version_bpmn", process_id=process_id, version=row.version),
        "saveUrl": url_for("admin.save_draft", process_id=process_id),
        "versionsUrl": url_for("admin.versions", process_id=process_id),
        "forms": versions_svc.form_names(row),
        "decisions": versions_svc.decision_ids(row),
        "operators": {op: OPERATOR_PARAMS.get(op, []) for op in sorted(OPERATORS)},
        "lanes": list(LANE_ROLES),
        "ruleIds": sorted(RULES, key=lambda r: int(r[1:])),
        "moddleUrl": url_for("static", filename="js/spiffworkflow-moddle.json"),
    }
    return render_template("admin/modeler.html", row=row, config=config, status_names=versions_svc.STATUS_LABELS)


@bp.post("/processes/<process_id>/draft")
@roles_required("admin")
def save_draft(process_id: str):
    """JSON in ({xml}), JSON out: 200 with the draft, or 422 with every problem and the element it concerns."""
    payload = request.get_json(silent=True)
    xml = payload.get("xml") if isinstance(payload, dict) else None
    s = db_session()
    try:
        with transaction(s):
            row, changed = versions_svc.save_draft(s, process_id, xml, _actor_name())
            out = {
                "version": row.version,
                "status": row.status,
                "changed": changed,
                "statusLabel": versions_svc.STATUS_LABELS.get(row.status, row.status),
                "versionsUrl": url_for("admin.versions", process_id=process_id),
                "simulationUrl": url_for("admin.simulation_page", process_id=process_id, version=row.version)
                if row.status == "draft"
                else None,
            }
    except DefinitionInvalid as e:
        message = _("流程定义未通过校验（%(n)s 个问题），未保存", n=len(e.errors))
        return jsonify({"message": message, "errors": error_items(e)}), 422
    except DomainError as e:
        return jsonify({"message": e.message, "errors": []}), e.status
    return _draft_saved(out, changed)


@bp.post("/processes/<process_id>/versions/<int:version>/publish")
@roles_required("admin")
def publish(process_id: str, version: int):
    s = db_session()
    try:
        with transaction(s):
            row = versions_svc.get_version(s, process_id, version)
            was = row.status
            versions_svc.publish_version(s, process_id, version, request.form.get("note"), _actor_name())
    except DomainError as e:
        return _refused(e, versions, process_id)
    except DefinitionInvalid as e:
        return _refused_invalid(e, version, versions, process_id)
    flash(
        _("已回滚到 v%(v)s：新办件使用该版本，办理中的办件仍按原版本运行", v=version)
        if was == "retired"
        else _("已发布 v%(v)s：新办件使用该版本，办理中的办件仍按原版本运行", v=version),
        "success",
    )
    return redirect(url_for("admin.versions", process_id=process_id))


@bp.post("/processes/<process_id>/draft/discard")
@roles_required("admin")
def discard_draft(process_id: str):
    s = db_session()
    try:
        with transaction(s):
            v = versions_svc.discard_draft(s, process_id)
    except DomainError as e:
        return _refused(e, versions, process_id)
    flash(_("已删除草稿 v%(v)s", v=v), "success")
    return redirect(url_for("admin.versions", process_id=process_id))


@bp.get("/processes/<process_id>/compare")
@roles_required("admin")
def compare(process_id: str):
    s = db_session()
    rows = versions_svc.list_versions(s, process_id)
    pair = _compared(rows)
    if pair is None:
        return redirect(url_for("admin.versions", process_id=process_id))
    a, b = pair
    diff = versions_svc.compare_versions(s, process_id, a, b)
    return render_template("admin/compare.html", process_id=process_id, rows=rows, diff=diff, name=rows[0].name)


@bp.get("/processes/<process_id>/versions/<int:version>/cases")
@roles_required("admin")
def version_cases(process_id: str, version: int):
    s = db_session()
    row = versions_svc.get_version(s, process_id, version)
    return render_template(
        "admin/version_cases.html",
        row=row,
        cases=versions_svc.cases_of_version(s, row.id),
        counts=versions_svc.case_counts(s, process_id).get(row.id, {"total": 0}),
        status_names=versions_svc.STATUS_LABELS,
    )


# -- users ---------------------------------------------------------------------------------------------------------


def _password_hash(value: str | None) -> str:
    value = value or ""
    if len(value) < MIN_PASSWORD or len(value) > 128:
        raise ValidationFailed(f"密码长度须为 {MIN_PASSWORD}–128 位")
    return hash_password(value)


@bp.get("/users")
@roles_required("admin")
def users():
    s = db_session()
    return render_template(
        "admin/users.html",
        users=directory.list_users(s),
        locked=sign_in.locked_accounts(s),
        units=directory.unit_tree(s),
        roles=directory.ASSIGNABLE_ROLES,
    )


@bp.post("/users")
@roles_required("admin")
def create_user():
    s = db_session()
    f = request.form
    try:
        with transaction(s):
            # the administrator chose the password: it is changed at first sign-in
            u = directory.create_user(
                s,
                f.get("username"),
                f.get("display_name"),
                f.get("role", ""),
                f.get("unit_code"),
                _password_hash(f.get("password")),
                f.get("id_number"),
                f.get("email"),
                must_change_password=True,
            )
    except DomainError as e:
        return _refused(e, users)
    flash(_("已创建用户 %(user)s", user=u.username), "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>")
@roles_required("admin")
def update_user(user_id: int):
    s = db_session()
    f = request.form
    try:
        with transaction(s):
            u = directory.update_user(
                s,
                user_id,
                f.get("role", ""),
                f.get("unit_code"),
                f.get("display_name"),
                by_user_id=current_user.user_id,
                email=f.get("email"),
            )
    except DomainError as e:
        return _refused(e, users)
    flash(_("已更新用户 %(user)s", user=u.username), "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/password")
@roles_required("admin")
def reset_password(user_id: int):
    """The account must change the new password at its next sign-in, and its open sessions end. An administrator
    resetting their own password chose it themselves: no change required, and this session stays signed in."""
    s = db_session()
    own = user_id == current_user.user_id
    try:
        with transaction(s):
            u = directory.set_password_hash(
                s,
                user_id,
                _password_hash(request.form.get("password")),
                must_change=not own,
                by=current_user.username,
                keep_session_key=current_user.session_key if own else None,
            )
    except DomainError as e:
        return _refused(e, users)
    if own:
        flash(_("已重置 %(user)s 的密码", user=u.username), "success")
    else:
        flash(_("已重置 %(user)s 的密码：其已登录的会话已退出，下次登录时须修改密码", user=u.username), "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/active")
@roles_required("admin")
def set_active(user_id: int):
    s = db_session()
    active = request.form.get("active") == "1"
    try:
        with transaction(s):
            u = directory.set_active(s, user_id, active, by_user_id=current_user.user_id, by=current_user.username)
    except DomainError as e:
        return _refused(e, users)
    flash(_("已启用用户 %(user)s", user=u.username) if active else _("已停用用户 %(user)s", user=u.username), "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/unlock")
@roles_required("admin")
def unlock_user(user_id: int):
    """Lift the sign-in lock of an account (too many wrong passwords) before it runs out."""
    s = db_session()
    with transaction(s):
        u = directory.get_user(s, user_id)
        sign_in.unlock(s, sign_in.ACCOUNT, u.username, by=current_user.username)
    flash(_("已解除 %(user)s 的登录锁定", user=u.username), "success")
    return redirect(url_for("admin.users"))


@bp.get("/users/<int:user_id>/tokens")
@roles_required("admin")
def user_tokens(user_id: int):
    """An account's API tokens: created, last used, expiry, state; revoke."""
    s = db_session()
    u = directory.get_user(s, user_id)
    tokens, now = sessions.user_tokens(s, u.id), now_utc()
    expired = {t.id for t in tokens if as_utc(t.expires_at) <= now}
    return render_template("admin/tokens.html", user=u, tokens=tokens, expired=expired)


@bp.post("/tokens/<int:token_id>/revoke")
@roles_required("admin")
def revoke_token(token_id: int):
    s = db_session()
    with transaction(s):
        token = sessions.revoke_token(s, token_id)
    flash(_("已吊销令牌 #%(id)s", id=token.id), "success")
    return redirect(url_for("admin.user_tokens", user_id=token.user_id))


# -- units ---------------------------------------------------------------------------------------------------------


@bp.get("/units")
@roles_required("admin")
def units():
    return render_template("admin/units.html", tree=directory.unit_tree(db_session()), kinds=directory.UNIT_KINDS)


@bp.post("/units")
@roles_required("admin")
def create_unit():
    s = db_session()
    f = request.form
    try:
        with transaction(s):
            u = directory.create_unit(s, f.get("code"), f.get("name"), f.get("parent_code"), f.get("kind", ""))
    except DomainError as e:
        return _refused(e, units)
    flash(_("已添加单位 %(code)s %(name)s", code=u.code, name=u.name), "success")
    return redirect(url_for("admin.units"))


@bp.post("/units/<code>")
@roles_required("admin")
def update_unit(code: str):
    s = db_session()
    f = request.form
    try:
        with transaction(s):
            u = directory.update_unit(s, code, f.get("name"), f.get("parent_code"))
    except DomainError as e:
        return _refused(e, units)
    flash(_("已更新单位 %(code)s", code=u.code), "success")
    return redirect(url_for("admin.units"))


# -- bulk import of units and users (CSV) ---------------------------------------------------------------------------

# Each initial password is hashed like the forms' (scrypt, about 0.1 s): a larger user file goes through the CLI
# (`flask import-users FILE`) rather than a request the server's timeout would cut.
WEB_MAX_USER_ROWS = 300


@bp.context_processor
def _import_limits():
    return {"import_max_rows": bulk_import.MAX_IMPORT_ROWS, "import_max_users": WEB_MAX_USER_ROWS}


def _uploaded_file() -> tuple[bytes, str]:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed("请选择要导入的文件")
    # one byte more: "too large" without reading it all
    return upload.read(bulk_import.MAX_IMPORT_BYTES + 1), upload.filename


def _imported(parse, store):
    """The uploaded file read by `parse(content, filename)` and its rows written by `store(session, rows)` in one
    transaction: (rows, what `store` returns). A DomainError (no file, a bad file, bad lines) leaves nothing written:
    the caller shows it with `_import_refused`."""
    s = db_session()
    content, filename = _uploaded_file()
    rows = parse(content, filename)
    with transaction(s):
        return rows, store(s, rows)


def _import_refused(e: DomainError, template: str, **context):
    """The page again with the status of the refusal (nothing was changed) and every line error listed."""
    errors = (e.details or {}).get("errors") or []
    count = (e.details or {}).get("error_count", len(errors))
    if errors:
        flash(_("导入文件有误（%(n)s 处），未做任何修改：请按下列提示修改后重新上传", n=count), "error")
    else:
        flash(e.message, "error")
    return render_template(template, import_errors=errors, import_error_count=count, **context), e.status


def _template_download(kind: str, filename: str) -> Response:
    return csv_download(bulk_import.import_template_csv(kind), filename)


def csv_download(content: bytes, filename: str) -> Response:
    resp = Response(content, mimetype="text/csv")
    resp.headers["Content-Disposition"] = f"attachment; filename={filename}"
    return resp


@bp.get("/import/units/template.csv")
@roles_required("admin")
def units_import_template():
    return _template_download("units", "units-template.csv")


@bp.post("/import/units")
@roles_required("admin")
def import_units():
    s = db_session()
    try:
        _rows, r = _imported(bulk_import.parse_units_file, bulk_import.import_units)
    except DomainError as e:
        return _import_refused(e, "admin/units.html", tree=directory.unit_tree(s), kinds=directory.UNIT_KINDS)
    flash(
        _(
            "已导入单位：新增 %(created)s 个，更新 %(updated)s 个，未变 %(unchanged)s 个",
            created=len(r.created),
            updated=len(r.updated),
            unchanged=len(r.unchanged),
        ),
        "success",
    )
    return redirect(url_for("admin.units"))


@bp.get("/import/users/template.csv")
@roles_required("admin")
def users_import_template():
    return _template_download("users", "users-template.csv")


@bp.post("/import/users")
@roles_required("admin")
def import_users():
    """On success the page lists the initial passwords, once: they are in this response only (not flashed into the
    session cookie, not stored, not cached)."""
    s = db_session()
    try:
        content, filename = _uploaded_file()
        rows = bulk_import.parse_users_file(content, filename)
        if len(rows) > WEB_MAX_USER_ROWS:
            raise ValidationFailed(
                f"网页每次最多导入 {WEB_MAX_USER_ROWS} 个用户（本文件 {len(rows)} 个）：请分批上传，"
                "或在服务器上使用命令 flask import-users"
            )
        valid = bulk_import.check_users(s, rows)  # every line error before the slow part
        passwords = bulk_import.hash_initial_passwords([r["username"] for r in valid], hash_password)
        with transaction(s):
            created = bulk_import.import_users(s, rows, initial_passwords=passwords)
    except DomainError as e:
        return _import_refused(
            e,
            "admin/users.html",
            users=directory.list_users(s),
            units=directory.unit_tree(s),
            roles=directory.ASSIGNABLE_ROLES,
        )
    passwords_csv = bulk_import.initial_passwords_csv(created)
    resp = Response(
        render_template(
            "admin/users_imported.html",
            created=created,
            roles=directory.ASSIGNABLE_ROLES,
            passwords_csv=passwords_csv,
            passwords_href="data:text/csv;charset=utf-8," + quote("\ufeff" + passwords_csv),
        )
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp


# -- 编制 pools ------------------------------------------------------------------------------------------------------


@bp.get("/quota")
@roles_required("admin")
def quota():
    s = db_session()
    pools = quota_svc.list_pools(s)
    with_pool = {p.unit_code for p in pools if p.unit_code}
    no_pool = [u for _depth, u in directory.unit_tree(s) if u.kind == "unit" and u.code not in with_pool]
    return render_template("admin/quota.html", pools=pools, no_pool=no_pool)


@bp.post("/quota/<int:pool_id>/adjust")
@roles_required("admin")
def adjust_quota(pool_id: int):
    s = db_session()
    try:
        with transaction(s):
            p = quota_svc.adjust_pool(s, pool_id, request.form.get("delta"), request.form.get("note"), _actor_name())
    except DomainError as e:
        return _refused(e, quota)
    flash(
        _(
            "已调整 %(pool)s：总数 %(total)s，可用 %(free)s",
            pool=p.name,
            total=p.total,
            free=p.total - p.reserved - p.used,
        ),
        "success",
    )
    return redirect(url_for("admin.quota"))


@bp.post("/quota")
@roles_required("admin")
def create_pool():
    s = db_session()
    try:
        with transaction(s):
            p = quota_svc.create_unit_pool(s, request.form.get("unit_code"), request.form.get("total"))
    except DomainError as e:
        return _refused(e, quota)
    flash(_("已建立 %(pool)s（%(total)s）", pool=p.name, total=p.total), "success")
    return redirect(url_for("admin.quota"))


# -- holidays ------------------------------------------------------------------------------------------------------


@bp.get("/holidays")
@roles_required("admin")
def holidays():
    s = db_session()
    this_year = date.today().year
    year = request.args.get("year", type=int) or this_year
    return render_template(
        "admin/holidays.html",
        year=year,
        rows=holidays_svc.list_holidays(s, year),
        years=holidays_svc.holiday_years(s),
        next_year=this_year + 1,
        this_year=this_year,
    )


@bp.post("/holidays/import")
@roles_required("admin")
def import_holidays():
    s = db_session()
    year = request.form.get("year", type=int)
    upload = request.files.get("file")
    try:
        if not year or year < 2000 or year > 2100:
            raise ValidationFailed("请选择年份")
        rows = holidays_svc.parse_holiday_file(
            upload.read() if upload else b"", upload.filename if upload else "", year
        )
        with transaction(s):
            n = holidays_svc.replace_holidays(s, year, rows)
            # the provisional dates the table now confirms are recomputed with it (DESIGN §3)
            done = confirm_dates.confirm_all(s, current_actor())
    except DomainError as e:
        return _refused(e, holidays)
    flash(_("已导入 %(year)s 年节假日安排 %(n)s 条（原有 %(year)s 年数据已替换）", year=year, n=n), "success")
    if done["failed"]:
        flash(
            _("另有 %(n)s 件办件流程出错，暂计期限未能重算，请先修复后再次导入", n=done["failed"]),
            "error",
        )
    if done["checked"]:
        flash(
            _(
                "已按新的节假日安排复核 %(checked)s 件办件的暂计期限，其中 %(moved)s 件期限调整，已通知相关当事人",
                checked=done["checked"],
                moved=done["moved"],
            ),
            "success",
        )
    return redirect(url_for("admin.holidays", year=year))


# -- policy parameters ---------------------------------------------------------------------------------------------


@bp.get("/params")
@roles_required("admin")
def params():
    return render_template(
        "admin/params.html",
        params=settings_svc.get_params(db_session()),
        labels=settings_svc.PARAM_LABELS,
        modes=settings_svc.TERM_MODES,
    )


@bp.post("/params")
@roles_required("admin")
def save_params():
    s = db_session()
    try:
        with transaction(s):
            changed = settings_svc.set_params(s, {k: v for k, v in request.form.items() if k != "csrf_token"})
    except DomainError as e:
        return _refused(e, params)
    flash(
        _("已保存 %(n)s 项参数（对之后开始计算的期限生效）", n=len(changed)) if changed else _("参数未变化"), "success"
    )
    return redirect(url_for("admin.params"))


# The registers' and the 发文机关's (number series, seal images) routes live in their own modules on this blueprint
# (imported last: they use the helpers above).
from webapp import admin_dmn, admin_incidents, admin_offices, admin_registers, admin_simulation  # noqa: E402,F401
