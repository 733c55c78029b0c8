"""Demo data: a two-level unit hierarchy, one user per role, quota pools, and cases in different states."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from functools import lru_cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.domain.actors import Actor
from workflows.domain.clock import LOCAL_TZ
from workflows.domain.models import BreachRecord, Case, CreditRecord, QuotaPool, RightsTopic, Unit, User
from workflows.domain.passwords import hash_password
from workflows.infra.db import transaction
from workflows.services import achievements, posts

log = logging.getLogger(__name__)
DEMO_PASSWORD = "lvse-2026"

UNITS = [
    ("BB", "内蒙古自治区党委机构编制委员会办公室", None, "office"),
    ("RS", "内蒙古自治区人力资源和社会保障厅", None, "office"),
    ("PW", "内蒙古自治区高级职称评审委员会办公室", None, "office"),
    ("D01", "内蒙古自治区科学技术厅", None, "dept"),
    ("D02", "内蒙古自治区教育厅", None, "dept"),
    ("U0101", "内蒙古自治区农牧业科学院", "D01", "unit"),
    ("U0102", "内蒙古自治区科技信息研究所", "D01", "unit"),
    ("U0201", "内蒙古大学", "D02", "unit"),
    ("U0202", "内蒙古工业大学", "D02", "unit"),
]
OWN_QUOTA = {"U0101": 3, "U0102": 0, "U0201": 5, "U0202": 1}
TALENT_POOL_TOTAL = 2

USERS = [
    ("zhangwei", "张伟", "applicant", "U0101", "150102199001011234"),
    ("liuna", "刘娜", "applicant", "U0201", "150104198805052345"),
    ("hr_nky", "王芳（农牧业科学院人事处）", "unit_hr", "U0101", None),
    ("hr_nmgu", "李强（内蒙古大学人事处）", "unit_hr", "U0201", None),
    ("hr_kjxx", "马丽（科技信息研究所人事科）", "unit_hr", "U0102", None),
    ("dept_kjt", "赵敏（科技厅人事处）", "dept", "D01", None),
    ("dept_jyt", "孙丽（教育厅人事处）", "dept", "D02", None),
    ("bianban", "周杰（编办）", "bianban", "BB", None),
    ("renshe", "吴静（人社厅）", "hrss", "RS", None),
    ("pingwei", "郑涛（评委会办公室）", "committee", "PW", None),
    ("quanyi_kjt", "钱程（科技厅权益保障窗口）", "rights_office", "D01", None),
    ("quanyi_rs", "冯雪（人社厅权益保障窗口）", "rights_office", "RS", None),
    ("quanyi_jyt", "陈晨（教育厅权益保障窗口）", "rights_office", "D02", None),
    ("admin", "系统管理员", "admin", None, None),
]


# 科研人员权益保障 window (seed 000 三(三)): topic → office (科技厅 D01, 人社厅 RS, 教育厅 D02); administrators change them
RIGHTS_TOPICS = [
    ("research_autonomy", "科研管理放权", "D01"),
    ("achievement_income", "科技成果转化收益", "D01"),
    ("establishment", "编制管理", "RS"),
    ("title_review", "职称评审", "RS"),
    ("children_school", "子女入学", "D02"),
    ("other_rights", "其他权益保障问题", "D01"),
]


@lru_cache(maxsize=1)
def _demo_hash() -> str:
    return hash_password(DEMO_PASSWORD)


def has_data(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(Unit)) or 0) > 0


def actor_for(session: Session, username: str) -> Actor:
    u = session.scalar(select(User).where(User.username == username))
    return Actor.from_user(u)


def load_reference_data(session: Session) -> None:
    with transaction(session):
        for code, name, parent, kind in UNITS:
            session.add(Unit(code=code, name=name, parent_code=parent, kind=kind))
        session.flush()
        pw = _demo_hash()
        for username, display, role, unit, id_number in USERS:
            session.add(
                User(
                    username=username,
                    display_name=display,
                    role=role,
                    unit_code=unit,
                    id_number=id_number,
                    password_hash=pw,
                )
            )
        for unit, total in OWN_QUOTA.items():
            session.add(QuotaPool(kind="unit_own", unit_code=unit, name=f"{unit} 本单位编制", total=total))
        session.add(QuotaPool(kind="talent_pool", unit_code=None, name="自治区人才专项编制", total=TALENT_POOL_TOTAL))
        for i, (code, name, office) in enumerate(RIGHTS_TOPICS, 1):
            session.add(RightsTopic(code=code, name=name, office_code=office, active=True, position=i * 10))
        session.add_all(demo_credit_records())
        session.add_all(demo_breach_records())
        session.flush()
        achievements.ensure_defaults(session)
        demo_unit_posts(session)
        demo_achievements(session)


# Each unit's posts by level as its approved post-setting plan has them (核定, 实有): no vacancy at 专业技术二级 and 三级
# anywhere (the demo's and the tests' special posts are set at those levels, R8), a few vacancies below.
UNIT_POSTS = [
    ("U0101", "专业技术二级", 2, 2),
    ("U0101", "专业技术三级", 4, 4),
    ("U0101", "专业技术四级", 8, 7),
    ("U0101", "专业技术七级", 20, 18),
    ("U0101", "八级职员", 6, 6),
    ("U0101", "技术工三级", 3, 2),
    ("U0102", "专业技术二级", 1, 1),
    ("U0102", "专业技术五级", 4, 4),
    ("U0102", "九级职员", 2, 1),
    ("U0201", "专业技术二级", 6, 6),
    ("U0201", "专业技术三级", 12, 12),
    ("U0201", "专业技术五级", 30, 28),
    ("U0201", "专业技术七级", 60, 57),
    ("U0201", "七级职员", 10, 9),
    ("U0201", "普通工", 8, 8),
    ("U0202", "专业技术二级", 2, 2),
    ("U0202", "专业技术八级", 15, 13),
]


def demo_unit_posts(session: Session) -> None:
    """The posts register as set up by the administrator from the units' plans, with one later adjustment."""
    for unit, level, approved, filled in UNIT_POSTS:
        posts.set_post(session, unit, "", level, approved, filled, f"{unit} 岗位设置方案（2025年度核准）", "admin")
    posts.set_post(session, "U0101", "", "专业技术四级", 9, 7, "内人社函〔2026〕8号 核增专业技术四级岗位1个", "admin")


