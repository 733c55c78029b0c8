"""E-mail for in-app notices, through SMTP when configured (SMTP_HOST in the app's config); without it nothing is
sent or marked."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from webapp.config import current_config
from workflows.domain.clock import now_utc
from workflows.domain.models import Notification
from workflows.infra.db import transaction
from workflows.services.notifications import recipients

log = logging.getLogger(__name__)


def smtp_settings(config: Mapping[str, Any] | None = None) -> dict | None:
    """The SMTP_* and MAIL_FROM settings of `config` (default: the app's), None when SMTP_HOST is not set."""
    config = current_config() if config is None else config
    if not config.get("SMTP_HOST"):
        return None
    return {
        "host": config["SMTP_HOST"],
        "port": int(config["SMTP_PORT"]),
        "user": config.get("SMTP_USER"),
        "password": config.get("SMTP_PASSWORD"),
        "starttls": bool(config.get("SMTP_STARTTLS")),
        "sender": config["MAIL_FROM"],
        "timeout": 10,
    }


def send_pending_emails(factory: sessionmaker, settings: dict | None = None, limit: int = 100) -> int:
    """Mail notices not mailed yet; each is marked once handed to the server (or when nobody has an address).
    `settings`: see smtp_settings (default: the app's)."""
    settings = settings or smtp_settings()
    if not settings:
        return 0
    session = factory()
    sent = 0
    try:
        with transaction(session):
            pending = list(
                session.scalars(
                    select(Notification).where(Notification.emailed_at.is_(None)).order_by(Notification.id).limit(limit)
                )
            )
            if not pending:
                return 0
            with smtplib.SMTP(settings["host"], settings["port"], timeout=settings["timeout"]) as smtp:
                if settings["starttls"]:
                    smtp.starttls()
                if settings["user"]:
                    smtp.login(settings["user"], settings["password"] or "")
                for n in pending:
                    to = recipients(session, n)
                    if to:
                        msg = EmailMessage()
                        msg["From"], msg["To"] = settings["sender"], ", ".join(to)
                        msg["Subject"] = f"【人才绿色通道】{n.text[:60]}"
                        msg.set_content(
                            f"{n.text}\n\n请登录人才绿色通道办理系统查看详情。\n（本邮件由系统自动发送，请勿回复）"
                        )
                        smtp.send_message(msg)
                        sent += 1
                    n.emailed_at = now_utc()
    except (OSError, smtplib.SMTPException) as e:  # the mail server is away: try again on the next round
        log.warning("sending notification e-mail failed: %s", e)
    finally:
        session.close()
    return sent


def notification_round(factory: sessionmaker, smtp: dict | None = None) -> tuple[int, int]:
    """One round of the worker's notice duties: owed-item reminders, then e-mail (`smtp`: see smtp_settings)."""
    from workflows.domain.clock import today_local
    from workflows.services.notifications import remind_owed_items
    from workflows.services.settings import params_and_calendar

    session = factory()
    try:
        with transaction(session):
            _, calendar = params_and_calendar(session)
            reminded = remind_owed_items(session, today_local(), calendar)
    finally:
        session.close()
    return reminded, send_pending_emails(factory, smtp)
