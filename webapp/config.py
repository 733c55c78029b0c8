"""The app's settings, read from the environment once, here: `Config.from_env()` with the defaults, loaded by
`create_app` into `app.config`, where everything else reads them (routes, the mailer, the PDF renderer, the logs, the
CLI through its app). The production refusals (`check_production`) run on the loaded `app.config`.

`workflows/` reads no environment: the web layer hands it what it needs (the database URL, the BPMN folder).
`webapp/gunicorn_conf.py` is gunicorn's own configuration file and reads the server settings (BIND, WEB_CONCURRENCY,
…) itself. README "Production" lists the same settings as `SETTINGS` below.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from workflows.infra.db import DEFAULT_URL

DEV_SECRET = "dev-only-not-secret"
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
HSTS_DEFAULT_SECONDS = 365 * 24 * 3600


class ConfigurationError(RuntimeError):
    pass


def _flag(raw: str) -> bool:
    return raw == "1"


def _int(raw: str) -> int:
    return int(raw.strip())


@dataclass(frozen=True)
class Config:
    """Every setting taken from the environment (same names as the variables); `None` means "not set"."""

    APP_ENV: str = ""  # "production" switches the refusals of check_production on
    DATABASE_URL: str = DEFAULT_URL
    SECRET_KEY: str = DEV_SECRET
    SESSION_COOKIE_SECURE: bool | None = None  # default: on in production (HTTPS), off otherwise
    HSTS_SECONDS: int | None = None  # Strict-Transport-Security max-age; default: one year in production, else none
    TRUSTED_PROXIES: int = 0  # reverse proxies in front whose X-Forwarded-For/-Proto are believed (the client address)
    SESSION_HOURS: int = 12  # a browser session ends on the server this long after sign-in
    API_TOKEN_DAYS: int = 90  # an API token expires this long after creation
    SIGN_IN_MAX_FAILURES: int = 10  # failed sign-ins of one account name within the window → locked
    SIGN_IN_ADDRESS_MAX_FAILURES: int = 50  # failed sign-ins from one client address within the window → refused
    SIGN_IN_WINDOW_MINUTES: int = 15
    SIGN_IN_LOCK_MINUTES: int = 15  # how long a lock lasts (an administrator can unlock an account earlier)
    MAX_UPLOAD_MB: int = 20
    UPLOAD_DIR: str | None = None  # default: <instance folder>/uploads
    UPLOAD_STORE: str | None = None  # database | filesystem | s3; default: database in production, else filesystem
    S3_BUCKET: str | None = None
    S3_ENDPOINT_URL: str | None = None  # empty for AWS
    S3_ACCESS_KEY_ID: str | None = None  # else boto3's usual sources
    S3_SECRET_ACCESS_KEY: str | None = None
    S3_REGION: str = "us-east-1"
    S3_PREFIX: str = "uploads/"
    SWEEP_IN_PROCESS: bool = False
    SWEEP_INTERVAL_SECONDS: int = 30
    PUBLIC_BASE_URL: str | None = None  # default DEFAULT_BASE_URL, except in production: required there
    # encrypts the offices' signing keys (workflows/services/signing.py); outside production a key derived from
    # SECRET_KEY stands in for it (webapp/signing.py)
    SIGNING_KEY_PASSPHRASE: str | None = None
    SMTP_HOST: str | None = None
    SMTP_PORT: int = 25
    SMTP_USER: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_STARTTLS: bool = False
    MAIL_FROM: str = "noreply@localhost"
    LOG_FORMAT: str | None = None  # default: json, text in debug mode
    LOG_LEVEL: str = "INFO"
    SPIFF_LOG_LEVEL: str = "WARNING"
    WEASYPRINT_LOG_LEVEL: str = "WARNING"
    BPMN_DIR: str | None = None  # default: the bundled bpmn/ folder

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """The settings of `environ` (os.environ by default). A switch is on only when set to 1; any other variable
        set to nothing counts as not set."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f.name)
            kind = bool if str(f.type).startswith("bool") else int if str(f.type).startswith("int") else str
            if raw is None or (raw == "" and kind is not bool):
                continue
            try:
                values[f.name] = _flag(raw) if kind is bool else _int(raw) if kind is int else raw
            except ValueError:
                raise ConfigurationError(
                    f"环境变量 {f.name} 须为整数（现为 {raw!r}）/ {f.name} must be an integer"
                ) from None
        return cls(**values)

    def flask_config(self) -> dict[str, Any]:
        """What `create_app` puts into `app.config`: the settings and the Flask/extension keys made from them."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update(FIXED)
        production = self.APP_ENV == "production"
        secure = production if self.SESSION_COOKIE_SECURE is None else self.SESSION_COOKIE_SECURE
        out["SESSION_COOKIE_SECURE"] = out["REMEMBER_COOKIE_SECURE"] = secure
        out["HSTS_SECONDS"] = (
            (HSTS_DEFAULT_SECONDS if production else 0) if self.HSTS_SECONDS is None else self.HSTS_SECONDS
        )
        out["MAX_CONTENT_LENGTH"] = self.MAX_UPLOAD_MB * 1024 * 1024
        if not self.PUBLIC_BASE_URL and self.APP_ENV != "production":
            out["PUBLIC_BASE_URL"] = DEFAULT_BASE_URL  # production has no default: check_production refuses
        return out


# Flask and extension settings that are not taken from the environment.
FIXED: dict[str, Any] = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "BABEL_DEFAULT_LOCALE": "zh_CN",
    "BABEL_TRANSLATION_DIRECTORIES": os.path.join(os.path.dirname(__file__), "translations"),
    "WTF_CSRF_TIME_LIMIT": None,
    "JSON_AS_ASCII": False,
}

# The environment variables Config reads (README "Production" lists each of them).
SETTINGS: tuple[str, ...] = tuple(f.name for f in fields(Config))


def public_base_url_problem(value: str | None) -> str | None:
    """Why PUBLIC_BASE_URL cannot be the address printed on documents in production (zh/en), or None. Archived PDFs
    never change, so a wrong address would be on every paper issued until it is fixed."""
    from urllib.parse import urlsplit

    if not value:
        return (
            "生产环境必须设置 PUBLIC_BASE_URL（公众访问本系统的地址，印在每份文书的核验二维码下，例如 "
            "https://rsj.example.gov.cn）/ PUBLIC_BASE_URL must be set in production"
        )
    parts = urlsplit(value.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host or parts.query or parts.fragment:
        return f"PUBLIC_BASE_URL 须为 http(s)://主机[/路径] 形式的地址（现为 {value!r}）/ PUBLIC_BASE_URL must be an http(s) URL"
    if host in ("localhost", "0.0.0.0", "::1") or host.startswith("127."):
        return (
            f"PUBLIC_BASE_URL 不能是本机地址（{value!r}）：公众无法用它核验文书 / "
            "PUBLIC_BASE_URL must be an address the public reaches, not loopback"
        )
    return None


def check_production(config: Mapping[str, Any], testing: bool = False) -> None:
    """With APP_ENV=production, a missing SECRET_KEY or SIGNING_KEY_PASSPHRASE, a database other than PostgreSQL or a
    missing (or loopback) PUBLIC_BASE_URL stops the start."""
    if config.get("APP_ENV") != "production" or testing:
        return
    if not config.get("SECRET_KEY") or config["SECRET_KEY"] == DEV_SECRET:
        raise ConfigurationError(
            "生产环境必须设置 SECRET_KEY 环境变量（例如 python -c 'import secrets; "
            "print(secrets.token_hex(32))' 生成）/ SECRET_KEY must be set in production"
        )
    if not str(config.get("DATABASE_URL") or "").startswith("postgresql"):
        raise ConfigurationError(
            "生产环境须使用 PostgreSQL：请设置 DATABASE_URL / production needs DATABASE_URL pointing to PostgreSQL"
        )
    problem = public_base_url_problem(config.get("PUBLIC_BASE_URL"))
    if problem:
        raise ConfigurationError(problem)
    if len(config.get("SIGNING_KEY_PASSPHRASE") or "") < 16:
        raise ConfigurationError(
            "生产环境必须设置 SIGNING_KEY_PASSPHRASE（至少 16 个字符，加密各发文机关的签名私钥）"
            " / SIGNING_KEY_PASSPHRASE (at least 16 characters) must be set in production"
        )


def current_config() -> Mapping[str, Any]:
    """The running app's `app.config`; outside any app (a script or test calling the mailer or the renderer
    directly) the settings of the environment, read through Config like the app's."""
    from flask import current_app, has_app_context

    if has_app_context():
        return current_app.config
    return Config.from_env().flask_config()
