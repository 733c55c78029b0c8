"""The procedure registry: each procedure declared once, complete, and the only place that names it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from lxml import etree

import documents
from workflows.domain.errors import ValidationFailed
from workflows.domain.models import KIND_TITLES
from workflows.domain.procedures import OWN_OFFICE, PROCEDURES, PUBLICITY_OFFICE, get

ROOT = Path(__file__).resolve().parents[1]
IDS = set(PROCEDURES)
# Where the word is not the procedure: the 特设岗位 ledger's table and the audit action of its entries (stored in the
# hash-chained trail, so it cannot be renamed) — and the pages that read that action.
NOT_THE_PROCEDURE = {
    "workflows/domain/models.py": {"special_post"},  # __tablename__ of the 特设岗位 ledger
    "workflows/services/operations.py": {"special_post"},  # audit action of a ledger entry
    "workflows/services/cases.py": {"special_post"},  # the same action for a later move to a regular post (R8)
    "webapp/documents_web.py": {"special_post"},  # reads that action from the trail
    "webapp/officer.py": {"special_post"},  # the action's label on the timeline
    "workflows/services/case_file.py": {"special_post"},  # the action's label in the 卷宗's audit trail
}


def _literal_sites() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for package in ("workflows", "webapp", "documents"):
        for path in (ROOT / package).rglob("*.py"):
            rel = str(path.relative_to(ROOT))
            if "/migrations/" in rel:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value in IDS:
                    found.setdefault(rel, set()).add(node.value)
        for path in (ROOT / package).rglob("*.html"):
            text = path.read_text(encoding="utf-8")
            hits = {i for i in IDS if re.search(rf"['\"]{i}['\"]", text)}
            if hits:
                found[str(path.relative_to(ROOT))] = hits
    return found


def test_procedure_ids_are_literals_in_the_registry_only():
    sites = {f: ids - NOT_THE_PROCEDURE.get(f, set()) for f, ids in _literal_sites().items()}
    sites = {f: ids for f, ids in sites.items() if ids}
    assert set(sites) == {"workflows/domain/procedures.py"}, sites


@pytest.mark.parametrize("pid", sorted(IDS))
def test_each_procedure_has_its_bpmn_file_with_that_process_id(pid):
    tree = etree.parse(str(ROOT / "bpmn" / f"{pid}.bpmn"), etree.XMLParser(resolve_entities=False, no_network=True))
    ids = tree.xpath("//bpmn:process/@id", namespaces={"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"})
    assert pid in ids


@pytest.mark.parametrize("pid", sorted(IDS))
def test_each_procedure_is_complete(pid):
    p = PROCEDURES[pid]
    Draft202012Validator.check_schema(p.start_schema)
    assert set(p.required) <= set(p.start_schema["properties"])
    assert set(p.person_fields) <= set(p.start_properties) and p.correctable <= set(p.start_properties)
    codes = [m.code for m in p.materials]
    # an application has key materials (R3); a complaint to the 权益保障 window has no checklist
    assert len(codes) == len(set(codes)) and (any(m.is_key for m in p.materials) or p.kind == "complaint")
    for docs in p.step_documents.values():
        for kind, office in docs:
            assert kind in KIND_TITLES and kind in documents.KINDS
            assert office in (OWN_OFFICE, PUBLICITY_OFFICE) or re.fullmatch(r"[A-Z]{2}", office)
    assert len({q.letter for q in PROCEDURES.values()}) == len(PROCEDURES)


def test_an_unknown_procedure_is_a_validation_error_not_a_key_error():
    with pytest.raises(ValidationFailed, match="未知的事项"):
        get("delayed_retirement")


def test_the_step_documents_of_the_three_procedures():
    """What the old if-chain in the archive issued, now read from the registry (offices resolved by the archive)."""
    reg, sp, tt = (PROCEDURES[i] for i in ("green_channel_registration", "special_post", "senior_title_direct"))
    assert reg.documents_for("accept_case", "rongque") == (
        ("rongque_acceptance_notice", OWN_OFFICE),
        ("rongque_commitment", OWN_OFFICE),
    )
    assert tt.documents_for("accept_case", None) == (("acceptance_notice", OWN_OFFICE),)
    assert reg.documents_for("close_case", "completed") == (
        ("registration_filing_form", "RS"),
        ("completion_notice", OWN_OFFICE),
    )
    assert tt.documents_for("close_case", "completed") == (
        ("title_filing_receipt", "RS"),
        ("completion_notice", OWN_OFFICE),
    )
    assert sp.documents_for("close_case", "completed") == ()
    assert sp.documents_for("close_case", "not_accepted") == (("refusal_notice", OWN_OFFICE),)
    assert sp.documents_for("close_case", "refused") == (("refusal_decision", OWN_OFFICE),)
    assert tt.documents_for("close_case", "terminated") == (("termination_notice", OWN_OFFICE),)
    assert sp.documents_for("writeoff_special_post") == (("special_post_writeoff_notice", "RS"),)
    assert reg.documents_for("writeoff_special_post") == ()
    assert (reg.office, sp.office, tt.office) == ("RS", "RS", "PW")
