"""An answer stored for a slot never leaves that slot's missed check-in open, nor a family
alert without the 「応答がありました」 follow-up, however the answer's upload interleaves with
the worker's detection, escalation and mail passes (issue 18, the answer/worker race).

The interleavings are forced one statement at a time (tests/cloud/interleave.py) on real
SQLite and PostgreSQL: the gateway's upload through the API's own ingest function, the
worker's detection, escalation and mail passes, mail to a real SMTP sink (aiosmtpd).

The race this guards (PostgreSQL, READ COMMITTED): the upload reads the household's context
(no missed-slot incident open) -> detection claims the household FOR UPDATE, finds no answer,
opens the incident -> the upload's event insert waits on the household row (foreign key) ->
detection commits -> the upload stores the answer and commits without looking again: an open
"no answer" incident, and the family alarmed, for a resident who answered.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cloud.api.deps import AppState
from cloud.api.routes import gateway as gateway_route
from cloud.core.clock import SettableClock
from cloud.core.config import Settings
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.detection.runner import detect_due
from cloud.escalation.runner import escalate_due
from cloud.escalation.state import SLOT_CAUSES
from cloud.escalation.steps import Notifier
from cloud.mail.sender import send_due
from cloud.migrations import upgrade_head
from cloud.models import Checkin, FamilyContact, Gateway, Incident, OutboxMail
from cloud.services import tenancy
from mimamori_dev.services import SmtpSink
from mimamori_wire import v1
from tests.cloud.conftest import nine_oclock_household
from tests.cloud.interleave import Actor, Interleaving

DEADLINE = datetime(2026, 11, 30, 0, 35, tzinfo=UTC)  # 09:35 in Tokyo: the 09:00 slot's
NOW = DEADLINE + timedelta(minutes=5, seconds=1)  # re-prompt and family steps are due
STALE = timedelta(minutes=10)
ACTORS = ("answer", "detect", "escalate", "mail")


@dataclass
class Home:
    household_id: str
    token: str
    gateway_id: str
    slot: str
    family_email: str


def _home(url: str, heartbeat_age: timedelta) -> Home:
    """A watched household whose 09:00 deadline has just passed; its gateway's last
    heartbeat `heartbeat_age` before it (older than STALE: called offline)."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    token = secrets.token_urlsafe(24)
    email = f"family-{secrets.token_hex(4)}@example.jp"
    try:
        with transaction(sessions) as session:
            household = nine_oclock_household(session, DEADLINE - timedelta(seconds=1))
            assert household.next_deadline == DEADLINE
            household.last_heartbeat_at = DEADLINE - heartbeat_age
            session.add(FamilyContact(household_id=household.id, name="山田 太郎", email=email))
            gateway = Gateway(
                household_id=household.id,
                token_hash=tenancy.hash_secret(token),
                hardware_id="pi-race",
                software_version="t",
            )
            session.add(gateway)
            session.flush()
            return Home(household.id, token, gateway.id, household.slots[0].name, email)
    finally:
        engine.dispose()


def _answer_event(home: Home) -> v1.Event:
    """The resident answered at 09:34:30; the upload reaches the cloud after 09:35."""
    at = DEADLINE - timedelta(seconds=30)
    return v1.Event.create(
        household_id=home.household_id,
        gateway_id=home.gateway_id,
        kind=v1.EventKind.CHECKIN_ANSWERED,
        payload=v1.CheckinAnswered(
            slot=home.slot,
            slot_date="2026-11-30",
            intent=v1.Intent("fine"),
            confidence=0.9,
            attempts=1,
        ),
        occurred_at=at,
        recorded_at=at,
    )


_MIGRATED: set[str] = set()


ALIVE = timedelta(minutes=1)
OFFLINE = STALE + timedelta(minutes=1)  # detection opens gateway_offline (a slot cause too)


