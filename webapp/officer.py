"""Officer workspace: inbox, task forms, actions, the case page."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from workflows.services import queries

from . import db_session
from .security import OFFICER_ROLES, current_actor, roles_required

bp = Blueprint("officer", __name__, url_prefix="/officer")


@bp.get("/")
@roles_required(*OFFICER_ROLES)
def inbox():
    tab = request.args.get("tab", "group")
    page, counts = queries.inbox(db_session(), current_actor(), tab if tab in queries.TABS else "group",
                                 page=request.args.get("page", 1, type=int))
    return render_template("officer/inbox.html", page=page, counts=counts, tab=tab)
