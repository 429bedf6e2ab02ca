"""What the outbox hands out: pending rows, its counters, write errors, and I/O accounting."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


class OutboxWriteError(Exception):
    """The commit failed (disk full, I/O error): the events were NOT stored."""


@dataclass(frozen=True)
class PendingEvent:
    seq: int
    id: str
    kind: str
    body: str  # the event's wire JSON


@dataclass
class OutboxStats:
    depth: int = 0
    capacity: int = 0
    alarm: bool = False
    committed: int = 0
    deleted: int = 0
    evicted: int = 0
    rejected: int = 0
    quarantined: int = 0  # events in the quarantine on disk (all time, not this process)
    write_errors: int = 0
    last_write_error: str | None = None
    bytes_written: int = 0
    commits: int = 0

    @property
    def bytes_per_event(self) -> float | None:
        return self.bytes_written / self.committed if self.committed else None

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["bytes_per_event"] = self.bytes_per_event
        return out


def this_thread_io() -> Path:
    # Per-thread counters isolate the outbox writer's own I/O from the rest of the process.
    thread_io = Path("/proc/thread-self/io")
    return thread_io if thread_io.exists() else Path("/proc/self/io")


def read_write_bytes(path: Path | None = None) -> int:
    """`write_bytes` from /proc/.../io: bytes this thread/process caused to hit storage."""
    try:
        for line in (path or Path("/proc/self/io")).read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
