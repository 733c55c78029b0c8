"""Database engine and session set-up (plain SQLAlchemy 2.0: the engine core imports no Flask)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from workflows.domain.models import Base

DEFAULT_URL = "sqlite:///instance/green_channel.sqlite3"


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_URL


def is_postgres(bind) -> bool:
    return bind.dialect.name == "postgresql"


def bind_of(session: Session) -> Engine | Connection:
    """What the session runs on (every session here is made bound: by the factory, or by a test to a connection)."""
    if session.bind is None:
        raise RuntimeError("the session is not bound to an engine")
    return session.bind


def dialect_of(session: Session) -> str:
    return bind_of(session).dialect.name


def make_engine(url: str | None = None, **kw) -> Engine:
    url = url or database_url()
    if url.startswith("postgres://"):  # the old scheme some platforms hand out
        url = "postgresql+psycopg://" + url[len("postgres://"):]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kw)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # WAL lets readers go on while one writer commits; foreign keys are off by default in SQLite.
            # pysqlite's own transaction handling is switched off so BEGIN IMMEDIATE below really takes the lock.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # Take the write lock at the start: two writers then queue instead of failing on upgrade.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kw.setdefault("pool_pre_ping", True)
    kw.setdefault("pool_size", 10)
    kw.setdefault("max_overflow", 20)
    return create_engine(url, **kw)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def create_all(engine: Engine) -> None:
    Base.metadata.create_all(engine)
    if is_postgres(engine):
        with engine.begin() as conn:
            tune_postgresql_storage(conn)


def tune_postgresql_storage(conn) -> None:
    """The storage settings of migration 0005 (see there why): free room in the cases' pages for HOT updates, lz4
    for the instance state where the server has it."""
    conn.exec_driver_sql("ALTER TABLE cases SET (fillfactor = 80)")
    if conn.exec_driver_sql("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                            "WHERE name = 'default_toast_compression'").scalar():
        conn.exec_driver_sql("ALTER TABLE cases ALTER COLUMN state SET COMPRESSION lz4")


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """Commit everything done inside together, or nothing."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
