"""The 季度调度通报 (seed 000 §三(三): the 科技厅 dispatches the 权益保障 window's complaints each quarter and reports on
them) issued by the worker after each quarter's end: numbered in the 科技厅's 通报 series, rendered, signed and archived
by the render queue like every other document, verifiable at /verify/<code>; and the same data for an
administrator's unnumbered preview.

Once, whatever the number of workers: each quarter has one `periodic_report` row, created by whichever worker comes
first (a second insert is refused by the key and ignored), then taken FOR UPDATE SKIP LOCKED on PostgreSQL (the
other workers pass it by, as the timer sweep passes a locked case) — BEGIN IMMEDIATE serialises the same on SQLite —
and filled with the document it issued in the same transaction that numbers the document. A row with its document
is done; a failure rolls both back and the next round tries again.

Only the last ended quarter is issued, and only when the installation was in use in it (a case received before its
end): a new installation does not open with a report of an empty quarter, and a worker that was stopped for a whole
quarter does not issue old quarters in a row (an administrator draws those as previews).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workflows.domain.actors import Actor
from workflows.domain.clock import LOCAL_TZ, today_local
from workflows.domain.models import Case, Document, PeriodicReport
from workflows.domain.procedures import SCIENCE_OFFICE
from workflows.infra import lookups
from workflows.infra.db import dialect_of, transaction
from workflows.services import archive, rights, statistics

log = logging.getLogger(__name__)

KIND = "dispatch_report"
# the figures of the whole region (complaints are not in the statistics; the report has them in its own part)
REGION = Actor("quarterly-report", "hrss")


def report_key(year: int, quarter: int) -> str:
    return f"{KIND}:{year}Q{quarter}"


def report_data(session: Session, year: int, quarter: int, today: date) -> dict:
    """What the 季度调度通报 prints: the complaints of the quarter (rights.dispatch_report_data) and the quarter's
    green-channel figures from the statistics read model, charts as data (documents/dispatch_report.py draws them).
    Reads the read model as it stands: the worker keeps it current (the preview route refreshes it first)."""
    sections = statistics.quarter_report(session, REGION, year, quarter, today)
    data = rights.dispatch_report_data(session, year, quarter, today, green_channel=sections)
    issuer = lookups.unit(session, SCIENCE_OFFICE)
    if issuer is not None:
        data["issuer"] = issuer.name
    return data


def _in_use_before(session: Session, day: date) -> bool:
    boundary = datetime.combine(day, time.min, LOCAL_TZ)
    return session.scalar(select(Case.id).where(Case.created_at < boundary).limit(1)) is not None


def issue_due(factory, today: date | None = None) -> str | None:
    """The worker's round: issue the last ended quarter's report if nobody has; returns the 文号 of the document
    planned (its PDF follows through the render queue) or None."""
    today = today or today_local()
    year, quarter = rights.previous_quarter(today)
    key = report_key(year, quarter)
    _start, end = rights.quarter_bounds(year, quarter)
    with factory() as session:
        done = session.execute(select(PeriodicReport.document_id).where(PeriodicReport.key == key)).first()
        ready = done is None and _in_use_before(session, end) and lookups.unit(session, SCIENCE_OFFICE) is not None
        session.commit()
    if done is not None and done[0] is not None:
        return None
    if done is None and not ready:
        return None
    # the figures printed under a number must be current: the cases changed since the last round first (after an
    # upgrade the worker builds the read model over several rounds: the report waits until it has caught up)
    with factory() as session, transaction(session):
        if not statistics.refresh_lock(session):  # another worker is refreshing: its round, or our next one
            return None
        if statistics.refresh(session, limit=statistics.ROUND_LIMIT) >= statistics.ROUND_LIMIT:
            return None
    if done is None:
        with factory() as session, transaction(session):
            try:
                with session.begin_nested():
                    session.execute(
                        insert(PeriodicReport).values(
                            key=key, kind=KIND, year=year, quarter=quarter, office_code=SCIENCE_OFFICE
                        )
                    )
            except IntegrityError:
                pass  # another worker claimed it first
    with factory() as session, transaction(session):
        q = select(PeriodicReport).where(PeriodicReport.key == key, PeriodicReport.document_id.is_(None))
        if dialect_of(session) == "postgresql":
            q = q.with_for_update(skip_locked=True)
        row = session.scalar(q)
        if row is None:  # issued, or being issued by another worker right now
            return None
        doc = archive.plan_office_document(session, KIND, row.office_code, report_data(session, year, quarter, today))
        row.document_id, doc_no = doc.id, doc.doc_no
    log.info("quarterly dispatch report planned: %s", doc_no, extra={"event": "dispatch_report"})
    return doc_no


def archived(session: Session) -> list[tuple[PeriodicReport, Document]]:
    """The issued reports, newest quarter first, with their documents (for the administrators' page)."""
    return [
        (r, d)
        for r, d in session.execute(
            select(PeriodicReport, Document)
            .join(Document, Document.id == PeriodicReport.document_id)
            .order_by(PeriodicReport.year.desc(), PeriodicReport.quarter.desc())
        )
    ]
