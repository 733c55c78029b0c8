"""Scale data: bulk-load a realistic volume (100,000 cases, ~1,000,000 audit events) for benchmarks. No Flask.

How it stays real:

1. Reference data: ~20 主管部门 with ~200 事业单位 under them (Inner Mongolia cities × institution kinds), the three
   region offices, one HR officer per unit, one reviewer per 主管部门, three officers per region-wide role, applicant
   accounts for about a quarter of the people, quota pools (own establishment per unit + the 人才专项编制 pool).
2. Templates: a few real cases per procedure are driven through the REAL services (start, complete, supply, withdraw,
   write-off; timers are fired by the real sweep after moving the armed timer's due time into the past), and a
   snapshot is taken after every step: instance state JSON, open-task projection, materials, message subscriptions,
   audit events, quota movements, special post.
3. Bulk copies: each generated case takes one snapshot and substitutes its own 办件编号, name, ID number and unit in
   the state (and shifts the armed timers' due times), re-dates the steps over the past 18 months, and rebuilds its
   audit chain with `audit._digest` so `verify_chain` passes. Rows go in with SQLAlchemy Core executemany inserts in
   batches (one transaction per batch). A generated case can be opened and moved by the services like any other.

Deterministic per seed (names, numbers, dates relative to the day of the run; the templates' task UUIDs differ).
Refuses a database that already has cases unless `force=True`, which empties every table first.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from webapp.demo.samples import ALL_REG_MATERIALS, APPROVE_FORMS
from workflows.domain.actors import Actor
from workflows.domain.clock import LOCAL_TZ, as_utc, now_utc, today_local
from workflows.domain.models import (
    Base,
    Case,
    CaseEvent,
    Counter,
    CreditRecord,
    Material,
    MessageSubscription,
    OpenTask,
    QuotaMovement,
    QuotaPool,
    SpecialPost,
    Unit,
    User,
)
from workflows.domain.outcomes import TERMINAL
from workflows.domain.passwords import hash_password
from workflows.domain.procedures import PROCEDURES, REGISTRATION, SENIOR_TITLE, SPECIAL_POST
from workflows.infra.db import make_session_factory, transaction
from workflows.services.audit import _digest

REG, SP, TT = REGISTRATION.id, SPECIAL_POST.id, SENIOR_TITLE.id
PASSWORD = "lvse-2026"
ALL_REG = ALL_REG_MATERIALS
FORMS = APPROVE_FORMS

DEPTS = [
    "科学技术厅",
    "教育厅",
    "卫生健康委员会",
    "农牧厅",
    "工业和信息化厅",
    "自然资源厅",
    "生态环境厅",
    "水利厅",
    "文化和旅游厅",
    "林业和草原局",
    "交通运输厅",
    "住房和城乡建设厅",
    "能源局",
    "民族事务委员会",
    "体育局",
    "广播电视局",
    "气象局",
    "地质矿产勘查开发局",
    "社会科学院",
    "农牧业科学院",
]
KINDS = {
    "科学技术厅": ["科学技术研究院", "科技信息研究所", "生产力促进中心", "科技成果转化中心", "稀土研究院"],
    "教育厅": ["大学", "师范大学", "职业技术学院", "民族大学", "医科大学", "工业大学"],
    "卫生健康委员会": ["人民医院", "中医医院", "蒙医医院", "疾病预防控制中心", "妇幼保健院"],
    "农牧厅": ["农牧技术推广中心", "动物疫病预防控制中心", "草原工作站", "种子管理站"],
    "林业和草原局": ["林业科学研究院", "草原监测中心", "林业调查规划院"],
    "水利厅": ["水利科学研究院", "水文水资源中心", "水利规划设计院"],
}
CITIES = [
    "呼和浩特市",
    "包头市",
    "鄂尔多斯市",
    "赤峰市",
    "通辽市",
    "呼伦贝尔市",
    "巴彦淖尔市",
    "乌兰察布市",
    "乌海市",
    "兴安盟",
    "锡林郭勒盟",
    "阿拉善盟",
    "内蒙古自治区",
]
SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜"
    "戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
    "包乌巴其敖"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英霞平刚桂兰文辉华玉萍红鹏飞志宏建国海燕晓东雪梅婷宇航浩然欣怡子涵"
    "思远嘉琪雨泽博文俊峰春雷冬梅立新振华晨阳巴特尔苏日娜乌云其木格宝音图孟和朝鲁额尔敦那仁斯琴"
)
REGION_CODES = [
    "150102",
    "150103",
    "150104",
    "150105",
    "150121",
    "150202",
    "150203",
    "150204",
    "150207",
    "150303",
    "150402",
    "150404",
    "150426",
    "150502",
    "150521",
    "150602",
    "150621",
    "150702",
    "150721",
    "150802",
    "150902",
    "152201",
    "152501",
    "152502",
    "152921",
]
POSTS = [
    "草原生态修复首席专家",
    "稀土新材料首席科学家",
    "乳业生物技术首席专家",
    "煤化工清洁利用首席工程师",
    "蒙医药研究首席专家",
    "沙产业技术首席专家",
    "现代畜牧育种首席科学家",
    "风光氢储首席工程师",
]
MAJORS = [
    "作物遗传育种",
    "草业科学",
    "动物遗传育种与繁殖",
    "材料科学与工程",
    "化学工程",
    "临床医学",
    "蒙医学",
    "计算机科学与技术",
    "水利工程",
    "生态学",
]
_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]  # GB 11643 weights


def id_number(rng: random.Random, birth_from: int = 1965, birth_to: int = 2000) -> str:
    """A valid-format 18-digit 居民身份证号 (GB 11643: area, birth date, sequence, ISO 7064 MOD 11-2 check)."""
    area = rng.choice(REGION_CODES)
    first = date(birth_from, 1, 1)
    born = first + timedelta(days=rng.randrange((date(birth_to, 12, 31) - first).days))
    body = f"{area}{born:%Y%m%d}{rng.randrange(1000):03d}"
    s = sum(int(c) * w for c, w in zip(body, _W))
    return body + "10X98765432"[s % 11]


def person_name(rng: random.Random) -> str:
    given = "".join(rng.choice(GIVEN) for _ in range(1 if rng.random() < 0.25 else 2))
    return rng.choice(SURNAMES[:40] if rng.random() < 0.7 else SURNAMES) + given


# ----------------------------------------------------------------------------------------------------------------
# reference data
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Ref:
    units: list = field(default_factory=list)  # (code, name, parent)
    parent: dict = field(default_factory=dict)  # unit code -> dept code
    hr: dict = field(default_factory=dict)  # unit code -> (user id, username)
    dept: dict = field(default_factory=dict)  # dept code -> (user id, username)
    region: dict = field(default_factory=dict)  # role -> [(user id, username)]
    own_pool: dict = field(default_factory=dict)  # unit code -> pool id
    talent_pool: int = 0


def load_reference(session: Session, rng: random.Random, n_units: int) -> Ref:
    pw = hash_password(PASSWORD)
    ref = Ref()
    rows = [
        dict(code="BB", name="内蒙古自治区党委机构编制委员会办公室", parent_code=None, kind="office"),
        dict(code="RS", name="内蒙古自治区人力资源和社会保障厅", parent_code=None, kind="office"),
        dict(code="PW", name="内蒙古自治区高级职称评审委员会办公室", parent_code=None, kind="office"),
    ]
    for i, d in enumerate(DEPTS, 1):
        rows.append(dict(code=f"D{i:02d}", name=f"内蒙古自治区{d}", parent_code=None, kind="dept"))
    per = max(1, n_units // len(DEPTS))
    seen = set()
    for i, d in enumerate(DEPTS, 1):
        kinds = KINDS.get(
            d,
            [
                d.replace("厅", "").replace("局", "").replace("委员会", "") + k
                for k in ("研究所", "服务中心", "监测中心", "信息中心", "技术推广站")
            ],
        )
        for j in range(1, per + 1):
            while True:
                name = rng.choice(CITIES) + rng.choice(kinds)
                if name not in seen:
                    break
                name = None
                if rng.random() < 0.2:
                    break
            if name is None:
                name = f"{rng.choice(CITIES)}{rng.choice(kinds)}（第{j}分院）"
            seen.add(name)
            code = f"U{i:02d}{j:02d}"
            rows.append(dict(code=code, name=name, parent_code=f"D{i:02d}", kind="unit"))
            ref.units.append((code, name, f"D{i:02d}"))
            ref.parent[code] = f"D{i:02d}"
    session.execute(insert(Unit), rows)
    users = []
    for code, name, _p in ref.units:
        users.append(
            dict(
                username=f"hr_{code.lower()}",
                display_name=f"{person_name(rng)}（{name}人事处）",
                role="unit_hr",
                unit_code=code,
                password_hash=pw,
                active=True,
            )
        )
    for i, d in enumerate(DEPTS, 1):
        users.append(
            dict(
                username=f"dept_d{i:02d}",
                display_name=f"{person_name(rng)}（{d}人事处）",
                role="dept",
                unit_code=f"D{i:02d}",
                password_hash=pw,
                active=True,
            )
        )
    for role, unit, base in (("bianban", "BB", "bianban"), ("hrss", "RS", "renshe"), ("committee", "PW", "pingwei")):
        for k in ("", "2", "3"):
            users.append(
                dict(
                    username=base + k,
                    display_name=person_name(rng),
                    role=role,
                    unit_code=unit,
                    password_hash=pw,
                    active=True,
                )
            )
    users.append(
        dict(username="admin", display_name="系统管理员", role="admin", unit_code=None, password_hash=pw, active=True)
    )
    session.execute(insert(User), users)
    for uid, username, role, unit in session.execute(select(User.id, User.username, User.role, User.unit_code)):
        if role == "unit_hr":
            ref.hr[unit] = (uid, username)
        elif role == "dept":
            ref.dept[unit] = (uid, username)
        elif role in ("bianban", "hrss", "committee"):
            ref.region.setdefault(role, []).append((uid, username))
    # Pools: totals are set after the load from what the cases hold (reserved + used + spare).
    session.execute(
        insert(QuotaPool),
        [
            dict(kind="unit_own", unit_code=c, name=f"{n} 本单位编制", total=10_000, reserved=0, used=0)
            for c, n, _p in ref.units
        ]
        + [dict(kind="talent_pool", unit_code=None, name="自治区人才专项编制", total=100_000, reserved=0, used=0)],
    )
    for pid, kind, unit in session.execute(select(QuotaPool.id, QuotaPool.kind, QuotaPool.unit_code)):
        if kind == "unit_own":
            ref.own_pool[unit] = pid
        else:
            ref.talent_pool = pid
    session.execute(
        insert(CreditRecord),
        [
            dict(
                id_number=id_number(rng),
                name=person_name(rng),
                kind="misconduct",
                listed_on=date(2025, 3, 1),
                note="科研项目经费违规使用",
            )
            for _ in range(50)
        ],
    )
    return ref


# ----------------------------------------------------------------------------------------------------------------
# templates: real cases through the real services, one snapshot per step
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Template:
    key: str
    procedure: str
    case: dict  # column values of the case row (tokens still the template's)
    tokens: dict  # what to substitute: case_no, name, id_number, unit_code (+ holder/post for SP)
    events: list  # [(step index, actor key, action, task_name, rule_id, clause, payload json)]
    steps: int
    open_tasks: list
    materials: list
    subscriptions: list
    quota: list  # [(pool kind, movement kind, amount)]
    special_post: dict | None
    timer_values: list  # armed timer due times in the state (ISO strings)
    terminal: bool
    applicant_acts: bool


def _walk_paths(factory, ref: Ref, rng: random.Random, applicant_ids: dict) -> list[Template]:
    from workflows.services import cases as svc
    from workflows.services.timers import fire_due_timers

    templates: list[Template] = []

    def actor(session, username: str) -> Actor:
        u = session.scalar(select(User).where(User.username == username))
        return Actor.from_user(u)

    own_unit = ref.units[0][0]
    pool_unit = ref.units[1][0]
    s = factory()
    with transaction(s):  # the pool path needs a unit without own vacancies (totals are recomputed at the end)
        s.execute(update(QuotaPool).where(QuotaPool.id == ref.own_pool[pool_unit]).values(total=0))
    s.close()

    def snapshot(session, case_no: str, key: str, step: int, terminal_hint: bool = False) -> None:
        session.expire_all()
        c = session.scalar(select(Case).where(Case.case_no == case_no))
        evs = list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == c.id).order_by(CaseEvent.seq)))
        step_of = getattr(snapshot, "steps_" + case_no, {})
        hr_name, dept_name = ref.hr[c.unit_code][1], ref.dept[ref.parent[c.unit_code]][1]
        amap = {hr_name: "@HR", dept_name: "@DEPT"}
        app_user = session.get(User, c.applicant_user_id) if c.applicant_user_id else None
        appl = [u for u in session.scalars(select(User).where(User.id_number == c.id_number, User.role == "applicant"))]
        for u in appl + ([app_user] if app_user else []):
            amap[u.username] = "@APPLICANT"
        events = [
            (
                step_of.get(e.seq, 0),
                amap.get(e.actor, e.actor),
                e.action,
                e.task_name,
                e.rule_id,
                e.clause,
                json.dumps(e.payload, ensure_ascii=False),
            )
            for e in evs
            if e.action != "document"
        ]
        state = json.loads(c.state)
        timers = sorted(
            {
                t["internal_data"]["event_value"]
                for t in state["tasks"].values()
                if t["state"] < 64 and isinstance(t.get("internal_data", {}).get("event_value"), str)
            }
        )
        sp = session.scalar(select(SpecialPost).where(SpecialPost.case_id == c.id))
        pools = {p.id: p.kind for p in session.scalars(select(QuotaPool))}
        case_cols = {
            k: (as_utc(v) if isinstance(v, datetime) else v)
            for k, v in (
                (k, getattr(c, k))
                for k in (
                    "procedure",
                    "definition_id",
                    "status",
                    "outcome_rule",
                    "outcome_reason",
                    "start_data",
                    "state",
                    "serializer_version",
                    "version",
                    "next_timer_at",
                    "waiting_messages",
                    "accepted_on",
                    "complete_on",
                    "promised_on",
                    "filing_due_on",
                    "rongque_deadline",
                    "closed_at",
                    "hold_since",
                    "hold_reason",
                    "hold_days",
                    "created_at",
                )
            )
        }
        tokens = {"case_no": c.case_no, "name": c.applicant_name, "id_number": c.id_number, "unit_code": c.unit_code}
        if c.procedure == SP:
            tokens.update(post_name=c.start_data["post_name"])
        templates.append(
            Template(
                key=key,
                procedure=c.procedure,
                case=case_cols,
                tokens=tokens,
                events=events,
                steps=max([s for s, *_ in events] + [0]) + 1,
                open_tasks=[
                    dict(
                        task_id=t.task_id,
                        spec_name=t.spec_name,
                        title=t.title,
                        lane=t.lane,
                        role=t.role,
                        form=t.form,
                        hold_reason=t.hold_reason,
                        offset=(t.due_on - today_local()).days if t.due_on else None,
                    )
                    for t in c.open_tasks
                ],
                materials=[
                    dict(code=m.code, name=m.name, is_key=m.is_key, status=m.status, deadline=m.deadline)
                    for m in c.materials
                ],
                subscriptions=list(
                    session.scalars(select(MessageSubscription.message_name).where(MessageSubscription.case_id == c.id))
                ),
                quota=[
                    (pools[q.pool_id], q.kind, q.amount)
                    for q in session.scalars(
                        select(QuotaMovement).where(QuotaMovement.case_id == c.id).order_by(QuotaMovement.id)
                    )
                ],
                special_post=(
                    {
                        k: getattr(sp, k)
                        for k in (
                            "post_name",
                            "post_level",
                            "term_months",
                            "start_on",
                            "term_end",
                            "status",
                            "written_off_on",
                            "writeoff_reason",
                        )
                    }
                    if sp
                    else None
                ),
                timer_values=timers,
                terminal=c.status in TERMINAL or terminal_hint,
                applicant_acts=any(a == "@APPLICANT" for _s, a, *_r in events),
            )
        )
        session.commit()

    def mark_step(session, case_no: str, step: int) -> None:
        session.expire_all()
        c = session.scalar(select(Case).where(Case.case_no == case_no))
        d = getattr(snapshot, "steps_" + case_no, {})
        for seq in range(1, c.event_seq + 1):
            d.setdefault(seq, step)
        setattr(snapshot, "steps_" + case_no, d)
        session.commit()

    def force_timer(session, case_no: str) -> bool:
        """Move the earliest armed timer's due time into the past, then let the real sweep fire it."""
        c = session.scalar(select(Case).where(Case.case_no == case_no))
        if c.next_timer_at is None:
            session.commit()
            return False
        state = json.loads(c.state)
        armed = [
            t
            for t in state["tasks"].values()
            if t["state"] < 64 and isinstance(t.get("internal_data", {}).get("event_value"), str)
        ]
        first = min(t["internal_data"]["event_value"] for t in armed)
        past = (now_utc() - timedelta(minutes=1)).isoformat()
        for t in armed:
            if t["internal_data"]["event_value"] == first:
                t["internal_data"]["event_value"] = past
        c.state = json.dumps(state, ensure_ascii=False, separators=(",", ":"))
        c.next_timer_at = now_utc() - timedelta(minutes=1)
        session.commit()
        fire_due_timers(factory, limit=10)
        return True

    def person(unit: str, with_account: bool) -> tuple[str, str, Actor | None]:
        name, idn = person_name(rng), id_number(rng)
        if not with_account:
            return name, idn, None
        s = factory()
        with transaction(s):
            s.add(
                User(
                    username=f"tpl_{idn}",
                    display_name=name,
                    role="applicant",
                    unit_code=unit,
                    id_number=idn,
                    password_hash="",
                )
            )
        s.close()
        applicant_ids[idn] = f"tpl_{idn}"
        return name, idn, None

    def run(key: str, procedure: str, data: dict, starter: str, script: list) -> None:
        """script items: task spec name to complete | ('timer',) | ('supply', code) | ('withdraw',) |
        ('writeoff',) ; a snapshot is taken after the start and after every item."""
        s = factory()
        try:
            who = actor(s, starter)
            codes = list(data.get("materials") or [])
            if who.role == "applicant":  # bulk data: file references stand for uploads (no bytes are stored)
                refs = {c: svc.FileRef(hashlib.sha256(f"{key}:{c}".encode()).hexdigest(), f"{c}.pdf") for c in codes}
                c = svc.start_case(s, procedure, data, who, files=refs)
            else:
                c = svc.start_case(s, procedure, data, who, in_person=codes)
            no = c.case_no
            mark_step(s, no, 0)
            snapshot(s, no, f"{key}:0", 0)
            for i, item in enumerate(script, 1):
                s.expire_all()
                c = s.scalar(select(Case).where(Case.case_no == no))
                if isinstance(item, str):
                    t = next((t for t in c.open_tasks if t.spec_name == item), None)
                    if t is None:
                        raise RuntimeError(
                            f"template {key}: no open {item} (open: "
                            f"{[t.spec_name for t in c.open_tasks]}, status {c.status})"
                        )
                    who = {
                        "unit_hr": ref.hr[c.unit_code][1],
                        "dept": ref.dept[ref.parent[c.unit_code]][1],
                        "bianban": "bianban",
                        "hrss": "renshe",
                        "committee": "pingwei",
                        "applicant": applicant_ids.get(c.id_number),
                    }[t.role]
                    s.commit()
                    svc.complete_task(s, no, t.task_id, FORMS[item], actor(s, who))
                elif item[0] == "timer":
                    s.commit()
                    if not force_timer(s, no):
                        return
                elif item[0] == "supply":
                    s.commit()
                    svc.supply_material(s, no, item[1], actor(s, applicant_ids[c.id_number]))
                elif item[0] == "withdraw":
                    s.commit()
                    svc.withdraw(s, no, actor(s, ref.hr[c.unit_code][1]), "单位撤回申请")
                elif item[0] == "writeoff":
                    s.commit()
                    svc.request_writeoff(s, no, "task_done", f"gen-writeoff-{no}", actor(s, ref.hr[c.unit_code][1]))
                mark_step(s, no, i)
                snapshot(s, no, f"{key}:{i}", i)
        finally:
            s.close()

    def reg(unit, **over):
        name, idn, _ = person(unit, over.pop("_account", False))
        return {
            "applicant_name": name,
            "id_number": idn,
            "unit_code": unit,
            "talent_category": rng.choice([1, 2, 3]),
            "introduction_mode": "rigid",
            "outside_establishment": False,
            "materials": list(ALL_REG),
            **over,
        }

    hr_own = ref.hr[own_unit][1]
    hr_pool = ref.hr[pool_unit][1]
    run("reg_own", REG, reg(own_unit), hr_own, ["Task_unit_review", "Task_dept_review", "Task_filing"])
    run(
        "reg_pool",
        REG,
        reg(pool_unit),
        hr_pool,
        ["Task_unit_review", "Task_dept_review", "Task_pool_review", "Task_filing"],
    )
    run(
        "reg_outside",
        REG,
        reg(own_unit, outside_establishment=True, hire_type="outside_establishment", original_hire_date="2024-09-01"),
        hr_own,
        ["Task_unit_review", "Task_assessment", ("timer",)],
    )
    owed = [m for m in ALL_REG if m not in ("health_check", "no_crime_record")]
    run(
        "reg_rq",
        REG,
        reg(own_unit, materials=owed, _account=True),
        hr_own,
        [
            "Task_rongque_commitment",
            "Task_unit_review",
            "Task_dept_review",
            ("supply", "health_check"),
            ("supply", "no_crime_record"),
            "Task_filing",
        ],
    )
    run(
        "reg_rq_lapse",
        REG,
        reg(own_unit, materials=owed, _account=True),
        hr_own,
        ["Task_rongque_commitment", "Task_unit_review", "Task_dept_review", ("timer",)],
    )
    run("reg_flexible", REG, reg(own_unit, introduction_mode="flexible"), hr_own, [])
    run("reg_withdrawn", REG, reg(own_unit), hr_own, [("withdraw",)])
    name, idn, _ = person(own_unit, False)
    sp = {
        "post_name": POSTS[0],
        "post_level": "专业技术二级",
        "term_months": 36,
        "holder_name": name,
        "holder_id_number": idn,
        "unit_code": own_unit,
        "unit_has_vacancy_at_level": False,
        "reason": "急需紧缺高层次人才",
        "materials": ["post_plan", "holder_id_card"],
    }
    run("sp", SP, sp, hr_own, ["Task_dept_review", "Task_hrss_approval", ("writeoff",)])
    name, idn, _ = person(own_unit, False)
    run(
        "sp_refused",
        SP,
        {**sp, "holder_name": name, "holder_id_number": idn, "unit_has_vacancy_at_level": True},
        hr_own,
        [],
    )
    name, idn, _ = person(own_unit, True)
    tt = {
        "applicant_name": name,
        "id_number": idn,
        "unit_code": own_unit,
        "talent_category": 3,
        "introduction_mode": "rigid",
        "achievement": None,
        "target_level": "正高",
        "major": MAJORS[0],
        "on_leave_entrepreneur": False,
        "delayed_retirement": False,
        "materials": ["id_card", "achievement_proof"],
    }
    run("tt", TT, tt, hr_own, ["Task_unit_review", ("timer",), "Task_dept_review", "Task_committee_vote", ("timer",)])
    return templates