def demo_achievements(session: Session) -> None:
    """Two concrete awards beside the seed's three kinds, and one whose listing has ended."""
    for name, category, level, source, start, end in (
        (
            "国家科学技术进步奖二等奖以上（主要完成人）",
            "key_core_technology",
            "国家级",
            "内人社发〔2026〕5号",
            date(2026, 1, 1),
            None,
        ),
        (
            "自治区科学技术奖一等奖（第一完成人）",
            "major_engineering_problem",
            "自治区级",
            "内人社发〔2026〕5号",
            date(2026, 1, 1),
            None,
        ),
        (
            "自治区重大科技专项验收优秀（2024年度目录）",
            "key_core_technology",
            "自治区级",
            "内人社发〔2024〕31号",
            date(2024, 3, 1),
            date(2025, 12, 31),
        ),
    ):
        achievements.add(
            session,
            {
                "name": name,
                "category": category,
                "level": level,
                "source_document": source,
                "active_from": start,
                "active_to": end,
            },
            "admin",
        )


def demo_credit_records() -> list[CreditRecord]:
    """The 失信 list as an office would have it: one barred now (a demo case is refused by it), one title revoked
    within three years, one whose bar has ended."""
    return [
        CreditRecord(
            id_number="150105198507073456",
            name="钱某",
            kind="misconduct",
            listed_on=date(2025, 3, 1),
            until=date(2030, 2, 28),
            source_document="内科发〔2025〕8号",
            note="科研项目经费违规使用",
            created_by="admin",
        ),
        CreditRecord(
            id_number="150203198209173025",
            name="孔某",
            kind="title_revoked",
            listed_on=date(2024, 5, 10),
            source_document="内人社职改字〔2024〕15号",
            note="申报材料论文造假，撤销正高级职称",
            created_by="admin",
        ),
        CreditRecord(
            id_number="150104199003036127",
            name="冯某",
            kind="misconduct",
            listed_on=date(2019, 6, 1),
            until=date(2024, 5, 31),
            source_document="内科发〔2019〕21号",
            note="项目结题材料弄虚作假（惩戒期已满）",
            created_by="admin",
        ),
    ]


def demo_breach_records() -> list[BreachRecord]:
    """违诺 records kept before the system (one still barring, one lifted by 信用修复)."""
    return [
        BreachRecord(
            id_number="150102198711204446",
            note="容缺材料逾期未补齐：学历学位证书（历史记录补录）",
            at=datetime(2025, 9, 30, 12, tzinfo=LOCAL_TZ).astimezone(UTC),
            expires_on=date(2028, 9, 30),
        ),
        BreachRecord(
            id_number="150105197904125810",
            note="容缺材料逾期未补齐：体检报告（历史记录补录）",
            at=datetime(2024, 11, 15, 12, tzinfo=LOCAL_TZ).astimezone(UTC),
            expires_on=date(2027, 11, 15),
            lifted_on=date(2025, 1, 10),
            lifted_by="admin",
            lift_reason="已补齐材料并书面说明逾期原因，经审核予以信用修复",
        ),
    ]


def load_demo(session: Session) -> int:
    # No stop-gap holiday table for next year: a demo deadline there is provisional like any other (DESIGN §3), and a
    # table loaded here would make the next year count its holidays as working days in a production database.
    load_reference_data(session)
    from webapp.demo.cases import create_demo_cases

    create_demo_cases(session)
    return session.scalar(select(func.count()).select_from(Case)) or 0
