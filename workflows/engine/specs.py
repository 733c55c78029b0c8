"""Load, validate and lint process definitions before a version can be published.

``parse_definition`` parses BPMN/DMN uploads safely (no DTD, no entities, no network), validates them against the
BPMN + spiffworkflow XSDs with SpiffWorkflow's ``SpiffBpmnParser``, builds the spec, and then lints everything the
library does not check (see bpmn/README.md):

* timer expressions that are literals are ISO 8601 values of their kind, within bounds (:mod:`.timers`: ``'P1D'``
  as a timeDate, ``12345``, ``'P9000Y'`` are refused here; a variable's value is checked when the timer runs);
* every piece of Python (script tasks, pre/post scripts, gateway conditions, timer expressions, service-task parameter
  values, message payloads and correlation expressions, loop/multi-instance expressions, DMN cells) compiles under the
  restricted policy of :mod:`workflows.engine.scripting`;
* exclusive/inclusive gateways with 2+ outgoing flows have a condition on every non-default flow;
* lane names are known roles (:data:`LANE_ROLES`);
* user tasks have a ``formJsonSchemaFilename`` that exists, a well-formed ``dueWorkingDays``, known property names;
* service-task operators are allow-listed; ``ruleId`` values are R1..R11;
* spiffworkflow extension elements are spelled correctly (the parser silently ignores typos).

All problems are collected and raised together as :class:`DefinitionInvalid`.
"""

from __future__ import annotations

import ast
import hashlib
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.util import full_tag  # noqa: F401  (kept for callers building tags)
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from workflows.domain.actors import LANE_ROLES
from workflows.domain.errors import DefinitionError, DefinitionInvalid
from workflows.domain.rules import RULES
from workflows.engine import timers
from workflows.engine.scripting import check_source

__all__ = [
    "LANE_ROLES",
    "RULE_IDS",
    "USER_TASK_PROPERTIES",
    "DefinitionError",
    "DefinitionInvalid",
    "ParsedDecision",
    "ParsedDefinition",
    "called_decisions",
    "parse_decision",
    "parse_definition",
    "read_decision",
    "definition_sha256",
    "safe_xml",
]

RULE_IDS = frozenset(RULES)  # R1..R11 (workflows.domain.rules)

USER_TASK_PROPERTIES = frozenset(
    {
        "formJsonSchemaFilename",
        "formUiSchemaFilename",
        "dueWorkingDays",
        "dueDateExpression",
        "holdReason",
        "ruleId",
    }
)

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}

# Everything SpiffWorkflow 3.2.0 reads from the spiffworkflow namespace; anything else is a typo that would be ignored.
KNOWN_SPIFF_ELEMENTS = frozenset(
    {
        "calledDecisionId",
        "instructionsForEndUser",
        "messagePayload",
        "messageVariable",
        "parameter",
        "parameters",
        "payloadExpression",
        "postScript",
        "preScript",
        "properties",
        "property",
        "retry",
        "serviceTaskOperator",
        "unitTest",
        "unitTests",
        "inputJson",
        "expectedOutputJson",
        "variableName",
        "processVariableCorrelation",
        "propertyId",
        "expression",
        "taskMetadataValues",
        "taskMetadataValue",
        "category",
        "signalButtonLabel",
        "allowGuest",
        "guestConfirmation",
    }
)

# Elements whose spiff parser reads preScript/postScript (ScriptTaskParser and the event parsers do not).
SCRIPT_HOSTS = frozenset(
    {
        "task",
        "userTask",
        "manualTask",
        "serviceTask",
        "businessRuleTask",
        "callActivity",
        "subProcess",
        "transaction",
        "sendTask",
        "receiveTask",
    }
)

