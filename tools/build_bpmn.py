#!/usr/bin/env python3
"""Generate the process definitions in ``bpmn/`` (BPMN 2.0, SpiffWorkflow flavour) and the DMN decision table.

The three processes are described below with a small builder (lanes, nodes, sequence flows); the script then
computes a simple layout (lanes as horizontal bands, nodes on a left-to-right column grid in flow order, boundary
events on their task's bottom edge, orthogonal edges) and writes the XML with a complete DI section so that bpmn-js
draws the diagrams legibly.  ``bpmn/README.md`` is the contract for operators, variables, messages and properties.

Run: ``.venv/bin/python tools/build_bpmn.py`` (writes ``bpmn/*.bpmn``, ``bpmn/talent_eligibility.dmn`` and the
user-task forms ``bpmn/forms/*.schema.json``).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bpmn"

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"bpmn": BPMN, "bpmndi": BPMNDI, "dc": DC, "di": DI, "spiffworkflow": SPIFF, "xsi": XSI}

DMN13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"


def q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


# ---------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------

SIZES = {
    "task": (100, 80),
    "gateway": (50, 50),
    "event": (36, 36),
}
TASK_KINDS = {"userTask", "serviceTask", "scriptTask", "businessRuleTask", "receiveTask"}
GATEWAY_KINDS = {"exclusiveGateway", "parallelGateway", "eventBasedGateway"}


@dataclass
class Node:
    id: str
    kind: str               # BPMN element local name (boundary events: 'boundaryEvent')
    name: str
    lane: str
    track: int = 0          # preferred row inside the lane (0 = main path, higher = side paths)
    props: dict = field(default_factory=dict)      # spiffworkflow:properties
    operator: tuple | None = None                  # (id, resultVariable, [(param, type, expr)])
    decision: str | None = None                    # calledDecisionId
    script: str | None = None
    message: str | None = None                     # message name (receive task / message catch)
    message_var: str | None = None
    timer: str | None = None                       # timeDate expression
    terminate: bool = False
    attached_to: str | None = None
    interrupting: bool = True
    tail: bool = False      # end event drawn right behind its only predecessor instead of on the next column
    order: int = 0
    # layout
    col: int = 0
    slot: int = 0
    x: float = 0
    y: float = 0

    @property
    def shape(self) -> str:
        if self.kind in TASK_KINDS:
            return "task"
        if self.kind in GATEWAY_KINDS:
            return "gateway"
        return "event"

    @property
    def size(self):
        return SIZES[self.shape]

    @property
    def cx(self):
        return self.x + self.size[0] / 2

    @property
    def cy(self):
        return self.y + self.size[1] / 2

    @property
    def right(self):
        return self.x + self.size[0]

    @property
    def bottom(self):
        return self.y + self.size[1]


@dataclass
class Flow:
    id: str
    source: str
    target: str
    name: str | None = None
    condition: str | None = None
    default: bool = False
    waypoints: list = field(default_factory=list)


class Process:
    def __init__(self, pid: str, name: str, lanes: list[tuple[str, str]], doc: str = ""):
        self.id = pid
        self.name = name
        self.doc = doc
        self.lanes = lanes            # [(lane id, lane name)]
        self.nodes: dict[str, Node] = {}
        self.flows: list[Flow] = []
        self.messages: set[str] = set()

    # -- nodes ---------------------------------------------------------------------------------------------------
    def _add(self, node: Node) -> str:
        if node.id in self.nodes:
            raise ValueError(f"duplicate id {node.id}")
        if node.lane not in {name for _, name in self.lanes}:
            raise ValueError(f"unknown lane {node.lane} for {node.id}")
        node.order = len(self.nodes)
        self.nodes[node.id] = node
        return node.id

    def start(self, id, name, lane, **kw):
        return self._add(Node(id, "startEvent", name, lane, **kw))

    def end(self, id, name, lane, terminate=False, **kw):
        return self._add(Node(id, "endEvent", name, lane, terminate=terminate, **kw))

    def user(self, id, name, lane, form, hold=None, rule=None, due_days=None, due_date=None, **kw):
        props = {"formJsonSchemaFilename": f"{form}.schema.json"}
        if due_days is not None:
            props["dueWorkingDays"] = str(due_days)
        if due_date is not None:
            props["dueDateExpression"] = due_date
        if hold:
            props["holdReason"] = hold
        if rule:
            props["ruleId"] = rule
        return self._add(Node(id, "userTask", name, lane, props=props, **kw))

    def service(self, id, name, lane, op, result, params=(), rule=None, **kw):
        props = {"ruleId": rule} if rule else {}
        return self._add(Node(id, "serviceTask", name, lane, props=props, operator=(op, result, list(params)), **kw))

    def script(self, id, name, lane, script, rule=None, **kw):
        props = {"ruleId": rule} if rule else {}
        return self._add(Node(id, "scriptTask", name, lane, props=props, script=script, **kw))

    def decision(self, id, name, lane, decision_id, rule=None, **kw):
        props = {"ruleId": rule} if rule else {}
        return self._add(Node(id, "businessRuleTask", name, lane, props=props, decision=decision_id, **kw))

    def receive(self, id, name, lane, message, var, **kw):
        self.messages.add(message)
        return self._add(Node(id, "receiveTask", name, lane, message=message, message_var=var, **kw))

    def xor(self, id, name, lane, **kw):
        return self._add(Node(id, "exclusiveGateway", name, lane, **kw))

    def parallel(self, id, name, lane, **kw):
        return self._add(Node(id, "parallelGateway", name, lane, **kw))

    def event_gateway(self, id, name, lane, **kw):
        return self._add(Node(id, "eventBasedGateway", name, lane, **kw))

    def catch_timer(self, id, name, lane, time_date, **kw):
        return self._add(Node(id, "intermediateCatchEvent", name, lane, timer=time_date, **kw))

    def catch_message(self, id, name, lane, message, var, **kw):
        self.messages.add(message)
        return self._add(Node(id, "intermediateCatchEvent", name, lane, message=message, message_var=var, **kw))

    def boundary_timer(self, id, name, host, time_date, interrupting=True, **kw):
        lane = self.nodes[host].lane
        return self._add(Node(id, "boundaryEvent", name, lane, timer=time_date, attached_to=host,
                              interrupting=interrupting, **kw))

    # -- flows ---------------------------------------------------------------------------------------------------
    def flow(self, source, target, name=None, cond=None, default=False):
        for end in (source, target):
            if end not in self.nodes:
                raise ValueError(f"flow to unknown node {end}")
        base = f"Flow_{_short(source)}_to_{_short(target)}"
        fid, n = base, 2
        while any(f.id == fid for f in self.flows):
            fid, n = f"{base}_{n}", n + 1
        self.flows.append(Flow(fid, source, target, name, cond, default))
        return fid

    def chain(self, *ids):
        for a, b in zip(ids, ids[1:]):
            self.flow(a, b)

    # -- composite helpers ---------------------------------------------------------------------------------------
    def close(self, key, name, lane, outcome, rule, reason, end_name, track=0, terminate=True):
        """close_case service task followed by an end event (terminate unless the case completed normally)."""
        rule_expr = "None" if rule is None else repr(rule)
        task = self.service(f"Task_close_{key}", name, lane, "close_case", "closure",
                            [("outcome", "str", repr(outcome)), ("rule", "str", rule_expr),
                             ("reason", "str", reason)], track=track)
        end = self.end(f"End_{key}", end_name, lane, terminate=terminate, track=track, tail=True)
        self.flow(task, end)
        return task

    def refuse(self, gateway, key, name, reason, rule=None, end_name="不予办理", flow_name=None, cond=None,
               outcome="refused", lane=None, track=1):
        """A refusal path: gateway --(default or cond)--> close_case(outcome, rule, reason) --> terminate end."""
        lane = lane or self.nodes[gateway].lane
        task = self.close(key, name, lane, outcome, rule, reason, end_name, track=track)
        self.flow(gateway, task, name=flow_name, cond=cond, default=cond is None)
        return task


def _short(node_id: str) -> str:
    return node_id.split("_", 1)[1] if "_" in node_id else node_id


# ---------------------------------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------------------------------

COL_W = 170          # distance between column centres
SLOT_H = 130         # height of one row inside a lane
POOL_X = 150
POOL_HEADER = 30
LANE_X = POOL_X + POOL_HEADER
FIRST_CX = LANE_X + 90
POOL_Y = 80


def layout(p: Process) -> None:
    nodes = p.nodes
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for f in p.flows:
        succ[f.source].append(f.target)
    # boundary events hang under their host: same column
    boundaries: dict[str, list[str]] = {}
    for n in nodes.values():
        if n.attached_to:
            boundaries.setdefault(n.attached_to, []).append(n.id)

    # 1. back edges by DFS from the start events (graph incl. host->boundary pseudo edges)
    def children(nid):
        return succ[nid] + boundaries.get(nid, [])

    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}
    starts = [n.id for n in nodes.values() if n.kind == "startEvent"]

    def dfs(root):
        stack = [(root, iter(children(root)))]
        state[root] = 1
        while stack:
            nid, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[nid] = 2
                stack.pop()
                continue
            s = state.get(nxt, 0)
            if s == 1:
                back.add((nid, nxt))
            elif s == 0:
                state[nxt] = 1
                stack.append((nxt, iter(children(nxt))))

    for s in starts:
        dfs(s)
    missing = set(nodes) - set(state)
    if missing:
        raise ValueError(f"{p.id}: unreachable nodes {sorted(missing)}")

    # 2. longest-path layering on the DAG
    indeg = {n: 0 for n in nodes}
    edges: list[tuple[str, str, int]] = []
    tails = {f.target: f.source for f in p.flows if nodes[f.target].tail}
    for f in p.flows:
        if (f.source, f.target) not in back:
            edges.append((f.source, f.target, 0 if f.target in tails else 1))
    for host, bs in boundaries.items():
        for b in bs:
            edges.append((host, b, 0))
    out: dict[str, list[tuple[str, int]]] = {n: [] for n in nodes}
    for a, b, w in edges:
        out[a].append((b, w))
        indeg[b] += 1
    col = {n: 0 for n in nodes}
    queue = [n for n in nodes if indeg[n] == 0]
    while queue:
        queue.sort(key=lambda n: nodes[n].order)
        nid = queue.pop(0)
        for b, w in out[nid]:
            col[b] = max(col[b], col[nid] + w)
            indeg[b] -= 1
            if indeg[b] == 0:
                queue.append(b)
    for n in nodes.values():
        n.col = col[n.id]

    # 3. rows: a node's preferred slot is its track; bump down on collisions (boundary events ride on hosts)
    occupied: set[tuple[str, int, int]] = set()
    has_tail = set(tails.values())
    lane_index = {name: i for i, (_, name) in enumerate(p.lanes)}
    # cells under a gateway whose flows leave downwards stay free for that vertical leg: (lane, col) -> slots
    kept_free: dict[tuple[str, int], set] = {}
    down_targets = {}
    for f in p.flows:
        src, dst = nodes[f.source], nodes[f.target]
        if src.shape == "gateway" and (lane_index[dst.lane] > lane_index[src.lane]
                                       or (dst.lane == src.lane and dst.track > src.track)):
            down_targets.setdefault(src.id, []).append(dst)

    def blocked(lane, col, slot, soft):
        return (lane, col, slot) in occupied or (soft and slot in kept_free.get((lane, col), ()))

    for n in sorted(nodes.values(), key=lambda n: (n.track, n.order)):
        if n.attached_to or n.tail:
            continue
        cells = [0, 1] if n.id in has_tail else [0]
        # honour the kept-free cells if that costs at most a few rows, else ignore them
        slot = next((s for s in range(n.track, n.track + 6)
                     if not any(blocked(n.lane, n.col + c, s, True) for c in cells)), None)
        if slot is None:
            slot = n.track
            while any(blocked(n.lane, n.col + c, slot, False) for c in cells):
                slot += 1
        n.slot = slot
        occupied.update((n.lane, n.col + c, slot) for c in cells)
        for dst in down_targets.get(n.id, []):
            depth = dst.track - n.track if dst.lane == n.lane else 0  # cross-lane legs: routed around
            kept_free.setdefault((n.lane, n.col), set()).update(range(slot + 1, slot + 1 + depth))

    for t, src in tails.items():
        nodes[t].slot = nodes[src].slot
    lane_slots = {name: 1 for _, name in p.lanes}
    for n in nodes.values():
        if not n.attached_to:
            lane_slots[n.lane] = max(lane_slots[n.lane], n.slot + 1)

    # 4. coordinates
    lane_y = {}
    y = POOL_Y
    for _, name in p.lanes:
        lane_y[name] = y
        y += lane_slots[name] * SLOT_H
    p.lane_geometry = {name: (lane_y[name], lane_slots[name] * SLOT_H) for _, name in p.lanes}
    for n in sorted(nodes.values(), key=lambda n: n.tail):
        if n.attached_to:
            continue
        w, h = n.size
        cx = FIRST_CX + n.col * COL_W
        if n.tail:
            cx = nodes[tails[n.id]].right + 30 + w / 2
        cy = lane_y[n.lane] + SLOT_H / 2 + n.slot * SLOT_H
        n.x, n.y = cx - w / 2, cy - h / 2
    for host, bs in boundaries.items():
        h = nodes[host]
        # the boundary whose path goes deepest sits leftmost so that edges do not cross
        def depth(b):
            return max((nodes[f.target].slot for f in p.flows if f.source == b), default=0)
        bs_sorted = sorted(bs, key=depth, reverse=True)
        for i, b in enumerate(bs_sorted):
            bn = nodes[b]
            w, hh = bn.size
            cx = h.x + h.size[0] / 2 if len(bs) == 1 else h.x + 20 + (h.size[0] - 40) * i / (len(bs) - 1)
            bn.x, bn.y = cx - w / 2, h.bottom - hh / 2
    max_right = max(n.right for n in nodes.values())
    p.width = max_right + 80 - POOL_X
    p.height = y - POOL_Y

    # 5. edges (main-path flows first so that they get the straight routes)
    p.routed = []
    for f in sorted(p.flows, key=lambda f: (p.nodes[f.source].track + p.nodes[f.target].track, f.default)):
        f.waypoints = route(p, f, (f.source, f.target) in back)
        p.routed.append(f)


def _seg_hits(a, b, box, pad=3):
    (x1, y1), (x2, y2) = a, b
    bx1, by1, bx2, by2 = box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad
    if x1 == x2:
        lo, hi = sorted((y1, y2))
        return bx1 < x1 < bx2 and lo < by2 and hi > by1
    lo, hi = sorted((x1, x2))
    return by1 < y1 < by2 and lo < bx2 and hi > bx1


def _hits(p: Process, pts, exclude) -> int:
    count = 0
    for n in p.nodes.values():
        if n.id in exclude:
            continue
        has_boundary = any(b.attached_to == n.id for b in p.nodes.values())
        box = (n.x, n.y, n.right, n.bottom + (25 if has_boundary else 0))
        for a, b in zip(pts, pts[1:]):
            if _seg_hits(a, b, box):
                count += 1
                break
    return count


def _overlaps(p: Process, f: Flow, pts) -> int:
    """Collinear overlaps with edges already routed (merges into the same target may share their last leg)."""
    count = 0
    for g in p.routed:
        if g.target == f.target:
            continue
        for a, b in zip(pts, pts[1:]):
            for c, d in zip(g.waypoints, g.waypoints[1:]):
                if a[0] == b[0] == c[0] == d[0]:
                    lo, hi = sorted((a[1], b[1]))
                    lo2, hi2 = sorted((c[1], d[1]))
                elif a[1] == b[1] == c[1] == d[1]:
                    lo, hi = sorted((a[0], b[0]))
                    lo2, hi2 = sorted((c[0], d[0]))
                else:
                    continue
                if min(hi, hi2) - max(lo, lo2) > 2:
                    count += 1
    return count


def route(p: Process, f: Flow, is_back: bool):
    s, t = p.nodes[f.source], p.nodes[f.target]
    exclude = {s.id, t.id}
    if s.attached_to:
        exclude.add(s.attached_to)
    cands = []
    gap = (SLOT_H - 80) / 2 + 40     # from a row centre to the free channel between rows
    if t.tail:
        cands.append([(s.right, s.cy), (t.x, t.cy)])
    elif s.attached_to:
        cands.append([(s.cx, s.bottom), (s.cx, t.cy), (t.x, t.cy)])
        below = max(s.bottom, t.bottom) + 15
        cands.append([(s.cx, s.bottom), (s.cx, below), (t.cx, below), (t.cx, t.bottom)])
    elif is_back or t.col <= s.col:
        below = max(s.cy, t.cy) + gap
        above = min(s.cy, t.cy) - gap
        cands.append([(s.cx, s.bottom), (s.cx, below), (t.cx, below), (t.cx, t.bottom)])
        cands.append([(s.cx, s.y), (s.cx, above), (t.cx, above), (t.cx, t.y)])
    elif s.cy == t.cy:
        cands.append([(s.right, s.cy), (t.x, t.cy)])
        below, above = s.cy + gap, s.cy - gap
        cands.append([(s.cx, s.bottom), (s.cx, below), (t.cx, below), (t.cx, t.bottom)])
        cands.append([(s.cx, s.y), (s.cx, above), (t.cx, above), (t.cx, t.y)])
    else:
        down = t.cy > s.cy
        if s.shape == "gateway":
            cands.append([(s.cx, s.bottom if down else s.y), (s.cx, t.cy), (t.x, t.cy)])
        if t.shape == "gateway":
            cands.append([(s.right, s.cy), (t.cx, s.cy), (t.cx, t.y if down else t.bottom)])
        mx_t = t.x - 25
        mx_s = s.right + 35
        cands.append([(s.right, s.cy), (mx_t, s.cy), (mx_t, t.cy), (t.x, t.cy)])
        cands.append([(s.right, s.cy), (mx_s, s.cy), (mx_s, t.cy), (t.x, t.cy)])
        if t.shape == "gateway":
            cands.append([(s.right, s.cy), (t.cx, s.cy), (t.cx, t.y if down else t.bottom)])
        # via the channel next to the source row
        ch = s.cy + gap if down else s.cy - gap
        cands.append([(s.cx, s.bottom if down else s.y), (s.cx, ch), (mx_t, ch), (mx_t, t.cy), (t.x, t.cy)])
    cands = [[(round(x), round(y)) for x, y in pts] for pts in cands]
    best = min(cands, key=lambda pts: (10 * _hits(p, pts, exclude) + _overlaps(p, f, pts), cands.index(pts)))
    # drop duplicate consecutive points and collinear middles
    clean = [best[0]]
    for pt in best[1:]:
        if pt != clean[-1]:
            clean.append(pt)
    return [(round(x), round(y)) for x, y in clean]


# ---------------------------------------------------------------------------------------------------------------
# XML
# ---------------------------------------------------------------------------------------------------------------

def sub(parent, ns, tag, attrib=None, text=None):
    el = etree.SubElement(parent, q(ns, tag), {k: v for k, v in (attrib or {}).items() if v is not None})
    if text is not None:
        el.text = text
    return el


def message_id(name: str) -> str:
    return f"Message_{name}"


def write_bpmn(p: Process, path: Path) -> None:
    layout(p)
    root = etree.Element(q(BPMN, "definitions"), nsmap=NSMAP, attrib={
        "id": f"Definitions_{p.id}",
        "targetNamespace": "http://bpmn.io/schema/bpmn",
        "exporter": "tools/build_bpmn.py",
        "exporterVersion": "1.0",
    })
    collab = sub(root, BPMN, "collaboration", {"id": f"Collaboration_{p.id}"})
    sub(collab, BPMN, "participant", {"id": f"Participant_{p.id}", "name": p.name, "processRef": p.id})
    for m in sorted(p.messages):
        sub(root, BPMN, "message", {"id": message_id(m), "name": m})

    proc = sub(root, BPMN, "process", {"id": p.id, "name": p.name, "isExecutable": "true"})
    if p.doc:
        sub(proc, BPMN, "documentation", text=p.doc)
    lane_set = sub(proc, BPMN, "laneSet", {"id": f"LaneSet_{p.id}"})
    for lane_id, lane_name in p.lanes:
        lane = sub(lane_set, BPMN, "lane", {"id": lane_id, "name": lane_name})
        for n in p.nodes.values():
            if n.lane == lane_name:
                sub(lane, BPMN, "flowNodeRef", text=n.id)

    incoming = {n: [] for n in p.nodes}
    outgoing = {n: [] for n in p.nodes}
    for f in p.flows:
        outgoing[f.source].append(f)
        incoming[f.target].append(f)

    for n in p.nodes.values():
        attrib = {"id": n.id, "name": n.name}
        if n.kind == "boundaryEvent":
            attrib["attachedToRef"] = n.attached_to
            if not n.interrupting:
                attrib["cancelActivity"] = "false"
        if n.kind == "receiveTask":
            attrib["messageRef"] = message_id(n.message)
        default = [f for f in outgoing[n.id] if f.default]
        if default:
            attrib["default"] = default[0].id
        el = sub(proc, BPMN, n.kind, attrib)
        ext_children = []
        if n.decision:
            ext_children.append(("calledDecisionId", n.decision))
        if n.kind == "receiveTask" and n.message_var:
            ext_children.append(("messageVariable", n.message_var))
        if n.operator or n.props or ext_children:
            ext = sub(el, BPMN, "extensionElements")
            for tag, text in ext_children:
                sub(ext, SPIFF, tag, text=text)
            if n.operator:
                op, result, params = n.operator
                o = sub(ext, SPIFF, "serviceTaskOperator", {"id": op, "resultVariable": result})
                ps = sub(o, SPIFF, "parameters")
                for pid, ptype, expr in params:
                    sub(ps, SPIFF, "parameter", {"id": pid, "type": ptype, "value": expr})
            if n.props:
                props = sub(ext, SPIFF, "properties")
                for k, v in n.props.items():
                    sub(props, SPIFF, "property", {"name": k, "value": v})
        for f in incoming[n.id]:
            sub(el, BPMN, "incoming", text=f.id)
        for f in outgoing[n.id]:
            sub(el, BPMN, "outgoing", text=f.id)
        if n.kind == "scriptTask":
            sub(el, BPMN, "script", text=n.script)
        if n.timer:
            td = sub(el, BPMN, "timerEventDefinition", {"id": f"TimerEventDefinition_{_short(n.id)}"})
            sub(td, BPMN, "timeDate", {q(XSI, "type"): "bpmn:tFormalExpression"}, text=n.timer)
        if n.kind == "intermediateCatchEvent" and n.message:
            md = sub(el, BPMN, "messageEventDefinition",
                     {"id": f"MessageEventDefinition_{_short(n.id)}", "messageRef": message_id(n.message)})
            if n.message_var:
                ext = sub(md, BPMN, "extensionElements")
                sub(ext, SPIFF, "messageVariable", text=n.message_var)
        if n.terminate:
            sub(el, BPMN, "terminateEventDefinition", {"id": f"TerminateEventDefinition_{_short(n.id)}"})

    for f in p.flows:
        el = sub(proc, BPMN, "sequenceFlow",
                 {"id": f.id, "name": f.name, "sourceRef": f.source, "targetRef": f.target})
        if f.condition:
            sub(el, BPMN, "conditionExpression", {q(XSI, "type"): "bpmn:tFormalExpression"}, text=f.condition)

    # -- DI ------------------------------------------------------------------------------------------------------
    diagram = sub(root, BPMNDI, "BPMNDiagram", {"id": f"BPMNDiagram_{p.id}"})
    plane = sub(diagram, BPMNDI, "BPMNPlane", {"id": f"BPMNPlane_{p.id}", "bpmnElement": f"Collaboration_{p.id}"})

    def bounds(parent, x, y, w, h):
        sub(parent, DC, "Bounds", {"x": _num(x), "y": _num(y), "width": _num(w), "height": _num(h)})

    shp = sub(plane, BPMNDI, "BPMNShape", {"id": f"Participant_{p.id}_di", "bpmnElement": f"Participant_{p.id}",
                                           "isHorizontal": "true"})
    bounds(shp, POOL_X, POOL_Y, p.width, p.height)
    for lane_id, lane_name in p.lanes:
        ly, lh = p.lane_geometry[lane_name]
        shp = sub(plane, BPMNDI, "BPMNShape", {"id": f"{lane_id}_di", "bpmnElement": lane_id, "isHorizontal": "true"})
        bounds(shp, LANE_X, ly, p.width - POOL_HEADER, lh)
    for n in p.nodes.values():
        attrib = {"id": f"{n.id}_di", "bpmnElement": n.id}
        if n.kind == "exclusiveGateway":
            attrib["isMarkerVisible"] = "true"
        shp = sub(plane, BPMNDI, "BPMNShape", attrib)
        bounds(shp, n.x, n.y, *n.size)
        if n.shape != "task" and n.name:
            lab = sub(shp, BPMNDI, "BPMNLabel")
            lw = max(40, min(110, 13 * len(n.name)))
            lines = -(-13 * len(n.name) // 110)
            lh = 14 * max(1, lines)
            if n.shape == "gateway":     # above-left of the diamond: flow labels sit right of its legs
                bounds(lab, n.cx - lw - 4, n.y - 2 - lh, lw, lh)
            else:
                bounds(lab, n.cx - lw / 2, n.bottom + 5, lw, lh)
    for f in p.flows:
        edge = sub(plane, BPMNDI, "BPMNEdge", {"id": f"{f.id}_di", "bpmnElement": f.id})
        for x, y in f.waypoints:
            sub(edge, DI, "waypoint", {"x": _num(x), "y": _num(y)})
        if f.name:
            (x1, y1), (x2, y2) = f.waypoints[0], f.waypoints[1]
            lab = sub(edge, BPMNDI, "BPMNLabel")
            lw = 14 * len(f.name) + 4
            if x1 == x2:       # leaves vertically: label right of the first segment, next to the source
                bounds(lab, x1 + 4, y1 + 2 if y2 > y1 else y1 - 16, lw, 14)
            else:              # leaves horizontally: label above the first segment
                bounds(lab, x1 + 4, y1 - 16, lw, 14)

    _write(root, path)


def _num(v) -> str:
    v = round(float(v), 1)
    return str(int(v)) if v == int(v) else str(v)


def _write(root, path: Path) -> None:
    etree.indent(root, space="  ")
    data = etree.tostring(root, encoding="UTF-8", pretty_print=True)
    path.write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n' + data)


# ---------------------------------------------------------------------------------------------------------------
# The processes
# ---------------------------------------------------------------------------------------------------------------

L_APPLICANT = ("Lane_applicant", "申请人")
L_UNIT = ("Lane_unit_hr", "用人单位")
L_DEPT = ("Lane_dept", "主管部门")
L_BIANBAN = ("Lane_bianban", "编办")
L_HRSS = ("Lane_hrss", "人社部门")
L_COMMITTEE = ("Lane_committee", "评委会办公室")

APPLICANT, UNIT, DEPT, BIANBAN, HRSS, COMMITTEE = (l[1] for l in (L_APPLICANT, L_UNIT, L_DEPT, L_BIANBAN, L_HRSS,
                                                                   L_COMMITTEE))
HOLD_OBJECTION = "公示异议核查中"


def publicity_block(p: Process, key: str, lane: str, result_var: str, kind: str, review_lane: str, form: str,
                    finding_field: str, note_field: str, label: str):
    """start_publicity -> event gateway (timer end_at | message objection) -> objection review.

    Returns (first node id, merge gateway id).  The 'upheld' refusal is wired inside.
    """
    t = p.service(f"Task_{key}", f"启动{label}", lane, "start_publicity", result_var, [("kind", "str", repr(kind))])
    g = p.event_gateway(f"Gateway_{key}_wait", f"{label}期间", lane)
    timer = p.catch_timer(f"Event_{key}_end", f"{label}期满", lane, f"{result_var}['end_at']")
    msg = p.catch_message(f"Event_{key}_objection", "收到异议", lane, "objection", "objection", track=1)
    review = p.user(f"Task_{key}_objection_review", f"{label}异议核查", review_lane, form, hold=HOLD_OBJECTION, due_days=10,
                    track=1 if review_lane == lane else 0)
    gr = p.xor(f"Gateway_{key}_objection", "异议是否成立？", review_lane, track=1 if review_lane == lane else 0)
    merge = p.xor(f"Gateway_{key}_done", f"{label}结束", lane)
    p.chain(t, g)
    p.flow(g, timer)
    p.flow(g, msg)
    p.flow(timer, merge)
    p.chain(msg, review, gr)
    p.flow(gr, merge, name="异议不成立", cond=f"{finding_field} == 'rejected'")
    p.refuse(gr, f"{key}_objection_upheld", "关闭办件（异议成立）", note_field, rule="R7",
             end_name="异议成立不予通过", flow_name="异议成立", track=2 if review_lane == lane else 1)
    return t, merge


def credit_block(p: Process, lane: str, start: str):
    t = p.service("Task_check_credit", "科研失信核查", lane, "check_credit", "credit", rule="R10")
    g = p.xor("Gateway_credit", "是否失信？", lane)
    p.chain(start, t, g)
    p.refuse(g, "credit_blocked", "关闭办件（失信）", "credit['reason']", rule="R10", end_name="不予受理",
             flow_name="失信")
    return g


def green_channel_registration() -> Process:
    p = Process("green_channel_registration", "绿色通道列编注册",
                [L_APPLICANT, L_UNIT, L_DEPT, L_BIANBAN, L_HRSS],
                "刚性引进一至六类人才通过“绿色通道”直接办理列编注册：容缺受理、即收即办（R1–R7、R10）。")
    start = p.start("Start_application", "提交列编申请", APPLICANT)
    g_credit = credit_block(p, APPLICANT, start)

    elig = p.decision("Task_eligibility", "人才类别与通道资格判定", APPLICANT, "talent_eligibility", rule="R1")
    g_elig = p.xor("Gateway_eligibility", "符合绿色通道条件？", APPLICANT)
    p.flow(g_credit, elig, name="未失信", cond="not credit['blocked']")
    p.flow(elig, g_elig)
    p.refuse(g_elig, "not_eligible", "关闭办件（不符合条件）", "eligibility_reason", rule="R1", end_name="不予受理",
             flow_name="不符合")

    dossier = p.service("Task_check_dossier", "材料完整性核验", APPLICANT, "check_dossier", "dossier")
    g_dossier = p.xor("Gateway_dossier", "材料情况", APPLICANT)
    p.flow(g_elig, dossier, name="符合", cond="eligibility_ok")
    p.flow(dossier, g_dossier)
    accept_instant = p.service("Task_accept_instant", "即收即办受理", APPLICANT, "accept_case", "acceptance",
                               [("mode", "str", "'instant'")], rule="R2")
    commitment = p.user("Task_rongque_commitment", "签署容缺承诺书", APPLICANT, "rongque_commitment", track=1, due_days=3)
    accept_rongque = p.service("Task_accept_rongque", "容缺受理", APPLICANT, "accept_case", "acceptance",
                               [("mode", "str", "'rongque'")], rule="R3", track=1)
    g_accepted = p.xor("Gateway_accepted", "已受理", APPLICANT)
    p.flow(g_dossier, accept_instant, name="材料齐全", cond="dossier['status'] == 'complete'")
    p.flow(g_dossier, commitment, name="关键材料齐全", cond="dossier['status'] == 'rongque'")
    p.chain(commitment, accept_rongque, g_accepted)
    p.flow(accept_instant, g_accepted)
    p.refuse(g_dossier, "dossier_incomplete", "关闭办件（关键材料缺失）", "dossier['reason']", rule="R3",
             end_name="不予受理", flow_name="关键材料缺失", track=2)

    fork = p.parallel("Gateway_fork", "并行办理", APPLICANT)
    p.flow(g_accepted, fork)

    # -- main branch ---------------------------------------------------------------------------------------------
    unit = p.user("Task_unit_review", "单位审核", UNIT, "unit_review", due_days=5)
    g_unit = p.xor("Gateway_unit_decision", "单位意见", UNIT)
    p.chain(fork, unit, g_unit)
    p.refuse(g_unit, "unit_refused", "关闭办件（单位不同意）", "unit_opinion", end_name="不予列编", flow_name="不同意")
    g_outside = p.xor("Gateway_outside", "是否编制外聘用？", UNIT)
    p.flow(g_unit, g_outside, name="同意", cond="unit_decision == 'approve'")
    assess = p.user("Task_assessment", "编制外聘用考核", UNIT, "assessment", rule="R5", due_days=10)
    g_assess = p.xor("Gateway_assessment", "考核结果", UNIT)
    p.flow(g_outside, assess, name="编制外聘用", cond="outside_establishment")
    p.flow(assess, g_assess)
    p.refuse(g_assess, "assessment_failed", "关闭办件（考核不合格）", "assessment_note", rule="R5",
             end_name="不予列编", flow_name="不合格")
    pub, pub_done = publicity_block(p, "publicity", UNIT, "publicity", "unit", DEPT, "objection_review",
                                    "objection_finding", "objection_note", "单位公示")
    p.flow(g_assess, pub, name="合格", cond="assessment_result == 'pass'")
    g_outside_done = p.xor("Gateway_outside_done", "考核公示完成", UNIT)
    p.flow(pub_done, g_outside_done)
    p.flow(g_outside, g_outside_done, name="非编制外聘用", default=True)

    dept = p.user("Task_dept_review", "主管部门审核", DEPT, "dept_review", due_days=5)
    g_dept = p.xor("Gateway_dept_decision", "主管部门意见", DEPT)
    p.chain(g_outside_done, dept, g_dept)
    p.refuse(g_dept, "dept_refused", "关闭办件（主管部门不同意）", "dept_opinion", end_name="不予列编",
             flow_name="不同意")

    g_retry = p.xor("Gateway_quota_retry", "核定编制来源", BIANBAN)
    quota = p.service("Task_allocate_quota", "核定编制来源并预留", BIANBAN, "allocate_quota", "quota", rule="R4")
    g_source = p.xor("Gateway_quota_source", "编制来源", BIANBAN)
    p.flow(g_dept, g_retry, name="同意", cond="dept_decision == 'approve'")
    p.chain(g_retry, quota, g_source)
    pool = p.user("Task_pool_review", "人才专项编制审批", BIANBAN, "pool_review", track=1, due_days=5)
    g_pool = p.xor("Gateway_pool_decision", "编办意见", BIANBAN, track=1)
    adjust = p.user("Task_quota_adjust", "待编办调剂", BIANBAN, "quota_adjust", hold="待编办调剂", track=2)
    g_adjust = p.xor("Gateway_quota_adjust", "调剂结果", BIANBAN, track=2)
    g_quota_done = p.xor("Gateway_quota_done", "编制已落实", BIANBAN)
    p.flow(g_source, g_quota_done, name="本单位空编", cond="quota['source'] == 'own'")
    p.flow(g_source, pool, name="人才专项编制", cond="quota['source'] == 'pool'")
    p.flow(g_source, adjust, name="无编制", default=True)
    p.flow(pool, g_pool)
    p.flow(g_pool, g_quota_done, name="同意", cond="pool_decision == 'approve'")
    p.refuse(g_pool, "pool_refused", "关闭办件（专项编制不予批准）", "pool_opinion", rule="R4", end_name="不予列编",
             flow_name="不同意", track=3)
    p.flow(adjust, g_adjust)
    p.flow(g_adjust, g_retry, name="重新核定", cond="adjust_decision == 'retry'")
    p.refuse(g_adjust, "quota_refused", "关闭办件（无编制可调剂）", "adjust_note", rule="R4", end_name="不予列编",
             flow_name="不予调剂", track=4)

    join = p.parallel("Gateway_join", "汇合", HRSS)
    p.flow(g_quota_done, join)

    # -- 容缺 branch ---------------------------------------------------------------------------------------------
    g_rq = p.xor("Gateway_rongque_branch", "是否容缺受理？", APPLICANT)
    p.flow(fork, g_rq)
    supply = p.receive("Task_rongque_supply", "补齐容缺材料", APPLICANT, "rongque_supplied", "supplied")
    deadline = p.boundary_timer("Event_rongque_deadline", "容缺期限届满", supply,
                                "acceptance['rongque_deadline_at']", track=1)
    breach = p.service("Task_record_breach", "记录违诺", APPLICANT, "record_breach", "breach", rule="R3", track=1)
    p.chain(deadline, breach)
    close_breach = p.close("rongque_lapsed", "关闭办件（逾期未补齐）", APPLICANT, "terminated", "R3",
                           "'容缺材料逾期未补齐'", "终止办理", track=1)
    p.flow(breach, close_breach)
    g_rq_done = p.xor("Gateway_rongque_done", "材料已齐全", APPLICANT)
    p.flow(g_rq, supply, name="容缺受理", cond="dossier['status'] == 'rongque'")
    p.flow(g_rq, g_rq_done, name="即收即办", default=True)
    p.flow(supply, g_rq_done)
    p.flow(g_rq_done, join)

    # -- 备案 ----------------------------------------------------------------------------------------------------
    due = p.service("Task_compute_filing_due", "计算备案期限", HRSS, "compute_filing_due", "filing", rule="R6")
    filing = p.user("Task_filing", "列编备案", HRSS, "filing", due_date="filing['due']")
    p.chain(join, due, filing)
    remind = p.boundary_timer("Event_filing_remind", "备案到期提醒", filing, "filing['remind_at']",
                              interrupting=False, track=1)
    n_remind = p.service("Task_notify_reminder", "发送备案提醒", HRSS, "notify", "reminder_notice",
                         [("kind", "str", "'filing_reminder'")], track=1)
    e_remind = p.end("End_reminder_sent", "已提醒", HRSS, track=1)
    p.chain(remind, n_remind, e_remind)
    overdue = p.boundary_timer("Event_filing_overdue", "备案逾期", filing, "filing['due_at']",
                               interrupting=False, track=2)
    n_overdue = p.service("Task_notify_escalation", "逾期督办", HRSS, "notify", "escalation_notice",
                          [("kind", "str", "'filing_escalation'")], rule="R6", track=2)
    e_overdue = p.end("End_escalated", "已督办", HRSS, track=2)
    p.chain(overdue, n_overdue, e_overdue)
    close_ok = p.close("completed", "办结", HRSS, "completed", "R6", "''", "办结", terminate=False)
    p.flow(filing, close_ok)
    return p


def special_post() -> Process:
    p = Process("special_post", "特设岗位设置与核销", [L_UNIT, L_DEPT, L_HRSS],
                "急需紧缺高层次人才特设岗位：主管部门审核、同级人社部门核准，聘期届满或提前核销（R8、R10）。")
    start = p.start("Start_application", "提出特设岗位申请", UNIT)
    g_credit = credit_block(p, UNIT, start)
    check = p.service("Task_check_special_post", "特设岗位条件核验", UNIT, "check_special_post", "post_check",
                      rule="R8")
    g_check = p.xor("Gateway_post_check", "符合设岗条件？", UNIT)
    p.flow(g_credit, check, name="未失信", cond="not credit['blocked']")
    p.flow(check, g_check)
    p.refuse(g_check, "not_eligible", "关闭办件（不符合设岗条件）", "post_check['reason']", rule="R8",
             end_name="不予设岗", flow_name="不符合")
    dept = p.user("Task_dept_review", "主管部门审核", DEPT, "dept_review", due_days=5)
    g_dept = p.xor("Gateway_dept_decision", "主管部门意见", DEPT)
    p.flow(g_check, dept, name="符合", cond="post_check['eligible']")
    p.flow(dept, g_dept)
    p.refuse(g_dept, "dept_refused", "关闭办件（主管部门不同意）", "dept_opinion", end_name="不予设岗",
             flow_name="不同意")
    hrss = p.user("Task_hrss_approval", "人社核准", HRSS, "hrss_approval", due_days=10)
    g_hrss = p.xor("Gateway_hrss_decision", "人社意见", HRSS)
    p.flow(g_dept, hrss, name="同意", cond="dept_decision == 'approve'")
    p.flow(hrss, g_hrss)
    p.refuse(g_hrss, "hrss_refused", "关闭办件（人社不予核准）", "hrss_opinion", rule="R8", end_name="不予核准",
             flow_name="不予核准")
    register = p.service("Task_register_special_post", "登记特设岗位", HRSS, "register_special_post", "post")
    g_wait = p.event_gateway("Gateway_term", "聘期内", HRSS)
    p.flow(g_hrss, register, name="核准", cond="hrss_decision == 'approve'")
    p.flow(register, g_wait)
    term_end = p.catch_timer("Event_term_end", "聘期届满", HRSS, "post['term_end_at']")
    early = p.catch_message("Event_writeoff_request", "提前核销申请", HRSS, "special_post_writeoff", "writeoff",
                            track=1)
    w_term = p.service("Task_writeoff_term_end", "聘期届满核销", HRSS, "writeoff_special_post", "writeoff_result",
                       [("reason", "str", "'term_end'")])
    w_early = p.service("Task_writeoff_early", "提前核销", HRSS, "writeoff_special_post", "writeoff_result",
                        [("reason", "str", "writeoff['reason']")], track=1)
    g_done = p.xor("Gateway_written_off", "已核销", HRSS)
    p.flow(g_wait, term_end)
    p.flow(g_wait, early)
    p.chain(term_end, w_term, g_done)
    p.chain(early, w_early, g_done)
    close_ok = p.close("completed", "办结", HRSS, "completed", "R8", "''", "已核销", terminate=False)
    p.flow(g_done, close_ok)
    return p


def senior_title_direct() -> Process:
    p = Process("senior_title_direct", "职称绿色通道直接申报",
                [L_APPLICANT, L_UNIT, L_DEPT, L_COMMITTEE, L_HRSS],
                "六类以上引进人才及取得重大成果的本土人才直接申报高级职称，三类以上可破格申报专业技术二级岗位（R7、R9、R10）。")
    start = p.start("Start_application", "提交直接申报", APPLICANT)
    g_credit = credit_block(p, APPLICANT, start)
    elig = p.decision("Task_eligibility", "直接申报资格判定", APPLICANT, "talent_eligibility", rule="R9")
    g_elig = p.xor("Gateway_eligibility", "符合直接申报条件？", APPLICANT)
    p.flow(g_credit, elig, name="未失信", cond="not credit['blocked']")
    p.flow(elig, g_elig)
    p.refuse(g_elig, "not_eligible", "关闭办件（不符合条件）", "eligibility_reason", rule="R9", end_name="不予受理",
             flow_name="不符合")
    g_level2 = p.xor("Gateway_level2", "二级岗位破格资格", APPLICANT)
    p.flow(g_elig, g_level2, name="符合", cond="eligibility_ok")
    cancel = p.script("Task_cancel_level2", "取消二级岗位破格申请", APPLICANT,
                      "level2_request_denied = True\nrequest_level2_post = False", rule="R9", track=1)
    g_level2_done = p.xor("Gateway_level2_done", "资格已确定", APPLICANT)
    p.flow(g_level2, cancel, name="不具备破格资格", cond="request_level2_post and not level2_ok")
    p.flow(g_level2, g_level2_done, default=True)
    p.flow(cancel, g_level2_done)

    unit = p.user("Task_unit_review", "单位审核", UNIT, "unit_review", due_days=5)
    g_unit = p.xor("Gateway_unit_decision", "单位意见", UNIT)
    p.chain(g_level2_done, unit, g_unit)
    p.refuse(g_unit, "unit_refused", "关闭办件（单位不同意）", "unit_opinion", end_name="不予推荐", flow_name="不同意")
    pub, pub_done = publicity_block(p, "publicity", UNIT, "publicity", "unit", UNIT, "objection_review",
                                    "objection_finding", "objection_note", "单位公示")
    p.flow(g_unit, pub, name="同意", cond="unit_decision == 'approve'")

    dept = p.user("Task_dept_review", "主管部门审核", DEPT, "dept_review", due_days=5)
    g_dept = p.xor("Gateway_dept_decision", "主管部门意见", DEPT)
    p.chain(pub_done, dept, g_dept)
    p.refuse(g_dept, "dept_refused", "关闭办件（主管部门不同意）", "dept_opinion", end_name="不予推荐",
             flow_name="不同意")
    vote = p.user("Task_committee_vote", "评审表决", COMMITTEE, "committee_vote", due_days=20)
    tally = p.service("Task_tally_votes", "统计表决结果", COMMITTEE, "tally_votes", "vote", rule="R9")
    g_vote = p.xor("Gateway_vote", "评审是否通过？", COMMITTEE)
    p.flow(g_dept, vote, name="同意", cond="dept_decision == 'approve'")
    p.chain(vote, tally, g_vote)
    p.refuse(g_vote, "vote_failed", "关闭办件（评审未通过）", "'评审未通过'", rule="R9", end_name="评审未通过",
             flow_name="未通过")
    rpub, rpub_done = publicity_block(p, "result_publicity", COMMITTEE, "result_publicity", "result", COMMITTEE,
                                      "result_objection_review", "result_objection_finding",
                                      "result_objection_note", "结果公示")
    p.flow(g_vote, rpub, name="通过", cond="vote['passed']")
    filing = p.user("Task_filing", "人社备案", HRSS, "filing", due_days=10)
    p.flow(rpub_done, filing)
    close_ok = p.close("completed", "办结", HRSS, "completed", "R9", "''", "办结", terminate=False)
    p.flow(filing, close_ok)
    return p


# ---------------------------------------------------------------------------------------------------------------
# DMN
# ---------------------------------------------------------------------------------------------------------------

REGISTRATION = '? in ("green_channel_registration", "registration")'
TITLE = '? in ("senior_title_direct", "title")'
CAT_1_6 = "? is not None and 1 <= ? <= 6"
CAT_1_3 = "? is not None and 1 <= ? <= 3"
CAT_4_6 = "? is not None and 4 <= ? <= 6"
ACHIEVEMENTS = '? in ("major_basic_research", "key_core_technology", "major_engineering_problem")'
ORDINARY_ROUTE = "请按常规程序办理。"

DMN_RULES = [
    # (description, [procedure, introduction_mode, talent_category, achievement], [ok, reason, level2_ok])
    ("列编：刚性引进一至六类人才 (R1)", [REGISTRATION, '"rigid"', CAT_1_6, "-"],
     ["True", '"刚性引进的一至六类人才，符合“绿色通道”列编注册条件。"', "False"]),
    ("列编：柔性引进不适用 (R1)", [REGISTRATION, '"flexible"', "-", "-"],
     ["False", f'"柔性引进人才不适用“绿色通道”列编注册，{ORDINARY_ROUTE}"', "False"]),
    ("列编：未经人才类别认定 (R1)", [REGISTRATION, "-", "? is None", "-"],
     ["False", f'"未取得人才类别认定，不适用“绿色通道”列编注册，{ORDINARY_ROUTE}"', "False"]),
    ("列编：其他（第七类等） (R1)", [REGISTRATION, "-", "-", "-"],
     ["False", f'"“绿色通道”列编注册仅限刚性引进的一至六类人才，{ORDINARY_ROUTE}"', "False"]),
    ("职称：刚性引进三类以上，可破格申报二级岗位 (R9)", [TITLE, '"rigid"', CAT_1_3, "-"],
     ["True", '"刚性引进的三类以上人才，可直接申报高级职称，并可破格申报专业技术二级岗位。"', "True"]),
    ("职称：刚性引进四至六类 (R9)", [TITLE, '"rigid"', CAT_4_6, "-"],
     ["True", '"刚性引进的六类以上人才，可直接申报高级职称。"', "False"]),
    ("职称：取得重大成果的本土人才 (R9)", [TITLE, "-", "-", ACHIEVEMENTS],
     ["True", '"取得重大基础研究成果、突破关键核心技术或解决重大工程技术难题的人才，可直接申报高级职称。"', "False"]),
    ("职称：不符合直接申报条件 (R9)", [TITLE, "-", "-", "-"],
     ["False", '"职称“绿色通道”仅限引进的六类以上人才及取得重大基础研究成果、突破关键核心技术、解决重大工程技术难题的'
               f'本土人才，{ORDINARY_ROUTE}"', "False"]),
    ("未知办理事项", ["-", "-", "-", "-"], ["False", '"办理事项不适用本判定表。"', "False"]),
]


def write_dmn(path: Path) -> None:
    D = DMN13
    root = etree.Element(q(D, "definitions"), nsmap={None: D}, attrib={
        "id": "Definitions_talent_eligibility", "name": "人才类别与通道资格",
        "namespace": "urn:green-channel:dmn"})
    decision = sub(root, D, "decision", {"id": "talent_eligibility", "name": "人才类别与通道资格"})
    table = sub(decision, D, "decisionTable", {"id": "DecisionTable_talent_eligibility", "hitPolicy": "FIRST"})
    inputs = [("procedure", "办理事项", "string"), ("introduction_mode", "引进方式", "string"),
              ("talent_category", "人才类别", "integer"), ("achievement", "重大成果", "string")]
    for name, label, type_ref in inputs:
        inp = sub(table, D, "input", {"id": f"Input_{name}", "label": label})
        expr = sub(inp, D, "inputExpression", {"id": f"InputExpression_{name}", "typeRef": type_ref})
        sub(expr, D, "text", text=name)
    outputs = [("eligibility_ok", "符合通道条件", "boolean"), ("eligibility_reason", "判定理由", "string"),
               ("level2_ok", "可破格申报二级岗位", "boolean")]
    for name, label, type_ref in outputs:
        sub(table, D, "output", {"id": f"Output_{name}", "label": label, "name": name, "typeRef": type_ref})
    for i, (desc, ins, outs) in enumerate(DMN_RULES, 1):
        rule = sub(table, D, "rule", {"id": f"Rule_{i}"})
        sub(rule, D, "description", text=desc)
        for j, text in enumerate(ins):
            e = sub(rule, D, "inputEntry", {"id": f"InputEntry_{i}_{j}"})
            sub(e, D, "text", text=text)
        for j, text in enumerate(outs):
            e = sub(rule, D, "outputEntry", {"id": f"OutputEntry_{i}_{j}"})
            sub(e, D, "text", text=text)
    _write(root, path)



# ---------------------------------------------------------------------------------------------------------------
# Forms (JSON Schema draft 2020-12, one per user-task form)
# ---------------------------------------------------------------------------------------------------------------

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _choice(title, options):
    return {"title": title, "type": "string", "oneOf": [{"const": v, "title": t} for v, t in options]}


def _text(title, max_length=500, required_text=False):
    prop = {"title": title, "type": "string", "maxLength": max_length}
    if required_text:
        prop["minLength"] = 1
    return prop


def _decision_form(form_id, title, decision, opinion, options=(("approve", "同意"), ("refuse", "不同意")),
                   decision_title="审核意见", opinion_title="意见说明", refuse_value="refuse", description=None):
    """A decision plus an opinion that becomes required (non-empty) when the decision is the refusing one."""
    schema = {
        "$schema": SCHEMA_DIALECT,
        "title": title,
        "type": "object",
        "properties": {
            decision: _choice(decision_title, options),
            opinion: _text(opinion_title),
        },
        "required": [decision],
        "additionalProperties": False,
        "if": {"properties": {decision: {"const": refuse_value}}, "required": [decision]},
        "then": {"required": [opinion], "properties": {opinion: {"minLength": 1}}},
    }
    if description:
        schema["description"] = description
    return schema


FORMS = {
    "rongque_commitment": {
        "$schema": SCHEMA_DIALECT,
        "title": "容缺受理承诺书",
        "description": "关键材料已齐全，其余材料承诺在容缺期限内补齐；逾期未补齐的，终止办理并记录违诺，今后不再适用容缺受理。",
        "type": "object",
        "properties": {
            "commitment_signed": {"title": "本人已阅读并签署容缺受理承诺书", "type": "boolean", "const": True},
            "commitment_note": _text("补充说明"),
        },
        "required": ["commitment_signed"],
        "additionalProperties": False,
    },
    "unit_review": _decision_form("unit_review", "用人单位审核", "unit_decision", "unit_opinion",
                                  decision_title="单位审核意见", opinion_title="单位意见说明"),
    "assessment": _decision_form("assessment", "编制外聘用人员考核", "assessment_result", "assessment_note",
                                 options=(("pass", "合格"), ("fail", "不合格")), decision_title="考核结果",
                                 opinion_title="考核情况说明", refuse_value="fail",
                                 description="自治区本级事业单位编制外聘用一至六类人才，用人单位考核合格后可列编注册（R5）。"),
    "objection_review": {
        "$schema": SCHEMA_DIALECT,
        "title": "公示异议核查",
        "type": "object",
        "properties": {
            "objection_finding": _choice("核查结论", [("upheld", "异议成立"), ("rejected", "异议不成立")]),
            "objection_note": _text("核查情况说明", 1000, required_text=True),
        },
        "required": ["objection_finding", "objection_note"],
        "additionalProperties": False,
    },
    "result_objection_review": {
        "$schema": SCHEMA_DIALECT,
        "title": "评审结果公示异议核查",
        "type": "object",
        "properties": {
            "result_objection_finding": _choice("核查结论", [("upheld", "异议成立"), ("rejected", "异议不成立")]),
            "result_objection_note": _text("核查情况说明", 1000, required_text=True),
        },
        "required": ["result_objection_finding", "result_objection_note"],
        "additionalProperties": False,
    },
    "dept_review": _decision_form("dept_review", "主管部门审核", "dept_decision", "dept_opinion",
                                  decision_title="主管部门审核意见", opinion_title="主管部门意见说明"),
    "pool_review": _decision_form("pool_review", "人才专项编制审批", "pool_decision", "pool_opinion",
                                  options=(("approve", "同意使用人才专项编制"), ("refuse", "不同意")),
                                  decision_title="编办审批意见", opinion_title="审批意见说明"),
    "quota_adjust": _decision_form("quota_adjust", "待编办调剂", "adjust_decision", "adjust_note",
                                   options=(("retry", "已调剂，重新核定编制"), ("refuse", "无编制可调剂，不予列编")),
                                   decision_title="调剂结果", opinion_title="调剂情况说明",
                                   description="本单位无空编且人才专项编制已用完，办件挂起待编办调剂，备案时限暂停计算（R4）。"),
    "filing": {
        "$schema": SCHEMA_DIALECT,
        "title": "人社部门备案",
        "type": "object",
        "properties": {
            "filing_confirmed": {"title": "已核对材料并完成备案", "type": "boolean", "const": True},
            "filing_note": _text("备案说明"),
        },
        "required": ["filing_confirmed"],
        "additionalProperties": False,
    },
    "hrss_approval": _decision_form("hrss_approval", "特设岗位核准", "hrss_decision", "hrss_opinion",
                                    options=(("approve", "核准"), ("refuse", "不予核准")),
                                    decision_title="人社部门核准意见", opinion_title="核准意见说明"),
    "committee_vote": {
        "$schema": SCHEMA_DIALECT,
        "title": "评审委员会表决",
        "description": "到会评审专家三分之二以上同意为通过（R9）。同意票数不得超过到会专家人数。",
        "type": "object",
        "properties": {
            "experts_present": {"title": "到会专家人数", "type": "integer", "minimum": 1, "maximum": 99},
            "votes_for": {"title": "同意票数", "type": "integer", "minimum": 0, "maximum": 99},
            "vote_note": _text("表决情况说明", 1000),
        },
        "required": ["experts_present", "votes_for"],
        "additionalProperties": False,
    },
}


def write_forms(directory: Path) -> None:
    import json
    directory.mkdir(exist_ok=True)
    for name, schema in FORMS.items():
        text = json.dumps(schema, ensure_ascii=False, indent=2) + "\n"
        (directory / f"{name}.schema.json").write_text(text, encoding="utf-8")


PROCESSES = [green_channel_registration, special_post, senior_title_direct]


def main(argv=None) -> int:
    OUT.mkdir(exist_ok=True)
    for build in PROCESSES:
        p = build()
        path = OUT / f"{p.id}.bpmn"
        write_bpmn(p, path)
        print(f"wrote {path.relative_to(ROOT)} ({len(p.nodes)} nodes, {len(p.flows)} flows)")
    write_dmn(OUT / "talent_eligibility.dmn")
    print("wrote bpmn/talent_eligibility.dmn")
    write_forms(OUT / "forms")
    print(f"wrote {len(FORMS)} forms in bpmn/forms/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
