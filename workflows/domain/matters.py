"""事项配置: a matter (事项) as data — what an administrator configures in the browser — and the registry entry
(`procedures.Procedure`) it becomes once published.

A matter's body is plain JSON (stored per version in `matter`, exported as one file):

- basic information: names (zh/en), 设定依据 with the clause quoted, 受理条件, 承诺时限 and 法定时限 in working days,
  who applies (the person, or the unit about a person), the desks that act, the office that decides;
- the materials checklist: code, name, key or secondary, 容缺 allowed, the file types an upload may be;
- the start form: fields (key, title, type, required, choices) that become the start JSON Schema (the person's name
  and ID number are always asked);
- the documents each step issues (step → kinds and the office that numbers them) and the texts of the generic
  核准通知书 (`approval_notice`), whose `{field}` placeholders are filled from the application.

A declared procedure (procedures.py) is expressed the same way (`overlay`, `declared_body`): its names and intro
texts, 设定依据 with the clause, 受理条件, 承诺时限 / 法定时限 (where its flow sets a promised date), its materials
checklist, its start form (titles, descriptions, choice labels, required, added fields), the outcome text of its
办结通知书 and its 公示 texts are data. The fields its rules, gateways and special documents read
(`Procedure.code_reads`) stay, with their type and choice values; the rules (R1–R11, the DMN table), the special
documents and their data, the opinion boxes, who applies and which desks act (the flow's lanes) stay code.
No I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from workflows.domain import procedures, rules
from workflows.domain.actors import LANE_ROLES
from workflows.domain.errors import ValidationFailed
from workflows.domain.procedures import ID_NUMBER, NAME, MaterialType, Procedure, Publicity

MATTER_FORM = "matter.json"  # a matter's body inside the flow version it was published with (its `forms`)
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{2,39}$")
FIELD_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
FILE_TYPES = ("pdf", "jpg", "png")
FIELD_TYPES = {
    "text": "文本",
    "long_text": "多行文本",
    "integer": "整数",
    "date": "日期",
    "boolean": "是/否",
    "choice": "选项",
}
APPLICANTS = {"unit": "用人单位（为本单位人员申请）", "person": "申请人本人"}
DESKS = {"unit_hr": "用人单位", "dept": "主管部门", "bianban": "编办", "hrss": "人社部门", "committee": "评委会办公室"}
RESERVED_FIELDS = frozenset({"applicant_name", "id_number", "unit_code", "materials", "params", "case_no", "procedure"})
# the steps a matter's documents can hang on (the operators that issue papers), with how administrators see them
DOCUMENT_STEPS = {
    "issue_documents:approve": "核准（流程中的“出具核准文书”环节）",
    "close_case:completed": "办结",
}
# kinds a matter may choose for those steps: the generic notice and the procedure-neutral ones
MATTER_KINDS = ("approval_notice", "completion_notice")
OFFICES = {"RS": "人社部门", "BB": "编办", "PW": "评委会办公室", procedures.OWN_OFFICE: "本事项的办理机关"}
LETTER_RE = re.compile(r"^[A-Z]$")


def _text(body: Mapping, key: str, label: str, errors: dict, *, required: bool = True, limit: int = 200) -> str:
    value = body.get(key)
    value = value.strip() if isinstance(value, str) else ""
    if required and not value:
        errors[key] = f"请填写{label}"
    elif len(value) > limit:
        errors[key] = f"{label}不能超过 {limit} 个字符"
    return value


def _days(body: Mapping, key: str, label: str, errors: dict) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 365:
        errors[key] = f"{label}须为 1–365 个工作日"
        return 0
    return value


def clean(body: Mapping, *, declared: bool = False) -> dict:
    """A matter body checked and normalised (unknown keys dropped); any problem → ValidationFailed naming the fields.
    `declared`: the overlay of a declared procedure (its materials only)."""
    if not isinstance(body, Mapping):
        raise ValidationFailed("事项内容格式不正确")
    errors: dict[str, str] = {}
    code = str(body.get("code") or "")
    if not CODE_RE.match(code):
        errors["code"] = "事项代码须为 3–40 位小写字母、数字或下划线，以字母开头"
    if declared:
        return _clean_declared(body, code, errors)
    out: dict = {"code": code, "materials": _materials(body.get("materials"), errors)}
    out.update(
        name=_text(body, "name", "事项名称", errors, limit=50),
        name_en=_text(body, "name_en", "英文名称", errors, limit=120),
        basis_source=_text(body, "basis_source", "设定依据（文件名称）", errors, limit=200),
        basis_clause=_text(body, "basis_clause", "设定依据条款原文", errors, limit=2000),
        conditions=_text(body, "conditions", "受理条件", errors, limit=2000),
        intro=_text(body, "intro", "办事指南简介", errors, required=False, limit=1000),
        promise_days=_days(body, "promise_days", "承诺时限", errors),
        legal_days=_days(body, "legal_days", "法定时限", errors),
    )
    if out["promise_days"] and out["legal_days"] and out["promise_days"] > out["legal_days"]:
        errors["promise_days"] = "承诺时限不能长于法定时限"
    out["applicant"] = body.get("applicant") if body.get("applicant") in APPLICANTS else None
    if out["applicant"] is None:
        errors["applicant"] = "请选择申请主体"
    desks = body.get("desks")
    out["desks"] = [d for d in DESKS if isinstance(desks, list) and d in desks]
    if not out["desks"]:
        errors["desks"] = "请至少选择一个办理岗位"
    out["office"] = body.get("office") if body.get("office") in ("RS", "BB", "PW") else None
    if out["office"] is None:
        errors["office"] = "请选择办理机关"
    letter = str(body.get("letter") or "")
    if not LETTER_RE.match(letter) or letter in {p.letter for p in procedures.DECLARED.values()}:
        errors["letter"] = "办件编号字母须为一个大写字母，且不与已有事项（L、T、Z、E、Q）重复"
    out["letter"] = letter
    out["fields"] = _fields(body.get("fields"), errors)
    out["documents"] = _documents(body.get("documents"), errors)
    raw_notice = body.get("notice")
    notice: Mapping = raw_notice if isinstance(raw_notice, Mapping) else {}
    out["notice"] = {
        "title": _text(notice, "title", "核准文书标题", {}, required=False, limit=50) or "核准通知书",
        "body": _text(notice, "body", "核准文书正文", {}, required=False, limit=2000),
    }
    wants_notice = any(k == "approval_notice" for kinds in out["documents"].values() for k, _ in kinds)
    if wants_notice and not out["notice"]["body"]:
        errors["notice"] = "选用了核准通知书，请填写其正文"
    if wants_notice and out["notice"]["body"]:
        try:
            out["notice"]["body"].format_map(_Blank())
        except (ValueError, IndexError, AttributeError):
            errors["notice"] = "核准文书正文中的 {字段} 占位符写法不正确"
    if errors:
        raise ValidationFailed("事项配置有误：" + "；".join(errors.values()), details={"fields": errors})
    return out


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "—"


def _materials(raw, errors: dict) -> list[dict]:
    if not isinstance(raw, list) or not raw:
        errors["materials"] = "材料清单至少需要一项"
        return []
    out, seen = [], set()
    for i, m in enumerate(raw, 1):
        if not isinstance(m, Mapping):
            errors["materials"] = f"第 {i} 项材料格式不正确"
            continue
        code, name = str(m.get("code") or "").strip(), str(m.get("name") or "").strip()
        types = [t for t in FILE_TYPES if t in (m.get("file_types") or FILE_TYPES)]
        if not FIELD_RE.match(code) or code in seen:
            errors["materials"] = f"第 {i} 项材料的代码须为小写字母、数字或下划线，且不重复"
        elif not name or len(name) > 50:
            errors["materials"] = f"第 {i} 项材料须有名称（不超过 50 个字符）"
        elif not types:
            errors["materials"] = f"第 {i} 项材料至少允许一种文件类型"
        seen.add(code)
        is_key = bool(m.get("is_key"))
        out.append(
            {
                "code": code,
                "name": name,
                "is_key": is_key,
                "rongque": (not is_key) and bool(m.get("rongque", True)),
                "file_types": types,
            }
        )
    return out


def _fields(raw, errors: dict) -> list[dict]:
    out, seen = [], set()
    for i, f in enumerate(raw if isinstance(raw, list) else [], 1):
        if not isinstance(f, Mapping):
            errors["fields"] = f"第 {i} 个表单字段格式不正确"
            continue
        key, title, kind = str(f.get("key") or ""), str(f.get("title") or "").strip(), f.get("type")
        choices = [str(c).strip() for c in (f.get("choices") or []) if str(c).strip()]
        if not FIELD_RE.match(key) or key in seen or key in RESERVED_FIELDS:
            errors["fields"] = f"第 {i} 个表单字段的代码须为小写字母、数字或下划线，不重复且不是保留字段"
        elif not title or len(title) > 50:
            errors["fields"] = f"第 {i} 个表单字段须有标题（不超过 50 个字符）"
        elif kind not in FIELD_TYPES:
            errors["fields"] = f"第 {i} 个表单字段的类型无效"
        elif kind == "choice" and not choices:
            errors["fields"] = f"第 {i} 个表单字段是选项，请填写选项"
        seen.add(key)
        out.append({"key": key, "title": title, "type": kind, "required": bool(f.get("required")), "choices": choices})
    return out


def _documents(raw, errors: dict) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    for step, kinds in (raw or {}).items() if isinstance(raw, Mapping) else ():
        if step not in DOCUMENT_STEPS:
            errors["documents"] = f"环节“{step}”不能出具文书"
            continue
        chosen = []
        for pair in kinds or []:
            kind, office = (list(pair) + ["", ""])[:2] if isinstance(pair, list | tuple) else ("", "")
            if kind not in MATTER_KINDS or office not in OFFICES:
                errors["documents"] = f"环节“{DOCUMENT_STEPS[step]}”的文书或发文机关无效"
                continue
            chosen.append([kind, office])
        out[step] = chosen
    return out


def start_properties(fields: list[dict]) -> dict[str, dict]:
    """The configured form fields as JSON Schema properties, after the person's name and ID number."""
    props: dict[str, dict] = {"applicant_name": {**NAME, "title": "姓名"}, "id_number": ID_NUMBER}
    for f in fields:
        kind = f["type"]
        if kind == "text":
            p: dict = {"type": "string", "maxLength": 100}
        elif kind == "long_text":
            p = {"type": "string", "maxLength": 2000}
        elif kind == "integer":
            p = {"type": "integer", "minimum": 0, "maximum": 1000000}
        elif kind == "date":
            p = dict(procedures.DATE)
        elif kind == "boolean":
            p = {"type": "boolean"}
        else:
            p = {"enum": list(f["choices"])}
        if f["required"] and p.get("type") == "string":
            p["minLength"] = 1
        props[f["key"]] = {**p, "title": f["title"]}
    return props


