"""Sample data for the bundled processes, shared by the demo loader, the volume generator, tests and benchmarks:
an approving answer for every user-task form, and the full registration checklist."""

from __future__ import annotations

from workflows.domain.procedures import REGISTRATION

ALL_REG_MATERIALS = [m.code for m in REGISTRATION.materials]

APPROVE_FORMS: dict[str, dict] = {
    "Task_rongque_commitment": {"commitment_signed": True},
    "Task_unit_review": {"unit_decision": "approve", "unit_opinion": "经单位党委会研究，同意"},
    "Task_assessment": {"assessment_result": "pass", "assessment_note": "考核合格"},
    "Task_dept_review": {"dept_decision": "approve", "dept_opinion": "同意"},
    "Task_pool_review": {"pool_decision": "approve", "pool_opinion": "同意使用人才专项编制"},
    "Task_quota_adjust": {"adjust_decision": "retry", "adjust_note": "已调剂编制"},
    "Task_filing": {"filing_confirmed": True, "filing_note": "材料齐全，予以备案"},
    "Task_hrss_approval": {"hrss_decision": "approve", "hrss_opinion": "同意设置特设岗位"},
    "Task_committee_vote": {"experts_present": 9, "votes_for": 8, "vote_note": "表决通过"},
}