_KIND_NAMES = {
    "process": "流程",
    "scriptTask": "脚本任务",
    "userTask": "用户任务",
    "serviceTask": "服务任务",
    "businessRuleTask": "规则任务",
    "manualTask": "人工任务",
    "task": "任务",
    "sendTask": "发送任务",
    "receiveTask": "接收任务",
    "callActivity": "调用活动",
    "subProcess": "子流程",
    "exclusiveGateway": "排他网关",
    "inclusiveGateway": "包容网关",
    "parallelGateway": "并行网关",
    "eventBasedGateway": "事件网关",
    "sequenceFlow": "连线",
    "startEvent": "开始事件",
    "endEvent": "结束事件",
    "intermediateCatchEvent": "中间捕获事件",
    "intermediateThrowEvent": "中间抛出事件",
    "boundaryEvent": "边界事件",
    "lane": "泳道",
    "message": "消息",
    "correlationProperty": "关联属性",
    "decision": "决策",
    "decisionTable": "决策表",
    "output": "输出列",
    "rule": "规则行",
    "inputEntry": "输入单元格",
    "outputEntry": "输出单元格",
    "input": "输入列",
    "definitions": "定义文件",
}


@dataclass
class ParsedDefinition:
    process_id: str
    name: str | None
    spec: Any
    subprocess_specs: dict
    spec_dict: dict
    lanes: set[str]
    user_tasks: list[dict]
    sha256: str
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------------------------
# Safe XML
# --------------------------------------------------------------------------------------------------------------------

_DTD_RE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)


def _xml_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=True,
    )