def to_procedure(body: Mapping, version: int) -> Procedure:
    """The registry entry of a published matter (its body as `clean` returns it)."""
    fields = list(body["fields"])
    by_unit = body["applicant"] == "unit"
    materials = tuple(_material(m) for m in body["materials"])
    defaults = {f["key"]: (False if f["type"] == "boolean" else None) for f in fields if not f["required"]}
    return Procedure(
        id=body["code"],
        name=body["name"],
        name_en=body["name_en"],
        short_name=body["name"],
        document_title=body["name"],
        intro=body.get("intro") or body["conditions"],
        intro_en=body["name_en"],
        letter=body["letter"],
        office=body["office"],
        rule_id="R10",  # the one rule every matter's flow applies (the 失信 check); desks decide the rest
        start_properties=MappingProxyType(start_properties(fields)),
        required=("applicant_name", "id_number", "unit_code", *(f["key"] for f in fields if f["required"])),
        defaults=MappingProxyType({k: v for k, v in defaults.items() if v is not None}),
        materials=materials,
        person_fields=("applicant_name", "id_number"),
        correctable=frozenset(f["key"] for f in fields),
        applicant_may_start=not by_unit,
        # the templates run no 容缺 commitment (check_dossier / accept_case can be drawn in the modeler): an item
        # with 容缺 allowed may be missing at intake, the others are checked when the case starts
        rongque=False,
        opinions=tuple((key, box, signer) for key, box, desk, signer in _OPINIONS if desk in body["desks"]),
        step_documents=MappingProxyType(
            {
                **procedures.STEP_DOCUMENTS,
                "close_case:completed": (),
                **{k: tuple((kind, office) for kind, office in v) for k, v in body["documents"].items()},
            }
        ),
        completion_outcome=f"{body['name']}已办结",
        addressee="unit" if by_unit else "person",
        refusals=MappingProxyType({"": "不予核准"}),
        holder_documents=frozenset({"approval_notice", "refusal_notice", "refusal_decision"})
        if by_unit
        else frozenset(),
        info=MappingProxyType(dict(body)),
        matter_version=version,
        configured=True,
    )


