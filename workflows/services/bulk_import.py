"""Bulk import of units and users from CSV files (onboarding a region): the administrator console's upload forms and
`flask import-units` / `flask import-users`.

`parse_*_file` reads the file (size, encoding, header, row count); `import_*` validates every row against the file and
the database, reports every problem with its line number and changes nothing if there is one, then writes through
`directory.create_unit` / `update_unit` / `create_user` (the same rules as the forms). The caller's transaction makes
it all or nothing. Existing unit codes are updated (name, parent); existing user names are refused (import only
creates accounts). Imported accounts get a random initial password, returned once to the caller and stored only
hashed (with the hash function the caller passes: `workflows.domain.passwords.hash_password`).

No Flask here.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.domain.errors import DomainError, ValidationFailed
from workflows.domain.models import Unit, User
from workflows.domain.spreadsheet import csv_text, excel_csv
from workflows.services.directory import (
    ASSIGNABLE_ROLES,
    ID_NUMBER_RE,
    UNIT_CODE_RE,
    UNIT_KINDS,
    USERNAME_RE,
    check_role_unit,
    clean_email,
    create_unit,
    create_user,
    update_unit,
)

MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 5000
MAX_IMPORT_ERRORS = 50  # listed in the error details (all are counted)
INITIAL_PASSWORD_LENGTH = 12
_PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"  # no 0/O, 1/l/I: read aloud safely

# column → accepted header names; the first is the one of the template. Compared without spaces, case, "*" and a
# trailing "（…）" note, so "邮箱（可选）" and "Email" are read too.
UNIT_IMPORT_COLUMNS = {
    "code": ("单位代码", "代码", "code", "unit_code"),
    "name": ("单位名称", "名称", "name"),
    "parent_code": ("主管部门代码", "主管部门", "上级单位代码", "上级单位", "上级代码", "parent_code", "parent"),
    "kind": ("类型", "类别", "单位类型", "单位类别", "kind"),
}
USER_IMPORT_COLUMNS = {
    "username": ("用户名", "账号", "username"),
    "display_name": ("姓名", "display_name", "name"),
    "role": ("角色", "role"),
    "unit_code": ("单位代码", "所属单位代码", "所属单位", "单位", "unit_code", "unit"),
    "email": ("邮箱", "电子邮箱", "email"),
    "id_number": ("身份证号", "身份证号码", "id_number"),
}
_UNIT_REQUIRED = ("code", "name", "parent_code", "kind")
_USER_REQUIRED = ("username", "display_name", "role", "unit_code")
_IGNORED_COLUMNS = {"备注", "说明", "remark", "remarks", "note", "notes"}
# Roles a file may create: every assignable role but the administrator (created one by one, on purpose).
IMPORT_ROLES = {k: v for k, v in ASSIGNABLE_ROLES.items() if k != "admin"}

UNIT_IMPORT_TEMPLATE = [
    ["单位代码", "单位名称", "主管部门代码", "类型"],
    ["U0301", "内蒙古自治区示例研究院", "D01", "事业单位"],
]
USER_IMPORT_TEMPLATE = [
    ["用户名", "姓名", "角色", "单位代码", "邮箱", "身份证号"],
    ["hr_example", "张三（示例研究院人事处）", "用人单位人事专员", "U0301", "zhangsan@example.cn", ""],
]


@dataclass
class UnitImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


@dataclass
class ImportedUser:
    username: str
    display_name: str
    role: str
    unit_code: str | None
    password: str  # the initial password in plain text: show it once, never store it


class _LineErrors:
    def __init__(self):
        self.items: list[tuple[int, str]] = []

    def add(self, line: int, message: str) -> None:
        self.items.append((line, message))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        lines = [f"第 {line} 行：{msg}" for line, msg in sorted(self.items, key=lambda x: x[0])]
        shown = lines[:20]
        raise ValidationFailed(
            f"导入文件有误（共 {len(lines)} 处），未做任何修改："
            + "；".join(shown)
            + (f"（另有 {len(lines) - len(shown)} 处）" if len(lines) > len(shown) else ""),
            details={"errors": lines[:MAX_IMPORT_ERRORS], "error_count": len(lines)},
        )


def _decode_table(content: bytes, filename: str) -> str:
    name = (filename or "").lower()
    if content.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")) or name.endswith((".xlsx", ".xls", ".et")):
        raise ValidationFailed(
            "暂不支持 Excel 工作簿（.xlsx/.xls）：请在 Excel 中“另存为”“CSV UTF-8（逗号分隔）”或“CSV（逗号分隔）”后上传"
        )
    try:
        if content.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel "Unicode 文本": UTF-16, tab-separated
            text = content.decode("utf-16")
        elif content.startswith(b"\xef\xbb\xbf"):
            text = content.decode("utf-8-sig")
        else:
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                text = content.decode("gb18030")  # Excel on Chinese Windows ("CSV（逗号分隔）")
    except UnicodeDecodeError:
        raise ValidationFailed("无法识别文件编码：请保存为 UTF-8 或 GB18030（GBK）编码的 CSV 文件") from None
    if "\x00" in text:
        raise ValidationFailed("文件不是文本格式的 CSV：请在 Excel 中“另存为”CSV 后上传")
    return text


def _header_key(cell: str) -> str:
    h = re.sub(r"[（(][^）)]*[）)]\s*$", "", (cell or "").replace("\ufeff", "").strip())
    return re.sub(r"[\s*＊]", "", h).lower()


def _read_table(
    content: bytes, filename: str, columns: dict[str, tuple[str, ...]], required: tuple[str, ...], max_rows: int
) -> list[dict]:
    """Header row, then one dict per data row: {"line": n, column: value, ...} (values stripped). Blank lines and
    lines starting with # are skipped. A file-level problem (size, encoding, header, row count) raises at once."""
    if not content:
        raise ValidationFailed("请选择要导入的文件")
    if len(content) > MAX_IMPORT_BYTES:
        raise ValidationFailed("文件超过 2 MB 的上限：请分批导入")
    text = _decode_table(content, filename)
    first = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    alias = {_header_key(a): col for col, names in columns.items() for a in names}
    mapping: dict[int, str] = {}
    header_seen = False
    width = 0
    rows: list[dict] = []
    count = 0
    prev = 0
    try:
        for record in reader:
            line, prev = prev + 1, reader.line_num
            cells = [c.strip() for c in record]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if not header_seen:
                header_seen = True
                width = max(i for i, c in enumerate(cells) if c) + 1
                unknown = []
                for i, cell in enumerate(cells):
                    key = _header_key(cell)
                    col = alias.get(key)
                    if col is None:
                        if key and key not in _IGNORED_COLUMNS:
                            unknown.append(cell)
                        continue
                    if col in mapping.values():
                        raise ValidationFailed(f"第 {line} 行（表头）：“{cell}”与另一列重复")
                    mapping[i] = col
                template = "，".join(names[0] for names in columns.values())
                missing = [columns[c][0] for c in required if c not in mapping.values()]
                if missing:
                    raise ValidationFailed(
                        f"第 {line} 行（表头）缺少列：{'、'.join(missing)}。首行须为表头：{template}（可下载导入模板）"
                    )
                if unknown:
                    raise ValidationFailed(
                        f"第 {line} 行（表头）有无法识别的列：{'、'.join(unknown)}。可用的列：{template}"
                    )
                continue
            count += 1
            if count > max_rows:
                continue
            row: dict = {"line": line}
            for i, col in mapping.items():
                row[col] = cells[i] if i < len(cells) else ""
            if any(cells[width:]):
                row["_extra"] = "列数多于表头（单元格中的逗号须加引号）"
            rows.append(row)
    except csv.Error as e:
        raise ValidationFailed(f"第 {reader.line_num} 行：CSV 格式错误（{e}）") from None
    if not header_seen:
        raise ValidationFailed("文件为空：首行须为表头（可下载导入模板）")
    if count > max_rows:
        raise ValidationFailed(f"文件有 {count} 行数据，超过上限 {max_rows} 行：请分批导入")
    if not rows:
        raise ValidationFailed("文件中只有表头，没有数据行")
    return rows


