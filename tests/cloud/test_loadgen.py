"""The load generator of bench/morning.py (mimamori_dev/loadgen.py): its figures come from the
cloud's real responses, and its plan follows the behaviour shares it was given."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from cloud.models import Checkin, EventRecord, Gateway, Incident
from mimamori_dev.loadgen import Home, LoadGenerator, Mix, Rates, percentile, plan


@given(
    count=st.integers(min_value=0, max_value=3000),
    silent=st.floats(0, 0.2),
    offline=st.floats(0, 0.2),
    unwell=st.floats(0, 0.2),
)
@settings(max_examples=50, deadline=None)
def test_behaviours_follow_the_shares_exactly(
    count: int, silent: float, offline: float, unwell: float
) -> None:
    mix = Mix(silent=silent, offline=offline, unwell=unwell, help=0.01, reask=0.1)
    got = Counter(mix.behaviours(count))
    assert sum(got.values()) == count
    assert got["silent"] == round(silent * count)
    assert got["offline"] == round(offline * count)
    assert got["unwell"] == round(unwell * count)


def test_offline_homes_send_nothing_and_answers_come_before_the_deadline() -> None:
    homes = [
        Home(i, f"h{i}", f"g{i}", "t", "morning", "2026-11-30", 100.0, 110.0, behaviour)
        for i, behaviour in enumerate(("fine", "reask", "unwell", "help", "silent", "offline"))
    ]
    actions = plan(homes, start=0.0, rates=Rates(heartbeat_s=60))
    assert not [a for a in actions if a[2] == 5]  # offline: no request at all
    slot = [a for a in actions if a[3] in ("checkin", "no_response", "help")]
    assert {a[2] for a in slot} == {0, 1, 2, 3, 4}
    assert all(100.0 <= at < 110.0 for at, *_ in slot)


def test_percentile_of_nothing_is_zero_and_of_one_value_is_that_value() -> None:
    assert percentile([], 99) == 0.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([float(n) for n in range(1, 101)], 50) == 50.5


def test_a_short_run_counts_what_the_cloud_answered(live_cloud) -> None:  # type: ignore[no-untyped-def]
    live_cloud.travel(datetime.now(UTC))  # the generator stamps events with the wall clock
    behaviours = ["fine", "unwell", "silent"]
    gateways = [live_cloud.enroll(live_cloud.household(slots=["09:00"])["id"]) for _ in behaviours]
    start = time.time() + 0.3
    homes = [
        Home(
            i,
            g.household_id,
            g.gateway_id,
            g.token,
            "morning",
            "2026-11-30",
            start + 0.2,
            start + 1.5,
            b,
        )
        for i, (g, b) in enumerate(zip(gateways, behaviours, strict=True))
    ]
    # A home with a token the cloud never issued: every request it makes must fail as a 401.
    homes.append(
        Home(
            3,
            gateways[0].household_id,
            gateways[0].gateway_id,
            "not-a-token",
            "morning",
            "2026-11-30",
            start + 0.2,
            start + 1.5,
            "fine",
        )
    )
    rates = Rates(heartbeat_s=0.4, summary_s=1.0, sensor_s=0.6)
    stats = LoadGenerator(live_cloud.base_url, homes, rates, concurrency=4, drain_s=10).run(
        start, start + 2.0
    )
    assert set(stats.errors) == {"http_401"} and stats.errors["http_401"] >= 4
    assert (
        stats.requests
        == sum(len(v) for v in stats.latencies_ms.values()) + stats.errors["http_401"]
    )
    with live_cloud.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(EventRecord))
        answered = session.scalars(select(Checkin.status)).all()
        causes = session.scalars(select(Incident.cause)).all()
        beats = session.scalars(select(Gateway.last_heartbeat_at)).all()
    # Every event the generator counts as acknowledged is a row the cloud stored.
    assert stats.events_acknowledged == stored > 0
    assert sorted(answered) == ["answered", "answered", "no_response"]
    assert "unwell" in causes
    assert all(beat is not None for beat in beats)
    assert len(stats.latencies_ms["heartbeat"]) >= 6
    assert all(ms > 0 for ms in stats.latencies_ms["heartbeat"])