def _line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def safe_xml(data: bytes, filename: str) -> etree._Element:
    """Parse untrusted XML: DOCTYPE/ENTITY refused outright, no entity resolution, no network, no huge trees.

    Raises DefinitionInvalid with the line number.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    m = _DTD_RE.search(data)
    if m:
        line: int | None = _line_of_offset(data, m.start())
        raise DefinitionInvalid(
            [
                DefinitionError(
                    None,
                    None,
                    line,
                    f"{filename} 第 {line} 行：不允许 DOCTYPE/ENTITY 声明（可能是 XML 外部实体攻击），已拒绝",
                    filename,
                )
            ]
        )
    try:
        root = etree.fromstring(data, parser=_xml_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno
        raise DefinitionInvalid(
            [DefinitionError(None, None, line, f"{filename} 第 {line} 行：XML 格式错误：{exc.msg}", filename)]
        ) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise DefinitionInvalid(
            [DefinitionError(None, None, 1, f"{filename}：不允许 DOCTYPE/ENTITY 声明，已拒绝", filename)]
        )
    for node in root.iter(etree.Entity):
        raise DefinitionInvalid(
            [
                DefinitionError(
                    None, None, node.sourceline, f"{filename} 第 {node.sourceline} 行：不允许实体引用，已拒绝", filename
                )
            ]
        )
    return root


def definition_sha256(bpmn: dict[str, bytes], dmn: dict[str, bytes]) -> str:
    """sha256 over all files sorted by name: for each, ``kind:name\\n`` then the raw bytes."""
    h = hashlib.sha256()
    files = [("bpmn", n, c) for n, c in bpmn.items()] + [("dmn", n, c) for n, c in dmn.items()]
    for kind, name, content in sorted(files, key=lambda f: (f[1], f[0])):
        if isinstance(content, str):
            content = content.encode("utf-8")
        h.update(f"{kind}:{name}\n{len(content)}\n".encode())
        h.update(content)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------------------------
# Linting
# --------------------------------------------------------------------------------------------------------------------


def _local(tag) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


class _Linter:
    def __init__(self, filename: str, root: etree._Element, errors: list[DefinitionError]):
        self.filename = filename
        self.root = root
        self.errors = errors

    def owner(self, node: etree._Element) -> etree._Element:
        """The nearest ancestor-or-self that has an id (the BPMN element an extension belongs to)."""
        cur: etree._Element | None = node
        while cur is not None:
            if (
                cur.get("id")
                and etree.QName(cur).namespace != SPIFF_NS
                and not _local(cur.tag).endswith("EventDefinition")
            ):
                return cur
            cur = cur.getparent()
        return node

    def error(self, node: etree._Element, problem: str, line: int | None = None):
        owner = self.owner(node)
        kind = _KIND_NAMES.get(_local(owner.tag), _local(owner.tag))
        el_id = owner.get("id")
        name = owner.get("name") or owner.get("label")
        line = line or node.sourceline
        label = f"{kind}「{name}」({el_id})" if name else f"{kind} {el_id}"
        self.errors.append(
            DefinitionError(el_id, name, line, f"{self.filename} 第 {line} 行 {label}：{problem}", self.filename)
        )

    def check_code(
        self, node: etree._Element, source: str | None, mode: str, what: str, empty_ok: bool = False
    ) -> bool:
        """Record a problem when `source` does not compile under the script policy; True when it does."""
        if source is None or not source.strip():
            if not empty_ok:
                self.error(node, f"{what}为空")
            return False
        if mode == "eval":
            source = source.strip()
        err = check_source(source, mode)
        if err is not None:
            line = node.sourceline
            if err.lineno and mode == "exec":
                # The text usually starts on the element's line (or the next one when it begins with a newline).
                offset = 1 if source.startswith("\n") else 0
                line = (node.sourceline or 0) + err.lineno - 1 + offset
            detail = err.detail or ""
            self.error(node, f"{what}不合法：{err.message}（{detail}）", line)
            return False
        return True


class _BpmnLinter(_Linter):
    def __init__(self, filename, root, errors, form_names, operators):
        super().__init__(filename, root, errors)
        self.form_names = form_names
        self.operators = operators

    def xp(self, node, path):
        return node.xpath(path, namespaces=NS)

    def run(self):
        root = self.root
        for node in self.xp(root, ".//bpmn:scriptTask"):
            script = self.xp(node, "./bpmn:script")
            self.check_code(script[0] if script else node, script[0].text if script else None, "exec", "脚本")
        for tag in ("preScript", "postScript"):
            what = "前置脚本" if tag == "preScript" else "后置脚本"
            for node in self.xp(root, f".//spiffworkflow:{tag}"):
                self.check_code(node, node.text, "exec", what)
                if _local(self.owner(node).tag) not in SCRIPT_HOSTS:
                    # SpiffWorkflow 3.2.0 only reads them on these elements (not on script tasks or events).
                    self.error(node, f"{what}放在此类元素上会被引擎静默忽略")
        for node in self.xp(root, ".//bpmn:conditionExpression"):
            self.check_code(node, node.text, "eval", "条件表达式")
        for node in self.xp(root, ".//bpmn:conditionalEventDefinition/bpmn:condition"):
            self.check_code(node, node.text, "eval", "条件事件表达式")
        for tag, what in (
            ("timeDate", "定时器时间 timeDate"),
            ("timeDuration", "定时器时长 timeDuration"),
            ("timeCycle", "定时器周期 timeCycle"),
        ):
            for node in self.xp(root, f".//bpmn:timerEventDefinition/bpmn:{tag}"):
                if self.check_code(node, node.text, "eval", what):
                    problem = timers.check_literal(tag, node.text or "")
                    if problem:
                        self.error(node, f"{what}不合法：{problem}")
        for node in self.xp(root, ".//bpmn:timerEventDefinition"):
            if not self.xp(node, "./bpmn:timeDate|./bpmn:timeDuration|./bpmn:timeCycle"):
                self.error(node, "定时器缺少 timeDate/timeDuration/timeCycle 表达式")
        for node in self.xp(root, ".//spiffworkflow:messagePayload"):
            self.check_code(node, node.text, "eval", "消息内容表达式")
        for node in self.xp(root, ".//spiffworkflow:processVariableCorrelation/spiffworkflow:expression"):
            self.check_code(node, node.text, "eval", "消息关联表达式")
        for node in self.xp(root, ".//bpmn:correlationPropertyRetrievalExpression/*"):
            self.check_code(node, node.text, "eval", "关联属性取值表达式")
        for node in self.xp(root, ".//bpmn:multiInstanceLoopCharacteristics/bpmn:loopCardinality"):
            self.check_code(node, node.text, "eval", "多实例数量表达式")
        for node in self.xp(root, ".//bpmn:multiInstanceLoopCharacteristics/bpmn:completionCondition"):
            self.check_code(node, node.text, "eval", "多实例完成条件")
        for node in self.xp(root, ".//bpmn:standardLoopCharacteristics/bpmn:loopCondition"):
            self.check_code(node, node.text, "eval", "循环条件")
        self.lint_service_tasks()
        self.lint_gateways()
        self.lint_lanes()
        self.lint_user_tasks()
        self.lint_properties()
        self.lint_extensions()

    def lint_service_tasks(self):
        for task in self.xp(self.root, ".//bpmn:serviceTask"):
            ops = self.xp(task, "./bpmn:extensionElements/spiffworkflow:serviceTaskOperator")
            if not ops:
                self.error(task, "服务任务缺少 spiffworkflow:serviceTaskOperator")
                continue
            for op in ops:
                op_id = op.get("id")
                if not op_id:
                    self.error(op, "服务任务未指定操作（serviceTaskOperator id）")
                elif self.operators is not None and op_id not in self.operators:
                    self.error(op, f"服务操作 {op_id} 不在允许列表中")
                for param in self.xp(op, ".//spiffworkflow:parameter"):
                    pid = param.get("id")
                    if "value" not in param.attrib:
                        self.error(param, f"服务操作参数 {pid} 缺少 value")
                        continue
                    self.check_code(param, param.get("value"), "eval", f"服务操作参数 {pid} 的值")

    def lint_gateways(self):
        flows = {f.get("id"): f for f in self.xp(self.root, ".//bpmn:sequenceFlow")}
        outgoing: dict[str, list] = {}
        for f in flows.values():
            outgoing.setdefault(f.get("sourceRef"), []).append(f)
        for gw in self.xp(self.root, ".//bpmn:exclusiveGateway|.//bpmn:inclusiveGateway"):
            outs = outgoing.get(gw.get("id"), [])
            if len(outs) < 2:
                continue
            default = gw.get("default")
            if default and default not in {f.get("id") for f in outs}:
                self.error(gw, f"默认连线 {default} 不是该网关的出口")
            for f in outs:
                if f.get("id") == default:
                    if self.xp(f, "./bpmn:conditionExpression[normalize-space()]"):
                        self.error(f, "默认连线不应设置条件")
                    continue
                cond = self.xp(f, "./bpmn:conditionExpression")
                if not cond or not (cond[0].text or "").strip():
                    name = gw.get("name") or gw.get("id")
                    self.error(f, f"网关「{name}」的出口连线缺少条件表达式（且不是默认连线）")

    def lint_lanes(self):
        for lane in self.xp(self.root, ".//bpmn:lane"):
            name = (lane.get("name") or "").strip()
            if name not in LANE_ROLES:
                self.error(lane, f"泳道名称「{name}」不是已知角色（允许：{'、'.join(LANE_ROLES)}）")

    def _properties(self, node) -> dict[str, tuple[str | None, etree._Element]]:
        props = {}
        for p in self.xp(node, "./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property"):
            props[p.get("name")] = (p.get("value"), p)
        return props

    def lint_user_tasks(self):
        for task in self.xp(self.root, ".//bpmn:userTask"):
            props = self._properties(task)
            form = props.get("formJsonSchemaFilename")
            if form is None or not (form[0] or "").strip():
                self.error(task, "用户任务缺少 formJsonSchemaFilename 属性")
            elif (
                self.form_names is not None
                and _form_key(form[0]) not in self.form_names
                and form[0] not in self.form_names
            ):
                self.error(form[1], f"表单文件 {form[0]} 不存在")
            for name, (_value, node) in props.items():
                if name not in USER_TASK_PROPERTIES:
                    self.error(node, f"未知的用户任务属性 {name}（允许：{'、'.join(sorted(USER_TASK_PROPERTIES))}）")
            due = props.get("dueWorkingDays")
            if due is not None:
                raw = due[0] or ""
                try:
                    ok = int(raw) >= 0 and str(int(raw)) == raw.strip()
                except ValueError:
                    ok = False
                if not ok:
                    self.error(due[1], f"dueWorkingDays 必须是非负整数，实际为 {due[0]!r}")
            due_expr = props.get("dueDateExpression")
            if due_expr is not None:
                err = check_source(due_expr[0] or "", "eval")
                if err is not None:
                    self.error(due_expr[1], f"dueDateExpression 表达式有误：{err.message}")
            hold = props.get("holdReason")
            if hold is not None and not (hold[0] or "").strip():
                self.error(hold[1], "holdReason 不能为空")

    def lint_properties(self):
        for p in self.xp(self.root, './/spiffworkflow:property[@name="ruleId"]'):
            value = p.get("value")
            if value not in RULE_IDS:
                self.error(p, f"ruleId 必须是 R1..R{len(RULE_IDS)}，实际为 {value!r}")

    def lint_extensions(self):
        for node in self.root.iter(f"{{{SPIFF_NS}}}*"):
            name = _local(node.tag)
            if name not in KNOWN_SPIFF_ELEMENTS:
                self.error(node, f"未知的 spiffworkflow 扩展元素 {name}（拼写错误会被引擎静默忽略）")


def _form_key(value: str | None) -> str:
    value = (value or "").strip()
    return value[len("forms/") :] if value.startswith("forms/") else value


_QMARK_RE = re.compile(r'(\?)(?=(?:[^\'"]|[\'"][^\'"]*[\'"])*$)')


def _dmn_entry_source(text: str) -> str:
    """The expression SpiffWorkflow's DMNEngine actually evaluates for an input entry (see DMNEngine.evaluate)."""
    expr = _QMARK_RE.sub("dmninputexpr", text)
    if "dmninputexpr" in expr:
        return expr
    try:
        ast.parse(expr)
        return f"(dmninput) == ({expr})"
    except SyntaxError:
        return f"dmninput {expr}"


