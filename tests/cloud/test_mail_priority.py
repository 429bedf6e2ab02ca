"""Alarm mail first (issue 18): when many mails are due at once (09:10), the senders claim
escalation alerts before other mail of an incident, and that before daily reports; within a
priority, the longest due first. Checked on the order the SMTP server received them."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cloud.core.clock import SettableClock
from cloud.core.config import Settings
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.mail.sender import send_due
from cloud.migrations import upgrade_head
from cloud.models import OutboxMail
from cloud.models.incidents import mail_priority
from mimamori_dev.services import SmtpSink

NOW = datetime(2026, 11, 30, 0, 10, tzinfo=UTC)  # 09:10 in Tokyo
KINDS = [
    ("alert.family", True),
    ("alert.staff", True),
    ("alert.family.line_fallback", True),
    ("answered_late", True),
    ("gateway_back", True),
    ("daily_report", False),
]


def _queue_and_send(url: str, sink: SmtpSink, mails: list[tuple[str, bool, int]]) -> None:
    """Queue `mails` (kind, of an incident, minutes overdue), send them all, check order."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        with transaction(sessions) as session:
            session.execute(OutboxMail.__table__.delete())
            for n, (kind, of_incident, overdue_min) in enumerate(mails):
                session.add(
                    OutboxMail(
                        to_addr=f"m{n}@example.jp",
                        subject=f"mail {n}",
                        text_body="本文",
                        headers={},
                        kind=kind,
                        incident_id=str(uuid.uuid4()) if of_incident else None,
                        status="pending",
                        attempts=0,
                        next_attempt_at=NOW - timedelta(minutes=overdue_min, seconds=n),
                    )
                )
        before = len(sink.messages)
        settings_ = Settings(
            database_url=url, smtp_host=sink.host, smtp_port=sink.port, secret_key="t" * 32
        )
        summary = send_due(sessions, settings_, SettableClock(NOW))
        assert summary.sent == len(mails)
        with sessions() as session:
            rows = {m.to_addr: m for m in session.scalars(select(OutboxMail))}
    finally:
        engine.dispose()
    received = [str(m["To"]) for m in sink.messages[before:]]
    assert sorted(received) == sorted(rows)
    order = [(rows[a].priority, rows[a].next_attempt_at) for a in received]
    # The priority each row got at insert is the rule's, and mail went out in claim order.
    for address in received:
        assert rows[address].priority == mail_priority(
            rows[address].kind, rows[address].incident_id
        )
    assert order == sorted(order)


@given(
    st.lists(
        st.tuples(st.sampled_from(KINDS), st.integers(0, 30)),
        min_size=1,
        max_size=25,
    )
)
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_alarms_go_out_before_follow_ups_and_reports(
    sqlite_url: str, sink: SmtpSink, drawn: list[tuple[tuple[str, bool], int]]
) -> None:
    _queue_and_send(sqlite_url, sink, [(kind, inc, overdue) for (kind, inc), overdue in drawn])


def test_an_alert_queued_last_goes_first(sqlite_url: str, sink: SmtpSink) -> None:
    reports = [("daily_report", False, 60)] * 30
    follow_ups = [("answered_late", True, 30)] * 10
    mails = reports + follow_ups + [("alert.family", True, 0)]
    random.Random(3).shuffle(mails)
    before = len(sink.messages)
    _queue_and_send(sqlite_url, sink, mails)
    first = sink.messages[before]
    assert str(first["Subject"]).startswith("mail")
    kinds = [k for k, _, _ in mails]
    assert kinds[int(str(first["To"])[1:].split("@")[0])] == "alert.family"


@pytest.mark.postgres
def test_alarm_first_postgresql(postgres_url: str, sink: SmtpSink) -> None:
    upgrade_head(postgres_url)
    mails = [("daily_report", False, 60)] * 15 + [("gateway_back", True, 30)] * 5
    mails += [("alert.staff", True, 0), ("alert.family", True, 1)]
    _queue_and_send(postgres_url, sink, mails)
