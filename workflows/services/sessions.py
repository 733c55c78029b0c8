"""Credentials that outlive a request: browser sessions kept on the server, and API bearer tokens.

No Flask here. A browser session is a row of `user_session`; the signed cookie carries only a random key whose sha256
the row keeps (a copy of the database opens no session). Every request loads the account through that row
(`session_user`), so deleting the row ends the session wherever its cookie has been copied: signing out
(`end_session`), a password change (`end_sessions`, keeping the session that made it), an administrator's reset or
a deactivation (`end_credentials`: every session, and every API token revoked).

An API token (`gct_…`) is shown once; only its sha256 is stored. It is refused once revoked, once its account is
inactive and from `expires_at` on (`token_user`); its last use is recorded at most once a minute (`touch_token`).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from workflows.domain.clock import as_utc, now_utc
from workflows.domain.errors import DomainError, NotFound
from workflows.domain.models import ApiToken, User, UserSession

log = logging.getLogger(__name__)

TOKEN_PREFIX = "gct_"
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
MAX_SECRET_CHARS = 200  # longer presented keys or tokens are refused before hashing


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# -- browser sessions ------------------------------------------------------------------------------------------------


def open_session(session: Session, user_id: int, hours: int, now: datetime | None = None) -> str:
    """A new session of the account, valid for `hours`; returns the key for the cookie (never stored). Expired
    sessions of anyone are deleted on the way (a sign-in is rare enough to carry that). The caller commits."""
    now = now or now_utc()
    session.execute(delete(UserSession).where(UserSession.expires_at < now))
    key = secrets.token_urlsafe(32)
    session.add(
        UserSession(user_id=user_id, key_sha256=digest(key), created_at=now, expires_at=now + timedelta(hours=hours))
    )
    session.flush()
    return key


def session_user(session: Session, key: str | None) -> User | None:
    """The active account of a live session key, else None (signed out, expired, deactivated, malformed)."""
    if not key or len(key) > MAX_SECRET_CHARS:
        return None
    return session.scalar(
        select(User)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.key_sha256 == digest(key), UserSession.expires_at > now_utc(), User.active.is_(True))
    )


def end_session(session: Session, key: str | None) -> None:
    if key:
        session.execute(delete(UserSession).where(UserSession.key_sha256 == digest(key)))


def end_sessions(session: Session, user_id: int, keep_key: str | None = None) -> int:
    """Ends every session of the account but `keep_key`'s; returns how many ended."""
    q = delete(UserSession).where(UserSession.user_id == user_id)
    if keep_key:
        q = q.where(UserSession.key_sha256 != digest(keep_key))
    return session.execute(q).rowcount or 0  # type: ignore[attr-defined]


# -- API tokens --------------------------------------------------------------------------------------------------------


class TokenRefused(DomainError):
    status = 401
    code = "unauthorized"


def create_token(
    session: Session, user_id: int, name: str, days: int, now: datetime | None = None
) -> tuple[ApiToken, str]:
    """A token of the account valid for `days`; returns the row and the secret (shown once, never stored). The
    caller commits."""
    now = now or now_utc()
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user_id,
        name=(name or "API 令牌")[:100],
        token_sha256=digest(secret),
        created_at=now,
        expires_at=now + timedelta(days=max(1, days)),
    )
    session.add(row)
    session.flush()
    return row, secret


def token_user(session: Session, secret: str, now: datetime | None = None) -> tuple[ApiToken, User]:
    """The token and its account, or `TokenRefused` (unknown, revoked, account inactive, expired)."""
    now = now or now_utc()
    row = None
    if secret and len(secret) <= MAX_SECRET_CHARS:
        row = session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_sha256 == digest(secret))
        ).first()
    if row is None or row[0].revoked or not row[1].active:
        raise TokenRefused("API 令牌无效或已吊销")
    token, user = row
    if as_utc(token.expires_at) <= now:
        raise TokenRefused("API 令牌已过期，请创建新的令牌", details={"expired_at": token.expires_at.isoformat()})
    return token, user


def token_needs_touch(token: ApiToken, now: datetime | None = None) -> bool:
    last = as_utc(token.last_used_at)
    return last is None or (now or now_utc()) - last > TOKEN_TOUCH_INTERVAL


def touch_token(session: Session, token: ApiToken, now: datetime | None = None) -> None:
    """Record the use (the caller commits; at most once a minute, so a busy client does not write on every call)."""
    token.last_used_at = now or now_utc()


def user_tokens(session: Session, user_id: int) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("令牌不存在")
    token.revoked = True
    session.flush()
    log.info("api token revoked", extra={"event": "token_revoked", "token_id": token.id, "user_id": token.user_id})
    return token


def revoke_tokens(session: Session, user_id: int) -> int:
    return (
        session.execute(  # type: ignore[attr-defined]
            update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked.is_(False)).values(revoked=True)
        ).rowcount
        or 0
    )


def end_credentials(
    session: Session, user: User, why: str, by: str | None = None, keep_session_key: str | None = None
) -> None:
    """An administrator reset the password or deactivated the account: every session ends (but `keep_session_key`,
    an administrator resetting their own) and every API token is revoked. The caller commits."""
    sessions = end_sessions(session, user.id, keep_session_key)
    tokens = revoke_tokens(session, user.id)
    log.info(
        "credentials ended",
        extra={
            "event": "credentials_ended",
            "user_id": user.id,
            "username": user.username,
            "why": why,
            "by": by,
            "sessions": sessions,
            "tokens": tokens,
        },
    )