def parse_units_file(content: bytes, filename: str = "", max_rows: int = MAX_IMPORT_ROWS) -> list[dict]:
    """CSV with the header 单位代码,单位名称,主管部门代码,类型 (or code,name,parent_code,kind); UTF-8 with or without
    BOM, GB18030, or Excel's UTF-16 text. Returns rows for `import_units`."""
    return _read_table(content, filename, UNIT_IMPORT_COLUMNS, _UNIT_REQUIRED, max_rows)


def parse_users_file(content: bytes, filename: str = "", max_rows: int = MAX_IMPORT_ROWS) -> list[dict]:
    """CSV with the header 用户名,姓名,角色,单位代码[,邮箱][,身份证号] (or username,display_name,role,unit_code,email,
    id_number); no passwords. Returns rows for `import_users`."""
    return _read_table(content, filename, USER_IMPORT_COLUMNS, _USER_REQUIRED, max_rows)


def _cell(row: dict, key: str) -> str:
    value = row.get(key)
    return "" if value is None else str(value).strip()


def _unit_kind(value: str) -> str | None:
    """'' (not given), a kind code, or None (not a kind). Accepts unit/dept/office and 事业单位/主管部门/职能机构."""
    if not value:
        return ""
    if value.lower() in UNIT_KINDS:
        return value.lower()
    return next((k for k, label in UNIT_KINDS.items() if label == value), None)


