"""One outcome vocabulary (issue #12 item 4): every end event of every procedure with its status, its label and the
paper it issues; the same labels on the pages, the case file and the API; and every clause quoted exactly."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from lxml import etree

from workflows.domain import outcomes
from workflows.domain.models import KIND_TITLES
from workflows.domain.procedures import PROCEDURES
from workflows.domain.rules import LICENSING_LAW, RULES

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "spiff": "http://spiffworkflow.org/bpmn/schema/1.0/core"}

NOT_ACCEPTED = ("not_accepted", "不予受理", ("不予受理通知书",))
TERMINATED = ("terminated", "终止办理", ("终止办理通知书",))


def _refused(wording: str) -> tuple[str, str, tuple[str, ...]]:
    return ("refused", wording, (f"{wording}决定书",))


# (procedure, end event) → (status, label or the procedure's wording, titles of the papers the closing step issues)
EXPECTED = {
    ("green_channel_registration", "End_credit_blocked"): NOT_ACCEPTED,
    ("green_channel_registration", "End_not_eligible"): NOT_ACCEPTED,
    ("green_channel_registration", "End_dossier_incomplete"): NOT_ACCEPTED,
    ("green_channel_registration", "End_unit_refused"): _refused("不予列编"),
    ("green_channel_registration", "End_assessment_failed"): _refused("不予列编"),
    ("green_channel_registration", "End_dept_refused"): _refused("不予列编"),
    ("green_channel_registration", "End_pool_refused"): _refused("不予列编"),
    ("green_channel_registration", "End_quota_refused"): _refused("不予列编"),
    ("green_channel_registration", "End_publicity_objection_upheld"): TERMINATED,
    ("green_channel_registration", "End_rongque_lapsed"): TERMINATED,
    ("green_channel_registration", "End_completed"): (
        "completed",
        "已办结",
        ("事业单位“绿色通道”引进人才列编备案表", "办结通知书"),
    ),
    ("special_post", "End_credit_blocked"): NOT_ACCEPTED,
    ("special_post", "End_not_eligible"): NOT_ACCEPTED,
    ("special_post", "End_dept_refused"): _refused("不予核准"),
    ("special_post", "End_hrss_refused"): _refused("不予核准"),
    # the 核销 notice was issued by the write-off step; closing adds nothing
    ("special_post", "End_completed"): ("completed", "已办结", ()),
    ("senior_title_direct", "End_credit_blocked"): NOT_ACCEPTED,
    ("senior_title_direct", "End_not_eligible"): NOT_ACCEPTED,
    ("senior_title_direct", "End_unit_refused"): _refused("不予推荐"),
    ("senior_title_direct", "End_dept_refused"): _refused("不予推荐"),
    ("senior_title_direct", "End_vote_failed"): _refused("评审未通过"),
    ("senior_title_direct", "End_publicity_objection_upheld"): TERMINATED,
    ("senior_title_direct", "End_result_publicity_objection_upheld"): TERMINATED,
    ("senior_title_direct", "End_completed"): ("completed", "已办结", ("职称评审结果备案回执", "办结通知书")),
    ("senior_post_level2", "End_credit_blocked"): NOT_ACCEPTED,
    ("senior_post_level2", "End_not_eligible"): NOT_ACCEPTED,
    ("senior_post_level2", "End_unit_refused"): _refused("不予推荐"),
    ("senior_post_level2", "End_dept_refused"): _refused("不予推荐"),
    ("senior_post_level2", "End_vote_failed"): _refused("评议未通过"),
    ("senior_post_level2", "End_publicity_objection_upheld"): TERMINATED,
    ("senior_post_level2", "End_result_publicity_objection_upheld"): TERMINATED,
    ("senior_post_level2", "End_hrss_refused"): _refused("不予核准"),
    ("senior_post_level2", "End_completed"): ("completed", "已办结", ("办结通知书",)),
    # the 权益保障 window answers in the system: no numbered paper at any end
    ("rights_complaint", "End_rejected"): ("not_accepted", "不予受理", ()),
    ("rights_complaint", "End_completed"): ("completed", "已办结", ()),
    ("rights_complaint", "End_unrated"): ("completed", "已办结", ()),
}


def _case_ends(procedure_id: str) -> dict[str, tuple[str, str, str | None, str]]:
    """End event id → (its name, the closing step's outcome, its rule, the role of its lane — the desk that decided),
    for every end event that closes the case."""
    root = etree.parse(str(ROOT / "bpmn" / f"{procedure_id}.bpmn")).getroot()
    process = root.find("bpmn:process", NS)
    flows = {f.get("targetRef"): f.get("sourceRef") for f in process.iterfind("bpmn:sequenceFlow", NS)}
    lanes = {
        ref.text: lane.get("id").removeprefix("Lane_")
        for lane in process.iterfind(".//bpmn:lane", NS)
        for ref in lane.iterfind("bpmn:flowNodeRef", NS)
    }
    out = {}
    for end in process.iterfind("bpmn:endEvent", NS):
        task = process.find(f"bpmn:serviceTask[@id='{flows.get(end.get('id'))}']", NS)
        op = task.find(".//spiff:serviceTaskOperator[@id='close_case']", NS) if task is not None else None
        if op is None:
            continue  # the end of a side path (a reminder sent), not of the case
        params = {
            p.get("id"): ast.literal_eval(p.get("value"))
            for p in op.iterfind(".//spiff:parameter", NS)
            if p.get("id") in ("outcome", "rule")
        }
        out[end.get("id")] = (end.get("name"), params["outcome"], params.get("rule"), lanes.get(task.get("id"), ""))
    return out


@pytest.mark.parametrize("procedure_id", list(PROCEDURES))
def test_every_end_event_has_its_status_label_and_paper(procedure_id):
    proc = PROCEDURES[procedure_id]
    ends = _case_ends(procedure_id)
    assert set(ends) == {end for p, end in EXPECTED if p == procedure_id}
    for end, (name, status, rule_id, role) in ends.items():
        expected = EXPECTED[(procedure_id, end)]
        wording = proc.refusal(rule_id, role) if status == "refused" else outcomes.label(status)
        papers = []
        for kind, _office in proc.documents_for("close_case", status):
            papers.append(f"{wording}决定书" if kind == "refusal_decision" else KIND_TITLES[kind])
        assert (status, wording, tuple(papers)) == expected, end
        assert status in outcomes.CLOSING
        if proc.step_documents:  # a procedure with papers issues the outcome's own (the complaint window has none)
            assert outcomes.OUTCOMES[status].document in (None, *dict(proc.documents_for("close_case", status)))
        # the diagram speaks the same words (a completed case may say what completing means: 已核销)
        assert name.startswith(wording) or (status == "completed" and name.startswith(("办结", "已核销"))), (end, name)


def test_the_vocabulary():
    assert {s: (o.label, o.document) for s, o in outcomes.OUTCOMES.items()} == {
        "not_accepted": ("不予受理", "refusal_notice"),
        "refused": ("不予批准", "refusal_decision"),
        "terminated": ("终止办理", "termination_notice"),
        "withdrawn": ("已撤回", None),  # the applicant's own act: no decision to notify
        "completed": ("已办结", None),  # the procedure's own papers
    }
    assert all(o.adverse == (o.document is not None) for o in outcomes.OUTCOMES.values())


def test_pages_the_case_file_and_the_api_use_the_same_labels():
    from webapp.api.openapi import SCHEMAS
    from webapp.views import STATUS_LABELS
    from workflows.services import case_file

    assert {k: v._args[0] for k, v in STATUS_LABELS.items()} == dict(outcomes.STATUS_LABELS)
    assert dict(case_file.STATUS_LABELS) == dict(outcomes.STATUS_LABELS)
    assert SCHEMAS["CaseSummary"]["properties"]["status"]["enum"] == list(outcomes.STATUS_LABELS)


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed documents (../shared/seeds) are not here")
def test_every_clause_is_quoted_exactly_from_the_seeds():
    seeds = {p.name[:3]: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}
    source_seed = {
        "《保障科研人员权益工作方案》": "000",
        "《关于进一步激发科研人员创新创业积极性": "002",
        "《内蒙古自治区人才发展促进条例》": "004",
    }
    quoted = 0
    for rule in RULES.values():
        assert rule.quotes or rule.basis, rule.id
        for q in rule.quotes:
            if q.source.startswith(LICENSING_LAW):
                continue  # a statute, not a seed: quoted from the law's text
            seed = next(code for prefix, code in source_seed.items() if q.source.startswith(prefix))
            assert q.text in seeds[seed], f"{rule.id}: not verbatim in seed {seed}: {q.text}"
            assert "“" not in q.text[:1] and "”" not in q.text[-1:], rule.id  # no stray outer quotation marks
            quoted += 1
    assert quoted >= 12


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed documents (../shared/seeds) are not here")
def test_the_article_of_a_seed_clause_is_where_the_clause_is():
    seed_004 = (SEEDS / "004_73091ec1dfa25049.txt").read_text(encoding="utf-8")
    checked = 0
    for rule in RULES.values():
        for q in rule.quotes:
            m = re.search(r"《内蒙古自治区人才发展促进条例》(第.+条)$", q.source)
            if m:
                checked += 1
                line = next(ln for ln in seed_004.splitlines() if ln.startswith(m.group(1)))
                assert q.text in line, (rule.id, m.group(1))
    assert checked >= 2  # R10's article and the rules quoting the 条例


def test_definitions_deployed_before_the_vocabulary_close_with_it(session, clock):
    """A running case on an older version still closes every refusal as `refused`: the operator says 不予受理 before
    acceptance and 终止办理 for an upheld objection (R7), and issues the matching paper."""
    from webapp.demo.accounts import actor_for
    from workflows.domain.models import Case, CaseEvent, Document
    from workflows.services import operations
    from workflows.services.settings import params_and_calendar

    from .helpers import registration, start, title

    def close(case_no: str, params: dict, forget_the_desk: bool = False) -> tuple[str, list[str]]:
        """Run the operator as an old definition would call it; report the status and the papers; undo."""
        case = session.query(Case).filter_by(case_no=case_no).one()
        if forget_the_desk:  # as if the case had not reached a desk yet
            session.query(CaseEvent).filter(CaseEvent.case_id == case.id, CaseEvent.action == "task_opened").delete()
        p, cal = params_and_calendar(session)
        operations.close_case(
            operations.OperationContext(session, case, actor_for(session, "renshe"), cal, p), {}, params
        )
        out = case.status, [d.kind for d in session.query(Document).filter(Document.case_id == case.id)]
        session.rollback()
        return out

    reg = start(session, "green_channel_registration", registration()).case_no  # accepted (即收即办)
    session.commit()
    assert close(reg, {"outcome": "refused", "rule": "R7", "reason": "异议属实"}) == (
        "terminated",
        ["acceptance_notice", "termination_notice"],
    )
    assert close(reg, {"outcome": "refused", "rule": None, "reason": "不同意"}) == (
        "refused",
        ["acceptance_notice", "refusal_decision"],
    )
    tt = start(session, "senior_title_direct", title()).case_no
    session.commit()
    refused_at_intake = {"outcome": "refused", "rule": "R9", "reason": "不符合直接申报条件"}
    assert close(tt, refused_at_intake, forget_the_desk=True) == ("not_accepted", ["refusal_notice"])
    assert close(tt, refused_at_intake) == ("refused", ["refusal_decision"])  # its first desk had opened


def test_a_refusal_is_named_by_its_rule_then_by_its_desk():
    """A procedure whose desks refuse in different words (a 推荐 by the unit, a 核准 by 人社) keys them by role."""
    import dataclasses

    p = dataclasses.replace(
        PROCEDURES["senior_title_direct"], refusals={"": "不予推荐", "R9": "评审未通过", "hrss": "不予核准"}
    )
    assert p.refusal("R9", "committee") == "评审未通过"
    assert p.refusal(None, "hrss") == "不予核准"
    assert p.refusal(None, "dept") == p.refusal(None, None) == "不予推荐"
