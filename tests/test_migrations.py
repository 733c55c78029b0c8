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
