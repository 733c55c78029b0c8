"""The document archive: numbering (文号), immutable issued PDFs with their sha256, re-issue, public verification.

No Flask and no WeasyPrint here. A process step *plans* a document in its own transaction (number allocated, data
snapshotted from the case, verification code drawn); rendering happens afterwards outside the engine
(`webapp/issuing.py`), which hands the bytes back to :func:`attach_pdf`.

Decisions
---------
* **PDF bytes live in the database** (`Document.pdf`, a deferred LargeBinary), not in files under ``instance/``:
  an issued PDF is small (tens of KB), it must be written atomically with its sha256 and status, it is backed up and
  restored with the rest of the record, and in production any stateless web worker on any host must be able to serve
  or verify it — a local file path would tie the archive to one machine's disk. The column is deferred so listing
  documents never loads the bytes.
* **A re-issued document gets a new 文号.** Under 《党政机关公文处理工作条例》 and GB/T 9704-2012 (7.2.4) the
  发文字号 identifies one document in the issuing office's register; a correction is a new document (new number in
  the same gap-free sequence) that records which one it replaces, and the old one is marked superseded — never
  edited, never renumbered. Reusing the number with a version mark would give two different texts one 文号 and
  break the "one number, one document" register. `version` counts the generations of one document
  (1, 2, …) and `supersedes_id` links them.
* **Numbers are gap-free per series per year** (an office's series per kind group, workflows/services/doc_series.py):
  the counter row is incremented with UPDATE … RETURNING in the same transaction that inserts the document row; a
  rollback takes both back. Rows are never deleted. The applicant's 承诺书 takes no office number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    func,
    select,
)
from sqlalchemy.orm import Session

from workflows.domain import matters, procedures, register
from workflows.domain.clock import cn_date, local_day, now_utc, today_local
from workflows.domain.errors import Conflict, NotFound, ValidationFailed
from workflows.domain.models import (
    KIND_TITLES,
    OFFICE_KIND_TITLES,
    Case,
    CaseEvent,
    Document,
    Matter,
    ProcessDefinition,
    QuotaMovement,
    QuotaPool,
    SpecialPost,
    User,
)
from workflows.domain.procedures import COMMITTEE_OFFICE
from workflows.domain.rules import RULES, remedy_sentence
from workflows.domain.votes import fraction_words
from workflows.infra import lookups
from workflows.infra.db import dialect_of
from workflows.services import doc_series, settings
from workflows.services.provisional import note
from workflows.services.settings import DEFAULT_PARAMS, get_params

log = logging.getLogger(__name__)
UTCDateTime = DateTime(timezone=True)

# The series and their prefixes live in workflows/services/doc_series.py (administrators manage them).
DOC_PREFIXES = doc_series.DOC_PREFIXES
doc_prefix = doc_series.base_prefix
format_doc_no = register.format_doc_no


def new_verify_code() -> str:
    """16 characters of RFC 4648 base32 from 80 random bits (secrets): unguessable, easy to type."""
    return base64.b32encode(secrets.token_bytes(10)).decode("ascii")


# Typed from paper: 0, 1 and 8 are not in the base32 alphabet and are read as O, I and B.
_LOOKALIKES = str.maketrans({"0": "O", "1": "I", "8": "B"})


def normalize_code(code: str) -> str:
    return re.sub(r"[^A-Z2-7]", "", (code or "").upper().translate(_LOOKALIKES))[:32]


def display_code(code: str) -> str:
    """ABCDEFGHIJKLMNOP → ABCD-EFGH-IJKL-MNOP (as printed on the document)."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


# ----------------------------------------------------------------------------------------------------------------
# Masking (what the public verification page may show of the holder)
# ----------------------------------------------------------------------------------------------------------------
def mask_name(name: str | None) -> str:
    """张伟 → 张*, 欧阳娜娜 → 欧***."""
    name = (name or "").strip()
    if not name:
        return ""
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_id_number(id_number: str | None) -> str:
    """150102199001011234 → 1501**********1234 (first and last four kept)."""
    s = (id_number or "").strip()
    if len(s) <= 8:
        return "*" * len(s)
    return s[:4] + "*" * (len(s) - 8) + s[-4:]


# ----------------------------------------------------------------------------------------------------------------
# Data built from the case (nothing typed twice)
# ----------------------------------------------------------------------------------------------------------------
def _iso(d: Any) -> Any:
    return d.isoformat() if isinstance(d, (date, datetime)) else d


def _local_date(value: datetime | None) -> date:
    return local_day(value) if value is not None else today_local()


def _unit_name(session: Session, code: str | None) -> str:
    unit = lookups.unit(session, code)
    return unit.name if unit is not None else (code or "")


def _supervisor(session: Session, unit_code: str) -> str:
    unit = lookups.unit(session, unit_code)
    if unit is not None and unit.parent_code:
        return _unit_name(session, unit.parent_code)
    return unit.name if unit is not None else unit_code


def _task_inputs(session: Session, case: Case) -> dict[str, tuple[Any, date]]:
    """What officers entered in the case's user tasks (from the audit trail), latest value per field, with the day."""
    return {k: (v, on) for k, (v, on, _by) in _task_entries(session, case).items()}


