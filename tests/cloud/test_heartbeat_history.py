"""Heartbeat history (issue 18): the first heartbeat of each quarter hour and every one that
says something new are kept; the repeats in between are not (the gateway row has the latest)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cloud.models import HeartbeatRecord
from cloud.services.gateways import HEARTBEAT_HISTORY_EVERY, history_phase_s, keep_in_history

T0 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
bodies = st.fixed_dictionaries(
    {
        "software_version": st.sampled_from(["1.0", "1.1"]),
        "uptime_s": st.integers(0, 10**6),
        "outbox_depth": st.integers(0, 3),
        "devices": st.sampled_from([[], [{"device": "pir", "battery_pct": 80}]]),
    }
)


def _quarter(at: datetime, phase_s: float = 0.0) -> int:
    return int((at.timestamp() - phase_s) // HEARTBEAT_HISTORY_EVERY.total_seconds())


def _same(a: dict, b: dict) -> bool:
    return {**a, "uptime_s": 0} == {**b, "uptime_s": 0}


@given(
    st.lists(st.tuples(st.integers(1, 1200), bodies), min_size=1, max_size=60),
    st.integers(0, 899),
)
@settings(max_examples=200, deadline=None)
def test_history_keeps_every_change_and_every_quarter_hour(
    beats: list[tuple[int, dict]], phase: int
) -> None:
    at, previous, previous_at = T0, None, None
    kept: list[tuple[datetime, dict]] = []
    seen: list[tuple[datetime, dict]] = []
    for gap_s, body in beats:
        at += timedelta(seconds=gap_s)
        if keep_in_history(previous, previous_at, body, at, phase):
            kept.append((at, body))
        seen.append((at, body))
        previous, previous_at = body, at
    # Every quarter hour with a heartbeat has a row, and the first heartbeat is kept.
    assert {_quarter(t, phase) for t, _ in seen} == {_quarter(t, phase) for t, _ in kept}
    assert kept[0] == seen[0]
    # A heartbeat that differs from the one before it (uptime aside) is always kept.
    for (_, before), now in itertools.pairwise(seen):
        if not _same(before, now[1]):
            assert now in kept
    # Nothing else: each kept row opens its quarter or says something new.
    for n, (t, body) in enumerate(seen[1:], start=1):
        if (t, body) in kept:
            prev_t, prev_body = seen[n - 1]
            assert _quarter(prev_t, phase) != _quarter(t, phase) or not _same(prev_body, body)


def test_repeated_heartbeats_over_http_keep_one_row_a_quarter_hour(live_cloud) -> None:  # type: ignore[no-untyped-def]
    gateway = live_cloud.enroll(live_cloud.household()["id"])
    start = live_cloud.clock()
    for minute in range(20):  # 20 heartbeats a minute apart, nothing changes
        live_cloud.travel(start + timedelta(minutes=minute))
        gateway.heartbeat([{"device": "pir", "battery_pct": 80}])
    live_cloud.travel(start + timedelta(minutes=20, seconds=30))
    gateway.heartbeat([{"device": "pir", "battery_pct": 7}])  # the battery ran low: kept
    with live_cloud.sessions() as session:
        rows = session.scalars(select(HeartbeatRecord).order_by(HeartbeatRecord.id)).all()
    phase = history_phase_s(gateway.gateway_id)
    quarters = {_quarter(start + timedelta(minutes=m), phase) for m in range(20)}
    assert len(rows) == len(quarters) + 1
    assert rows[-1].body["devices"][0]["battery_pct"] == 7
