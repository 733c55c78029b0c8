"""Issue 12 item 7, the remaining registers, as an administrator, 编办 and an applicant meet them on exact dates:
each unit's posts and 编制 by level (R8, R4) and R9's list of major achievements and awards; both keep their trail in
the administrators' hash-chained trail (admin_event)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from workflows.domain.errors import Conflict, Forbidden, ValidationFailed
from workflows.domain.models import Achievement, AdminEvent, QuotaPool, UnitPost
from workflows.infra.db import transaction
from workflows.services import achievements, audit, dossier, posts, quota

from .helpers import reload, start, task_names, title

TITLE = "senior_title_direct"
HEAD = "单位代码,岗位类别,岗位等级,核定数,实有数,依据文件\n"


def _import(session, text: str, role: str = "admin") -> int:
    rows = posts.parse_file(text.encode("utf-8"), "posts.csv")
    with transaction(session):
        return posts.import_rows(session, rows, "bianban" if role == "bianban" else "admin", role)


def _row(session, unit: str, level: str) -> UnitPost:
    row = session.scalar(select(UnitPost).where(UnitPost.unit_code == unit, UnitPost.level == level))
    session.commit()
    return row


def _trail(session, target: str) -> list[AdminEvent]:
    rows = list(session.scalars(select(AdminEvent).where(AdminEvent.target == target).order_by(AdminEvent.seq)))
    session.commit()
    return rows


# ---- posts and 编制 ------------------------------------------------------------------------------------------------


def test_level_names_as_people_write_them():
    assert posts.normalize_level("专技7级") == "专业技术七级"
    assert posts.normalize_level("专业技术岗位十三级") == "专业技术十三级"
    assert posts.normalize_level("七级专业技术岗位") == "专业技术七级"
    assert posts.normalize_level("管理岗位八级") == "八级职员"
    assert posts.normalize_level("工勤技能岗位普通工") == "普通工"
    assert posts.normalize_level("专业技术十四级") == posts.normalize_level("主任") == ""
    assert len(posts.LEVELS["professional"]) == 13 and len(posts.LEVELS["management"]) == 10


def test_posts_csv_import_lists_every_line_error_and_changes_nothing(session, clock):
    before = _row(session, "U0101", "专业技术七级")
    bad = (
        HEAD
        + "U0101,专业技术岗位,专业技术七级,22,18,内人社函〔2026〕21号\n"  # fine
        + "U9999,专业技术岗位,专业技术七级,1,1,x\n"  # no such unit
        + "U0101,管理岗位,专业技术八级,3,1,x\n"  # a professional level under 管理岗位
        + "U0101,专业技术岗位,专业技术十四级,3,1,x\n"  # no such level
        + "U0102,专业技术岗位,专业技术五级,-1,0,x\n"  # a negative count
        + "U0102,专业技术岗位,专业技术五级,4,5,x\n"  # more filled than approved
        + "U0201,编制,,10,2,\n"  # no basis
        + "U0101,专业技术岗位,专技7级,22,18,重复\n"  # the first line's level again
    )
    with pytest.raises(ValidationFailed) as e:
        _import(session, bad)
    lines = e.value.details["errors"]
    assert [line.split("：", 1)[0] for line in lines] == [f"第 {n} 行" for n in range(3, 10)]
    assert "U9999" in lines[0] and "属于专业技术岗位" in lines[1] and "岗位等级表" in lines[2]
    assert "0–100000" in lines[3] and "超岗" in lines[4] and "依据文件" in lines[5] and "与第 2 行重复" in lines[6]
    after = _row(session, "U0101", "专业技术七级")
    assert (after.approved, after.filled) == (before.approved, before.filled) == (20, 18)
    assert _trail(session, f"post:{after.id}")[-1].action == "post_create"  # nothing written


def test_posts_csv_import_applies_every_line_with_its_trail(session, clock):
    pool = quota.own_pool(session, "U0201")
    total, used = pool.total, pool.used
    session.commit()
    good = (
        HEAD
        + "U0101,专业技术岗位,专业技术七级,22,18,内人社函〔2026〕21号\n"  # adjusted
        + "U0102,管理岗位,十级职员,3,1,内人社函〔2026〕22号\n"  # a new level
        + f"U0201,编制,,{total + 10},{used + 2},内编办发〔2026〕3号\n"  # the 编制 line
        + "U0202,,专业技术八级,15,13,内人社函〔2026〕23号\n"  # unchanged: no event
    )
    assert _import(session, good) == 3
    row = _row(session, "U0101", "专业技术七级")
    assert (row.approved, row.filled, row.source_document) == (22, 18, "内人社函〔2026〕21号")
    ev = _trail(session, f"post:{row.id}")[-1]
    assert (ev.action, ev.actor, ev.payload["before"], ev.payload["after"]) == (
        "post_adjust",
        "admin",
        {"approved": 20, "filled": 18},
        {"approved": 22, "filled": 18},
    )
    assert _row(session, "U0102", "十级职员").post_type == "management"
    session.expire_all()
    pool2 = quota.own_pool(session, "U0201")
    assert (pool2.total, pool2.used) == (total + 10, used + 2)
    est = _trail(session, "establishment:U0201")[-1]
    assert est.payload["basis"] == "内编办发〔2026〕3号" and est.payload["after"]["approved"] == total + 10
    assert len(_trail(session, f"post:{_row(session, 'U0202', '专业技术八级').id}")) == 1  # the demo's own
    assert audit.verify_admin_chain(session) == []


def test_bianban_adjusts_establishment_but_not_posts(session, clock):
    with pytest.raises(ValidationFailed) as e:
        _import(
            session, HEAD + "U0101,编制,,9,1,内编办发〔2026〕4号\nU0101,专业技术岗位,专业技术七级,30,18,x\n", "bianban"
        )
    assert e.value.details["errors"] == ["第 3 行：编办只能导入编制行（岗位类别填“编制”）；岗位由系统管理员调整"]
    assert _import(session, HEAD + "U0101,编制,,9,1,内编办发〔2026〕4号\n", "bianban") == 1
    assert _trail(session, "establishment:U0101")[-1].actor == "bianban"
    with pytest.raises(Forbidden):
        posts.set_establishment(session, "U0101", 9, 1, "x", "hr_nky", "unit_hr")


def test_establishment_never_drops_below_what_running_registrations_hold(session, clock):
    """R4's ledger is the register's 编制: 核定 may not go below 实有 + the places running 列编 cases reserved."""
    with transaction(session):
        pool = quota.own_pool(session, "U0102")
        pool.total, pool.reserved = 5, 2  # two 列编 cases hold a place each
    with pytest.raises(ValidationFailed, match="不能少于实有数与列编办件预留数（2）之和"):
        with transaction(session):
            posts.set_establishment(session, "U0102", 5, 4, "内编办发〔2026〕5号", "bianban", "bianban")
    with transaction(session):
        posts.set_establishment(session, "U0102", 6, 4, "内编办发〔2026〕5号", "bianban", "bianban")
    session.expire_all()
    pool = session.scalar(select(QuotaPool).where(QuotaPool.unit_code == "U0102"))
    assert (pool.total, pool.used, pool.reserved) == (6, 4, 2)
    view = posts.units_view(session, "U0102")[0].establishment
    assert view is not None and view.vacant == 0
    ev = _trail(session, "establishment:U0102")[-1]
    assert ev.payload["before"] == {"approved": 5, "filled": 0} and ev.payload["after"] == {"approved": 6, "filled": 4}


def test_the_last_vacancy_is_taken_once(session, clock):
    """Two moves to a regular post racing for the last vacancy at a level: one fills it, the other finds none."""
    with transaction(session):
        posts.set_post(session, "U0201", "", "专业技术五级", 30, 29, "退休1人", "admin")
    with transaction(session):
        first = posts.fill_vacancy(session, "U0201", "专技5级", "150000T260302000009", "hr_nmgu")
        second = posts.fill_vacancy(session, "U0201", "专业技术五级", "150000T260302000010", "hr_nmgu")
    assert first is not None and second is None
    assert (_row(session, "U0201", "专业技术五级").filled, posts.vacancy_at(session, "U0201", "专业技术五级")) == (
        30,
        0,
    )
    assert posts.fill_vacancy(session, "U0201", "总工程师", "x", "hr_nmgu") is None  # not a level of the register


# ---- R9: major achievements and awards ----------------------------------------------------------------------------


def _entry(session, **over) -> int:
    data = {
        "name": "国家技术发明奖二等奖以上（第一完成人）",
        "category": "突破关键核心技术",
        "level": "国家级",
        "source_document": "内人社发〔2026〕9号",
        "active_from": "2026-03-01",
    }
    data.update(over)
    with transaction(session):
        return achievements.add(session, data, "admin").id


def _local(**over) -> dict:
    return title(introduction_mode="local", talent_category=None, **over)


def test_an_entry_the_administrator_adds_becomes_selectable_and_qualifies(session, clock):
    rid = _entry(session)
    code = session.get(Achievement, rid).code
    session.commit()
    assert code == f"ach{rid}" and code in [c.code for c in achievements.choices(session)]
    c = reload(session, start(session, TITLE, _local(achievement=code)).case_no)
    assert c.status == "running" and c.start_data["achievement"] == code  # the case keeps the entry it chose
    assert any(t.startswith("Task_unit_review") for t in task_names(session, c.case_no))
    d = dossier.build(session, reload(session, c.case_no))  # what every desk reads: the entry and its category
    application = {a["name"]: a["display"] for a in d["application"]}
    decided = {x["name"]: x["display"] for x in d["decided"]}
    assert application["achievement"] == "国家技术发明奖二等奖以上（第一完成人）"
    assert decided["achievement_category"] == "突破关键核心技术"
    ev = _trail(session, f"achievement:{rid}")
    assert [(e.action, e.actor, e.payload["category"]) for e in ev] == [
        ("achievement_create", "admin", "key_core_technology")
    ]


def test_an_ended_or_not_yet_active_entry_is_refused_at_the_start(session, clock):
    rid = _entry(session)
    future = _entry(session, name="自治区技术发明奖一等奖", active_from="2026-04-01")
    session.commit()
    codes = {r: session.get(Achievement, r).code for r in (rid, future)}
    session.commit()
    clock.to(2026, 3, 10, 9)
    with transaction(session):
        achievements.set_end(session, rid, "2026-03-09", "内人社发〔2026〕12号 调整目录", "admin")
    assert codes[rid] not in [c.code for c in achievements.choices(session)]
    with pytest.raises(ValidationFailed, match="已于2026年03月09日停止适用") as e:
        start(session, TITLE, _local(achievement=codes[rid]))
    assert e.value.details["fields"] == {"achievement": e.value.message}
    with pytest.raises(ValidationFailed, match="自2026年04月01日起适用"):
        start(session, TITLE, _local(achievement=codes[future]))
    with pytest.raises(ValidationFailed, match="不在自治区公布的重大成果和奖项目录中"):
        start(session, TITLE, _local(achievement="made_up"))
    end = _trail(session, f"achievement:{rid}")[-1]
    assert end.action == "achievement_end" and end.payload["after"] == {"active_to": "2026-03-09"}
    clock.to(2026, 4, 1, 9)
    assert reload(session, start(session, TITLE, _local(achievement=codes[future])).case_no).status == "running"


def test_a_local_talent_without_an_entry_is_still_refused(session, clock):
    """The eligibility table keeps deciding: no entry → R9 refusal, the seed's three kinds → eligible as before."""
    c = reload(session, start(session, TITLE, _local(achievement=None)).case_no)
    assert c.status == "not_accepted"
    assert reload(session, start(session, TITLE, _local(achievement="major_basic_research")).case_no).status == (
        "running"
    )


