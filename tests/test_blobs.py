"""The blob stores of uploaded files (workflows/infra/blobs.py): the same contract for the database store (SQLite and
PostgreSQL), the filesystem store and the S3 store (against a local S3-compatible server: moto's standalone server,
started as its own process), and the read-through from UPLOAD_DIR for files stored before a switch."""

from __future__ import annotations

import hashlib
import os

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from workflows.domain.models import StoredFile
from workflows.infra import blobs
from workflows.infra.db import create_all, make_engine, make_session_factory

from .conftest import PG_URL, _pg_available, require_postgres
from .s3server import s3_endpoint, s3_store  # noqa: F401  (s3_endpoint is a fixture)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


# ---- one contract, every store --------------------------------------------------------------------------------
def _sqlite_factory(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/blobs.sqlite3")
    create_all(engine)
    return engine, make_session_factory(engine)


@pytest.fixture(
    params=["filesystem", "database-sqlite", pytest.param("database-postgres", marks=pytest.mark.postgres), "s3"]
)
def store(request, tmp_path):
    kind = request.param
    if kind == "filesystem":
        yield blobs.FilesystemStore(tmp_path / "up")
    elif kind == "database-sqlite":
        engine, factory = _sqlite_factory(tmp_path)
        yield blobs.DatabaseStore(factory)
        engine.dispose()
    elif kind == "database-postgres":
        require_postgres(_pg_available())
        engine = make_engine(PG_URL)
        StoredFile.__table__.create(engine, checkfirst=True)
        with engine.begin() as c:
            c.execute(StoredFile.__table__.delete())
        yield blobs.DatabaseStore(make_session_factory(engine))
        engine.dispose()
    else:
        yield s3_store(request.getfixturevalue("s3_endpoint"))


def test_put_get_contains_delete_keys(store):
    assert store.get(sha(PDF)) is None and not store.contains(sha(PDF)) and list(store.keys()) == []
    assert store.put(sha(PDF), PDF, "application/pdf") is True
    assert store.put(sha(PDF), PDF, "application/pdf") is False  # stored once per content
    assert store.put(sha(PNG), PNG, "image/png") is True
    assert store.get(sha(PDF)) == PDF and store.get(sha(PNG)) == PNG
    assert store.contains(sha(PDF)) and sorted(store.keys()) == sorted([sha(PDF), sha(PNG)])
    store.delete(sha(PDF))
    store.delete(sha(PDF))  # absent: nothing happens
    assert store.get(sha(PDF)) is None and not store.contains(sha(PDF)) and list(store.keys()) == [sha(PNG)]


def test_a_blob_is_what_its_name_says_and_a_bad_name_reaches_nothing(store):
    with pytest.raises(ValueError):
        store.put(sha(PNG), PDF)  # content under another content's name
    with pytest.raises(ValueError):
        store.put("../../etc/passwd", PDF)
    assert list(store.keys()) == []
    for bad in ("../../etc/passwd", "", None, sha(PDF).upper(), sha(PDF) + "/x"):
        assert store.get(bad) is None and not store.contains(bad)
        store.delete(bad)


def test_large_content_round_trips(store):
    big = b"%PDF-1.7\n" + os.urandom(10 * 1024 * 1024 - 9)  # the largest file an upload may be
    assert store.put(sha(big), big, "application/pdf")
    assert store.get(sha(big)) == big


# ---- store specifics ------------------------------------------------------------------------------------------
def test_filesystem_store_writes_whole_files_named_by_sha256(tmp_path):
    store = blobs.FilesystemStore(tmp_path / "up")
    store.put(sha(PDF), PDF)
    assert sorted(os.listdir(tmp_path / "up")) == [sha(PDF)]  # no temporary file left behind
    assert (tmp_path / "up" / sha(PDF)).read_bytes() == PDF
    (tmp_path / "up" / "notes.txt").write_text("not a blob")
    assert list(store.keys()) == [sha(PDF)]


def test_database_store_keeps_size_and_type_and_loads_the_content_only_when_asked(tmp_path):
    engine, factory = _sqlite_factory(tmp_path)
    store = blobs.DatabaseStore(factory)
    store.put(sha(PNG), PNG, "image/png")
    with factory() as s:
        row = s.scalar(select(StoredFile))
        assert (row.sha256, row.size, row.content_type) == (sha(PNG), len(PNG), "image/png")
        assert row.created_at is not None
        assert "content" not in inspect(row).dict  # deferred: listing files does not read their bytes
        assert row.content == PNG
    engine.dispose()


def test_database_store_two_hosts_storing_the_same_file_at_once(tmp_path):
    """A host that looked before the other committed loses the race on the primary key: no error, not "created"."""
    engine, factory = _sqlite_factory(tmp_path)

    class LookedTooEarly(Session):
        def scalar(self, *args, **kwargs):
            return None  # the existence check saw nothing yet

    assert blobs.DatabaseStore(factory).put(sha(PDF), PDF) is True
    late = blobs.DatabaseStore(sessionmaker(bind=engine, class_=LookedTooEarly, expire_on_commit=False))
    assert late.put(sha(PDF), PDF) is False
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(StoredFile)) == 1
    engine.dispose()


