"""What an application must carry to start each procedure (JSON Schema), and how it becomes process data."""
from __future__ import annotations

from workflows.domain.materials import CATALOGUE

ID_NUMBER = {"type": "string", "title": "公民身份号码", "pattern": r"^[0-9]{17}[0-9Xx]$"}
NAME = {"type": "string", "minLength": 1, "maxLength": 50}
CATEGORY = {"title": "人才类别", "oneOf": [{"type": "integer", "minimum": 1, "maximum": 7}, {"type": "null"}]}
MODE = {"title": "引进方式", "enum": ["rigid", "flexible"]}


def _materials(procedure: str) -> dict:
    return {"type": "array", "title": "已提交材料", "uniqueItems": True,
            "items": {"enum": [m.code for m in CATALOGUE[procedure]]}}


def _schema(procedure: str, props: dict, required: list[str]) -> dict:
    return {"type": "object", "additionalProperties": False, "required": required,
            "properties": {**props, "unit_code": {"type": "string", "title": "用人单位", "minLength": 1, "maxLength": 32},
                           "materials": _materials(procedure)}}


START_SCHEMAS: dict[str, dict] = {
    "green_channel_registration": _schema("green_channel_registration", {
        "applicant_name": {**NAME, "title": "姓名"}, "id_number": ID_NUMBER, "talent_category": CATEGORY,
        "introduction_mode": MODE, "outside_establishment": {"type": "boolean", "title": "现为编制外聘用"},
    }, ["applicant_name", "id_number", "unit_code", "talent_category", "introduction_mode", "materials"]),
    "special_post": _schema("special_post", {
        "post_name": {**NAME, "title": "岗位名称"}, "post_level": {**NAME, "title": "岗位等级"},
        "term_months": {"type": "integer", "title": "聘期（月）", "minimum": 1, "maximum": 240},
        "holder_name": {**NAME, "title": "拟聘人员姓名"}, "holder_id_number": ID_NUMBER,
        "unit_has_vacancy_at_level": {"type": "boolean", "title": "本单位有相应等级空缺岗位"},
        "reason": {"type": "string", "title": "设置理由", "maxLength": 1000},
    }, ["post_name", "post_level", "term_months", "holder_name", "holder_id_number", "unit_code",
        "unit_has_vacancy_at_level", "materials"]),
    "senior_title_direct": _schema("senior_title_direct", {
        "applicant_name": {**NAME, "title": "姓名"}, "id_number": ID_NUMBER, "talent_category": CATEGORY,
        "introduction_mode": {"title": "人才来源", "enum": ["rigid", "flexible", "local"]},
        "achievement": {"title": "重大业绩", "enum": ["major_basic_research", "key_core_technology",
                                                  "major_engineering_problem", None]},
        "target_level": {"title": "申报级别", "enum": ["副高", "正高"]},
        "major": {"type": "string", "title": "申报专业", "maxLength": 100},
        "request_level2_post": {"type": "boolean", "title": "同时申报专业技术二级岗位（破格）"},
        "on_leave_entrepreneur": {"type": "boolean", "title": "离岗创业人员"},
        "delayed_retirement": {"type": "boolean", "title": "申请延迟退休"},
    }, ["applicant_name", "id_number", "unit_code", "introduction_mode", "target_level", "materials"]),
}

DEFAULTS: dict[str, dict] = {
    "green_channel_registration": {"outside_establishment": False},
    "special_post": {"reason": "", "unit_has_vacancy_at_level": False},
    "senior_title_direct": {"talent_category": None, "achievement": None, "request_level2_post": False,
                            "on_leave_entrepreneur": False, "delayed_retirement": False, "major": ""},
}

PROCEDURE_LETTER = {"green_channel_registration": "L", "special_post": "T", "senior_title_direct": "Z"}
PROCEDURE_NAMES = {"green_channel_registration": "绿色通道列编注册", "special_post": "特设岗位设置与核销",
                   "senior_title_direct": "职称绿色通道直接申报"}


def person(procedure: str, data: dict) -> tuple[str, str]:
    """The person a case is about (a special post's holder)."""
    if procedure == "special_post":
        return data["holder_name"], data["holder_id_number"]
    return data["applicant_name"], data["id_number"]
