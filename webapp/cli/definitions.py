"""Process definitions: deploy one BPMN file (with the DMN tables and forms beside it) as a new published version."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from webapp.cli.common import service_session

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