def test_achievement_register_entries_are_checked_and_imported_all_or_nothing(session, clock):
    with pytest.raises(ValidationFailed, match="成果类别须为"):
        _entry(session, category="论文")
    with pytest.raises(ValidationFailed, match="截止日期不能早于生效日期"):
        _entry(session, active_to="2026-01-01")
    with pytest.raises(Conflict, match="目录中已有"):
        _entry(session, name="突破关键核心技术")
    with pytest.raises(ValidationFailed, match="不能是 ach 加数字"):
        _entry(session, code="ach99")
    head = "名称,类别,级别,依据文件,生效日期,截止日期,代码\n"
    good = "自治区自然科学奖一等奖（第一完成人）,重大基础研究成果,自治区级,内人社发〔2026〕5号,2026-01-01,,zkj1\n"
    bad = head + good + "无类别的条目,其他,,内人社发〔2026〕5号,2026-01-01,,\n" + good
    with pytest.raises(ValidationFailed) as e:
        achievements.import_rows(session, achievements.parse_file(bad.encode(), "a.csv"), "admin")
    session.rollback()
    assert e.value.details["errors"] == [
        "第 3 行：成果类别须为：重大基础研究成果、突破关键核心技术、解决重大工程技术难题",
        "第 4 行：与前面的行重复",
    ]
    assert "zkj1" not in achievements.labels(session)
    with transaction(session):
        created = achievements.import_rows(session, achievements.parse_file((head + good).encode(), "a.csv"), "admin")
    assert [r.code for r in created] == ["zkj1"] and achievements.labels(session)["zkj1"].startswith("自治区自然科学奖")
    assert achievements.ensure_defaults(session) == 0  # never refilled once it has entries
    assert audit.verify_admin_chain(session) == []


def test_the_seeded_register_offers_what_the_form_always_offered(session):
    seeded = [(c.code, c.name) for c in achievements.choices(session, date(2026, 3, 2))][:3]
    assert seeded == list(achievements.DEFAULTS)
