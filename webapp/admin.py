"""Administrator console: process definitions (bpmn-js modeler), users, units, quota, holidays, parameters."""
from __future__ import annotations

from flask import Blueprint, render_template

from . import db_session
from .security import roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@roles_required("admin")
def home():
    return render_template("admin/home.html")