# the opinion boxes a matter's papers can print: (process field, box, the desk that fills it, who signs)
_OPINIONS = (
    ("dept_opinion", "主管部门意见", "dept", "dept"),
    ("hrss_opinion", "人力资源社会保障部门核准意见", "hrss", procedures.HRSS_OFFICE),
)


def _material(m: Mapping) -> MaterialType:
    return MaterialType(m["code"], m["name"], bool(m["is_key"]), bool(m["rongque"]), tuple(m["file_types"]))


def overlay(declared: Procedure, body: Mapping, version: int) -> Procedure:
    """A declared procedure as an administrator published it for new cases: its checklist and, in a body saved since
    the basic information and the form became data (an older body holds the checklist only), the rest of `clean`'s
    declared body."""
    changes: dict = {"materials": tuple(_material(m) for m in body["materials"]), "matter_version": version}
    for key in ("name", "name_en", "intro", "intro_en", "completion_outcome"):
        if body.get(key):
            changes[key] = body[key]
    publicity = body.get("publicity")
    if isinstance(publicity, Mapping) and publicity:
        changes["publicity"] = MappingProxyType(
            {
                kind: Publicity(t["subject"], t["detail"], t.get("detail_without_category") or None)
                for kind, t in publicity.items()
            }
        )
    fields = body.get("fields")
    if isinstance(fields, list) and fields:
        props = _declared_properties(declared, fields)
        own = set(declared.start_properties)
        added = [f["key"] for f in fields if f["key"] not in own]
        changes.update(
            start_properties=MappingProxyType(props),
            # what the form does not hold (unit_code, materials) stays required as declared
            required=(*(k for k in declared.required if k not in own), *(f["key"] for f in fields if f["required"])),
            # a removed field loses its default; the defaults of inputs outside the form (the DMN's) stay
            defaults=MappingProxyType(
                {
                    **{k: v for k, v in declared.defaults.items() if k in props or k not in own},
                    **{f["key"]: False for f in fields if f["key"] in added and f["type"] == "boolean"},
                }
            ),
            correctable=frozenset({*(k for k in declared.correctable if k in props), *added}),
        )
    changes["info"] = MappingProxyType({k: body.get(k) for k in GUIDE_KEYS if body.get(k) not in (None, "")})
    return replace(declared, **changes)


