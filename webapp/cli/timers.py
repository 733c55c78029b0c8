"""The background work: fire due timers, render and sign pending documents and send notifications — once (`sweep`)
or in a loop (`sweep --loop`, `worker`, the production worker). In the loop the render queue is looked at every
`--render-interval` seconds (a submission's PDF is ready about that long after it), the timers and notifications
every `--interval`."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from webapp.cli.common import session_factory

cli = AppGroup("timers", help="后台工作：到期定时器、待生成文书、通知（一次或循环）。")


def _sweep(loop: bool, interval: float, render_interval: float = 1.0):
    """SIGTERM/SIGINT stop the loop gracefully: the case (or document) in hand is finished and committed, then
    the process exits 0 before opening the next one. In loop mode a failed round (e.g. the database restarting)
    is logged and retried after `interval`; anything that is not an Exception ends the process with status 1 (a
    case's failure never gets this far: the sweep marks that case as errored and goes on)."""
    import logging
    import signal
    import threading
    import time

    from webapp.issuing import render_pending
    from webapp.mailer import notification_round
    from workflows.services.matters import refresh as refresh_matters
    from workflows.services.quarterly import issue_due
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
                with factory() as s:  # matters published by the web processes since the last round
                    refresh_matters(s, force=True)
                n = fire_due_timers(guarded)
                click.echo(f"定时器扫描：推进 {n} 个办件")
                docs = render_pending(guarded, limit=500)
                click.echo(f"文书生成：{docs} 份")
                reminded, mailed = notification_round(guarded)
                if reminded or mailed:
                    click.echo(f"通知：补件提醒 {reminded} 条，邮件 {mailed} 封")
                # the statistics read model follows the cases that changed since the last round
                click.echo(f"统计数据：更新 {refresh_round(guarded)} 个办件")
                # after a quarter's end, its 季度调度通报 (once across workers; the render queue signs it)
                report = issue_due(guarded)
                if report:
                    click.echo(f"季度调度通报：{report}")
            except _Stopping:
                break
            except Exception:
                if not loop:
                    raise
                logging.getLogger("webapp.worker").exception("timer sweep failed; retrying")
            except BaseException as e:  # SystemExit, GeneratorExit … from below: never a quiet exit 0
                logging.getLogger("webapp.worker").critical(
                    "timer worker stopped by %s", type(e).__name__, exc_info=True
                )
                click.echo(f"工作进程因意外错误退出：{type(e).__name__}", err=True)
                raise SystemExit(1) from e
            if not loop:
                return
            # until the next timer round: the render queue, every render_interval seconds
            next_round = time.monotonic() + interval
            while not stop.wait(max(0.0, min(render_interval, next_round - time.monotonic()))):
                if time.monotonic() >= next_round:
                    break
                try:
                    docs = render_pending(guarded, limit=50)
                    if docs:
                        click.echo(f"文书生成：{docs} 份")
                except _Stopping:
                    break
                except Exception:
                    logging.getLogger("webapp.worker").exception("render round failed; retrying")
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
@click.option("--interval", default=10.0, show_default=True, help="定时器与通知的扫描间隔（秒）")
@click.option("--render-interval", default=1.0, show_default=True, help="待生成文书的扫描间隔（秒）")
def worker_cmd(interval: float, render_interval: float):
    """后台工作进程：循环扫描到期定时器，生成并签署文书。"""
    _sweep(True, interval, render_interval)


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
