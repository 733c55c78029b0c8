"""registers: each unit's posts by level (核定 / 实有), the list of major achievements (R9), and the registers' trail
folded into the administrators' hash-chained trail (register_event → admin_event)

Revision ID: 0019_registers_posts
Revises: 0018_rights_window

The register events are appended to the admin chain in their own order (after the events already there, whose
hashes do not change), each with its time, actor and details; the chain's counter continues from the last one.
"""
import hashlib
import json
from datetime import UTC, date, datetime

from alembic import op
import sqlalchemy as sa


revision = '0019_registers_posts'
# the current head (the lead re-chains the helpers' migrations at merge)
down_revision = '0024_matters'
branch_labels = None
depends_on = None

# R9's three kinds of achievement as the start form offered them before the register (seed 000 §二(二))
SOURCE = "《保障科研人员权益工作方案》（内蒙古自治区科学技术厅，2025年4月15日）"
ACHIEVEMENTS = [
    ("major_basic_research", "取得重大基础研究成果"),
    ("key_core_technology", "突破关键核心技术"),
    ("major_engineering_problem", "解决重大工程技术难题"),
]


def _digest(seq, at, actor, action, target, payload, prev) -> str:
    # the admin chain's hash (workflows/services/audit.py _admin_digest), frozen here as of this revision
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    parts = [seq, at.isoformat(timespec="microseconds"), actor, action, target, payload, prev]
    body = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def upgrade() -> None:
    op.create_table('unit_post',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_code', sa.String(length=32), nullable=False),
    sa.Column('post_type', sa.String(length=16), nullable=False),
    sa.Column('level', sa.String(length=32), nullable=False),
    sa.Column('approved', sa.Integer(), nullable=False),
    sa.Column('filled', sa.Integer(), nullable=False),
    sa.Column('source_document', sa.String(length=200), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.CheckConstraint('approved >= 0 AND filled >= 0', name='ck_unit_post_counts'),
    sa.ForeignKeyConstraint(['unit_code'], ['unit.code']),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unit_code', 'post_type', 'level', name='uq_unit_post_level')
    )
    op.create_index('ix_unit_post_unit_code', 'unit_post', ['unit_code'])
    achievement = op.create_table('achievement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=48), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('level', sa.String(length=32), nullable=False),
    sa.Column('source_document', sa.String(length=200), nullable=False),
    sa.Column('active_from', sa.Date(), nullable=False),
    sa.Column('active_to', sa.Date(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.bulk_insert(achievement, [
        {"code": code, "name": name, "category": code, "level": "", "source_document": SOURCE,
         "active_from": date(2025, 4, 15), "active_to": None, "created_by": "system",
         "created_at": datetime.now(UTC)}
        for code, name in ACHIEVEMENTS
    ])
    _fold_register_events()
    op.drop_index('ix_register_event_record_id', table_name='register_event')
    op.drop_index('ix_register_event_register', table_name='register_event')
    op.drop_table('register_event')


def _fold_register_events() -> None:
    conn = op.get_bind()
    meta = sa.MetaData()
    reg = sa.Table('register_event', meta, autoload_with=conn)
    adm = sa.Table('admin_event', meta, autoload_with=conn)
    counter = sa.Table('counter', meta, autoload_with=conn)
    last = conn.execute(sa.select(adm.c.seq, adm.c.hash).order_by(adm.c.seq.desc()).limit(1)).first()
    seq, prev = (int(last[0]), last[1]) if last else (0, "")
    rows = []
    for ev in conn.execute(sa.select(reg).order_by(reg.c.id)):
        seq += 1
        action, target = f"{ev.register}_{ev.action}", f"{ev.register}:{ev.record_id}"
        payload = json.loads(json.dumps(ev.detail or {}, ensure_ascii=False, default=str))
        digest = _digest(seq, ev.at, ev.by, action, target, payload, prev)
        rows.append({"seq": seq, "at": ev.at, "actor": ev.by, "action": action, "target": target,
                     "payload": payload, "prev_hash": prev, "hash": digest})
        prev = digest
    if not rows:
        return
    conn.execute(adm.insert(), rows)
    if conn.execute(sa.select(counter.c.value).where(counter.c.name == "admin_event")).first() is None:
        conn.execute(counter.insert().values(name="admin_event", value=seq))
    else:
        conn.execute(counter.update().where(counter.c.name == "admin_event").values(value=seq))


def downgrade() -> None:
    op.create_table('register_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('register', sa.String(length=16), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('by', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_register_event_register', 'register_event', ['register'])
    op.create_index('ix_register_event_record_id', 'register_event', ['record_id'])
    # the events stay in the admin chain too (removing them would break it); copies go back to register_event
    conn = op.get_bind()
    meta = sa.MetaData()
    adm = sa.Table('admin_event', meta, autoload_with=conn)
    reg = sa.Table('register_event', meta, autoload_with=conn)
    for register in ("credit", "breach", "rights_topic"):
        for ev in conn.execute(sa.select(adm).where(adm.c.target.like(f"{register}:%")).order_by(adm.c.seq)):
            conn.execute(reg.insert().values(
                register=register, record_id=int(ev.target.split(":", 1)[1]),
                action=ev.action[len(register) + 1:][:16], by=ev.actor, at=ev.at, detail=ev.payload))
    op.drop_table('achievement')
    op.drop_index('ix_unit_post_unit_code', table_name='unit_post')
    op.drop_table('unit_post')
