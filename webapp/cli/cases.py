"""Cases from the command line: list cases and open steps, complete a step or supply an owed item as a user, and
check the audit chains."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.cli.common import actor, service_session
from workflows.domain.models import Case, OpenTask

cli = AppGroup("cases", help="办件：列出办件与待办，办理环节，补交材料，校验审计链。")


@cli.command("cases")
@click.option("--status", default=None)
@click.option("--limit", default=50, show_default=True)
def cases_cmd(status: str | None, limit: int):
    """列出办件。"""
    q = select(Case).order_by(Case.id.desc()).limit(limit)
    if status:
        q = q.where(Case.status == status)
    with service_session() as s:
        for c in s.scalars(q):
            click.echo(
                f"{c.case_no}\t{c.procedure}\t{c.applicant_name}\t{c.status}\t"
                f"v{c.version}\t{c.next_timer_at.isoformat() if c.next_timer_at else '-'}"
            )


@cli.command("tasks")
@click.option("--case", "case_no", default=None)
@click.option("--role", default=None)
def tasks_cmd(case_no: str | None, role: str | None):
    """列出待办环节。"""
    q = select(OpenTask, Case.case_no).join(Case).order_by(OpenTask.id)
    if case_no:
        q = q.where(Case.case_no == case_no)
    if role:
        q = q.where(OpenTask.role == role)
    with service_session() as s:
        for t, no in s.execute(q):
            click.echo(
                f"{no}\t{t.task_id}\t{t.title}\t{t.role}\t{t.scope_unit_code or '全区'}\t"
                f"{t.due_on or '-'}\t{t.form or '-'}"
            )


@cli.command("complete")
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
        raise click.ClickException(f"--data 不是有效的 JSON：{e}") from e
    with service_session() as s:
        c = complete_task(s, case_no, task_id, payload, actor(s, username))
        click.echo(f"{c.case_no} → {c.status}")


@cli.command("supply")
@click.argument("case_no")
@click.argument("code")
@click.option("--as", "username", default=None)
def supply_cmd(case_no: str, code: str, username: str | None):
    """补交一项容缺材料。"""
    from workflows.services.cases import supply_material

    with service_session() as s:
        c = supply_material(s, case_no, code, actor(s, username))
        click.echo(f"{c.case_no} → {c.status}")


@cli.command("verify-audit")
@click.argument("case_no", required=False)
def verify_audit_cmd(case_no: str | None):
    """校验办件审计链（不指定办件时也校验管理操作记录链）；发现篡改或缺失时以非零状态退出。"""
    from workflows.services.audit import verify_admin_chain, verify_chain

    q = select(Case) if not case_no else select(Case).where(Case.case_no == case_no)
    bad = 0
    with service_session() as s:
        for c in s.scalars(q):
            for p in verify_chain(s, c):
                bad += 1
                click.echo(f"{c.case_no}：{p}")
        if not case_no:  # the administrators' chain: number series, seals, registers, rights topics
            for p in verify_admin_chain(s):
                bad += 1
                click.echo(p)
    if bad:
        sys.exit(1)
    click.echo("审计链完整")
