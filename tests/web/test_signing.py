"""Issue 11 items 5 and 6: every issued PDF carries a PAdES signature of its issuing office (validated here with
pyHanko's own validator, trusting the office's certificate); one changed byte fails both the signature and the
archive hash — on the public verify page and in `flask verify-document`; administrators generate, import and rotate
the offices' certificates (keys stored encrypted, never shown or logged); rendering and signing run in the render
queue, off the request path, with bounded retries an administrator sees.

Demo data (tests/web/conftest.py): `init-db --demo` renders and signs the demo cases' documents, which makes a
self-signed pilot certificate for each issuing office that had none (not in production)."""

from __future__ import annotations

import io
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import x509 as asn1_x509  # pyHanko's certificate type
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import select

from tests.web.conftest import make_web_app, signed_in
from webapp import issuing
from webapp.signing import SigningSettings, check_file, passphrase
from workflows.domain.models import Case, Document, OpenTask, SigningCertificate, User
from workflows.infra.db import transaction
from workflows.services import archive
from workflows.services import signing as signing_svc

L2 = "150000L260302000002"  # waits for 主管部门审核 by dept_jyt


@pytest.fixture
def app(web_app):
    """The demo app of tests/web/conftest.py (its `db` fixture is a session on the same database)."""
    return web_app


def _issued(db, kind: str | None = None) -> Document:
    q = select(Document).where(Document.sha256.is_not(None)).order_by(Document.id)
    if kind:
        q = q.where(Document.kind == kind)
    doc = db.scalars(q).first()
    assert doc is not None
    return doc


def _office_cert(db, office: str) -> SigningCertificate:
    cert = signing_svc.active_certificate(db, office)
    assert cert is not None
    return cert


def _pyhanko_status(pdf: bytes, trusted_der: list[bytes]):
    """pyHanko's validator, as a relying party runs it: trust exactly the office's certificate(s)."""
    sig = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[-1]
    roots = [asn1_x509.Certificate.load(bytes(c)) for c in trusted_der]
    return sig, validate_pdf_signature(sig, ValidationContext(trust_roots=roots, allow_fetching=False))


def _plan(db, case, office: str) -> Document:
    """A 补正材料通知书 numbered by `office`, waiting for the render queue."""
    items = [{"name": "体检报告", "requirement": "请补正"}]
    return archive.plan_document(db, case, "correction_notice", office, {"items": items}, by="test")


