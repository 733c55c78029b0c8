"""Temporary view of the procedure registry under its old names (removed once every caller reads the registry)."""
from __future__ import annotations

from workflows.domain.procedures import PROCEDURES, MaterialType, material_name  # noqa: F401

CATALOGUE: dict[str, list[MaterialType]] = {p.id: list(p.materials) for p in PROCEDURES.values()}


def material_types(procedure: str) -> list[MaterialType]:
    return CATALOGUE[procedure]
