"""SQLAlchemy 2.0 typed models: the cases, their projections, ledgers and registers.

What must never disagree — a case's instance state, its open tasks, its audit events, its material checklist and
quota movements — is written by the services in one transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    func,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship

from workflows.domain.clock import now_utc
from workflows.domain.errors import Conflict


class Base(DeclarativeBase):
    pass


UTCDateTime = DateTime(timezone=True)


class Unit(Base):
    """An institution (事业单位) or an office; `parent_code` is its 主管部门."""

    __tablename__ = "unit"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("unit.code"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="unit")  # unit | dept | office


class User(Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(16))  # applicant unit_hr dept bianban hrss committee admin
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("unit.code"))
    id_number: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(200))  # notices are mailed here when SMTP is configured
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set when someone else chose the password (an administrator's reset or form, the bulk import): until the person
    # picks their own, every page leads to /account/password (webapp/auth.py). Cleared by the change.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ProcessDefinition(Base):
    """One deployed version of a process. Stored once per sha256; a published version is never edited."""

    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("process_id", "version"), UniqueConstraint("process_id", "sha256"))
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # Large and immutable once published: loaded on demand, and cached per process by the runtime.
    source: Mapped[dict] = mapped_column(JSON, deferred=True)  # {"bpmn": {..}, "dmn": {..}, "forms": {..}}
    spec: Mapped[dict] = mapped_column(JSON, deferred=True)  # serialized spec + subprocess specs (no instance data)
    user_tasks: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="published")  # draft | published | retired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    created_by: Mapped[str | None] = mapped_column(String(64))
    # each publication of this version (a publish, or a roll back to it): [{"at", "by", "note", "kind"}], latest last
    release_notes: Mapped[list | None] = mapped_column(JSON, default=list)


class DecisionDefinition(Base):
    """One version of a DMN decision table, edited on its own (/admin/decisions). Publishing it makes a new published
    version of every process that calls the decision (their `source.dmn` carries the table); cases keep the process
    version, hence the table, they started with."""

    __tablename__ = "decision_definition"
    __table_args__ = (UniqueConstraint("decision_id", "version"), UniqueConstraint("decision_id", "sha256"))
    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(200))  # the key in a process version's source["dmn"]
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    xml: Mapped[str] = mapped_column(Text, deferred=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | published | retired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    created_by: Mapped[str | None] = mapped_column(String(64))


class Matter(Base):
    """事项配置: one version of a matter (a procedure as data: basic information, materials checklist, start form,
    documents per step — workflows/domain/matters.py). Versioned like a process definition: a draft is edited in
    place, publishing retires the published one for new cases; a matter's flow version (definition_id) carries the
    body it was published with, so running cases keep theirs."""

    __tablename__ = "matter"
    __table_args__ = (UniqueConstraint("code", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), index=True)  # the procedure (= process) id
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | published | retired
    body: Mapped[dict] = mapped_column(JSON)
    # the process definition the flow is edited in (a draft's) / was published with (matters with their own flow)
    definition_id: Mapped[int | None] = mapped_column(ForeignKey("process_definition.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[str | None] = mapped_column(String(64))


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_no: Mapped[str] = mapped_column(String(32), unique=True)
    procedure: Mapped[str] = mapped_column(String(64), index=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    applicant_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    applicant_name: Mapped[str] = mapped_column(String(100))
    id_number: Mapped[str] = mapped_column(String(32), index=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("unit.code"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    # running | on_hold | completed | refused | terminated | withdrawn | error
    outcome_rule: Mapped[str | None] = mapped_column(String(8))
    outcome_reason: Mapped[str | None] = mapped_column(Text)
    start_data: Mapped[dict] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(Text)  # SpiffWorkflow instance JSON without the spec
    serializer_version: Mapped[str] = mapped_column(String(16), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic lock
    event_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default="")
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    waiting_messages: Mapped[list] = mapped_column(JSON, default=list)  # mirrors message_subscription rows
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    accepted_on: Mapped[date | None] = mapped_column(Date)
    complete_on: Mapped[date | None] = mapped_column(Date)  # dossier complete (starts the 备案 month)
    promised_on: Mapped[date | None] = mapped_column(Date)  # 承诺办结日期
    filing_due_on: Mapped[date | None] = mapped_column(Date)
    rongque_deadline: Mapped[date | None] = mapped_column(Date)
    # {date name: how it was computed} for dates that rest on a year without a known holiday arrangement (DESIGN §3:
    # provisional until the official table is loaded, then recomputed); None when every date is confirmed
    provisional_dates: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hold_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hold_reason: Mapped[str | None] = mapped_column(String(100))
    hold_days: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # 事项配置: the version of its matter (or of a declared procedure's overlay) the case started on; None: as declared
    matter_version: Mapped[int | None] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_cases_unit_id", "unit_code", "id"),  # a unit's cases, newest first
        # name search (LIKE '%…%'): trigram GIN on PostgreSQL (migration 0002), a plain index elsewhere
        Index(
            "ix_cases_applicant_name_trgm",
            "applicant_name",
            postgresql_using="gin",
            postgresql_ops={"applicant_name": "gin_trgm_ops"},
        ),
    )

    definition: Mapped[ProcessDefinition] = relationship()
    open_tasks: Mapped[list[OpenTask]] = relationship(back_populates="case", cascade="all, delete-orphan")
    materials: Mapped[list[Material]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Material.id"
    )


# The trigram operator class of ix_cases_applicant_name_trgm (pg_trgm is a trusted extension since PostgreSQL 13).
event.listen(
    Base.metadata, "before_create", DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql")
)

# Name search by 1 or 2 characters (queries.name_condition), which trigrams cannot serve: GIN over the characters of
# the name (string_to_array with a NULL delimiter splits into characters). PostgreSQL only (migration 0004).
Index("ix_cases_applicant_name_chars", func.string_to_array(Case.applicant_name, None), postgresql_using="gin").ddl_if(
    dialect="postgresql"
)


class CaseIncident(Base):
    """A run of the case's instance failed in a way only an administrator can repair (a script, a timer value, the
    engine): the case is marked `error` and waits. `previous_status` is what the case was before, for whoever
    resolves the incident: an administrator's retry, skip or cancel (`resolution`, with the reason), or a later
    failure that superseded it."""

    __tablename__ = "case_incident"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    element_id: Mapped[str | None] = mapped_column(String(255))
    element_name: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # timer | action
    previous_status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[str | None] = mapped_column(String(16))  # retry | skip | cancel | superseded
    resolution_reason: Mapped[str | None] = mapped_column(Text)
    case: Mapped[Case] = relationship()


class OpenTask(Base):
    """Projection of a READY user task: who may act, in which unit scope, by when."""

    __tablename__ = "open_task"
    __table_args__ = (
        UniqueConstraint("case_id", "task_id"),
        # the inbox: a desk's tasks in due order (unit / 主管部门 desks; region-wide desks)
        Index("ix_open_task_desk", "role", "scope_unit_code", "due_on", "id"),
        Index("ix_open_task_role_due", "role", "due_on", "id"),
        Index("ix_open_task_assignee", "assignee_id"),
    )  # "mine"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    spec_name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(16), index=True)
    scope_unit_code: Mapped[str | None] = mapped_column(String(32), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    form: Mapped[str | None] = mapped_column(String(100))
    hold_reason: Mapped[str | None] = mapped_column(String(100))
    due_on: Mapped[date | None] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    case: Mapped[Case] = relationship(back_populates="open_tasks")


class MessageSubscription(Base):
    """Projection of the message events a case waits for, correlated on 办件编号."""

    __tablename__ = "message_subscription"
    __table_args__ = (
        UniqueConstraint("case_id", "message_name"),
        Index("ix_msgsub_key", "message_name", "correlation_key"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    message_name: Mapped[str] = mapped_column(String(64))
    correlation_key: Mapped[str] = mapped_column(String(64))


class InboundMessage(Base):
    __tablename__ = "inbound_message"
    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    message_name: Mapped[str] = mapped_column(String(64))
    correlation_key: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending delivered rejected
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CaseEvent(Base):
    """Append-only audit trail; each event's hash covers the previous one (a chain per case)."""

    __tablename__ = "case_event"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48))
    task_name: Mapped[str | None] = mapped_column(String(200))
    rule_id: Mapped[str | None] = mapped_column(String(8))
    clause: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Material(Base):
    """One item of a case's checklist."""

    __tablename__ = "material"
    __table_args__ = (UniqueConstraint("case_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(48))
    name: Mapped[str] = mapped_column(String(100))
    is_key: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))  # received | owed | waived | missing
    deadline: Mapped[date | None] = mapped_column(Date)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    file_name: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64))
    case: Mapped[Case] = relationship(back_populates="materials")


