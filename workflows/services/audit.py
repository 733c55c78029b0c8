"""The audit trail: append-only events chained by hash per case, and the check that finds tampering."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from workflows.domain.clock import as_utc, now_utc
from workflows.domain.models import AdminEvent, Case, CaseEvent, Counter
from workflows.domain.rules import rule as rule_of
from workflows.infra import counters


def _digest(
    case_no: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    task_name: str | None,
    rule_id: str | None,
    payload: dict,
    prev_hash: str,
) -> str:
    return _sha256_of(
        [
            case_no,
            seq,
            as_utc(at).isoformat(timespec="microseconds"),
            actor,
            action,
            task_name or "",
            rule_id or "",
            payload,
            prev_hash,
        ]
    )


def _sha256_of(parts: list) -> str:
    """The hash an event's fields chain by: canonical JSON (sorted keys, no spaces), UTF-8."""
    body = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass
class PendingEvent:
    actor: str
    action: str
    task_name: str | None = None
    rule_id: str | None = None
    payload: dict = field(default_factory=dict)


def append_event(session: Session, case: Case, ev: PendingEvent) -> CaseEvent:
    """Chain one event onto the case. The caller holds the case row (version lock), so seq cannot fork."""
    at = now_utc()
    seq = case.event_seq + 1
    payload = json.loads(json.dumps(ev.payload, ensure_ascii=False, default=str))
    r = rule_of(ev.rule_id)
    digest = _digest(case.case_no, seq, at, ev.actor, ev.action, ev.task_name, ev.rule_id, payload, case.last_hash)
    row = CaseEvent(
        case_id=case.id,
        seq=seq,
        at=at,
        actor=ev.actor,
        action=ev.action,
        task_name=ev.task_name,
        rule_id=ev.rule_id,
        clause=(f"{r.source}：{r.clause}" if r else None),
        payload=payload,
        prev_hash=case.last_hash,
        hash=digest,
    )
    session.add(row)
    case.event_seq = seq
    case.last_hash = digest
    return row


def append_events(session: Session, case: Case, events: list[PendingEvent]) -> None:
    """Chain several events onto the case and write them with ONE multi-row INSERT (no ORM objects, no RETURNING:
    the run never reads them back). Same rows, same hash chain as calling `append_event` for each in turn."""
    if not events:
        return
    if len(events) == 1:
        append_event(session, case, events[0])
        return
    rows = []
    seq, prev = case.event_seq, case.last_hash
    case_no, case_id = case.case_no, case.id
    for ev in events:
        at = now_utc()
        seq += 1
        payload = json.loads(json.dumps(ev.payload, ensure_ascii=False, default=str))
        r = rule_of(ev.rule_id)
        digest = _digest(case_no, seq, at, ev.actor, ev.action, ev.task_name, ev.rule_id, payload, prev)
        rows.append(
            {
                "case_id": case_id,
                "seq": seq,
                "at": at,
                "actor": ev.actor,
                "action": ev.action,
                "task_name": ev.task_name,
                "rule_id": ev.rule_id,
                "clause": (f"{r.source}：{r.clause}" if r else None),
                "payload": payload,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    session.execute(insert(cast(Table, CaseEvent.__table__)), rows)
    case.event_seq = seq
    case.last_hash = prev


def verify_chain(session: Session, case: Case) -> list[str]:
    """Problems found in the case's chain (empty when intact): edited, removed or reordered events."""
    problems: list[str] = []
    prev = ""
    expected_seq = 1
    for ev in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)):
        if ev.seq != expected_seq:
            problems.append(f"第{expected_seq}条事件缺失（下一条为第{ev.seq}条）")
        if ev.prev_hash != prev:
            problems.append(f"第{ev.seq}条事件的前序哈希不符")
        digest = _digest(
            case.case_no, ev.seq, ev.at, ev.actor, ev.action, ev.task_name, ev.rule_id, ev.payload, ev.prev_hash
        )
        if digest != ev.hash:
            problems.append(f"第{ev.seq}条事件内容被改动（哈希不符）")
        prev = ev.hash
        expected_seq = ev.seq + 1
    if expected_seq - 1 != case.event_seq:
        problems.append(f"事件数与办件记录不符：应为{case.event_seq}条，实际{expected_seq - 1}条")
    if prev != case.last_hash:
        problems.append("最后一条事件的哈希与办件记录不符")
    return problems


# ----------------------------------------------------------------------------------------------------------------
# Administrators' changes outside cases (number series, seals …): one chain for the whole installation
# ----------------------------------------------------------------------------------------------------------------
ADMIN_CHAIN = "admin_event"


def _admin_digest(seq: int, at: datetime, actor: str, action: str, target: str, payload: dict, prev: str) -> str:
    return _sha256_of([seq, as_utc(at).isoformat(timespec="microseconds"), actor, action, target, payload, prev])


def record_admin_event(session: Session, actor: str, action: str, target: str, **payload) -> AdminEvent:
    """Chain one administrator's change, in the caller's transaction. The counter row's lock (held to the commit)
    serialises appenders, so the chain cannot fork and `seq` has no gap (a rollback takes both back)."""
    seq = counters.increment(session, Counter, "管理操作记录编号冲突，请重试", name=ADMIN_CHAIN)
    prev = session.scalar(select(AdminEvent.hash).where(AdminEvent.seq == seq - 1)) or ""
    at = now_utc()
    clean = json.loads(json.dumps(payload, ensure_ascii=False, default=str))
    row = AdminEvent(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        target=target,
        payload=clean,
        prev_hash=prev,
        hash=_admin_digest(seq, at, actor, action, target, clean, prev),
    )
    session.add(row)
    session.flush([row])
    return row


def admin_events(session: Session, target: str, offset: int = 0, limit: int = 20) -> tuple[list[AdminEvent], int]:
    """One target's events, newest first, and how many there are."""
    where = AdminEvent.target == target
    total = session.scalar(select(func.count()).select_from(AdminEvent).where(where)) or 0
    rows = session.scalars(select(AdminEvent).where(where).order_by(AdminEvent.seq.desc()).offset(offset).limit(limit))
    return list(rows), int(total)


def verify_admin_chain(session: Session) -> list[str]:
    """Problems found in the administrators' chain (empty when intact)."""
    problems: list[str] = []
    prev, expected = "", 1
    for ev in session.scalars(select(AdminEvent).order_by(AdminEvent.seq)):
        if ev.seq != expected:
            problems.append(f"管理操作记录第{expected}条缺失（下一条为第{ev.seq}条）")
        if ev.prev_hash != prev:
            problems.append(f"管理操作记录第{ev.seq}条的前序哈希不符")
        if _admin_digest(ev.seq, ev.at, ev.actor, ev.action, ev.target, ev.payload, ev.prev_hash) != ev.hash:
            problems.append(f"管理操作记录第{ev.seq}条内容被改动（哈希不符）")
        prev, expected = ev.hash, ev.seq + 1
    return problems
