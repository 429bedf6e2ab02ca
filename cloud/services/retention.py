"""Retention: heartbeat history is pruned after a configurable span.

The latest heartbeat of each gateway lives on the gateway row (last_heartbeat_at,
last_heartbeat); the `heartbeats` table is only history, one row per heartbeat per gateway
(1,440 a day each), so it must not grow forever.

Rows are deleted oldest first in primary-key order, in small batches of one short
transaction each, so the pass never holds the write lock for long (SQLite has one writer)
and needs no extra index: ids are handed out in arrival order, so the old rows are the ones
at the head of the key. A pass stops at the first batch that reaches a row still kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.core import metrics
from cloud.db import transaction
from cloud.models import HeartbeatRecord

PRUNE_BATCH = 1000
# Bounds one pass; the rest waits for the next pass (a backlog after an upgrade drains over
# a few passes instead of one long burst of writes).
MAX_BATCHES_PER_PASS = 50


def prune_heartbeats(
    sessions: sessionmaker[Session],
    cutoff: datetime,
    *,
    batch: int = PRUNE_BATCH,
    max_batches: int = MAX_BATCHES_PER_PASS,
) -> int:
    """Delete heartbeat rows received before `cutoff`; returns how many."""
    pruned = 0
    for _ in range(max_batches):
        with transaction(sessions) as session:
            head = session.execute(
                select(HeartbeatRecord.id, HeartbeatRecord.received_at)
                .order_by(HeartbeatRecord.id)
                .limit(batch)
            ).all()
            old = [row.id for row in head if row.received_at < cutoff]
            if old:
                session.execute(delete(HeartbeatRecord).where(HeartbeatRecord.id.in_(old)))
        pruned += len(old)
        if len(old) < batch:
            break
    metrics.HEARTBEATS_PRUNED.inc(pruned)
    return pruned


@dataclass
class HeartbeatPruner:
    """Runs prune_heartbeats at most once per `every` (by the injected clock)."""

    keep: timedelta
    every: timedelta
    last_run: datetime | None = None

    def run(self, sessions: sessionmaker[Session], now: datetime) -> int:
        if self.last_run is not None and now - self.last_run < self.every:
            return 0
        self.last_run = now
        return prune_heartbeats(sessions, now - self.keep)
