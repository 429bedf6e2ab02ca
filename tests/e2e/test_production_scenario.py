"""Scenario 3, production mode: PostgreSQL, two `mimamori-cloud serve` processes and two
`mimamori-cloud worker` processes on one database, simulated gateways split across both
APIs; one worker is killed with SIGKILL mid-run and the other carries on, nothing doubled.

Real time, so the municipality's escalation chains are configured through the admin API
with every step at 0 minutes (`after_min` is whole minutes, so seconds-long delays cannot be
expressed; zero-minute steps run the whole chain at once) and no reminders. Households are
seeded through the service layer with a slot whose deadline passed a quarter of an hour ago
(the admin API computes the next deadline from the real clock, which is always in the future).

Sequence: the slot's truth is reported through both APIs; both workers escalate the missed
slots; then help requests stream in through both APIs and one worker is SIGKILLed a third of
the way through, so the rest can only have been escalated by the survivor.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select

from cloud.core.config import Settings
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.migrations import upgrade_head
from cloud.models import EventRecord, Incident, Notification, OutboxMail
from cloud.services import contacts, tenancy
from mimamori_dev.scenario import (
    Admin,
    ExpectedStep,
    Recipients,
    SimGateway,
    enroll,
    family_email,
    seed_area,
    step_notifications,
)
from mimamori_dev.services import stop_process
from mimamori_wire import v1
from tests.helpers import wait_for_fresh_worker_passes

HOUSEHOLDS = 120
HELP_PRESSES = 30
ADMIN_TOKEN = "test-admin-token"  # CloudServer's default
CLI = str(Path(sys.executable).parent / "mimamori-cloud")
TOKYO = ZoneInfo("Asia/Tokyo")
ZERO_CHAINS = {
    "missed_checkin": ["reprompt", "family", "staff", "manager"],
    "gateway_offline": ["dashboard", "family", "staff", "manager"],
    "help_requested": ["family", "staff", "manager"],
}


def _wait_all_mail_settled(url: str, timeout: float) -> None:
    engine = make_engine(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with make_sessionmaker(engine)() as session:
                pending = session.scalar(
                    select(func.count())
                    .select_from(OutboxMail)
                    .where(OutboxMail.status == "pending")
                )
            if pending == 0:
                return
            time.sleep(0.5)
    finally:
        engine.dispose()


def _seed_households(url: str, office_id: str, deadline: datetime, hhmm: str) -> list[str]:
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            ids = []
            for i in range(HOUSEHOLDS):
                household = tenancy.create_household(
                    session,
                    office_id,
                    f"本番 花子{i}",
                    deadline - timedelta(seconds=1),
                    slots=[tenancy.SlotInput(hhmm)],
                )
                assert household.next_deadline == deadline
                contacts.add_contact(
                    session,
                    household.id,
                    contacts.ContactInput(name=f"家族{i}", email=family_email(i)),
                )
                ids.append(household.id)
            return ids
    finally:
        engine.dispose()


def _worker(url: str, smtp_port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "MIMAMORI_DATABASE_URL": url,
        "MIMAMORI_SECRET_KEY": "test-secret-key-not-for-production",
        "MIMAMORI_SMTP_HOST": "127.0.0.1",
        "MIMAMORI_SMTP_PORT": str(smtp_port),
    }
    out = open(log, "w")  # noqa: SIM115 (closed by the process exit; tmp file)
    return subprocess.Popen(
        [CLI, "worker", "--interval", "0.2"], env=env, stdout=out, stderr=subprocess.STDOUT
    )


@pytest.mark.postgres
@pytest.mark.parametrize(
    "kill_mid_send",
    [
        pytest.param(False, id="kill_between_sends"),
        pytest.param(True, marks=pytest.mark.slow, id="kill_mid_send"),
    ],
)
def test_two_apis_two_workers_one_killed(
    postgres_url, start_cloud, smtp_sink, tmp_path, kill_mid_send: bool
) -> None:
    """kill_mid_send=False kills the worker between two help requests once everything so far
    is delivered (~25 s); True kills it while mail is flowing, the worst case: the one mail it
    was sending waits out its short lease (mail_lease_s) before the survivor sends it (slow)."""
    rng = random.Random(7)
    upgrade_head(postgres_url)  # once, before two servers start against the same database
    apis = [start_cloud(database_url=postgres_url), start_cloud(database_url=postgres_url)]
    clients = [httpx.Client(base_url=api.base_url, timeout=30) for api in apis]
    admin = Admin(clients[0], ADMIN_TOKEN)
    area = seed_area(admin, "札幌市")
    chains = {
        cause: {"steps": [{"after_min": 0, "action": a} for a in actions], "repeat": None}
        for cause, actions in ZERO_CHAINS.items()
    }
    admin.call("PUT", f"/municipalities/{area.municipality_id}/escalation-chains", json=chains)

    slot_at = (datetime.now(UTC) - timedelta(minutes=50)).astimezone(TOKYO)
    slot_at = slot_at.replace(second=0, microsecond=0)
    deadline = slot_at + timedelta(minutes=35)
    hhmm = f"{slot_at.hour:02d}:{slot_at.minute:02d}"
    household_ids = _seed_households(postgres_url, area.office_id, deadline, hhmm)
    # Gateways alternate between the two API processes.
    gateways: list[SimGateway] = [
        enroll(clients[i % 2], Admin(clients[i % 2], ADMIN_TOKEN), hid, f"pi-{i}")
        for i, hid in enumerate(household_ids)
    ]

    # The simulated truth of the slot, reported before the workers start.
    expected: dict[tuple[str, str], int] = {}  # (household, cause) -> household index
    answered: list[int] = []
    slot = {"slot": hhmm, "slot_date": slot_at.date().isoformat()}
    for i, gw in enumerate(gateways):
        roll = rng.random()
        if roll < 0.15:  # gateway offline: no heartbeat, nothing reported
            expected[(gw.household_id, "gateway_offline")] = i
            continue
        gw.heartbeat()
        if roll < 0.55:
            payload = {**slot, "intent": "fine", "confidence": 0.9, "attempts": 1}
            gw.record(v1.EventKind.CHECKIN_ANSWERED, payload, slot_at + timedelta(minutes=3))
            answered.append(i)
        else:
            if roll < 0.8:
                gw.record(v1.EventKind.CHECKIN_NO_RESPONSE, {**slot, "attempts": 3}, slot_at)
            expected[(gw.household_id, "missed_checkin")] = i
        gw.upload(resend=rng.random() < 0.2)

    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers = [_worker(postgres_url, smtp_sink.port, log) for log in logs]
    pressing = rng.sample(answered, HELP_PRESSES)
    try:
        # First the missed slots of the morning, escalated by both workers.
        burst = _expected_log(expected, area.office_id)
        smtp_sink.wait_for(_mail_count(burst), timeout=120)
        # Mid-run: SIGKILL one worker while help requests keep arriving through both APIs.
        for n, i in enumerate(pressing):
            if n == HELP_PRESSES // 3:
                if not kill_mid_send:
                    so_far = _mail_count(_expected_log(expected, area.office_id))
                    smtp_sink.wait_for(so_far, timeout=60)
                workers[0].send_signal(signal.SIGKILL)
                workers[0].wait(timeout=10)
            gw = gateways[i]
            gw.record(v1.EventKind.HELP_REQUESTED, {"source": "button"}, datetime.now(UTC))
            gw.upload(resend=n % 4 == 0)
            expected[(gw.household_id, "help_requested")] = i
            time.sleep(0.1)
        assert workers[0].returncode == -signal.SIGKILL and workers[1].poll() is None

        want = _expected_log(expected, area.office_id)
        mails = _mail_count(want)
        # A mail the killed worker was sending waits out its lease: allow for it.
        smtp_sink.wait_for(mails, timeout=200)
        # A worker killed between sending a mail and recording it leaves that row pending
        # under its lease (the documented at-least-once window): the survivor re-sends it
        # once the lease runs out, with the same Message-ID. Wait for every row to settle.
        _wait_all_mail_settled(postgres_url, timeout=Settings().mail_lease_s + 60)
        # Let any (wrong) extra step or mail show itself: the survivor runs whole passes more.
        wait_for_fresh_worker_passes(postgres_url, workers=1)
    finally:
        for proc in workers:
            stop_process(proc)
        for client in clients:
            client.close()

    engine = make_engine(postgres_url)
    with make_sessionmaker(engine)() as session:
        incidents = list(session.scalars(select(Incident)))
        notes = list(session.scalars(select(Notification)))
        stored = Counter(session.scalars(select(EventRecord.id)))
        outbox = list(session.scalars(select(OutboxMail)))
    engine.dispose()

    # Every acknowledged event stored exactly once.
    acknowledged = set().union(*(gw.acknowledged for gw in gateways))
    assert set(stored) == acknowledged and set(stored.values()) == {1}
    # Exactly the expected incidents (none for answered slots), each step once per recipient.
    assert Counter((i.household_id, i.cause) for i in incidents) == Counter(expected.keys())
    by_incident = {i.id: (i.household_id, i.cause) for i in incidents}
    got: dict[tuple[str, str], set] = {}
    for note in notes:
        got.setdefault(by_incident[note.incident_id], set()).add(
            (note.step, note.recipient, note.channel)
        )
    assert len(notes) == sum(len(rows) for rows in got.values())
    assert got == want
    # Mail: one outbox row per e-mail notification, all sent; at the SMTP server every
    # (incident, step, recipient) arrived.
    assert len(outbox) == mails and {m.status for m in outbox} == {"sent"}
    messages = smtp_sink.messages
    delivered = Counter(
        (by_incident[m["X-Mimamori-Incident"]], int(m["X-Mimamori-Step"]), m["To"])
        for m in messages
    )
    want_mail = {
        (k, step, to) for k, rows in want.items() for step, to, ch in rows if ch == "email"
    }
    assert set(delivered) == want_mail
    # SMTP is at-least-once across a SIGKILL: the one mail a worker was sending when killed
    # may arrive twice, with the same Message-ID (sender.py records right after each send).
    repeats = Counter(m["Message-ID"] for m in messages)
    assert sum(n - 1 for n in repeats.values()) <= 1
    assert len(repeats) == mails


def _mail_count(want: dict[tuple[str, str], set]) -> int:
    return sum(1 for rows in want.values() for _, _, channel in rows if channel == "email")


def _expected_log(
    expected: dict[tuple[str, str], int], office_id: str
) -> dict[tuple[str, str], set]:
    want: dict[tuple[str, str], set] = {}
    now = datetime.now(UTC)
    for (household_id, cause), index in expected.items():
        to = Recipients((family_email(index),), office_id)
        rows = set()
        for step_index, action in enumerate(ZERO_CHAINS[cause]):
            step = ExpectedStep(step_index, action, now)
            rows |= {(step_index, r, c) for r, c in step_notifications(step, to)}
        want[(household_id, cause)] = rows
    return want
