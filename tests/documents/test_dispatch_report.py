"""The quarterly dispatch report (季度调度通报) of the 权益保障 window: rendered from data, read back with pypdf."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader

from documents.dispatch_report import render_dispatch_report

DATA = {
    "issuer": "内蒙古自治区科学技术厅",
    "title": "关于2026年第一季度科研人员权益保障投诉问题及解决情况的通报",
    "addressee": "自治区财政厅、教育厅、人力资源和社会保障厅，各有关单位",
    "period": "2026年第一季度",
    "issue_date": "2026-04-01",
    "filed": 3,
    "by_topic": [("编制管理", 1, 1), ("科研管理放权", 1, 1), ("子女入学", 1, 0)],
    "by_office": [("内蒙古自治区人力资源和社会保障厅", 2, 2, 1), ("内蒙古自治区教育厅", 1, 0, 0)],
    "by_status": [("已办结", 1), ("办理中", 2)],
    "ratings": [(4, 1)],
    "on_time": 1,
    "late": 1,
    "transferred": 1,
    "answer_days_p50": 10.0,
    "answer_days_max": 17,
}


def text_of(pdf: bytes) -> str:
    return re.sub(r"\s+", "", "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))


def test_complaints_by_topic_office_status_and_time_to_answer():
    pdf = render_dispatch_report(DATA)
    assert pdf.startswith(b"%PDF-")
    text = text_of(pdf)
    for expected in (
        "内蒙古自治区科学技术厅",
        "科研人员权益保障投诉问题及解决情况的通报",
        "本季度共收到投诉和意见反馈3件",
        "按期答复1件、逾期答复1件",
        "转办1件",
        "中位数为10.0个工作日，最长17个工作日",
        "编制管理",
        "子女入学",
        "内蒙古自治区人力资源和社会保障厅",
        "4星1件",
        "2026年4月1日",
    ):
        assert expected in text, expected
    assert "绿色通道" not in text  # no green-channel section until the statistics service supplies one


def test_green_channel_sections_are_printed_when_supplied():
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><rect width="120" height="20" fill="#b71c1c"/><text x="130" y="15">42</text></svg>'
    pdf = render_dispatch_report(
        {**DATA, "green_channel": [{"title": "（一）列编注册", "rows": [("办结", 42)], "svg": svg}]}
    )
    text = text_of(pdf)
    assert "人才“绿色通道”办理情况" in text and "列编注册" in text and "42" in text


def test_an_empty_quarter_says_so():
    text = text_of(render_dispatch_report({**DATA, "filed": 0, "by_topic": [], "by_office": [], "by_status": []}))
    assert "本季度未收到投诉和意见反馈" in text
