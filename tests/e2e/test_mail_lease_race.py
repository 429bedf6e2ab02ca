"""A slow mail sender must not deliver a mail that another worker already sent.

cloud/mail/sender.py claims up to 50 mails at once with a 2-minute lease. When sending the
batch takes longer than the lease (a relay answering slowly: 50 mails x 2.5 s), a second worker
claims the same rows once the lease has run out; the first worker must then skip them (it
renews its lease with compare-and-set before each send). Reproduced deterministically on a
settable clock: worker A claims, the clock passes the lease, worker B runs a normal pass, then
A carries on with what it claimed.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from cloud.escalation.worker import escalate_due
from cloud.mail import sender
from mimamori_dev.scenario import enroll, seed_area, seed_household
from mimamori_wire import v1

START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def test_mail_claimed_by_a_slow_worker_is_not_sent_twice(inprocess_cloud, smtp_sink) -> None:
    cloud = inprocess_cloud(START)
    area = seed_area(cloud.admin)
    for i in range(3):
        gateway = enroll(
            cloud.http, cloud.admin, seed_household(cloud.admin, area.office_id, i, ["08:00"])
        )
        gateway.record(v1.EventKind.HELP_REQUESTED, {"source": "button"}, START)
        gateway.upload()
    worker = cloud.worker
    assert escalate_due(worker.sessions, worker.notifier, cloud.clock) == 6  # family + staff

    claimed_by_a = sender._claim(worker.sessions, cloud.clock())
    assert len(claimed_by_a) == 6  # 3 family + 3 office mails
    cloud.clock.advance(seconds=sender.LEASE.total_seconds() + 1)  # A is still sending...
    assert worker.run_pass().mail.sent == 6  # ...and worker B takes over the expired lease
    sender._send_batch(  # A carries on with the batch it claimed
        worker.sessions, cloud.settings, cloud.clock, claimed_by_a, sender.SendSummary()
    )

    messages = smtp_sink.wait_for(6, timeout=10)
    # Every copy of one outbox row carries the same Message-ID (receivers can de-duplicate)...
    assert len({m["Message-ID"] for m in messages}) == 6
    # ...but the SMTP server must not get any (incident, step, recipient) twice.
    delivered = Counter((m["X-Mimamori-Incident"], m["X-Mimamori-Step"], m["To"]) for m in messages)
    assert set(delivered.values()) == {1}


def test_message_id_is_stable_per_outbox_row(inprocess_cloud) -> None:
    """The documented crash window (a mail sent, the worker killed before it records that)
    can repeat a mail; the repeat must carry the same Message-ID so receivers drop it."""
    from cloud.models import OutboxMail

    cloud = inprocess_cloud(START)
    mail = OutboxMail(
        id="0f5c2c2e-5c8e-4a52-9d0c-3f1a2b3c4d5e",
        to_addr="family@example.jp",
        subject="件名",
        text_body="本文",
        headers={},
    )
    first = sender.build_message(mail, cloud.settings.smtp_from, START)
    again = sender.build_message(mail, cloud.settings.smtp_from, START + sender.LEASE)
    assert first["Message-ID"] == again["Message-ID"]
    assert mail.id in first["Message-ID"]
