"""Applicant portal (申请人): apply, track, supply owed items, withdraw, download notices, rate."""
from __future__ import annotations

from flask import Blueprint, render_template

from workflows.services import queries

from . import db_session
from .security import current_actor, roles_required

bp = Blueprint("applicant", __name__, url_prefix="/my")


@bp.get("/")
@roles_required("applicant")
def home():
    page = queries.list_cases(db_session(), current_actor())
    return render_template("applicant/home.html", page=page)


@bp.get("/new")
@roles_required("applicant")
def new():
    return render_template("applicant/new.html")