DMN_HIT_POLICIES = ("UNIQUE", "FIRST", "COLLECT")  # what SpiffWorkflow's DMNEngine evaluates (others act as FIRST)
_RULE_REF_RE = re.compile(r"\bR\d+\b")


def _dmn_xp(node: etree._Element, path: str) -> list:
    """XPath in the document's own DMN namespace (a default namespace or a prefix, as dmn-js or a hand may write)."""
    return node.xpath(path, namespaces={"dmn": etree.QName(node.getroottree().getroot()).namespace or ""})


class _DmnLinter(_Linter):
    """Every cell compiled like the BPMN expressions, the table's shape checked; a problem names the rule (its row
    and id) and the column, with the entry's id as element id (the browser editor marks that cell)."""

    def error(self, node: etree._Element, problem: str, line: int | None = None):
        entry = next((a for a in node.iterancestors() if _local(a.tag) in ("inputEntry", "outputEntry")), None)
        if _local(node.tag) in ("inputEntry", "outputEntry"):
            entry = node
        rule = next((a for a in node.iterancestors() if _local(a.tag) == "rule"), None)
        if _local(node.tag) == "rule":
            rule = node
        if rule is None:
            return super().error(node, problem, line)
        line = line or node.sourceline
        table = rule.getparent()
        assert table is not None  # a rule lives in a decision table
        row = [r for r in table if _local(r.tag) == "rule"].index(rule) + 1
        where = f"规则 {row}（{rule.get('id')}）"
        el_id = rule.get("id")
        if entry is not None:
            kind = _local(entry.tag)
            column = "input" if kind == "inputEntry" else "output"
            index = [c for c in rule if _local(c.tag) == kind].index(entry)
            heads = [c for c in table if _local(c.tag) == column]
            head = heads[index] if index < len(heads) else None
            label = (head.get("label") or head.get("name") or head.get("id")) if head is not None else f"#{index + 1}"
            where += f"「{label}」{'输入' if column == 'input' else '输出'}列单元格"
            el_id = entry.get("id")
        self.errors.append(
            DefinitionError(el_id, None, line, f"{self.filename} 第 {line} 行 {where}：{problem}", self.filename)
        )

    def run(self):
        if not etree.QName(self.root).namespace:
            return
        for node in _dmn_xp(self.root, ".//dmn:inputExpression/dmn:text"):
            self.check_code(node, node.text, "eval", "决策表输入表达式")
        for node in _dmn_xp(self.root, ".//dmn:inputEntry/dmn:text"):
            text = (node.text or "").strip()
            if not text or text == "-":
                continue
            self.check_code(node, _dmn_entry_source(text), "eval", f"条件 {text!r}")
        for node in _dmn_xp(self.root, ".//dmn:outputEntry/dmn:text"):
            text = (node.text or "").strip()
            if not text:
                continue
            self.check_code(node, text, "eval", f"输出 {text!r}")

    def run_table(self):
        """The shape the engine relies on: one decision with one table, a supported hit policy, named outputs, one
        entry per column in every rule, rule references (R1…) that exist."""
        if not etree.QName(self.root).namespace:  # not a DMN document at all (XPath cannot bind an empty namespace)
            return self.error(self.root, "不是 DMN 决策表文件（根元素没有 DMN 命名空间）")
        decisions = _dmn_xp(self.root, "./dmn:decision")
        if len(decisions) != 1:
            return self.error(self.root, f"一个决策表文件须恰好包含一个决策（实际 {len(decisions)} 个）")
        tables = _dmn_xp(decisions[0], "./dmn:decisionTable")
        if len(tables) != 1:
            return self.error(decisions[0], "决策须包含一个决策表（decisionTable）")
        table = tables[0]
        policy = (table.get("hitPolicy") or "UNIQUE").upper()
        if policy not in DMN_HIT_POLICIES:
            self.error(table, f"命中策略 {policy} 不受引擎支持（可用：{'、'.join(DMN_HIT_POLICIES)}）")
        inputs, outputs = _dmn_xp(table, "./dmn:input"), _dmn_xp(table, "./dmn:output")
        if not outputs:
            self.error(table, "决策表没有输出列")
        names = set()
        for out in outputs:
            name = (out.get("name") or "").strip()
            if not name.isidentifier():
                self.error(
                    out, f"输出列「{out.get('label') or out.get('id')}」须有名称（流程变量名，如 eligibility_ok）"
                )
            elif name in names:
                self.error(out, f"输出列名称 {name} 重复")
            names.add(name)
        for inp in inputs:
            if not _dmn_xp(inp, "./dmn:inputExpression/dmn:text"):
                self.error(inp, f"输入列「{inp.get('label') or inp.get('id')}」缺少输入表达式")
        for rule in _dmn_xp(table, "./dmn:rule"):
            n_in, n_out = len(_dmn_xp(rule, "./dmn:inputEntry")), len(_dmn_xp(rule, "./dmn:outputEntry"))
            if (n_in, n_out) != (len(inputs), len(outputs)):
                self.error(rule, f"单元格数与列数不符（输入 {n_in}/{len(inputs)}，输出 {n_out}/{len(outputs)}）")
            for desc in _dmn_xp(rule, "./dmn:description"):
                for ref in _RULE_REF_RE.findall(desc.text or ""):
                    if ref not in RULE_IDS:
                        self.error(desc, f"说明引用的规则 {ref} 不存在（R1..R{len(RULE_IDS)}）")


