"""Who is acting: a user with a role and a unit, or the system itself (timers, messages)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

ROLE_LABELS = {
    "applicant": "申请人",
    "unit_hr": "用人单位人事专员",
    "dept": "主管部门审核员",
    "bianban": "编办",
    "hrss": "人社部门审核员",
    "committee": "评委会办公室",
    "rights_office": "权益保障窗口受理人员",
    "admin": "系统管理员",
    "system": "系统",
}
REGION_ROLES = {"bianban", "hrss", "committee"}
# BPMN lane name → the role whose officers act in it (the modeler offers these names).
LANE_ROLES: dict[str, str] = {
    "申请人": "applicant",
    "用人单位": "unit_hr",
    "主管部门": "dept",
    "编办": "bianban",
    "人社部门": "hrss",
    "评委会办公室": "committee",
    # the 科研人员权益保障 window: officers of the office a complaint is routed to (their unit is that office)
    "权益保障窗口": "rights_office",
}


class UserLike(Protocol):
    @property
    def username(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def unit_code(self) -> str | None: ...
    @property
    def id(self) -> int | None: ...
    @property
    def id_number(self) -> str | None: ...


@dataclass(frozen=True)
class Actor:
    username: str
    role: str
    unit_code: str | None = None
    user_id: int | None = None
    id_number: str | None = None

    @classmethod
    def from_user(cls, user: UserLike) -> Actor:
        """The actor a stored account acts as (the one way to build it from a `User`)."""
        return cls(user.username, user.role, user.unit_code, user.id, user.id_number)

    @property
    def is_system(self) -> bool:
        """The engine itself (timers, messages, CLI without --as): may act on any step."""
        return self.role == "system"

    @property
    def sees_everything(self) -> bool:
        """Administrators and the system see every case; an administrator acts on no step (no lane is theirs)."""
        return self.role in ("system", "admin")


SYSTEM = Actor("system", "system")