class QuotaPool(Base):
    """编制: a unit's own establishment (`unit_own`) or the region's 人才专项编制 pool (`talent_pool`)."""

    __tablename__ = "quota_pool"
    __table_args__ = (
        CheckConstraint("reserved >= 0 AND used >= 0 AND reserved + used <= total", name="ck_quota_fits"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("unit.code"), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    total: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    used: Mapped[int] = mapped_column(Integer, default=0)


class QuotaMovement(Base):
    __tablename__ = "quota_movement"
    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("quota_pool.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # reserve | release | consume | adjust
    amount: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class SpecialPost(Base):
    __tablename__ = "special_post"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("unit.code"), index=True)
    post_name: Mapped[str] = mapped_column(String(100))
    post_level: Mapped[str] = mapped_column(String(50))
    holder_name: Mapped[str] = mapped_column(String(100))
    holder_id_number: Mapped[str] = mapped_column(String(32))
    term_months: Mapped[int] = mapped_column(Integer)  # approved (R8: capped in "cap" mode)
    requested_term_months: Mapped[int | None] = mapped_column(Integer)  # as the unit asked
    requested_start_on: Mapped[date | None] = mapped_column(Date)  # as the unit asked
    start_on: Mapped[date] = mapped_column(Date)
    start_basis: Mapped[str] = mapped_column(
        String(16), default="requested", server_default="requested"
    )  # requested | approval (approved later)
    term_end: Mapped[date] = mapped_column(Date)  # also the day its 核销 is scheduled for
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | written_off
    written_off_on: Mapped[date | None] = mapped_column(Date)
    writeoff_reason: Mapped[str | None] = mapped_column(String(200))  # the label (procedures.WRITEOFF_REASONS)
    writeoff_reason_code: Mapped[str | None] = mapped_column(String(16))  # task_done | resigned | dismissed | term_end
    # After 核销 the holder moves to a regular post of the level when the unit has a vacancy there: moved (with the
    # date), pending (no vacancy yet), not_applicable (the holder left: 辞聘, 解聘).
    regular_post_status: Mapped[str | None] = mapped_column(String(16))
    regular_post_on: Mapped[date | None] = mapped_column(Date)
    regular_post_note: Mapped[str | None] = mapped_column(String(200))


class CreditRecord(Base):
    """科研失信 list and titles revoked for fraud."""

    __tablename__ = "credit_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    id_number: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # misconduct | title_revoked
    listed_on: Mapped[date] = mapped_column(Date)
    until: Mapped[date | None] = mapped_column(Date)  # end of the bar (None: no end)
    note: Mapped[str | None] = mapped_column(String(200))
    source_document: Mapped[str | None] = mapped_column(String(200))  # the decision that listed the person (文号)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=now_utc)


class BreachRecord(Base):
    """违诺: a 容缺 commitment not kept; bars that person from 容缺受理."""

    __tablename__ = "breach_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    id_number: Mapped[str] = mapped_column(String(32), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    note: Mapped[str | None] = mapped_column(String(200))
    # 信用修复: the bar ends on `expires_on` (set from the configured period when recorded; None: no end) or when an
    # administrator lifts it (date, who, why).
    expires_on: Mapped[date | None] = mapped_column(Date)
    lifted_on: Mapped[date | None] = mapped_column(Date)
    lifted_by: Mapped[str | None] = mapped_column(String(64))
    lift_reason: Mapped[str | None] = mapped_column(String(200))


class UnitPost(Base):
    """岗位设置 register: a unit's posts of one type and level — 核定 (the approved post-setting plan) and 实有 (filled);
    空编 = 核定 − 实有. Administrators adjust them (each change an `admin_event`, target `post:<id>`); a special post's
    holder who moves to a regular post after 核销 fills one of the level (R8). The unit's 编制 is its own
    `QuotaPool` (kind `unit_own`), not a row here."""

    __tablename__ = "unit_post"
    __table_args__ = (
        UniqueConstraint("unit_code", "post_type", "level", name="uq_unit_post_level"),
        CheckConstraint("approved >= 0 AND filled >= 0", name="ck_unit_post_counts"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("unit.code"), index=True)
    post_type: Mapped[str] = mapped_column(String(16))  # professional | management | skilled
    level: Mapped[str] = mapped_column(String(32))  # e.g. 专业技术七级 (workflows/services/posts.py LEVELS)
    approved: Mapped[int] = mapped_column(Integer, default=0)  # 核定
    filled: Mapped[int] = mapped_column(Integer, default=0)  # 实有
    source_document: Mapped[str | None] = mapped_column(String(200))  # the last adjustment's basis (文号)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_by: Mapped[str] = mapped_column(String(64), default="system")


class Achievement(Base):
    """R9: a major achievement or award that lets local talent apply directly for a senior title (职称绿色通道). Kept
    by administrators; the start form offers the entries active on the day and the eligibility table reads the
    entry's category (the seed's three kinds)."""

    __tablename__ = "achievement"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)  # what the start data stores
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))  # major_basic_research | key_core_technology | …
    level: Mapped[str] = mapped_column(String(32), default="")  # 级别: 国家级, 自治区级 …
    source_document: Mapped[str] = mapped_column(String(200), default="")
    active_from: Mapped[date] = mapped_column(Date)
    active_to: Mapped[date | None] = mapped_column(Date)  # the last day it qualifies (None: no end)
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class Holiday(Base):
    """Administrator-maintained calendar entries; they take precedence over chinese_calendar."""

    __tablename__ = "holiday"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_working_day: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(50), default="")


