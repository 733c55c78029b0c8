"""Administrator pages of the issuing machinery, on the admin blueprint (/admin/…):

* **签名证书** (/admin/signing): each issuing office's signing certificate — generate a self-signed one (a pilot),
  import a PKCS#12 file from a CA, see subject, issuer, validity and SHA-256 fingerprint, download the certificate
  (for relying parties), rotate (a new one retires the current one, which stays for verifying what it signed).
* **文书生成** (/admin/rendering): the render queue — how many documents wait, which failed (error, attempts, next
  attempt), and a button to retry one now.

Routes are thin (workflows/services/signing.py, archive.py); a refused input changes nothing and is shown in
Chinese on the page with its status. Each change is logged as an event (`signing_certificate_installed` /
`…_rotated`, `render_retry`) and the certificate rows keep who installed and who retired them.
"""

from __future__ import annotations

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from webapp.admin import _refused, bp
from webapp.db import db_session
from webapp.security import roles_required
from webapp.signing import passphrase
from workflows.domain.errors import DomainError, ValidationFailed
from workflows.domain.models import SigningCertificate, Unit
from workflows.infra.db import transaction
from workflows.services import archive
from workflows.services import signing as signing_svc

SOURCE_LABELS = {"self_signed": _l("自签名（试点）"), "imported": _l("CA 签发（导入）")}


def _offices(session) -> list[Unit]:
    from sqlalchemy import select

    return list(session.scalars(select(Unit).order_by(Unit.kind.desc(), Unit.code)))


def _common_name(subject: str) -> str:
    """The CN of an RFC 4514 subject (the office's name), else the subject itself."""
    import re

    m = re.search(r"(?:^|,)CN=((?:[^,\\]|\\.)+)", subject)
    return m.group(1).replace("\\", "") if m else subject


def _fingerprint(value: str) -> str:
    return ":".join(value[i : i + 2] for i in range(0, len(value), 2)).upper()


@bp.get("/signing")
@roles_required("admin")
def signing():
    s = db_session()
    certs = signing_svc.certificates(s)
    offices = _offices(s)
    return render_template(
        "admin/signing.html",
        certs=certs,
        offices=offices,
        office_names={u.code: u.name for u in offices},
        source_labels=SOURCE_LABELS,
        fingerprint=_fingerprint,
        common_name=_common_name,
        active_offices={c.office_code for c in certs if c.active},
    )


def _office_code() -> str:
    code = (request.form.get("office_code") or "").strip()
    if not code:
        raise ValidationFailed(_("请选择发文机关"))
    return code


@bp.post("/signing/generate")
@roles_required("admin")
def generate_certificate():
    s = db_session()
    try:
        code = _office_code()
        with transaction(s):
            cert = signing_svc.generate_self_signed(s, code, passphrase(current_app.config), by=current_user.username)
    except DomainError as e:
        return _refused(e, signing)
    flash(
        _("已为 %(office)s 生成自签名证书（指纹 %(fp)s…）", office=code, fp=_fingerprint(cert.fingerprint)[:23]),
        "success",
    )
    return redirect(url_for("admin.signing"))


@bp.post("/signing/import")
@roles_required("admin")
def import_certificate():
    s = db_session()
    upload = request.files.get("file")
    try:
        code = _office_code()
        data = upload.read(signing_svc.MAX_PKCS12_BYTES + 1) if upload else b""
        with transaction(s):
            cert = signing_svc.import_pkcs12(
                s, code, data, request.form.get("password", ""), passphrase(current_app.config), current_user.username
            )
    except DomainError as e:
        return _refused(e, signing)
    flash(_("已为 %(office)s 导入证书（指纹 %(fp)s…）", office=code, fp=_fingerprint(cert.fingerprint)[:23]), "success")
    return redirect(url_for("admin.signing"))


@bp.get("/signing/<int:cert_id>/certificate.pem")
@roles_required("admin")
def certificate_pem(cert_id: int):
    """The public certificate (never the key), for the offices and relying parties that verify our PDFs."""
    import base64

    try:
        cert: SigningCertificate = signing_svc.get(db_session(), cert_id)
    except DomainError as e:
        return e.message, e.status
    body = base64.encodebytes(bytes(cert.cert_der)).decode().replace("\n", "")
    pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    pem += "\n-----END CERTIFICATE-----\n"
    resp = Response(pem, mimetype="application/x-pem-file")
    resp.headers["Content-Disposition"] = f'attachment; filename="{cert.office_code}-{cert.fingerprint[:16]}.pem"'
    return resp


# -- the render queue ----------------------------------------------------------------------------------------------


@bp.get("/rendering")
@roles_required("admin")
def rendering():
    from webapp.issuing import MAX_RENDER_ATTEMPTS

    s = db_session()
    return render_template(
        "admin/rendering.html",
        failures=archive.render_failures(s),
        pending=archive.pending_count(s),
        max_attempts=MAX_RENDER_ATTEMPTS,
    )


@bp.post("/rendering/<int:doc_id>/retry")
@roles_required("admin")
def retry_rendering(doc_id: int):
    from webapp import issuing

    s = db_session()
    try:
        with transaction(s):
            doc = archive.retry_render(s, doc_id, current_user.username)
    except DomainError as e:
        return _refused(e, rendering)
    flash(_("已将《%(title)s》%(no)s 重新排入生成队列", title=doc.title, no=doc.doc_no), "success")
    issuing.wake(current_app)
    return redirect(url_for("admin.rendering"))
