"""Owed-item reminders before the 容缺 deadline, and notices mailed through a real SMTP server when configured."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from webapp.demo.accounts import actor_for
from webapp.mailer import notification_round, send_pending_emails
from workflows.domain.models import Notification, User
from workflows.infra.db import transaction
from workflows.services import notifications

from .helpers import act, registration, start

REG = "green_channel_registration"


class Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"


@pytest.fixture
def smtp():
    import socket

    with socket.socket() as probe:  # a free port on loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield (
        sink,
        {
            "host": "127.0.0.1",
            "port": port,
            "user": None,
            "password": None,
            "starttls": False,
            "sender": "noreply@example.org",
            "timeout": 5,
        },
    )
    controller.stop()


def _rongque_case(session):
    mats = [m for m in registration()["materials"] if m != "health_check"]
    c = start(session, REG, registration(materials=mats))
    act(session, c.case_no, "Task_rongque_commitment")
    return c


def test_owed_items_are_reminded_once_before_the_deadline(session, factory, clock):
    c = _rongque_case(session)  # deadline 14 April 2026
    zhang = actor_for(session, "zhangwei")
    session.commit()  # end the read: SQLite would keep the other sessions waiting
    clock.to(2026, 4, 1, 9)
    assert notification_round(factory) == (0, 0)  # nine working days away: not yet
    clock.to(2026, 4, 8, 9)  # five working days before (清明 4–6 April is a break)
    assert notification_round(factory)[0] == 1
    assert notification_round(factory)[0] == 0  # once per deadline
    session.expire_all()
    texts = [n.text for n, _ in notifications.list_for(session, zhang)]
    assert any("2026-04-14" in t and c.case_no in t for t in texts)


def test_notices_are_mailed_to_the_user_and_to_the_desk(session, factory, clock, smtp):
    sink, settings = smtp
    with transaction(session):
        session.execute(
            update(User).where(User.username.in_(["zhangwei", "hr_nky"])).values(email=User.username + "@example.org")
        )
    session.commit()
    c = _rongque_case(session)
    assert send_pending_emails(factory, None) == 0  # SMTP not configured: nothing sent, nothing marked
    sent = send_pending_emails(factory, settings)
    assert sent >= 1
    to_all = [addr for rcpts, _ in sink.messages for addr in rcpts]
    assert "hr_nky@example.org" in to_all  # 单位审核 opened for the unit's HR desk
    assert any("单位审核" in body or "=E5=8D=95" in body or c.case_no in body for _, body in sink.messages)
    session.expire_all()
    assert session.scalar(select(Notification).where(Notification.emailed_at.is_(None))) is None
    session.commit()
    assert send_pending_emails(factory, settings) == 0  # each notice once


def test_mail_server_down_leaves_notices_for_the_next_round(session, factory, clock):
    _rongque_case(session)
    down = {
        "host": "127.0.0.1",
        "port": 9,
        "user": None,
        "password": None,
        "starttls": False,
        "sender": "x@example.org",
        "timeout": 2,
    }
    assert send_pending_emails(factory, down) == 0
    session.expire_all()
    assert session.scalar(select(Notification).where(Notification.emailed_at.is_(None))) is not None