def called_decisions(bpmn: dict[str, str]) -> set[str]:
    """The decision ids the business-rule tasks of these BPMN files call (spiffworkflow:calledDecisionId)."""
    out = set()
    for name, xml in bpmn.items():
        try:
            root = safe_xml(xml.encode("utf-8"), name)
        except DefinitionInvalid:
            continue
        out |= {(n.text or "").strip() for n in root.iter(f"{{{SPIFF_NS}}}calledDecisionId")}
    return out - {""}


@dataclass
class ParsedDecision:
    decision_id: str
    name: str
    hit_policy: str
    inputs: list[dict]
    outputs: list[dict]
    rules: list[dict]


def _table_of(root: etree._Element) -> ParsedDecision:
    decision = _dmn_xp(root, "./dmn:decision")[0]
    table = _dmn_xp(decision, "./dmn:decisionTable")[0]

    def text(node, path):
        found = _dmn_xp(node, path)
        return (found[0].text or "").strip() if found else ""

    inputs = [
        {
            "id": i.get("id") or "",
            "label": i.get("label") or "",
            "expression": text(i, "./dmn:inputExpression/dmn:text"),
            "type": (_dmn_xp(i, "./dmn:inputExpression") or [i])[0].get("typeRef") or "",
        }
        for i in _dmn_xp(table, "./dmn:input")
    ]
    outputs = [
        {
            "id": o.get("id") or "",
            "label": o.get("label") or "",
            "name": o.get("name") or "",
            "type": o.get("typeRef") or "",
        }
        for o in _dmn_xp(table, "./dmn:output")
    ]
    rules = [
        {
            "id": r.get("id") or "",
            "description": text(r, "./dmn:description"),
            "inputs": [text(e, "./dmn:text") for e in _dmn_xp(r, "./dmn:inputEntry")],
            "outputs": [text(e, "./dmn:text") for e in _dmn_xp(r, "./dmn:outputEntry")],
        }
        for r in _dmn_xp(table, "./dmn:rule")
    ]
    return ParsedDecision(
        decision.get("id") or "",
        decision.get("name") or "",
        (table.get("hitPolicy") or "UNIQUE").upper(),
        inputs,
        outputs,
        rules,
    )


