"""A late answer closes its case: the alerts still waiting in the queue are cancelled and
never sent; whoever got an alert, or may be getting one (a sender holds its lease), hears
the follow-up, and nobody else does (issue 18: a family must not get "no answer" about a
resident who answered a minute late). Real SMTP (aiosmtpd), real SQLite and PostgreSQL, a
settable clock; the HTTP case through a real gateway upload."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cloud.core.clock import SettableClock
from cloud.core.config import Settings
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.escalation.runner import escalate_due
from cloud.escalation.steps import Notifier
from cloud.mail import sender
from cloud.migrations import upgrade_head
from cloud.models import FamilyContact, Household, Incident, OutboxMail
from cloud.services import incidents
from mimamori_dev.services import SmtpSink
from tests.cloud.conftest import nine_oclock_household

DEADLINE = datetime(2026, 11, 30, 0, 35, tzinfo=UTC)  # 09:35 in Tokyo: the 09:00 slot's
ALERTS_DUE = DEADLINE + timedelta(minutes=15, seconds=1)  # re-prompt, family and staff ran
ANSWERED = ALERTS_DUE + timedelta(minutes=1)


def _missed(sessions, contacts: int) -> str:  # type: ignore[no-untyped-def]
    """A household with `contacts` family members whose 09:00 check-in went unanswered."""
    with transaction(sessions) as session:
        household = nine_oclock_household(session, DEADLINE - timedelta(days=1))
        for n in range(contacts):
            session.add(
                FamilyContact(household_id=household.id, name=f"家族{n}", email=f"f{n}@ex.jp")
            )
        session.flush()
        session.refresh(household)
        incident = incidents.open_incident(
            session,
            household,
            "missed_checkin",
            DEADLINE,
            base=DEADLINE,
            slot=household.slots[0].name,
            slot_date=DEADLINE.date(),
        )
        assert incident is not None
        return incident.id


class _SlowLink(sender.SmtpLink):
    """An SMTP link on which `during_send` happens while the message is on its way."""

    def __init__(self, cfg: Settings, during_send) -> None:  # type: ignore[no-untyped-def]
        super().__init__(cfg)
        self.during_send = during_send

    def send(self, msg):  # type: ignore[no-untyped-def]
        self.during_send()
        return super().send(msg)


def _deliver(sessions, cfg: Settings, clock, owner: str, claimed: list, link=None):  # type: ignore[no-untyped-def]
    """A sender that claimed `claimed` earlier sends them now; its summary."""
    lease = timedelta(seconds=cfg.mail_lease_s)
    link = link or sender.SmtpLink(cfg)
    summary = sender.SendSummary()
    with sender.LeaseKeeper(sessions, clock, owner, lease) as keeper:
        for one in claimed:
            sender._deliver(keeper, cfg, clock, link, one, summary, random.random)
    link.close()
    return summary


def _claim(sessions, cfg: Settings, clock, owner: str, count: int) -> list:  # type: ignore[no-untyped-def]
    lease = timedelta(seconds=cfg.mail_lease_s)
    claimed = [sender._claim_one(sessions, clock(), lease, owner) for _ in range(count)]
    assert None not in claimed
    return claimed


def _late_answer_case(  # type: ignore[no-untyped-def]
    url: str, sink: SmtpSink, contacts: int, sent: int, leased: int, on_way: int = 0
) -> None:
    """Alerts queued; `sent` of them went out, `on_way` (0 or 1) is being handed to the SMTP
    server and `leased` more are claimed by a sender (a batch of 8) but not yet handed over
    when the answer arrives; then every sender finishes. Checked on what the SMTP server
    received: the leased ones are never sent."""
    engine = make_engine(url)
    clock = SettableClock(ALERTS_DUE)
    sessions = make_sessionmaker(engine, clock)
    cfg = Settings(database_url=url, secret_key="t" * 32, smtp_port=sink.port)
    notifier = Notifier.from_settings(cfg)
    before = len(sink.messages)
    try:
        incident_id = _missed(sessions, contacts)
        escalate_due(sessions, notifier, clock)
        with sessions() as session:
            queued = session.scalars(
                select(OutboxMail).where(OutboxMail.incident_id == incident_id)
            ).all()
        assert len(queued) == contacts + 1  # each family member and the office
        sent = min(sent, len(queued))
        on_way = min(on_way, len(queued) - sent)
        leased = min(leased, len(queued) - sent - on_way)
        assert (
            _deliver(
                sessions, cfg, clock, "early", _claim(sessions, cfg, clock, "early", sent)
            ).sent
            == sent
        )
        in_flight = _claim(sessions, cfg, clock, "slow", on_way + leased)
        alerted = {str(m["To"]) for m in sink.messages[before:]} | {
            c.mail.to_addr for c in in_flight[:on_way]
        }

        def answer() -> None:  # the resident answers late: the API resolves and tells
            clock.set(ANSWERED)
            with transaction(sessions) as session:
                incident = session.get_one(Incident, incident_id)
                if incident.state == "resolved":
                    return
                household = session.get_one(Household, incident.household_id)
                incidents.resolve(
                    session, incident, "answered_late", "応答がありました（自動）", clock()
                )
                notifier.answered_late(
                    session,
                    household,
                    incident,
                    {"occurred_at": clock(), "intent": "fine"},
                    clock(),
                )

        if on_way:  # the answer comes while this one is on its way to the server
            link = _SlowLink(cfg, answer)
            assert _deliver(sessions, cfg, clock, "slow", in_flight[:on_way], link).sent == 1
        answer()
        # The rest of the sender's batch: refused at the per-send compare-and-set.
        assert not _deliver(sessions, cfg, clock, "slow", in_flight[on_way:])
        while sender.send_due(sessions, cfg, clock):
            pass

        with sessions() as session:
            rows = {
                m.id: m
                for m in session.scalars(
                    select(OutboxMail).where(OutboxMail.incident_id == incident_id)
                )
            }
    finally:
        engine.dispose()
    received = [(rows[str(m["Message-ID"])[1:].split("@")[0]], m) for m in sink.messages[before:]]
    got_alert = {row.to_addr for row, _ in received if row.kind.startswith("alert.")}
    got_answer = {row.to_addr for row, _ in received if row.kind == "answered_late"}
    assert got_alert == alerted  # nothing cancelled went out, nothing in flight was lost
    assert got_answer == alerted  # everyone alarmed hears the answer, nobody else does
    assert len(received) == 2 * len(alerted)  # once each
    statuses = {row.status for row in rows.values()}
    assert statuses <= {"sent", "cancelled"}
    cancelled = [row for row in rows.values() if row.status == "cancelled"]
    assert len(cancelled) == len(queued) - len(alerted)
    assert all(row.kind.startswith("alert.") for row in cancelled)


def test_alert_queued_when_the_answer_comes_is_never_sent(sqlite_url: str, sink: SmtpSink) -> None:
    _late_answer_case(sqlite_url, sink, contacts=1, sent=0, leased=0)


def test_alert_already_sent_gets_the_answered_mail(sqlite_url: str, sink: SmtpSink) -> None:
    _late_answer_case(sqlite_url, sink, contacts=2, sent=3, leased=0)


def test_alert_leased_but_not_handed_over_is_never_sent(sqlite_url: str, sink: SmtpSink) -> None:
    """A sender claimed the family's alerts (a batch) just before the answer: none goes."""
    _late_answer_case(sqlite_url, sink, contacts=3, sent=0, leased=4)


