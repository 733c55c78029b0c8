"""Database engine and session set-up (plain SQLAlchemy 2.0: the engine core imports no Flask).

SQLite locking: a read begins a plain (deferred) transaction, so a page being read never holds the database lock
(in WAL mode it reads its snapshot while writers go on). A write transaction — everything inside
:func:`transaction` — holds the write lock from its first statement (``BEGIN IMMEDIATE``): two writers queue on the
busy timeout instead of one failing when it tries to turn its read into a write (SQLite refuses that upgrade at once
when another writer committed after the read began). PostgreSQL needs none of this (``SELECT … FOR UPDATE``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from workflows.domain.models import Base

# The engine's own default when it is given no URL (scripts, benchmarks); the web app passes its DATABASE_URL.
DEFAULT_URL = "sqlite:///instance/green_channel.sqlite3"
# Execution option of a connection whose transaction will write (read by the SQLite "begin" hook).
WRITE_OPTION = "gc_write"
_LOCK = "gc_lock"  # connection.info on SQLite: "read" or "write", what the open transaction holds
_CONNECTED = "gc_connected"  # session.info: the session's transaction has its database connection
_DEPTH = "gc_depth"  # session.info: transaction() blocks open on the session
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC", "CREATE", "DROP", "ALTER")


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
    url = url or DEFAULT_URL
    if url.startswith("postgres://"):  # the old scheme some platforms hand out
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kw)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # WAL lets readers go on while one writer commits; foreign keys are off by default in SQLite.
            # pysqlite's own transaction handling is switched off so the BEGIN below is the one that counts.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            write = bool(conn.get_execution_options().get(WRITE_OPTION))
            conn.info[_LOCK] = "write" if write else "read"
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        @event.listens_for(engine, "before_cursor_execute")
        def _sqlite_first_write(conn, _cursor, statement, *_args):
            # A write outside transaction() takes the lock itself: remember it, there is nothing to upgrade then.
            if conn.info.get(_LOCK) == "read" and statement.lstrip()[:6].upper().startswith(_WRITES):
                conn.info[_LOCK] = "write"

        return engine
    kw.setdefault("pool_pre_ping", True)
    kw.setdefault("pool_size", 10)
    kw.setdefault("max_overflow", 20)
    return create_engine(url, **kw)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    event.listen(factory, "after_begin", _connected)
    event.listen(factory, "after_transaction_end", _ended)
    return factory


def _connected(session: Session, _trans, _conn: Connection) -> None:
    session.info[_CONNECTED] = True


def _ended(session: Session, trans) -> None:
    if trans.parent is None:
        session.info.pop(_CONNECTED, None)


def create_all(engine: Engine) -> None:
    Base.metadata.create_all(engine)
    if is_postgres(engine):
        with engine.begin() as conn:
            tune_postgresql_storage(conn)


def tune_postgresql_storage(conn) -> None:
    """The storage settings of migration 0005 (see there why): free room in the cases' pages for HOT updates, lz4
    for the instance state where the server has it."""
    conn.exec_driver_sql("ALTER TABLE cases SET (fillfactor = 80)")
    if conn.exec_driver_sql(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    ).scalar():
        conn.exec_driver_sql("ALTER TABLE cases ALTER COLUMN state SET COMPRESSION lz4")


def _begin_write(session: Session) -> None:
    """Before the block's first statement: the session's database transaction holds the write lock (SQLite)."""
    if not session.info.get(_CONNECTED):
        session.connection(execution_options={WRITE_OPTION: True})  # begins with BEGIN IMMEDIATE on SQLite
        return
    conn = session.connection()
    if conn.dialect.name == "sqlite" and conn.info.get(_LOCK) == "read":
        # A read is open (the route looked at the case first). Nothing was written in it, so it ends here and the
        # write transaction begins in its place, under the same Session transaction: the loaded objects stay, no
        # session commit hooks run, and the statements inside see the database as of the lock.
        conn.exec_driver_sql("COMMIT")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        conn.info[_LOCK] = "write"


_AFTER_ROLLBACK = "after_rollback"


def after_rollback(session: Session, callback: Callable[[Session], object]) -> None:
    """Run `callback(session)` in a transaction of its own once the outermost transaction of `session` has been
    rolled back (e.g. to record why it failed); forgotten when it commits."""
    session.info.setdefault(_AFTER_ROLLBACK, []).append(callback)


def forget_after_rollback(session: Session) -> None:
    """Drop the callbacks registered by a failure the caller handled itself (e.g. a read-only look at a case)."""
    session.info.pop(_AFTER_ROLLBACK, None)


def _run_after_rollback(session: Session) -> None:
    callbacks = session.info.pop(_AFTER_ROLLBACK, [])
    for callback in callbacks:
        try:
            with transaction(session):
                callback(session)
        except Exception:  # the original error is what the caller must see
            logging.getLogger(__name__).exception("after-rollback callback failed")


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """Commit everything done inside together, or nothing; on SQLite the block holds the write lock from its start
    (a read transaction the session had open is ended first). A nested block commits at its own end, as it always
    did; the enclosing block then goes on in a new write transaction."""
    depth = session.info.get(_DEPTH, 0)
    session.info[_DEPTH] = depth + 1
    try:
        _begin_write(session)
        yield session
        session.commit()
        if not depth:
            session.info.pop(_AFTER_ROLLBACK, None)
    except BaseException as exc:
        session.rollback()
        if not depth and isinstance(exc, Exception) and session.info.get(_AFTER_ROLLBACK):
            session.info[_DEPTH] = depth
            _run_after_rollback(session)
        raise
    finally:
        session.info[_DEPTH] = depth
    if depth:
        _begin_write(session)
