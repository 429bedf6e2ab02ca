"""Is anybody watching? Worker loops record completed passes; readiness and the desk ask.

Every worker process writes one row per loop (detect, escalate, mail) after each completed
pass, stamped by the injected clock. The watch is "stopped" when, over all workers, some loop
has no pass newer than settings.watch_stale_s: nobody is detecting missed check-ins, running
escalation steps or sending mail, and the operator must hear of it (GET /readyz, the desk
banner, /metrics, the dead-man's switch in cloud/services/deadman.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from cloud.models.workers import WATCH_LOOPS, WorkerPass

# Rows of workers silent this long are dropped when a worker starts (restarts make new ids).
FORGET_AFTER = timedelta(days=7)


def record_pass(session: Session, worker_id: str, loop: str, now: datetime) -> None:
    """Upsert (worker_id, loop): only this worker's loop thread ever writes its row."""
    updated = session.execute(
        update(WorkerPass)
        .where(WorkerPass.worker_id == worker_id, WorkerPass.loop == loop)
        .values(last_pass_at=now, passes=WorkerPass.passes + 1)
        .execution_options(synchronize_session=False)
    )
    if updated.rowcount == 0:
        session.execute(
            insert(WorkerPass).values(
                worker_id=worker_id, loop=loop, last_pass_at=now, passes=1, created_at=now
            )
        )


def forget_silent_workers(session: Session, now: datetime) -> int:
    result = session.execute(
        delete(WorkerPass)
        .where(WorkerPass.last_pass_at < now - FORGET_AFTER)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


@dataclass
class WatchStatus:
    now: datetime
    stale_after: timedelta
    last_pass: dict[str, datetime | None] = field(default_factory=dict)

    @property
    def stalled_loops(self) -> list[str]:
        return [
            loop
            for loop in WATCH_LOOPS
            if (at := self.last_pass.get(loop)) is None or self.now - at > self.stale_after
        ]

    @property
    def ready(self) -> bool:
        return not self.stalled_loops

    def reasons(self) -> list[str]:
        out = []
        for loop in self.stalled_loops:
            at = self.last_pass.get(loop)
            if at is None:
                out.append(f"{loop}: no worker has completed a pass")
            else:
                age = int((self.now - at).total_seconds())
                out.append(
                    f"{loop}: last pass {age} s ago "
                    f"(more than {int(self.stale_after.total_seconds())} s)"
                )
        return out

    def as_json(self) -> dict:
        return {
            "status": "ready" if self.ready else "not_ready",
            "reasons": self.reasons(),
            "stale_after_s": self.stale_after.total_seconds(),
            "loops": {
                loop: {
                    "last_pass_at": at.isoformat() if (at := self.last_pass.get(loop)) else None,
                    "age_s": round((self.now - at).total_seconds(), 1) if at else None,
                }
                for loop in WATCH_LOOPS
            },
        }


def watch_status(session: Session, now: datetime, stale_after: timedelta) -> WatchStatus:
    """The newest completed pass of each loop over all workers (one small grouped query)."""
    rows = session.execute(
        select(WorkerPass.loop, func.max(WorkerPass.last_pass_at)).group_by(WorkerPass.loop)
    )
    last = {loop: None for loop in WATCH_LOOPS}
    for loop, at in rows:
        if loop in last:
            last[loop] = _utc(at)
    return WatchStatus(now, stale_after, last)


def _utc(value: datetime | str | None) -> datetime | None:
    # max() over a SQLite text column comes back as text, past the UTCDateTime type.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
