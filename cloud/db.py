"""Engine and session factory. SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, Select, create_engine, event, inspect
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from cloud.core.clock import Clock, system_clock
from cloud.models.base import STAMPED_AT_INSERT


def normalise_url(url: str) -> str:
    # Plain postgresql:// would pick psycopg2, which is not installed: we ship psycopg 3.
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


# Waiting for the write lock, in the writer queue or in SQLite's busy handler, at most this.
SQLITE_LOCK_TIMEOUT_S = 30.0


# A pooled PostgreSQL connection is pinged before use only after sitting idle this long
# (make_engine's ping_idle_after_s). Pinging every checkout was 5-9 % of a heartbeat's API
# CPU and one more statement for the database (docs/benchmarks.md "API cost per request");
# a connection in steady use is known to be alive, an idle one may have been cut (restart,
# firewall, PgBouncer timeout). One that died in use is retried: with_fresh_connection.
PING_IDLE_AFTER_S = 10.0
# Connections older than this are replaced at checkout (server-side idle and age limits).
POOL_RECYCLE_S = 1800


def make_engine(url: str, *, pool_size: int = 5, ping_idle_after_s: float | None = None) -> Engine:
    """`ping_idle_after_s`: PostgreSQL only; None pings on every checkout (pool_pre_ping),
    a number only connections idle for longer (the API's request path)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={
                "timeout": SQLITE_LOCK_TIMEOUT_S,
                "check_same_thread": False,
                "factory": QueuedWriterConnection,
            },
            # Enough connections for every request thread (anyio's 40) and the embedded
            # worker: the waiting happens in the fair writer queue, not in the pool.
            pool_size=pool_size,
            max_overflow=48,
            pool_timeout=SQLITE_LOCK_TIMEOUT_S,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    if ping_idle_after_s is None:
        return create_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True)
    engine = create_engine(url, pool_size=pool_size, max_overflow=10, pool_recycle=POOL_RECYCLE_S)
    _ping_when_idle(engine, ping_idle_after_s)
    return engine


_CHECKED_IN_AT = "mimamori_checked_in_at"


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Ping a pooled connection at checkout only if it sat idle over `idle_s`; a failed ping
    makes the pool replace it (SQLAlchemy PoolEvents.checkout: DisconnectionError)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN_AT)
        if since is None or time.monotonic() - since <= idle_s:
            return  # new, or in steady use
        try:
            engine.dialect.do_ping(dbapi)
        except Exception as exc:
            raise DisconnectionError(f"idle pooled connection is dead: {exc}") from exc


T = TypeVar("T")


def with_fresh_connection(work: Callable[[], T]) -> T:
    """Run `work` (one whole unit of work: its own connection and transaction); if the
    pooled connection it got turns out dead, once more. SQLAlchemy invalidates the pool on a
    disconnect, so the second try gets a new connection. Safe to repeat: a unit of work
    that failed on a dead connection was not committed, or (connection lost while COMMIT's
    answer was on the way) repeating it is idempotent on the gateway paths (events by id,
    the earliest answer wins, a heartbeat stamps again)."""
    try:
        return work()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return work()


class FairLock:
    """A lock granted in the order it was asked for (FIFO), with a timeout.

    SQLite's busy handler is not fair: a waiting writer sleeps and retries, and under CPU
    starvation others keep taking the lock first, so some wait past any timeout (bench
    morning a, docs/benchmarks.md). In one process the writers queue here instead and
    SQLite's lock is only ever asked for by the head of the queue."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False
        self.grants = 0  # times the lock was given
        # The most grants to others while one caller waited: at most the callers that were
        # in line before it (the fairness tests/cloud/test_sqlite_writer_queue.py checks).
        self.most_overtaken = 0

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held and not self._waiters:
                self._held = True
                self.grants += 1
                return True
            gate = threading.Lock()
            gate.acquire()
            self._waiters.append(gate)
            asked_at = self.grants
        if not gate.acquire(timeout=timeout):
            with self._mutex:
                if gate in self._waiters:
                    self._waiters.remove(gate)
                    return False
            # release() handed it over between our timeout and the mutex: ours after all
        with self._mutex:
            self.most_overtaken = max(self.most_overtaken, self.grants - asked_at - 1)
        return True

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self.grants += 1
                self._waiters.popleft().release()  # straight to the next in line
            else:
                self._held = False


_WRITER_QUEUES: dict[str, FairLock] = {}
_QUEUES_MUTEX = threading.Lock()


def writer_queue(database: str) -> FairLock:
    """The one writer queue of a database file in this process."""
    key = database if database.startswith((":memory:", "file:")) else os.path.abspath(database)
    with _QUEUES_MUTEX:
        return _WRITER_QUEUES.setdefault(key, FairLock())


class QueuedWriterConnection(sqlite3.Connection):
    """A pysqlite connection that leaves the process's writer queue when its transaction
    ends (commit, rollback, close), however SQLAlchemy ends it."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self.writer_queue = writer_queue(os.fsdecode(database))
        self.in_writer_queue = False

    def enter_writer_queue(self) -> None:
        if not self.writer_queue.acquire(SQLITE_LOCK_TIMEOUT_S):
            raise sqlite3.OperationalError(
                f"database is locked: no turn in the writer queue within "
                f"{SQLITE_LOCK_TIMEOUT_S:.0f} s"
            )
        self.in_writer_queue = True

    def leave_writer_queue(self) -> None:
        if self.in_writer_queue:
            self.in_writer_queue = False
            self.writer_queue.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.leave_writer_queue()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.leave_writer_queue()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.leave_writer_queue()


def _begin_immediate(conn: Any) -> None:
    """Queue for this process's turn, then take SQLite's write lock at BEGIN so two writers
    never deadlock on lock upgrade (other processes still meet the busy timeout)."""
    dbapi = conn.connection.dbapi_connection
    queued = isinstance(dbapi, QueuedWriterConnection)
    if queued:
        dbapi.enter_writer_queue()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if queued:
            dbapi.leave_writer_queue()
        raise


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # Let SQLAlchemy's own BEGIN run instead of pysqlite's implicit transactions.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # FULL: a 200 for an event batch means it survived a power cut, not just a crash.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_sessionmaker(engine: Engine, clock: Clock = system_clock) -> sessionmaker[Session]:
    """Sessions that stamp new rows' creation times from `clock`: the one clock of the cloud."""
    return sessionmaker(engine, expire_on_commit=False, info={"clock": clock})


def session_clock(session: Session) -> Clock:
    return session.info.get("clock", system_clock)


@event.listens_for(Session, "before_flush")
def _stamp_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    now: Any = None
    for obj in session.new:
        for prop in inspect(obj).mapper.column_attrs:
            if prop.columns[0].info.get(STAMPED_AT_INSERT) and getattr(obj, prop.key) is None:
                now = now or session_clock(session)()
                setattr(obj, prop.key, now)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def skip_locked(stmt: Select, session: Session, *entities: object) -> Select:
    """Rows another worker holds are skipped, not waited for (PostgreSQL FOR UPDATE SKIP
    LOCKED); SQLite serialises writers at BEGIN IMMEDIATE, so the statement stays as it is."""
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True, of=entities or None)
    return stmt
