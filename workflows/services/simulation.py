"""Simulation before publish: a draft definition run against the recorded history of recent cases, in memory.

Each case is replayed from the data it was started with (kept on the start task of its stored instance): the form
submissions of its audit trail (`task_completed` with the element and the data), the messages it received (容缺
supply, 公示 objections, 核销 requests), returns to an earlier step and the applicant's corrections, on the legal clock
of its history — the replay clock stands at each event's recorded time, so a timer fires in the replay where the
recorded time has passed its due time. A service task (credit check, acceptance, quota, 公示 …) does not run its
operator: it returns what that element returned when the case really ran, so the replay reads the world as it was
and writes nothing. `close_case` and `notify` are replayed from their parameters (the outcome is what the simulation
compares). Nothing here adds, changes or deletes a row: the caller's session stays clean (tests/test_simulation.py).

A case ends the same, with the same outcome on another path, differently (another outcome or end event), stalls
(waits at an element the history has no input for, or fails there), or is not replayable (its stored instance does
not load or lacks its start data).
"""

from __future__ import annotations

import difflib
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.domain import outcomes
from workflows.domain.clock import as_utc, local_time, replay_clock
from workflows.domain.errors import Conflict, DomainError, NotFound, ValidationFailed
from workflows.domain.models import Case, CaseEvent, ProcessDefinition
from workflows.engine import instances as engine
from workflows.services.definitions import bundle
from workflows.services.operations import closing_outcome

MAX_CASES = 500
DEFAULT_CASES = 100
OPEN = ("running", "on_hold", "returned")
ACCEPTING = frozenset({"accept_case", "accept_complaint"})
REPLAYED_ACTIONS = ("submitted", "task_completed", "message", "timer", "returned", "resubmitted", "withdrawn")
VERDICTS = {
    "same": "结果相同",
    "path_changed": "结果相同，路径不同",
    "different": "结果不同",
    "stalled": "停滞",
    "not_replayable": "无法回放",
}


@dataclass
class CaseSimulation:
    case_no: str
    applicant_name: str
    verdict: str
    was_status: str
    would_be_status: str | None = None
    was_end: tuple[str, str] | None = None
    would_be_end: tuple[str, str] | None = None
    stalled_at: list[tuple[str, str]] = field(default_factory=list)  # (element id, name)
    reason: str = ""
    only_was: list[tuple[str, str]] = field(default_factory=list)  # elements the real run passed, the draft does not
    only_would_be: list[tuple[str, str]] = field(default_factory=list)
    diverges_after: tuple[str, str] | None = None  # the last element both runs share before they part
    unmatched: list[str] = field(default_factory=list)  # recorded inputs the draft had no place for

    @property
    def verdict_label(self) -> str:
        return VERDICTS[self.verdict]

    def as_dict(self) -> dict:
        def el(pair):
            return {"id": pair[0], "name": pair[1]} if pair else None

        return {
            "case_no": self.case_no,
            "verdict": self.verdict,
            "verdict_label": self.verdict_label,
            "was": {
                "status": self.was_status,
                "status_label": outcomes.label(self.was_status),
                "end": el(self.was_end),
            },
            "would_be": {
                "status": self.would_be_status,
                "status_label": outcomes.label(self.would_be_status) if self.would_be_status else None,
                "end": el(self.would_be_end),
            },
            "stalled_at": [el(p) for p in self.stalled_at],
            "reason": self.reason,
            "path": {
                "diverges_after": el(self.diverges_after),
                "only_was": [el(p) for p in self.only_was],
                "only_would_be": [el(p) for p in self.only_would_be],
            },
            "unmatched_inputs": self.unmatched,
        }


@dataclass
class SimulationReport:
    process_id: str
    version: int
    status: str
    cases: list[CaseSimulation]
    seconds: float

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(VERDICTS, 0)
        for c in self.cases:
            out[c.verdict] += 1
        return out

    def as_dict(self) -> dict:
        return {
            "process_id": self.process_id,
            "version": self.version,
            "definition_status": self.status,
            "counts": self.counts(),
            "seconds": round(self.seconds, 3),
            "cases": [c.as_dict() for c in self.cases],
        }


