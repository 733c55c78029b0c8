"""A task's JSON Schema as an HTML form, and the submitted form back as typed data.

Only what the bundled forms use is supported (flat objects): strings (with `maxLength`/`minLength`), `oneOf` of
`{const, title}` and `enum` (radio groups), integers/numbers (`minimum`/`maximum`), booleans (checkboxes),
`required`, and `if`/`then` rules of the kind "when the decision is *refuse*, the opinion is required".
The services validate the data again with jsonschema; this module only shapes the page and the data types.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from flask_babel import gettext as _

TEXTAREA_FROM = 120  # strings that may be longer than this get a textarea
REFUSE_VALUES = ("refuse", "fail", "upheld")
OPINION_SUFFIXES = ("_opinion", "_note", "_reason")


@dataclass
class Field:
    name: str
    label: str
    kind: str  # radio | select | checkbox | number | textarea | text
    required: bool = False
    options: list[tuple[Any, str]] = field(default_factory=list)
    value: Any = None
    error: Optional[str] = None
    description: str = ""
    max_length: Optional[int] = None
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    step: str = "1"
    must_be_true: bool = False  # a confirmation checkbox (`const: true`)
    required_when: Optional[tuple[str, Any]] = None  # (other field, value) that makes this one required

    @property
    def id(self) -> str:
        return f"f-{self.name}"

    def checked(self, option_value: Any) -> bool:
        return self.value is not None and str(self.value) == str(option_value)

    @property
    def required_when_field(self) -> str:
        return self.required_when[0] if self.required_when else ""

    @property
    def required_when_value(self) -> str:
        return str(self.required_when[1]) if self.required_when else ""


def _options(prop: Mapping) -> list[tuple[Any, str]]:
    if "oneOf" in prop and all(isinstance(o, dict) and "const" in o for o in prop["oneOf"]):
        return [(o["const"], o.get("title") or str(o["const"])) for o in prop["oneOf"]]
    if "anyOf" in prop and all(isinstance(o, dict) and "const" in o for o in prop["anyOf"]):
        return [(o["const"], o.get("title") or str(o["const"])) for o in prop["anyOf"]]
    if "enum" in prop:
        titles = prop.get("enumTitles") or prop.get("x-enumTitles") or []
        return [(v, titles[i] if i < len(titles) else str(v)) for i, v in enumerate(prop["enum"]) if v is not None]
    return []


def _type(prop: Mapping) -> str:
    t = prop.get("type", "string")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "string")
    return t


def conditional_requirements(schema: Mapping) -> dict[str, tuple[str, Any]]:
    """field → (trigger field, trigger value): the field is required when the trigger has that value.

    Read from `if`/`then` (also inside `allOf`); when the schema has none, a decision field with a refusing value
    makes the form's opinion field (`*_opinion`, `*_note`, `*_reason`) required on refusal.
    """
    rules: dict[str, tuple[str, Any]] = {}
    blocks = [schema] + [b for b in schema.get("allOf", []) if isinstance(b, dict)]
    for block in blocks:
        cond, then = block.get("if"), block.get("then")
        if not isinstance(cond, dict) or not isinstance(then, dict):
            continue
        props = cond.get("properties") or {}
        triggers = [(k, v["const"]) for k, v in props.items() if isinstance(v, dict) and "const" in v]
        if len(triggers) != 1:
            continue
        for name in then.get("required", []):
            rules.setdefault(name, triggers[0])
    if rules:
        return rules
    props = schema.get("properties") or {}
    decision = next(((n, v) for n, p in props.items() for v, _t in _options(p) if v in REFUSE_VALUES), None)
    if decision:
        for name, prop in props.items():
            if _type(prop) == "string" and not _options(prop) and name.endswith(OPINION_SUFFIXES) \
                    and name not in schema.get("required", []):
                rules[name] = decision
    return rules


def build_fields(schema: Mapping, values: Optional[Mapping] = None,
                 errors: Optional[Mapping[str, str]] = None) -> list[Field]:
    """The fields to render, in schema order, with the entered values and per-field errors."""
    values, errors = values or {}, errors or {}
    required = set(schema.get("required", []))
    conditional = conditional_requirements(schema)
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        t = _type(prop)
        options = _options(prop)
        if options:
            kind = "radio" if len(options) <= 6 else "select"
        elif t == "boolean":
            kind = "checkbox"
        elif t in ("integer", "number"):
            kind = "number"
        elif (prop.get("maxLength") or 10_000) > TEXTAREA_FROM:
            kind = "textarea"
        else:
            kind = "text"
        f = Field(name=name, label=prop.get("title") or name, kind=kind, required=name in required,
                  options=options, value=values.get(name, prop.get("default")), error=errors.get(name),
                  description=prop.get("description", ""), max_length=prop.get("maxLength"),
                  minimum=prop.get("minimum"), maximum=prop.get("maximum"),
                  step="1" if t == "integer" else "any", must_be_true=t == "boolean" and prop.get("const") is True,
                  required_when=conditional.get(name) if name not in required else None)
        out.append(f)
    return out


def parse(schema: Mapping, form) -> tuple[dict, dict[str, str]]:
    """Submitted form values → typed data for the schema, and the errors found while converting.

    Empty text is left out (so `required` reports it); unknown names are ignored; an unchecked checkbox is false.
    A conditional requirement (refuse → opinion) is checked here too, whether or not the schema says it.
    """
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    props = schema.get("properties") or {}
    for name, prop in props.items():
        t = _type(prop)
        options = _options(prop)
        raw = form.get(name)
        if t == "boolean" and not options:
            data[name] = raw not in (None, "", "0", "false", "off")
            continue
        if raw is None:
            continue
        raw = raw.strip() if t != "string" or options else raw.replace("\r\n", "\n")
        if raw.strip() == "":
            continue
        if options:
            match = next((v for v, _t in options if str(v) == raw), None)
            if match is None:
                errors[name] = _("取值不在允许范围内")
            else:
                data[name] = match
        elif t == "integer":
            try:
                data[name] = int(raw)
            except ValueError:
                errors[name] = _("请输入整数")
        elif t == "number":
            try:
                data[name] = float(raw)
            except ValueError:
                errors[name] = _("请输入数字")
        elif t == "boolean":
            data[name] = raw in ("1", "true", "on")
        else:
            data[name] = raw.strip()
    for name, (trigger, value) in conditional_requirements(schema).items():
        if data.get(trigger) == value and not data.get(name):
            errors.setdefault(name, _("选择该意见时须填写理由"))
    for name, prop in props.items():
        if _type(prop) == "boolean" and prop.get("const") is True and name in schema.get("required", []) \
                and data.get(name) is not True:
            errors.setdefault(name, _("请勾选确认"))
    return data, errors


def friendly(schema: Mapping, errors: Mapping[str, str]) -> dict[str, str]:
    """Service (jsonschema) errors keyed by field, with the confirmation checkboxes worded for people."""
    props = schema.get("properties") or {}
    out = {}
    for name, msg in errors.items():
        prop = props.get(name) or {}
        if _type(prop) == "boolean" and prop.get("const") is True:
            msg = _("请勾选确认")
        out[name] = msg
    return out
