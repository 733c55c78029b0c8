"""Alembic migrations take an empty database to exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect, text

from workflows.infra import migrate
from workflows.infra.db import make_engine

from .conftest import PG_URL, _pg_available, require_postgres


def _check_fresh_upgrade(engine):
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert migrate.pending_differences(engine) == []
    assert {"cases", "open_task", "case_event", "document", "quota_pool"} <= set(inspect(engine).get_table_names())
    assert migrate.prepare(engine) == "upgraded"  # idempotent


def test_upgrade_from_empty_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/m.sqlite3")
    _check_fresh_upgrade(engine)
    engine.dispose()


def test_prepare_creates_and_stamps_then_adopts(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/p.sqlite3")
    assert migrate.prepare(engine) == "created"
    assert migrate.current_revision(engine) == migrate.head_revision()
    with engine.begin() as c:
        c.execute(text("DELETE FROM alembic_version"))
    assert migrate.prepare(engine) == "adopted"
    engine.dispose()


def test_upgrade_from_empty_postgres():
    require_postgres(_pg_available())
    engine = make_engine(PG_URL)
    with engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    _check_fresh_upgrade(engine)
    engine.dispose()


def _cases_storage(engine) -> tuple[list, str, str]:
    with engine.connect() as c:
        options = c.execute(text("SELECT reloptions FROM pg_class WHERE relname = 'cases'")).scalar() or []
        compression = c.execute(
            text("SELECT attcompression FROM pg_attribute WHERE attrelid = 'cases'::regclass AND attname = 'state'")
        ).scalar()
        lz4 = c.execute(
            text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        ).scalar()
    # where the server has no lz4 the column keeps the default compressor ('' in pg_attribute)
    return options, compression, ("l" if lz4 else "")


def test_cases_storage_is_tuned_both_ways_on_postgres():
    """Migration 0005 and a fresh create_all give the cases table the same storage: 20 % free room per page (HOT
    updates of the state) and lz4 for the state; downgrading removes both."""
    require_postgres(_pg_available())
    from alembic import command

    engine = make_engine(PG_URL)
    for way in ("migrations", "create_all"):
        with engine.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE"))
            c.execute(text("CREATE SCHEMA public"))
        if way == "migrations":
            migrate.upgrade(engine)
        else:
            assert migrate.prepare(engine) == "created"
        options, compression, expected = _cases_storage(engine)
        assert (options, compression) == (["fillfactor=80"], expected), way
    command.downgrade(migrate.alembic_config(engine), "0004_name_chars")
    assert _cases_storage(engine)[0] == []
    migrate.upgrade(engine)
    engine.dispose()


def test_0009_keeps_issued_numbers_and_continues_the_register(tmp_path):
    """A database numbered before series existed (one register per office): after migration 0009 every number
    stays as issued, the register continues as the office's decision series (内人社字, next 4), and the receipts
    start their own series (内人社受字 1). Runs through the real numbering service on the upgraded database."""
    import sqlite3

    from sqlalchemy import select

    from workflows.domain.models import Document
    from workflows.infra.db import make_session_factory, transaction

    path = tmp_path / "legacy.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine, "0007_stored_file")
    raw = sqlite3.connect(path)  # rows as the release before wrote them
    cols = [c for c in raw.execute("PRAGMA table_info(cases)") if c[3] and c[4] is None and not c[5]]
    values = {c[1]: (1 if "INT" in c[2].upper() or "BOOL" in c[2].upper() else "x") for c in cols}
    values.update(id=1, case_no="150000L260302000001")
    raw.execute(
        f"INSERT INTO cases ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})", list(values.values())
    )
    raw.execute("INSERT INTO document_counter (office_code, year, value) VALUES ('RS', 2026, 3)")
    for seq, kind in ((1, "acceptance_notice"), (2, "rongque_commitment"), (3, "completion_notice")):
        raw.execute(
            "INSERT INTO document (id, case_id, kind, office_code, doc_no, year, seq, version, verify_code, data, "
            "status, created_at, created_by, render_attempts) VALUES (?, 1, ?, 'RS', ?, 2026, ?, 1, ?, '{}', "
            "'issued', '2026-03-02 01:00:00', 'system', 0)",
            (seq, kind, f"内人社字〔2026〕{seq}号", seq, f"CODE{seq:012d}"),
        )
    raw.commit()
    raw.close()
    migrate.upgrade(engine)
    assert migrate.pending_differences(engine) == []
    s = make_session_factory(engine)()
    rows = s.execute(select(Document.id, Document.doc_no, Document.kind_group).order_by(Document.id)).all()
    assert [tuple(r) for r in rows] == [
        (1, "内人社字〔2026〕1号", "decision"),
        (2, "内人社字〔2026〕2号", "decision"),  # a legacy 承诺书 keeps the number it was given
        (3, "内人社字〔2026〕3号", "decision"),
    ]
    from workflows.services import doc_series

    with transaction(s):
        assert doc_series.allocate(s, "RS", "completion_notice", 2026).doc_no == "内人社字〔2026〕4号"
        assert doc_series.allocate(s, "RS", "acceptance_notice", 2026).doc_no == "内人社受字〔2026〕1号"
        assert doc_series.allocate(s, "RS", "rongque_commitment", 2026) is None
    s.close()
    from alembic import command

    command.downgrade(migrate.alembic_config(engine), "0007_stored_file")  # and back
    engine.dispose()


def test_0019_folds_register_events_into_the_admin_chain(tmp_path):
    """The registers' trail (register_event) moves into the administrators' hash chain: the events already there keep
    their hashes, the register events follow in their order with their time, actor and details, the chain verifies,
    the record pages read them from there, and the achievements register starts with the seed's three kinds."""
    import sqlite3

    from workflows.domain.models import Achievement
    from workflows.infra.db import make_session_factory, transaction
    from workflows.services import audit, registers

    path = tmp_path / "legacy.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine, "0018_rights_window")
    s = make_session_factory(engine)()
    with transaction(s):
        audit.record_admin_event(s, "admin", "office_added", "office:RS", name="人社厅")
    first_hash = s.scalar(text("SELECT hash FROM admin_event WHERE seq = 1"))
    s.close()
    raw = sqlite3.connect(path)
    for register, record, action, by, at, detail in (
        ("credit", 7, "create", "admin", "2026-01-05 02:00:00.000000", '{"name": "李某", "kind": "misconduct"}'),
        ("breach", 3, "lift", "admin2", "2026-01-06 03:00:00.123456", '{"reason": "已补齐"}'),
        ("rights_topic", 2, "update", "admin", "2026-01-07 04:00:00.000000", '{"before": {"name": "旧"}}'),
        ("credit", 7, "update", "admin", "2026-01-08 05:00:00.000000", '{"basis": "内科发〔2026〕9号"}'),
    ):
        raw.execute(
            "INSERT INTO register_event (register, record_id, action, by, at, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (register, record, action, by, at, detail),
        )
    raw.commit()
    raw.close()
    migrate.upgrade(engine)
    assert migrate.pending_differences(engine) == []
    assert "register_event" not in inspect(engine).get_table_names()
    s = make_session_factory(engine)()
    assert audit.verify_admin_chain(s) == []
    assert s.scalar(text("SELECT hash FROM admin_event WHERE seq = 1")) == first_hash
    rows = s.execute(text("SELECT seq, action, target, actor FROM admin_event ORDER BY seq")).all()
    assert [tuple(r) for r in rows] == [
        (1, "office_added", "office:RS", "admin"),
        (2, "credit_create", "credit:7", "admin"),
        (3, "breach_lift", "breach:3", "admin2"),
        (4, "rights_topic_update", "rights_topic:2", "admin"),
        (5, "credit_update", "credit:7", "admin"),
    ]
    hist = registers.history(s, "credit", 7)
    assert [registers.event_kind(e) for e in hist] == ["create", "update"]
    assert hist[1].payload == {"basis": "内科发〔2026〕9号"}
    with transaction(s):  # the chain goes on from where the moved events end
        assert audit.record_admin_event(s, "admin", "seal_removed", "office:RS").seq == 6
    assert audit.verify_admin_chain(s) == []
    assert [a.code for a in s.query(Achievement).order_by(Achievement.id)] == [
        "major_basic_research",
        "key_core_technology",
        "major_engineering_problem",
    ]
    s.close()
    from alembic import command

    command.downgrade(migrate.alembic_config(engine), "0018_rights_window")  # and back: the trail is copied back
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM register_event")).scalar() == 4
    engine.dispose()