# Share of the generated cases per template path, and the share of each path's cases at its last snapshot.
PATHS = {
    "reg_own": (0.30, 0.62),
    "reg_pool": (0.06, 0.55),
    "reg_outside": (0.06, 0.40),
    "reg_rq": (0.12, 0.55),
    "reg_rq_lapse": (0.03, 0.50),
    "reg_flexible": (0.04, 1.0),
    "reg_withdrawn": (0.03, 0.9),
    "sp": (0.10, 0.25),
    "sp_refused": (0.03, 1.0),
    "tt": (0.23, 0.50),
}


def _weights(templates: list[Template]) -> list[tuple[Template, float]]:
    by_path: dict[str, list[Template]] = {}
    for t in templates:
        by_path.setdefault(t.key.split(":")[0], []).append(t)
    out = []
    for path, ts in by_path.items():
        share, last = PATHS[path]
        ts.sort(key=lambda t: int(t.key.split(":")[1]))
        if path in ("reg_flexible", "sp_refused"):
            out.append((ts[-1], share))
            continue
        if path == "reg_withdrawn":  # withdrawn cases, plus a few still at unit review
            out += [(ts[-1], share * last), (ts[0], share * (1 - last))]
            continue
        if path == "sp":  # running term is the long-lived state; written-off the rest
            out += [(ts[0], share * 0.08), (ts[1], share * 0.07), (ts[2], share * 0.60), (ts[3], share * 0.25)]
            continue
        rest = ts[:-1]
        out.append((ts[-1], share * last))
        for t in rest:
            out.append((t, share * (1 - last) / len(rest)))
    return out


