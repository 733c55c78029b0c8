"""gunicorn settings for production: `gunicorn -c webapp/gunicorn_conf.py webapp.wsgi:app`.

This is gunicorn's own configuration file, read by gunicorn before any app exists: it reads the server's settings
from the environment itself (the app's settings are read once by webapp/config.py into `app.config`; LOG_LEVEL is
the one both read). Defaults in brackets:

* ``BIND`` [``127.0.0.1:8000``] — or ``PORT`` alone (binds ``0.0.0.0:$PORT``, as platforms that set PORT expect);
  several addresses separated by commas.
* ``WEB_CONCURRENCY`` [CPUs + 1, at most 8] — worker processes (sync workers: one request at a time each). A step
  is CPU work in the worker (the database waits are short), so more workers than cores only add switching:
  bench/http_load.py on 2 cores gave 130/s with 2 or 3 workers and 100/s with 5 (the usual 2 × CPUs + 1).
* ``GUNICORN_THREADS`` [1] — threads per worker (> 1 switches to the gthread worker).
* ``GUNICORN_TIMEOUT`` [60] — seconds a request may take before its worker is restarted;
  ``GUNICORN_GRACEFUL_TIMEOUT`` [30] — seconds workers get to finish their requests on SIGTERM/restart;
  ``GUNICORN_KEEPALIVE`` [5].
* ``GUNICORN_MAX_REQUESTS`` [0 = never] (+ 10 % jitter) — recycle a worker after that many requests.
* ``ACCESS_LOG`` [``-`` = stdout; ``off`` disables] — one JSON object per request: method, path, status, bytes,
  duration_ms, request_id (the X-Request-ID the app echoes or generated), case_no (办件编号 when the path names one),
  remote_addr, user_agent, pid. ``ERROR_LOG`` [``-`` = stderr]; ``GUNICORN_LOG_LEVEL`` [``LOG_LEVEL``, else info].
* ``FORWARDED_ALLOW_IPS`` (read by gunicorn itself) — proxies whose X-Forwarded-* headers are trusted.

The heartbeat files of the workers go to /dev/shm when it exists (a RAM disk: a slow or full disk, e.g. a container's
overlay filesystem, would otherwise get workers killed as "timed out"). The app itself logs JSON lines with the same
request id (webapp/logs.py, LOG_FORMAT=json is the default outside debug mode).

The timer sweep does not run in the web workers: run `flask worker` as its own process (see README "Production").
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import time

from gunicorn.glogging import Logger


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _bind() -> list[str]:
    if os.environ.get("BIND"):
        return [b.strip() for b in os.environ["BIND"].split(",") if b.strip()]
    if os.environ.get("PORT"):
        return [f"0.0.0.0:{int(os.environ['PORT'])}"]
    return ["127.0.0.1:8000"]


bind = _bind()
workers = _int("WEB_CONCURRENCY", min(multiprocessing.cpu_count() + 1, 8))
threads = _int("GUNICORN_THREADS", 1)
worker_class = "gthread" if threads > 1 else "sync"
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10
if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
    worker_tmp_dir = "/dev/shm"
# Each worker builds its own app (and its own database connection pool): no pool is ever shared across fork.
preload_app = False
proc_name = "green-channel-web"

_access = os.environ.get("ACCESS_LOG", "-")
accesslog = None if _access.lower() in ("off", "none", "") else _access
errorlog = os.environ.get("ERROR_LOG", "-")
loglevel = (os.environ.get("GUNICORN_LOG_LEVEL") or os.environ.get("LOG_LEVEL") or "info").lower()

CASE_NO = re.compile(r"\b150000[A-Z]\d{12}\b")


class _JsonErrorFormatter(logging.Formatter):
    """gunicorn's own messages (start, workers booting, timeouts) as JSON lines too."""

    def format(self, record) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            import traceback

            out["exc"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str)


class JsonLogger(Logger):
    """gunicorn's logger with JSON lines: the access log (one object per request) and the error log."""

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(_JsonErrorFormatter())

    def access(self, resp, req, environ, request_time):
        if not self.cfg.accesslog:
            return
        headers = dict((k.lower(), v) for k, v in (resp.headers or []))
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        path = environ.get("PATH_INFO", "")
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "level": "INFO",
            "logger": "gunicorn.access",
            "method": environ.get("REQUEST_METHOD"),
            "path": path,
            "query": environ.get("QUERY_STRING") or None,
            "status": int(status) if str(status).isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "request_id": headers.get("x-request-id") or environ.get("HTTP_X_REQUEST_ID"),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "pid": os.getpid(),
        }
        m = CASE_NO.search(path)
        if m:
            out["case_no"] = m.group(0)
        try:
            self.access_log.info(json.dumps(out, ensure_ascii=False))
        except Exception:  # a log line must never break a response
            self.exception("access log failed")


logger_class = JsonLogger