def _task_entries(session: Session, case: Case) -> dict[str, tuple[Any, date, str]]:
    """As _task_inputs, with the user who entered each value."""
    if case.id is None or not case.event_seq:  # a case being started has nothing on its trail yet
        return {}

    def load() -> dict[str, tuple[Any, date, str]]:
        out: dict[str, tuple[Any, date, str]] = {}
        for ev in session.scalars(
            select(CaseEvent)
            .where(CaseEvent.case_id == case.id, CaseEvent.action == "task_completed")
            .order_by(CaseEvent.seq)
        ):
            for k, v in ((ev.payload or {}).get("data") or {}).items():
                out[k] = (v, _local_date(ev.at), ev.actor)
        return out

    # the trail only grows when the run saves (event_seq moves), so one read serves every document of the run
    return dict(lookups.memo(session, ("task_inputs", case.id, case.event_seq), load))


def _display_name(session: Session, username: str | None) -> str:
    if not username or username == "system":
        return ""

    def load() -> str:
        name = session.scalar(select(User.display_name).where(User.username == username))
        return name or username

    # the same handlers sign several boxes and documents of a run: one read each
    return lookups.memo(session, ("display_name", username), load)


def _operator_results(session: Session, case: Case, action: str) -> list[dict]:
    if case.id is None or not case.event_seq:
        return []
    return [
        dict(ev.payload or {}, _on=_local_date(ev.at))
        for ev in session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == action).order_by(CaseEvent.seq)
        )
    ]


def _owed_items(case: Case, statuses: Iterable[str] = ("owed",)) -> list[dict]:
    return [
        {"name": m.name, "supply_form": "原件核验、复印件留存", "deadline": _iso(m.deadline or case.rongque_deadline)}
        for m in case.materials
        if m.status in statuses
    ]


def _quota_source(session: Session, case: Case) -> str | None:
    """own | pool — the pool the case consumed or holds a place in."""
    if case.id is None:
        return None
    kinds = (
        session.execute(
            select(QuotaPool.kind)
            .join(QuotaMovement, QuotaMovement.pool_id == QuotaPool.id)
            .where(QuotaMovement.case_id == case.id)
            .order_by(QuotaMovement.id.desc())
        )
        .scalars()
        .all()
    )
    for k in kinds:
        return "own" if k == "unit_own" else "pool"
    return None


def _quota_released(session: Session, case: Case) -> str | None:
    if case.id is None:
        return None
    rows = session.execute(
        select(QuotaPool.kind, QuotaMovement.amount)
        .join(QuotaMovement, QuotaMovement.pool_id == QuotaPool.id)
        .where(QuotaMovement.case_id == case.id, QuotaMovement.kind == "release")
    ).all()
    if not rows:
        return None
    parts = [f"为本件预留的{'本单位编制' if k == 'unit_own' else '人才专项编制'}{n}名予以释放" for k, n in rows]
    return "；".join(parts) + "。"


def _hire(case: Case, start: dict, hire_date: Any) -> dict:
    """R5 on the 备案表: the hire type before 列编 and 编制内 after it; the date the person was first hired — for an
    编制外聘用 person the original hire date they keep (never the acceptance date), for a new hire the date given, else
    the 列编 date."""
    before = start.get("hire_type") or (
        procedures.HIRE_OUTSIDE if start.get("outside_establishment") else procedures.HIRE_NEW
    )
    registered = _local_date(case.closed_at) if case.closed_at else today_local()
    original = start.get("original_hire_date") or None
    out: dict[str, Any] = {
        "hire_type": procedures.HIRE_TYPES[procedures.HIRE_ESTABLISHED],
        "hire_type_before": procedures.HIRE_TYPES.get(before, before),
        "registered_date": registered.isoformat(),
        "hire_date": _iso(hire_date or original or registered),
    }
    if original:
        out["original_hire_date"] = _iso(original)
    return out


def _start_note(post: SpecialPost | None) -> str:
    if post is None or post.start_basis != "approval":
        return ""
    if post.requested_start_on:
        return f"核准日期晚于申请的起始日期（{cn_date(post.requested_start_on)}），自核准之日起聘"
    return "自核准之日起聘"


def _regular_post(post: SpecialPost | None) -> str:
    if post is None or not post.regular_post_status or post.regular_post_status == "not_applicable":
        return ""
    if post.regular_post_status == "moved" and post.regular_post_on:
        return f"聘用人员{post.holder_name}自{cn_date(post.regular_post_on)}起转聘至本单位{post.post_level}正常岗位。"
    return f"{post.holder_name}待你单位出现{post.post_level}空缺岗位后转聘，届时报我厅（局）登记。"


def _from_id_number(id_number: str) -> dict:
    """Birth date and gender from an 18-digit 公民身份号码 (GB 11643)."""
    out: dict = {}
    if re.fullmatch(r"\d{17}[\dXx]", id_number or ""):
        try:
            out["birth_date"] = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14])).isoformat()
        except ValueError:
            pass
        out["gender"] = "男" if int(id_number[16]) % 2 else "女"
    return out


