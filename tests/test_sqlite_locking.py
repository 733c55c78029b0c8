"""SQLite (a file database, WAL): reads take no lock, a write transaction holds the write lock from its first
statement, and writers that read first still queue instead of failing on a lock upgrade."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from workflows.domain.models import Unit
from workflows.infra.db import create_all, make_engine, make_session_factory, transaction


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "lock.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    create_all(engine)
    factory = make_session_factory(engine)
    s = factory()
    with transaction(s):
        s.add_all([Unit(code="U1", name="一号单位"), Unit(code="U2", name="二号单位")])
    s.close()
    yield factory, path
    engine.dispose()


def _rename(factory, code: str, name: str) -> None:
    s = factory()
    try:
        s.get(Unit, code)  # read first, as a route does before it calls a service
        with transaction(s):
            s.get(Unit, code).name = name
    finally:
        s.close()


def test_an_open_read_does_not_block_a_writer(db):
    factory, _ = db
    reader = factory()
    assert reader.scalar(select(Unit.name).where(Unit.code == "U1")) == "一号单位"  # the read transaction stays open
    done = threading.Event()
    writer = threading.Thread(target=lambda: (_rename(factory, "U1", "改名单位"), done.set()))
    started = time.monotonic()
    writer.start()
    writer.join(10)
    assert done.is_set() and time.monotonic() - started < 5  # not the 30 s busy timeout
    assert reader.scalar(select(Unit.name).where(Unit.code == "U1")) == "一号单位"  # its own snapshot
    reader.commit()
    assert reader.scalar(select(Unit.name).where(Unit.code == "U1")) == "改名单位"
    reader.close()


def test_a_writer_holds_the_lock_from_its_first_statement(db):
    factory, path = db
    s = factory()
    other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    try:
        with transaction(s):
            s.scalar(select(Unit.name).where(Unit.code == "U1"))  # only a read so far
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again after the commit
        other.execute("ROLLBACK")
        assert s.scalar(select(Unit.name).where(Unit.code == "U2")) == "二号单位"  # a read after it: no lock
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()
        s.close()


def test_a_writer_whose_read_went_stale_still_writes(db):
    """B read before A committed; B's write then queues behind nothing and succeeds (a plain upgrade of B's read
    would be refused at once: the database changed after B's snapshot)."""
    factory, _ = db
    b = factory()
    assert b.get(Unit, "U2").name == "二号单位"
    _rename(factory, "U1", "甲")
    with transaction(b):
        b.get(Unit, "U2").name = "乙"
    b.close()
    s = factory()
    assert dict(s.execute(select(Unit.code, Unit.name)).all()) == {"U1": "甲", "U2": "乙"}
    s.close()


def test_concurrent_writers_all_succeed(db):
    factory, _ = db
    barrier = threading.Barrier(4)

    def write(i: int) -> str:
        s = factory()
        try:
            s.scalar(select(Unit.name).where(Unit.code == "U1"))  # each reads first
            barrier.wait()
            with transaction(s):
                unit = s.get(Unit, "U1")
                time.sleep(0.05)  # hold the lock a moment: the others wait for it
                unit.name = unit.name + str(i)
            return "ok"
        finally:
            s.close()

    with ThreadPoolExecutor(4) as ex:
        assert list(ex.map(write, range(4))) == ["ok"] * 4
    s = factory()
    name = s.get(Unit, "U1").name
    s.close()
    assert name.startswith("一号单位") and sorted(name[len("一号单位") :]) == ["0", "1", "2", "3"]  # no lost update


def test_nested_blocks_commit_at_their_end_and_the_outer_block_still_writes(db):
    factory, path = db
    s = factory()
    other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    try:
        with transaction(s):
            with transaction(s):
                s.get(Unit, "U1").name = "内层"
            assert other.execute("SELECT name FROM unit WHERE code = 'U1'").fetchone() == ("内层",)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            s.get(Unit, "U2").name = "外层"
        assert other.execute("SELECT name FROM unit ORDER BY code").fetchall() == [("内层",), ("外层",)]
    finally:
        other.close()
        s.close()
