"""The e-mail channel: the outbox sender's own SMTP code (cloud.mail.sender) behind Channel."""

from __future__ import annotations

from cloud.core.clock import Clock
from cloud.core.config import Settings
from cloud.mail.sender import SmtpLink, _build
from cloud.models import OutboxMail
from cloud.notify.base import EMAIL, DeliveryResult


class MailChannel:
    name = EMAIL

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings, self.clock = settings, clock
        self.link = SmtpLink(settings)

    def send(self, delivery: OutboxMail) -> DeliveryResult:
        msg, failed = _build(delivery, self.settings, self.clock)
        if msg is None:
            assert failed is not None
            return failed
        return self.link.send(msg)

    def close(self) -> None:
        self.link.close()
