"""The issuing offices' signing certificates: generate (self-signed, for a pilot), import (PKCS#12 from a CA), rotate.

Keys
----
A private key is stored only encrypted: PKCS#8 PEM with ``BestAvailableEncryption`` (PBKDF2-HMAC-SHA256 + AES-256-CBC
in `cryptography`), under a passphrase the caller passes in (the web layer reads it from SIGNING_KEY_PASSPHRASE; this
module never sees a setting). The passphrase is not in the database, so a database dump or backup alone does not
yield a key; the key is in the database (`signing_certificate.key_encrypted`), not on a host's disk, so every worker
on every host can sign. No function here logs or returns a decrypted key: `key_material` returns the encrypted PEM,
which the signer (documents/signing.py) decrypts in memory.

Rotation: generating or importing a certificate for an office retires its active one (kept, never deleted, so the
documents it signed still verify); `rekey` re-encrypts every key under a new passphrase.
"""

from __future__ import annotations

import base64
import logging
import secrets
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from workflows.domain.clock import now_utc
from workflows.domain.errors import Conflict, NotFound, ValidationFailed
from workflows.domain.models import SigningCertificate
from workflows.infra import lookups

log = logging.getLogger(__name__)

SELF_SIGNED_YEARS = 3
MAX_PKCS12_BYTES = 256 * 1024


def _office_name(session: Session, office_code: str) -> str:
    unit = lookups.unit(session, office_code)
    if unit is None:
        raise ValidationFailed(f"发文机关不存在：{office_code}")
    return unit.name


def _encrypt(key, passphrase: bytes) -> bytes:
    if not passphrase:
        raise ValidationFailed("未配置签名密钥口令（SIGNING_KEY_PASSPHRASE）")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def _fit(text: str, limit: int = 64) -> str:
    """X.520 names are at most 64 (UTF-8 bytes as `cryptography` counts them): a long office name is cut."""
    while len(text.encode()) > limit:
        text = text[:-1]
    return text


def _name_text(name: x509.Name) -> str:
    return name.rfc4514_string()[:500]


def _install(
    session: Session,
    office_code: str,
    cert: x509.Certificate,
    key,
    chain: list[x509.Certificate],
    source: str,
    passphrase: bytes,
    by: str,
) -> SigningCertificate:
    der = cert.public_bytes(serialization.Encoding.DER)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    if session.scalar(select(SigningCertificate.id).where(SigningCertificate.fingerprint == fingerprint)):
        raise Conflict("该证书已导入过，不能重复导入")
    now = now_utc()
    old = active_certificate(session, office_code)
    if old is not None:  # rotation: the old one stays for verifying what it signed
        session.execute(
            update(SigningCertificate)
            .where(SigningCertificate.id == old.id)
            .values(active=False, retired_at=now, retired_by=by)
        )
        session.flush()
    row = SigningCertificate(
        office_code=office_code,
        source=source,
        subject=_name_text(cert.subject),
        issuer=_name_text(cert.issuer),
        serial=format(cert.serial_number, "x")[:80],
        fingerprint=fingerprint,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        cert_der=der,
        chain_der=[base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain],
        key_encrypted=_encrypt(key, passphrase),
        active=True,
        created_at=now,
        created_by=by,
    )
    session.add(row)
    session.flush()
    log.info(
        "signing certificate installed",
        extra={
            "event": "signing_certificate_" + ("rotated" if old is not None else "installed"),
            "office": office_code,
            "source": source,
            "fingerprint": fingerprint,
            "retired_fingerprint": old.fingerprint if old is not None else None,
            "by": by,
        },
    )
    return row


def generate_self_signed(
    session: Session, office_code: str, passphrase: bytes, by: str, years: int = SELF_SIGNED_YEARS
) -> SigningCertificate:
    """A new ECDSA P-256 key and a self-signed certificate naming the office (a pilot: trusted only where the
    verifier trusts this certificate — our verify page and CLI do). Retires the office's active certificate."""
    name = _office_name(session, office_code)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _fit(name)),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"电子签章（试点）{office_code}"),
            x509.NameAttribute(NameOID.COMMON_NAME, _fit(name)),
        ]
    )
    now = datetime.now(UTC).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _install(session, office_code, cert, key, [], "self_signed", passphrase, by)


