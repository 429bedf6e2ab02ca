"""Engine and session factory. SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Select, create_engine, event, inspect
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


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        # Take the write lock at BEGIN so two writers never deadlock on lock upgrade.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True)


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
