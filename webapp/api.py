"""JSON API under /api/v1 (session or bearer token), errors as JSON with a code and a Chinese message."""
from __future__ import annotations

from flask import Blueprint, jsonify

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/ping")
def ping():
    return jsonify({"status": "ok"})
