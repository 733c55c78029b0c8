"""JSON Schema as an HTML form, and the submitted form back as typed data: the one renderer of the applicant's start
forms (/my) and the officers' task forms (/officer). Templates render a `Field` with the `schema_field` macro of
`templates/_schema_form.html`.

Only what the bundled forms use is supported (flat objects): strings (with `maxLength`/`minLength`; `format: date`
is a date input), `oneOf` of `{const, title}` and `enum` (radio groups or selects), integers/numbers (`minimum`/
`maximum`), booleans (checkboxes), `required`, and `if`/`then` rules of the kind "when the decision is *refuse*, the opinion is required".
A page adds what the schema cannot say through `overrides` (e.g. the units to choose from, Chinese labels of codes,
help texts). The services validate the data again with jsonschema; this module only shapes the page and the types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from flask_babel import gettext as _

TEXTAREA_FROM = 120  # strings that may be longer than this get a textarea
RADIO_MAX = 6  # up to this many choices are radio buttons, more a select
NONE = "none"  # the form value of a `null` choice (e.g. 未认定)
REFUSE_VALUES = ("refuse", "fail", "upheld")
OPINION_SUFFIXES = ("_opinion", "_note", "_reason")
TRUE_VALUES = ("1", "true", "on")


def option_key(value: Any) -> str:
    """The form value of a choice."""
    return NONE if value is None else str(value)


@dataclass
class Field:
    name: str
    label: str
    kind: str  # radio | select | checkbox | number | date | textarea | text
    required: bool = False
    options: list[tuple[Any, str]] = field(default_factory=list)
    value: Any = None  # as submitted or as `form_values` gives it (strings), or the schema's default
    error: str | None = None
    description: str = ""  # the help text under the input
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    step: str = "1"
    must_be_true: bool = False  # a confirmation checkbox (`const: true`)
    required_when: tuple[str, Any] | None = None  # (other field, value) that makes this one required
    required_when_title: str = ""  # that value's label on the other field (a choice that is not a refusal)
    type: str = "string"  # the JSON type the submitted text is converted to

    @property
    def id(self) -> str:
        return f"f-{self.name}"

    @staticmethod
    def key(option_value: Any) -> str:
        return option_key(option_value)

    def checked(self, option_value: Any) -> bool:
        return self.value is not None and str(self.value) == option_key(option_value)

    @property
    def is_checked(self) -> bool:
        """A checkbox's state."""
        return self.value is True or str(self.value).lower() in TRUE_VALUES

    @property
    def described_by(self) -> str:
        """The ids of the help text and the error message (aria-describedby)."""
        return " ".join(i for i, on in ((f"{self.id}-hint", self.description), (f"{self.id}-error", self.error)) if on)

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
            if (
                _type(prop) == "string"
                and not _options(prop)
                and name.endswith(OPINION_SUFFIXES)
                and name not in schema.get("required", [])
            ):
                rules[name] = decision
    return rules


def _kind(t: str, prop: Mapping, options: list, radio_max: int) -> str:
    if t == "string" and prop.get("format") == "date":
        return "date"
    if options:
        return "radio" if len(options) <= radio_max else "select"
    if t == "boolean":
        return "checkbox"
    if t in ("integer", "number"):
        return "number"
    return "textarea" if (prop.get("maxLength") or 10_000) > TEXTAREA_FROM else "text"