def test_alert_on_its_way_is_kept_and_followed_up(sqlite_url: str, sink: SmtpSink) -> None:
    _late_answer_case(sqlite_url, sink, contacts=2, sent=1, leased=1, on_way=1)


@given(st.integers(1, 3), st.integers(0, 4), st.integers(0, 4), st.integers(0, 1))
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_late_answer_rule(
    sqlite_url: str, sink: SmtpSink, contacts: int, sent: int, leased: int, on_way: int
) -> None:
    """Any number of family members, any share of their alerts sent, on their way or
    leased."""
    _late_answer_case(sqlite_url, sink, contacts, sent, leased, on_way)


@pytest.mark.postgres
def test_late_answer_rule_postgresql(postgres_url: str, sink: SmtpSink) -> None:
    upgrade_head(postgres_url)
    for contacts, sent, leased, on_way in [(1, 0, 0, 0), (2, 1, 1, 1), (3, 0, 3, 0), (2, 3, 0, 0)]:
        _late_answer_case(postgres_url, sink, contacts, sent, leased, on_way)


def _closed_case(url: str, sink: SmtpSink) -> None:
    """Staff close the case (the resident was reached by phone) while the family's alerts
    are queued and one is leased: none is sent, each says why."""
    engine = make_engine(url)
    clock = SettableClock(ALERTS_DUE)
    sessions = make_sessionmaker(engine, clock)
    cfg = Settings(database_url=url, secret_key="t" * 32, smtp_port=sink.port)
    before = len(sink.messages)
    try:
        incident_id = _missed(sessions, 2)
        escalate_due(sessions, Notifier.from_settings(cfg), clock)
        leased = _claim(sessions, cfg, clock, "slow", 1)
        with transaction(sessions) as session:
            incident = session.get_one(Incident, incident_id)
            incidents.resolve(session, incident, "safe", "電話で確認", clock())
        assert not _deliver(sessions, cfg, clock, "slow", leased)
        clock.advance(seconds=cfg.mail_lease_s + 1)
        while sender.send_due(sessions, cfg, clock):
            pass
        with sessions() as session:
            rows = session.scalars(
                select(OutboxMail).where(OutboxMail.incident_id == incident_id)
            ).all()
    finally:
        engine.dispose()
    assert sink.messages[before:] == []
    assert len(rows) == 3
    assert {(r.status, r.last_error) for r in rows} == {("cancelled", sender.CASE_CLOSED_REASON)}


