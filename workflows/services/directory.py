"""Who works in the system and where: user accounts and their roles, units and their hierarchy (the administrator
console's 用户与角色 and 单位 pages, `flask create-user`, and the rules the bulk import applies row by row).

No Flask and no hashing here: callers pass a password hash (`workflows.domain.passwords.hash_password`). Every function
validates first and changes nothing on bad input (it raises a `DomainError` with a Chinese message); the callers wrap
writes in `workflows.infra.db.transaction`.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.domain.actors import ROLE_LABELS
from workflows.domain.errors import Conflict, NotFound, ValidationFailed
from workflows.domain.models import Unit, User
from workflows.services import sessions

log = logging.getLogger(__name__)

# -- users and roles -----------------------------------------------------------------------------------------------

ASSIGNABLE_ROLES = {k: v for k, v in ROLE_LABELS.items() if k != "system"}
UNIT_ROLES = {"unit_hr", "dept", "bianban", "hrss", "committee"}  # need a unit
USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{2,63}$")
ID_NUMBER_RE = re.compile(r"^\d{17}[\dXx]$")


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.role, User.username)))


def check_role_unit(session: Session, role: str, unit_code: str | None) -> str | None:
    if role not in ASSIGNABLE_ROLES:
        raise ValidationFailed(f"未知的角色：{role}")
    unit_code = (unit_code or "").strip() or None
    if unit_code and session.get(Unit, unit_code) is None:
        raise ValidationFailed(f"单位 {unit_code} 不存在")
    if role in UNIT_ROLES and not unit_code:
        raise ValidationFailed(f"角色“{ASSIGNABLE_ROLES[role]}”须指定所属单位")
    unit = session.get(Unit, unit_code) if unit_code else None
    if role == "dept" and (unit is None or unit.kind != "dept"):
        raise ValidationFailed("主管部门审核员须属于主管部门类单位")
    return unit_code


def create_user(
    session: Session,
    username: str,
    display_name: str,
    role: str,
    unit_code: str | None,
    password_hash: str,
    id_number: str | None = None,
    email: str | None = None,
    *,
    must_change_password: bool = False,
) -> User:
    """`must_change_password`: someone else chose the password (the administrator's form, the bulk import), so the
    person is sent to change it at first sign-in; false when they typed it themselves (`flask create-user`)."""
    username = (username or "").strip()
    email = clean_email(email)
    display_name = (display_name or "").strip()
    if not USERNAME_RE.match(username):
        raise ValidationFailed("用户名须以字母开头，3–64 位字母、数字、下划线、点或连字符")
    if not display_name or len(display_name) > 100:
        raise ValidationFailed("请填写姓名（不超过 100 字）")
    if not password_hash:
        raise ValidationFailed("请设置初始密码")
    unit_code = check_role_unit(session, role, unit_code)
    id_number = (id_number or "").strip().upper() or None
    if id_number and not ID_NUMBER_RE.match(id_number):
        raise ValidationFailed("身份证号须为 18 位")
    if role == "applicant" and not id_number:
        raise ValidationFailed("申请人账号须填写身份证号")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"用户名 {username} 已存在")
    user = User(
        username=username,
        display_name=display_name,
        role=role,
        unit_code=unit_code,
        password_hash=password_hash,
        id_number=id_number,
        email=email,
        active=True,
        must_change_password=must_change_password,
    )
    session.add(user)
    session.flush()
    return user


EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")


def clean_email(value: str | None) -> str | None:
    value = (value or "").strip()
    if value and (len(value) > 200 or not EMAIL_RE.match(value)):
        raise ValidationFailed("电子邮箱格式不正确")
    return value or None


def get_user(session: Session, user_id: int) -> User:
    return _user(session, user_id)


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("用户不存在")
    return user


def _last_admin(session: Session, user: User) -> bool:
    return (
        user.role == "admin"
        and user.active
        and (
            session.scalar(select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True)))
            or 0
        )
        <= 1
    )


def update_user(
    session: Session,
    user_id: int,
    role: str,
    unit_code: str | None,
    display_name: str | None = None,
    by_user_id: int | None = None,
    email: str | None = None,
) -> User:
    user = _user(session, user_id)
    if email is not None:
        user.email = clean_email(email)
    unit_code = check_role_unit(session, role, unit_code)
    if user.id == by_user_id and role != "admin":
        raise ValidationFailed("不能取消自己的管理员角色")
    if role != "admin" and _last_admin(session, user):
        raise ValidationFailed("至少保留一名在用的系统管理员")
    if display_name is not None:
        display_name = display_name.strip()
        if not display_name or len(display_name) > 100:
            raise ValidationFailed("请填写姓名（不超过 100 字）")
        user.display_name = display_name
    user.role = role
    user.unit_code = unit_code
    session.flush()
    return user


def set_password_hash(
    session: Session,
    user_id: int,
    password_hash: str,
    *,
    must_change: bool = True,
    by: str | None = None,
    keep_session_key: str | None = None,
) -> User:
    """An administrator (`by`) sets someone's password: by default they must change it at their next sign-in. Their
    open sessions end (but `keep_session_key`: an administrator resetting their own) and their API tokens are
    revoked (`sessions.end_credentials`)."""
    user = _user(session, user_id)
    if not password_hash:
        raise ValidationFailed("密码不能为空")
    user.password_hash = password_hash
    user.must_change_password = must_change
    sessions.end_credentials(session, user, "password_reset", by=by, keep_session_key=keep_session_key)
    session.flush()
    log.info(
        "password reset by an administrator",
        extra={
            "event": "password_reset",
            "user_id": user.id,
            "username": user.username,
            "by": by,
            "how": "admin",
            "must_change_password": must_change,
        },
    )
    return user


def set_active(
    session: Session, user_id: int, active: bool, by_user_id: int | None = None, by: str | None = None
) -> User:
    """Deactivating ends the account's sessions and revokes its API tokens (reactivating revives none of them)."""
    user = _user(session, user_id)
    if not active and user.id == by_user_id:
        raise ValidationFailed("不能停用自己的账号")
    if not active and _last_admin(session, user):
        raise ValidationFailed("至少保留一名在用的系统管理员")
    if user.active and not active:
        sessions.end_credentials(session, user, "deactivated", by=by)
    user.active = active
    session.flush()
    return user


# -- units and their hierarchy -------------------------------------------------------------------------------------

UNIT_KINDS = {"unit": "事业单位", "dept": "主管部门", "office": "职能机构"}
UNIT_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def unit_tree(session: Session) -> list[tuple[int, Unit]]:
    """Depth-first (depth, unit) list, roots first."""
    units = list(session.scalars(select(Unit).order_by(Unit.code)))
    children: dict[str | None, list[Unit]] = {}
    for u in units:
        children.setdefault(u.parent_code, []).append(u)
    out: list[tuple[int, Unit]] = []

    def walk(code, depth):
        for u in children.get(code, []):
            out.append((depth, u))
            walk(u.code, depth + 1)

    walk(None, 0)
    return out


def create_unit(session: Session, code: str, name: str, parent_code: str | None, kind: str) -> Unit:
    code, name = (code or "").strip(), (name or "").strip()
    parent_code = (parent_code or "").strip() or None
    if not UNIT_CODE_RE.match(code):
        raise ValidationFailed("单位代码须为 1–32 位字母、数字、下划线或连字符")
    if not name or len(name) > 200:
        raise ValidationFailed("请填写单位名称（不超过 200 字）")
    if kind not in UNIT_KINDS:
        raise ValidationFailed("单位类别无效")
    if session.get(Unit, code) is not None:
        raise Conflict(f"单位代码 {code} 已存在")
    if parent_code:
        parent = session.get(Unit, parent_code)
        if parent is None:
            raise ValidationFailed(f"上级单位 {parent_code} 不存在")
        if kind == "unit" and parent.kind != "dept":
            raise ValidationFailed("事业单位的上级须为主管部门")
    elif kind == "unit":
        raise ValidationFailed("事业单位须指定主管部门（上级单位）")
    unit = Unit(code=code, name=name, parent_code=parent_code, kind=kind)
    session.add(unit)
    session.flush()
    return unit


def update_unit(session: Session, code: str, name: str, parent_code: str | None) -> Unit:
    unit = session.get(Unit, code)
    if unit is None:
        raise NotFound("单位不存在")
    name = (name or "").strip()
    parent_code = (parent_code or "").strip() or None
    if not name or len(name) > 200:
        raise ValidationFailed("请填写单位名称（不超过 200 字）")
    if parent_code:
        parent = session.get(Unit, parent_code)
        if parent is None:
            raise ValidationFailed(f"上级单位 {parent_code} 不存在")
        cur: Unit | None = parent
        while cur is not None:
            if cur.code == unit.code:
                raise ValidationFailed("上级单位不能是本单位或其下级单位")
            cur = session.get(Unit, cur.parent_code) if cur.parent_code else None
        if unit.kind == "unit" and parent.kind != "dept":
            raise ValidationFailed("事业单位的上级须为主管部门")
    elif unit.kind == "unit":
        raise ValidationFailed("事业单位须指定主管部门（上级单位）")
    unit.name = name
    unit.parent_code = parent_code
    session.flush()
    return unit
