"""Rendering glue between the archive (workflows/services/archive.py, no WeasyPrint) and the renderer (documents/).

Process steps only *plan* documents (number, data snapshot, verification code) inside the case's transaction; the
request that made them returns at once. This module renders and signs what is pending and archives the bytes, off
the request path and outside any case transaction:

* :func:`render_pending` — the render queue's one round: the worker (`flask worker`, webapp/cli/timers.py) calls it
  every second or so, and in the one-process set-up (`make run`, SWEEP_IN_PROCESS=1) a background thread
  (:func:`start_renderer`) does, woken by every successful state-changing request (:func:`install`);
* :func:`drain` — render everything pending now, synchronously (tests, `init-db --demo`);
* :func:`preview` — a 样稿 of a document for a case, watermarked and unnumbered; nothing is stored.

Each PDF is signed (PAdES B-B, webapp/signing.py) with its issuing office's certificate before it is archived.
Rendering takes a few hundred milliseconds, so it never runs inside a database transaction (a write transaction
holds SQLite's lock; any open one keeps a connection busy): read the snapshot, end the read, render, sign, then
archive in a short transaction. Two workers racing on one document both render, one archives; the other's
:func:`archive.attach_pdf` is refused and skipped. A failed render is retried after a growing pause
(RETRY_DELAYS), at most MAX_RENDER_ATTEMPTS times; /admin/rendering lists what failed and retries it by hand.
"""

from __future__ import annotations

import base64
import logging
import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, object_session, sessionmaker

import documents
from documents import DocumentDataError
from webapp.config import current_config
from webapp.signing import NoCertificate, SigningSettings
from webapp.signing import sign as sign_pdf
from workflows.domain import procedures
from workflows.domain.clock import now_utc, today_local
from workflows.domain.errors import Conflict, ValidationFailed
from workflows.domain.models import Case
from workflows.infra.db import transaction
from workflows.services import archive, doc_series

log = logging.getLogger(__name__)

MAX_RENDER_ATTEMPTS = 5
# the pause before attempt 2, 3, 4, 5 (a document waits in the queue meanwhile; others go on)
RETRY_DELAYS = (timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))
# the in-process renderer looks again this often even without a wake-up (retries that became due)
RENDER_POLL_SECONDS = 5.0


def retry_delay(attempts: int) -> timedelta:
    """The pause after the `attempts`-th failure."""
    return RETRY_DELAYS[min(max(attempts, 1), len(RETRY_DELAYS)) - 1]