def _race(
    url: str, sink: SmtpSink, schedule: list[str], heartbeat_age: timedelta = ALIVE
) -> list[str]:
    """Play `schedule`, check the rule; the kinds of mail the family received, in order."""
    if url not in _MIGRATED:
        upgrade_head(url)
        _MIGRATED.add(url)
    home = _home(url, heartbeat_age)
    cfg = Settings(database_url=url, secret_key="t" * 32, smtp_host=sink.host, smtp_port=sink.port)
    clock = SettableClock(NOW)
    notifier = Notifier.from_settings(cfg)
    before = len(sink.messages)
    engines = {name: make_engine(url) for name in ACTORS}
    sessions = {name: make_sessionmaker(e, clock) for name, e in engines.items()}
    app = AppState(cfg, engines["answer"], sessions["answer"], clock, notifier)
    work = {
        "answer": lambda: gateway_route._ingest(
            app, f"Bearer {home.token}", [_answer_event(home)], []
        ),
        "detect": lambda: detect_due(sessions["detect"], notifier.signer, clock, STALE),
        "escalate": lambda: escalate_due(sessions["escalate"], notifier, clock),
        "mail": lambda: send_due(sessions["mail"], cfg, clock, owner="race-mail"),
    }
    actors = [Actor(name, engines[name], work[name]) for name in ACTORS]
    try:
        Interleaving(url, actors).play(schedule)
        for actor in actors:
            assert actor.error is None, f"{actor.name}: {actor.error!r}"
        answered = actors[0].result
        assert len(answered.accepted) == 1, answered
        # Then the worker runs on, unhindered, until nothing is due.
        for _ in range(5):
            detect_due(sessions["detect"], notifier.signer, clock, STALE)
            escalate_due(sessions["escalate"], notifier, clock)
            while send_due(sessions["mail"], cfg, clock, owner="race-drain"):
                pass
        with sessions["detect"]() as session:
            status = session.scalars(
                select(Checkin.status).where(Checkin.household_id == home.household_id)
            ).all()
            still_open = session.scalars(
                select(Incident).where(
                    Incident.household_id == home.household_id,
                    Incident.cause.in_(SLOT_CAUSES),
                    Incident.state != "resolved",
                )
            ).all()
            kinds = dict(session.execute(select(OutboxMail.id, OutboxMail.kind)).all())
    finally:
        for engine in engines.values():
            engine.dispose()
    assert status == ["answered"]
    assert not still_open, f"answered, yet {[i.cause for i in still_open]} open ({schedule})"
    to_family = [
        kinds[str(m["Message-ID"])[1:].split("@")[0]]
        for m in sink.messages[before:]
        if m["To"].addresses[0].addr_spec == home.family_email
    ]
    alerts = [k for k in to_family if k.startswith("alert.")]
    assert to_family.count("answered_late") == (1 if alerts else 0), to_family
    if alerts:  # the follow-up comes after the alarm it corrects
        assert to_family.index("answered_late") > to_family.index(alerts[0])
    return to_family


# The interleaving that left the false alarm: the upload reads its context, then detection
# runs to its commit (its first statement claims the household), then the upload goes on.
READ_THEN_DETECT = ["answer", "answer"] + ["detect"] * 40
# The worker runs to the family mail before the upload: the alert goes out, then the answer
# closes the case and the follow-up follows it.
ALERTED_FIRST = ["detect"] * 100 + ["escalate"] * 300 + ["mail"] * 100


@pytest.mark.parametrize("heartbeat_age", [ALIVE, OFFLINE], ids=["missed", "offline"])
def test_answer_during_detection_sqlite(
    sqlite_url: str, sink: SmtpSink, heartbeat_age: timedelta
) -> None:
    assert _race(sqlite_url, sink, READ_THEN_DETECT, heartbeat_age) == []  # before any alarm


@pytest.mark.postgres
@pytest.mark.parametrize("heartbeat_age", [ALIVE, OFFLINE], ids=["missed", "offline"])
def test_answer_during_detection_postgresql(
    postgres_url: str, sink: SmtpSink, heartbeat_age: timedelta
) -> None:
    assert _race(postgres_url, sink, READ_THEN_DETECT, heartbeat_age) == []


def test_alarm_before_the_answer_is_followed_up_sqlite(sqlite_url: str, sink: SmtpSink) -> None:
    assert _race(sqlite_url, sink, ALERTED_FIRST) == ["alert.family", "answered_late"]


@pytest.mark.postgres
def test_alarm_before_the_answer_is_followed_up_postgresql(
    postgres_url: str, sink: SmtpSink
) -> None:
    assert _race(postgres_url, sink, ALERTED_FIRST) == ["alert.family", "answered_late"]


schedules = st.lists(st.sampled_from(ACTORS), min_size=0, max_size=60)
_SETTINGS = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@given(schedules)
@_SETTINGS
def test_any_interleaving_sqlite(sqlite_url: str, sink: SmtpSink, schedule: list[str]) -> None:
    _race(sqlite_url, sink, schedule)


@pytest.mark.postgres
@given(schedules)
@_SETTINGS
def test_any_interleaving_postgresql(
    postgres_url: str, sink: SmtpSink, schedule: list[str]
) -> None:
    _race(postgres_url, sink, schedule)