def _opinions(session: Session, case: Case, pd: dict) -> list[dict]:
    """The opinion boxes of a form, filled from the recorded decisions: the desk's box, its opinion (the text it
    typed, else its decision: 同意 / 不同意), the office that signs, the officer who handled it and the day. The running
    step's own entries (`pd`, not yet on the trail) count as the acting officer's (`_actor`), today."""
    entries = _task_entries(session, case)
    for k in pd.get("_entered") or ():  # what the running step's officer entered is theirs, today
        if k in pd and not isinstance(pd[k], dict):
            entries[k] = (pd[k], today_local(), str(pd.get("_actor") or ""))
    for k, v in pd.items():  # process data not on the trail (a form planned outside a task): undated by no one
        if k not in entries and not k.startswith("_") and not isinstance(v, dict):
            entries[k] = (v, today_local(), "")
    out = []
    for key, stage, who in procedures.get(case.procedure).opinions:
        decision_key = "filing_confirmed" if key == "filing_note" else key.rsplit("_", 1)[0] + "_decision"
        entry = entries.get(key) or entries.get(decision_key)
        if entry is None:
            if key == "pool_opinion" and _quota_source(session, case) == "own":
                allocated = _operator_results(session, case, "quota")
                on = allocated[0]["_on"] if allocated else today_local()
                out.append(
                    {
                        "stage": stage,
                        "text": "使用本单位空余编制，无需使用人才专项编制",
                        "signer": "",
                        "date": on.isoformat(),
                    }
                )
            continue
        text, on, by = entry
        decision = entries.get(decision_key, (None,))[0]
        refused = decision in ("refuse", "reject", False)
        text = str(text).strip() if key in entries and isinstance(text, str) and text.strip() else ""
        if not text:
            text = "不同意" if refused else ("予以备案" if key == "filing_note" else "同意")
        signer = {"unit": _unit_name(session, case.unit_code), "dept": _supervisor(session, case.unit_code)}.get(
            who
        ) or _unit_name(session, who)
        out.append(
            {
                "stage": stage,
                "text": text,
                "signer": signer,
                "handler": _display_name(session, by),
                "date": on.isoformat(),
            }
        )
    return out


def _clean_reason(text: str | None, default: str) -> str:
    return (text or "").strip().rstrip("。.；;") or default


def _addressee(session: Session, case: Case) -> dict:
    """Who an adverse paper speaks to: the person who applied, or the unit that filed (per procedure)."""
    if procedures.get(case.procedure).addressee == "unit":
        return {"addressee": _unit_name(session, case.unit_code), "you": "你单位", "addressee_kind": "unit"}
    return {"addressee": case.applicant_name, "you": "你", "addressee_kind": "person"}


def _deciding_desk(session: Session, case: Case, pd: dict) -> dict:
    """The desk whose decision ended the case: the last user task completed (the running step's, if any)."""
    last = (
        session.scalars(
            select(CaseEvent)
            .where(CaseEvent.case_id == case.id, CaseEvent.action == "task_completed")
            .order_by(CaseEvent.seq.desc())
            .limit(1)
        ).first()
        if case.id is not None
        else None
    )
    name = str(pd.get("_task") or (last.task_name if last is not None else "") or "")
    return {"desk": name} if name else {}


def reconsideration_body(session: Session) -> str:
    """The 行政复议 body adverse papers name (the administrator's setting `reconsideration_body`)."""
    value = get_params(session).get("reconsideration_body")
    return (
        str(value).strip() if isinstance(value, str) and value.strip() else str(DEFAULT_PARAMS["reconsideration_body"])
    )


def _adverse(session: Session, case: Case, kind: str, pd: dict, start: dict) -> dict:
    """What every adverse paper states: addressee, the rule that decided with its clause quoted from the seeds, the
    desk's reason, and the remedy (行政许可法 第三十八条)."""
    proc = procedures.get(case.procedure)
    rule_id = case.outcome_rule or (proc.desk_rule if kind == "refusal_decision" else None)
    if kind == "refusal_notice" and not rule_id:
        rule_id = proc.rule_id
    if kind == "termination_notice" and not rule_id:
        rule_id = "R3"
    paper = "本决定书" if kind == "refusal_decision" else "本通知书"
    out: dict[str, Any] = {
        **_addressee(session, case),
        "reason": _clean_reason(case.outcome_reason, "不符合办理条件"),
        "remedy": remedy_sentence(reconsideration_body(session), paper),
    }
    r = RULES.get(rule_id or "")
    if r is not None:
        out.update(rule_id=r.id, rule_title=r.title)
        if r.quotes:
            out["quotes"] = [{"source": q.source, "text": q.text} for q in r.quotes]
        else:
            out["rule_basis"] = r.basis
    if kind == "refusal_decision":
        present, votes_for = pd.get("experts_present"), pd.get("votes_for")
        if case.outcome_rule == "R9" and isinstance(present, int) and isinstance(votes_for, int):
            against, abstain = pd.get("votes_against"), pd.get("votes_abstain")
            counted = "".join(
                f"，{label}{n}票" for label, n in (("不同意", against), ("弃权", abstain)) if isinstance(n, int)
            )
            out["reason"] = f"实到专家{present}人，同意{votes_for}票{counted}，未达到通过所需票数，{out['reason']}"
        decision = proc.refusal(case.outcome_rule, pd.get("_role"))
        out.update(decision=decision, title=f"{decision}决定书")
        out.update(_deciding_desk(session, case, pd))
    if kind == "refusal_notice" and rule_id == "R1":
        out["alternative_route"] = procedures.r1_route(start)
    elif kind == "refusal_notice" and rule_id == "R9":
        out["alternative_route"] = "申报人可按职称评审的一般程序申报。"
    if kind == "termination_notice":
        out["ground"] = "objection" if rule_id == "R7" else "rongque"
        if rule_id == "R7":
            out.update(_deciding_desk(session, case, pd))
    return out


