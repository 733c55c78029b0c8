"""Uploaded material files — the one place that checks them and stores and reads them (pages and JSON API alike).

Checks (`check`): the type is decided by the content's first bytes, never by the name or the declared type: a PDF
(``%PDF-``), a JPEG (``FF D8 FF``) or a PNG (its whole 8-byte signature); at most MAX_FILE_BYTES (10 MB) per file on
top of the request cap (MAX_CONTENT_LENGTH); not empty. Anything else is refused with a Chinese message
(`UploadRejected`, a 422 `ValidationFailed`; the subclasses say why, for the API's 413/415) before a byte is stored.
The client's file name is kept for display only, cleaned by `display_name` (Chinese names stay readable).

Storage: the bytes are stored once per sha256 in the blob store chosen by UPLOAD_STORE (workflows/infra/blobs.py):

* ``database``   — the `stored_file` table: every web host behind the balancer reads every file (the default when
                   APP_ENV=production);
* ``filesystem`` — UPLOAD_DIR/<sha256> on this host's disk (the default otherwise);
* ``s3``         — an S3-compatible bucket: S3_BUCKET, S3_ENDPOINT_URL, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY,
                   S3_REGION, S3_PREFIX (default ``uploads/``).

With ``database`` or ``s3``, a sha256 the store lacks is read from UPLOAD_DIR (files uploaded before the switch) and
copied into the store; `flask copy-uploads` copies them all at once. Each setting is read from the app's config, else
from the environment.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass

from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from workflows.domain.errors import ValidationFailed
from workflows.domain.models import Material
from workflows.infra import blobs

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 10 * 1024 * 1024  # 10 MB per file
MAX_FILE_MB = MAX_FILE_BYTES // (1024 * 1024)
# (leading bytes, mimetype, extension, label); PNG by its whole signature, so a text file starting "\x89PNG" is not one
SIGNATURES = (
    (b"%PDF-", "application/pdf", ".pdf", "PDF"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png", "PNG"),
)
MIMETYPES = tuple(mimetype for _magic, mimetype, _ext, _label in SIGNATURES)
ACCEPT = ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"
# What may stay in a shown name: letters and digits of any script (\w), dot, hyphen, parentheses (also full-width)
_UNSAFE = re.compile(r"[^\w.\-（）()]+", re.UNICODE)
_NAME_MAX = 120


class UploadRejected(ValidationFailed):
    """A file that is not accepted; the message says why, in Chinese. The subclasses tell the reason apart."""


class FileTooLarge(UploadRejected):
    pass


class FileTypeRefused(UploadRejected):
    pass


class FileEmpty(UploadRejected):
    pass


@dataclass(frozen=True)
class Checked:
    """A file that passed the checks, held in memory until it is stored."""

    content: bytes
    sha256: str
    mimetype: str
    display_name: str

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class Stored:
    """A stored file read back: its bytes and the type its first bytes say."""

    content: bytes
    sha256: str
    mimetype: str
    ext: str


def sniff(head: bytes) -> tuple[str, str] | None:
    """(mimetype, extension) from the first bytes, or None for anything but PDF, JPEG and PNG."""
    for magic, mimetype, ext, _label in SIGNATURES:
        if head.startswith(magic):
            return mimetype, ext
    return None


def display_name(client_name: str | None, fallback: str, ext: str) -> str:
    """A name fit to show and to offer as the download name: the last path part, no control characters, runs of
    anything but letters and digits (of any script: 体检报告 stays), dots, hyphens and parentheses turned into one
    "_", the extension the content has appended when the name lacks it. Only ever shown: files are stored by
    sha256, never under this name."""
    raw = (client_name or "").replace("\\", "/").rsplit("/", 1)[-1]
    raw = "".join(ch for ch in unicodedata.normalize("NFC", raw) if unicodedata.category(ch)[0] != "C")
    safe = _UNSAFE.sub("_", raw).strip("._")
    stem = safe.rsplit(".", 1)[0] if "." in safe else safe
    if not stem.strip("._"):
        safe = _UNSAFE.sub("_", fallback).strip("._") or "file"
    if not safe.lower().endswith(ext) and not (ext == ".jpg" and safe.lower().endswith(".jpeg")):
        safe += ext
    return safe[-_NAME_MAX:]


def check(storage: FileStorage | None, label: str = "") -> Checked | None:
    """Read and check one uploaded file. None when no file was chosen; UploadRejected when it is not acceptable."""
    if storage is None or not (storage.filename or "").strip():
        return None
    who = _("“%(item)s”", item=label) if label else _("上传的文件")
    content = storage.stream.read(MAX_FILE_BYTES + 1)  # one byte more: "too large" without reading it all
    if len(content) > MAX_FILE_BYTES:
        raise FileTooLarge(
            _("%(who)s超过 %(n)s MB，请压缩或分页扫描后重新上传", who=who, n=MAX_FILE_MB),
            details={"fields": {"file": _("单个文件不能超过 %(n)s MB", n=MAX_FILE_MB)}},
        )
    if not content:
        raise FileEmpty(_("%(who)s是空文件，请重新选择", who=who), details={"fields": {"file": _("文件为空")}})
    kind = sniff(content[:8])
    if kind is None:
        raise FileTypeRefused(
            _("%(who)s不是 PDF、JPG 或 PNG 文件，系统不接受该类型，请转换为 PDF 或图片后上传", who=who),
            details={"fields": {"file": _("只接受 PDF、JPG、PNG 文件")}},
        )
    mimetype, ext = kind
    return Checked(
        content, hashlib.sha256(content).hexdigest(), mimetype, display_name(storage.filename, label or "材料", ext)
    )


# ---------------------------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------------------------
def _setting(app: Flask, name: str, default: str = "") -> str:
    value = app.config.get(name)  # webapp/config.py
    return str(value if value is not None else "").strip() or default


def store_kind(app: Flask) -> str:
    """UPLOAD_STORE, or its default: `database` in production (several hosts), `filesystem` otherwise."""
    default = "database" if app.config.get("APP_ENV") == "production" else "filesystem"
    return _setting(app, "UPLOAD_STORE", default).lower()


def content_type(content: bytes) -> str:
    kind = sniff(content[:8])
    return kind[0] if kind else blobs.OCTET_STREAM


def make_store(app: Flask, kind: str | None = None) -> blobs.BlobStore:
    """The blob store the app's settings name (see the module's docstring), or the one of `kind`."""
    from webapp import ConfigurationError

    kind = kind or store_kind(app)
    legacy = blobs.FilesystemStore(app.config["UPLOAD_DIR"])
    if kind == "filesystem":
        return legacy
    if kind == "database":
        primary: blobs.BlobStore = blobs.DatabaseStore(app.extensions["db_factory"])
    elif kind == "s3":
        bucket = _setting(app, "S3_BUCKET")
        if not bucket:
            raise ConfigurationError(
                "UPLOAD_STORE=s3 需要设置 S3_BUCKET（存储桶名称）/ UPLOAD_STORE=s3 needs S3_BUCKET"
            )
        primary = blobs.S3Store.connect(
            bucket,
            endpoint_url=_setting(app, "S3_ENDPOINT_URL") or None,
            access_key=_setting(app, "S3_ACCESS_KEY_ID") or None,
            secret_key=_setting(app, "S3_SECRET_ACCESS_KEY") or None,
            region=_setting(app, "S3_REGION", "us-east-1"),
            prefix=_setting(app, "S3_PREFIX", "uploads/"),
        )
    else:
        raise ConfigurationError(
            f"UPLOAD_STORE 只能是 {' | '.join(blobs.KINDS)}，而不是 {kind!r} / unknown UPLOAD_STORE {kind!r}"
        )
    return blobs.ReadThrough(primary, legacy, content_type=content_type)


def init_app(app: Flask) -> blobs.BlobStore:
    """Build the store once per app (after the database): a wrong setting stops the start, not the first upload."""
    store = make_store(app)
    app.extensions["upload_store"] = store
    return store


def blob_store() -> blobs.BlobStore:
    store = current_app.extensions.get("upload_store")
    return store if store is not None else init_app(current_app._get_current_object())


def store(item: Checked) -> bool:
    """Store a checked file (once: the same content is stored once); True when this call stored it."""
    return blob_store().put(item.sha256, item.content, item.mimetype)


def save(storage: FileStorage | None, label: str = "") -> Checked | None:
    """check() then store(); None when no file was chosen."""
    item = check(storage, label)
    if item is not None:
        store(item)
    return item


def read(sha256: str | None) -> Stored | None:
    """The stored file of a sha256, or None (also for a malformed hash, which never reaches the store)."""
    if not blobs.is_sha256(sha256):
        return None
    content = blob_store().get(sha256)
    if content is None:
        return None
    mimetype, ext = sniff(content[:8]) or (blobs.OCTET_STREAM, "")
    return Stored(content, sha256, mimetype, ext)


def forget_unreferenced(session, sha256: str) -> None:
    """Remove a file a request has just stored when no material refers to it (the service refused the upload).
    Leaving an orphan is harmless, so a failure is only logged and never masks the original error."""
    try:
        session.rollback()
        referenced = session.scalar(select(Material.id).where(Material.sha256 == sha256).limit(1)) is not None
        session.commit()
        if not referenced:
            blob_store().delete(sha256)
    except Exception:
        log.exception("could not remove the unreferenced upload %s", sha256)
