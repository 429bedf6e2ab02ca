"""The SQLite outbox: ack after commit, order, group commit, bounds, full disk."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from gateway.outbox import Outbox, OutboxWriteError, read_write_bytes
from mimamori_wire.v1 import (
    Activity,
    AnswerSource,
    CheckinAnswered,
    Event,
    EventKind,
    HelpRequested,
    Intent,
)


def make(kind: EventKind, n: int = 0) -> Event:
    payload = {
        EventKind.ACTIVITY: Activity(sensor=f"s{n}", kind="motion"),
        EventKind.HELP_REQUESTED: HelpRequested(source=AnswerSource.BUTTON),
        EventKind.CHECKIN_ANSWERED: CheckinAnswered(
            slot="morning", intent=Intent.FINE, confidence=1.0, attempts=1
        ),
    }[kind]
    return Event.create(household_id="h1", gateway_id="g1", kind=kind, payload=payload)


@pytest.fixture
def outbox(tmp_path: Path):
    box = Outbox(tmp_path / "outbox.sqlite3", capacity=1000)
    box.open()
    yield box
    box.close()


def test_put_is_committed_before_ack(outbox: Outbox, tmp_path: Path) -> None:
    event = make(EventKind.ACTIVITY)
    asyncio.run(outbox.put(event))
    # A second, independent connection sees the row: it was committed, not just queued.
    conn = sqlite3.connect(tmp_path / "outbox.sqlite3")
    (body,) = conn.execute("SELECT body FROM outbox WHERE id = ?", (event.id,)).fetchone()
    conn.close()
    assert Event.model_validate(json.loads(body)) == event
    assert outbox.depth() == 1


def test_help_first_then_insertion_order(outbox: Outbox) -> None:
    first = [make(EventKind.ACTIVITY, i) for i in range(5)]
    help_event = make(EventKind.HELP_REQUESTED)
    outbox.put_sync([*first, help_event])
    order = [p.id for p in outbox.peek(10)]
    assert order == [help_event.id] + [e.id for e in first]


def test_group_commit_batches_concurrent_producers(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", capacity=10_000)
    outbox.open()
    events = [make(EventKind.ACTIVITY, i) for i in range(2000)]

    async def produce() -> None:
        await asyncio.gather(*(outbox.put(e) for e in events))

    asyncio.run(produce())
    assert outbox.stats.committed == 2000
    assert outbox.stats.commits < 2000  # many producers shared a commit
    assert [p.id for p in outbox.peek(2000)] == [e.id for e in events]
    outbox.close()


def test_delete_only_named_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = Outbox(path)
    box.open()
    events = [make(EventKind.ACTIVITY, i) for i in range(10)]
    box.put_sync(events)
    box.delete_async(box.peek(4)).result()
    box.close()
    again = Outbox(path)
    again.open()
    assert again.depth() == 6
    assert [p.id for p in again.peek(100)] == [e.id for e in events[4:]]
    again.close()


def test_bounded_evicts_only_low_priority_and_raises_alarm(tmp_path: Path) -> None:
    alarms: list[tuple[bool, int, int]] = []
    box = Outbox(tmp_path / "o.sqlite3", capacity=20, on_alarm=lambda *a: alarms.append(a))
    box.open()
    checkins = [make(EventKind.CHECKIN_ANSWERED) for _ in range(15)]
    box.put_sync(checkins)
    box.put_sync([make(EventKind.ACTIVITY, i) for i in range(30)])
    box.put_sync([make(EventKind.CHECKIN_ANSWERED) for _ in range(10)])
    kept = {p.id for p in box.peek(1000)}
    assert {e.id for e in checkins} <= kept  # never evicted
    assert box.depth() == 25  # over capacity: only check-ins are left, none dropped
    assert box.stats.evicted == 30
    assert alarms and alarms[0][0] is True
    assert box.stats.alarm
    box.close()


def test_full_disk_fails_the_put_and_is_counted(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", max_db_bytes=64 * 1024)
    box.open()
    failed = 0
    for i in range(200):
        try:
            box.put_sync([make(EventKind.ACTIVITY, n) for n in range(i * 20, i * 20 + 20)])
        except OutboxWriteError:
            failed += 1
            break
    assert failed == 1
    assert box.stats.write_errors == 1
    assert "full" in (box.stats.last_write_error or "")
    # Freeing space (the uplink deleting sent rows) makes the outbox usable again.
    box.delete_async(box.peek(10_000)).result()
    box.put_sync([make(EventKind.HELP_REQUESTED)])
    assert box.depth() == 1
    box.close()


def test_bytes_written_are_counted(outbox: Outbox) -> None:
    if read_write_bytes() == 0 and read_write_bytes() == 0:
        pytest.skip("/proc/self/io write_bytes is not available on this kernel")
    outbox.put_sync([make(EventKind.ACTIVITY, i) for i in range(200)])
    assert outbox.stats.bytes_written > 0
    assert outbox.stats.bytes_per_event is not None and outbox.stats.bytes_per_event > 0
