"""What every command shares: the database of the app, the one way a command opens a service session (and how a
refused service call ends the command), and the actor `--as USER` stands for."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click
from flask import current_app
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from workflows.domain.actors import SYSTEM, Actor
from workflows.domain.errors import DomainError
from workflows.domain.models import User


def engine() -> Engine:
    return current_app.extensions["db_engine"]


def session_factory() -> sessionmaker:
    """For commands that open one session per unit of work themselves (the timer sweep)."""
    return current_app.extensions["db_factory"]


@contextmanager
def service_session(*, line_errors: bool = False) -> Iterator[Session]:
    """A session for one command, closed at the end. A refused service call (`DomainError`) becomes the command's
    error message (exit 1). With `line_errors` (the import commands), a refusal that lists the file's line errors
    prints them on stderr first and ends with their count."""
    s = session_factory()()
    try:
        _load_matters(s)
        yield s
    except DomainError as e:
        errors = ((e.details or {}).get("errors") or []) if line_errors else []
        if not errors:
            fail(e)
        for line in errors:
            click.echo(f"  {line}", err=True)
        count = e.details.get("error_count", len(errors))
        more = f"，仅列出前 {len(errors)} 处" if count > len(errors) else ""
        raise click.ClickException(f"导入文件有误（共 {count} 处{more}），未做任何修改") from None
    finally:
        s.close()


def _load_matters(s: Session) -> None:
    """事项配置: the published matters join the registry (a command may act on their cases); a database not migrated
    yet (init-db, db-upgrade) has none to load."""
    from sqlalchemy import inspect

    from workflows.services import matters

    if inspect(s.get_bind()).has_table("matter"):
        matters.refresh(s, force=True)
        s.commit()


def fail(e: DomainError) -> NoReturn:
    detail = f" {json.dumps(e.details, ensure_ascii=False)}" if e.details else ""
    raise click.ClickException(f"{e.message}{detail}")


def actor(session: Session, username: str | None) -> Actor:
    """The account `--as USER` names; without it the system itself (may act on any step)."""
    if not username:
        return SYSTEM
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"用户不存在：{username}")
    return Actor.from_user(user)