# the notices that speak to the applicant (the person, or the unit that filed): 你 / 你单位 (never 你（单位）)
ADDRESSED = frozenset(
    {
        "acceptance_notice",
        "rongque_acceptance_notice",
        "completion_notice",
        "correction_notice",
        "refusal_notice",
        "refusal_decision",
        "termination_notice",
        "approval_notice",
    }
)

_DATA_TABLES = (CaseEvent, QuotaMovement, QuotaPool, SpecialPost, Document)


def document_data(session: Session, case: Case, kind: str, process_data: dict | None = None) -> dict:
    """The renderer's data for `kind`, built from the case: its row, checklist, audit trail (officers' entries and
    operator results), quota movements, special post; `process_data` (the running step's task data and result)
    wins over what the trail holds. Dates are ISO strings (the snapshot is JSON). `doc_no`, `verify_code`,
    `issuer` and `issue_date` are added by :func:`plan_document`; `verify_url` by the renderer glue."""
    # The queries below read only these tables; the case row and its checklist are read from the objects in memory.
    # So flush (as autoflush would) only when the session holds unflushed changes to them: a change to the case
    # row alone is then not written early (it would be UPDATEd again when the run saves).
    if any(isinstance(o, _DATA_TABLES) for o in (*session.new, *session.dirty, *session.deleted)):
        session.flush()
    with session.no_autoflush:
        return _document_data(session, case, kind, process_data)


class _Blank(dict):
    """The application's fields for a text template; a field the application lacks prints as a dash."""

    def __missing__(self, key: str) -> str:
        return "—"


