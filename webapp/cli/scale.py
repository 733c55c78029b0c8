"""Scale data for the benchmarks: `flask generate` bulk-loads a realistic volume (the generator: webapp.demo.generator)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from webapp.cli.common import engine

cli = AppGroup("scale", help="压测数据：批量生成办件。")


@cli.command("generate")
@click.option("--cases", default=100_000, show_default=True, help="办件数")
@click.option("--units", default=200, show_default=True, help="用人单位数（约20个主管部门下）")
@click.option("--seed", default=1, show_default=True, help="随机种子（同一种子生成同样的数据）")
@click.option("--batch", default=2000, show_default=True, help="每批插入的办件数")
@click.option("--force", is_flag=True, help="数据库非空时先清空全部表再生成")
def generate_cmd(cases: int, units: int, seed: int, batch: int, force: bool):
    """生成大规模测试数据（办件、审计事件、待办、材料、编制、特设岗位、定时器）。"""
    from webapp.demo.generator import generate

    try:
        counts = generate(engine(), cases=cases, units=units, seed=seed, force=force, batch=batch, log=click.echo)
    except RuntimeError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"已生成 {counts['cases']} 个办件、{counts['events']} 条审计事件，用时 {counts['total_s']:.1f} 秒")
