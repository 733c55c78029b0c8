"""Flask CLI commands: set up the database, deploy definitions, inspect and move cases, sweep timers."""
from __future__ import annotations

import json
from contextlib import contextmanager
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import select

from workflows.domain.actors import SYSTEM, Actor
from workflows.domain.errors import DomainError
from workflows.domain.models import Case, OpenTask, User


def _session():
    return current_app.extensions["db_factory"]()


@contextmanager
def _service_session():
    """A session for one command; a refused service call becomes the command's error message (exit 1)."""
    s = _session()
    try:
        yield s
    except DomainError as e:
        _fail(e)
    finally:
        s.close()


def _actor(session, username: str | None) -> Actor:
    if not username:
        return SYSTEM
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"用户不存在：{username}")
    return Actor(user.username, user.role, user.unit_code, user.id, user.id_number)


def _fail(e: DomainError):
    detail = f" {json.dumps(e.details, ensure_ascii=False)}" if e.details else ""
    raise click.ClickException(f"{e.message}{detail}")


def register_cli(app: Flask) -> None:
    @app.cli.command("init-db")
    @click.option("--demo", is_flag=True, help="加载演示数据")
    @click.option("--demo-if-empty", is_flag=True, help="数据库为空时加载演示数据")
    def init_db(demo: bool, demo_if_empty: bool):
        """建表并部署内置流程定义。"""
        from workflows.services.definitions import deploy_bundled
        from workflows.infra.db import transaction
        from webapp.demo.accounts import has_data, load_demo
        from workflows.infra.migrate import prepare
        click.echo(f"数据库：{prepare(current_app.extensions['db_engine'])}")
        with _service_session() as s:
            with transaction(s):
                defs = deploy_bundled(s)
            for d in defs:
                click.echo(f"流程 {d.process_id} v{d.version}（{d.status}）{d.sha256[:12]}")
            if demo or (demo_if_empty and not has_data(s)):
                n = load_demo(s)
                s.commit()  # end the read transaction: on SQLite it would hold the lock the renderer needs
                from webapp.issuing import render_pending
                docs = render_pending(current_app.extensions["db_factory"], limit=1000)
                click.echo(f"已加载演示数据：{n} 个办件，{docs} 份文书")

    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--role", required=True, type=click.Choice(
        ["admin", "unit_hr", "dept", "bianban", "hrss", "committee", "applicant"]))
    @click.option("--name", "display_name", required=True, help="姓名")
    @click.option("--unit", "unit_code", default=None, help="所属单位代码")
    @click.option("--id-number", default=None, help="身份证号（申请人必填）")
    @click.option("--email", default=None)
    @click.password_option(help="密码（至少 10 位，不能与用户名相同）；不给时交互输入两次")
    def create_user_cmd(username, role, display_name, unit_code, id_number, email, password):
        """创建用户（例如新装系统的第一个管理员）。"""
        from werkzeug.security import generate_password_hash
        from workflows.infra.db import transaction
        from workflows.services.directory import create_user
        from workflows.services.accounts import RULES, password_problems
        # the person types it for themselves (no change forced at sign-in), so the self-service rules apply
        problems = password_problems(username, password or "", password or "")
        if problems:
            raise click.ClickException("；".join(RULES[code][1] for code in problems.values()))
        with _service_session() as s:
            with transaction(s):
                u = create_user(s, username, display_name, role, unit_code, generate_password_hash(password),
                                id_number, email)
            click.echo(f"已创建用户 {u.username}（{u.role}）")

    @contextmanager
    def _import_session():
        """Like _service_session, but a refused file prints its line errors (stderr) before failing (exit 1)."""
        s = _session()
        try:
            yield s
        except DomainError as e:
            errors = (e.details or {}).get("errors") or []
            if not errors:
                _fail(e)
            for line in errors:
                click.echo(f"  {line}", err=True)
            count = e.details.get("error_count", len(errors))
            more = f"，仅列出前 {len(errors)} 处" if count > len(errors) else ""
            raise click.ClickException(f"导入文件有误（共 {count} 处{more}），未做任何修改")
        finally:
            s.close()

    def _import_content(path: str) -> bytes:
        from workflows.services.bulk_import import MAX_IMPORT_BYTES
        with open(path, "rb") as f:
            return f.read(MAX_IMPORT_BYTES + 1)  # one byte more: the parser says "too large"

    @app.cli.command("import-units")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--dry-run", is_flag=True, help="只检查文件，不写入")
    def import_units_cmd(path: str, dry_run: bool):
        """批量导入单位（CSV：单位代码,单位名称,主管部门代码,类型）；有任何错误则逐行列出，不做修改。"""
        from workflows.infra.db import transaction
        from workflows.services import bulk_import as svc
        content = _import_content(path)
        with _import_session() as s:
            rows = svc.parse_units_file(content, path)
            if dry_run:
                r = svc.import_units(s, rows)
                s.rollback()
            else:
                with transaction(s):
                    r = svc.import_units(s, rows)
            click.echo(f"{'检查通过（未写入）：将' if dry_run else '已导入单位：'}新增 {len(r.created)} 个，"
                       f"更新 {len(r.updated)} 个，未变 {len(r.unchanged)} 个")

    @app.cli.command("import-users")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--passwords-out", type=click.Path(dir_okay=False), default=None,
                  help="把初始密码（用户名,姓名,初始密码）写入此新文件（权限 600）；不给时打印到标准输出")
    @click.option("--dry-run", is_flag=True, help="只检查文件，不写入")
    def import_users_cmd(path: str, passwords_out: str | None, dry_run: bool):
        """批量导入用户（CSV：用户名,姓名,角色,单位代码[,邮箱][,身份证号]），每个账号生成随机初始密码（只输出这一次）。"""
        import os
        from werkzeug.security import generate_password_hash
        from workflows.infra.db import transaction
        from workflows.services import bulk_import as svc
        content = _import_content(path)
        fd = None
        if passwords_out and not dry_run:  # created first, so that a passwords file that cannot be written stops
            try:                            # the import before anything is stored
                fd = os.open(passwords_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                raise click.ClickException(f"{passwords_out} 已存在：为免覆盖之前的初始密码，请另选文件名") from None
            except OSError as e:
                raise click.ClickException(f"无法创建 {passwords_out}：{e.strerror}") from None
        try:
            with _import_session() as s:
                rows = svc.parse_users_file(content, path)
                try:
                    valid = svc.check_users(s, rows)
                finally:
                    s.rollback()  # no transaction (on SQLite: no write lock) while the passwords are hashed
                if dry_run:
                    click.echo(f"检查通过（未写入）：将新建 {len(valid)} 个用户")
                    return
                passwords = svc.hash_initial_passwords([r["username"] for r in valid], generate_password_hash)
                with transaction(s):
                    created = svc.import_users(s, rows, initial_passwords=passwords)
        except BaseException:
            if fd is not None:
                os.close(fd)
                os.unlink(passwords_out)
            raise
        text = svc.initial_passwords_csv(created)
        if fd is not None:
            with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as f:
                f.write(text)
            click.echo(f"已导入 {len(created)} 个用户；初始密码已写入 {passwords_out}（系统不保存明文：请妥善保管，分发后删除）")
        else:
            click.echo(text, nl=False)
            click.echo(f"已导入 {len(created)} 个用户；以上初始密码只输出这一次，系统不保存明文", err=True)

    @app.cli.command("db-upgrade")
    def db_upgrade():
        """把数据库结构升级到最新版本（Alembic）。"""
        from workflows.infra.migrate import current_revision, prepare
        click.echo(f"{prepare(current_app.extensions['db_engine'])}：{current_revision(current_app.extensions['db_engine'])}")

    @app.cli.command("deploy")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    def deploy_cmd(path: str):
        """部署一个 BPMN 文件（同目录的 DMN 与表单一并部署）。"""
        from workflows.services.definitions import deploy_file
        from workflows.infra.db import transaction
        from workflows.domain.errors import DefinitionInvalid
        with _service_session() as s:
            try:
                with transaction(s):
                    d = deploy_file(s, Path(path))
            except DefinitionInvalid as e:
                for err in e.errors:
                    click.echo(f"  第{err.line or '?'}行 {err.element_id or ''} {err.element_name or ''}："
                               f"{err.message}", err=True)
                raise click.ClickException("流程定义未通过校验，未部署")
            click.echo(f"已发布 {d.process_id} v{d.version} {d.sha256[:12]}")

    @app.cli.command("cases")
    @click.option("--status", default=None)
    @click.option("--limit", default=50, show_default=True)
    def cases_cmd(status: str | None, limit: int):
        """列出办件。"""
        s = _session()
        q = select(Case).order_by(Case.id.desc()).limit(limit)
        if status:
            q = q.where(Case.status == status)
        for c in s.scalars(q):
            click.echo(f"{c.case_no}\t{c.procedure}\t{c.applicant_name}\t{c.status}\t"
                       f"v{c.version}\t{c.next_timer_at.isoformat() if c.next_timer_at else '-'}")
        s.close()

    @app.cli.command("tasks")
    @click.option("--case", "case_no", default=None)
    @click.option("--role", default=None)
    def tasks_cmd(case_no: str | None, role: str | None):
        """列出待办环节。"""
        s = _session()
        q = select(OpenTask, Case.case_no).join(Case).order_by(OpenTask.id)
        if case_no:
            q = q.where(Case.case_no == case_no)
        if role:
            q = q.where(OpenTask.role == role)
        for t, no in s.execute(q):
            click.echo(f"{no}\t{t.task_id}\t{t.title}\t{t.role}\t{t.scope_unit_code or '全区'}\t"
                       f"{t.due_on or '-'}\t{t.form or '-'}")
        s.close()

    @app.cli.command("complete")
    @click.argument("case_no")
    @click.argument("task_id")
    @click.option("--data", default="{}", help="表单数据（JSON）")
    @click.option("--as", "username", default=None, help="以该用户身份办理")
    def complete_cmd(case_no: str, task_id: str, data: str, username: str | None):
        """办理一个待办环节。"""
        from workflows.services.cases import complete_task
        try:
            payload = json.loads(data)
        except json.JSONDecodeError as e:
            raise click.ClickException(f"--data 不是有效的 JSON：{e}")
        with _service_session() as s:
            c = complete_task(s, case_no, task_id, payload, _actor(s, username))
            click.echo(f"{c.case_no} → {c.status}")

    @app.cli.command("supply")
    @click.argument("case_no")
    @click.argument("code")
    @click.option("--as", "username", default=None)
    def supply_cmd(case_no: str, code: str, username: str | None):
        """补交一项容缺材料。"""
        from workflows.services.cases import supply_material
        with _service_session() as s:
            c = supply_material(s, case_no, code, _actor(s, username))
            click.echo(f"{c.case_no} → {c.status}")

    def _sweep(loop: bool, interval: float):
        """SIGTERM/SIGINT stop the loop gracefully: the case (or document) in hand is finished and committed, then
        the process exits 0 before opening the next one. In loop mode a failed round (e.g. the database restarting)
        is logged and retried after `interval`."""
        import logging
        import signal
        import threading
        from workflows.services.timers import fire_due_timers
        from webapp.issuing import render_pending
        from webapp.mailer import notification_round
        factory = current_app.extensions["db_factory"]
        stop = threading.Event()

        class _Stopping(Exception):
            pass

        def guarded():  # the sweep opens one session per case: refuse the next one once asked to stop
            if stop.is_set():
                raise _Stopping()
            return factory()

        def _on_signal(signum, _frame):
            click.echo(f"收到信号 {signal.Signals(signum).name}：完成当前办件后退出", err=True)
            stop.set()

        previous = {}
        if threading.current_thread() is threading.main_thread():  # signals can only be handled there
            previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not stop.is_set():
                try:
                    n = fire_due_timers(guarded)
                    click.echo(f"定时器扫描：推进 {n} 个办件")
                    docs = render_pending(guarded, limit=500)
                    click.echo(f"文书生成：{docs} 份")
                    reminded, mailed = notification_round(guarded)
                    if reminded or mailed:
                        click.echo(f"通知：补件提醒 {reminded} 条，邮件 {mailed} 封")
                except _Stopping:
                    break
                except Exception:
                    if not loop:
                        raise
                    logging.getLogger("webapp.worker").exception("timer sweep failed; retrying")
                if not loop:
                    return
                stop.wait(interval)
            click.echo("工作进程已停止", err=True)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @app.cli.command("sweep")
    @click.option("--loop", is_flag=True, help="持续运行")
    @click.option("--interval", default=10.0, show_default=True)
    def sweep_cmd(loop: bool, interval: float):
        """触发到期的定时器（一次或循环）。"""
        _sweep(loop, interval)

    @app.cli.command("worker")
    @click.option("--interval", default=10.0, show_default=True)
    def worker_cmd(interval: float):
        """后台工作进程：循环扫描到期定时器。"""
        _sweep(True, interval)

    @app.cli.command("verify-audit")
    @click.argument("case_no", required=False)
    def verify_audit_cmd(case_no: str | None):
        """校验办件审计链；发现篡改或缺失时以非零状态退出。"""
        from workflows.services.audit import verify_chain
        s = _session()
        q = select(Case) if not case_no else select(Case).where(Case.case_no == case_no)
        bad = 0
        for c in s.scalars(q):
            for p in verify_chain(s, c):
                bad += 1
                click.echo(f"{c.case_no}：{p}")
        s.close()
        if bad:
            sys.exit(1)
        click.echo("审计链完整")
