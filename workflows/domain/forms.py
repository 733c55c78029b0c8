"""Form data checked against JSON Schema before it reaches a workflow; errors come back per field, in Chinese."""

from __future__ import annotations

import json
from functools import lru_cache

from jsonschema import Draft202012Validator

from workflows.domain.errors import ValidationFailed

_MESSAGES = {
    "required": "此项为必填项",
    "type": "类型不正确",
    "enum": "取值不在允许范围内",
    "const": "取值不正确",
    "oneOf": "取值不在允许范围内",
    "anyOf": "取值不在允许范围内",
    "maxLength": "内容过长",
    "minLength": "内容过短",
    "pattern": "格式不正确",
    "minimum": "数值过小",
    "maximum": "数值过大",
    "additionalProperties": "包含未定义的字段",
    "format": "格式不正确",
    "minItems": "至少需要一项",
    "uniqueItems": "存在重复项",
}


@lru_cache(maxsize=256)
def _validator_for_text(schema_json: str) -> Draft202012Validator:
    # formats checked too: a "date" must be a real calendar date (2026-02-30 is not)
    return Draft202012Validator(json.loads(schema_json), format_checker=Draft202012Validator.FORMAT_CHECKER)


_by_identity: dict[int, tuple[dict, Draft202012Validator]] = {}


def _validator(schema: dict) -> Draft202012Validator:
    """The compiled validator of a schema. The schemas come from cached definition bundles and module constants, so
    the same object comes back on every request: look it up by identity first (keeping the object, so its id cannot
    be reused) before paying for the canonical JSON text that keys the real cache."""
    hit = _by_identity.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    validator = _validator_for_text(json.dumps(schema, sort_keys=True, ensure_ascii=False))
    if len(_by_identity) >= 1024:
        _by_identity.clear()
    _by_identity[id(schema)] = (schema, validator)
    return validator


def validate(schema: dict, data: object, what: str = "表单") -> dict:
    if not isinstance(data, dict):
        raise ValidationFailed(f"{what}数据须为对象（JSON object）")
    errors: dict[str, str] = {}
    for err in _validator(schema).iter_errors(data):
        if err.validator == "required":
            missing = [f for f in err.validator_value if f not in err.instance]
            for f in missing:
                errors.setdefault(f, _MESSAGES["required"])
            continue
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            for f in extra:
                errors.setdefault(f, _MESSAGES["additionalProperties"])
            continue
        field = ".".join(str(p) for p in err.absolute_path) or "_"
        title = (err.schema or {}).get("title") if isinstance(err.schema, dict) else None
        msg = _MESSAGES.get(err.validator, "取值不正确")
        errors.setdefault(field, f"{title}：{msg}" if title else msg)
    if errors:
        raise ValidationFailed(f"{what}填写有误，请按提示修改", details={"fields": errors})
    return data
