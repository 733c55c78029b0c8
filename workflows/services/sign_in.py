"""Signing in with a user name and password: throttled per account name and per client address, the same cost for
names that exist and names that do not.

No Flask here. Failed sign-ins are counted in the database (`sign_in_throttle`), so every gunicorn worker and every
host behind the balancer sees the same counts — a per-process counter would let an attacker spread guesses over the
workers; the database is already shared and needs no extra server (Redis) to run. A sign-in is rare enough that one
more row write per failure costs nothing noticeable.

* per account name (`ACCOUNT`, the name as typed — known or not, so that a lock does not tell which names exist):
  `Limits.max_failures` failures within `Limits.window` lock it for `Limits.lock`; while locked the right password
  is refused too, without being checked. An administrator can unlock earlier (`unlock_account`).
* per client address (`ADDRESS`): `Limits.address_max_failures` failures within the window, whatever the names,
  refuse every sign-in from that address for `Limits.lock`.
* a name that does not exist (or an inactive account) is checked against a dummy hash made with the same method and
  cost as real ones: the answer takes as long as a wrong password.

The password is hashed outside any write transaction (on SQLite a write transaction holds the database's write lock;
scrypt takes ~0.1 s). Concurrent guesses in that gap can pass the limit by at most the number of workers.
Locks, unlocks and address refusals are logged as audit events (`event`: account_locked, account_unlocked,
address_throttled).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workflows.domain.clock import LOCAL_TZ, as_utc, now_utc
from workflows.domain.errors import DomainError
from workflows.domain.models import SignInThrottle, User
from workflows.domain.passwords import check_password, hash_password
from workflows.infra.db import dialect_of, transaction

log = logging.getLogger(__name__)

ACCOUNT, ADDRESS = "account", "address"
SUBJECT_CHARS = 128
WARN_WHEN_LEFT = 3  # the wrong-password message says how many tries are left from this many on


@dataclass(frozen=True)
class Limits:
    max_failures: int = 10
    address_max_failures: int = 50
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)


class SignInRefused(DomainError):
    """The sign-in did not succeed. `code`: wrong_credentials (401), account_locked or address_locked (429)."""

    status = 401
    code = "wrong_credentials"

    def __init__(self, code: str, message: str, *, until: datetime | None = None, left: int | None = None):
        super().__init__(message, details={"locked_until": until.isoformat()} if until else None)
        self.code = code
        self.status = 401 if code == "wrong_credentials" else 429
        self.until = until
        self.left = left


_dummy_hash: str | None = None


def dummy_hash() -> str:
    """A hash of a random password, made once per process with the default method and cost."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password(secrets.token_urlsafe(16))
    return _dummy_hash


def local_time(when: datetime) -> str:
    return as_utc(when).astimezone(LOCAL_TZ).strftime("%H:%M")


def _locked(code: str, until: datetime) -> SignInRefused:
    if code == "account_locked":
        message = f"该账号因密码连续错误次数过多已被锁定，请于 {local_time(until)} 后再试，或联系系统管理员解锁"
    else:
        message = f"本机登录失败次数过多，已暂停登录，请于 {local_time(until)} 后再试"
    return SignInRefused(code, message, until=until)


def _wrong(left: int, limits: Limits) -> SignInRefused:
    message = "用户名或密码错误"
    if 0 < left <= WARN_WHEN_LEFT:
        message += f"（再错 {left} 次，账号将被锁定 {int(limits.lock.total_seconds() // 60)} 分钟）"
    return SignInRefused("wrong_credentials", message, left=left)


def _subject(value: str | None) -> str:
    return (value or "")[:SUBJECT_CHARS]


def active_lock(session: Session, username: str, address: str | None, now: datetime) -> SignInRefused | None:
    """The refusal for a name or address locked now, else None (a read; no hashing)."""
    rows = session.scalars(
        select(SignInThrottle).where(
            SignInThrottle.locked_until > now,
            or_(
                and_(SignInThrottle.kind == ACCOUNT, SignInThrottle.subject == _subject(username)),
                and_(SignInThrottle.kind == ADDRESS, SignInThrottle.subject == _subject(address)),
            ),
        )
    ).all()
    for kind in (ACCOUNT, ADDRESS):  # the account's lock is the one an administrator can lift: named first
        for row in rows:
            if row.kind == kind and row.locked_until is not None:
                return _locked(f"{kind}_locked", as_utc(row.locked_until))
    return None


