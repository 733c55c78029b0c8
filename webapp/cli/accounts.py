"""Accounts and the units they belong to: one account at a time, CSV files of units and users (onboarding a region),
API tokens."""

from __future__ import annotations

import os

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.cli.common import service_session
from workflows.domain.models import ApiToken, User

cli = AppGroup("accounts", help="账号：创建用户，批量导入单位与用户，API 令牌，解除登录锁定。")


@cli.command("create-user")
@click.argument("username")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["admin", "unit_hr", "dept", "bianban", "hrss", "committee", "applicant"]),
)
@click.option("--name", "display_name", required=True, help="姓名")
@click.option("--unit", "unit_code", default=None, help="所属单位代码")
@click.option("--id-number", default=None, help="身份证号（申请人必填）")
@click.option("--email", default=None)
@click.password_option(help="密码（至少 10 位，不能与用户名相同）；不给时交互输入两次")
def create_user_cmd(username, role, display_name, unit_code, id_number, email, password):
    """创建用户（例如新装系统的第一个管理员）。"""
    from workflows.domain.passwords import hash_password
    from workflows.infra.db import transaction
    from workflows.services.accounts import RULES, password_problems
    from workflows.services.directory import create_user

    # the person types it for themselves (no change forced at sign-in), so the self-service rules apply
    problems = password_problems(username, password or "", password or "")
    if problems:
        raise click.ClickException("；".join(RULES[code][1] for code in problems.values()))
    with service_session() as s:
        with transaction(s):
            u = create_user(s, username, display_name, role, unit_code, hash_password(password), id_number, email)
        click.echo(f"已创建用户 {u.username}（{u.role}）")


def _import_content(path: str) -> bytes:
    from workflows.services.bulk_import import MAX_IMPORT_BYTES

    with open(path, "rb") as f:
        return f.read(MAX_IMPORT_BYTES + 1)  # one byte more: the parser says "too large"


@cli.command("import-units")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="只检查文件，不写入")
def import_units_cmd(path: str, dry_run: bool):
    """批量导入单位（CSV：单位代码,单位名称,主管部门代码,类型）；有任何错误则逐行列出，不做修改。"""
    from workflows.infra.db import transaction
    from workflows.services import bulk_import

    content = _import_content(path)
    with service_session(line_errors=True) as s:
        rows = bulk_import.parse_units_file(content, path)
        if dry_run:
            r = bulk_import.import_units(s, rows)
            s.rollback()
        else:
            with transaction(s):
                r = bulk_import.import_units(s, rows)
        click.echo(
            f"{'检查通过（未写入）：将' if dry_run else '已导入单位：'}新增 {len(r.created)} 个，"
            f"更新 {len(r.updated)} 个，未变 {len(r.unchanged)} 个"
        )


@cli.command("import-users")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--passwords-out",
    type=click.Path(dir_okay=False),
    default=None,
    help="把初始密码（用户名,姓名,初始密码）写入此新文件（权限 600）；不给时打印到标准输出",
)
@click.option("--dry-run", is_flag=True, help="只检查文件，不写入")
def import_users_cmd(path: str, passwords_out: str | None, dry_run: bool):
    """批量导入用户（CSV：用户名,姓名,角色,单位代码[,邮箱][,身份证号]），每个账号生成随机初始密码（只输出这一次）。"""
    from workflows.domain.passwords import hash_password
    from workflows.infra.db import transaction
    from workflows.services import bulk_import

    content = _import_content(path)
    fd = None
    if passwords_out and not dry_run:  # created first, so that a passwords file that cannot be written stops
        try:  # the import before anything is stored
            fd = os.open(passwords_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise click.ClickException(f"{passwords_out} 已存在：为免覆盖之前的初始密码，请另选文件名") from None
        except OSError as e:
            raise click.ClickException(f"无法创建 {passwords_out}：{e.strerror}") from None
    try:
        with service_session(line_errors=True) as s:
            rows = bulk_import.parse_users_file(content, path)
            valid = bulk_import.check_users(s, rows)
            if dry_run:
                click.echo(f"检查通过（未写入）：将新建 {len(valid)} 个用户")
                return
            passwords = bulk_import.hash_initial_passwords([r["username"] for r in valid], hash_password)
            with transaction(s):
                created = bulk_import.import_users(s, rows, initial_passwords=passwords)
    except BaseException:
        if fd is not None:
            os.close(fd)
            os.unlink(passwords_out)
        raise
    text = bulk_import.initial_passwords_csv(created)
    if fd is not None:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as f:
            f.write(text)
        click.echo(
            f"已导入 {len(created)} 个用户；初始密码已写入 {passwords_out}（系统不保存明文：请妥善保管，分发后删除）"
        )
    else:
        click.echo(text, nl=False)
        click.echo(f"已导入 {len(created)} 个用户；以上初始密码只输出这一次，系统不保存明文", err=True)


@cli.command("create-token")
@click.argument("username")
@click.option("--name", default="命令行创建", help="令牌名称")
@click.option(
    "--days", type=click.IntRange(1, 3650), default=None, help="有效天数（默认取 API_TOKEN_DAYS，初始为 90 天）"
)
def create_token_cmd(username: str, name: str, days: int | None):
    """为用户创建 API 令牌（明文只显示这一次）。"""
    from webapp.api import new_token
    from workflows.domain.clock import LOCAL_TZ, as_utc

    with service_session() as s:
        user = s.scalar(select(User).where(User.username == username))
        if user is None or not user.active:
            raise click.ClickException(f"用户不存在或已停用：{username}")
        row, secret = new_token(s, user, name, days)
        until = as_utc(row.expires_at).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
        click.echo(
            f"令牌 #{row.id}（{row.name}）已为 {user.username} 创建，有效至 {until}，请妥善保存（只显示这一次）："
        )
        click.echo(secret)


@cli.command("unlock-user")
@click.argument("username")
def unlock_user_cmd(username: str):
    """解除账号因密码连续错误而被锁定的登录限制。"""
    from workflows.infra.db import transaction
    from workflows.services import sign_in

    with service_session() as s:
        with transaction(s):
            was_locked = sign_in.unlock(s, sign_in.ACCOUNT, username, by="cli")
    click.echo(f"已解除 {username} 的登录锁定" if was_locked else f"{username} 未被锁定（失败计数已清零）")


@cli.command("unlock-address")
@click.argument("address")
def unlock_address_cmd(address: str):
    """解除某个客户端地址因登录失败过多而被暂停的登录。"""
    from workflows.infra.db import transaction
    from workflows.services import sign_in

    with service_session() as s:
        with transaction(s):
            was_locked = sign_in.unlock(s, sign_in.ADDRESS, address, by="cli")
    click.echo(f"已解除地址 {address} 的登录限制" if was_locked else f"地址 {address} 未被限制（失败计数已清零）")


@cli.command("revoke-token")
@click.argument("token_id", type=int)
def revoke_token_cmd(token_id: int):
    """吊销 API 令牌。"""
    from workflows.infra.db import transaction

    with service_session() as s:
        with transaction(s):
            row = s.get(ApiToken, token_id)
            if row is None:
                raise click.ClickException(f"令牌不存在：{token_id}")
            row.revoked = True
        click.echo(f"令牌 #{token_id} 已吊销")