def _document_data(session: Session, case: Case, kind: str, process_data: dict | None = None) -> dict:
    if kind not in KIND_TITLES:
        raise ValidationFailed(f"未知的文书类型：{kind}")
    pd = dict(process_data or {})
    inputs = _task_inputs(session, case)
    for k, v in pd.items():
        if not isinstance(v, dict) and not k.startswith("_"):
            inputs[k] = (v, today_local())
    start = dict(case.start_data or {})

    def field(name: str, default: Any = None) -> Any:
        """A value the process or the application carries under the renderer's own field name wins."""
        if pd.get(name) not in (None, ""):
            return pd[name]
        if start.get(name) not in (None, ""):
            return start[name]
        return default

    proc = procedure_of(session, case)  # the texts of the version of its matter the case started on
    submitted = _local_date(case.created_at)
    d: dict[str, Any] = {
        "case_no": case.case_no,
        "applicant_name": case.applicant_name,
        "unit_name": _unit_name(session, case.unit_code),
        "procedure_name": proc.document_title,
    }
    category = start.get("talent_category")
    if kind in ADDRESSED:
        d.update(_addressee(session, case))

    if kind == "acceptance_notice":
        d.update(
            submitted_date=submitted.isoformat(),
            promised_date=_iso(case.promised_on),
            materials=[m.name for m in case.materials if m.status == "received"],
            next_office=_unit_name(session, case.unit_code) + "审核",
        )
        d.update(_provisional_notes(case))
    elif kind in ("rongque_acceptance_notice", "rongque_commitment"):
        d.update(
            owed_items=_owed_items(case),
            deadline=_iso(case.rongque_deadline),
            signed_date=_iso(inputs["commitment_signed"][1] if "commitment_signed" in inputs else today_local()),
        )
        if kind == "rongque_acceptance_notice":
            d.update(submitted_date=submitted.isoformat(), promised_date=_iso(case.promised_on))
        else:
            d.update(id_number=case.id_number)
        d.update(_provisional_notes(case))
    elif kind in ("refusal_notice", "refusal_decision", "termination_notice"):
        d.update(_adverse(session, case, kind, pd, start))
        d["submitted_date"] = submitted.isoformat()
        if kind == "termination_notice":
            lapsed = [m.name for m in case.materials if m.status == "owed"]
            if case.rongque_deadline and lapsed:
                d.update(deadline=_iso(case.rongque_deadline), lapsed_items=lapsed)
                signed = _task_inputs(session, case).get("commitment_signed")  # the day on the trail
                d["commitment_date"] = _iso(signed[1]) if signed else None
            released = _quota_released(session, case)
            if released:
                d["quota_released"] = released + ("申请人违诺情况已记入违诺记录。" if lapsed else "")
    elif kind == "registration_filing_form":
        d.update(_from_id_number(case.id_number))
        received = {m.code for m in case.materials if m.status == "received"}
        d.update(
            id_number=case.id_number,
            talent_category=category,
            introduction_mode={"rigid": "刚性引进", "flexible": "柔性引进"}.get(
                start.get("introduction_mode") or "", ""
            ),
            supervisor=_supervisor(session, case.unit_code),
            # Not on the application form yet: taken from it when it gains the field, else pointing at the
            # material that carries it (never typed again here).
            education=field("education", "见学历学位证书" if "degree_certificate" in received else "见个人简历"),
            recognition_doc=field(
                "recognition_doc", f"人才类别认定文件（第{category}类，已收）" if category else "人才类别认定文件"
            ),
            post_name=field("post_name", "按聘用合同约定岗位"),
            **_hire(case, start, field("hire_date")),
            quota_source=_quota_source(session, case) or "own",
            complete_date=_iso(case.complete_on or case.accepted_on),
            filing_deadline=_iso(case.filing_due_on),
            opinions=_opinions(session, case, pd),
        )
        if not d["filing_deadline"]:
            d["filing_deadline"] = _iso(today_local())
    elif kind in ("special_post_form", "special_post_writeoff_notice"):
        post = session.scalar(select(SpecialPost).where(SpecialPost.case_id == case.id)) if case.id else None
        d.update(
            supervisor=_supervisor(session, case.unit_code),
            post_name=post.post_name if post else start.get("post_name", ""),
            post_level=post.post_level if post else start.get("post_level", ""),
        )
        if kind == "special_post_form":
            post_check = pd.get("post_check") or {}
            term = post.term_months if post else int(post_check.get("term_months") or start.get("term_months") or 0)
            requested = (post.requested_term_months if post else None) or int(start.get("term_months") or term)
            d.update(
                post_count=1,
                term_months=term,
                # R8 "cap" mode: the 核准 states what was asked for and what is approved
                requested_term_months=requested,
                term_capped=requested != term,
                term_start=_iso(post.start_on if post else None),
                term_end=_iso(post.term_end if post else None),
                requested_start=_iso(post.requested_start_on if post else start.get("requested_start_on")),
                start_note=_start_note(post),
                reason=_clean_reason(start.get("reason"), "本单位无相应等级空缺岗位，引进急需紧缺高层次人才"),
                duties=field("duties", _clean_reason(start.get("reason"), "按特设岗位设置方案承担工作任务")),
                opinions=_opinions(session, case, pd),
            )
            if category:
                d["talent_category"] = category
        else:
            form = current_document(session, case.id, "special_post_form") if case.id else None
            d.update(
                approval_doc_no=form.doc_no if form is not None else "（未登记）",
                writeoff_reason=(
                    post.writeoff_reason
                    if post and post.writeoff_reason
                    else (pd.get("writeoff_result") or {}).get("reason", "")
                ),
                writeoff_date=_iso(post.written_off_on if post and post.written_off_on else today_local()),
                regular_post=_regular_post(post),
            )
    elif kind == "publicity_notice":
        pub = pd.get("_result") or {}
        if not pub:
            results = _operator_results(session, case, "publicity")
            pub = results[-1] if results else {}
        pkind = pub.get("kind", "unit")
        level = start.get("target_level", "")
        texts = proc.publicity.get(pkind, procedures.DEFAULT_PUBLICITY)
        subject = texts.subject
        detail = (
            texts.detail.format_map(
                _Blank(start, talent_category=category, target_level=level, major=start.get("major") or "—")
            )
            if category or texts.detail_without_category is None
            else texts.detail_without_category
        )
        issuer_code = publicity_office(case, pkind)
        d.update(
            subject=subject,
            period_start=pub.get("start"),
            period_end=pub.get("end"),
            persons=[{"name": case.applicant_name, "unit": d["unit_name"], "detail": detail}],
            objection_contact=_unit_name(session, issuer_code),  # the template asks for the 办件编号
        )
    elif kind == "title_filing_receipt":
        votes = pd if pd.get("experts_present") is not None else {k: v for k, (v, _) in inputs.items()}
        tallies = _operator_results(session, case, "decision")
        tally: dict = next((t for t in reversed(tallies) if "votes_for" in t), {})
        present = votes.get("experts_present", tally.get("experts_present"))
        # the day the committee voted (its tally), not the day the receipt is issued
        review_on = tally.get("_on") or (inputs["votes_for"][1] if "votes_for" in inputs else today_local())
        committee = _unit_name(session, COMMITTEE_OFFICE).removesuffix("办公室")

        def count(name: str):  # as the committee recorded it (the form), else as the tally recorded it
            return votes.get(name, tally.get(name))

        threshold = tally.get("threshold") or settings.get_params(session)["vote_threshold"]
        d.update(
            committee=committee,
            applied_title=f"{start.get('target_level', '')}级职称（{start.get('major') or '—'}）",
            review_date=_iso(review_on),
            experts_total=count("experts_expected"),
            experts_present=present,
            votes_for=count("votes_for"),
            votes_against=count("votes_against"),
            votes_abstain=count("votes_abstain"),
            threshold_words=fraction_words(threshold),
            passed=bool(tally.get("passed", True)),
            result="通过" if tally.get("passed", True) else "未通过",
        )
    elif kind == "approval_notice":  # 事项配置: the matter's own title and text
        proc = procedure_of(session, case)  # the texts of the version the case started on
        title, body = matters.notice_texts(proc, {**start, "unit_name": d["unit_name"], "case_no": case.case_no})
        d.update(
            title=title,
            body=body,
            decided_date=_iso(today_local()),
            basis_source=str(proc.info.get("basis_source") or ""),
            basis_clause=str(proc.info.get("basis_clause") or ""),
        )
    elif kind == "completion_notice":
        outcome = proc.completion_outcome
        if "{quota_source}" in outcome:
            outcome = outcome.replace(
                "{quota_source}",
                {"own": "本单位空余编制", "pool": "人才专项编制"}.get(_quota_source(session, case) or "", "编制"),
            )
        d.update(completed_date=_iso(today_local()), outcome=outcome.format(target_level=start.get("target_level", "")))
    elif kind == "title_application_form":
        d.update(_from_id_number(case.id_number))
        d.update(
            id_number=case.id_number,
            education=field("education", "见学历学位证书"),
            specialty=start.get("major") or "—",
            current_title=field("current_title", "—"),
            applied_title=f"{start.get('target_level', '')}级职称",
            basis="职称评审“绿色通道”直接申报",
            achievements=field("achievements", "见业绩成果证明材料"),
            second_level_post=bool(start.get("request_level2_post")),
            off_post_startup=bool(start.get("on_leave_entrepreneur")),
            delayed_retirement=bool(start.get("delayed_retirement")),
        )
        if category:
            d["talent_category"] = category
    elif kind == "correction_notice":
        d.update(
            submitted_date=submitted.isoformat(),
            items=[{"name": m.name, "requirement": "请补正"} for m in case.materials if m.status == "missing"],
            deadline=_iso(case.rongque_deadline or today_local()),
        )
    return {k: _iso(v) for k, v in d.items() if v is not None}


