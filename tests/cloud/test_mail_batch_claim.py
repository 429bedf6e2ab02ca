"""Batch claims keep "each mail once" (issue 18): a worker leases a few mails at a time and
sends them one by one; when it stalls past the lease (a pause, a slow SMTP server) another
worker takes the rest over, and the first, waking up, sends none of them again. Real SMTP
(aiosmtpd), SQLite and PostgreSQL, a settable clock."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from cloud.core.clock import SettableClock
from cloud.core.config import Settings
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.mail import sender
from cloud.migrations import upgrade_head
from cloud.models import OutboxMail
from mimamori_dev.services import SmtpSink

T0 = datetime(2026, 11, 30, 0, 10, tzinfo=UTC)
LEASE = timedelta(seconds=10)


def _stalled_batch(url: str, sink: SmtpSink, count: int, sent_before_stall: int) -> None:
    clock = SettableClock(T0)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine, clock)
    cfg = Settings(
        database_url=url, secret_key="t" * 32, smtp_port=sink.port, mail_lease_s=LEASE.seconds
    )
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with transaction(sessions) as session:
        session.execute(
            insert(OutboxMail),
            [
                {
                    "id": mail_id,
                    "to_addr": f"b{n}@example.jp",
                    "subject": f"mail {n}",
                    "text_body": "本文",
                    "headers": {},
                    "kind": "alert.family",
                    "incident_id": str(uuid.uuid4()),
                    "next_attempt_at": T0 - timedelta(seconds=count - n),
                    "created_at": T0,
                }
                for n, mail_id in enumerate(ids)
            ],
        )
    before = len(sink.messages)
    conn = sender._pass_connection(sessions)
    try:
        batch = sender._claim(sessions, clock(), LEASE, "worker-a", conn, count)
        assert [c.mail.id for c in batch] == ids  # the whole batch, in claim order
        summary_a = sender.SendSummary()
        link = sender.SmtpLink(cfg)
        with sender.LeaseKeeper(sessions, clock, "worker-a", LEASE) as keeper:
            for claimed in batch[:sent_before_stall]:
                sender._deliver(keeper, cfg, clock, link, claimed, summary_a, random.random, conn)
            clock.set(T0 + LEASE + timedelta(seconds=1))  # worker A stalls past its lease
            summary_b = sender.send_due(sessions, cfg, clock, owner="worker-b")
            for claimed in batch[sent_before_stall:]:  # A wakes up and goes on
                sender._deliver(keeper, cfg, clock, link, claimed, summary_a, random.random, conn)
        link.close()
        with sessions() as session:
            statuses = Counter(
                session.scalars(select(OutboxMail.status).where(OutboxMail.id.in_(ids)))
            )
    finally:
        if conn is not None:
            conn.close()
        engine.dispose()
    received = Counter(str(m["Message-ID"])[1:].split("@")[0] for m in sink.messages[before:])
    assert received == Counter(ids)  # every mail, once
    assert summary_a.sent == sent_before_stall
    assert summary_b.sent == count - sent_before_stall  # B took the rest over
    assert statuses == Counter({"sent": count})


@pytest.mark.parametrize("sent_before_stall", [0, 2, 5])
def test_stalled_batch_is_taken_over_once_sqlite(
    tmp_path: Path, sink: SmtpSink, sent_before_stall: int
) -> None:
    url = f"sqlite:///{tmp_path / 'batch.db'}"
    upgrade_head(url)
    _stalled_batch(url, sink, 5, sent_before_stall)


@pytest.mark.postgres
def test_stalled_batch_is_taken_over_once_postgresql(postgres_url: str, sink: SmtpSink) -> None:
    upgrade_head(postgres_url)
    _stalled_batch(postgres_url, sink, 6, 2)
