"""The dossier (案卷) of a case, as every desk reads it before deciding: the application's data labelled from the
registry's start schema, each material with its file history, every earlier opinion by desk, the committee's vote,
the values the rules decided on, and the returns. One read, no Flask: the officer pages and the API render it.

Cost: one query per kind of row (the audit trail, the corrections, the users named), whatever the number of
materials; the case's checklist and definition are the case's own relationships.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from workflows.domain import procedures
from workflows.domain.actors import ROLE_LABELS
from workflows.domain.clock import cn_date
from workflows.domain.models import Case, CaseEvent, Correction, Unit, User
from workflows.services import achievements, queries
from workflows.services.archive import procedure_of

# Chinese labels of the codes a start form stores (the registry's schemas carry the codes only).
VALUE_LABELS: dict[str, dict[Any, str]] = {
    "introduction_mode": {"rigid": "刚性引进", "flexible": "柔性引进", "local": "本地培养人才"},
    "achievement": {
        "major_basic_research": "取得重大基础研究成果",
        "key_core_technology": "突破关键核心技术",
        "major_engineering_problem": "解决重大工程技术难题",
        None: "无",
    },
    "target_level": {"副高": "副高级", "正高": "正高级"},
    "hire_type": dict(procedures.HIRE_TYPES),
    "complaint_type": {"complaint": "投诉", "feedback": "意见反馈"},
}
DATE_FIELDS = ("requested_start_on", "original_hire_date")  # ISO dates in the start data, shown as 2027年1月1日
CATEGORY_NAMES = {1: "第一类", 2: "第二类", 3: "第三类", 4: "第四类", 5: "第五类", 6: "第六类", 7: "第七类"}
QUOTA_SOURCES = {"own": "本单位空余编制", "pool": "自治区人才专项编制", "none": "无可用编制（待编办调剂）"}
MATERIAL_STATUS = {"received": "已收取", "owed": "容缺待补", "waived": "免于提交", "missing": "未提交"}
HISTORY_KINDS = {
    "original": "原件（随申请提交）",
    "supplement": "补交（容缺后补）",
    "correction": "补正后重新提交",
    "returned": "退回补正",
    "recorded": "登记的文件",
}
IMAGE_ENDINGS = (".jpg", ".jpeg", ".png")
VOTE_FIELDS = ("experts_expected", "experts_present", "votes_for", "votes_against", "votes_abstain", "vote_note")
# Fields of the start form the dossier does not list as application data (shown as materials instead).
HIDDEN_FIELDS = ("materials", "topic")  # a complaint's topic code: its name (topic_name) is listed


def display(name: str, value: Any, units: dict[str, str] | None = None, options: dict[str, str] | None = None) -> str:
    """A stored value as a reader should see it: Chinese labels for codes, 是/否 for booleans, never a raw code."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if name == "talent_category":
        return CATEGORY_NAMES.get(value, "未认定") if value is not None else "未认定"
    if name == "unit_code" and units is not None:
        return units.get(str(value), str(value))
    labels = VALUE_LABELS.get(name)
    if labels is not None and value in labels:
        return labels[value]
    if options and str(value) in options:
        return options[str(value)]
    if value is None or value == "":
        return "—"
    if name == "term_months":
        return f"{value}个月"
    if name in DATE_FIELDS:
        try:
            return cn_date(date.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    if isinstance(value, (list, tuple)):
        return "、".join(str(v) for v in value)
    return str(value)


def form_fields(case: Case) -> dict[str, tuple[str, dict[str, str]]]:
    """Every task-form field of the case's definition: name → (title, {value: option title})."""
    out: dict[str, tuple[str, dict[str, str]]] = {}
    for schema in ((case.definition.source or {}).get("forms") or {}).values():
        for name, prop in (schema.get("properties") or {}).items():
            opts: dict[str, str] = {}
            for key in ("oneOf", "anyOf"):
                for o in prop.get(key) or []:
                    if isinstance(o, dict) and "const" in o:
                        opts[str(o["const"])] = str(o.get("title") or o["const"])
            titles = prop.get("enumTitles") or prop.get("x-enumTitles") or []
            for i, v in enumerate(prop.get("enum") or ()):
                if i < len(titles):
                    opts[str(v)] = str(titles[i])
            out[name] = (str(prop.get("title") or name), opts)
    return out


def build(session: Session, case: Case, trail: list[CaseEvent] | None = None) -> dict[str, Any]:
    """The dossier of `case` (already scope-checked by the caller) as plain data. `trail`: the case's audit trail
    in order, when the caller has already read it (the officer's case page), so it is not read twice."""
    proc = procedure_of(session, case)  # labelled as the version of its matter the case started on
    events = trail if trail is not None else queries.timeline(session, case)
    corrections = list(session.scalars(select(Correction).where(Correction.case_id == case.id).order_by(Correction.id)))
    usernames = {e.actor for e in events} | {c.requested_by for c in corrections}
    names: dict[str, str] = {
        u: n for u, n in session.execute(select(User.username, User.display_name).where(User.username.in_(usernames)))
    }
    names.setdefault("system", "系统")
    units = {case.unit_code: session.scalar(select(Unit.name).where(Unit.code == case.unit_code)) or case.unit_code}

    def who(username: str | None) -> str:
        return names.get(username or "", username or "")

    # ---- the application: every start-form field, in the registry's order
    schema = proc.start_schema["properties"]
    data = case.start_data or {}
    # a register's entry by its name (R9 achievements: the register's own list, which outlives the form's)
    registered = {"achievement": achievements.labels(session)} if data.get("achievement") else {}
    application = [
        {
            "name": n,
            "label": prop.get("title") or n,
            "value": data.get(n),
            "display": display(n, data.get(n), units, registered.get(n)),
        }
        for n, prop in schema.items()
        if n not in HIDDEN_FIELDS
        and (n in data or n in proc.required)
        and not (n == "unit_code" and proc.kind == "complaint")  # the first office; the case names the current one
    ]

    # ---- materials with their history (the trail holds each stored file's sha256; the row the current one)
    history: dict[str, list[dict]] = {m.code: [] for m in case.materials}
    returned_codes: set[str] = set()
    for e in events:
        p = e.payload or {}
        if e.action in ("file_attached", "material_received") and p.get("code") in history and p.get("sha256"):
            code = p["code"]
            if e.action == "file_attached":
                kind = "correction" if p.get("via") == "resubmission" else "original"
            else:
                kind = "correction" if code in returned_codes else "supplement"
            history[code].append(_version(kind, e.at, e.actor, who(e.actor), p.get("sha256"), p.get("file_name")))
        elif e.action == "returned" and p.get("target") == "applicant":
            for code in p.get("items") or []:
                if code in history:
                    returned_codes.add(code)
                    history[code].append(
                        {
                            "kind": "returned",
                            "label": HISTORY_KINDS["returned"],
                            "at": e.at,
                            "by": e.actor,
                            "by_name": who(e.actor),
                            "sha256": None,
                            "file_name": None,
                            "note": str(p.get("reason") or ""),
                            "current": False,
                        }
                    )
    materials = []
    for m in case.materials:
        versions = history[m.code]
        files = [v for v in versions if v["sha256"]]
        if m.sha256 and (not files or files[-1]["sha256"] != m.sha256):
            # stored without a trail entry (e.g. before file events were recorded): the row is the evidence
            versions.append(_version("recorded", m.received_at, None, "", m.sha256, m.file_name))
            files = [v for v in versions if v["sha256"]]
        for v in files:
            v["current"] = bool(m.sha256) and v is files[-1] and v["sha256"] == m.sha256
        materials.append(
            {
                "code": m.code,
                "name": m.name,
                "is_key": m.is_key,
                "key_label": "关键材料" if m.is_key else "一般材料",
                "status": m.status,
                "status_label": MATERIAL_STATUS.get(m.status, m.status),
                "deadline": m.deadline,
                "received_at": m.received_at,
                "file_name": m.file_name,
                "sha256": m.sha256,
                "has_file": bool(m.sha256),
                # how the page shows it: uploads are PDF, JPEG or PNG (checked by content, named by it)
                "preview": "image" if (m.file_name or "").lower().endswith(IMAGE_ENDINGS) else "pdf",
                "history": versions,
            }
        )

    # ---- opinions (completed tasks' form data) and the vote record
    fields = form_fields(case)
    opinions, votes = [], []
    for e in events:
        p = e.payload or {}
        if e.action == "task_completed":
            role = p.get("role") or ""
            lines = [
                {
                    "name": k,
                    "label": fields.get(k, (k, {}))[0],
                    "value": v,
                    "display": display(k, v, units, fields.get(k, (k, {}))[1]),
                }
                for k, v in (p.get("data") or {}).items()
            ]
            opinions.append(
                {
                    "step": e.task_name or "",
                    "role": role,
                    "desk": ROLE_LABELS.get(role, role),
                    "handler": e.actor,
                    "handler_name": who(e.actor),
                    "at": e.at,
                    "lines": lines,
                }
            )
            if any(k in (p.get("data") or {}) for k in VOTE_FIELDS):
                votes.append({"step": e.task_name or "", "handler_name": who(e.actor), "at": e.at, "lines": lines})
        elif e.action == "decision" and e.rule_id == "R9" and "passed" in p and votes:
            votes[-1]["passed"] = bool(p["passed"])
            votes[-1]["result"] = (
                "通过" if p["passed"] else "未通过"
            ) + f"（同意 {p.get('ratio', '')}，须三分之二以上）"

    # ---- the values the rules decided on
    quota = next((e.payload.get("source") for e in reversed(events) if e.action == "quota" and e.payload), None)
    decided: list[dict[str, Any]] = []

    def decide(name: str, label: str, value: Any, shown: str) -> None:
        decided.append({"name": name, "label": label, "value": value, "display": shown})

    if "talent_category" in schema:
        decide(
            "talent_category",
            "人才类别",
            data.get("talent_category"),
            display("talent_category", data.get("talent_category")),
        )
    if "introduction_mode" in schema:
        mode = data.get("introduction_mode")
        decide(
            "introduction_mode",
            schema["introduction_mode"].get("title", "引进方式"),
            mode,
            display("introduction_mode", mode),
        )
    if quota:
        decide("quota_source", "编制来源", quota, QUOTA_SOURCES.get(quota, "—"))
    # R8: what the posts register showed at the level when the special post was checked
    post_check = next(
        (e.payload for e in events if e.rule_id == "R8" and "register_vacancy" in (e.payload or {})), None
    )
    if post_check is not None:
        v = post_check["register_vacancy"]
        shown = "未登记该等级岗位" if v is None else f"{max(int(v), 0)}个"
        decide("register_vacancy", "岗位设置台账相应等级空缺（审查时）", v, shown)
    # R9: the category of the chosen entry of the achievements register (what the eligibility table decided on)
    if data.get("achievement"):
        category = achievements.category_by_code(session, data["achievement"])
        decide("achievement_category", "重大业绩类别", category, achievements.CATEGORIES.get(category or "", "—"))
    for name, label in (
        ("promised_on", "承诺办结日期"),
        ("rongque_deadline", "容缺补齐期限"),
        ("filing_due_on", "备案期限"),
    ):
        value = getattr(case, name)
        if value is not None:
            decide(name, label, value, f"{value.year}年{value.month}月{value.day}日")

    returns = [
        {
            "task_title": c.task_title,
            "target": c.target,
            "to_applicant": c.target == "applicant",
            "reason": c.reason,
            "items": [{"code": i, "name": proc.material_name(i)} for i in (c.items or [])],
            "by": c.requested_by,
            "by_name": who(c.requested_by),
            "at": c.requested_at,
            "resolved_at": c.resolved_at,
        }
        for c in corrections
    ]
    return {
        "case_no": case.case_no,
        "procedure": case.procedure,
        "procedure_name": proc.name,
        "application": application,
        "materials": materials,
        "opinions": opinions,
        "votes": votes,
        "decided": decided,
        "returns": returns,
    }


def _version(kind: str, at: datetime | None, by: str | None, by_name: str, sha: str | None, file_name: str | None):
    return {
        "kind": kind,
        "label": HISTORY_KINDS[kind],
        "at": at,
        "by": by,
        "by_name": by_name,
        "sha256": sha,
        "file_name": file_name,
        "note": "",
        "current": False,
    }


def task_return(session: Session, case: Case, spec_name: str, title: str) -> Correction | None:
    """The latest return that sent this step back: an internal return to it, or a return to the applicant made
    from it (once the applicant has answered, the step is open again)."""
    return session.scalar(
        select(Correction)
        .where(
            Correction.case_id == case.id,
            or_(Correction.target == spec_name, (Correction.target == "applicant") & (Correction.task_title == title)),
        )
        .order_by(Correction.id.desc())
        .limit(1)
    )


def inbox_returns(session: Session, tasks: list[tuple[int, str, str]]) -> dict[tuple[int, str], Correction]:
    """(case id, spec name) → the latest return that sent that open step back, for a page of inbox rows
    ((case id, spec name, title) each) in one query."""
    if not tasks:
        return {}
    ids = {t[0] for t in tasks}
    rows = session.scalars(select(Correction).where(Correction.case_id.in_(ids)).order_by(Correction.id))
    by_case: dict[int, list[Correction]] = {}
    for c in rows:
        by_case.setdefault(c.case_id, []).append(c)
    out: dict[tuple[int, str], Correction] = {}
    for case_id, spec, title in tasks:
        for c in by_case.get(case_id, []):
            if c.target == spec or (c.target == "applicant" and c.task_title == title):
                out[(case_id, spec)] = c  # later rows win
    return out