def _tamper(pdf: bytes) -> bytes:
    """Change one byte of the page content (inside the signed byte range, far from the signature itself)."""
    i = pdf.index(b"stream", len(pdf) // 10) + 40
    return pdf[:i] + bytes([pdf[i] ^ 0x01]) + pdf[i + 1 :]


# ---- the signature ---------------------------------------------------------------------------------------------------


def test_every_issued_pdf_is_signed_pades_b_b_by_its_office_and_pyhanko_validates_it(db):
    docs = list(db.scalars(select(Document).where(Document.sha256.is_not(None))))
    assert docs and all(d.signer_fingerprint for d in docs)  # every archived PDF of the demo is signed
    for office in {d.office_code for d in docs}:
        doc = next(d for d in docs if d.office_code == office)
        cert = _office_cert(db, office)
        assert doc.signer_fingerprint == cert.fingerprint
        sig, status = _pyhanko_status(doc.pdf, [cert.cert_der])
        assert status.bottom_line and status.intact and status.valid and status.trusted, status.pretty_print_details()
        assert status.coverage.name == "ENTIRE_FILE"  # nothing after the signature
        # PAdES baseline B-B: CAdES detached subfilter, the signer's certificate bound by signing-certificate-v2
        assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
        attrs = {a["type"].native for a in sig.signer_info["signed_attrs"]}
        assert {"signing_certificate_v2", "message_digest", "content_type"} <= attrs
        assert "signing_time" not in attrs  # B-B: the time is the PDF's /M, not a CMS attribute
        assert sig.signer_info["digest_algorithm"]["algorithm"].native == "sha256"
        assert archive.display_code(doc.verify_code) in str(sig.sig_object["/Reason"])
        # the office's own name in the certificate
        unit_name = doc.data["issuer"]
        assert unit_name[:10] in status.signing_cert.subject.human_friendly
        # another office's certificate is not trusted for it
        other = next(c for c in signing_svc.certificates(db) if c.office_code != office)
        _, foreign = _pyhanko_status(doc.pdf, [other.cert_der])
        assert foreign.intact and not foreign.trusted and not foreign.bottom_line
    db.commit()


def test_one_changed_byte_fails_both_the_signature_and_the_archive_hash(db):
    doc = _issued(db)
    pdf, cert = bytes(doc.pdf), _office_cert(db, doc.office_code)
    good = check_file(db, pdf)
    assert good.document.id == doc.id and good.hash_matches and good.signature.valid and good.valid
    bad_pdf = _tamper(pdf)
    assert len(bad_pdf) == len(pdf) and sum(a != b for a, b in zip(bad_pdf, pdf, strict=True)) == 1
    bad = check_file(db, bad_pdf)
    assert bad.document.id == doc.id  # found by the code in the signature, though the hash no longer matches
    assert not bad.hash_matches and not bad.signature.valid and not bad.signature.intact and not bad.valid
    assert bad.signature.reason == "modified"
    _, status = _pyhanko_status(bad_pdf, [cert.cert_der])  # pyHanko itself agrees
    assert not status.intact and not status.bottom_line
    db.commit()


def test_verify_page_checks_signature_and_hash_of_an_upload(app, db):
    doc = _issued(db)
    pdf, code = bytes(doc.pdf), doc.verify_code
    db.commit()
    client = app.test_client()

    def upload(content: bytes) -> str:
        r = client.post(
            f"/verify/{code}", data={"pdf": (io.BytesIO(content), "x.pdf")}, content_type="multipart/form-data"
        )
        assert r.status_code == 200
        return r.get_data(as_text=True)

    page = upload(pdf)
    assert "核对结果：<strong>一致</strong>" in page
    assert re.search(r"电子签名：<strong>有效</strong>——由 .*签署", page)
    page = upload(_tamper(pdf))
    assert "核对结果：<strong>不一致</strong>" in page
    assert "电子签名：<strong>无效</strong>——文件在签署后被改动过。" in page
    # a genuine PDF of the same office under another document's code: the hash says so, the signature holds
    other = db.scalars(
        select(Document).where(
            Document.sha256.is_not(None), Document.office_code == doc.office_code, Document.id != doc.id
        )
    ).first()
    if other is not None:
        page = upload(bytes(other.pdf))
        assert "<strong>不一致</strong>" in page and "电子签名：<strong>有效</strong>" in page
    db.commit()


def test_cli_verify_document_exits_non_zero_on_a_tampered_file(app, db, tmp_path):
    doc = _issued(db)
    good, bad = tmp_path / "good.pdf", tmp_path / "bad.pdf"
    good.write_bytes(bytes(doc.pdf))
    bad.write_bytes(_tamper(bytes(doc.pdf)))
    doc_no = doc.doc_no
    db.commit()
    runner = app.test_cli_runner()
    r = runner.invoke(args=["verify-document", str(good)])
    assert r.exit_code == 0, r.output
    assert doc_no in r.output and "归档哈希：一致" in r.output and "电子签名：有效" in r.output
    r = runner.invoke(args=["verify-document", str(bad)])
    assert r.exit_code == 1
    assert doc_no in r.output and "归档哈希：不一致" in r.output and "电子签名：无效" in r.output
    assert "核验未通过" in r.output
    unsigned = tmp_path / "unsigned.pdf"
    unsigned.write_bytes(b"%PDF-1.7\n%%EOF\n")
    r = runner.invoke(args=["verify-document", str(unsigned)])
    assert r.exit_code == 1 and "档案中没有对应的文书" in r.output and "电子签名：无效" in r.output


# ---- certificates: administrators' page, storage, rotation ------------------------------------------------------------


def _pkcs12(password: bytes, *, cn: str = "内蒙古自治区人力资源和社会保障厅") -> tuple[bytes, x509.Certificate]:
    """A small CA and a leaf it issued, as a CA would deliver it (PKCS#12 with the CA certificate)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "测试 CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=730))
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
        )  # digitalSignature + nonRepudiation, as a CA's document-signing certificate has
        .sign(ca_key, hashes.SHA256())
    )
    data = pkcs12.serialize_key_and_certificates(
        b"rs", key, leaf, [ca], serialization.BestAvailableEncryption(password)
    )
    return data, ca


def test_administrator_generates_imports_and_rotates_and_old_documents_still_verify(app, db, caplog):
    caplog.set_level("DEBUG")
    old_doc = _issued(db)
    office = old_doc.office_code
    old_cert = _office_cert(db, office)
    old_pdf, old_fp = bytes(old_doc.pdf), old_cert.fingerprint
    db.commit()
    admin = signed_in(app, "admin")
    page = admin.get("/admin/signing").get_data(as_text=True)
    assert "电子签名证书" in page and "SHA-256 指纹" in page and "当前使用" in page
    assert ":".join(re.findall("..", old_fp.upper()))[:47] in page
    assert "PRIVATE KEY" not in page

    # rotate to a new self-signed certificate
    r = admin.post("/admin/signing/generate", data={"office_code": office})
    assert r.status_code == 302
    db.expire_all()
    new = _office_cert(db, office)
    assert new.fingerprint != old_fp and new.source == "self_signed" and new.created_by == "admin"
    retired = db.scalar(select(SigningCertificate).where(SigningCertificate.fingerprint == old_fp))
    assert not retired.active and retired.retired_by == "admin"
    assert bytes(new.key_encrypted).startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    db.commit()
    assert check_file(db, old_pdf).valid  # what the retired certificate signed still verifies
    db.commit()

    # import a CA-issued PKCS#12: a wrong password changes nothing
    data, ca = _pkcs12(b"p12-secret")
    r = admin.post(
        "/admin/signing/import",
        data={"office_code": office, "password": "wrong", "file": (io.BytesIO(data), "rs.p12")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 422 and "口令不正确" in r.get_data(as_text=True)
    db.expire_all()
    assert _office_cert(db, office).fingerprint == new.fingerprint
    db.commit()
    r = admin.post(
        "/admin/signing/import",
        data={"office_code": office, "password": "p12-secret", "file": (io.BytesIO(data), "rs.p12")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    db.expire_all()
    imported = _office_cert(db, office)
    assert imported.source == "imported" and "测试 CA" in imported.issuer and len(imported.chain_der) == 1
    db.commit()

    # the next document of that office is signed with the imported certificate (its CA chain embedded)
    with transaction(db):
        case = db.scalar(select(Document).where(Document.office_code == office)).case
        doc = _plan(db, case, office)
    doc_id = doc.id
    assert issuing.drain(app) >= 1
    db.expire_all()
    doc = db.get(Document, doc_id)
    assert doc.signer_fingerprint == imported.fingerprint
    _, status = _pyhanko_status(bytes(doc.pdf), [ca.public_bytes(serialization.Encoding.DER)])
    assert status.bottom_line  # a relying party trusting the CA accepts it
    assert check_file(db, bytes(doc.pdf)).valid
    pem = admin.get(f"/admin/signing/{imported.id}/certificate.pem").get_data(as_text=True)
    assert pem.startswith("-----BEGIN CERTIFICATE-----") and "PRIVATE" not in pem
    db.commit()

    # keys never reach the logs: neither the passphrase nor any key material
    secret = passphrase(app.config).decode()
    assert secret not in caplog.text and "PRIVATE KEY" not in caplog.text and "p12-secret" not in caplog.text
    assert "signing_certificate_rotated" in [getattr(r, "event", None) for r in caplog.records]


def test_certificate_pages_refuse_bad_input_and_non_administrators(app, db):
    admin = signed_in(app, "admin")
    r = admin.post("/admin/signing/generate", data={"office_code": "NOPE"})
    assert r.status_code == 422 and "发文机关不存在" in r.get_data(as_text=True)
    r = admin.post(
        "/admin/signing/import",
        data={"office_code": "RS", "password": "", "file": (io.BytesIO(b"not a p12"), "x.p12")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 422 and "PKCS#12" in r.get_data(as_text=True)
    officer = signed_in(app, "renshe")
    assert officer.get("/admin/signing").status_code == 403
    assert officer.post("/admin/signing/generate", data={"office_code": "RS"}).status_code == 403


def test_rekey_reencrypts_every_key_and_signing_goes_on(app, db):
    old = passphrase(app.config)
    with transaction(db):
        with pytest.raises(Exception, match="旧口令无法解密"):
            signing_svc.rekey(db, b"not-the-passphrase", b"n" * 32, by="test")
    with transaction(db):
        n = signing_svc.rekey(db, old, b"n" * 32, by="test")
    assert n == len(signing_svc.certificates(db))
    with transaction(db):
        case = db.scalar(select(Document)).case
        doc = _plan(db, case, "RS")
    doc_id = doc.id
    factory = app.extensions["db_factory"]
    with app.app_context():  # the old passphrase no longer opens the keys: a recorded failure, no PDF
        assert issuing.render_pending(factory, signing=SigningSettings(passphrase=old)) == 0
        db.expire_all()
        assert "口令不符" in db.get(Document, doc_id).render_error
        db.commit()
        assert issuing.render_pending(factory, signing=SigningSettings(passphrase=b"n" * 32), due_only=False) == 1
    db.expire_all()
    assert check_file(db, bytes(db.get(Document, doc_id).pdf)).valid
    db.commit()


# ---- the render queue --------------------------------------------------------------------------------------------------


def test_a_document_without_a_certificate_waits_and_is_shown_to_administrators_until_retried(app, db, clock):
    """As in production (no pilot certificates made): the office of the document has none → recorded failure,
    retried with a pause, listed on /admin/rendering; once a certificate is installed, 重新生成 issues it."""
    with transaction(db):
        case = db.scalar(select(Document)).case
        doc = _plan(db, case, "BB")
        db.execute(SigningCertificate.__table__.delete().where(SigningCertificate.office_code == "BB"))
    doc_id, doc_no = doc.id, doc.doc_no
    production_like = SigningSettings(passphrase=passphrase(app.config), auto_pilot=False)
    factory = app.extensions["db_factory"]
    with app.app_context():
        assert issuing.render_pending(factory, signing=production_like) == 0
        assert issuing.render_pending(factory, signing=production_like) == 0  # waiting out its pause
    db.expire_all()
    d = db.get(Document, doc_id)
    assert d.render_attempts == 1 and "未配置签名证书" in d.render_error and d.sha256 is None
    db.commit()

    admin = signed_in(app, "admin")
    page = admin.get("/admin/rendering").get_data(as_text=True)
    assert doc_no in page and "未配置签名证书" in page and "1 / 5" in page and "重新生成" in page
    assert "文书生成" in admin.get("/admin/").get_data(as_text=True)  # the tab in the admin navigation

    assert admin.post("/admin/signing/generate", data={"office_code": "BB"}).status_code == 302
    r = admin.post(f"/admin/rendering/{doc_id}/retry")
    assert r.status_code == 302
    db.expire_all()
    d = db.get(Document, doc_id)
    assert (d.render_attempts, d.render_next_at) == (0, None)
    db.commit()
    with app.app_context():
        assert issuing.render_pending(factory, signing=production_like) == 1
    page = admin.get("/admin/rendering").get_data(as_text=True)
    assert "没有生成失败的文书" in page and 'data-testid="failures"' not in page
    assert admin.post(f"/admin/rendering/{doc_id}/retry").status_code == 409  # already issued


def test_the_in_process_renderer_archives_a_submission_pdf_shortly_after_the_response(tmp_path, demo_db_template):
    """`make run` (SWEEP_IN_PROCESS=1): a step whose submission issues a notice (主管部门 refuses L2: 不予受理通知书)
    returns at once; the background thread, woken by the request, archives the signed PDF; meanwhile the case's
    documents say 生成中 (the bench measures how soon it is ready: bench/submission.py)."""
    app = make_web_app(tmp_path, demo_db_template, SWEEP_IN_PROCESS=True, SWEEP_INTERVAL_SECONDS=3600)
    try:
        factory = app.extensions["db_factory"]
        with factory() as s:
            before = set(s.scalars(select(Document.id)))
            task = s.scalar(
                select(OpenTask).join(Case).where(Case.case_no == L2, OpenTask.spec_name == "Task_dept_review")
            )
            url = f"/officer/cases/{L2}/tasks/{task.task_id}/complete"
        dept = signed_in(app, "dept_jyt")
        r = dept.post(url, data={"dept_decision": "refuse", "dept_opinion": "不符合引进条件"})
        assert r.status_code == 303, r.get_data(as_text=True)[:300]
        with factory() as s:
            [new_id] = set(s.scalars(select(Document.id))) - before
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with factory() as s:
                d = s.get(Document, new_id)
                if d.sha256:
                    break
            time.sleep(0.05)
        assert d.sha256 and d.signer_fingerprint, "the thread did not archive it"
        with factory() as s:
            assert check_file(s, bytes(s.get(Document, new_id).pdf)).valid
    finally:
        app.extensions["sweeper_stop"].set()
        issuing.stop_renderer(app)
        app.extensions["db_session"].remove()
        app.extensions["db_engine"].dispose()


def test_documents_lists_say_generating_until_the_pdf_is_archived(app, db):
    """Without a renderer running (no thread, no worker) the refusal's PDF does not exist yet: the officer's and the
    applicant's lists say 生成中 and offer no download (the cell the page's poll swaps); after the queue drains,
    both offer the PDF."""
    task = db.scalar(select(OpenTask).join(Case).where(Case.case_no == L2, OpenTask.spec_name == "Task_dept_review"))
    url = f"/officer/cases/{L2}/tasks/{task.task_id}/complete"
    case = db.scalar(select(Case).where(Case.case_no == L2))
    applicant = db.scalar(select(User.username).where(User.id == case.applicant_user_id))
    before = set(db.scalars(select(Document.id)))
    db.commit()
    dept = signed_in(app, "dept_jyt")
    assert dept.post(url, data={"dept_decision": "refuse", "dept_opinion": "不符合引进条件"}).status_code == 303
    [new_id] = set(db.scalars(select(Document.id))) - before
    db.commit()
    pending = re.compile(rf'<td[^>]*data-doc-pending="{new_id}"[^>]*><span class="muted">生成中…</span></td>')
    ready = re.compile(rf'<td[^>]*data-doc-ready="{new_id}"[^>]*><a [^>]*>下载 PDF</a></td>')
    pages = [(dept, f"/officer/cases/{L2}/documents/"), (dept, f"/officer/cases/{L2}")]
    pages.append((signed_in(app, applicant), f"/my/case/{L2}"))
    for client, path in pages:
        page = client.get(path).get_data(as_text=True)
        assert pending.search(page) and not ready.search(page), path
        assert "doc-pending.js" in page
    assert issuing.drain(app) == 1
    for client, path in pages:
        page = client.get(path).get_data(as_text=True)
        assert ready.search(page) and not pending.search(page), path


def test_the_worker_round_renders_and_signs_what_a_submission_left_pending(app, db):
    """Production: the web process renders nothing; `flask sweep` (one round of `flask worker`) archives the PDF."""
    task = db.scalar(select(OpenTask).join(Case).where(Case.case_no == L2, OpenTask.spec_name == "Task_dept_review"))
    url = f"/officer/cases/{L2}/tasks/{task.task_id}/complete"
    before = set(db.scalars(select(Document.id)))
    db.commit()
    dept = signed_in(app, "dept_jyt")
    assert dept.post(url, data={"dept_decision": "refuse", "dept_opinion": "不符合引进条件"}).status_code == 303
    [new_id] = set(db.scalars(select(Document.id))) - before
    assert db.get(Document, new_id).sha256 is None
    db.commit()
    r = app.test_cli_runner().invoke(args=["sweep"])
    assert r.exit_code == 0 and "文书生成：1 份" in r.output, r.output
    db.expire_all()
    doc = db.get(Document, new_id)
    assert doc.status == "issued" and check_file(db, bytes(doc.pdf)).valid
    db.commit()


def test_signing_and_checking_work_from_a_thread_that_runs_an_event_loop(app, db):
    """pyHanko's sync API runs asyncio.run(): from a thread with a running loop (a command or a test driving
    Playwright's sync API renders there: `init-db --demo`) it must still sign and check, not fail the render."""
    import asyncio

    with transaction(db):
        doc = _plan(db, db.scalar(select(Document)).case, "RS")
    doc_id = doc.id

    async def inside_a_loop():
        return issuing.drain(app)

    assert asyncio.run(inside_a_loop()) == 1
    db.expire_all()
    doc = db.get(Document, doc_id)
    assert doc.render_attempts == 0 and asyncio.run(_check_in_loop(db, bytes(doc.pdf)))
    db.commit()


async def _check_in_loop(db, pdf: bytes) -> bool:
    return check_file(db, pdf).valid