def read_decision(xml: bytes, filename: str) -> ParsedDecision:
    """The table of a DMN file as plain data (columns, rules and their cells), for comparing versions. Safe parsing;
    raises DefinitionInvalid when the file is not one decision with one table."""
    root = safe_xml(xml, filename)
    errors: list[DefinitionError] = []
    linter = _DmnLinter(filename, root, errors)
    linter.run_table()
    if errors:
        raise DefinitionInvalid(errors)
    return _table_of(root)


def parse_decision(xml: bytes, filename: str) -> ParsedDecision:
    """Validate one DMN file on its own: safe XML, the DMN XSD and SpiffWorkflow's DMN parser, the table's shape and
    every cell compiled under the script policy. Raises DefinitionInvalid listing every problem, each naming its
    cell."""
    root = safe_xml(xml, filename)
    errors: list[DefinitionError] = []
    linter = _DmnLinter(filename, root, errors)
    linter.run_table()
    linter.run()
    if not errors:
        with _parse_lock:
            parser = SpiffBpmnParser(validator=VALIDATOR)
            try:
                parser.add_dmn_xml(root, filename=filename)
                for dmn_parser in parser.dmn_parsers.values():
                    dmn_parser.parse()
            except (ValidationException, etree.LxmlError, SpiffWorkflowException) as exc:
                errors.append(_validation_error(exc, filename, {filename: root}))
            except Exception as exc:  # the DMN parser raises plain errors on malformed tables
                errors.append(DefinitionError(None, None, None, f"{filename}：决策表无法解析：{exc}", filename))
    if errors:
        raise DefinitionInvalid(_dedupe(errors))
    return _table_of(root)


