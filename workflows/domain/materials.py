"""The material checklist of each procedure; key items (R3) must be present for 容缺受理."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MaterialType:
    code: str
    name: str
    is_key: bool = False


CATALOGUE: dict[str, list[MaterialType]] = {
    "green_channel_registration": [
        MaterialType("id_card", "居民身份证", True),
        MaterialType("talent_recognition", "人才类别认定文件", True),
        MaterialType("employment_contract", "聘用合同或拟聘决定", True),
        MaterialType("assessment_material", "考察材料", True),
        MaterialType("degree_certificate", "学历学位证书"),
        MaterialType("health_check", "体检报告"),
        MaterialType("no_crime_record", "无犯罪记录证明"),
        MaterialType("resume", "个人简历"),
    ],
    "special_post": [
        MaterialType("post_plan", "特设岗位设置方案", True),
        MaterialType("holder_id_card", "拟聘人员身份证", True),
        MaterialType("talent_recognition", "人才类别认定文件"),
    ],
    "senior_title_direct": [
        MaterialType("id_card", "居民身份证", True),
        MaterialType("achievement_proof", "业绩成果证明材料", True),
        MaterialType("talent_recognition", "人才类别认定文件"),
        MaterialType("degree_certificate", "学历学位证书"),
    ],
}


def material_types(procedure: str) -> list[MaterialType]:
    return CATALOGUE[procedure]


def material_name(procedure: str, code: str) -> str:
    for m in CATALOGUE.get(procedure, []):
        if m.code == code:
            return m.name
    return code