# ----------------------------------------------------------------------------------------------------------------
# bulk load
# ----------------------------------------------------------------------------------------------------------------


def _tables_to_clear() -> list[str]:
    return [t.name for t in reversed(Base.metadata.sorted_tables) if t.name != "alembic_version"]


def has_cases(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(select(func.count()).select_from(Case.__table__)).scalar())


def wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        names = _tables_to_clear()
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE"))
        else:
            for n in names:
                conn.execute(text(f'DELETE FROM "{n}"'))


def generate(
    engine: Engine,
    cases: int = 100_000,
    units: int = 200,
    seed: int = 1,
    force: bool = False,
    batch: int = 2000,
    log: Callable[[str], None] = print,
) -> dict:
    """Load the volume; returns counts and timings. Raises RuntimeError on a non-empty database without force."""
    from workflows.infra.migrate import prepare
    from workflows.services.definitions import deploy_bundled

    t_start = time.perf_counter()
    prepare(engine)
    if has_cases(engine) or _has_rows(engine, Unit):
        if not force:
            raise RuntimeError("数据库已有数据：生成器只在空库上运行（--force 会先清空全部表）")
        wipe(engine)
    rng = random.Random(seed)
    factory = make_session_factory(engine)
    s = factory()
    with transaction(s):
        deploy_bundled(s)
        ref = load_reference(s, rng, units)
    s.close()
    applicant_ids: dict[str, str] = {}
    t0 = time.perf_counter()
    templates = _walk_paths(factory, ref, rng, applicant_ids)
    t_templates = time.perf_counter() - t0
    log(
        f"templates: {len(templates)} snapshots from {len({t.key.split(':')[0] for t in templates})} real paths "
        f"in {t_templates:.1f} s"
    )
    weighted = _weights(templates)
    counts = _bulk(engine, factory, ref, rng, weighted, cases, batch, log)
    t0 = time.perf_counter()
    _finish(engine, ref)
    counts["finish_s"] = time.perf_counter() - t0
    counts["templates_s"] = t_templates
    counts["total_s"] = time.perf_counter() - t_start
    log(f"done: {counts}")
    return counts


