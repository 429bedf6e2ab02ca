"""Structured logs on the cloud's escalation path (issue 16): a real missed check-in through
the worker leaves one JSON line per detection, escalation step, mail lease and mail outcome,
each with the ids that tie it to its household, incident and mail, so a family alert that
fails for good is found from the log alone.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cloud.core.logging import JsonFormatter
from cloud.db import transaction
from cloud.models import OutboxMail
from mimamori_dev.smtp_faults import FaultySmtpSink
from tests.cloud.test_e2e_escalation import JST_0835, _heard_from_before_the_deadline

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
GREYLISTED = "family0@example.jp"  # refused for now: retried, then sent
REFUSED = "family1@example.jp"  # refused for good


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("postgres_url") if request.param == "postgres" else None


@pytest.fixture
def faulty_sink() -> Iterator[FaultySmtpSink]:
    sink = FaultySmtpSink(refuse={REFUSED}, defer={GREYLISTED}).start()
    yield sink
    sink.stop()


@pytest.fixture
def json_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The cloud's log as the worker writes it (cloud.core.logging's formatter), parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("mimamori")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(level)


def _events(lines: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["event"] == name]


def test_a_missed_checkin_is_traceable_from_detection_to_each_mail_outcome(
    live_cloud_factory, faulty_sink, database_url, json_lines
) -> None:
    cloud = live_cloud_factory(database_url=database_url, smtp_port=faulty_sink.port)
    hh = _heard_from_before_the_deadline(cloud, contacts=2)

    # The deadline passes: detection opens the incident, step 0 re-prompts the gateway.
    cloud.travel(JST_0835 + timedelta(seconds=1))
    cloud.run_worker()
    [incident] = cloud.admin_ok("GET", "/incidents", params={"household_id": hh["id"]})
    [opened] = _events(json_lines(), "detection.opened")
    assert (opened["household_id"], opened["incident_id"]) == (hh["id"], incident["id"])
    assert opened["cause"] == "missed_checkin" and opened["slot"] == "morning"
    assert datetime.fromisoformat(opened["deadline"]) == JST_0835
    [reprompt] = _events(json_lines(), "escalation.step")
    assert reprompt["incident_id"] == incident["id"] and reprompt["household_id"] == hh["id"]
    assert (reprompt["step"], reprompt["action"]) == (0, "reprompt")

    # Step 1: the family's mails. One is greylisted (451), one refused for good (550).
    cloud.travel(JST_0835 + timedelta(minutes=5, seconds=1))
    cloud.run_worker()
    steps = _events(json_lines(), "escalation.step")
    assert [(s["step"], s["action"], s["incident_id"]) for s in steps] == [
        (0, "reprompt", incident["id"]),
        (1, "family", incident["id"]),
    ]
    with cloud.sessions() as session:
        mails = {
            m.to_addr: m.id
            for m in session.scalars(
                select(OutboxMail).where(OutboxMail.incident_id == incident["id"])
            )
        }
    assert set(mails) == {GREYLISTED, REFUSED}
    leased = _events(json_lines(), "mail.leased")
    assert {(m["mail_id"], m["incident_id"], m["attempt"]) for m in leased} == {
        (mails[GREYLISTED], incident["id"], 1),
        (mails[REFUSED], incident["id"], 1),
    }
    [retry] = _events(json_lines(), "mail.retry")
    assert (retry["mail_id"], retry["incident_id"], retry["attempts"]) == (
        mails[GREYLISTED],
        incident["id"],
        1,
    )
    [failed] = _events(json_lines(), "mail.failed")
    assert (failed["mail_id"], failed["incident_id"], failed["household_id"]) == (
        mails[REFUSED],
        incident["id"],
        hh["id"],
    )
    assert failed["level"] == "error" and failed["reason"] == "smtp_5xx"
    assert "550" in failed["error"]

    # The greylisting ends; after its backoff the mail goes out on its second attempt.
    faulty_sink.defer.clear()
    cloud.travel(JST_0835 + timedelta(minutes=6))
    cloud.run_worker()
    faulty_sink.wait_for(1, timeout=10)
    second = [m for m in _events(json_lines(), "mail.leased") if m["attempt"] == 2]
    assert [(m["mail_id"], m["incident_id"]) for m in second] == [
        (mails[GREYLISTED], incident["id"])
    ]
    [sent] = _events(json_lines(), "mail.sent")
    assert (sent["mail_id"], sent["incident_id"], sent["attempts"]) == (
        mails[GREYLISTED],
        incident["id"],
        2,
    )
    # Every line is one JSON object with its event and level: nothing logged half.
    assert all({"ts", "level", "logger", "event"} <= line.keys() for line in json_lines())


def test_a_miss_while_its_incident_is_open_is_logged_without_a_second_incident(
    live_cloud_factory, json_lines
) -> None:
    cloud = live_cloud_factory()
    hh = cloud.household(slots=["08:00", "12:00"], contacts=0)
    cloud.enroll(hh["id"])  # enrolled, never heard from again: the gateway is offline
    cloud.travel(JST_0835 + timedelta(seconds=1))
    cloud.run_worker()
    cloud.travel(JST_0835 + timedelta(hours=5))  # the noon slot's deadline passes too
    cloud.run_worker()
    [incident] = cloud.admin_ok("GET", "/incidents", params={"household_id": hh["id"]})
    [opened] = _events(json_lines(), "detection.opened")
    [again] = _events(json_lines(), "detection.already_open")
    assert opened["incident_id"] == incident["id"] and opened["cause"] == "gateway_offline"
    assert again["household_id"] == hh["id"] and again["incident_id"] is None
    assert again["cause"] == "gateway_offline" and again["slot"] != opened["slot"]


def test_a_dead_workers_lease_runs_out_and_the_take_over_is_logged(
    live_cloud_factory, smtp_sink, json_lines
) -> None:
    cloud = live_cloud_factory(smtp_port=smtp_sink.port)
    hh = _heard_from_before_the_deadline(cloud, contacts=1)
    cloud.travel(JST_0835 + timedelta(minutes=5, seconds=1))
    cloud.worker.detect()
    cloud.worker.escalate()  # step 0 and the family step at once: one mail queued
    [incident] = cloud.admin_ok("GET", "/incidents", params={"household_id": hh["id"]})
    lease = timedelta(seconds=cloud.settings.mail_lease_s)
    with transaction(cloud.sessions) as session:  # a worker leased it, then died
        [mail] = session.scalars(select(OutboxMail).where(OutboxMail.incident_id == incident["id"]))
        mail.lease_owner, mail.next_attempt_at = "vm:1:dead", cloud.clock() + lease
        mail_id = mail.id

    cloud.worker.send_mail()
    assert _events(json_lines(), "mail.leased") == []  # the lease still holds
    cloud.travel(cloud.clock() + lease + timedelta(seconds=1))
    cloud.worker.send_mail()
    smtp_sink.wait_for(1, timeout=10)
    [taken] = _events(json_lines(), "mail.lease_taken_over")
    assert (taken["mail_id"], taken["incident_id"], taken["previous_owner"]) == (
        mail_id,
        incident["id"],
        "vm:1:dead",
    )
    [leased] = _events(json_lines(), "mail.leased")
    assert (leased["mail_id"], leased["attempt"]) == (mail_id, 1)
    [sent] = _events(json_lines(), "mail.sent")
    assert sent["mail_id"] == mail_id and sent["household_id"] == hh["id"]
