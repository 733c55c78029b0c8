"""The 季度调度通报 issued by the worker (issue 14 item 3): after a quarter's end, once whatever the number of workers
(two racing on SQLite and on PostgreSQL: one numbers it, the other passes), numbered in the 科技厅's 通报 series, an
office document without a case; nothing for a quarter in which the installation was not in use."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from workflows.domain.models import Document, PeriodicReport
from workflows.services import quarterly

from .helpers import registration, start


@pytest.fixture(params=["sqlite", "postgresql"])
def factory_of(request, clock):
    return request.getfixturevalue("factory" if request.param == "sqlite" else "pg_factory")


def _reports(factory) -> list[Document]:
    s = factory()
    try:
        return list(s.scalars(select(Document).where(Document.kind == quarterly.KIND).order_by(Document.id)))
    finally:
        s.close()


def test_two_workers_issue_one_numbered_report_after_the_quarter(factory_of, clock):
    factory = factory_of
    s = factory()
    start(s, "green_channel_registration", registration())  # received on 2 March 2026: in use in the first quarter
    s.close()
    clock.to(2026, 3, 31, 23, 30)
    assert quarterly.issue_due(factory) is None  # the last ended quarter (2025 Q4) saw no case: nothing to report
    assert _reports(factory) == []

    clock.to(2026, 4, 1, 0, 30)  # the first quarter has ended
    barrier, results = threading.Barrier(2), []

    def worker():
        barrier.wait()
        results.append(quarterly.issue_due(factory))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results, key=str) == [None, "内科通字〔2026〕1号"]  # the 科技厅's 通报 series, first of the year
    assert quarterly.issue_due(factory) is None  # the next rounds: issued already
    clock.to(2026, 5, 20, 9)
    assert quarterly.issue_due(factory) is None

    (doc,) = _reports(factory)
    assert doc.case_id is None and doc.office_code == "D01" and doc.kind_group == "bulletin"
    assert doc.status == "pending" and doc.sha256 is None  # the render queue signs and archives it
    assert doc.data["period"] == "2026年第一季度" and doc.data["issuer"] == "内蒙古自治区科学技术厅"
    assert doc.data["green_channel"][0]["rows"][0] == ["收件", 1]
    s = factory()
    (row,) = s.scalars(select(PeriodicReport)).all()
    assert (row.key, row.document_id, row.year, row.quarter) == ("dispatch_report:2026Q1", doc.id, 2026, 1)
    s.close()

    clock.to(2026, 7, 1, 9)  # the second quarter: the next number of the series
    assert quarterly.issue_due(factory) == "内科通字〔2026〕2号"