class _Stall(Exception):
    """The replay needs something the history does not hold (raised inside a service task)."""

    def __init__(self, element: str, reason: str):
        super().__init__(reason)
        self.element, self.reason = element, reason


def simulate(
    session: Session, process_id: str, version: int, limit: int = DEFAULT_CASES, include_running: bool = False
) -> SimulationReport:
    """Replay the `limit` most recently finished cases of the process (and its open ones, when asked) on version
    `version` (a draft, or any other version) and tell, case by case, how each would end."""
    if not 1 <= int(limit) <= MAX_CASES:
        raise ValidationFailed(f"模拟的办件数须为 1–{MAX_CASES}")
    row = session.scalar(
        select(ProcessDefinition).where(
            ProcessDefinition.process_id == process_id, ProcessDefinition.version == version
        )
    )
    if row is None:
        raise NotFound(f"流程版本不存在：{process_id} v{version}")
    started = time.perf_counter()
    target = bundle(session, row.id)
    cases = _recent_cases(session, process_id, int(limit), include_running)
    history = _histories(session, [c.id for c in cases])
    results = [_replay(session, c, target, history.get(c.id, [])) for c in cases]
    return SimulationReport(process_id, row.version, row.status, results, time.perf_counter() - started)


def _recent_cases(session: Session, process_id: str, limit: int, include_running: bool) -> list[Case]:
    finished = (*outcomes.CLOSING, "withdrawn")
    out = list(
        session.scalars(
            select(Case)
            .where(Case.procedure == process_id, Case.status.in_(finished))
            .order_by(Case.closed_at.desc().nulls_last(), Case.id.desc())
            .limit(limit)
        )
    )
    if include_running:
        out += session.scalars(
            select(Case)
            .where(Case.procedure == process_id, Case.status.in_(OPEN))
            .order_by(Case.id.desc())
            .limit(limit)
        )
    return out


def _histories(session: Session, case_ids: list[int]) -> dict[int, list[CaseEvent]]:
    out: dict[int, list[CaseEvent]] = defaultdict(list)
    if not case_ids:
        return out
    rows = session.scalars(
        select(CaseEvent)
        .where(CaseEvent.case_id.in_(case_ids), CaseEvent.action.in_(REPLAYED_ACTIONS))
        .order_by(CaseEvent.case_id, CaseEvent.seq)
    )
    for ev in rows:
        out[ev.case_id].append(ev)
    return out


class _Replay:
    """One case on the target definition: the recorded service results it may reuse, the outcome it reaches."""

    def __init__(self, recorded: dict[str, list[dict]]):
        self.recorded = recorded
        self.used: dict[str, int] = defaultdict(int)
        self.outcome: str | None = None
        self.accepted = False
        self.stall: _Stall | None = None
        self.wf = None

    def resolve(self, element: str, operator: str, params: dict, data: dict) -> dict:
        if operator == "close_case":
            outcome = str(params.get("outcome") or "")
            accepted = self.accepted or bool(engine.desk_roles_reached(self.wf) - {"applicant"})
            self.outcome = closing_outcome(outcome, params.get("rule") or None, lambda: accepted)
            return {"outcome": self.outcome}
        if operator == "notify":
            return {"kind": params.get("kind")}
        results = self.recorded.get(element) or []
        i = self.used[element]
        if i >= len(results):
            self.stall = _Stall(element, f"历史中没有该服务环节（{operator}）的结果：实际办理时未经过此环节")
            raise self.stall
        self.used[element] += 1
        if operator in ACCEPTING:
            self.accepted = True
        return results[i]


