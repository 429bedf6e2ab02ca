"""A slow mail sender must not deliver a mail that another worker already sent.

cloud/mail/sender.py claims one mail at a time under a short lease (settings.mail_lease_s),
renewed while it sends. A worker that stalls past its lease between claiming and sending (a
pause, a slow database) finds the mail taken over and must skip it: it checks its lease with
compare-and-set right before the send. Reproduced deterministically on a settable clock:
worker A claims, the clock passes the lease, worker B runs a normal pass, then A carries on.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from cloud.escalation.runner import escalate_due
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

    lease = timedelta(seconds=cloud.settings.mail_lease_s)
    claimed_by_a = sender._claim_one(worker.sessions, cloud.clock(), lease, "worker-a")
    assert claimed_by_a is not None
    cloud.clock.advance(seconds=lease.total_seconds() + 1)  # A stalls past its lease...
    assert worker.run_pass().mail.sent == 6  # ...and worker B takes over the expired lease
    summary_a = sender.SendSummary()
    with sender.LeaseKeeper(worker.sessions, cloud.clock, "worker-a", lease) as keeper_a:
        sender._deliver(  # A carries on with the mail it claimed
            keeper_a,
            cloud.settings,
            cloud.clock,
            sender.SmtpLink(cloud.settings),
            claimed_by_a,
            summary_a,
            random.random,
        )
    assert not summary_a  # A neither sent nor recorded anything

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
    again = sender.build_message(mail, cloud.settings.smtp_from, START + timedelta(minutes=5))
    assert first["Message-ID"] == again["Message-ID"]
    assert mail.id in first["Message-ID"]
