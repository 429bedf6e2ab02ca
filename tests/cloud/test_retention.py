"""Heartbeat history is pruned by the worker: old rows go in small batches, at most once per
interval; the gateway row keeps the latest heartbeat. Real SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from cloud.db import transaction
from cloud.models import Gateway, HeartbeatRecord
from cloud.services.retention import HeartbeatPruner, prune_heartbeats

NOW = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)


def _received(cloud) -> list[datetime]:  # type: ignore[no-untyped-def]
    with cloud.sessions() as session:
        return list(
            session.scalars(select(HeartbeatRecord.received_at).order_by(HeartbeatRecord.id))
        )


def _add_rows(cloud, gateway_id: str, ages_days: list[float]) -> None:  # type: ignore[no-untyped-def]
    with transaction(cloud.sessions) as session:
        for age in ages_days:
            session.add(
                HeartbeatRecord(
                    gateway_id=gateway_id,
                    received_at=NOW - timedelta(days=age),
                    body={"software_version": "test"},
                )
            )


def test_worker_prunes_old_heartbeats_and_keeps_the_latest_state(live_cloud_factory) -> None:
    cloud = live_cloud_factory(heartbeat_retention_days=30, heartbeat_prune_every_s=600)
    hh = cloud.household()
    gw = cloud.enroll(hh["id"])
    for age in (45, 31, 29, 1):  # real heartbeats over HTTP, travelling forward in time
        cloud.travel(NOW - timedelta(days=age))
        gw.heartbeat()
    cloud.travel(NOW)
    assert cloud.run_worker().heartbeats_pruned == 2
    assert _received(cloud) == [NOW - timedelta(days=29), NOW - timedelta(days=1)]
    with cloud.sessions() as session:
        gateway = session.get_one(Gateway, gw.gateway_id)
        assert gateway.last_heartbeat_at == NOW - timedelta(days=1)
        assert gateway.last_heartbeat and gateway.last_heartbeat["software_version"] == "test"

    # At most once per interval: an old row arriving meanwhile waits for the next slot.
    _add_rows(cloud, gw.gateway_id, [40])
    cloud.travel(NOW + timedelta(minutes=5))
    assert cloud.run_worker().heartbeats_pruned == 0
    cloud.travel(NOW + timedelta(minutes=10))
    assert cloud.run_worker().heartbeats_pruned == 1
    # Time alone ages rows out: a day later the 29-day-old row is past the 30 days.
    cloud.travel(NOW + timedelta(days=1, minutes=30))
    assert cloud.run_worker().heartbeats_pruned == 1
    assert _received(cloud) == [NOW - timedelta(days=1)]


def test_prune_goes_in_small_batches_and_stops_at_kept_rows(live_cloud) -> None:
    hh = live_cloud.household()
    gw = live_cloud.enroll(hh["id"])
    _add_rows(live_cloud, gw.gateway_id, [60 - i for i in range(10)] + [2, 1])
    cutoff = NOW - timedelta(days=30)
    # A capped pass deletes only its batches; the next one continues where it stopped.
    assert prune_heartbeats(live_cloud.sessions, cutoff, batch=3, max_batches=2) == 6
    assert prune_heartbeats(live_cloud.sessions, cutoff, batch=3, max_batches=50) == 4
    assert prune_heartbeats(live_cloud.sessions, cutoff, batch=3) == 0
    assert len(_received(live_cloud)) == 2
    with live_cloud.sessions() as session:
        assert session.scalar(select(func.count()).select_from(HeartbeatRecord)) == 2


def test_pruner_throttle_follows_the_injected_clock(live_cloud) -> None:
    pruner = HeartbeatPruner(keep=timedelta(days=30), every=timedelta(minutes=15))
    hh = live_cloud.household()
    gw = live_cloud.enroll(hh["id"])
    _add_rows(live_cloud, gw.gateway_id, [40])
    assert pruner.run(live_cloud.sessions, NOW) == 1
    _add_rows(live_cloud, gw.gateway_id, [40])
    assert pruner.run(live_cloud.sessions, NOW + timedelta(minutes=14)) == 0
    assert pruner.run(live_cloud.sessions, NOW + timedelta(minutes=15)) == 1