def _replay(session: Session, case: Case, target, events: list[CaseEvent]) -> CaseSimulation:
    out = CaseSimulation(case.case_no, case.applicant_name, "not_replayable", case.status)
    if case.status == "error":
        out.reason = "办件处于出错状态（待系统管理员处理），其历史不完整"
        return out
    try:
        real_def = bundle(session, case.definition_id)
        real = engine.restore_workflow(case.state, real_def.sha256, real_def.spec, {})
    except DomainError as e:
        out.reason = f"办件的流程实例无法载入：{e.message}"
        return out
    data = engine.initial_data(real)
    if data is None:
        out.reason = "流程实例中没有办件的初始数据"
        return out
    real_path = engine.path(real)
    names = {**engine.element_names(real_def.sha256, real_def.spec), **engine.element_names(target.sha256, target.spec)}
    by_task_id = {str(t.id): t.task_spec.name for t in real.get_tasks()}
    out.was_end = _end(real, real_path) if case.status not in OPEN else None
    submitted = next((e for e in events if e.action == "submitted"), None)
    at0 = as_utc(submitted.at) if submitted is not None else as_utc(case.created_at)
    rp = _Replay(engine.service_results(real))
    withdrawn = False
    with replay_clock(at0) as held:
        try:
            wf = rp.wf = engine.new_replay_workflow(target.sha256, target.spec, data, rp.resolve)
            engine.run_until_stable(wf)
            for i, ev in enumerate(events):
                if ev.action == "submitted":
                    continue
                held[0] = as_utc(ev.at)
                if not withdrawn:
                    engine.run_until_stable(wf)  # whatever came due on the legal clock before this input
                if engine.is_completed(wf) or withdrawn:
                    # the draft ends before these inputs: they were given on a path it does not take
                    out.unmatched += [_input(e) for e in events[i:] if e.action in ("task_completed", "message")]
                    break
                withdrawn = _apply(wf, ev, by_task_id, names, out)
        except DomainError as e:
            return _stalled(out, rp, names, e)
    would_path = engine.path(wf)
    plumbing = engine.gateways(real_def.sha256, real_def.spec) | engine.gateways(target.sha256, target.spec)
    _path_difference(out, real_path, would_path, plumbing)
    if withdrawn:
        out.would_be_status, out.would_be_end = "withdrawn", None
    elif engine.is_completed(wf):
        out.would_be_status = rp.outcome or "completed"
        out.would_be_end = _end(wf, would_path)
    if case.status in OPEN:
        return _compare_open(out, case, wf, real)
    if out.would_be_status is None:
        waiting = engine.waiting_elements(wf)
        out.verdict, out.stalled_at = "stalled", waiting
        out.reason = "历史中没有这些环节的办理记录，模拟停在此处" if waiting else "流程未结束"
        return out
    if out.would_be_status != case.status or (out.would_be_end and out.was_end and out.would_be_end != out.was_end):
        out.verdict = "different"
    elif out.only_was or out.only_would_be or Counter(p[0] for p in real_path) != Counter(p[0] for p in would_path):
        # the same steps as often (parallel branches may interleave otherwise: not a change of path)
        out.verdict = "path_changed"
    else:
        out.verdict = "same"
    return out


def _end(wf, path: list[tuple[str, str]]) -> tuple[str, str] | None:
    """How the case ended: the step that closed it (close_case), else the last element it passed."""
    return engine.last_call_of(wf, "close_case") or (path[-1] if path else None)