# --------------------------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------------------------

_parse_lock = threading.Lock()  # lxml XMLSchema validators keep an error log: do not share them across threads


def _find_by_id(trees: dict[str, etree._Element], el_id: str | None):
    if not el_id:
        return None, None
    for fname, root in trees.items():
        found = root.xpath("//*[@id=$i]", i=el_id)
        if found:
            return fname, found[0]
    return None, None


_LIBRARY_MESSAGES = (
    ("without condition", "网关的非默认出口连线缺少条件表达式"),
    ("No DMN Diagram available", "引用的决策表不存在"),
    ("was not found", "引用的流程不存在"),
    ("is not an element of", "XML 结构不符合 BPMN 规范"),
    ("This element is not expected", "XML 结构不符合 BPMN 规范（未知或位置错误的元素）"),
    ("is not a valid value", "属性值不合法"),
    ("is not allowed", "属性或元素不允许"),
)


def _validation_error(exc: Exception, filename: str | None, trees: dict[str, etree._Element]) -> DefinitionError:
    el_id = getattr(exc, "id", None) or None
    name = getattr(exc, "name", None) or None
    line = getattr(exc, "line_number", None) or None
    fname = getattr(exc, "file_name", None) or filename
    if el_id and (line is None or not name):
        f2, node = _find_by_id(trees, el_id)
        if node is not None:
            line = line or node.sourceline
            name = name or node.get("name")
            fname = fname or f2
    try:
        line = int(line) if line not in (None, "") else None
    except (TypeError, ValueError):
        line = None
    msg = exc.args[0] if getattr(exc, "args", None) else str(exc)
    for needle, zh in _LIBRARY_MESSAGES:
        if needle in str(msg):
            msg = f"{zh}（{msg}）"
            break
    where = f"{fname} " if fname else ""
    where += f"第 {line} 行 " if line else ""
    label = f"「{name}」({el_id})" if name and el_id else (el_id or "")
    return DefinitionError(el_id, name, line, f"{where}{label}{'：' if label else ''}校验失败：{msg}", fname)