def _has_rows(engine: Engine, model) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(select(func.count()).select_from(model.__table__)).scalar())


def _shift_iso(value: str, delta: timedelta) -> str:
    return (datetime.fromisoformat(value) + delta).isoformat()


def _bulk(engine: Engine, factory, ref: Ref, rng: random.Random, weighted, n_cases: int, batch: int, log) -> dict:
    now = now_utc()
    today = today_local()
    with engine.connect() as conn:
        next_id = (conn.execute(select(func.max(Case.id))).scalar() or 0) + 1
    templates = [t for t, _w in weighted]
    weights = [w for _t, w in weighted]
    unit_codes = [u for u, _n, _p in ref.units]
    unit_w = [rng.paretovariate(1.2) for _ in unit_codes]  # some units are much busier than others
    serials: dict[tuple[str, str], int] = {}
    with engine.connect() as conn:  # the template cases took today's first serials
        for name, value in conn.execute(select(Counter.name, Counter.value)):
            if name.startswith("case:"):
                _c, letter, day = name.split(":")
                serials[(letter, day)] = value
    people: list[tuple[str, str]] = []
    totals = dict(
        cases=0,
        events=0,
        open_tasks=0,
        materials=0,
        quota=0,
        special_posts=0,
        subscriptions=0,
        applicants=0,
        due_timers=0,
        overdue_tasks=0,
    )
    t_gen = t_ins = 0.0
    cases_t, events_t, tasks_t = Case.__table__, CaseEvent.__table__, OpenTask.__table__
    mats_t, subs_t, quota_t, sp_t, users_t = (
        Material.__table__,
        MessageSubscription.__table__,
        QuotaMovement.__table__,
        SpecialPost.__table__,
        User.__table__,
    )
    done = 0
    t_begin = time.perf_counter()
    while done < n_cases:
        n = min(batch, n_cases - done)
        g0 = time.perf_counter()
        rows = {k: [] for k in ("cases", "events", "tasks", "mats", "subs", "quota", "sp", "users")}
        picks = rng.choices(templates, weights, k=n)
        units_pick = rng.choices(unit_codes, unit_w, k=n)
        for tpl, unit in zip(picks, units_pick):
            cid = next_id
            next_id += 1
            dept = ref.parent[unit]
            # when: closed cases over the last 18 months, open ones mostly recent (so a minority is overdue)
            if tpl.terminal:
                t0 = now - timedelta(days=rng.uniform(2, 540), seconds=rng.uniform(0, 36000))
            else:
                t0 = now - timedelta(
                    days=min(120.0, rng.expovariate(1 / 9.0) + 0.2 * tpl.steps), seconds=rng.uniform(0, 36000)
                )
            gaps = [timedelta(hours=rng.uniform(2, 90)) for _ in range(tpl.steps)]
            step_at = [t0]
            for g in gaps[1:]:
                step_at.append(step_at[-1] + g)
            if step_at[-1] > now - timedelta(minutes=5):  # squeeze into the past
                span = (step_at[-1] - t0).total_seconds() or 1.0
                room = max(60.0, (now - timedelta(minutes=5) - t0).total_seconds())
                step_at = [t0 + timedelta(seconds=(a - t0).total_seconds() * room / span) for a in step_at]
            last = step_at[-1]
            tpl_created = tpl.case["created_at"]
            delta = last - tpl_created  # the snapshot's "now" maps to the case's last step
            ddays = timedelta(days=(last.astimezone(LOCAL_TZ).date() - tpl_created.astimezone(LOCAL_TZ).date()).days)
            # who
            if rng.random() < 0.1 and people:
                name, idn = rng.choice(people)
            else:
                name, idn = person_name(rng), id_number(rng)
                people.append((name, idn))
                if len(people) > 5000:
                    people.pop(rng.randrange(len(people)))
            applicant_uid = None
            if tpl.procedure != SP and (
                tpl.applicant_acts or rng.random() < 0.2 or any(t["role"] == "applicant" for t in tpl.open_tasks)
            ):
                applicant_uid = _applicant_user_id(idn, rows["users"], unit, name, totals)
            day = t0.astimezone(LOCAL_TZ).strftime("%y%m%d")
            letter = PROCEDURES[tpl.procedure].letter
            serial = serials.get((letter, day), 0) + 1
            serials[(letter, day)] = serial
            case_no = f"150000{letter}{day}{serial:06d}"
            subst = [
                (tpl.tokens["case_no"], case_no),
                (tpl.tokens["name"], name),
                (tpl.tokens["id_number"], idn),
                (f'"{tpl.tokens["unit_code"]}"', f'"{unit}"'),
            ]
            post = None
            if tpl.procedure == SP:
                post = rng.choice(POSTS)
                subst.append((tpl.tokens["post_name"], post))
            state = tpl.case["state"]
            for a, b in subst:
                state = state.replace(a, b)
            next_at = tpl.case["next_timer_at"]
            if next_at is not None:
                for v in tpl.timer_values:
                    state = state.replace(v, _shift_iso(v, delta))
                next_at = next_at + delta
                if next_at <= now:
                    totals["due_timers"] += 1
            start_data = json.loads(_replace_all(json.dumps(tpl.case["start_data"], ensure_ascii=False), subst))
            c = tpl.case

            def sh(d, ddays=ddays):
                return d + ddays if d else None

            row = dict(
                id=cid,
                case_no=case_no,
                procedure=tpl.procedure,
                definition_id=c["definition_id"],
                applicant_user_id=applicant_uid,
                applicant_name=name,
                id_number=idn,
                unit_code=unit,
                status=c["status"],
                outcome_rule=c["outcome_rule"],
                outcome_reason=c["outcome_reason"],
                start_data=start_data,
                state=state,
                serializer_version=c["serializer_version"],
                version=c["version"],
                next_timer_at=next_at,
                waiting_messages=c["waiting_messages"],
                created_at=t0,
                accepted_on=sh(c["accepted_on"]),
                complete_on=sh(c["complete_on"]),
                promised_on=sh(c["promised_on"]),
                filing_due_on=sh(c["filing_due_on"]),
                rongque_deadline=sh(c["rongque_deadline"]),
                closed_at=(last if c["closed_at"] else None),
                hold_since=(last if c["hold_since"] else None),
                hold_reason=c["hold_reason"],
                hold_days=c["hold_days"],
                error=None,
            )
            # audit chain
            prev = ""
            seq = 0
            hr_name, dept_name = ref.hr[unit][1], ref.dept[dept][1]
            app_name = f"a{idn}" if applicant_uid else "applicant"
            amap = {"@HR": hr_name, "@DEPT": dept_name, "@APPLICANT": app_name}
            for j, (step, akey, action, task_name, rule_id, clause, payload_js) in enumerate(tpl.events):
                seq += 1
                at = step_at[min(step, len(step_at) - 1)] + timedelta(milliseconds=37 * j)
                who = amap.get(akey, akey)
                payload = json.loads(_replace_all(payload_js, subst)) if payload_js != "{}" else {}
                h = _digest(case_no, seq, at, who, action, task_name, rule_id, payload, prev)
                rows["events"].append(
                    dict(
                        case_id=cid,
                        seq=seq,
                        at=at,
                        actor=who,
                        action=action,
                        task_name=task_name,
                        rule_id=rule_id,
                        clause=clause,
                        payload=payload,
                        prev_hash=prev,
                        hash=h,
                    )
                )
                prev = h
            row["event_seq"], row["last_hash"] = seq, prev
            rows["cases"].append(row)
            # open tasks
            for t in tpl.open_tasks:
                scope = unit if t["role"] in ("unit_hr", "applicant") else dept if t["role"] == "dept" else None
                due = None
                if t["offset"] is not None:
                    due = last.astimezone(LOCAL_TZ).date() + timedelta(days=max(1, t["offset"]))
                    if due < today:
                        totals["overdue_tasks"] += 1
                assignee = None
                if rng.random() < 0.2:
                    assignee = (
                        ref.hr[unit][0]
                        if t["role"] == "unit_hr"
                        else ref.dept[dept][0]
                        if t["role"] == "dept"
                        else rng.choice(ref.region[t["role"]])[0]
                        if t["role"] in ref.region
                        else None
                    )
                rows["tasks"].append(
                    dict(
                        case_id=cid,
                        task_id=t["task_id"],
                        spec_name=t["spec_name"],
                        title=t["title"],
                        lane=t["lane"],
                        role=t["role"],
                        scope_unit_code=scope,
                        assignee_id=assignee,
                        form=t["form"],
                        hold_reason=t["hold_reason"],
                        due_on=due,
                        created_at=last,
                    )
                )
            for m in tpl.materials:
                rows["mats"].append(
                    dict(
                        case_id=cid,
                        code=m["code"],
                        name=m["name"],
                        is_key=m["is_key"],
                        status=m["status"],
                        deadline=sh(m["deadline"]),
                        received_at=t0 if m["status"] == "received" else None,
                        file_name=None,
                        sha256=None,
                    )
                )
            for name_ in tpl.subscriptions:
                rows["subs"].append(dict(case_id=cid, message_name=name_, correlation_key=case_no))
            for pool_kind, kind, amount in tpl.quota:
                pool = ref.own_pool[unit] if pool_kind == "unit_own" else ref.talent_pool
                rows["quota"].append(dict(pool_id=pool, case_id=cid, kind=kind, amount=amount, note=None, at=last))
            if tpl.special_post:
                p = tpl.special_post
                rows["sp"].append(
                    dict(
                        case_id=cid,
                        unit_code=unit,
                        post_name=post,
                        post_level=p["post_level"],
                        holder_name=name,
                        holder_id_number=idn,
                        term_months=p["term_months"],
                        start_on=sh(p["start_on"]),
                        term_end=sh(p["term_end"]),
                        status=p["status"],
                        written_off_on=sh(p["written_off_on"]),
                        writeoff_reason=p["writeoff_reason"],
                    )
                )
        g1 = time.perf_counter()
        with engine.begin() as conn:
            if rows["users"]:
                conn.execute(insert(users_t), rows["users"])
            conn.execute(insert(cases_t), rows["cases"])
            conn.execute(insert(events_t), rows["events"])
            for key, table in (
                ("tasks", tasks_t),
                ("mats", mats_t),
                ("subs", subs_t),
                ("quota", quota_t),
                ("sp", sp_t),
            ):
                if rows[key]:
                    conn.execute(insert(table), rows[key])
        g2 = time.perf_counter()
        t_gen += g1 - g0
        t_ins += g2 - g1
        done += n
        for k, key in (
            ("cases", "cases"),
            ("events", "events"),
            ("open_tasks", "tasks"),
            ("materials", "mats"),
            ("quota", "quota"),
            ("special_posts", "sp"),
            ("subscriptions", "subs"),
        ):
            totals[k] += len(rows[key])
        if done % (batch * 10) == 0 or done == n_cases:
            el = time.perf_counter() - t_begin
            log(
                f"  {done:>7} cases, {totals['events']:>8} events  {el:6.1f} s  (build {t_gen:.1f} s, "
                f"insert {t_ins:.1f} s)"
            )
    with engine.begin() as conn:
        for (letter, day), value in serials.items():
            name = f"case:{letter}:{day}"
            if conn.execute(select(Counter.value).where(Counter.name == name)).scalar() is None:
                conn.execute(insert(Counter).values(name=name, value=value))
            else:
                conn.execute(
                    update(Counter)
                    .where(Counter.name == name)
                    .values(
                        value=func.max(Counter.value, value)
                        if engine.dialect.name == "sqlite"
                        else func.greatest(Counter.value, value)
                    )
                )
    totals.pop("_accounts", None)
    totals.update(build_s=round(t_gen, 1), insert_s=round(t_ins, 1))
    return totals