class Setting(Base):
    __tablename__ = "setting"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class Counter(Base):
    """Named counters (办件编号 serials); incremented under a row lock, never reused."""

    __tablename__ = "counter"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class Notification(Base):
    """In-app notice, addressed to one user or to everyone of a role (within a unit scope)."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_target", "user_id", "role", "scope_unit_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    role: Mapped[str | None] = mapped_column(String(16))
    scope_unit_code: Mapped[str | None] = mapped_column(String(32))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotificationRead(Base):
    """Who has read a notice (a role-wide notice is read per user)."""

    __tablename__ = "notification_read"
    notification_id: Mapped[int] = mapped_column(ForeignKey("notification.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class Correction(Base):
    """补正: a case returned to the applicant (or to an earlier step) with the reason and the items to fix."""

    __tablename__ = "correction"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    task_title: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(100))  # "applicant" or the spec name of the earlier step
    reason: Mapped[str] = mapped_column(Text)
    items: Mapped[list] = mapped_column(JSON, default=list)  # material codes to supply again
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Rating(Base):
    """好差评: one rating per case after it is closed."""

    __tablename__ = "rating"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    stars: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    __table_args__ = (CheckConstraint("stars BETWEEN 1 AND 5", name="ck_rating_stars"),)


class Draft(Base):
    """An application saved before submission."""

    __tablename__ = "draft"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    procedure: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)


class ApiToken(Base):
    """A bearer token for the JSON API; only its sha256 is stored."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # Refused from this instant on (API_TOKEN_DAYS after creation by default; migration 0008 gave older tokens the
    # default from the upgrade on). Revoked as well on an administrator's password reset and on deactivation.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserSession(Base):
    """A signed-in browser session, kept on the server: the cookie carries a random key whose sha256 is stored here.
    Signing out, a password change or reset and a deactivation delete the rows, so a copied cookie stops working."""

    __tablename__ = "user_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SignInThrottle(Base):
    """Failed sign-ins counted per account name (`kind` "account", the name as typed, known or not) and per client
    address ("address"), in the database so that every gunicorn worker and host sees the same counts. A count over
    its limit within the window sets `locked_until`; an administrator's unlock deletes the account's row."""

    __tablename__ = "sign_in_throttle"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StoredFile(Base):
    """An uploaded file kept in the database (UPLOAD_STORE=database, workflows/infra/blobs.py): stored once per
    sha256 of its content, so every web host behind the balancer reads the same bytes. Never edited."""

    __tablename__ = "stored_file"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # up to 10 MB: loaded only when asked for
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


