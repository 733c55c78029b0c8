"""Uploaded material files: checked by their first bytes, stored once under UPLOAD_DIR/<sha256>.

The client's file name is used for display only (cleaned); the type is decided by the content (PDF, JPEG, PNG)
and every file is capped at MAX_FILE_BYTES on top of the request cap (MAX_CONTENT_LENGTH). Anything else is refused
with a Chinese message (`UploadRejected`, a 422 `ValidationFailed`) before a byte is written.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from flask import current_app
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from workflows.domain.errors import ValidationFailed

MAX_FILE_BYTES = 10 * 1024 * 1024  # 10 MB per file
MAX_FILE_MB = MAX_FILE_BYTES // (1024 * 1024)
# (leading bytes, mimetype, extension, label)
SIGNATURES = ((b"%PDF-", "application/pdf", ".pdf", "PDF"),
              (b"\xff\xd8\xff", "image/jpeg", ".jpg", "JPEG"),
              (b"\x89PNG", "image/png", ".png", "PNG"))
ACCEPT = ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"
_SHA = re.compile(r"^[0-9a-f]{64}$")
_UNSAFE = re.compile(r"[^\w.\-（）() ]+", re.UNICODE)


class UploadRejected(ValidationFailed):
    """A file that is not accepted (type, size, empty); the message says why, in Chinese."""


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


def sniff(head: bytes) -> Optional[tuple[str, str]]:
    """(mimetype, extension) from the first bytes, or None for anything but PDF, JPEG and PNG."""
    for magic, mimetype, ext, _label in SIGNATURES:
        if head.startswith(magic):
            return mimetype, ext
    return None


def display_name(client_name: str | None, fallback: str, ext: str) -> str:
    """A name fit to show: secure_filename when it keeps a stem, otherwise a Unicode-safe cleanup (Chinese names
    would lose every character to secure_filename); never a path, never control characters."""
    raw = (client_name or "").replace("\\", "/").rsplit("/", 1)[-1]
    raw = "".join(ch for ch in unicodedata.normalize("NFC", raw) if unicodedata.category(ch)[0] != "C")
    safe = secure_filename(raw)
    stem = safe.rsplit(".", 1)[0] if "." in safe else safe
    if not stem or stem.lower() in ("pdf", "jpg", "jpeg", "png"):
        safe = _UNSAFE.sub("_", raw).strip(" ._")
        stem = safe.rsplit(".", 1)[0] if "." in safe else safe
    if not stem:
        safe = fallback
    if not safe.lower().endswith(ext) and not (ext == ".jpg" and safe.lower().endswith(".jpeg")):
        safe += ext
    return safe[-120:]


def check(storage: FileStorage | None, label: str = "") -> Optional[Checked]:
    """Read and check one uploaded file. None when no file was chosen; UploadRejected when it is not acceptable."""
    if storage is None or not (storage.filename or "").strip():
        return None
    who = _("“%(item)s”", item=label) if label else _("上传的文件")
    content = storage.stream.read(MAX_FILE_BYTES + 1)
    if len(content) > MAX_FILE_BYTES:
        raise UploadRejected(_("%(who)s超过 %(n)s MB，请压缩或分页扫描后重新上传", who=who, n=MAX_FILE_MB),
                             details={"fields": {"file": _("单个文件不能超过 %(n)s MB", n=MAX_FILE_MB)}})
    if not content:
        raise UploadRejected(_("%(who)s是空文件，请重新选择", who=who), details={"fields": {"file": _("文件为空")}})
    kind = sniff(content[:8])
    if kind is None:
        raise UploadRejected(_("%(who)s不是 PDF、JPG 或 PNG 文件，系统不接受该类型，请转换为 PDF 或图片后上传", who=who),
                             details={"fields": {"file": _("只接受 PDF、JPG、PNG 文件")}})
    mimetype, ext = kind
    return Checked(content, hashlib.sha256(content).hexdigest(), mimetype,
                   display_name(storage.filename, label or "材料", ext))


def upload_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"])


def store(item: Checked) -> str:
    """Write the file under UPLOAD_DIR/<sha256> (once: the same content is stored once); returns the sha256."""
    folder = upload_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / item.sha256
    if target.exists() and target.stat().st_size == item.size:
        return item.sha256
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".up-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(item.content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return item.sha256


def save(storage: FileStorage | None, label: str = "") -> Optional[Checked]:
    """check() then store(); None when no file was chosen."""
    item = check(storage, label)
    if item is not None:
        store(item)
    return item


def path_for(sha256: str | None) -> Optional[Path]:
    """The stored file of a sha256, or None (a malformed hash never reaches the file system)."""
    if not sha256 or not _SHA.match(sha256):
        return None
    p = upload_dir() / sha256
    return p if p.is_file() else None


def mimetype_of(path: Path) -> tuple[str, str]:
    """(mimetype, extension) of a stored file, from its first bytes."""
    with open(path, "rb") as f:
        return sniff(f.read(8)) or ("application/octet-stream", "")
