"""Temporary view of the procedure registry under its old names (removed once every caller reads the registry)."""
from __future__ import annotations

from workflows.domain.procedures import PROCEDURES

START_SCHEMAS: dict[str, dict] = {p.id: p.start_schema for p in PROCEDURES.values()}
PROCEDURE_NAMES = {p.id: p.name for p in PROCEDURES.values()}
PROCEDURE_LETTER = {p.id: p.letter for p in PROCEDURES.values()}
