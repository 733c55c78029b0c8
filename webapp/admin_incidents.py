"""Administrator console, 异常办件: the open incidents, one incident's page (element, message, time, the case's
position on its BPMN diagram, the data the failed element reads) and the repairs — set a case variable, retry (on
the published version when asked), skip with a reason, cancel with a reason. Routes on the admin blueprint, kept out
of webapp/admin.py.

Thin routes: parse, call workflows/services/incident_actions.py (one transaction each, audited in the case's hash
chain), redirect. A refused or failed repair is shown on the incident's page with its status; the case stays as it
was (a retry that fails again opens a new incident, whose page the administrator is sent to).
"""

from __future__ import annotations

import json

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from webapp.admin import _refused, bp
from webapp.db import db_session
from webapp.officer import _bpmn
from webapp.security import current_actor, roles_required
from workflows.domain.errors import DomainError, EngineIncident
from workflows.domain.models import CaseIncident
from workflows.services import incident_actions as actions
from workflows.services import incidents as incidents_svc


def _sources() -> dict[str, str]:
    return {"timer": _("定时器"), "action": _("办理操作")}


def _resolutions() -> dict[str, str]:
    return {
        "retry": _("已重试"),
        "skip": _("已跳过环节"),
        "cancel": _("已终止办理"),
        "superseded": _("再次出错（见新的异常记录）"),
    }


@bp.get("/incidents")
@roles_required("admin")
def incidents():
    return render_template(
        "admin/incidents.html", incidents=incidents_svc.open_incidents(db_session()), sources=_sources()
    )


def _pretty(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


@bp.get("/incidents/<int:incident_id>")
@roles_required("admin")
def incident(incident_id: int):
    s = db_session()
    v = actions.view(s, incident_id, current_actor())
    case = v.incident.case
    states = dict.fromkeys(v.done, "done")
    states.update(dict.fromkeys(v.waiting, "active"))
    for t in case.open_tasks:
        states[t.spec_name] = "active"
    if v.incident.element_id:
        states[v.incident.element_id] = "overdue"  # the failed element, in red
    xml, names = _bpmn(case)
    history = list(
        s.scalars(select(CaseIncident).where(CaseIncident.case_id == case.id).order_by(CaseIncident.id.desc()))
    )
    return render_template(
        "admin/incident.html",
        v=v,
        i=v.incident,
        case=case,
        diagram={"xml": xml, "states": states, "focus": v.incident.element_id},
        position=[(names.get(k, k), k) for k, state in states.items() if state == "active"],
        relevant={k: _pretty(val) for k, val in v.relevant.items()},
        variables={k: _pretty(val) for k, val in sorted(v.variables.items())},
        history=history,
        sources=_sources(),
        resolutions=_resolutions(),
    )


def _after(incident_id: int, done: str | None):
    """Back to the incident page with the outcome, or — when the repair failed again — to the new incident."""
    s = db_session()
    case_id = s.scalar(select(CaseIncident.case_id).where(CaseIncident.id == incident_id))
    newer = incidents_svc.open_incident(s, case_id) if case_id is not None else None
    if newer is not None and newer.id != incident_id:
        return redirect(url_for("admin.incident", incident_id=newer.id))
    if done:
        flash(done, "success")
    return redirect(url_for("admin.incident", incident_id=incident_id))


def _act(incident_id: int, call, done: str):
    try:
        call(db_session(), incident_id, current_actor())
    except EngineIncident as e:  # failed again: recorded as a new incident with this message
        flash(_("处理后再次出错，办件仍暂停：%(msg)s", msg=e.message), "error")
        return _after(incident_id, None)
    except DomainError as e:
        return _refused(e, incident, incident_id)
    return _after(incident_id, done)


@bp.post("/incidents/<int:incident_id>/retry")
@roles_required("admin")
def incident_retry(incident_id: int):
    use_published = request.form.get("use_published") == "1"
    reason = request.form.get("reason", "")
    return _act(
        incident_id,
        lambda s, i, a: actions.retry(s, i, a, use_published=use_published, reason=reason),
        _("已重试：办件恢复办理"),
    )


@bp.post("/incidents/<int:incident_id>/skip")
@roles_required("admin")
def incident_skip(incident_id: int):
    reason = request.form.get("reason", "")
    return _act(incident_id, lambda s, i, a: actions.skip(s, i, a, reason), _("已跳过出错环节：办件继续办理"))


@bp.post("/incidents/<int:incident_id>/cancel")
@roles_required("admin")
def incident_cancel(incident_id: int):
    reason = request.form.get("reason", "")
    return _act(incident_id, lambda s, i, a: actions.cancel(s, i, a, reason), _("已终止办理该办件"))


@bp.post("/incidents/<int:incident_id>/variable")
@roles_required("admin")
def incident_variable(incident_id: int):
    name, text, reason = (request.form.get(k, "") for k in ("name", "value", "reason"))

    def call(s, i, a):
        actions.set_variable(s, i, a, name, actions.parse_value(text), reason)

    return _act(incident_id, call, _("已修改变量 %(name)s：请重试以恢复办理", name=name))
