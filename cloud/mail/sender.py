"""The outbox sender: claim due mails, send over SMTP, retry with jittered exponential backoff.

A claimed mail's next_attempt_at moves a lease ahead, so a sender that dies mid-send leaves
the mail to be retried later, never lost. SMTP down = every mail waits and retries. Right
before each send the sender renews its lease with compare-and-set: a sender slower than its
lease finds the mail taken over by another worker and skips it, so it is never sent twice.
"""

from __future__ import annotations

import random
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.core import metrics
from cloud.core.clock import Clock
from cloud.core.config import Settings
from cloud.db import transaction
from cloud.models import OutboxMail

LEASE = timedelta(minutes=2)
BATCH = 50
BACKOFF_FIRST_S = 5
BACKOFF_MAX_S = 3600


Rng = Callable[[], float]  # uniform in [0, 1), e.g. random.random or random.Random(seed).random


def backoff_ceiling(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, ... capped at an hour: the longest wait after `attempts` failures."""
    return timedelta(seconds=min(BACKOFF_FIRST_S * 2 ** max(0, attempts - 1), BACKOFF_MAX_S))


def backoff(attempts: int, rng: Rng = random.random) -> timedelta:
    """Equal jitter: between half the ceiling and the ceiling.

    Thousands of mails queued during an SMTP outage fail together; without jitter they would
    retry together forever, hitting the recovering server in bursts. Half the delay stays
    fixed so a retry is never immediate."""
    ceiling = backoff_ceiling(attempts)
    return ceiling / 2 + ceiling / 2 * rng()


@dataclass
class SendSummary:
    sent: int = 0
    retried: int = 0
    failed: int = 0

    def __bool__(self) -> bool:
        return bool(self.sent or self.retried or self.failed)


def build_message(mail: OutboxMail, sender: str, now: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = mail.subject
    msg["From"] = sender
    msg["To"] = mail.to_addr
    msg["Date"] = format_datetime(now)
    # Stable per outbox row: a receiving system can drop a duplicate after a crash.
    msg["Message-ID"] = f"<{mail.id}@mimamori.invalid>"
    for name, value in (mail.headers or {}).items():
        msg[name] = value
    msg.set_content(mail.text_body)
    if mail.html_body:
        msg.add_alternative(mail.html_body, subtype="html")
    return msg


def _claim(sessions: sessionmaker[Session], now: datetime) -> list[OutboxMail]:
    with transaction(sessions) as session:
        stmt = (
            select(OutboxMail)
            .where(OutboxMail.status == "pending", OutboxMail.next_attempt_at <= now)
            .order_by(OutboxMail.next_attempt_at)
            .limit(BATCH)
        )
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        # Each claimed mail is leased to us; the lease is renewed again before the send.
        return [mail for mail in session.scalars(stmt).all() if _lease(session, mail, now)]


def _lease(session: Session, mail: OutboxMail, now: datetime) -> bool:
    """Compare-and-set: lease the mail for LEASE if nobody moved it since we read it."""
    took = session.execute(
        update(OutboxMail)
        .where(
            OutboxMail.id == mail.id,
            OutboxMail.status == "pending",
            OutboxMail.next_attempt_at == mail.next_attempt_at,
        )
        .values(next_attempt_at=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    if took.rowcount != 1:
        return False
    mail.next_attempt_at = now + LEASE
    return True


def _renew_lease(sessions: sessionmaker[Session], mail: OutboxMail, now: datetime) -> bool:
    """True when the mail is still ours (and now leased for another LEASE)."""
    with transaction(sessions) as session:
        if _lease(session, mail, now):
            return True
    metrics.MAILS.labels("lease_lost").inc()
    return False


def send_due(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock, rng: Rng = random.random
) -> SendSummary:
    summary = SendSummary()
    while True:
        mails = _claim(sessions, clock())
        if not mails:
            return summary
        _send_batch(sessions, settings, clock, mails, summary, rng)
        if len(mails) < BATCH:
            return summary


def _send_batch(
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    mails: list[OutboxMail],
    summary: SendSummary,
    rng: Rng = random.random,
) -> None:
    try:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s)
    except (OSError, smtplib.SMTPException) as exc:
        outcomes = [(mail, f"connect: {exc}", False) for mail in mails]
        _record(sessions, settings, clock(), outcomes, summary, rng)
        return
    with smtp:
        for mail in mails:
            if not _renew_lease(sessions, mail, clock()):
                continue  # our lease ran out and another worker took the mail over
            # Recorded right after each send: a crash can repeat at most this one mail.
            outcome = (mail, *_send_one(smtp, mail, settings, clock))
            _record(sessions, settings, clock(), [outcome], summary, rng)


def _send_one(
    smtp: smtplib.SMTP, mail: OutboxMail, settings: Settings, clock: Clock
) -> tuple[str | None, bool]:
    """-> (error or None, permanent?)"""
    try:
        smtp.send_message(build_message(mail, settings.smtp_from, clock()))
    except smtplib.SMTPRecipientsRefused as exc:
        return str(exc), True
    except smtplib.SMTPResponseException as exc:
        return str(exc), 500 <= exc.smtp_code < 600
    except (OSError, smtplib.SMTPException) as exc:
        return str(exc), False
    return None, False


def _record(
    sessions: sessionmaker[Session],
    settings: Settings,
    now: datetime,
    outcomes: list[tuple[OutboxMail, str | None, bool]],
    summary: SendSummary,
    rng: Rng = random.random,
) -> None:
    """Write send results (one transaction)."""
    with transaction(sessions) as session:
        for mail, error, permanent in outcomes:
            session.execute(
                update(OutboxMail)
                .where(OutboxMail.id == mail.id)
                .values(**_result_values(settings, now, mail, error, permanent, summary, rng))
                .execution_options(synchronize_session=False)
            )


def _result_values(
    settings: Settings,
    now: datetime,
    mail: OutboxMail,
    error: str | None,
    permanent: bool,
    summary: SendSummary,
    rng: Rng = random.random,
) -> dict:
    attempts = mail.attempts + 1
    if error is None:
        summary.sent += 1
        metrics.MAILS.labels("sent").inc()
        return {"status": "sent", "sent_at": now, "attempts": attempts, "last_error": None}
    if permanent or attempts >= settings.mail_max_attempts:
        summary.failed += 1
        metrics.MAILS.labels("failed").inc()
        return {"status": "failed", "attempts": attempts, "last_error": error[:2000]}
    summary.retried += 1
    metrics.MAILS.labels("retry").inc()
    return {
        "attempts": attempts,
        "last_error": error[:2000],
        "next_attempt_at": now + backoff(attempts, rng),
    }