def test_alerts_of_a_closed_case_are_never_sent(sqlite_url: str, sink: SmtpSink) -> None:
    _closed_case(sqlite_url, sink)


@pytest.mark.postgres
def test_alerts_of_a_closed_case_are_never_sent_postgresql(
    postgres_url: str, sink: SmtpSink
) -> None:
    upgrade_head(postgres_url)
    _closed_case(postgres_url, sink)


def test_late_answer_over_http_cancels_the_queued_family_mail(
    live_cloud_factory, smtp_sink
) -> None:
    """The real path: detection and escalation queue the family mail, the gateway uploads
    the late answer before any sender ran; the family gets nothing, the case shows no
    delivery, the outbox row says why."""
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    hh = cloud.household(slots=["08:00"], contacts=1)
    gw = cloud.enroll(hh["id"])
    deadline = datetime(2026, 11, 26, 23, 35, tzinfo=UTC)  # 08:35 in Tokyo
    cloud.travel(deadline - timedelta(minutes=1))
    gw.heartbeat()  # the gateway is up: the resident is silent
    cloud.travel(deadline + timedelta(minutes=5, seconds=5))
    cloud.worker.detect()
    cloud.worker.escalate()  # re-prompt, and the family mail queued (not sent)
    with cloud.sessions() as session:
        [queued] = session.scalars(select(OutboxMail)).all()
    assert (queued.kind, queued.status) == ("alert.family", "pending")

    cloud.travel(deadline + timedelta(minutes=6))
    assert gw.answer("morning").status_code == 200
    cloud.run_worker()
    assert smtp_sink.messages == []  # no "no answer", and no "answered" about it either
    with cloud.sessions() as session:
        row = session.get_one(OutboxMail, queued.id)
        incident = session.scalars(select(Incident)).one()
    assert row.status == "cancelled" and row.last_error == "cancelled: answered_late"
    assert (incident.state, incident.outcome) == ("resolved", "answered_late")
    case = cloud.admin_ok("GET", f"/incidents/{incident.id}")
    assert case["state"] == "resolved"
