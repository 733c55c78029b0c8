"""Shared fixtures: a real database per test (SQLite file, or PostgreSQL for `pg_*` fixtures), the bundled
definitions deployed, and the demo reference data (units, users, quota pools)."""

from __future__ import annotations

import os
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import text

from workflows.infra.db import create_all, make_engine, make_session_factory, transaction

SH = ZoneInfo("Asia/Shanghai")
PG_URL = os.environ.get("TEST_DATABASE_URL") or (
    os.environ.get("DATABASE_URL") if (os.environ.get("DATABASE_URL") or "").startswith("postgres") else None
)


def _prepare(engine):
    from webapp.demo.accounts import load_reference_data
    from workflows.services.definitions import deploy_bundled

    create_all(engine)
    factory = make_session_factory(engine)
    s = factory()
    with transaction(s):
        deploy_bundled(s)
    load_reference_data(s)
    s.close()
    return factory


@pytest.fixture
def clock():
    """Travel in time: `clock.to(2026, 3, 2, 9)` sets Asia/Shanghai wall time (SpiffWorkflow timers follow it)."""

    class Clock:
        def __init__(self):
            self.traveller = None

        def to(self, *args):
            if self.traveller:
                self.traveller.stop()
            self.traveller = time_machine.travel(datetime(*args, tzinfo=SH), tick=False)
            self.traveller.start()

        def stop(self):
            if self.traveller:
                self.traveller.stop()

    c = Clock()
    c.to(2026, 3, 2, 9, 0)  # a Monday, a working day
    yield c
    c.stop()


@pytest.fixture
def factory(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/test.sqlite3")
    f = _prepare(engine)
    yield f
    engine.dispose()


@pytest.fixture
def session(factory):
    s = factory()
    yield s
    s.close()


def require_postgres(reachable: bool, hint: str = "set TEST_DATABASE_URL=postgresql+psycopg://user@host/db") -> None:
    """Skip when no PostgreSQL server answers — but fail in CI, where REQUIRE_POSTGRES=1 says it must be there."""
    if reachable:
        return
    if os.environ.get("REQUIRE_POSTGRES"):
        pytest.fail(f"PostgreSQL required (REQUIRE_POSTGRES=1) but not reachable at {PG_URL!r}")
    pytest.skip(f"PostgreSQL not available: {hint}")


def _pg_available() -> bool:
    if not PG_URL:
        return False
    try:
        e = make_engine(PG_URL)
        with e.connect() as c:
            c.execute(text("SELECT 1"))
        e.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def any_factory(request):
    """The test's database on SQLite, then on PostgreSQL (skipped without TEST_DATABASE_URL)."""
    return request.getfixturevalue("factory" if request.param == "sqlite" else "pg_factory")


@pytest.fixture
def any_session(any_factory):
    s = any_factory()
    yield s
    s.close()


@pytest.fixture
def pg_factory():
    require_postgres(_pg_available())
    engine = make_engine(PG_URL)
    with engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    from workflows.services.definitions import forget_cached_definitions

    forget_cached_definitions()  # the ids of the emptied database will be reused
    f = _prepare(engine)
    yield f
    engine.dispose()
