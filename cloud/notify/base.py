"""The one interface every notification channel implements, and what a send returns.

A delivery is a row of the durable outbox (cloud.models.OutboxMail, `channel` says which);
the outbox sender (cloud.mail.sender) claims, leases, retries and records it the same way
for every channel, and hands the send itself to the row's Channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cloud.models import OutboxMail

EMAIL = "email"
LINE = "line"
CHANNELS = (EMAIL, LINE)
# mail_outbox.status of a delivery whose case closed before any sender took it (the resident
# answered late, the gateway came back): never sent (cloud/notify/followups.py).
CANCELLED = "cancelled"


@dataclass(frozen=True)
class DeliveryResult:
    error: str | None = None  # None: the channel accepted the message
    # build | address | smtp_5xx | smtp_unsupported | smtp | connect | line_4xx | line_auth |
    # line_rate | line_blocked | line | line_connect
    reason: str = ""
    permanent: bool = False
    # The service asked us to wait (LINE 429 Retry-After); the next attempt is not earlier.
    retry_after_s: float | None = None


DELIVERED = DeliveryResult()


class Channel(Protocol):
    name: str

    def send(self, delivery: OutboxMail) -> DeliveryResult: ...

    def close(self) -> None: ...
