"""The database: create or migrate the schema (with the bundled process definitions and, on request, the demo)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.cli.common import engine, service_session, session_factory

cli = AppGroup("database", help="数据库：建表、升级结构、加载演示数据。")


@cli.command("init-db")
@click.option("--demo", is_flag=True, help="加载演示数据")
@click.option("--demo-if-empty", is_flag=True, help="数据库为空时加载演示数据")
def init_db(demo: bool, demo_if_empty: bool):
    """建表并部署内置流程定义。"""
    from webapp.demo.accounts import has_data, load_demo
    from workflows.infra.db import transaction
    from workflows.infra.migrate import prepare
    from workflows.services import achievements
    from workflows.services.definitions import deploy_bundled

    click.echo(f"数据库：{prepare(engine())}")
    with service_session() as s:
        with transaction(s):
            defs = deploy_bundled(s, directory=current_app.config["BPMN_DIR"])
            achievements.ensure_defaults(s)  # R9's register starts with the seed's three kinds (if empty)
        for d in defs:
            click.echo(f"流程 {d.process_id} v{d.version}（{d.status}）{d.sha256[:12]}")
        if demo or (demo_if_empty and not has_data(s)):
            n = load_demo(s)
            from webapp.issuing import render_pending
            from webapp.signing import SigningSettings, passphrase

            # demo data is a pilot, in production too: its offices get self-signed certificates
            pilot = SigningSettings(passphrase=passphrase(current_app.config), auto_pilot=True)
            docs = render_pending(session_factory(), limit=1000, signing=pilot)
            click.echo(f"已加载演示数据：{n} 个办件，{docs} 份文书")
            from workflows.services.statistics import refresh_round

            refresh_round(session_factory())  # the statistics pages have figures from the start


@cli.command("db-upgrade")
def db_upgrade():
    """把数据库结构升级到最新版本（Alembic）。"""
    from workflows.infra.migrate import current_revision, prepare

    click.echo(f"{prepare(engine())}：{current_revision(engine())}")