def _provisional_notes(case: Case) -> dict:
    """DESIGN §3: a date on a year without the official arrangement is printed 暂计至…，以国务院公布的节假日安排为准."""
    recipes = case.provisional_dates or {}
    out = {}
    if "promised_on" in recipes and case.promised_on:
        out["promised_note"] = note(case.promised_on)
    if "rongque_deadline" in recipes and case.rongque_deadline:
        out["deadline_note"] = note(case.rongque_deadline)
    return out


def publicity_office(case: Case, publicity_kind: str) -> str:
    """A unit publishes its own 公示; the title committee publishes review results."""
    return COMMITTEE_OFFICE if publicity_kind == "result" else case.unit_code


# ----------------------------------------------------------------------------------------------------------------
# Services
# ----------------------------------------------------------------------------------------------------------------
def plan_document(
    session: Session,
    case: Case,
    kind: str,
    office_code: str,
    data_overrides: dict | None = None,
    by: str = "system",
    *,
    process_data: dict | None = None,
    step: str | None = None,
    data: dict | None = None,
) -> Document:
    """Number a document and snapshot its data, in the caller's transaction (status `pending` until rendered)."""
    if kind not in KIND_TITLES:
        raise ValidationFailed(f"未知的文书类型：{kind}")
    # No autoflush in here: the counter UPDATE and the lookups by key do not depend on unflushed changes, and
    # document_data flushes by itself when its queries would. Only the new document row is flushed (for its id),
    # so a case row changed earlier in the run is written once, when the run saves.
    with session.no_autoflush:
        if lookups.unit(session, office_code) is None:
            raise ValidationFailed(f"发文机关不存在：{office_code}")
        today = today_local()
        number = doc_series.allocate(session, office_code, kind, today.year)
        code = new_verify_code()
        snapshot = dict(data) if data is not None else document_data(session, case, kind, process_data)
        snapshot.update({k: _iso(v) for k, v in (data_overrides or {}).items()})
        snapshot.pop("doc_no", None)
        if number is not None:
            snapshot["doc_no"] = number.doc_no
        snapshot.update(
            verify_code=display_code(code), issue_date=today.isoformat(), issuer=_unit_name(session, office_code)
        )
        doc = Document(
            case_id=case.id,
            kind=kind,
            step=step,
            office_code=office_code,
            kind_group=number.group if number else None,
            doc_no=number.doc_no if number else None,
            year=number.year if number else None,
            seq=number.seq if number else None,
            version=1,
            verify_code=code,
            data=snapshot,
            status="pending",
            created_by=by,
        )
        session.add(doc)
    session.flush([doc])
    return doc


def plan_office_document(session: Session, kind: str, office_code: str, data: dict, by: str = "system") -> Document:
    """Number an office document (about no one case: the 季度调度通报) and keep its data, in the caller's transaction;
    the render queue renders, signs and archives it like a case's (status `pending` until then)."""
    if kind not in OFFICE_KIND_TITLES:
        raise ValidationFailed(f"未知的机关文书类型：{kind}")
    if lookups.unit(session, office_code) is None:
        raise ValidationFailed(f"发文机关不存在：{office_code}")
    today = today_local()
    number = doc_series.allocate(session, office_code, kind, today.year)
    if number is None:  # every office document carries the office's number (register.KIND_SERIES)
        raise ValidationFailed(f"机关文书须编文号：{kind}")
    code = new_verify_code()
    snapshot = {k: _iso(v) for k, v in data.items() if k != "doc_no"}
    snapshot.update(
        doc_no=number.doc_no,
        verify_code=display_code(code),
        issue_date=today.isoformat(),
        issuer=_unit_name(session, office_code),
    )
    doc = Document(
        case_id=None,
        kind=kind,
        office_code=office_code,
        kind_group=number.group,
        doc_no=number.doc_no,
        year=number.year,
        seq=number.seq,
        version=1,
        verify_code=code,
        data=snapshot,
        status="pending",
        created_by=by,
    )
    session.add(doc)
    session.flush([doc])
    return doc


def _lock_document(session: Session, document_id: int) -> Document:
    q = select(Document).where(Document.id == document_id)
    if dialect_of(session) == "postgresql":
        q = q.with_for_update(of=Document)
    doc = session.scalars(q.execution_options(populate_existing=True)).first()
    if doc is None:
        raise NotFound(f"文书不存在：{document_id}")
    return doc


