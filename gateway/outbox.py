"""The durable event outbox (ARCHITECTURE.md section 5).

SQLite in WAL mode with synchronous=FULL: a producer's `put` returns only after the commit
that holds its event is on disk. One writer thread does every write (inserts, deletes after
the cloud's 200, evictions) and batches whatever is queued into one transaction, so many
producers share one fsync (group commit). Rows leave only after the cloud has them.

Order of upload: priority (help first), then insertion order. Bounded: above `capacity`
the oldest low-priority rows (sensor summaries, device status) are evicted and an alarm is
raised; check-in results, help and other priority rows are never evicted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.outbox_types import (
    OutboxStats,
    OutboxWriteError,
    PendingEvent,
    read_write_bytes,
    this_thread_io,
)
from mimamori_wire.v1 import DEFAULT_PRIORITY, Event, EventKind, priority_of

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_order ON outbox (priority, seq);
-- The quarantine: events the cloud keeps refusing, kept for inspection, never re-sent alone.
CREATE TABLE IF NOT EXISTS rejected (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    error TEXT NOT NULL,
    rejected_at REAL NOT NULL
);
"""
# Why this shape (each measured in docs/decisions.md): no AUTOINCREMENT (it rewrites
# sqlite_sequence on every commit), no index on id (ids are made unique on the gateway; rows
# are deleted by seq), 1 KiB pages (a small commit dirties fewer bytes): ~1.1 KB written per
# event under load instead of ~3 KB.
PAGE_SIZE = 1024
_MAX_GROUP = 5000  # operations per transaction
ALARM_HIGH = 0.8  # alarm raised at 80 % of capacity ...
ALARM_LOW = 0.5  # ... and cleared below 50 %


@dataclass
class _Op:
    kind: str  # "insert" | "delete" | "reject"
    rows: list[tuple[Any, ...]]
    future: concurrent.futures.Future[None] | None = None  # for threads (put_sync)
    afuture: asyncio.Future[None] | None = None  # for coroutines, settled on their loop
    loop: asyncio.AbstractEventLoop | None = None


def _settle(futures: list[asyncio.Future[None]], error: str | None) -> None:
    for fut in futures:
        if fut.done():  # the producer was cancelled meanwhile
            continue
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(OutboxWriteError(error))


# Kinds the wire contract leaves at the default priority but that must never be evicted:
# the alarm itself, command acknowledgements (else the cloud re-sends forever), starts
# (missed-slot reports) and clock reports. They upload after check-ins, before summaries.
PROTECTED_PRIORITY = 3
_PROTECTED = frozenset(
    {
        EventKind.OUTBOX_ALARM,
        EventKind.COMMAND_DONE,
        EventKind.GATEWAY_STARTED,
        EventKind.GATEWAY_CLOCK_SKEW,
        EventKind.ANNOUNCEMENT_PLAYED,
        EventKind.ANNOUNCEMENT_HEARD,
    }
)


def outbox_priority(kind: EventKind) -> int:
    return PROTECTED_PRIORITY if kind in _PROTECTED else priority_of(kind)


def encode_event(event: Event) -> tuple[str, str, int, str]:
    body = event.model_dump_json(by_alias=True)  # pydantic-core: compact, no dict round trip
    return event.id, event.kind.value, outbox_priority(event.kind), body


