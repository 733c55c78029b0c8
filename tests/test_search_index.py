"""Case search by 1- and 2-character names (migration 0004): the same cases, in the same order, on SQLite (plain LIKE)
and PostgreSQL (GIN over the name's characters), and the index is what PostgreSQL uses; the migration round trip."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import func, inspect, select, text
from sqlalchemy.dialects import postgresql

from webapp.demo.accounts import actor_for
from workflows.domain.models import Case
from workflows.infra import migrate
from workflows.infra.db import make_engine
from workflows.services import queries

from .conftest import PG_URL, _pg_available, require_postgres
from .helpers import registration, start_as

REG = "green_channel_registration"
INDEX = "ix_cases_applicant_name_chars"

# (name, unit): U0101 内蒙古自治区农牧业科学院, U0201 内蒙古大学; started in this order, so listed newest first
PEOPLE = [
    ("张伟", "U0101"),
    ("张伟明", "U0201"),
    ("李张伟", "U0101"),
    ("张明伟", "U0201"),
    ("伟张", "U0101"),
    ("王芳", "U0201"),
    ("张", "U0101"),
    ("欧阳张伟", "U0201"),
    ("李_伟", "U0101"),
]
NEWEST_FIRST = [n for n, _u in reversed(PEOPLE)]


def only(*names: str) -> list[str]:
    return [n for n in NEWEST_FIRST if n in names]


EXPECTED = {
    "张伟": only("张伟", "张伟明", "李张伟", "欧阳张伟"),  # not 张明伟 (both characters, not together) nor 伟张
    " 张伟 ": only("张伟", "张伟明", "李张伟", "欧阳张伟"),
    "王芳": only("王芳"),
    "芳王": [],
    "伟": only("张伟", "张伟明", "李张伟", "张明伟", "伟张", "欧阳张伟", "李_伟"),
    "张": only("张伟", "张伟明", "李张伟", "张明伟", "伟张", "张", "欧阳张伟"),
    "欧": only("欧阳张伟"),
    "张伟明": only("张伟明"),  # 3 characters: the trigram index / LIKE, as before
    "大学": only("张伟明", "张明伟", "王芳", "欧阳张伟"),  # 2 characters of a unit's name: that unit's cases
    "_伟": only("张伟", "张伟明", "李张伟", "张明伟", "欧阳张伟", "李_伟"),  # LIKE wildcards keep their meaning
    "%": NEWEST_FIRST,
}


@pytest.fixture(params=["sqlite", "postgres"])
def people(request, clock):
    """A database of either kind holding the cases of PEOPLE."""
    factory = request.getfixturevalue("factory" if request.param == "sqlite" else "pg_factory")
    _start_people(factory)
    return factory


def _start_people(factory) -> None:
    s = factory()
    try:
        for i, (name, unit) in enumerate(PEOPLE):
            data = registration(applicant_name=name, unit_code=unit, id_number=f"15010219900103{2000 + i}")
            start_as(s, REG, data, actor_for(s, "admin"))
    finally:
        s.close()


def _names(factory, q: str, **kw) -> tuple[list[str], int]:
    s = factory()
    try:
        page = queries.list_cases(s, actor_for(s, "admin"), q=q, **kw)
        return [c.applicant_name for c in page.items], page.total
    finally:
        s.close()


@pytest.mark.parametrize("q", list(EXPECTED))
def test_name_search_finds_exactly_the_names_holding_the_term(people, q):
    names, total = _names(people, q)
    assert names == EXPECTED[q]
    assert total == len(EXPECTED[q])


def test_dept_scope_still_applies(people):
    s = people()
    try:
        page = queries.list_cases(s, actor_for(s, "dept_jyt"), q="张伟")  # 教育厅: U0201 only
        assert [c.applicant_name for c in page.items] == only("张伟明", "欧阳张伟") and page.total == 2
    finally:
        s.close()


def test_inbox_search_by_two_characters(people):
    s = people()
    try:
        page, counts = queries.inbox(s, actor_for(s, "renshe"), "all", q="张伟")
        assert sorted(c.applicant_name for _t, c in page.items) == sorted(EXPECTED["张伟"])
        assert counts["all"] == len(EXPECTED["张伟"])
    finally:
        s.close()


@pytest.mark.parametrize("q", ["张", "伟", "张伟", "%"])
def test_few_or_many_matches_give_the_same_pages(people, q, monkeypatch):
    """Up to FEW_MATCHES matches the page is sorted from all of them (`id + 0`), above it by the primary key: the
    same rows in the same order either way, page after page."""

    def pages(few: int) -> list:
        monkeypatch.setattr(queries, "FEW_MATCHES", few)
        return [_names(people, q, page=p, per_page=2) for p in (1, 2, 3, 4, 5)]

    assert pages(0) == pages(1000)
    assert [n for names, _t in pages(0) for n in names] == EXPECTED[q]


def test_sqlite_and_postgres_agree(clock, factory, pg_factory):
    _start_people(factory)
    _start_people(pg_factory)
    for q in [*EXPECTED, "张明", "明伟", "阳张", "李", "1", "U0101", "内蒙古大学", "科学"]:
        assert _names(factory, q) == _names(pg_factory, q), q


@pytest.mark.parametrize("q", ["王", "张伟"])
def test_postgres_uses_the_index(pg_factory, q):
    s = pg_factory()
    try:
        stmt = select(func.count()).select_from(Case).where(queries.search_condition(q, s))
        sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
        s.execute(text("SET LOCAL enable_seqscan = off"))  # a handful of rows: without this a scan is cheaper
        plan = "\n".join(s.scalars(text("EXPLAIN " + sql)))
        assert INDEX in plan, plan
    finally:
        s.rollback()
        s.close()


def test_three_characters_keep_the_trigram_index(pg_factory):
    s = pg_factory()
    try:
        sql = str(
            select(func.count())
            .select_from(Case)
            .where(queries.search_condition("张伟明", s))
            .compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
        )
        assert "string_to_array" not in sql and "applicant_name LIKE" in sql
    finally:
        s.close()


def _index_names(engine) -> set[str]:
    return {ix["name"] for ix in inspect(engine).get_indexes("cases")}


def test_migration_round_trip_postgres():
    require_postgres(_pg_available())
    engine = make_engine(PG_URL)
    with engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    try:
        migrate.upgrade(engine, "0003_user_email")
        assert INDEX not in _index_names(engine)
        missing = [d for d in migrate.pending_differences(engine) if d[0] == "add_index"]
        # the models declare it: the comparison sees it is missing (with the indexes of later migrations' tables)
        assert INDEX in [d[1].name for d in missing]
        migrate.upgrade(engine)
        assert INDEX in _index_names(engine)
        assert migrate.pending_differences(engine) == []
        with engine.connect() as c:
            indexdef = c.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": INDEX})
        assert "USING gin (string_to_array" in indexdef
        command.downgrade(migrate.alembic_config(engine), "0003_user_email")
        assert INDEX not in _index_names(engine)
        assert migrate.current_revision(engine) == "0003_user_email"
        migrate.upgrade(engine)
        assert INDEX in _index_names(engine) and migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_migration_round_trip_sqlite(tmp_path):
    """Nothing to do on SQLite (no such index there), but the revision goes down past 0004 and up again."""
    engine = make_engine(f"sqlite:///{tmp_path}/m.sqlite3")
    migrate.upgrade(engine)
    assert INDEX not in _index_names(engine)
    command.downgrade(migrate.alembic_config(engine), "0003_user_email")
    assert migrate.current_revision(engine) == "0003_user_email"
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()