def _applicant_user_id(idn: str, users: list, unit: str, name: str, totals: dict):
    """Applicant accounts get ids in a block far above the officers' (set on insert), so cases can point at them."""
    known = totals.setdefault("_accounts", {})
    if idn in known:
        return known[idn]
    uid = known[idn] = 1_000_000 + totals["applicants"]
    totals["applicants"] += 1
    users.append(
        dict(
            id=uid,
            username=f"a{idn}",
            display_name=name,
            password_hash="",
            role="applicant",
            unit_code=unit,
            id_number=idn,
            active=True,
        )
    )
    return uid


def _replace_all(s: str, pairs) -> str:
    for a, b in pairs:
        s = s.replace(a, b)
    return s


def _finish(engine: Engine, ref: Ref) -> None:
    """Pools consistent with their movements, sequences past the explicit ids, planner statistics."""
    with engine.begin() as conn:
        sums = {}
        for pool_id, kind, amount in conn.execute(
            select(QuotaMovement.pool_id, QuotaMovement.kind, func.sum(QuotaMovement.amount)).group_by(
                QuotaMovement.pool_id, QuotaMovement.kind
            )
        ):
            sums.setdefault(pool_id, {})[kind] = int(amount)
        rng = random.Random(7)
        for pool_id in list(ref.own_pool.values()) + [ref.talent_pool]:
            k = sums.get(pool_id, {})
            used = k.get("consume", 0)
            reserved = k.get("reserve", 0) - k.get("release", 0) - used
            spare = rng.randrange(0, 6) if pool_id != ref.talent_pool else 50
            conn.execute(
                update(QuotaPool)
                .where(QuotaPool.id == pool_id)
                .values(reserved=reserved, used=used, total=reserved + used + spare)
            )
            conn.execute(
                insert(QuotaMovement).values(
                    pool_id=pool_id,
                    case_id=None,
                    kind="adjust",
                    amount=reserved + used + spare,
                    note="核定编制（生成数据）",
                    at=now_utc() - timedelta(days=600),
                )
            )
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in ("cases", "app_user"):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
