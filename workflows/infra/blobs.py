"""Where uploaded files live: content-addressed blobs (the key is the sha256 of the bytes), never edited.

Three stores with one interface (`put`, `get`, `contains`, `delete`, `keys`):

* `DatabaseStore`   — the table `stored_file` (models.StoredFile). Several web hosts behind a balancer share one
                      PostgreSQL but not a disk: a file uploaded through one host is read from any other.
* `FilesystemStore` — one file per blob, `<directory>/<sha256>` (UPLOAD_DIR), written atomically. One host only.
* `S3Store`         — an S3-compatible bucket (boto3), key `<prefix><sha256>`.

`ReadThrough(primary, legacy)` writes to the primary store and reads a sha256 missing there from the legacy store
(the files stored under UPLOAD_DIR before the primary store was chosen), copying what it finds into the primary so
the next read on any host finds it there.

Every `put` checks that the key is the sha256 of the content: a blob is what its name says. Nothing here knows
about Flask or about which files are acceptable (webapp/uploads.py checks the content before storing it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from workflows.domain.models import StoredFile

log = logging.getLogger(__name__)

SHA256 = re.compile(r"^[0-9a-f]{64}$")
OCTET_STREAM = "application/octet-stream"
KINDS = ("database", "filesystem", "s3")


def is_sha256(key: object) -> bool:
    return isinstance(key, str) and SHA256.match(key) is not None


def _checked(sha256: str, content: bytes) -> None:
    if not is_sha256(sha256):
        raise ValueError(f"not a sha256: {sha256!r}")
    if hashlib.sha256(content).hexdigest() != sha256:
        raise ValueError(f"content does not hash to {sha256}")


class BlobStore:
    """The interface. A malformed key is simply absent (it never reaches a path, a query or a bucket)."""

    kind = ""

    def put(self, sha256: str, content: bytes, content_type: str = OCTET_STREAM) -> bool:
        """Store the content under its sha256; True when this call created it (False: it was there already)."""
        raise NotImplementedError

    def get(self, sha256: str) -> bytes | None:
        raise NotImplementedError

    def contains(self, sha256: str) -> bool:
        raise NotImplementedError

    def delete(self, sha256: str) -> None:
        """Remove the blob (nothing happens when it is absent)."""
        raise NotImplementedError

    def keys(self) -> Iterator[str]:
        raise NotImplementedError


class FilesystemStore(BlobStore):
    kind = "filesystem"

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"FilesystemStore({str(self.directory)!r})"

    def _path(self, sha256: str) -> Path | None:
        return self.directory / sha256 if is_sha256(sha256) else None

    def put(self, sha256: str, content: bytes, content_type: str = OCTET_STREAM) -> bool:
        _checked(sha256, content)
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / sha256
        if target.is_file() and target.stat().st_size == len(content):
            return False
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".up-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)  # readers see the whole file or none
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return True

    def get(self, sha256: str) -> bytes | None:
        path = self._path(sha256)
        try:
            return path.read_bytes() if path is not None else None
        except (FileNotFoundError, IsADirectoryError):
            return None

    def contains(self, sha256: str) -> bool:
        path = self._path(sha256)
        return path is not None and path.is_file()

    def delete(self, sha256: str) -> None:
        path = self._path(sha256)
        if path is not None:
            path.unlink(missing_ok=True)

    def keys(self) -> Iterator[str]:
        if self.directory.is_dir():
            yield from sorted(p.name for p in self.directory.iterdir() if is_sha256(p.name) and p.is_file())


class DatabaseStore(BlobStore):
    """Blobs in `stored_file`. Each call is a short transaction of its own session (never the caller's)."""

    kind = "database"

    def __init__(self, factory: sessionmaker[Session]):
        self.factory = factory

    def __repr__(self) -> str:
        return "DatabaseStore()"

    def put(self, sha256: str, content: bytes, content_type: str = OCTET_STREAM) -> bool:
        _checked(sha256, content)
        with self.factory() as s:
            if s.scalar(select(StoredFile.sha256).where(StoredFile.sha256 == sha256)) is not None:
                s.rollback()
                return False
            s.add(StoredFile(sha256=sha256, size=len(content), content_type=content_type[:100], content=content))
            try:
                s.commit()
            except IntegrityError:  # another host stored the same content in the meantime: the same bytes
                s.rollback()
                return False
        return True

    def get(self, sha256: str) -> bytes | None:
        if not is_sha256(sha256):
            return None
        with self.factory() as s:
            content = s.scalar(select(StoredFile.content).where(StoredFile.sha256 == sha256))
            s.rollback()
        return bytes(content) if content is not None else None

    def contains(self, sha256: str) -> bool:
        if not is_sha256(sha256):
            return False
        with self.factory() as s:
            found = s.scalar(select(StoredFile.sha256).where(StoredFile.sha256 == sha256)) is not None
            s.rollback()
        return found

    def delete(self, sha256: str) -> None:
        if not is_sha256(sha256):
            return
        with self.factory() as s:
            s.execute(delete(StoredFile).where(StoredFile.sha256 == sha256))
            s.commit()

    def keys(self) -> Iterator[str]:
        with self.factory() as s:
            found = list(s.scalars(select(StoredFile.sha256).order_by(StoredFile.sha256)))
            s.rollback()
        yield from found


class S3Store(BlobStore):
    """Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, …); the bucket must exist."""

    kind = "s3"

    def __init__(self, client, bucket: str, prefix: str = ""):
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r})"

    @classmethod
    def connect(
        cls,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str | None = None,
        prefix: str = "",
    ) -> S3Store:
        """A store on a new boto3 client (no request is sent yet). Keys left out come from boto3's usual sources
        (AWS_ACCESS_KEY_ID…, ~/.aws, an instance role)."""
        import boto3  # only a deployment that stores in S3 pays for importing it
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            region_name=region or None,
            # path-style addressing works with every S3-compatible server (no wildcard DNS for bucket names)
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )
        return cls(client, bucket, prefix)

    def _key(self, sha256: str) -> str:
        return self.prefix + sha256

    @staticmethod
    def _missing(error) -> bool:
        code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    def put(self, sha256: str, content: bytes, content_type: str = OCTET_STREAM) -> bool:
        _checked(sha256, content)
        if self.contains(sha256):
            return False
        self.client.put_object(Bucket=self.bucket, Key=self._key(sha256), Body=content, ContentType=content_type)
        return True

    def get(self, sha256: str) -> bytes | None:
        from botocore.exceptions import ClientError

        if not is_sha256(sha256):
            return None
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(sha256))["Body"].read()
        except ClientError as e:
            if self._missing(e):
                return None
            raise

    def contains(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError

        if not is_sha256(sha256):
            return False
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(sha256))
            return True
        except ClientError as e:
            if self._missing(e):
                return False
            raise

    def delete(self, sha256: str) -> None:
        if is_sha256(sha256):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(sha256))

    def keys(self) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for item in page.get("Contents", ()):
                name = item["Key"][len(self.prefix) :]
                if is_sha256(name):
                    yield name