# ---- a declared procedure as data -------------------------------------------------------------------------------
GUIDE_KEYS = ("basis_source", "basis_clause", "conditions", "promise_days", "legal_days")
_RESERVED_DECLARED = frozenset({"unit_code", "materials", "params", "case_no", "procedure"})
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def issues_completion_notice(p: Procedure) -> bool:
    return any(kind == "completion_notice" for kind, _ in p.documents_for("close_case", "completed"))


def prop_type(prop: Mapping) -> str:
    """The field-table type of a start-schema property."""
    if "enum" in prop:
        return "choice"
    kind = prop.get("type")
    if "oneOf" in prop:
        kind = next((o.get("type") for o in prop["oneOf"] if isinstance(o, Mapping) and o.get("type") != "null"), None)
    if kind in ("integer", "boolean"):
        return str(kind)
    if prop.get("format") == "date":
        return "date"
    return "long_text" if (prop.get("maxLength") or 0) > 100 else "text"


def _choice_value(text: str, known: list) -> object:
    """A choice's value as typed in the table: `none` is the null choice of a declared list that has one."""
    return None if text == "none" and None in known else text


def declared_fields(p: Procedure) -> list[dict]:
    """A declared procedure's start form as field-table rows."""
    out = []
    for key, prop in p.start_properties.items():
        row = {
            "key": key,
            "title": str(prop.get("title") or key),
            "description": str(prop.get("description") or ""),
            "type": prop_type(prop),
            "required": key in p.required,
            "choices": [],
            "choice_titles": [],
        }
        if row["type"] == "choice":
            values = list(prop["enum"])
            titles = list(prop.get("x-enumTitles") or [])
            row["choices"] = values
            row["choice_titles"] = [str(titles[i]) if i < len(titles) else "" for i in range(len(values))]
        out.append(row)
    return out