def _count_quarantined(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM rejected").fetchone()[0])


class Outbox:
    def __init__(
        self,
        path: Path,
        capacity: int = 100_000,
        on_alarm: Callable[[bool, int, int], None] | None = None,
        on_commit: Callable[[], None] | None = None,
        max_db_bytes: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.max_db_bytes = max_db_bytes  # a hard size cap; hitting it acts like a full disk
        self.stats = OutboxStats(capacity=capacity)
        self._on_alarm = on_alarm
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()

    # --- lifecycle ---------------------------------------------------------------------

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = self._connect(check_same_thread=False)  # handed to the writer thread
        writer.executescript(_SCHEMA)
        if self.max_db_bytes:
            page = writer.execute("PRAGMA page_size").fetchone()[0]
            writer.execute(f"PRAGMA max_page_count = {max(2, self.max_db_bytes // page)}")
        self.stats.depth = writer.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        self.stats.quarantined = _count_quarantined(writer)
        self.stats.alarm = self.stats.depth >= ALARM_HIGH * self.stats.capacity
        self._reader = self._connect(check_same_thread=False)
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._writer_loop, args=(writer, started), name="outbox-writer", daemon=True
        )
        self._thread.start()
        started.wait()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _connect(self, check_same_thread: bool = True) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=check_same_thread, timeout=30
        )
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # only takes effect on a new file
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # durable across a power cut, not just a crash
        return conn

    # --- producers ----------------------------------------------------------------------

    def submit(self, events: Iterable[Event]) -> concurrent.futures.Future[None]:
        """Queue events for the next group commit; the future resolves after the commit."""
        op = _Op("insert", [encode_event(e) for e in events], concurrent.futures.Future())
        self._queue.put(op)
        assert op.future is not None
        return op.future

    async def _queue_and_wait(self, kind: str, rows: list[tuple[Any, ...]]) -> None:
        loop = asyncio.get_running_loop()
        op = _Op(kind, rows, afuture=loop.create_future(), loop=loop)
        self._queue.put(op)
        assert op.afuture is not None
        await op.afuture

    async def put(self, event: Event) -> None:
        """Store one event durably; returns only after its commit (the producer's ack)."""
        await self._queue_and_wait("insert", [encode_event(event)])

    async def put_many(self, events: list[Event]) -> None:
        await self._queue_and_wait("insert", [encode_event(e) for e in events])

    def put_sync(self, events: list[Event], timeout: float | None = None) -> None:
        self.submit(events).result(timeout)

    # --- the uplink -----------------------------------------------------------------------

    def peek(self, limit: int, skip: Collection[str] = ()) -> list[PendingEvent]:
        """The next events to upload: help first, then in the order they were stored;
        `skip` names events the uplink handles apart (suspects, deferred)."""
        assert self._reader is not None, "outbox not open"
        with self._reader_lock:
            if not skip:
                rows = self._reader.execute(
                    "SELECT seq, id, kind, body FROM outbox ORDER BY priority, seq LIMIT ?",
                    (limit,),
                ).fetchall()
            else:
                rows = self._reader.execute(
                    "SELECT seq, id, kind, body FROM outbox WHERE id NOT IN "
                    "(SELECT value FROM json_each(?)) ORDER BY priority, seq LIMIT ?",
                    (json.dumps(list(skip)), limit),
                ).fetchall()
        return [PendingEvent(*row) for row in rows]

    def find(self, ids: Collection[str]) -> list[PendingEvent]:
        """These events, if still waiting, in upload order."""
        if not ids:
            return []
        assert self._reader is not None, "outbox not open"
        with self._reader_lock:
            rows = self._reader.execute(
                "SELECT seq, id, kind, body FROM outbox WHERE id IN "
                "(SELECT value FROM json_each(?)) ORDER BY priority, seq",
                (json.dumps(list(ids)),),
            ).fetchall()
        return [PendingEvent(*row) for row in rows]

    def quarantined(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest events in the quarantine (id, kind, error, when), for status pages."""
        assert self._reader is not None, "outbox not open"
        with self._reader_lock:
            rows = self._reader.execute(
                "SELECT id, kind, error, rejected_at FROM rejected "
                "ORDER BY rejected_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [dict(zip(("id", "kind", "error", "rejected_at"), r, strict=True)) for r in rows]

    def delete_async(self, sent: list[PendingEvent]) -> concurrent.futures.Future[None]:
        op = _Op("delete", [(p.seq,) for p in sent], concurrent.futures.Future())
        self._queue.put(op)
        assert op.future is not None
        return op.future

    async def delete(self, sent: list[PendingEvent]) -> None:
        """Remove events the cloud has confirmed (accepted or duplicate)."""
        await self._queue_and_wait("delete", [(p.seq,) for p in sent])

    async def reject(
        self, rejected: list[tuple[PendingEvent, str]], at: datetime | None = None
    ) -> None:
        """Move events the cloud refused for good to the quarantine (kept for inspection);
        `at` is the gateway's clock (the uploader passes it), the wall clock otherwise."""
        # Only for callers without the gateway's clock (the uploader passes it).
        when = at.timestamp() if at is not None else time.time()  # wall clock: caller gave none
        rows = [(p.seq, p.id, p.kind, p.body, err, when) for p, err in rejected]
        await self._queue_and_wait("reject", rows)

    def depth(self) -> int:
        return self.stats.depth

    # --- the writer thread ----------------------------------------------------------------

    def _writer_loop(self, conn: sqlite3.Connection, started: threading.Event) -> None:
        io_path = this_thread_io()
        started.set()
        while True:
            first = self._queue.get()
            if first is None:
                break
            ops = [first]
            stop = False
            while len(ops) < _MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                ops.append(nxt)
            self._commit(conn, ops, io_path)
            if stop:
                break
        conn.close()

    def _commit(self, conn: sqlite3.Connection, ops: list[_Op], io_path: Path) -> None:
        inserted = deleted = 0
        quarantined = None
        before = read_write_bytes(io_path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in ops:
                if op.kind == "insert":
                    cur = conn.executemany(
                        "INSERT INTO outbox (id, kind, priority, body) VALUES (?, ?, ?, ?)",
                        op.rows,
                    )
                    inserted += cur.rowcount
                elif op.kind == "delete":
                    cur = conn.executemany("DELETE FROM outbox WHERE seq = ?", op.rows)
                    deleted += cur.rowcount
                else:
                    conn.executemany(
                        "INSERT OR REPLACE INTO rejected VALUES (?,?,?,?,?)",
                        [r[1:] for r in op.rows],
                    )
                    cur = conn.executemany(
                        "DELETE FROM outbox WHERE seq = ?", [r[:1] for r in op.rows]
                    )
                    deleted += cur.rowcount
                    self.stats.rejected += len(op.rows)
                    quarantined = _count_quarantined(conn)
            evicted = self._evict_overflow(conn, self.stats.depth + inserted - deleted)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._fail(conn, ops, exc)
            return
        self.stats.bytes_written += max(0, read_write_bytes(io_path) - before)
        self.stats.commits += 1
        self.stats.committed += inserted
        self.stats.deleted += deleted
        self.stats.evicted += evicted
        self.stats.depth += inserted - deleted - evicted
        if quarantined is not None:
            self.stats.quarantined = quarantined
        self._resolve(ops, None)
        self._check_alarm()
        if self._on_commit is not None and inserted:
            self._on_commit()

    def _fail(self, conn: sqlite3.Connection, ops: list[_Op], exc: sqlite3.Error) -> None:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        self.stats.write_errors += 1
        self.stats.last_write_error = str(exc)
        log.error("outbox commit failed (%s); %d operations not stored", exc, len(ops))
        self._resolve(ops, str(exc))

    @staticmethod
    def _resolve(ops: list[_Op], error: str | None) -> None:
        """Tell the producers; one wake-up per event loop per commit, not one per event."""
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for op in ops:
            if op.afuture is not None and op.loop is not None:
                by_loop.setdefault(op.loop, []).append(op.afuture)
            elif op.future is not None:
                if error is None:
                    op.future.set_result(None)
                else:
                    op.future.set_exception(OutboxWriteError(error))
        for loop, futures in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile
                loop.call_soon_threadsafe(_settle, futures, error)

    def _evict_overflow(self, conn: sqlite3.Connection, depth: int) -> int:
        over = depth - self.stats.capacity
        if over <= 0:
            return 0
        # Only low-priority rows (summaries, device status) may go; oldest first.
        cur = conn.execute(
            "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE priority >= ? "
            "ORDER BY seq LIMIT ?)",
            (DEFAULT_PRIORITY, over),
        )
        if cur.rowcount:
            log.warning("outbox over capacity: evicted %d low-priority events", cur.rowcount)
        return cur.rowcount

    def _check_alarm(self) -> None:
        cap = self.stats.capacity
        depth = self.stats.depth
        if not self.stats.alarm and depth >= ALARM_HIGH * cap:
            self.stats.alarm = True
        elif self.stats.alarm and depth < ALARM_LOW * cap:
            self.stats.alarm = False
        else:
            return
        log.warning("outbox alarm %s: depth %d of %d", self.stats.alarm, depth, cap)
        if self._on_alarm is not None:
            self._on_alarm(self.stats.alarm, depth, cap)