def test_s3_store_keys_are_under_the_prefix(s3_endpoint):  # noqa: F811 (the fixture)
    store = s3_store(s3_endpoint, prefix="gc/uploads/")
    store.put(sha(PDF), PDF, "application/pdf")
    head = store.client.head_object(Bucket=store.bucket, Key="gc/uploads/" + sha(PDF))
    assert head["ContentType"] == "application/pdf" and head["ContentLength"] == len(PDF)
    store.client.put_object(Bucket=store.bucket, Key="elsewhere/" + sha(PNG), Body=PNG)
    assert list(store.keys()) == [sha(PDF)] and not store.contains(sha(PNG))


# ---- reading files stored before the switch -------------------------------------------------------------------
def test_read_through_finds_legacy_files_and_copies_them_into_the_store(tmp_path):
    engine, factory = _sqlite_factory(tmp_path)
    legacy = blobs.FilesystemStore(tmp_path / "up")
    legacy.put(sha(PDF), PDF)  # uploaded when the files were kept on this host's disk
    store = blobs.ReadThrough(blobs.DatabaseStore(factory), legacy, content_type=lambda c: "application/pdf")
    assert store.kind == "database"
    assert store.contains(sha(PDF)) and not store.primary.contains(sha(PDF))
    assert store.get(sha(PDF)) == PDF
    assert store.primary.get(sha(PDF)) == PDF  # copied: every other host now reads it from the database
    with factory() as s:
        assert s.scalar(select(StoredFile.content_type)) == "application/pdf"
    # new files go to the database only; deleting never touches the legacy directory
    assert store.put(sha(PNG), PNG, "image/png") and not legacy.contains(sha(PNG))
    store.delete(sha(PDF))
    assert legacy.contains(sha(PDF)) and sorted(store.keys()) == sorted([sha(PDF), sha(PNG)])
    engine.dispose()


def test_read_through_serves_a_legacy_file_it_cannot_copy(tmp_path, caplog):
    engine, factory = _sqlite_factory(tmp_path)
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / sha(PDF)).write_bytes(b"damaged")  # not what its name says: never copied
    store = blobs.ReadThrough(blobs.DatabaseStore(factory), blobs.FilesystemStore(tmp_path / "up"))
    assert store.get(sha(PDF)) == b"damaged"
    assert not store.primary.contains(sha(PDF)) and "could not copy" in caplog.text
    engine.dispose()


@pytest.mark.postgres
def test_stored_file_table_on_postgres_is_bytea_with_the_sha256_as_key():
    require_postgres(_pg_available())
    engine = make_engine(PG_URL)
    StoredFile.__table__.create(engine, checkfirst=True)
    with engine.connect() as c:
        types = dict(
            c.execute(
                text("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'stored_file'")
            ).all()
        )
    assert types["content"] == "bytea" and types["sha256"] == "character varying"
    assert inspect(engine).get_pk_constraint("stored_file")["constrained_columns"] == ["sha256"]
    engine.dispose()
