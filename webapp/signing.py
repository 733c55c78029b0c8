"""Signing glue: the passphrase from the settings, signing a rendered PDF with its office's certificate, and the
two checks of a file (electronic signature + archive hash) shared by the public verify page and
`flask verify-document`.

Why SIGNING_KEY_PASSPHRASE and not a key derived from SECRET_KEY: SECRET_KEY signs the sessions of every web
process and is rotated whenever a session compromise is suspected — rotating it must not make every office's
signing key unreadable, and a leak of it must not expose them. The signing passphrase protects long-lived keys,
is needed only where PDFs are signed (the worker) and where an administrator installs a certificate (the web), and
is rotated on its own (`flask signing-rekey`). Outside production, where SECRET_KEY is often the dev default, a key
derived from SECRET_KEY stands in so that `make run` needs no set-up; production refuses to start without it
(webapp/config.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from workflows.domain.errors import Conflict
from workflows.domain.models import Document, SigningCertificate
from workflows.infra.db import transaction
from workflows.services import archive
from workflows.services import signing as signing_svc

if TYPE_CHECKING:
    from documents.signing import SignatureCheck

SIGNER = "system"


class NoCertificate(Exception):
    """The issuing office has no active signing certificate (in production one must be installed first)."""


@dataclass(frozen=True)
class SigningSettings:
    passphrase: bytes = field(repr=False)
    # a self-signed pilot certificate is made for an office that has none (never in production: an administrator
    # installs the office's certificate there, and until then the documents wait, listed on /admin/rendering)
    auto_pilot: bool = True

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SigningSettings:
        return cls(passphrase=passphrase(config), auto_pilot=config.get("APP_ENV") != "production")


def passphrase(config: Mapping[str, Any]) -> bytes:
    value = config.get("SIGNING_KEY_PASSPHRASE")
    if value:
        return str(value).encode()
    derived = hmac.new(str(config.get("SECRET_KEY") or "").encode(), b"green-channel/signing-keys", hashlib.sha256)
    return derived.hexdigest().encode()


def _material(factory: sessionmaker, office_code: str, settings: SigningSettings):
    s = factory()
    try:
        found = signing_svc.key_material(s, office_code)
        if found is None:
            if not settings.auto_pilot:
                raise NoCertificate(f"发文机关 {office_code} 未配置签名证书（系统管理 → 签名证书）")
            try:
                with transaction(s):
                    signing_svc.generate_self_signed(s, office_code, settings.passphrase, by=SIGNER)
            except (IntegrityError, Conflict):
                s.rollback()  # another worker made the office's certificate first: use that one
            found = signing_svc.key_material(s, office_code)
            if found is None:
                raise NoCertificate(f"发文机关 {office_code} 未配置签名证书")
        cert, key_pem, chain = found
        out = (bytes(cert.cert_der), cert.fingerprint, key_pem, chain, cert.subject)
        s.commit()  # end the read: signing happens outside any transaction
        return out
    finally:
        s.close()


def signature_reason(doc: Document) -> str:
    return f"{doc.title} {doc.doc_no} 核验码 {archive.display_code(doc.verify_code)}"


def sign(
    factory: sessionmaker, doc: Document, pdf: bytes, settings: SigningSettings, location: str = ""
) -> tuple[bytes, str]:
    """(signed PDF, signer certificate fingerprint) for a rendered document of `doc.office_code`."""
    from documents import signing as pdf_signing  # pyHanko takes a second to import: only where PDFs are signed

    cert_der, fingerprint, key_pem, chain, _subject = _material(factory, doc.office_code, settings)
    signed = pdf_signing.sign_pdf(
        pdf,
        key_pem=key_pem,
        passphrase=settings.passphrase,
        cert_der=cert_der,
        chain_der=chain,
        reason=signature_reason(doc),
        location=location,
        name=(doc.data or {}).get("issuer") or None,
    )
    return signed, fingerprint


# ------------------------------------------------------------------------------------------------ checking a file
CODE_IN_REASON = re.compile(r"核验码\s*([0-9A-Za-z-]{16,24})")


@dataclass(frozen=True)
class FileCheck:
    """Both checks of one file. `document` is the archive record it claims to be (by the code given, the code in
    its signature, or its hash); `hash_matches` compares the file with that record's archived sha256."""

    document: Document | None
    hash_matches: bool
    signature: SignatureCheck

    @property
    def valid(self) -> bool:
        return self.hash_matches and self.signature.valid


def check_file(session: Session, pdf: bytes, code: str | None = None) -> FileCheck:
    from documents import signing as pdf_signing

    doc = archive.lookup(session, code) if code else None
    if doc is None and not code:
        m = CODE_IN_REASON.search(pdf_signing.signature_reason(pdf))
        doc = archive.lookup(session, m.group(1)) if m else None
        if doc is None:
            digest = hashlib.sha256(pdf).hexdigest()
            doc = session.scalar(select(Document).where(Document.sha256 == digest).limit(1))
    hash_ok = bool(
        doc is not None and doc.sha256 is not None and hmac.compare_digest(hashlib.sha256(pdf).hexdigest(), doc.sha256)
    )
    if doc is not None:
        trusted = signing_svc.trusted_der(session, doc.office_code)
    else:  # no record: the signature may still be one of ours, from any office
        trusted = list(session.scalars(select(SigningCertificate.cert_der)))
    signature = pdf_signing.check_signature(pdf, [bytes(c) for c in trusted])
    return FileCheck(document=doc, hash_matches=hash_ok, signature=signature)