def _import_role(value: str) -> str | None:
    """A role code (unit_hr) or its Chinese label (用人单位人事专员); None if neither."""
    if value.lower() in ASSIGNABLE_ROLES:
        return value.lower()
    return next((k for k, label in ASSIGNABLE_ROLES.items() if label == value), None)


def import_units(session: Session, rows: list[dict]) -> UnitImportResult:
    """Create or update every unit of the file, or none. A parent may be a unit of the database or of the file
    (also further down). An existing code keeps its kind and gets the file's name and parent."""
    errors = _LineErrors()
    existing = {u.code: u for u in session.scalars(select(Unit))}
    plan: dict[str, dict] = {}
    for i, row in enumerate(rows, 1):
        line = row.get("line") or i
        if row.get("_extra"):
            errors.add(line, row["_extra"])
        code, name = _cell(row, "code"), _cell(row, "name")
        parent = _cell(row, "parent_code") or None
        kind_text = _cell(row, "kind")
        if not code:
            errors.add(line, "缺少单位代码")
            continue
        if not UNIT_CODE_RE.match(code):
            errors.add(line, f"单位代码“{code}”须为 1–32 位字母、数字、下划线或连字符")
            continue
        if code in plan:
            errors.add(line, f"单位代码 {code} 与第 {plan[code]['line']} 行重复")
            continue
        if not name or len(name) > 200:
            errors.add(line, "请填写单位名称（不超过 200 字）")
        parent_bad = bool(parent) and (not UNIT_CODE_RE.match(parent or "") or parent == code)
        if parent_bad:
            errors.add(
                line,
                "上级单位不能是本单位"
                if parent == code
                else f"主管部门代码“{parent}”须为 1–32 位字母、数字、下划线或连字符",
            )
            parent = None
        old = existing.get(code)
        kind = _unit_kind(kind_text)
        if kind is None:
            errors.add(line, f"类型“{kind_text}”无效，应为 事业单位、主管部门、职能机构（或 unit、dept、office）")
        elif not kind and old is None:
            errors.add(line, "新单位须填写类型（事业单位、主管部门或职能机构）")
        elif kind and old is not None and kind != old.kind:
            errors.add(line, f"单位 {code} 现为“{UNIT_KINDS.get(old.kind, old.kind)}”，导入不能修改类型")
        plan[code] = {
            "line": line,
            "name": name,
            "parent": parent,
            "parent_bad": parent_bad,
            "kind": kind or (old.kind if old is not None else None),
        }

    def parent_of(code: str) -> str | None:
        return plan[code]["parent"] if code in plan else existing[code].parent_code

    def kind_of(code: str) -> str | None:
        return plan[code]["kind"] if code in plan else existing[code].kind

    for p in plan.values():
        parent, line = p["parent"], p["line"]
        if parent is None:
            if p["kind"] == "unit" and not p["parent_bad"]:
                errors.add(line, "事业单位须填写主管部门代码")
            continue
        if parent not in plan and parent not in existing:
            errors.add(line, f"主管部门 {parent} 不存在（系统中和文件中都没有）")
        elif p["kind"] == "unit" and kind_of(parent) not in ("dept", None):
            parent_kind = kind_of(parent) or ""
            errors.add(line, f"事业单位的上级须为主管部门，{parent} 是“{UNIT_KINDS.get(parent_kind, parent_kind)}”")
    # Cycles: only the file changes parents (the database has none), so every cycle goes through a row of the file.
    reported: set[frozenset] = set()
    for code in plan:
        path: list[str] = []
        index: dict[str, int] = {}
        cur: str | None = code
        while cur is not None and cur not in index and (cur in plan or cur in existing):
            index[cur] = len(path)
            path.append(cur)
            cur = parent_of(cur)
        if cur is not None and cur in index:
            cycle = path[index[cur] :]
            if len(cycle) > 1 and frozenset(cycle) not in reported:
                reported.add(frozenset(cycle))
                lines = sorted(plan[c]["line"] for c in cycle if c in plan)
                errors.add(
                    lines[0],
                    "上级关系形成循环：" + " → ".join(cycle + [cycle[0]]) + f"（第 {'、'.join(map(str, lines))} 行）",
                )
    errors.raise_if_any()

    # Parents first (an order in which no intermediate state has a cycle or a missing parent).
    order: list[str] = []
    placed: set[str] = set()
    for code in plan:
        chain: list[str] = []
        cur = code
        while cur is not None and cur in plan and cur not in placed:
            chain.append(cur)
            placed.add(cur)
            cur = plan[cur]["parent"]
        order.extend(reversed(chain))
    result = UnitImportResult()
    for code in order:
        p, old = plan[code], existing.get(code)
        try:
            if old is None:
                create_unit(session, code, p["name"], p["parent"], p["kind"])
                result.created.append(code)
            elif old.name == p["name"] and old.parent_code == p["parent"]:
                result.unchanged.append(code)
            else:
                update_unit(session, code, p["name"], p["parent"])
                result.updated.append(code)
        except DomainError as e:  # the checks above should have caught it; the caller's transaction rolls back
            raise ValidationFailed(
                f"第 {p['line']} 行：{e.message}（未做任何修改）",
                details={"errors": [f"第 {p['line']} 行：{e.message}"], "error_count": 1},
            ) from None
    return result


