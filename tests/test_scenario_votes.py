"""Committee votes (R9; issue 12 item 8): 应到, 实到, 同意, 不同意, 弃权 recorded; the quorum and the threshold are
parameters (default: 实到 ≥ 2/3 of 应到, 同意 ≥ 2/3 of 实到, an abstention counting as present and not for); the
备案回执 prints the numbers as recorded."""

from __future__ import annotations

import subprocess

import pytest
from sqlalchemy import select

from workflows.domain.errors import ValidationFailed
from workflows.domain.models import Case, Document
from workflows.domain.votes import count_errors, fraction_words, tally
from workflows.infra.db import transaction
from workflows.services import settings
from workflows.services.timers import fire_due_timers

from .helpers import act, events, find_task, reload, start, task_names, title

TT = "senior_title_direct"


def vote(expected, present, yes, no, abstain, note=""):
    return {
        "experts_expected": expected,
        "experts_present": present,
        "votes_for": yes,
        "votes_against": no,
        "votes_abstain": abstain,
        "vote_note": note,
    }


def _to_vote(session, factory, clock):
    c = start(session, TT, title())
    act(session, c.case_no, "Task_unit_review")
    clock.to(2026, 3, 7, 0, 5)  # unit 公示 2–6 March 2026 is over
    assert fire_due_timers(factory) == 1
    act(session, c.case_no, "Task_dept_review")
    assert task_names(session, c.case_no) == ["Task_committee_vote"]
    return c.case_no


def _decision(session, case_no):
    return [e for e in events(session, case_no, "decision") if e.rule_id == "R9" and "passed" in e.payload][-1]


def test_rule_arithmetic():
    assert tally(vote(11, 9, 6, 2, 1))["passed"] is True  # exactly two thirds of those present
    assert tally(vote(11, 9, 5, 0, 4))["passed"] is False  # abstentions are present and not for
    assert tally(vote(9, 9, 6, 0, 3), threshold="3/4")["passed"] is False
    assert count_errors(vote(11, 7, 7, 0, 0))["experts_present"].startswith("实到 7 人，不足应到 11 人的三分之二")
    assert count_errors(vote(11, 8, 6, 1, 1)) == {}  # 8 ≥ 22/3
    assert "须等于实到人数（9）" in count_errors(vote(11, 9, 6, 1, 1))["votes_abstain"]
    assert count_errors(vote(9, 11, 6, 3, 2))["experts_present"] == "实到人数（11）不能多于应到人数（9）"
    assert fraction_words("2/3") == "三分之二" and fraction_words("3/4") == "四分之三"


def test_threshold_exactly_two_thirds_with_abstentions_passes_and_the_receipt_prints_the_recorded_numbers(
    session, factory, clock
):
    from webapp.issuing import render_pending

    case_no = _to_vote(session, factory, clock)
    act(session, case_no, "Task_committee_vote", vote(11, 9, 6, 2, 1, "表决通过"))
    d = _decision(session, case_no)
    assert d.payload["passed"] is True and d.payload["threshold"] == "2/3" and d.payload["quorum"] == "2/3"
    assert (d.payload["experts_expected"], d.payload["votes_against"], d.payload["votes_abstain"]) == (11, 2, 1)
    clock.to(2026, 3, 14, 0, 5)  # result 公示 9–13 March
    assert fire_due_timers(factory) == 1
    act(session, case_no, "Task_filing")
    assert reload(session, case_no).status == "completed"
    render_pending(factory)
    session.expire_all()
    receipt = session.scalar(
        select(Document).join(Case).where(Case.case_no == case_no, Document.kind == "title_filing_receipt")
    )
    pdf = receipt.pdf
    session.commit()
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    flat = "".join(text.split())
    assert "2026年3月7日评审会议应到评委11人，实到9人，同意6票，不同意2票，弃权1票，达到到会评委三分之二以上" in flat
    assert "评审结果为“通过”" in flat


def test_abstentions_count_against_and_the_vote_fails(session, factory, clock):
    case_no = _to_vote(session, factory, clock)
    act(session, case_no, "Task_committee_vote", vote(9, 9, 5, 0, 4))
    c = reload(session, case_no)
    assert c.status == "refused" and c.outcome_rule == "R9" and "未通过" in c.outcome_reason
    assert _decision(session, case_no).payload["passed"] is False


def test_quorum_failure_records_nothing_and_the_committee_meets_again(session, factory, clock):
    case_no = _to_vote(session, factory, clock)
    before = len(events(session, case_no))
    with pytest.raises(ValidationFailed) as e:
        act(session, case_no, "Task_committee_vote", vote(11, 7, 7, 0, 0))
    assert "不足法定人数" in e.value.message and "experts_present" in e.value.details["fields"]
    assert task_names(session, case_no) == ["Task_committee_vote"] and len(events(session, case_no)) == before
    with pytest.raises(ValidationFailed):  # counts that do not add up
        act(session, case_no, "Task_committee_vote", vote(11, 9, 6, 1, 1))
    act(session, case_no, "Task_committee_vote", vote(11, 8, 6, 1, 1))  # 8 of 11 is a quorum; 6 of 8 ≥ 2/3
    assert _decision(session, case_no).payload["passed"] is True


def test_quorum_and_threshold_are_parameters(session, factory, clock):
    with transaction(session):
        changed = settings.set_params(session, {"vote_quorum": "1/2", "vote_threshold": "3/4"})
    assert changed == {"vote_quorum": "1/2", "vote_threshold": "3/4"}
    with pytest.raises(ValidationFailed):
        with transaction(session):
            settings.set_params(session, {"vote_threshold": "3/2"})
    with pytest.raises(ValidationFailed):
        with transaction(session):
            settings.set_params(session, {"vote_quorum": "二分之一"})
    case_no = _to_vote(session, factory, clock)
    assert find_task(session, case_no, "Task_committee_vote")
    act(session, case_no, "Task_committee_vote", vote(11, 6, 4, 1, 1))  # 6 of 11 ≥ 1/2, but 4 of 6 < 3/4
    d = _decision(session, case_no)
    assert d.payload["passed"] is False and d.payload["threshold"] == "3/4"
    assert reload(session, case_no).status == "refused"