def public_base_url(base_url: str | None = None) -> str:
    """The public address printed in the documents' QR codes: `base_url`, else PUBLIC_BASE_URL of the app's
    config (webapp/config.py)."""
    from webapp.config import DEFAULT_BASE_URL

    return (base_url or current_config().get("PUBLIC_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def verify_url(code: str, base_url: str | None = None) -> str:
    return f"{public_base_url(base_url)}/verify/{code}"


_UNSET: Any = object()


def seal_image(session: Session, office_code: str) -> str | None:
    """The office's seal as a `data:image/png;base64,…` URI (an administrator uploads it on /admin/offices), or
    None. The bytes are in the upload store, which needs the app: outside an app context there is no seal."""
    row = doc_series.seal_of(session, office_code)
    if row is None:
        return None
    from flask import has_app_context

    if not has_app_context():
        log.warning("the seal of %s is not read: no app context (the upload store is the app's)", office_code)
        return None
    from webapp import uploads

    stored = uploads.read(row.sha256)
    if stored is None or stored.mimetype != "image/png":
        log.error("the seal image of %s (%s) is missing from the upload store", office_code, row.sha256)
        return None
    return "data:image/png;base64," + base64.b64encode(stored.content).decode("ascii")


def render_data(doc: archive.Document, base_url: str | None = None, seal: str | None = _UNSET) -> dict:
    """The archived snapshot plus what only the rendering side knows: the public verification URL and the issuing
    office's seal image (`seal_image`: a data URI or None; read from the document's session unless given)."""
    data = dict(doc.data or {})
    data.update(verify_code=archive.display_code(doc.verify_code), verify_url=verify_url(doc.verify_code, base_url))
    if doc.doc_no:
        data["doc_no"] = doc.doc_no
    else:
        data.pop("doc_no", None)  # the applicant's 承诺书: no office number
    if seal is _UNSET:
        session = object_session(doc)
        seal = seal_image(session, doc.office_code) if session is not None else None
    data["seal_image"] = seal
    return data


def render_document(doc: archive.Document, base_url: str | None = None, seal: str | None = _UNSET) -> bytes:
    data = render_data(doc, base_url, seal)
    office_renderer = documents.OFFICE_KINDS.get(doc.kind) if doc.case_id is None else None
    return office_renderer(data) if office_renderer is not None else documents.render(doc.kind, data)


def _pending_ids(factory: sessionmaker, limit: int, case_id: int | None, due_only: bool = True) -> list[int]:
    s = factory()
    try:
        q = (
            select(archive.Document.id)
            .where(
                archive.Document.status == "pending",
                archive.Document.sha256.is_(None),
                archive.Document.render_attempts < MAX_RENDER_ATTEMPTS,
            )
            .order_by(archive.Document.id)
            .limit(limit)
        )
        if due_only:
            q = q.where(or_(archive.Document.render_next_at.is_(None), archive.Document.render_next_at <= now_utc()))
        if case_id is not None:
            q = q.where(archive.Document.case_id == case_id)
        return list(s.scalars(q))
    finally:
        s.close()


def _record_failure(s: Session, doc_id: int, message: str) -> None:
    with transaction(s):
        archive.record_render_failure(s, doc_id, message, retry_delay=retry_delay)


def render_pending(
    session_factory: sessionmaker,
    limit: int = 50,
    case_id: int | None = None,
    base_url: str | None = None,
    signing: SigningSettings | None = None,
    due_only: bool = True,
) -> int:
    """Render, sign and archive up to `limit` pending documents (oldest first); returns how many were archived.
    `base_url` is the public address for the QR codes and `signing` the key passphrase (default: from the app's
    config). With `due_only` a document waiting out its retry pause is left for later.

    A failure (data the renderer rejects, no certificate, anything else) is recorded on the document with the next
    attempt's time; after MAX_RENDER_ATTEMPTS it stays pending with its error for an administrator."""
    from documents.signing import SigningError  # (pyHanko is imported where PDFs are signed, not by every process)

    config = current_config() if base_url is None or signing is None else None
    base_url = public_base_url(base_url)
    if signing is None:
        assert config is not None
        signing = SigningSettings.from_config(config)
    done = 0
    for doc_id in _pending_ids(session_factory, limit, case_id, due_only):
        s = session_factory()
        try:
            doc = s.get(archive.Document, doc_id)
            if doc is None or doc.sha256 is not None or doc.status != "pending":
                continue
            data_doc = doc
            seal = seal_image(s, doc.office_code)
            s.commit()  # end the read: no transaction stays open through the (slow) render
            try:
                pdf = render_document(data_doc, base_url, seal)
                pdf, fingerprint = sign_pdf(session_factory, data_doc, pdf, signing, location=base_url)
            except (DocumentDataError, NoCertificate, SigningError) as e:
                log.error("document %s (%s) cannot be issued: %s", doc_id, data_doc.kind, e)
                _record_failure(s, doc_id, str(e))
                continue
            try:
                with transaction(s):
                    archive.attach_pdf(s, doc_id, pdf, signer_fingerprint=fingerprint)
                done += 1
            except Conflict:
                log.info("document %s was archived by another worker", doc_id)
        except Exception:
            log.exception("rendering document %s failed", doc_id)
            s.rollback()
            try:
                _record_failure(s, doc_id, "渲染失败（见日志）")
            except Exception:
                log.exception("could not record the render failure of document %s", doc_id)
        finally:
            s.close()
    return done


def drain(app, case_id: int | None = None) -> int:
    """Render everything pending now, synchronously, retry pauses included (tests; `init-db --demo`): the queue
    the worker or the in-process thread would work through a moment later. Returns how many were archived."""
    total = 0
    with app.app_context():
        while True:
            n = render_pending(app.extensions["db_factory"], limit=100, case_id=case_id, due_only=False)
            total += n
            if n == 0:
                return total


# ----------------------------------------------------------------------------------------------------------------
# 样稿 preview: unnumbered, watermarked, nothing stored
# ----------------------------------------------------------------------------------------------------------------
PREVIEW_NO = "（样稿·未编号）"
WATERMARK_CSS = """
.preview-watermark { position: fixed; top: 95mm; left: 0; width: 100%; text-align: center;
  font-family: "GW Hei", "Noto Sans CJK SC", sans-serif; font-size: 96pt; font-weight: bold;
  color: rgba(200, 0, 0, 0.13); transform: rotate(-35deg); z-index: 1000; }
"""


def preview_data(
    session: Session, case: Case, kind: str, office_code: str | None = None, base_url: str | None = None
) -> dict:
    office = office_code or _default_office(case, kind)
    data = archive.document_data(session, case, kind)
    data.update(
        doc_no=PREVIEW_NO,
        verify_code="样稿（无核验码）",
        verify_url=verify_url("", base_url),
        issue_date=today_local().isoformat(),
        issuer=_office_name(session, office),
        seal_image=seal_image(session, office),
    )
    return data


def _default_office(case: Case, kind: str) -> str:
    for step, params in (
        ("accept_case", {"mode": "instant"}),
        ("accept_case", {"mode": "rongque"}),
        ("close_case", {"outcome": "not_accepted"}),
        ("close_case", {"outcome": "refused"}),
        ("close_case", {"outcome": "terminated"}),
        ("close_case", {"outcome": "completed"}),
        ("register_special_post", {}),
        ("writeoff_special_post", {}),
        ("start_publicity", {"kind": "unit"}),
    ):
        for k, office in archive.documents_for_step(case, step, params, {}):
            if k == kind:
                return office
    return procedures.get(case.procedure).office


def _office_name(session: Session, code: str) -> str:
    from workflows.domain.models import Unit

    unit = session.get(Unit, code)
    return unit.name if unit is not None else code


def preview(
    session: Session, case: Case, kind: str, office_code: str | None = None, base_url: str | None = None
) -> bytes:
    """A 样稿 of `kind` for `case` as it stands: no number, no verification code, a 样稿 watermark on every page.
    Nothing is stored and no number is used. Missing data raises ValidationFailed with the renderer's message."""
    if kind not in documents.KINDS:
        raise ValidationFailed(f"未知的文书类型：{kind}")
    data = preview_data(session, case, kind, office_code, base_url)
    try:
        return _render_watermarked(kind, data)
    except DocumentDataError as e:
        raise ValidationFailed(f"样稿无法生成：{e}") from e


def _render_watermarked(kind: str, data: dict) -> bytes:
    """documents.render with a 样稿 watermark. The renderer has no watermark option, so this reuses its HTML and its
    shared fonts/stylesheets (and its lock). If the renderer's internals change, fall back to a plain render whose
    number line says 样稿."""
    from documents import renderer as r

    shared = getattr(r, "_RENDERER", None)
    if shared is None or not hasattr(shared, "_lock"):
        return documents.render(kind, data)
    source = documents.render_html(kind, data)
    import re

    mark = '<div class="preview-watermark">样　稿</div>'
    source, n = re.subn(r"(<body[^>]*>)", lambda m: m.group(1) + mark, source, count=1)
    if not n:
        source = mark + source
    from weasyprint import CSS, HTML

    with shared._lock:
        shared._setup()
        sheets = list(shared.stylesheets) + [CSS(string=WATERMARK_CSS, font_config=shared.font_config)]
        doc = HTML(string=source, base_url=str(r.TEMPLATE_DIR) + "/").render(
            font_config=shared.font_config, stylesheets=sheets
        )
        doc.metadata.title = "（样稿）" + documents.KINDS[kind].title
        return doc.write_pdf()


# ----------------------------------------------------------------------------------------------------------------
# Wiring into the web app
# ----------------------------------------------------------------------------------------------------------------
def install(app) -> None:
    """Wake the in-process renderer after every successful state-changing request (its transaction has committed
    by then: every service commits before returning). The request itself never renders."""
    from flask import request

    @app.after_request
    def _wake_renderer(response):
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and response.status_code < 400:
            wake(app)
        return response


def wake(app) -> None:
    event = app.extensions.get("render_wake")
    if event is not None:
        event.set()


def start_renderer(app) -> threading.Thread:
    """The one-process set-up's render queue (`make run`): a daemon thread rendering and signing whatever is
    pending, woken by :func:`install`'s hook, else every RENDER_POLL_SECONDS (retries that became due). Under
    gunicorn the worker process does this instead (SWEEP_IN_PROCESS stays off there)."""
    wake_event, stop = threading.Event(), threading.Event()
    factory = app.extensions["db_factory"]
    base_url = app.config["PUBLIC_BASE_URL"]
    settings = SigningSettings.from_config(app.config)

    def loop():
        while not stop.is_set():
            wake_event.wait(RENDER_POLL_SECONDS)
            wake_event.clear()
            if stop.is_set():
                break
            try:
                with app.app_context():  # the offices' seal images are read from the upload store, the app's
                    while render_pending(factory, limit=10, base_url=base_url, signing=settings):
                        pass  # more may have come meanwhile
            except Exception:  # keep the queue alive; the failure is logged
                log.exception("render queue round failed")

    t = threading.Thread(target=loop, name="render-queue", daemon=True)
    app.extensions["render_wake"], app.extensions["render_stop"] = wake_event, stop
    app.extensions["render_thread"] = t
    t.start()
    install(app)
    return t


def stop_renderer(app, timeout: float = 30.0) -> None:
    """Stop the in-process renderer after the document in hand (tests; an orderly shutdown)."""
    thread = app.extensions.get("render_thread")
    if thread is None:
        return
    app.extensions["render_stop"].set()
    app.extensions["render_wake"].set()
    thread.join(timeout)