def declared_body(p: Procedure) -> dict:
    """A declared procedure as a matter body (what an administrator edits before the first version)."""
    rule_id, index = p.basis or (p.rule_id, 0)
    rule = rules.RULES.get(rule_id)
    quote = rule.quotes[index] if rule is not None and len(rule.quotes) > index else None
    return {
        "code": p.id,
        "name": p.name,
        "name_en": p.name_en,
        "intro": p.intro,
        "intro_en": p.intro_en,
        "basis_source": quote.source if quote else "",
        "basis_clause": quote.text if quote else "",
        "conditions": rule.title if rule is not None else "",
        "promise_days": None,
        "legal_days": None,
        "fields": declared_fields(p),
        "completion_outcome": p.completion_outcome,
        "publicity": {
            kind: {"subject": t.subject, "detail": t.detail, "detail_without_category": t.detail_without_category or ""}
            for kind, t in p.publicity.items()
        },
        "materials": [
            {"code": m.code, "name": m.name, "is_key": m.is_key, "rongque": m.rongque, "file_types": list(m.file_types)}
            for m in p.materials
        ],
    }


def _optional_days(body: Mapping, key: str, label: str, errors: dict) -> int | None:
    return None if body.get(key) in (None, "") else (_days(body, key, label, errors) or None)


def _clean_declared(raw: Mapping, code: str, errors: dict) -> dict:
    """A declared procedure's body checked: what a section leaves out keeps the declared value (an older body holds
    the checklist only)."""
    p = procedures.DECLARED[code]
    if p.kind != "application":  # the 权益保障 window is configured on its own pages
        raise ValidationFailed(f"事项“{code}”不能在事项配置中修改", details={"fields": {"code": "不能配置"}})
    body = {**declared_body(p), **{k: v for k, v in raw.items() if v is not None or k in GUIDE_KEYS}}
    out: dict = {"code": code, "materials": _materials(body.get("materials"), errors)}
    out.update(
        name=_text(body, "name", "事项名称", errors, limit=50),
        name_en=_text(body, "name_en", "英文名称", errors, limit=120),
        intro=_text(body, "intro", "办事指南简介", errors, limit=1000),
        intro_en=_text(body, "intro_en", "英文简介", errors, limit=2000),
        basis_source=_text(body, "basis_source", "设定依据（文件名称）", errors, limit=200),
        basis_clause=_text(body, "basis_clause", "设定依据条款原文", errors, limit=2000),
        conditions=_text(body, "conditions", "受理条件", errors, limit=2000),
        promise_days=None,
        legal_days=None,
    )
    if p.promise_step:
        out["promise_days"] = _optional_days(body, "promise_days", "承诺时限", errors)
        out["legal_days"] = _optional_days(body, "legal_days", "法定时限", errors)
        if out["promise_days"] and out["legal_days"] and out["promise_days"] > out["legal_days"]:
            errors["promise_days"] = "承诺时限不能长于法定时限"
    out["fields"] = _declared_field_rows(p, body.get("fields"), errors)
    outcome = _text(body, "completion_outcome", "办结通知书办理结果", errors, limit=300)
    allowed = p.outcome_placeholders
    unknown = [n for n in _PLACEHOLDER.findall(outcome) if n not in allowed]
    if unknown or outcome.count("{") != outcome.count("}"):
        errors["completion_outcome"] = "办结通知书办理结果只能使用占位符：" + (
            "、".join("{" + a + "}" for a in allowed) or "（无）"
        )
    out["completion_outcome"] = outcome
    out["publicity"] = _publicity(p, body.get("publicity"), {f["key"] for f in out["fields"]}, errors)
    if errors:
        raise ValidationFailed("事项配置有误：" + "；".join(errors.values()), details={"fields": errors})
    return out


