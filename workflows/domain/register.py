"""The issuing office's register (发文登记): which number series (文号序列) a kind of document draws from, the default
发文机关代字 of each series, and the fixed categories of a re-issue.

An office keeps one gap-free series per kind group and year (GB/T 9704 7.2.4: 发文机关代字〔年份〕序号号): receipts and
acceptance papers in one (内人社受字), decisions in another (内人社字), filing forms and receipts in a third
(内人社备字), 公示 in a fourth. The series of decisions keeps the office's base 代字, so a database numbered before
series existed continues its one register there (migration 0009). A paper the applicant signs (the 容缺承诺书) is
the applicant's, not the office's: it carries no office number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class SeriesGroup:
    key: str
    label: str  # zh, shown to administrators
    covers: str  # zh: what it numbers
    infix: str  # inserted before the final 字 of the office's base 代字 for the default prefix


SERIES_GROUPS: dict[str, SeriesGroup] = {
    g.key: g
    for g in (
        SeriesGroup("acceptance", "受理类", "受理、容缺受理、补正材料、不予受理通知书", "受"),
        SeriesGroup("decision", "决定类", "办结、终止办理、不予批准决定、核销特设岗位通知", ""),
        SeriesGroup("filing", "备案核准类", "列编备案表、特设岗位核准表、职称申报表、评审结果备案回执", "备"),
        SeriesGroup("publicity", "公示类", "公示", "公"),
        # 通报 (党政机关公文处理工作条例 第八条(九)) is a kind of its own: an office's report to other offices, not a
        # decision on anyone's application — kept out of the register of decisions (which the public verifies against
        # a case), numbered 1, 2, 3, 4 a year for the quarterly reports, and its 代字 set apart by administrators
        SeriesGroup("bulletin", "通报类", "季度调度通报", "通"),
    )
}
DEFAULT_GROUP = "decision"  # a kind this table does not name yet numbers in the office's main register

# kind → series group; None: the document carries no office number.
KIND_SERIES: dict[str, str | None] = {
    "acceptance_notice": "acceptance",
    "rongque_acceptance_notice": "acceptance",
    "correction_notice": "acceptance",
    "refusal_notice": "acceptance",
    "rongque_commitment": None,  # signed by the applicant
    "refusal_decision": "decision",  # 不予批准决定书 (the docs-content branch adds the kind)
    "termination_notice": "decision",
    "completion_notice": "decision",
    "special_post_writeoff_notice": "decision",
    "registration_filing_form": "filing",
    "special_post_form": "filing",
    "title_application_form": "filing",
    "title_filing_receipt": "filing",
    "publicity_notice": "publicity",
    "approval_notice": "filing",  # 事项配置's 核准通知书
    "dispatch_report": "bulletin",  # 季度调度通报: an office document, no case (OFFICE_KINDS)
}


def series_group(kind: str) -> str | None:
    """The series a kind draws its number from (None: unnumbered)."""
    return KIND_SERIES[kind] if kind in KIND_SERIES else DEFAULT_GROUP


def default_prefix(base: str, group: str) -> str:
    """内人社字 + 受 → 内人社受字; a base without the final 字 gets the infix appended."""
    infix = SERIES_GROUPS[group].infix
    if not infix:
        return base
    return f"{base[:-1]}{infix}字" if base.endswith("字") else f"{base}{infix}"


# 代字: CJK characters, letters and digits (no brackets or spaces: the number is 代字〔年〕序号号).
PREFIX_RE = re.compile(r"^[\u4e00-\u9fffA-Za-z0-9]{2,20}$")


def prefix_problem(prefix: str) -> str | None:
    """Why `prefix` cannot be a 发文机关代字 (zh), or None."""
    if not prefix:
        return "请填写发文机关代字"
    if not PREFIX_RE.match(prefix):
        return "发文机关代字只能由 2–20 个汉字、字母或数字组成（不含括号、空格和标点），例如“内人社受字”"
    return None


def format_doc_no(prefix: str, year: int, seq: int) -> str:
    """GB/T 9704 7.2.4: 年份全称 in 六角括号, 序号 without 第 and without leading zeros."""
    return f"{prefix}〔{year}〕{seq}号"


# Why a document was re-issued. The public verification page shows the category only; an officer's words stay
# internal (an ID number typed into a reason was once published).
REISSUE_CATEGORIES: dict[str, str] = {
    "correction": "记载事项有误更正",
    "data_changed": "办件信息变更",
    "layout": "版式或生成问题",
    "replacement": "遗失或损毁补发",
    "other": "其他原因",
}


def reissue_label(category: str | None) -> str:
    return REISSUE_CATEGORIES.get(category or "other", REISSUE_CATEGORIES["other"])