def build_fields(
    schema: Mapping,
    values: Mapping | None = None,
    errors: Mapping[str, str] | None = None,
    *,
    names: Iterable[str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    radio_max: int = RADIO_MAX,
) -> list[Field]:
    """The fields to render with the entered values and per-field errors: every property in schema order, or
    `names` in that order. `overrides` sets Field attributes the schema cannot give (name → {"options": …,
    "description": …}); with `options` the field is a choice. `radio_max=0` makes every choice a select."""
    values, errors, overrides = values or {}, errors or {}, overrides or {}
    props = schema.get("properties") or {}
    required = set(schema.get("required", []))
    conditional = conditional_requirements(schema)
    out = []
    for name in list(names) if names is not None else list(props):
        prop = props.get(name) or {}
        extra = overrides.get(name) or {}
        t = _type(prop)
        options = list(extra["options"]) if "options" in extra else _options(prop)
        f = Field(
            name=name,
            label=prop.get("title") or name,
            kind=_kind(t, prop, options, radio_max),
            required=name in required,
            options=options,
            value=values.get(name, prop.get("default")),
            error=errors.get(name),
            description=prop.get("description", ""),
            max_length=prop.get("maxLength"),
            minimum=prop.get("minimum"),
            maximum=prop.get("maximum"),
            step="1" if t == "integer" else "any",
            must_be_true=t == "boolean" and prop.get("const") is True,
            required_when=conditional.get(name) if name not in required else None,
            type=t,
        )
        out.append(replace(f, **{k: v for k, v in extra.items() if k != "options"}) if extra else f)
    by_name = {f.name: f for f in out}
    for f in out:  # "required when X is chosen" names the choice, unless it is a refusal (the opinion hint says so)
        if f.required_when and f.required_when[1] not in REFUSE_VALUES and f.required_when[0] in by_name:
            trigger = by_name[f.required_when[0]]
            f.required_when_title = next((str(t) for v, t in trigger.options if v == f.required_when[1]), "")
    return out


def parse_fields(fields: Iterable[Field], form, *, keep_blank: bool = False) -> tuple[dict, dict[str, str]]:
    """Submitted form values → typed data for these fields, and the errors found while converting.

    Empty input is left out (so `required` reports it) — with `keep_blank`, an optional text field left empty is
    kept as "" (a correction may clear it). An unchecked checkbox is false; a choice must be one of the options
    (`none` is the null choice); names not among the fields are ignored.
    """
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in fields:
        raw = form.get(f.name)
        if f.kind == "checkbox":
            data[f.name] = raw not in (None, "", "0", "false", "off")
            continue
        free_text = f.type == "string" and not f.options and f.kind != "date"  # a date left empty is no date
        if raw is None and not (keep_blank and free_text):
            continue
        raw = (raw or "").replace("\r\n", "\n") if free_text else raw.strip()
        if raw.strip() == "":
            if keep_blank and free_text and not f.required:
                data[f.name] = ""
            continue
        if f.options:
            match = next((v for v, _t in f.options if option_key(v) == raw), ...)
            if match is ...:
                errors[f.name] = _("取值不在允许范围内")
            else:
                data[f.name] = match
        elif f.type == "integer":
            try:
                data[f.name] = int(raw)
            except ValueError:
                errors[f.name] = _("请输入整数")
        elif f.type == "number":
            try:
                data[f.name] = float(raw)
            except ValueError:
                errors[f.name] = _("请输入数字")
        elif f.type == "boolean":
            data[f.name] = raw in TRUE_VALUES
        elif f.kind == "date":
            try:
                data[f.name] = date.fromisoformat(raw.strip()).isoformat()
            except ValueError:
                errors[f.name] = _("请输入日期（年-月-日）")
        else:
            data[f.name] = raw.strip()
    return data, errors


def parse(schema: Mapping, form) -> tuple[dict, dict[str, str]]:
    """A task form: the submitted values as typed data for the schema, and the errors found while converting.

    Empty text is left out (so `required` reports it); unknown names are ignored; an unchecked checkbox is false.
    A conditional requirement (refuse → opinion) is checked here too, whether or not the schema says it.
    """
    data, errors = parse_fields(build_fields(schema), form)
    for name, (trigger, value) in conditional_requirements(schema).items():
        if data.get(trigger) == value and not data.get(name):
            errors.setdefault(name, _("选择该意见时须填写理由"))
    for name, prop in (schema.get("properties") or {}).items():
        if (
            _type(prop) == "boolean"
            and prop.get("const") is True
            and name in schema.get("required", [])
            and data.get(name) is not True
        ):
            errors.setdefault(name, _("请勾选确认"))
    return data, errors


def form_values(fields: Iterable[Field], data: Mapping) -> dict[str, str]:
    """Typed data (a draft, a case's start data) as the form shows it: the other way round from `parse_fields`."""
    out: dict[str, str] = {}
    for f in fields:
        if f.name not in data:
            continue
        v = data[f.name]
        out[f.name] = ("1" if v else "") if f.kind == "checkbox" else option_key(v)
    return out


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
