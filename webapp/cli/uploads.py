"""Uploaded materials: copy one host's UPLOAD_DIR into the shared store (database or S3)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

cli = AppGroup("uploads", help="上传文件：复制到共用存储。")


@cli.command("copy-uploads")
@click.option(
    "--to", "kind", type=click.Choice(["database", "s3"]), default=None, help="目标存储（默认为 UPLOAD_STORE）"
)
def copy_uploads(kind: str | None):
    """把 UPLOAD_DIR 中的上传文件复制到共用存储（数据库或 S3），已有的跳过，可重复执行。"""
    from webapp import ConfigurationError
    from webapp.uploads import content_type, make_store, store_kind
    from workflows.infra import blobs

    app = current_app
    kind = kind or store_kind(app)
    if kind not in ("database", "s3"):
        raise click.ClickException(
            "UPLOAD_STORE=filesystem：文件已在 UPLOAD_DIR 中；请用 --to database 或 --to s3 指定目标"
        )
    try:
        target = make_store(app, kind).primary
    except ConfigurationError as e:
        raise click.ClickException(str(e)) from e
    source = blobs.FilesystemStore(app.config["UPLOAD_DIR"])
    result = blobs.copy_missing(source, target, content_type)
    click.echo(
        f"从 {source.directory} 复制到 {kind}：新复制 {len(result['copied'])} 个，"
        f"已存在 {len(result['present'])} 个，内容与文件名不符 {len(result['damaged'])} 个"
    )
    for key in result["damaged"]:
        click.echo(f"  内容与文件名（sha256）不符，未复制：{key}")