class ReadThrough(BlobStore):
    """Writes go to `primary`; a sha256 the primary lacks is read from `legacy` and copied into the primary (best
    effort: a failed copy is logged, the read still succeeds)."""

    def __init__(
        self,
        primary: BlobStore,
        legacy: BlobStore,
        content_type: Callable[[bytes], str] = lambda _content: OCTET_STREAM,
    ):
        self.primary, self.legacy, self.content_type = primary, legacy, content_type
        self.kind = primary.kind

    def __repr__(self) -> str:
        return f"ReadThrough({self.primary!r}, legacy={self.legacy!r})"

    def put(self, sha256: str, content: bytes, content_type: str = OCTET_STREAM) -> bool:
        return self.primary.put(sha256, content, content_type)

    def get(self, sha256: str) -> bytes | None:
        content = self.primary.get(sha256)
        if content is not None:
            return content
        content = self.legacy.get(sha256)
        if content is not None:
            try:
                self.primary.put(sha256, content, self.content_type(content))
            except Exception:  # a legacy file that does not match its name, a store that is down: read anyway
                log.exception("could not copy the legacy blob %s into the %s store", sha256, self.primary.kind)
        return content

    def contains(self, sha256: str) -> bool:
        return self.primary.contains(sha256) or self.legacy.contains(sha256)

    def delete(self, sha256: str) -> None:
        self.primary.delete(sha256)  # the legacy store is read, never written

    def keys(self) -> Iterator[str]:
        seen = set()
        for store in (self.primary, self.legacy):
            for key in store.keys():
                if key not in seen:
                    seen.add(key)
                    yield key


def copy_missing(
    source: BlobStore, target: BlobStore, content_type: Callable[[bytes], str] = lambda _content: OCTET_STREAM
) -> dict[str, list[str]]:
    """Copy every blob of `source` that `target` lacks (idempotent). Returns the keys copied, already present and
    damaged (content that does not hash to its name: left where it is)."""
    out: dict[str, list[str]] = {"copied": [], "present": [], "damaged": []}
    for key in source.keys():
        if target.contains(key):
            out["present"].append(key)
            continue
        content = source.get(key)
        if content is None or hashlib.sha256(content).hexdigest() != key:
            out["damaged"].append(key)
            continue
        target.put(key, content, content_type(content))
        out["copied"].append(key)
    return out