def new_initial_password() -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(INITIAL_PASSWORD_LENGTH))


def check_users(session: Session, rows: list[dict]) -> list[dict]:
    """Validate every row of a user file against the file and the database (reads only); raise `ValidationFailed`
    with every problem and its line number, else return the rows normalised. The units must exist already (import
    them first). A user name that exists is an error: the import never changes an account."""
    errors = _LineErrors()
    for _u in session.scalars(select(Unit)):  # in the identity map: the per-row unit checks read no more
        pass
    taken = set(session.scalars(select(User.username)))
    seen: dict[str, int] = {}
    valid: list[dict] = []
    for i, row in enumerate(rows, 1):
        line = row.get("line") or i
        before = len(errors.items)
        if row.get("_extra"):
            errors.add(line, row["_extra"])
        username, display_name = _cell(row, "username"), _cell(row, "display_name")
        role_text, unit_code = _cell(row, "role"), _cell(row, "unit_code") or None
        id_number = _cell(row, "id_number").upper() or None
        if not USERNAME_RE.match(username):
            errors.add(
                line,
                f"用户名“{username}”须以字母开头，3–64 位字母、数字、下划线、点或连字符" if username else "缺少用户名",
            )
        elif username in seen:
            errors.add(line, f"用户名 {username} 与第 {seen[username]} 行重复")
        elif username in taken:
            errors.add(line, f"用户名 {username} 已存在（导入只新建账号：请删去此行，已有账号在“用户与角色”页修改）")
        if USERNAME_RE.match(username):
            seen.setdefault(username, line)
        if not display_name or len(display_name) > 100:
            errors.add(line, "请填写姓名（不超过 100 字）")
        role = _import_role(role_text)
        if role is None:
            errors.add(
                line,
                f"角色“{role_text}”无效，可用：" + "、".join(f"{k}（{v}）" for k, v in IMPORT_ROLES.items())
                if role_text
                else "缺少角色",
            )
        elif role not in IMPORT_ROLES:
            errors.add(line, "系统管理员账号不能批量导入，请在“用户与角色”页逐个创建")
        else:
            try:
                unit_code = check_role_unit(session, role, unit_code)
            except ValidationFailed as e:
                errors.add(line, e.message)
            if role == "applicant" and not id_number:
                errors.add(line, "申请人账号须填写身份证号")
        try:
            email = clean_email(_cell(row, "email"))
        except ValidationFailed as e:
            errors.add(line, f"{e.message}（{_cell(row, 'email')}）")
            email = None
        if id_number and not ID_NUMBER_RE.match(id_number):
            errors.add(line, "身份证号须为 18 位（Excel 可能把它显示成科学计数法：请把该列设为“文本”）")
        if len(errors.items) == before:
            valid.append(
                {
                    "line": line,
                    "username": username,
                    "display_name": display_name,
                    "role": role,
                    "unit_code": unit_code,
                    "email": email,
                    "id_number": id_number,
                }
            )
    errors.raise_if_any()
    return valid


