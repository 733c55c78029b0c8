"""Documents issued or re-issued by hand from the officer workspace, each in one transaction: the case row locked
(its audit chain cannot fork), the 文号 taken, the document planned and the audit event chained — or none of it.

`check` is the caller's chance to refuse data the renderer would reject BEFORE the commit, so no number is used for
nothing (the renderer lives outside the engine core, hence a callback). Rendering happens after the commit.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.domain.actors import Actor
from workflows.domain.errors import NotFound, ValidationFailed
from workflows.domain.models import Case, Correction
from workflows.infra.db import transaction
from workflows.services import archive
from workflows.services.audit import PendingEvent, append_event
from workflows.services.handling import correction_notice_data
from workflows.services.runtime import lock_case

MAX_REASON = 2000
Check = Callable[[archive.Document], None] | None


def open_correction(session: Session, case: Case) -> Correction | None:
    """The case's latest return to the applicant (an unresolved one first)."""
    return session.scalar(
        select(Correction)
        .where(Correction.case_id == case.id, Correction.target == "applicant")
        .order_by(Correction.resolved_at.isnot(None), Correction.id.desc())
        .limit(1)
    )


def issue_data(session: Session, case: Case, kind: str, reason: str = "", items: list[str] | None = None) -> dict:
    """The document's data from the case. A 补正材料通知书 names what is to be corrected: the reason typed here, or
    else the case's latest return to the applicant (reason and items)."""
    if kind != "correction_notice":
        return archive.document_data(session, case, kind)
    reason = (reason or "").strip()
    if not reason:
        corr = open_correction(session, case)
        if corr is None:
            raise ValidationFailed(
                "出具补正材料通知书须填写补正要求（本办件没有退回补正记录）",
                details={"fields": {"reason": "此项为必填项"}},
            )
        reason, items = corr.reason, (items or corr.items or [])
    return correction_notice_data(session, case, reason[:MAX_REASON], items)


def issue(
    session: Session,
    case_no: str,
    kind: str,
    office: str,
    actor: Actor,
    *,
    reason: str = "",
    items: list[str] | None = None,
    check: Check = None,
) -> archive.Document:
    with transaction(session):
        case = lock_case(session, case_no)
        doc = archive.plan_document(
            session,
            case,
            kind,
            office,
            by=actor.username,
            step="manual",
            data=issue_data(session, case, kind, reason, items),
        )
        if check is not None:
            check(doc)
        append_event(
            session,
            case,
            PendingEvent(
                actor.username,
                "document",
                doc.title,
                None,
                payload={
                    "kind": kind,
                    "doc_no": doc.doc_no,
                    "document_id": doc.id,
                    "office": office,
                    "version": doc.version,
                    "manual": True,
                },
            ),
        )
    return doc


def reissue(
    session: Session,
    case_no: str,
    doc_id: int,
    reason: str,
    actor: Actor,
    *,
    refresh: bool = False,
    check: Check = None,
    category: str | None = None,
) -> tuple[archive.Document, archive.Document]:
    """A new version with a new 文号 superseding `doc_id` (archive.reissue); `refresh` takes the case's data as it
    stands now instead of the old document's. Returns (new, old)."""
    with transaction(session):
        case = lock_case(session, case_no)
        old = session.get(archive.Document, doc_id)
        if old is None:
            raise NotFound(f"文书不存在：{doc_id}")
        overrides = None
        if refresh and old.kind != "correction_notice":
            overrides = archive.document_data(session, case, old.kind)
        new = archive.reissue(session, doc_id, reason, actor.username, data_overrides=overrides, category=category)
        if check is not None:
            check(new)
        append_event(
            session,
            case,
            PendingEvent(
                actor.username,
                "document",
                new.title,
                None,
                payload={
                    "kind": new.kind,
                    "doc_no": new.doc_no,
                    "document_id": new.id,
                    "office": new.office_code,
                    "version": new.version,
                    "supersedes": old.doc_no,
                    "category": new.reissue_category,
                    "reason": reason,
                },
            ),
        )
    return new, old