def import_pkcs12(
    session: Session, office_code: str, data: bytes, password: str, passphrase: bytes, by: str
) -> SigningCertificate:
    """Install the key and certificate of a PKCS#12 file (.p12/.pfx) from a CA; its CA certificates are kept as the
    chain embedded in each signature. The file's password is used once and not stored."""
    _office_name(session, office_code)
    if not data:
        raise ValidationFailed("请选择 PKCS#12 证书文件（.p12 / .pfx）")
    if len(data) > MAX_PKCS12_BYTES:
        raise ValidationFailed("证书文件过大（不超过 256 KB）")
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, (password or "").encode() or None)
    except ValueError:
        raise ValidationFailed("无法读取证书文件：文件不是 PKCS#12 格式或口令不正确") from None
    if key is None or cert is None:
        raise ValidationFailed("证书文件中须同时包含私钥和签名证书")
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValidationFailed("仅支持 RSA 或 ECDSA 签名密钥")
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, pub) != cert.public_key().public_bytes(
        serialization.Encoding.DER, pub
    ):
        raise ValidationFailed("私钥与证书不匹配")
    now = now_utc()
    if cert.not_valid_after_utc <= now or cert.not_valid_before_utc > now:
        raise ValidationFailed("证书不在有效期内")
    return _install(session, office_code, cert, key, list(extra or []), "imported", passphrase, by)


def active_certificate(session: Session, office_code: str) -> SigningCertificate | None:
    return session.scalar(
        select(SigningCertificate).where(SigningCertificate.office_code == office_code, SigningCertificate.active)
    )


def certificates(session: Session) -> list[SigningCertificate]:
    """Every certificate, current first, per office."""
    return list(
        session.scalars(
            select(SigningCertificate).order_by(
                SigningCertificate.office_code, SigningCertificate.active.desc(), SigningCertificate.id.desc()
            )
        )
    )


def trusted_der(session: Session, office_code: str) -> list[bytes]:
    """The certificates a document of this office may be signed with: current and retired."""
    return list(
        session.scalars(select(SigningCertificate.cert_der).where(SigningCertificate.office_code == office_code))
    )


def key_material(session: Session, office_code: str) -> tuple[SigningCertificate, bytes, list[bytes]] | None:
    """(certificate row, encrypted key PEM, chain DER) of the office's active certificate, or None."""
    cert = active_certificate(session, office_code)
    if cert is None:
        return None
    chain = [base64.b64decode(c) for c in cert.chain_der or []]
    return cert, bytes(cert.key_encrypted), chain


def get(session: Session, cert_id: int) -> SigningCertificate:
    cert = session.get(SigningCertificate, cert_id)
    if cert is None:
        raise NotFound("证书不存在")
    return cert


def rekey(session: Session, old_passphrase: bytes, new_passphrase: bytes, by: str) -> int:
    """Re-encrypt every stored key under `new_passphrase` (all or nothing: one key the old passphrase does not open
    refuses the whole run). Returns how many keys were re-encrypted."""
    if not new_passphrase or new_passphrase == old_passphrase:
        raise ValidationFailed("新口令不能为空，且须与旧口令不同")
    rows = list(session.scalars(select(SigningCertificate).order_by(SigningCertificate.id)))
    for row in rows:
        try:
            key = serialization.load_pem_private_key(bytes(row.key_encrypted), old_passphrase)
        except (ValueError, TypeError):
            raise ValidationFailed(f"旧口令无法解密证书 {row.fingerprint[:16]}… 的私钥，未做任何修改") from None
        row.key_encrypted = _encrypt(key, new_passphrase)
    session.flush()
    log.info("signing keys re-encrypted", extra={"event": "signing_keys_rekeyed", "count": len(rows), "by": by})
    return len(rows)