# ---- The document archive: issued documents and the 文号 registers ----
STATUSES = ("pending", "issued", "superseded")


class Document(Base):
    """One issued (or about to be issued) document. Once its PDF is attached nothing of it changes but `status`."""

    __tablename__ = "document"
    __table_args__ = (
        UniqueConstraint("office_code", "kind_group", "year", "seq", name="uq_document_series_seq"),
        Index("ix_document_case_kind", "case_id", "kind"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    # None: an office document about no one case (the 季度调度通报, OFFICE_KIND_TITLES). Nullable rather than a table of
    # its own: an office document is numbered, rendered, signed, archived and verified exactly like a case's, and one
    # table keeps one render queue, one verify lookup and one immutability rule (migration 0020). Every reader of a
    # document either filters by case (case pages, 卷宗, API lists: never meets one) or checks `case is None`.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(48))
    step: Mapped[str | None] = mapped_column(String(48))  # the process step (operator) that issued it
    office_code: Mapped[str] = mapped_column(String(32))
    # the number series (workflows/domain/register.py); all three None for a paper without an office number (承诺书)
    kind_group: Mapped[str | None] = mapped_column(String(24))
    doc_no: Mapped[str | None] = mapped_column(String(64), unique=True)
    year: Mapped[int | None] = mapped_column(Integer)
    seq: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"), unique=True)
    reissue_category: Mapped[str | None] = mapped_column(String(24))  # public (register.REISSUE_CATEGORIES)
    reissue_reason: Mapped[str | None] = mapped_column(Text)  # the officer's words: internal only
    verify_code: Mapped[str] = mapped_column(String(32), unique=True)
    data: Mapped[dict] = mapped_column(JSON)  # snapshot handed to the renderer (dates as ISO strings)
    sha256: Mapped[str | None] = mapped_column(String(64))
    pdf: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    pdf_size: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending | issued | superseded
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the PDF was archived
    issued_by: Mapped[str | None] = mapped_column(String(64))
    render_attempts: Mapped[int] = mapped_column(Integer, default=0)
    render_error: Mapped[str | None] = mapped_column(Text)
    # a failed render waits until then (backoff); NULL: as soon as a renderer is free
    render_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # sha256 of the certificate that signed the archived PDF (signing_certificate.fingerprint)
    signer_fingerprint: Mapped[str | None] = mapped_column(String(64))

    case: Mapped[Case | None] = relationship(lazy="joined")
    supersedes: Mapped[Document | None] = relationship(remote_side="Document.id", foreign_keys=[supersedes_id])

    @property
    def title(self) -> str:
        """The kind's title, or the one this document prints (a 不予批准 decision in its procedure's words)."""
        printed = (self.data or {}).get("title")
        if isinstance(printed, str) and printed:
            return printed
        return KIND_TITLES.get(self.kind) or OFFICE_KIND_TITLES.get(self.kind, self.kind)

    @property
    def issue_date(self) -> date | None:
        v = (self.data or {}).get("issue_date")
        return date.fromisoformat(v) if isinstance(v, str) and v else None


class SigningCertificate(Base):
    """An issuing office's signing certificate with its private key, encrypted (PKCS#8, PBKDF2 + AES-256) under
    SIGNING_KEY_PASSPHRASE, which is never stored. One active certificate per office; rotated ones stay (retired)
    so documents signed with them still verify. Rows are never deleted."""

    __tablename__ = "signing_certificate"
    __table_args__ = (
        Index(
            "uq_signing_certificate_active",
            "office_code",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    office_code: Mapped[str] = mapped_column(String(32), index=True)
    source: Mapped[str] = mapped_column(String(16))  # self_signed | imported
    subject: Mapped[str] = mapped_column(String(500))
    issuer: Mapped[str] = mapped_column(String(500))
    serial: Mapped[str] = mapped_column(String(80))
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the certificate's DER, hex
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    cert_der: Mapped[bytes] = mapped_column(LargeBinary)
    chain_der: Mapped[list] = mapped_column(JSON, default=list)  # the CA chain of an import, base64 DER each
    key_encrypted: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))  # encrypted PKCS#8 PEM
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    created_by: Mapped[str] = mapped_column(String(64))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_by: Mapped[str | None] = mapped_column(String(64))


class DocumentCounter(Base):
    """The 文号 register of one office's series (kind group) for one year; `value` is the last number handed out.
    Keyed by the group, not the prefix: an administrator's new prefix continues the year's sequence."""

    __tablename__ = "document_counter"
    office_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind_group: Mapped[str] = mapped_column(String(24), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class DocSeries(Base):
    """An issuing office's number series for one kind group, with its 发文机关代字 (set by an administrator; created
    with the default the first time the office numbers a document of the group). A prefix is unique: two series
    never print the same 文号."""

    __tablename__ = "doc_series"
    __table_args__ = (UniqueConstraint("office_code", "kind_group"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    office_code: Mapped[str] = mapped_column(String(32))
    kind_group: Mapped[str] = mapped_column(String(24))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_by: Mapped[str] = mapped_column(String(64), default="system")


class OfficeSeal(Base):
    """The seal image (PNG) an administrator uploaded for an issuing office; the bytes are in the upload store
    (webapp/uploads.py) under `sha256`."""

    __tablename__ = "office_seal"
    office_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    uploaded_by: Mapped[str] = mapped_column(String(64))


class AdminEvent(Base):
    """Append-only trail of administrators' changes outside cases (number series, seals …), chained by hash like a
    case's events: `seq` is gap-free and each hash covers the previous one (workflows/services/audit.py)."""

    __tablename__ = "admin_event"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48))
    target: Mapped[str] = mapped_column(String(64), index=True)  # e.g. "office:RS"
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


_FROZEN = (
    "sha256",
    "pdf",
    "data",
    "doc_no",
    "verify_code",
    "kind",
    "kind_group",
    "case_id",
    "office_code",
    "year",
    "seq",
    "version",
    "supersedes_id",
    "signer_fingerprint",
)


@event.listens_for(Document, "before_update")
def _immutable(_mapper, _conn, target: Document) -> None:
    """Second line of defence: once archived (sha256 set) nothing but status/render bookkeeping may change."""
    state = inspect(target)
    sha_hist = state.attrs.sha256.history
    archived_before = bool(sha_hist.deleted and sha_hist.deleted[0]) or (
        not sha_hist.has_changes() and target.sha256 is not None
    )
    if not archived_before:
        return
    changed = [name for name in _FROZEN if state.attrs[name].history.has_changes()]
    if changed:
        raise Conflict("文书已归档，不能修改：" + "、".join(changed))


class StatCase(Base):
    """Statistics read model (workflows/services/statistics.py): one row per case with the figures the statistics
    pages count, derived from the case and its audit events. Rebuilt incrementally by the worker (a case whose
    `event_seq` moved is recomputed), so a page groups 100,000 narrow rows instead of reading 1.1 M events."""

    __tablename__ = "stat_case"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    event_seq: Mapped[int] = mapped_column(Integer)
    procedure: Mapped[str] = mapped_column(String(64))
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    dept_code: Mapped[str | None] = mapped_column(String(32), index=True)
    category: Mapped[str | None] = mapped_column(String(8))
    received_on: Mapped[date] = mapped_column(Date, index=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM of received_on (local time)
    accepted_on: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    accept_mode: Mapped[str | None] = mapped_column(String(8))  # instant (即收即办, R2) | rongque (容缺, R3)
    rongque: Mapped[str | None] = mapped_column(String(8))  # kept | lapsed | pending
    cycle_wd: Mapped[int | None] = mapped_column(Integer)  # working days received → closed
    promised_on: Mapped[date | None] = mapped_column(Date)
    on_time: Mapped[bool | None] = mapped_column(Boolean)  # closed by 承诺时限
    filing_due_on: Mapped[date | None] = mapped_column(Date)
    filing_on_time: Mapped[bool | None] = mapped_column(Boolean)  # 备案 done by the one-month limit (R6)
    objection: Mapped[bool] = mapped_column(Boolean, default=False)  # a 公示 objection was received (R7)
    quota_source: Mapped[str | None] = mapped_column(String(16))  # R4: own | talent_pool
    stars: Mapped[int | None] = mapped_column(Integer)  # 好差评


class StatStep(Base):
    """One completed or open step of a case: how long it stayed on its desk, in working days (the bottleneck).
    Carries the case's filter columns so a page groups it without a join."""

    __tablename__ = "stat_step"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    task_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(16))
    procedure: Mapped[str] = mapped_column(String(64))
    # indexed (migration 0020): a unit's view reads its steps without scanning every step of the region
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    dept_code: Mapped[str | None] = mapped_column(String(32), index=True)
    category: Mapped[str | None] = mapped_column(String(8))
    received_on: Mapped[date] = mapped_column(Date, index=True)
    opened_on: Mapped[date] = mapped_column(Date)
    completed_on: Mapped[date | None] = mapped_column(Date)
    dwell_wd: Mapped[int] = mapped_column(Integer)  # working days on the desk (until today while open)


class StatRefresh(Base):
    """Each refresh of the statistics read model: the pages show the age of the last one."""

    __tablename__ = "stat_refresh"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, index=True)
    cases: Mapped[int] = mapped_column(Integer, default=0)  # cases recomputed
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class StatSnapshot(Base):
    """The figures of the default statistics view (the last twelve months, no other filter) of one scope — the
    region, or one 主管部门 — computed by the worker so that the page opens without grouping the read model."""

    __tablename__ = "stat_snapshot"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # region | dept:<code>
    data: Mapped[dict] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class _StatMonthCell:
    """The grain shared by the monthly pre-aggregates: cases received in one month, of one procedure and category, at
    one `owner` — the 主管部门 of the unit, or the unit itself when it has none (what a 主管部门's scope and filter
    select). Green-channel procedures only (complaints are not in the statistics)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM of received_on
    procedure: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(8))


class StatMonth(_StatMonthCell, Base):
    """Monthly pre-aggregate of `stat_case` (workflows/services/statistics.py): the counts every chart and figure
    sums, per month × procedure × unit × category — about 10,000 rows for 100,000 cases — kept in step with the read
    model in the same transaction that recomputes its cases (the months they were received in are rebuilt)."""

    __tablename__ = "stat_month"
    unit_code: Mapped[str] = mapped_column(String(32))
    dept_code: Mapped[str | None] = mapped_column(String(32))
    received: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    terminated: Mapped[int] = mapped_column(Integer, default=0)
    withdrawn: Mapped[int] = mapped_column(Integer, default=0)
    instant: Mapped[int] = mapped_column(Integer, default=0)
    rongque: Mapped[int] = mapped_column(Integer, default=0)
    kept: Mapped[int] = mapped_column(Integer, default=0)
    lapsed: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    promised_n: Mapped[int] = mapped_column(Integer, default=0)
    promised_ok: Mapped[int] = mapped_column(Integer, default=0)
    filing_n: Mapped[int] = mapped_column(Integer, default=0)
    filing_ok: Mapped[int] = mapped_column(Integer, default=0)
    objections: Mapped[int] = mapped_column(Integer, default=0)
    objections_ended: Mapped[int] = mapped_column(Integer, default=0)
    q_own: Mapped[int] = mapped_column(Integer, default=0)
    q_pool: Mapped[int] = mapped_column(Integer, default=0)
    q_none: Mapped[int] = mapped_column(Integer, default=0)
    stars_1: Mapped[int] = mapped_column(Integer, default=0)
    stars_2: Mapped[int] = mapped_column(Integer, default=0)
    stars_3: Mapped[int] = mapped_column(Integer, default=0)
    stars_4: Mapped[int] = mapped_column(Integer, default=0)
    stars_5: Mapped[int] = mapped_column(Integer, default=0)


class StatMonthCycle(_StatMonthCell, Base):
    """Monthly pre-aggregate of the cycle times: completed cases per working days received → closed."""

    __tablename__ = "stat_month_cycle"
    cycle_wd: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer)


class StatMonthStep(_StatMonthCell, Base):
    """Monthly pre-aggregate of `stat_step`: completed steps per desk and working days on it (month of the case)."""

    __tablename__ = "stat_month_step"
    task_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(16))
    dwell_wd: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer)


class StatOpen(Base):
    """What is open on the desks now, per procedure × owner × category × step title (`n_open`, `n_overdue` past its
    due date), counted by the worker with the snapshots (stat_snapshot `open_tasks` holds when, and for which day):
    joining 40,000 open steps to the read model per request costs 250–500 ms. A row without a title holds in
    `n_overdue` the cases of its cell with at least one overdue step."""

    __tablename__ = "stat_open"
    id: Mapped[int] = mapped_column(primary_key=True)
    procedure: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(8))
    title: Mapped[str | None] = mapped_column(String(200))
    n_open: Mapped[int] = mapped_column(Integer)
    n_overdue: Mapped[int] = mapped_column(Integer)


# The Chinese titles (the same as documents.KINDS, which the engine may not import; a test checks they agree).
KIND_TITLES: dict[str, str] = {
    "acceptance_notice": "受理通知书",
    "rongque_acceptance_notice": "容缺受理通知书",
    "rongque_commitment": "容缺受理承诺书",
    "refusal_notice": "不予受理通知书",
    "refusal_decision": "不予批准决定书",
    "termination_notice": "终止办理通知书",
    "correction_notice": "补正材料通知书",
    "registration_filing_form": "事业单位“绿色通道”引进人才列编备案表",
    "special_post_form": "事业单位特设岗位设置申请（核准）表",
    "special_post_writeoff_notice": "关于核销特设岗位的通知",
    "title_application_form": "职称“绿色通道”直接申报高级职称申报表",
    "publicity_notice": "公示",
    "title_filing_receipt": "职称评审结果备案回执",
    "completion_notice": "办结通知书",
    "approval_notice": "核准通知书",
}


# Office documents: issued by an office about no one case (Document.case_id is None), rendered by their own template.
OFFICE_KIND_TITLES: dict[str, str] = {"dispatch_report": "季度调度通报"}


class PeriodicReport(Base):
    """A report an office issues once per period (the 科技厅's 季度调度通报 after each quarter): the row is the claim
    that makes it once across several workers — taken FOR UPDATE SKIP LOCKED, filled with the document it issued."""

    __tablename__ = "periodic_report"
    key: Mapped[str] = mapped_column(String(48), primary_key=True)  # dispatch_report:2026Q3
    kind: Mapped[str] = mapped_column(String(48))
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int] = mapped_column(Integer)
    office_code: Mapped[str] = mapped_column(String(32))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    document: Mapped[Document | None] = relationship()


class RightsTopic(Base):
    """科研人员权益保障 window: a complaint topic and the office it is sent to (seed 000 §三(三)); administrators edit
    the table, each change an `admin_event` (target `rights_topic:<id>`)."""

    __tablename__ = "rights_topic"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    office_code: Mapped[str] = mapped_column(ForeignKey("unit.code"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Complaint(Base):
    """What the 权益保障 window keeps beside a complaint's case and shows only to the complainant and administrators:
    whether it is anonymous, the contact for the reply and the complainant's own unit (the handling office sees the
    case, which carries no identity when anonymous)."""

    __tablename__ = "complaint"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    topic_code: Mapped[str] = mapped_column(String(32), index=True)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    contact: Mapped[str] = mapped_column(String(100), default="")
    complainant_unit_code: Mapped[str | None] = mapped_column(String(32))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, index=True)
