"""How a case ends: one vocabulary for statuses, pages, the API and the documents (DESIGN §3a).

| status        | when                                                              | label    | document            |
|---------------|-------------------------------------------------------------------|----------|---------------------|
| not_accepted  | refused before acceptance (失信, eligibility, key materials)        | 不予受理 | 不予受理通知书       |
| refused       | refused after acceptance by a desk, or a vote below the threshold | 不予批准 | 不予批准决定书 (the procedure's wording: 不予列编 / 不予核准 / 评审未通过 …) |
| terminated    | 容缺 items not supplied in time; a 公示 objection upheld            | 终止办理 | 终止办理通知书       |
| withdrawn     | withdrawn by the applicant (or the unit that filed)               | 已撤回   | —                   |
| completed     | approved and filed                                                | 已办结   | the procedure's notice / 备案回执 |

A return for correction (退回补正 / 退回修改) is not an end: the case stays open.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Outcome:
    status: str
    label: str  # the status label on every page, in the API's status_label and on the case file
    document: str | None  # the document kind that tells the addressee (None: none, or the procedure's own)
    adverse: bool  # states the rule, the clause, the reason and the remedy (行政许可法 第三十八条)


OUTCOMES: Mapping[str, Outcome] = MappingProxyType(
    {
        o.status: o
        for o in (
            Outcome("not_accepted", "不予受理", "refusal_notice", True),
            Outcome("refused", "不予批准", "refusal_decision", True),
            Outcome("terminated", "终止办理", "termination_notice", True),
            Outcome("withdrawn", "已撤回", None, False),
            Outcome("completed", "已办结", None, False),
        )
    }
)
# what a process may close a case with (close_case's `outcome`); a withdrawal is the applicant's action, not a step
CLOSING = ("completed", "not_accepted", "refused", "terminated")
TERMINAL = frozenset(OUTCOMES)

# every status a case can have, with its label (the open ones first)
STATUS_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "running": "办理中",
        "on_hold": "暂停（等待）",
        "returned": "退回补正",
        **{s: o.label for s, o in OUTCOMES.items()},
        "error": "正在修复中",  # an incident: the administrators repair it (never shown as an error)
    }
)


def label(status: str) -> str:
    return STATUS_LABELS.get(status, status)