def _apply(wf, ev: CaseEvent, by_task_id: dict[str, str], names: dict[str, str], out: CaseSimulation) -> bool:
    """Apply one recorded input to the replayed instance; True when it withdrew the case."""
    p = ev.payload or {}
    if ev.action == "task_completed":
        element = p.get("element") or by_task_id.get(str(p.get("task_id"))) or _by_name(names, ev.task_name)
        ready = engine.ready_user_task_ids(wf)
        if element in ready:
            engine.complete_user_task(wf, ready[element], dict(p.get("data") or {}))
            engine.run_until_stable(wf)
        else:
            out.unmatched.append(_input(ev))
    elif ev.action == "message":
        name = p.get("name") or ("rongque_supplied" if ev.task_name == "容缺材料补齐" else ev.task_name)
        recorded = p.get("payload")
        payload: dict = recorded if isinstance(recorded, dict) else {"complete_on": p.get("complete_on")}
        if name in engine.waiting(wf)[1]:
            try:
                engine.send_message(wf, str(name), payload)
            except Conflict:
                out.unmatched.append(_input(ev))
            engine.run_until_stable(wf)
        else:
            out.unmatched.append(_input(ev))
    elif ev.action == "returned" and p.get("target") != "applicant":
        here = p.get("element") or _by_name(names, ev.task_name)
        back = p.get("to_element") or _by_name(names, p.get("target"))
        ready = engine.ready_user_task_ids(wf)
        if here in ready and back and engine.reset_to_earlier_step(wf, ready[here], back) is not None:
            engine.run_until_stable(wf)
        else:
            out.unmatched.append(f"退回 {p.get('target')}（{local_time(ev.at)}）")
    elif ev.action == "resubmitted" and "materials" in p:  # the applicant's correction (not a unit's revision step)
        engine.update_ready_user_tasks(wf, dict(p.get("changes") or {}))
    elif ev.action == "withdrawn":
        engine.cancel(wf)
        return True
    return False


def _by_name(names: dict[str, str], title: str | None) -> str | None:
    """An element id by its name, when exactly one element has it (events recorded before they named the element)."""
    hits = [k for k, v in names.items() if title and v == title]
    return hits[0] if len(hits) == 1 else None


def _input(ev: CaseEvent) -> str:
    """A recorded input as the result page lists it: what and when."""
    p = ev.payload or {}
    what = ev.task_name if ev.action == "task_completed" else f"消息 {p.get('name') or ev.task_name}"
    return f"{what}（{local_time(ev.at)}）"


def _stalled(out: CaseSimulation, rp: _Replay, names: dict[str, str], error: DomainError) -> CaseSimulation:
    out.verdict = "stalled"
    if rp.stall is not None:
        out.stalled_at = [(rp.stall.element, names.get(rp.stall.element, rp.stall.element))]
        out.reason = rp.stall.reason
        return out
    element = getattr(error, "element_id", None)
    out.stalled_at = [(element, names.get(element, element))] if element else []
    out.reason = f"流程在此出错：{error.message}"
    return out


def _path_difference(
    out: CaseSimulation, was: list[tuple[str, str]], would: list[tuple[str, str]], plumbing: set[str]
) -> None:
    """The steps only one run passed (gateways left out: the step after them says where each went), and the last
    element both passed before they parted."""
    a, b = [p[0] for p in was], [p[0] for p in would]
    shared = set(a) & set(b)
    out.only_was = [p for p in _unique(was) if p[0] not in shared and p[0] not in plumbing]
    out.only_would_be = [p for p in _unique(would) if p[0] not in shared and p[0] not in plumbing]
    blocks = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks()
    first = blocks[0] if blocks else None
    if first is not None and first.a == 0 and first.b == 0 and first.size and (a != b):
        out.diverges_after = was[first.size - 1]


def _unique(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out = []
    for p in pairs:
        if p[0] not in seen:
            seen.add(p[0])
            out.append(p)
    return out


def _compare_open(out: CaseSimulation, case: Case, wf, real) -> CaseSimulation:
    """A case still open: does the draft stand where the real one stands?"""
    now_at = {e for e, _ in engine.waiting_elements(real)}
    would_at = engine.waiting_elements(wf)
    out.was_end = None
    if out.would_be_status is not None:
        out.verdict = "different"
    elif {e for e, _ in would_at} == now_at:
        out.verdict = "same" if not (out.only_was or out.only_would_be) else "path_changed"
    else:
        out.verdict, out.stalled_at = "path_changed", would_at
        out.reason = "模拟后停留的环节与实际不同"
    return out
