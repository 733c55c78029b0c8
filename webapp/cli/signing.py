"""Issued PDFs' signatures: check a file (`verify-document`), re-encrypt the offices' keys (`signing-rekey`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.cli.common import service_session

cli = AppGroup("signing", help="电子签名：核验文书文件、更换私钥加密口令。")


@cli.command("verify-document")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--code", help="文书上的核验码（默认取签名中记载的核验码，或按文件哈希查找）")
def verify_document(file: Path, code: str | None):
    """核验一份文书 PDF：电子签名（发文机关证书）与归档哈希。任一不通过则退出码为 1。"""
    from webapp.signing import check_file
    from workflows.services import archive

    content = file.read_bytes()
    with service_session() as s:
        result = check_file(s, content, code)
        doc, sig = result.document, result.signature
        click.echo(f"文件：{file.name}（sha256 {hashlib.sha256(content).hexdigest()}）")
        if doc is not None:
            click.echo(f"文书：{doc.title} {doc.doc_no}（核验码 {archive.display_code(doc.verify_code)}）")
        else:
            click.echo("文书：档案中没有对应的文书")
        if doc is None:
            click.echo("归档哈希：无对应归档记录")
        elif doc.sha256 is None:
            click.echo("归档哈希：该文书尚未生成归档文件")
        else:
            click.echo("归档哈希：" + ("一致" if result.hash_matches else f"不一致（归档 {doc.sha256}）"))
        if sig.valid:
            click.echo(f"电子签名：有效（签名人 {sig.signer}；证书指纹 {sig.fingerprint}；签署时间 {sig.signed_at}）")
        else:
            click.echo(f"电子签名：无效——{sig.problem}")
        s.commit()
    if not result.valid:
        raise click.ClickException("核验未通过")
    click.echo("核验通过：文件与归档一致，电子签名有效")


@cli.command("signing-rekey")
@click.option(
    "--old-passphrase",
    prompt="原口令",
    hide_input=True,
    envvar="OLD_SIGNING_KEY_PASSPHRASE",
    help="加密现有私钥的口令（或环境变量 OLD_SIGNING_KEY_PASSPHRASE）",
)
def signing_rekey(old_passphrase: str):
    """用当前的 SIGNING_KEY_PASSPHRASE 重新加密所有签名私钥（更换口令时先设置新口令再运行）。"""
    from webapp.signing import passphrase
    from workflows.infra.db import transaction
    from workflows.services import signing as signing_svc

    with service_session() as s:
        with transaction(s):
            n = signing_svc.rekey(s, old_passphrase.encode(), passphrase(current_app.config), by="cli")
    click.echo(f"已用新口令重新加密 {n} 个签名私钥")
