"""PAdES signatures of issued PDFs (pyHanko): sign with an office's key, check a file against trusted certificates.

Data in, PDF out, like the rest of `documents/`: the caller hands over the PEM of an *encrypted* private key with
its passphrase and the certificate (DER); nothing here reads a database, a file or a setting, and nothing here logs
key material.

The signature is PAdES baseline B-B (ETSI EN 319 142-1): subfilter ``ETSI.CAdES.detached``, SHA-256, the signing
certificate bound by the ``signing-certificate-v2`` attribute, no signing time in the CMS (it is in the PDF's /M).
B-T would need a time-stamping authority; an office that has one can add it later without changing the archive.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509

with warnings.catch_warnings():  # pyHanko imports the DSA type of `cryptography`, which deprecates DSA
    warnings.simplefilter("ignore")
    from pyhanko.keys import load_private_key_from_pemder_data
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields, signers
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.registry import SimpleCertificateStore

FIELD_NAME = "OfficeSignature"


def _off_loop(fn, *args, **kwargs):
    """pyHanko's synchronous API calls asyncio.run(), which a thread already running an event loop cannot do (the
    caller of a CLI command or a test driving a browser with Playwright's sync API): run it in a thread then."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args, **kwargs)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


class SigningError(Exception):
    """The key cannot be read (wrong passphrase, damaged) or the PDF cannot be signed."""


def sign_pdf(
    pdf: bytes,
    *,
    key_pem: bytes,
    passphrase: bytes,
    cert_der: bytes,
    chain_der: list[bytes] | tuple[bytes, ...] = (),
    reason: str = "",
    location: str = "",
    name: str | None = None,
) -> bytes:
    """`pdf` with an invisible PAdES B-B signature of the key's owner appended as an incremental update."""
    try:
        key = load_private_key_from_pemder_data(key_pem, passphrase=passphrase)
    except Exception as e:  # never echo the key or the passphrase: the type of failure is enough
        raise SigningError("签名私钥无法解密（口令不符或密钥损坏）") from e
    cert = asn1_x509.Certificate.load(cert_der)
    registry = SimpleCertificateStore.from_certs([asn1_x509.Certificate.load(c) for c in chain_der])
    signer = signers.SimpleSigner(signing_cert=cert, signing_key=key, cert_registry=registry)
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason or None,
        location=location or None,
        name=name,
    )
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        out = _off_loop(signers.sign_pdf, writer, meta, signer=signer)
    except Exception as e:
        raise SigningError(f"PDF 签名失败：{type(e).__name__}") from e
    return out.getvalue()


def signature_reason(pdf: bytes) -> str:
    """The /Reason of the file's last signature ("" when none or unreadable): the signer puts the document's
    verification code there, so a verifier finds the archive record even of a file whose bytes were changed."""
    try:
        sigs = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures
        return str(sigs[-1].sig_object.get("/Reason", "")) if sigs else ""
    except Exception:
        return ""


@dataclass(frozen=True)
class SignatureCheck:
    """What a verifier learns from a file's signature. `valid` is the bottom line: a signature is present, the
    signed bytes are unchanged (`intact`), the cryptography holds, the signer's certificate is one of the trusted
    ones (`trusted`) and nothing but signature bookkeeping was appended after signing (`covers_whole_file`)."""

    valid: bool
    present: bool
    intact: bool = False
    trusted: bool = False
    covers_whole_file: bool = False
    signer: str = ""
    fingerprint: str = ""  # sha256 of the signer certificate's DER, hex
    signed_at: str = ""  # as the PDF states it (ISO 8601)
    problem: str = ""  # one Chinese sentence when not valid
    reason: str = ""  # its code: unreadable | unsigned | malformed | modified | untrusted | appended


def check_signature(pdf: bytes, trusted_der: list[bytes] | tuple[bytes, ...]) -> SignatureCheck:
    """Validate the last signature of `pdf` with pyHanko, trusting exactly the given certificates (the issuing
    office's, current and retired). Any parse failure is an invalid signature, never an exception."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        sigs = reader.embedded_signatures
    except Exception:
        return SignatureCheck(
            valid=False, present=False, problem="文件无法按 PDF 解析，签名无法核验", reason="unreadable"
        )
    if not sigs:
        return SignatureCheck(valid=False, present=False, problem="文件未带电子签名", reason="unsigned")
    sig = sigs[-1]
    roots = [asn1_x509.Certificate.load(c) for c in trusted_der]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            context = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
            status = _off_loop(validate_pdf_signature, sig, context)
    except Exception as e:
        return SignatureCheck(
            valid=False, present=True, problem=f"签名数据无法解析（{type(e).__name__}）", reason="malformed"
        )
    cert = status.signing_cert
    fingerprint = cert.sha256.hex() if cert is not None else ""
    signer = ""
    if cert is not None:  # the common name (the office) where there is one, else the whole subject
        cn = cert.subject.native.get("common_name")
        signer = (cn[-1] if isinstance(cn, list) else cn) or cert.subject.human_friendly
    signed_at = status.signer_reported_dt.isoformat() if status.signer_reported_dt else ""
    whole = bool(status.coverage is not None and status.coverage.name in ("ENTIRE_FILE", "ENTIRE_REVISION"))
    whole = whole and (status.modification_level is None or status.modification_level.name in ("NONE", "LTA_UPDATES"))
    intact = bool(status.intact and status.valid)
    trusted = bool(status.trusted)
    problem = reason = ""
    if not intact:
        problem, reason = "签名后文件内容被改动，签名无效", "modified"
    elif not trusted:
        problem, reason = "签名证书不是该发文机关的证书", "untrusted"
    elif not whole:
        problem, reason = "签名后文件被追加修改", "appended"
    return SignatureCheck(
        valid=intact and trusted and whole,
        present=True,
        intact=intact,
        trusted=trusted,
        covers_whole_file=whole,
        signer=signer,
        fingerprint=fingerprint,
        signed_at=signed_at,
        problem=problem,
        reason=reason,
    )