PUBLICITY_KINDS = {"unit": "单位公示", "result": "结果公示"}


def _publicity(p: Procedure, raw, fields: set[str], errors: dict) -> dict[str, dict]:
    """The 公示 texts of the kinds the procedure's flow publishes (none added): subject and one person's line, whose
    `{field}` placeholders name fields of the form (a field left empty prints blank)."""
    raw = raw if isinstance(raw, Mapping) else {}
    out = {}
    for kind in p.publicity:
        texts = raw.get(kind) if isinstance(raw.get(kind), Mapping) else {}
        label = PUBLICITY_KINDS.get(kind, kind)
        row = {
            "subject": _text(texts, "subject", f"{label}标题", errors, limit=100),
            "detail": _text(texts, "detail", f"{label}内容", errors, limit=200),
            "detail_without_category": _text(texts, "detail_without_category", label, errors, required=False),
        }
        for text in row.values():
            names = _PLACEHOLDER.findall(text)
            if text.count("{") != text.count("}") or any(n not in fields for n in names):
                errors["publicity"] = f"{label}文字中的 {{字段}} 占位符须为申请表中的字段代码"
        out[kind] = row
    return out


def _choices(f: Mapping, known: list) -> tuple[list, list[str]]:
    """(values, labels) of a choice row: `value=label` texts (the page) or `choices` with `choice_titles` (a file)."""
    values, titles = [], []
    given = list(f.get("choice_titles") or [])
    for i, c in enumerate(f.get("choices") or []):
        if isinstance(c, str) and "=" in c:
            value, _, title = c.partition("=")
            values.append(_choice_value(value.strip(), known))
            titles.append(title.strip())
        elif c is None or str(c).strip():
            values.append(_choice_value(str(c).strip(), known) if c is not None else None)
            titles.append(str(given[i]).strip() if i < len(given) and given[i] is not None else "")
    return values, titles


def _declared_field_rows(p: Procedure, raw, errors: dict) -> list[dict]:
    reads = p.code_reads
    problems: list[str] = []
    out, seen = [], set()
    for i, f in enumerate(raw if isinstance(raw, list) else [], 1):
        if not isinstance(f, Mapping):
            problems.append(f"第 {i} 个表单字段格式不正确")
            continue
        key, title, kind = str(f.get("key") or "").strip(), str(f.get("title") or "").strip(), f.get("type")
        description = str(f.get("description") or "").strip()
        base = p.start_properties.get(key)
        values, titles = _choices(f, list(base.get("enum") or []) if base is not None else [])
        required = bool(f.get("required"))
        reader = reads.get(key)
        if not FIELD_RE.match(key) or key in seen or key in _RESERVED_DECLARED:
            problems.append(f"第 {i} 个表单字段的代码须为小写字母、数字或下划线，不重复且不是保留字段")
        elif not title or len(title) > 50 or len(description) > 300:
            problems.append(f"字段“{key}”须有标题（不超过 50 个字符），说明不超过 300 个字符")
        elif kind not in FIELD_TYPES:
            problems.append(f"字段“{key}”的类型无效")
        elif reader and base is not None and kind != prop_type(base):
            problems.append(f"字段“{key}”由 {reader} 读取，类型须保持为“{FIELD_TYPES[prop_type(base)]}”")
        elif reader and base is not None and kind == "choice" and values != list(base["enum"]):
            problems.append(f"字段“{key}”由 {reader} 读取，选项的取值不能增删或修改（可修改显示文字）")
        elif reader and key in p.required and not required:
            problems.append(f"字段“{key}”由 {reader} 读取，须保持必填")
        elif kind == "choice" and not values:
            problems.append(f"字段“{key}”是选项，请填写选项")
        seen.add(key)
        row = {"key": key, "title": title, "description": description, "type": kind, "required": required}
        row.update(choices=values, choice_titles=titles)
        out.append(row)
    for key, reader in reads.items():
        if key not in seen:
            title = str((p.start_properties.get(key) or {}).get("title") or key)
            problems.append(f"字段“{key}”（{title}）由 {reader} 读取，不能删除")
    if problems:
        errors["fields"] = "；".join(problems)
    return out