def reissue(
    session: Session,
    document_id: int,
    reason: str,
    by: str,
    data_overrides: dict | None = None,
    category: str | None = None,
) -> Document:
    """A new version with a new 文号 (see the module note) that supersedes the current one; nothing is overwritten.

    `category` (register.REISSUE_CATEGORIES) is what the public page shows; `reason`, the officer's own words, stays
    internal — required for the category `other`, optional otherwise. A call without a category (earlier callers)
    must give a reason and counts as `other`.
    The caller commits. The old row keeps its number, data, PDF and hash; only its status becomes `superseded`."""
    reason = (reason or "").strip()
    category = (category or "other").strip()
    if category not in register.REISSUE_CATEGORIES:
        raise ValidationFailed("请选择重新出具的原因类别", details={"fields": {"category": "请从列表中选择"}})
    if category == "other" and not reason:
        raise ValidationFailed("原因类别为“其他原因”时须说明理由", details={"fields": {"reason": "此项为必填项"}})
    old = _lock_document(session, document_id)
    if old.status == "superseded":
        raise Conflict(f"该文书（{old.doc_no or old.title}）已被新版本替代，只能重新出具当前有效版本")
    today = today_local()
    number = doc_series.allocate(session, old.office_code, old.kind, today.year)
    code = new_verify_code()
    data = dict(old.data)
    data.update({k: _iso(v) for k, v in (data_overrides or {}).items()})
    data.pop("doc_no", None)
    if number is not None:
        data["doc_no"] = number.doc_no
    data.update(verify_code=display_code(code), issue_date=today.isoformat())
    new = Document(
        case_id=old.case_id,
        kind=old.kind,
        step=old.step,
        office_code=old.office_code,
        kind_group=number.group if number else None,
        doc_no=number.doc_no if number else None,
        year=number.year if number else None,
        seq=number.seq if number else None,
        version=old.version + 1,
        supersedes_id=old.id,
        reissue_category=category,
        reissue_reason=reason[:2000] or None,
        verify_code=code,
        data=data,
        status="pending",
        created_by=by,
    )
    old.status = "superseded"
    session.add(new)
    session.flush()
    return new


def attach_pdf(
    session: Session, document_id: int, pdf_bytes: bytes, by: str = "system", signer_fingerprint: str | None = None
) -> Document:
    """Archive the rendered (and signed: `signer_fingerprint` names the certificate) PDF with its sha256. Refused
    once a PDF is archived: an issued document is immutable."""
    if not isinstance(pdf_bytes, (bytes, bytearray)) or not bytes(pdf_bytes).startswith(b"%PDF-"):
        raise ValidationFailed("归档的文件不是 PDF")
    doc = _lock_document(session, document_id)
    if doc.sha256 is not None:
        raise Conflict(f"文书（{doc.doc_no}）已归档，不能覆盖")
    pdf_bytes = bytes(pdf_bytes)
    doc.pdf = pdf_bytes
    doc.pdf_size = len(pdf_bytes)
    doc.sha256 = hashlib.sha256(pdf_bytes).hexdigest()
    doc.issued_at, doc.issued_by = now_utc(), by
    doc.signer_fingerprint = signer_fingerprint
    doc.render_error, doc.render_next_at = None, None
    if doc.status == "pending":
        doc.status = "issued"
    session.flush()
    return doc


def record_render_failure(
    session: Session, document_id: int, message: str, retry_delay: Callable[[int], timedelta] | None = None
) -> None:
    """Count a failed render; the next attempt waits `retry_delay(attempts so far)` (none: at once)."""
    doc = _lock_document(session, document_id)
    doc.render_attempts = (doc.render_attempts or 0) + 1
    doc.render_error = message[:2000]
    doc.render_next_at = now_utc() + retry_delay(doc.render_attempts) if retry_delay is not None else None


def render_failures(session: Session, limit: int = 200) -> list[Document]:
    """Documents still waiting for their PDF that failed at least once (newest first), for the administrators."""
    return list(
        session.scalars(
            select(Document)
            .where(Document.sha256.is_(None), Document.status == "pending", Document.render_attempts > 0)
            .order_by(Document.id.desc())
            .limit(limit)
        )
    )


def pending_count(session: Session) -> int:
    """Documents waiting for their PDF (rendering queue length)."""
    return int(
        session.scalar(
            select(func.count()).select_from(Document).where(Document.sha256.is_(None), Document.status == "pending")
        )
        or 0
    )


def retry_render(session: Session, document_id: int, by: str) -> Document:
    """An administrator sends a failed document back to the queue with a fresh count of attempts."""
    doc = _lock_document(session, document_id)
    if doc.sha256 is not None:
        raise Conflict(f"文书（{doc.doc_no}）已生成，无需重试")
    doc.render_attempts, doc.render_next_at = 0, None
    session.flush()
    log.info("render retry requested", extra={"event": "render_retry", "document_id": doc.id, "by": by})
    return doc


def lookup(session: Session, verify_code: str) -> Document | None:
    code = normalize_code(verify_code)
    if len(code) < 16:
        return None
    return session.scalar(select(Document).where(Document.verify_code == code))


def successor(session: Session, doc: Document) -> Document | None:
    """The newest version that replaces `doc` (None when `doc` is current)."""
    current, seen = doc, set()
    while current.id not in seen:
        seen.add(current.id)
        nxt = session.scalar(select(Document).where(Document.supersedes_id == current.id))
        if nxt is None:
            break
        current = nxt
    return None if current is doc else current


