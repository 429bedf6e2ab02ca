"""Mail through the outbox: SMTP down means delayed and retried, never lost, never doubled."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from cloud.mail.sender import backoff, backoff_ceiling, send_due
from cloud.models import OutboxMail
from mimamori_wire import v1

JST_0835 = datetime(2026, 11, 26, 23, 35, tzinfo=UTC)


def _outbox(cloud) -> list[OutboxMail]:  # type: ignore[no-untyped-def]
    with cloud.sessions() as session:
        return list(session.scalars(select(OutboxMail).order_by(OutboxMail.created_at)))


def test_smtp_down_then_back_delivers_each_mail_exactly_once(live_cloud_factory, smtp_sink) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    households = [cloud.household(slots=["08:00"], contacts=2) for _ in range(3)]
    gateways = [cloud.enroll(h["id"]) for h in households]
    cloud.travel(JST_0835 - timedelta(minutes=20))
    for gw in gateways:
        assert (
            gw.post(gw.event(v1.EventKind.HELP_REQUESTED, {"source": "button"})).status_code == 200
        )

    smtp_sink.stop()
    summary = cloud.run_worker()
    # 3 households x (2 family + 1 office) alerts, none delivered yet.
    assert summary.mail.sent == 0 and summary.mail.retried == 9
    pending = _outbox(cloud)
    assert {(m.status, m.attempts) for m in pending} == {("pending", 1)}
    assert all("connect" in (m.last_error or "") for m in pending)

    # Still down at the next attempt: the backoff doubles (jitter stays within its bounds).
    cloud.travel(cloud.clock() + backoff_ceiling(1) + timedelta(seconds=1))
    assert cloud.run_worker().mail.retried == 9
    cloud.travel(cloud.clock() + backoff(2, lambda: 0.0) - timedelta(seconds=1))
    assert cloud.run_worker().mail.retried == 0  # not due yet

    smtp_sink.start()
    cloud.travel(cloud.clock() + backoff_ceiling(2))
    assert cloud.run_worker().mail.sent == 9
    for _ in range(3):
        cloud.travel(cloud.clock() + timedelta(minutes=10))
        cloud.run_worker()
    messages = smtp_sink.wait_for(9, timeout=10)
    # Later passes sent other steps (manager etc.) but never one mail twice.
    ids = [m["Message-ID"] for m in messages]
    assert len(ids) == len(set(ids))
    alerts = [m for m in messages if "助けの要請" in m["Subject"] and "再通知" not in m["Subject"]]
    assert sorted(m["To"] for m in alerts).count("family0@example.jp") == 3
    assert {m.status for m in _outbox(cloud)} == {"sent"}


def test_permanent_failure_is_recorded_and_listed(live_cloud_factory, smtp_sink) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port, mail_max_attempts=2)
    hh = cloud.household(slots=["08:00"], contacts=1)
    gw = cloud.enroll(hh["id"])
    cloud.travel(JST_0835 - timedelta(minutes=20))
    gw.post(gw.event(v1.EventKind.REQUEST_CALLBACK, {}))
    smtp_sink.stop()
    cloud.run_worker()
    cloud.travel(cloud.clock() + timedelta(minutes=1))
    cloud.run_worker()
    failed = cloud.admin_ok("GET", "/mail", params={"status": "failed"})
    assert [(m["to"], m["attempts"]) for m in failed] == [("office@example.jp", 2)]
    assert failed[0]["last_error"]


def test_backoff_jitter_stays_between_half_and_full_ceiling() -> None:
    assert [backoff_ceiling(n).total_seconds() for n in (1, 2, 3, 20)] == [5, 10, 20, 3600]
    assert backoff(3, lambda: 0.0) == timedelta(seconds=10)
    assert backoff(3, lambda: 0.5) == timedelta(seconds=15)
    assert backoff(3, lambda: 0.999999) < backoff_ceiling(3)
    assert backoff(20, lambda: 0.0) == timedelta(minutes=30)


def test_mails_failing_together_retry_spread_out(live_cloud_factory, smtp_sink) -> None:
    """An SMTP outage must not make every queued mail retry in the same second."""
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    for _ in range(4):
        hh = cloud.household(slots=["08:00"], contacts=2)
        gw = cloud.enroll(hh["id"])
        cloud.travel(JST_0835 - timedelta(minutes=20))
        gw.post(gw.event(v1.EventKind.HELP_REQUESTED, {"source": "button"}))
    smtp_sink.stop()
    assert cloud.run_worker().mail.retried == 12  # 4 x (2 family + office), all failed once
    cloud.travel(cloud.clock() + backoff_ceiling(1) + timedelta(seconds=1))
    summary = send_due(cloud.sessions, cloud.settings, cloud.clock, random.Random(7).random)
    assert summary.retried == 12
    mails = _outbox(cloud)
    assert {m.attempts for m in mails} == {2}
    waits = [(m.next_attempt_at - cloud.clock()).total_seconds() for m in mails]
    ceiling = backoff_ceiling(2).total_seconds()
    assert all(ceiling / 2 <= w <= ceiling for w in waits)
    assert len({round(w, 3) for w in waits}) >= 10  # spread out, not in lockstep
