"""A call for help goes out before a queue of missed check-ins (issue 18): at 09:10 two
thousand missed-check-in alerts wait in the outbox; a resident presses the help button and
the escalation queues its alerts last; the senders take them first, then an unwell
resident's, then the missed check-ins, then follow-ups and daily reports. Checked on the
order a real SMTP server (aiosmtpd) received them, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from cloud.core.clock import SettableClock
from cloud.core.config import Settings
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.escalation.chain import CAUSES
from cloud.escalation.runner import escalate_due
from cloud.escalation.steps import Notifier
from cloud.mail import sender
from cloud.migrations import upgrade_head
from cloud.models import FamilyContact, Incident, OutboxMail
from cloud.models.incidents import mail_priority
from cloud.services import incidents, tenancy
from mimamori_dev.services import SmtpSink

AT_0910 = datetime(2026, 11, 30, 0, 10, tzinfo=UTC)  # 09:10 in Tokyo
MISSED = 2000


def _household(session, office_id: str, name: str) -> str:  # type: ignore[no-untyped-def]
    household = tenancy.create_household(
        session, office_id, name, AT_0910 - timedelta(days=1), slots=[tenancy.SlotInput("09:00")]
    )
    session.add(FamilyContact(household_id=household.id, name=f"{name}の家族", email="f@ex.jp"))
    session.flush()
    session.refresh(household)
    return household.id


def _open(sessions, household_id: str, cause: str, now: datetime) -> str:  # type: ignore[no-untyped-def]
    with transaction(sessions) as session:
        household = session.get_one(tenancy.Household, household_id)
        incident = incidents.open_incident(session, household, cause, now)
        assert incident is not None
        return incident.id


def _queue_of_the_morning(sessions) -> None:  # type: ignore[no-untyped-def]
    """2,000 missed-check-in alerts due since 09:05-09:10, follow-ups and reports older still."""
    rows = [
        {
            "id": str(uuid.uuid4()),
            "to_addr": f"missed{n}@example.jp",
            "subject": "見守り：応答がありません",
            "text_body": "本文",
            "headers": {},
            "kind": "alert.family",
            "incident_id": str(uuid.uuid4()),
            "next_attempt_at": AT_0910 - timedelta(seconds=300 - n * 300 / MISSED),
            "created_at": AT_0910 - timedelta(minutes=5),
        }
        for n in range(MISSED)
    ]
    rows += [
        {
            "id": str(uuid.uuid4()),
            "to_addr": f"{kind}{n}@example.jp",
            "subject": kind,
            "text_body": "本文",
            "headers": {},
            "kind": kind,
            "incident_id": str(uuid.uuid4()) if kind == "answered_late" else None,
            "next_attempt_at": AT_0910 - timedelta(minutes=30),
            "created_at": AT_0910 - timedelta(minutes=30),
        }
        for kind in ("answered_late", "daily_report")
        for n in range(5)
    ]
    with transaction(sessions) as session:
        session.execute(insert(OutboxMail), rows)  # priority: the rule's default at insert


def _help_queued_last(url: str, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SettableClock(AT_0910 - timedelta(seconds=1))
    engine = make_engine(url)
    sessions = make_sessionmaker(engine, clock)
    cfg = Settings(database_url=url, secret_key="t" * 32, smtp_port=sink.port)
    notifier = Notifier.from_settings(cfg)
    try:
        with transaction(sessions) as session:
            muni = tenancy.create_municipality(session, "横浜市", email="city@example.jp")
            office = tenancy.create_office(session, muni.id, "港北郵便局", email="o@example.jp")
            unwell_home = _household(session, office.id, "具合の悪い人")
            help_home = _household(session, office.id, "助けを呼んだ人")
        _queue_of_the_morning(sessions)
        unwell = _open(sessions, unwell_home, "unwell", clock())
        assert escalate_due(sessions, notifier, clock) == 2  # family and staff at once
        clock.set(AT_0910)
        help_ = _open(sessions, help_home, "help_requested", clock())
        assert escalate_due(sessions, notifier, clock) == 2  # queued last of all
        with sessions() as session:
            newest = session.scalars(
                select(OutboxMail).order_by(OutboxMail.next_attempt_at.desc()).limit(2)
            ).all()
        assert {m.incident_id for m in newest} == {help_}

        before = len(sink.messages)
        monkeypatch.setattr(sender, "MAX_PER_PASS", 8)  # one short pass: the head of the queue
        assert sender.send_due(sessions, cfg, clock).sent == 8
        ids = [str(m["Message-ID"])[1:].split("@")[0] for m in sink.messages[before:]]
        with sessions() as session:
            rows = {
                m.id: m for m in session.scalars(select(OutboxMail).where(OutboxMail.id.in_(ids)))
            }
            causes = dict(session.execute(select(Incident.id, Incident.cause)).all())
    finally:
        engine.dispose()
    order = [causes.get(rows[i].incident_id or "", rows[i].kind) for i in ids]
    assert order[:2] == ["help_requested"] * 2, order  # the family and the office
    assert order[2:4] == ["unwell"] * 2, order
    assert [rows[i].incident_id in (help_, unwell) for i in ids[4:]] == [False] * 4
    assert all(rows[i].kind == "alert.family" for i in ids[4:])  # missed check-ins, oldest first
    assert [rows[i].next_attempt_at for i in ids[4:]] == sorted(
        rows[i].next_attempt_at for i in ids[4:]
    )


def test_help_queued_last_goes_out_first_sqlite(
    tmp_path: Path, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'help.db'}"
    upgrade_head(url)
    _help_queued_last(url, sink, monkeypatch)


@pytest.mark.postgres
def test_help_queued_last_goes_out_first_postgresql(
    postgres_url: str, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade_head(postgres_url)
    _help_queued_last(postgres_url, sink, monkeypatch)


def test_one_order_for_every_cause() -> None:
    """help > unwell > every other alert > other mail of an incident > the rest."""
    ranks = {cause: mail_priority("alert.family", "i", cause) for cause in CAUSES}
    assert ranks["help_requested"] == ranks["safety_needs_help"] < ranks["unwell"]
    others = {
        ranks[c] for c in CAUSES if c not in ("help_requested", "safety_needs_help", "unwell")
    }
    assert others == {mail_priority("alert.staff", "i", None)}
    assert ranks["unwell"] < min(others)
    assert (
        max(ranks.values())
        < mail_priority("answered_late", "i")
        < mail_priority("daily_report", None)
    )