def current_document(session: Session, case_id: int, kind: str) -> Document | None:
    return session.scalar(
        select(Document)
        .where(Document.case_id == case_id, Document.kind == kind, Document.status != "superseded")
        .order_by(Document.id.desc())
        .limit(1)
    )


def documents_of_case(session: Session, case_id: int) -> list[Document]:
    return list(session.scalars(select(Document).where(Document.case_id == case_id).order_by(Document.id)))


def verify_upload(session: Session, verify_code: str, pdf_bytes: bytes) -> bool:
    """Whether an uploaded file is byte-for-byte the archived PDF of this verification code."""
    doc = lookup(session, verify_code)
    if doc is None or doc.sha256 is None:
        return False
    return hmac.compare_digest(hashlib.sha256(bytes(pdf_bytes)).hexdigest(), doc.sha256)


def public_view(session: Session, doc: Document) -> dict:
    """What the public verification page shows: no full name, no full ID number, no content. An office document (no
    case) has no holder: its 主送 is printed on it."""
    case = doc.case
    nxt = successor(session, doc) if doc.status == "superseded" else None
    return {
        "kind": doc.kind,
        "title": doc.title,
        "doc_no": doc.doc_no,
        "issue_date": doc.issue_date,
        "issuer": (doc.data or {}).get("issuer", ""),
        "holder_name": mask_name(case.applicant_name) if case is not None else None,
        "holder_id": mask_id_number(case.id_number) if case is not None else None,
        "addressee": (doc.data or {}).get("addressee", "") if case is None else None,
        "status": doc.status,
        "version": doc.version,
        "current": doc.status != "superseded",
        "superseded_by": nxt.doc_no if nxt is not None else None,
        "archived": doc.sha256 is not None,
        # the category only: an officer's words may hold personal data (an ID number was once published)
        "reissue_category": register.reissue_label(doc.reissue_category) if doc.supersedes_id else None,
    }


def procedure_of(session: Session, case: Case) -> procedures.Procedure:
    """The procedure as the case's version of its matter declares it (事项配置: the body its flow version was published
    with; a declared procedure's overlay of the version the case started on, or as declared when it started before
    any), else the registry's."""
    proc = procedures.get(case.procedure)
    declared = procedures.DECLARED.get(proc.id)
    if declared is not None:
        version = case.matter_version or 0
        if version == proc.matter_version:
            return proc
        body = (
            session.scalar(select(Matter.body).where(Matter.code == proc.id, Matter.version == version))
            if version
            else None
        )
        return matters.overlay(declared, body, version) if isinstance(body, dict) else declared
    if case.definition_id is None:
        return proc
    row = session.get(ProcessDefinition, case.definition_id)
    body = ((row.source or {}).get("forms") or {}).get(matters.MATTER_FORM) if row is not None else None
    if not isinstance(body, dict) or body.get("code") != proc.id:
        return proc
    return matters.entry(body, int(body.get("_version") or proc.matter_version))


# ----------------------------------------------------------------------------------------------------------------
# Which step issues which document (called by the operators in workflows/services/operations.py)
# ----------------------------------------------------------------------------------------------------------------
def documents_for_step(case: Case, step: str, params: dict, result: dict) -> list[tuple[str, str]]:
    """(kind, issuing office) of the documents a process step produces, as the procedure registry declares them."""
    proc = procedures.get(case.procedure)
    qualifier = {"accept_case": params.get("mode"), "issue_documents": params.get("step")}.get(
        step, params.get("outcome")
    )
    offices = {
        procedures.OWN_OFFICE: proc.office,
        procedures.PUBLICITY_OFFICE: publicity_office(case, params.get("kind", "unit")),
    }
    return [(kind, offices.get(office, office)) for kind, office in proc.documents_for(step, qualifier)]


def issue_for_step(
    ctx, step: str, data: dict | None = None, params: dict | None = None, result: dict | None = None
) -> list[Document]:
    """Plan the documents of one step in the step's transaction, and leave an audit event for each."""
    params, result = dict(params or {}), dict(result or {})
    wanted = documents_for_step(ctx.case, step, params, result)
    # Series in a fixed order: two transactions numbering in the same two series cannot deadlock.
    wanted.sort(key=lambda kw: (kw[1], register.series_group(kw[0]) or "~"))  # unnumbered last
    process_data = {**(data or {}), **({"_result": result} if result else {})}
    # the user task completed in this run (its event is not on the trail yet): who decided, at which desk
    done = next((e for e in reversed(getattr(ctx, "events", [])) if e.action == "task_completed"), None)
    if done is not None:
        entered = sorted(((done.payload or {}).get("data") or {}).keys())
        process_data.update(
            _actor=done.actor, _task=done.task_name, _role=(done.payload or {}).get("role"), _entered=entered
        )
    if step == "start_publicity":
        process_data["_result"] = {**result, "kind": params.get("kind", "unit")}
    docs = []
    for kind, office in wanted:
        doc = plan_document(
            ctx.session, ctx.case, kind, office, by=ctx.actor.username, process_data=process_data, step=step
        )
        ctx.record(
            "document",
            None,
            doc.title,
            kind=kind,
            doc_no=doc.doc_no,
            document_id=doc.id,
            office=office,
            version=doc.version,
        )
        docs.append(doc)
    return docs
