"""The background work: fire due timers, render pending documents and send notifications — once (`sweep`) or in a
loop (`sweep --loop`, `worker`, the production timer worker)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from webapp.cli.common import session_factory

cli = AppGroup("timers", help="后台工作：到期定时器、待生成文书、通知（一次或循环）。")


def _sweep(loop: bool, interval: float):
    """SIGTERM/SIGINT stop the loop gracefully: the case (or document) in hand is finished and committed, then
    the process exits 0 before opening the next one. In loop mode a failed round (e.g. the database restarting)
    is logged and retried after `interval`."""
    import logging
    import signal
    import threading

    from webapp.issuing import render_pending
    from webapp.mailer import notification_round
    from workflows.services.statistics import refresh_round
    from workflows.services.timers import fire_due_timers

    factory = session_factory()
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
                # the statistics read model follows the cases that changed since the last round
                click.echo(f"统计数据：更新 {refresh_round(guarded)} 个办件")
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


@cli.command("sweep")
@click.option("--loop", is_flag=True, help="持续运行")
@click.option("--interval", default=10.0, show_default=True)
def sweep_cmd(loop: bool, interval: float):
    """触发到期的定时器（一次或循环）。"""
    _sweep(loop, interval)


@cli.command("worker")
@click.option("--interval", default=10.0, show_default=True)
def worker_cmd(interval: float):
    """后台工作进程：循环扫描到期定时器。"""
    _sweep(True, interval)


@cli.command("refresh-statistics")
@click.option("--full", is_flag=True, help="全部重算（否则只更新有变化的办件）")
def refresh_statistics_cmd(full: bool):
    """更新统计分析数据（工作进程每轮自动更新；此命令用于首次生成或全部重算）。"""
    import time

    from workflows.infra.db import transaction
    from workflows.services.statistics import refresh

    factory = session_factory()
    started = time.perf_counter()
    with factory() as session, transaction(session):
        n = refresh(session, full=full)
    click.echo(f"统计数据：更新 {n} 个办件，用时 {time.perf_counter() - started:.1f} 秒")