def authenticate(
    session: Session, username: str, password: str, address: str | None, limits: Limits, now: datetime | None = None
) -> User:
    """The account if the name and password are right and neither the name nor the address is locked; else
    `SignInRefused` after the failure has been counted (and committed)."""
    now = now or now_utc()
    username = (username or "").strip()
    refused = active_lock(session, username, address, now)
    if refused is not None:
        session.rollback()  # end the read
        raise refused
    user = session.scalar(select(User).where(User.username == username)) if username else None
    real = user is not None and user.active
    ok = check_password(user.password_hash if real and user else dummy_hash(), password or "")
    ok = ok and real
    session.rollback()  # end the read: the write below takes the lock only now
    with transaction(session):
        if ok and user is not None:
            refused = active_lock(session, username, address, now)  # locked while the hash was computed
            if refused is None:
                session.execute(
                    delete(SignInThrottle).where(SignInThrottle.kind == ACCOUNT, SignInThrottle.subject == username)
                )
                return session.get(User, user.id) or user
        else:
            refused = _count_failure(session, username, address, limits, now)
    raise refused


def _row(session: Session, kind: str, subject: str, now: datetime) -> SignInThrottle:
    """The counter row, locked for this transaction (created at zero when missing)."""
    for _ in range(3):
        q = select(SignInThrottle).where(SignInThrottle.kind == kind, SignInThrottle.subject == subject)
        if dialect_of(session) == "postgresql":
            q = q.with_for_update()
        row = session.scalars(q.execution_options(populate_existing=True)).first()
        if row is not None:
            return row
        try:
            with session.begin_nested():
                row = SignInThrottle(kind=kind, subject=subject, failures=0, window_start=now)
                session.add(row)
            return row
        except IntegrityError:
            continue  # another worker created it first: read it
    raise RuntimeError("sign_in_throttle: row could not be created")


def _bump(session: Session, kind: str, subject: str, limit: int, limits: Limits, now: datetime) -> SignInThrottle:
    row = _row(session, kind, subject, now)
    locked_until = as_utc(row.locked_until)
    if locked_until is not None and locked_until > now:
        return row
    if as_utc(row.window_start) <= now - limits.window or locked_until is not None:  # a new window
        row.failures, row.window_start, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + limits.lock
    return row


def _count_failure(
    session: Session, username: str, address: str | None, limits: Limits, now: datetime
) -> SignInRefused:
    # rows whose window has passed and that lock nothing are of no use any more
    session.execute(
        delete(SignInThrottle).where(
            SignInThrottle.window_start <= now - limits.window,
            or_(SignInThrottle.locked_until.is_(None), SignInThrottle.locked_until <= now),
        )
    )
    account = _bump(session, ACCOUNT, _subject(username), limits.max_failures, limits, now)
    where = None
    if address:
        where = _bump(session, ADDRESS, _subject(address), limits.address_max_failures, limits, now)
    session.flush()
    if account.locked_until is not None:
        if account.failures == limits.max_failures:
            log.warning(
                "account locked after failed sign-ins",
                extra={
                    "event": "account_locked",
                    "username": username,
                    "address": address,
                    "failures": account.failures,
                    "locked_until": as_utc(account.locked_until).isoformat(),
                },
            )
        return _locked("account_locked", as_utc(account.locked_until))
    if where is not None and where.locked_until is not None:
        if where.failures == limits.address_max_failures:
            log.warning(
                "client address throttled after failed sign-ins",
                extra={
                    "event": "address_throttled",
                    "address": address,
                    "failures": where.failures,
                    "locked_until": as_utc(where.locked_until).isoformat(),
                },
            )
        return _locked("address_locked", as_utc(where.locked_until))
    return _wrong(limits.max_failures - account.failures, limits)


def locked_accounts(session: Session, now: datetime | None = None) -> dict[str, datetime]:
    """Account name → locked until, for the names locked now."""
    rows = session.scalars(
        select(SignInThrottle).where(SignInThrottle.kind == ACCOUNT, SignInThrottle.locked_until > (now or now_utc()))
    )
    return {r.subject: as_utc(r.locked_until) for r in rows if r.locked_until is not None}


def unlock(session: Session, kind: str, subject: str, by: str | None) -> bool:
    """An administrator lifts the lock (and forgets the failures) of an account name or an address; True when
    something was locked. The caller commits."""
    row = session.get(SignInThrottle, (kind, _subject(subject)))
    if row is None:
        return False
    was_locked = row.locked_until is not None and as_utc(row.locked_until) > now_utc()
    session.delete(row)
    session.flush()
    if was_locked:
        log.warning(
            "sign-in lock lifted by an administrator",
            extra={"event": f"{kind}_unlocked", kind if kind == ADDRESS else "username": subject, "by": by},
        )
    return was_locked
