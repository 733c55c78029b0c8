"""Administrator console, 模拟: a draft (or any version) replayed against the recorded history of recent cases
before it is published. Routes on the admin blueprint, kept out of webapp/admin.py.

The page only reads: `workflows/services/simulation.py` replays in memory and writes nothing, so it is a GET whose
query (how many cases, open ones too) can be bookmarked and repeated.
"""

from __future__ import annotations

from flask import flash, render_template, request
from flask_babel import lazy_gettext as _l

from webapp.admin import bp
from webapp.db import db_session
from webapp.security import roles_required
from workflows.domain import outcomes
from workflows.domain.errors import DomainError
from workflows.services import simulation
from workflows.services import versions as versions_svc

VERDICT_LABELS = {  # the service's labels are Chinese (as its messages are); the page's follow the language
    "same": _l("结果相同"),
    "path_changed": _l("结果相同，路径不同"),
    "different": _l("结果不同"),
    "stalled": _l("停滞"),
    "not_replayable": _l("无法回放"),
}
ORDER = ["different", "stalled", "path_changed", "not_replayable", "same"]  # what needs a look first


@bp.get("/processes/<process_id>/versions/<int:version>/simulation")
@roles_required("admin")
def simulation_page(process_id: str, version: int):
    s = db_session()
    row = versions_svc.get_version(s, process_id, version)
    limit = request.args.get("limit", default=simulation.DEFAULT_CASES, type=int)
    include_running = request.args.get("running") == "1"
    report, status = None, 200
    try:
        report = simulation.simulate(s, process_id, version, limit=limit, include_running=include_running)
    except DomainError as e:
        flash(e.message, "error")
        status = e.status
    return render_template(
        "admin/simulation.html",
        row=row,
        report=report,
        limit=limit,
        max_cases=simulation.MAX_CASES,
        include_running=include_running,
        verdicts=VERDICT_LABELS,
        status_label=outcomes.label,
        status_names=versions_svc.STATUS_LABELS,
        cases=sorted(report.cases, key=lambda c: ORDER.index(c.verdict)) if report else [],
    ), status
