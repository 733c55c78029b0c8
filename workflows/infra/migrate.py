"""Schema migrations (Alembic): from an empty database to the current schema, and checks that they agree."""

from __future__ import annotations

import warnings
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from workflows.domain.models import Base
from workflows.infra.db import create_all

SCRIPT_LOCATION = str(Path(__file__).with_name("migrations"))


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    return ScriptDirectory.from_config(cfg).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def prepare(engine: Engine) -> str:
    """An empty database gets the whole schema at once and is stamped at head (fast); any other is upgraded."""
    if not inspect(engine).get_table_names():
        create_all(engine)
        command.stamp(alembic_config(engine), "head")
        return "created"
    if current_revision(engine) is None:
        # Tables made before migrations existed: adopt them only if they match the models exactly.
        diff = pending_differences(engine)
        if diff:
            raise RuntimeError(
                f"数据库已有表但没有迁移版本记录，且与模型不一致（{len(diff)}处差异），请先备份后人工处理"
            )
        command.stamp(alembic_config(engine), "head")
        return "adopted"
    upgrade(engine)
    return "upgraded"


def pending_differences(engine: Engine) -> list:
    """What the models have that the database schema lacks (empty when migrations are complete)."""
    with engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect the PostgreSQL-only expression index of migration 0004; Alembic says so every time.
        warnings.filterwarnings("ignore", message="autogenerate skipping metadata-specified expression-based index")
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)


def revision(engine: Engine, message: str) -> None:
    """Write a new migration from the difference between the models and the database at head."""
    command.revision(alembic_config(engine), message=message, autogenerate=True)
