"""A person's own account: changing one's password, and the session identity that ends with a password change.

No Flask here. Passwords are hashed and checked by `workflows.domain.passwords` (Werkzeug's hash format, computed
with hashlib) — the one place every writer and checker of a password uses: the login form, the administrator's
forms, the bulk import and the CLI.

Rules for a new password (`password_problems`): at least `MIN_LENGTH` characters (at most `MAX_LENGTH`), not the
user name, not the current password, typed the same twice. A refusal changes nothing and names every problem of
every field (`PasswordRejected.details`: ``fields`` → Chinese message, ``codes`` → a stable code the web layer
translates).

A change ends the account's other browser sessions on the server (`workflows.services.sessions`); the one that
made the change stays signed in.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from workflows.domain.errors import NotFound, ValidationFailed
from workflows.domain.models import User
from workflows.domain.passwords import check_password, hash_password
from workflows.services import sessions

log = logging.getLogger(__name__)

MIN_LENGTH = 10
MAX_LENGTH = 128

FIELDS = ("current_password", "new_password", "confirm_password")
# code → (field, Chinese message). The web layer shows its own translation of each code (webapp/auth.py).
RULES: dict[str, tuple[str, str]] = {
    "current_required": ("current_password", "请输入当前密码"),
    "current_wrong": ("current_password", "当前密码不正确"),
    "new_required": ("new_password", "请输入新密码"),
    "too_short": ("new_password", f"新密码至少 {MIN_LENGTH} 位"),
    "too_long": ("new_password", f"新密码不能超过 {MAX_LENGTH} 位"),
    "is_username": ("new_password", "新密码不能与用户名相同"),
    "unchanged": ("new_password", "新密码不能与当前密码相同"),
    "confirm_required": ("confirm_password", "请再次输入新密码"),
    "mismatch": ("confirm_password", "两次输入的新密码不一致"),
}


class PasswordRejected(ValidationFailed):
    """422: the new password (or the current one) was refused; nothing changed."""

    def __init__(self, codes: dict[str, str]):
        super().__init__(
            "密码未修改：" + "；".join(RULES[c][1] for c in codes.values()),
            details={"fields": {f: RULES[c][1] for f, c in codes.items()}, "codes": dict(codes)},
        )
        self.codes = dict(codes)


def password_problems(
    username: str, new: str | None, confirm: str | None, current: str | None = None
) -> dict[str, str]:
    """field → rule code for a proposed new password (empty: acceptable). `current` is the current password as
    typed, known to be right (the "not the same" rule); None skips that rule. Touches no database, hashes nothing."""
    new, confirm = new or "", confirm or ""
    problems: dict[str, str] = {}
    if not new:
        problems["new_password"] = "new_required"
    elif len(new) < MIN_LENGTH:
        problems["new_password"] = "too_short"
    elif len(new) > MAX_LENGTH:
        problems["new_password"] = "too_long"
    elif new.strip().casefold() == (username or "").strip().casefold():
        problems["new_password"] = "is_username"
    elif current is not None and new == current:
        problems["new_password"] = "unchanged"
    if not confirm:
        problems["confirm_password"] = "confirm_required"
    elif new and confirm != new:
        problems["confirm_password"] = "mismatch"
    return problems


def change_password(
    session: Session,
    user_id: int,
    current: str | None,
    new: str | None,
    confirm: str | None,
    keep_session_key: str | None = None,
) -> User:
    """The person changes their own password: the current one must be right and the new one must pass every rule
    (else `PasswordRejected`, nothing changed). Clears `must_change_password` and ends every session of the account
    but `keep_session_key` (the one making the change). The caller commits."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise NotFound("用户不存在")
    current = current or ""
    codes: dict[str, str] = {}
    verified = False
    if not current:
        codes["current_password"] = "current_required"
    elif len(current) > MAX_LENGTH or not check_password(user.password_hash, current):
        codes["current_password"] = "current_wrong"
    else:
        verified = True
    codes.update(password_problems(user.username, new, confirm, current if verified else None))
    if codes:
        raise PasswordRejected({f: codes[f] for f in FIELDS if f in codes})
    user.password_hash = hash_password(new or "")  # password_problems refused an empty one
    user.must_change_password = False
    sessions.end_sessions(session, user.id, keep_key=keep_session_key)
    session.flush()
    log.info(
        "password changed",
        extra={
            "event": "password_changed",
            "user_id": user.id,
            "username": user.username,
            "by": user.username,
            "how": "self",
        },
    )
    return user