def parse_definition(
    bpmn: dict[str, bytes],
    dmn: dict[str, bytes],
    process_id: str,
    form_names: set[str] | None = None,
    operators: set[str] | None = None,
) -> ParsedDefinition:
    """Parse, validate (XSD) and lint a definition; raises DefinitionInvalid listing every problem found."""
    from workflows.engine.serialization import spec_to_dict  # local import: serialization does not depend on specs

    errors: list[DefinitionError] = []
    trees: dict[str, etree._Element] = {}
    dmn_trees: dict[str, etree._Element] = {}
    for name in sorted(bpmn):
        try:
            trees[name] = safe_xml(bpmn[name], name)
        except DefinitionInvalid as exc:
            errors.extend(exc.errors)
    for name in sorted(dmn):
        try:
            dmn_trees[name] = safe_xml(dmn[name], name)
        except DefinitionInvalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise DefinitionInvalid(errors)

    sha = definition_sha256(bpmn, dmn)
    spec = subprocess_specs = None
    with _parse_lock:
        parser = SpiffBpmnParser(validator=VALIDATOR)
        for name, root in trees.items():
            try:
                parser.add_bpmn_xml(root, filename=name)
            except (ValidationException, etree.LxmlError, SpiffWorkflowException) as exc:
                errors.append(_validation_error(exc, name, trees))
        for name, root in dmn_trees.items():
            try:
                parser.add_dmn_xml(root, filename=name)
            except (ValidationException, etree.LxmlError, SpiffWorkflowException) as exc:
                errors.append(_validation_error(exc, name, dmn_trees))
            except Exception as exc:  # the DMN parser raises plain errors on malformed tables
                errors.append(DefinitionError(None, None, None, f"{name}：决策表无法解析：{exc}", name))
        if not errors:
            try:
                spec = parser.get_spec(process_id)
                subprocess_specs = parser.get_subprocess_specs(process_id)
            except (ValidationException, SpiffWorkflowException) as exc:
                errors.append(_validation_error(exc, None, {**trees, **dmn_trees}))
            except Exception as exc:
                errors.append(
                    DefinitionError(None, None, None, f"流程 {process_id} 无法构建：{exc.__class__.__name__}: {exc}")
                )

    # Lint (also when the library refused, so the author sees every problem at once).
    lint_errors: list[DefinitionError] = []
    for name, root in trees.items():
        _BpmnLinter(name, root, lint_errors, form_names, operators).run()
    for name, root in dmn_trees.items():
        dmn_linter = _DmnLinter(name, root, lint_errors)
        dmn_linter.run_table()
        dmn_linter.run()
    # Our (Chinese, more specific) finding replaces the library's for the same element.
    linted_ids = {e.element_id for e in lint_errors if e.element_id}
    errors = [e for e in errors if not (e.element_id and e.element_id in linted_ids)] + lint_errors
    if spec is None and not errors:
        errors.append(DefinitionError(None, None, None, f"未找到流程 {process_id}"))
    if errors:
        raise DefinitionInvalid(_dedupe(errors))
    assert spec is not None and subprocess_specs is not None  # else an error was recorded above

    lanes: set[str] = set()
    user_tasks: list[dict] = []
    for s in [spec, *subprocess_specs.values()]:
        if s is None:
            continue
        for ts in s.task_specs.values():
            if getattr(ts, "lane", None):
                lanes.add(ts.lane)
            if _is_user_task(ts):
                props = getattr(ts, "extensions", {}).get("properties", {}) or {}
                due = props.get("dueWorkingDays")
                user_tasks.append(
                    {
                        "id": ts.bpmn_id or ts.name,
                        "name": ts.bpmn_name,
                        "process_id": s.name,
                        "lane": ts.lane,
                        "role": LANE_ROLES.get(ts.lane) if ts.lane else None,
                        "form": props.get("formJsonSchemaFilename"),
                        "due_working_days": int(due) if due not in (None, "") else None,
                        "hold_reason": props.get("holdReason") or None,
                        "rule_id": props.get("ruleId") or None,
                    }
                )
    user_tasks.sort(key=lambda t: (t["process_id"] != spec.name, t["id"]))
    return ParsedDefinition(
        process_id=process_id,
        name=spec.description or None,
        spec=spec,
        subprocess_specs=subprocess_specs,
        spec_dict=spec_to_dict(spec, subprocess_specs),
        lanes=lanes,
        user_tasks=user_tasks,
        sha256=sha,
    )


def _is_user_task(ts) -> bool:
    from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask

    return isinstance(ts, UserTask)


def _dedupe(errors: Iterable[DefinitionError]) -> list[DefinitionError]:
    seen = set()
    out = []
    for e in errors:
        key = (e.file, e.element_id, e.line, e.message)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out
