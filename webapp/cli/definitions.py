"""Process definitions: deploy one BPMN file (with the DMN tables and forms beside it) as a new published version;
move running cases from one version to another (`migrate-cases`, workflows/services/case_migration.py)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from webapp.cli.common import actor, service_session

cli = AppGroup("definitions", help="流程定义：校验并发布 BPMN 文件。")


@cli.command("deploy")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--note", required=True, help="发布说明：这一版改了什么、为什么发布（必填）")
def deploy_cmd(path: str, note: str):
    """部署一个 BPMN 文件（同目录的 DMN 与表单一并部署），附发布说明。"""
    from workflows.domain.errors import DefinitionInvalid, DomainError
    from workflows.infra.db import transaction
    from workflows.services.definitions import deploy_file

    with service_session() as s:
        try:
            with transaction(s):
                d = deploy_file(s, Path(path), note=note)
        except DefinitionInvalid as e:
            for err in e.errors:
                click.echo(
                    f"  第{err.line or '?'}行 {err.element_id or ''} {err.element_name or ''}：{err.message}", err=True
                )
            raise click.ClickException("流程定义未通过校验，未部署") from e
        except DomainError as e:  # not UTF-8, not found, not a .bpmn: said plainly, never a traceback
            raise click.ClickException(f"{e.message}，未部署") from e
        click.echo(f"已发布 {d.process_id} v{d.version} {d.sha256[:12]}")


OUTCOME_LABELS = {"movable": "可迁移", "moved": "已迁移", "refused": "不能迁移", "failed": "迁移失败"}


@cli.command("migrate-cases")
@click.option("--from", "from_version", type=int, required=True, help="源版本号")
@click.option("--to", "to_version", type=int, required=True, help="目标版本号")
@click.option("--process", "process_id", help="流程标识（给出 --case 时可省略）")
@click.option("--dry-run", is_flag=True, help="只检查并列出变化，不写入")
@click.option("--case", "case_nos", multiple=True, help="只处理这些办件（可重复）")
@click.option("--status", help="只处理该状态的办件：running / on_hold / returned")
@click.option("--element", help="只处理停在该元素（环节 id）上的办件")
@click.option("--as", "username", help="以该账号记录（默认 system）")
def migrate_cases_cmd(from_version, to_version, process_id, dry_run, case_nos, status, element, username):
    """把办理中的办件从流程的一个版本迁移到另一个版本（逐件一个事务，记入办件审计链）。"""
    from sqlalchemy import select

    from workflows.domain.models import Case, ProcessDefinition
    from workflows.services.case_migration import migrate_cases

    with service_session() as s:
        if not process_id and case_nos:
            process_id = s.scalar(
                select(ProcessDefinition.process_id)
                .join(Case, Case.definition_id == ProcessDefinition.id)
                .where(Case.case_no == case_nos[0])
            )
            s.commit()
        if not process_id:
            raise click.ClickException("请用 --process 指定流程（或用 --case 指定办件）")
        report = migrate_cases(
            s,
            process_id,
            from_version,
            to_version,
            actor(s, username),
            dry_run=dry_run,
            case_nos=list(case_nos) or None,
            status=status,
            element=element,
        )
    what = "试迁移（未写入）" if dry_run else "迁移"
    click.echo(f"{process_id} v{from_version} → v{to_version} {what}：{len(report.cases)} 件")
    for c in report.cases:
        click.echo(f"{c.case_no}  {OUTCOME_LABELS[c.outcome]}  {'；'.join(c.at)}")
        for line in c.reasons:
            click.echo(f"    原因：{line}")
        for line in c.changes():
            click.echo(f"    {line}")
    counts = "，".join(f"{OUTCOME_LABELS[k]} {n}" for k, n in report.counts.items() if n)
    click.echo(f"合计：{counts or '无办件'}")
    if report.count("failed"):
        raise SystemExit(1)