def hash_initial_passwords(usernames: list[str], hash_password: Callable[[str], str]) -> dict[str, tuple[str, str]]:
    """username → (random initial password, its hash). Touches no database: call it between `check_users` and
    `import_users`, outside any transaction — the app's hash (scrypt) takes about 0.1 s per account, and on SQLite
    an open transaction holds the write lock. The hash releases the GIL, so a few threads share the work."""
    plain = {u: new_initial_password() for u in usernames}
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        hashes = dict(zip(plain, pool.map(hash_password, plain.values())))
    return {u: (plain[u], hashes[u]) for u in plain}


def import_users(
    session: Session,
    rows: list[dict],
    hash_password: Callable[[str], str] | None = None,
    *,
    initial_passwords: dict[str, tuple[str, str]] | None = None,
) -> list[ImportedUser]:
    """Create every account of the file, or none (`check_users` first, again: the database may have changed).
    Each account gets a random initial password: from `initial_passwords` (see `hash_initial_passwords`) or made
    here and hashed with `hash_password` (the web layer's hash, as for the forms). Only the hash is stored; the
    plain text is returned, once. Every account must change its initial password at first sign-in."""
    valid = check_users(session, rows)
    missing = [r["username"] for r in valid if r["username"] not in (initial_passwords or {})]
    if missing and hash_password is None:
        raise ValueError(f"no initial password for {', '.join(missing[:5])}")
    passwords = dict(initial_passwords or {})
    if missing and hash_password is not None:
        passwords.update(hash_initial_passwords(missing, hash_password))
    out: list[ImportedUser] = []
    for r in valid:
        password, password_hash = passwords[r["username"]]
        try:
            user = create_user(
                session,
                r["username"],
                r["display_name"],
                r["role"],
                r["unit_code"],
                password_hash,
                r["id_number"],
                r["email"],
                must_change_password=True,
            )
        except DomainError as e:  # checked above; the caller's transaction rolls back
            raise ValidationFailed(
                f"第 {r['line']} 行：{e.message}（未做任何修改）",
                details={"errors": [f"第 {r['line']} 行：{e.message}"], "error_count": 1},
            ) from None
        out.append(ImportedUser(user.username, user.display_name, user.role, user.unit_code, password))
    return out


def import_template_csv(kind: str) -> bytes:
    """The downloadable template (header and one example line), UTF-8 with BOM so that Excel opens it correctly."""
    return excel_csv(UNIT_IMPORT_TEMPLATE if kind == "units" else USER_IMPORT_TEMPLATE)


def initial_passwords_csv(users: list[ImportedUser]) -> str:
    """用户名,姓名,初始密码 — for handing the accounts out (the only place the plain passwords ever appear)."""
    return csv_text([["用户名", "姓名", "初始密码"], *([u.username, u.display_name, u.password] for u in users)])