def _declared_properties(p: Procedure, fields: list[dict]) -> dict[str, dict]:
    """The start-schema properties of an overlay's form: a declared field of unchanged type keeps its constraints
    (patterns, bounds, the null choice); an added or retyped one is made like a configured matter's field."""
    props: dict[str, dict] = {}
    for f in fields:
        base = p.start_properties.get(f["key"])
        if (
            base is not None
            and prop_type(base) == f["type"]
            and (f["type"] != "choice" or list(base["enum"]) == list(f["choices"]))
        ):
            prop = {k: v for k, v in base.items() if k not in ("description", "x-enumTitles")}
        else:
            plain = {**f, "choices": [c for c in f["choices"] if c is not None]}
            prop = start_properties([plain])[f["key"]]
        prop["title"] = f["title"]
        if f.get("description"):
            prop["description"] = f["description"]
        titles = list(f.get("choice_titles") or [])
        if f["type"] == "choice" and any(titles):
            prop["x-enumTitles"] = [
                titles[i] if i < len(titles) and titles[i] else str(v) for i, v in enumerate(prop["enum"])
            ]
        props[f["key"]] = prop
    return props


def flow_desks(bpmn: Mapping[str, str]) -> list[str]:
    """The desks (roles) of a flow's lanes, in the order of DESKS."""
    roles = {LANE_ROLES.get(name.strip()) for xml in bpmn.values() for name in _LANE.findall(xml)}
    return [d for d in DESKS if d in roles]


def entry(body: Mapping, version: int) -> Procedure:
    """The registry entry of a published matter or overlay."""
    declared = procedures.DECLARED.get(body["code"])
    return overlay(declared, body, version) if declared is not None else to_procedure(body, version)


_LANE = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?lane\b[^>]*?\bname=\"([^\"]*)\"")


def lanes_outside_desks(body: Mapping, bpmn: Mapping[str, str]) -> list[str]:
    """The lanes of a matter's flow whose role is not among the desks its administrator named (a case would wait at
    a desk the matter says does not act). The applicant's own lane is always allowed."""
    desks = set(body.get("desks") or ())
    out = []
    for xml in bpmn.values():
        for name in _LANE.findall(xml):
            role = LANE_ROLES.get(name.strip())
            if role not in (None, "applicant") and role not in desks and name not in out:
                out.append(name)
    return out


def notice_texts(p: Procedure, start: Mapping) -> tuple[str, str]:
    """(title, body) of a matter's 核准通知书, its placeholders filled from the application (a missing one prints —)."""
    notice = dict(p.info.get("notice") or {})  # type: ignore[call-overload]
    body = str(notice.get("body") or "")
    values = _Blank({k: v for k, v in start.items() if v not in (None, "")})
    for f in p.info.get("fields") or ():  # type: ignore[attr-defined]
        if f["type"] == "boolean" and f["key"] in start:
            values[f["key"]] = "是" if start[f["key"]] else "否"
    try:
        text = body.format_map(values)
    except (ValueError, IndexError, AttributeError, KeyError):
        text = body
    return str(notice.get("title") or "核准通知书"), text
