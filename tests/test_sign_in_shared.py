"""Failed sign-ins are counted in the database, so that every gunicorn worker (and every host) sees the same counts:
two engines on one PostgreSQL database stand for two workers (issue 13, item 5)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from tests.conftest import PG_URL
from webapp.demo.accounts import DEMO_PASSWORD
from workflows.domain.models import SignInThrottle
from workflows.infra.db import make_engine, make_session_factory
from workflows.services import sign_in


def _attempt(factory, username: str, password: str, address: str, limits: sign_in.Limits) -> str:
    s = factory()
    try:
        sign_in.authenticate(s, username, password, address, limits)
        return "ok"
    except sign_in.SignInRefused as e:
        return e.code
    finally:
        s.close()


def test_two_workers_share_the_counts_and_the_lock(pg_factory):
    other_engine = make_engine(PG_URL)
    try:
        workers = [pg_factory, make_session_factory(other_engine)]
        # no lost update under concurrency: 2 workers × 6 wrong passwords at once count 12
        wide = sign_in.Limits(max_failures=100, address_max_failures=100)
        with ThreadPoolExecutor(4) as pool:
            results = list(
                pool.map(lambda i: _attempt(workers[i % 2], "hr_nky", "wrong-one", "10.1.1.1", wide), range(12))
            )
        assert results == ["wrong_credentials"] * 12
        s = pg_factory()
        assert s.get(SignInThrottle, ("account", "hr_nky")).failures == 12
        assert s.get(SignInThrottle, ("address", "10.1.1.1")).failures == 12
        s.close()
        # the lock set through one worker holds in the other, for the right password too
        limits = sign_in.Limits(max_failures=14, window=timedelta(minutes=15))
        assert _attempt(workers[0], "hr_nky", "wrong-one", "10.1.1.2", limits) == "wrong_credentials"
        assert _attempt(workers[0], "hr_nky", "wrong-one", "10.1.1.2", limits) == "account_locked"
        assert _attempt(workers[1], "hr_nky", DEMO_PASSWORD, "10.1.1.3", limits) == "account_locked"
        s = workers[1]()
        assert sign_in.unlock(s, sign_in.ACCOUNT, "hr_nky", by="admin") is True
        s.commit()
        s.close()
        assert _attempt(workers[0], "hr_nky", DEMO_PASSWORD, "10.1.1.3", limits) == "ok"
    finally:
        other_engine.dispose()


@pytest.mark.parametrize("name", ["hr_nky", "nobody_here"])
def test_sqlite_counts_known_and_unknown_names_alike(factory, name):
    limits = sign_in.Limits(max_failures=3)
    codes = [_attempt(factory, name, "wrong-one", "10.2.2.2", limits) for _ in range(4)]
    assert codes == ["wrong_credentials", "wrong_credentials", "account_locked", "account_locked"]
