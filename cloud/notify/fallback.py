"""E-mail when a LINE delivery failed for good (blocked, unknown user): an alert or follow-up
within the same step, a daily report for the same day."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from cloud.core.clock import Clock
from cloud.core.logging import log_event
from cloud.db import transaction
from cloud.mail.daily_report import failed_on_line, mail_instead
from cloud.models import OutboxMail
from cloud.notify.followups import has_stored_fallback, stored_fallback
from cloud.notify.outbox import failed_line_without_fallback

log = logging.getLogger("mimamori.notify")


class MailFallback(Protocol):
    """The e-mail of the escalation step a LINE delivery belonged to
    (cloud.escalation.steps.Notifier)."""

    def mail_fallback(
        self, session: Session, failed: OutboxMail, now: datetime
    ) -> OutboxMail | None: ...


def fall_back_to_mail(sessions: sessionmaker[Session], ctx: MailFallback, clock: Clock) -> int:
    """One pass: an e-mail for every failed LINE alert that has none yet; how many queued."""
    queued = 0
    with transaction(sessions) as session:
        for failed in failed_line_without_fallback(session):
            if has_stored_fallback(failed):  # a follow-up carries its own e-mail
                mail = stored_fallback(session, failed, clock())
            else:  # an alert: the e-mail of its escalation step
                mail = ctx.mail_fallback(session, failed, clock())
            if mail is not None:
                queued += 1
                log_event(
                    log,
                    "notify.line_fallback",
                    logging.WARNING,
                    incident_id=failed.incident_id,
                    contact_id=failed.contact_id,
                    step=failed.step,
                    reason=(failed.last_error or "")[:200],
                )
        for failed, logged in failed_on_line(session):  # daily reports
            if mail_instead(session, failed, logged, clock()) is not None:
                queued += 1
                log_event(
                    log,
                    "notify.line_fallback",
                    logging.WARNING,
                    kind=failed.kind,
                    contact_id=failed.contact_id,
                    reason=(failed.last_error or "")[:200],
                )
    return queued
