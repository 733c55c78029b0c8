"""Structured logs: one JSON object per line with the request id and, where known, the 办件编号."""

from __future__ import annotations

import json
import logging
import time
import uuid

from flask import Flask, g, has_request_context, request

_RESERVED = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if has_request_context():
            out["request_id"] = getattr(g, "request_id", None)
            out["path"] = request.path
            case_no = (request.view_args or {}).get("case_no")
            if case_no:
                out.setdefault("case_no", case_no)
        for k, v in vars(record).items():
            if k not in _RESERVED and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(app: Flask) -> None:
    """LOG_FORMAT (json by default, text in debug mode), LOG_LEVEL, SPIFF_LOG_LEVEL, WEASYPRINT_LOG_LEVEL from
    `app.config` (webapp/config.py)."""
    cfg = app.config
    if (cfg.get("LOG_FORMAT") or ("json" if not app.debug else "text")) == "json" and not app.testing:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(cfg["LOG_LEVEL"].upper())
    # SpiffWorkflow logs every task state change with the whole task data at INFO: too much, and personal data.
    logging.getLogger("spiff").setLevel(cfg["SPIFF_LOG_LEVEL"])
    # WeasyPrint logs every rendering step of every PDF at INFO.
    logging.getLogger("weasyprint").setLevel(cfg["WEASYPRINT_LOG_LEVEL"])

    @app.before_request
    def _request_id():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex

    @app.after_request
    def _echo_request_id(resp):
        if getattr(g, "request_id", None):
            resp.headers["X-Request-ID"] = g.request_id
        return resp
