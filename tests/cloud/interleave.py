"""Run database transactions of several actors in a forced order, one statement at a time.

Each actor is a function run in its own thread on its own engine. Before every statement and
every COMMIT it parks until the scheduler lets it take one step; a step that waits on the
database (a PostgreSQL row lock, SQLite's writer queue) is seen as blocked and the scheduler
goes on with the others. So a schedule ("answer", "detect", "detect", ...) replays exactly
one interleaving against the real database, and hypothesis can draw schedules.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event, text

from cloud.db import writer_queue

SETTLE_S = 30.0  # a step that neither parks, ends nor waits on a lock within this is a hang


class Actor:
    def __init__(self, name: str, engine: Engine, work: Callable[[], Any]) -> None:
        self.name, self.engine, self.work = name, engine, work
        self.cond = threading.Condition()
        self.state = "new"  # (not started) | running | parked | done
        self.granted = False
        # Between transactions: the next statement BEGINs (SQLite: waits in the writer queue).
        self.beginning = True
        self.pid: int | None = None  # PostgreSQL backend of the statement about to run
        self.result: Any = None
        self.error: BaseException | None = None
        self.statements: list[str] = []
        self.thread = threading.Thread(target=self._run, name=f"actor-{name}", daemon=True)
        event.listen(engine, "before_cursor_execute", self._on_statement)
        event.listen(engine, "commit", self._on_commit)
        event.listen(engine, "rollback", self._on_rollback)

    def detach(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on_statement)
        event.remove(self.engine, "commit", self._on_commit)
        event.remove(self.engine, "rollback", self._on_rollback)

    def _mine(self) -> bool:  # e.g. a sender's lease keeper thread on the same engine is not
        return threading.current_thread() is self.thread

    def _on_rollback(self, conn: Any) -> None:
        if self._mine():
            self.beginning = True

    def _on_statement(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not self._mine():
            return
        info = getattr(conn.connection.dbapi_connection, "info", None)
        self.pid = getattr(info, "backend_pid", None)
        self._park(statement.split(None, 3)[:3])

    def _on_commit(self, conn: Any) -> None:
        if self._mine():
            self._park(["COMMIT"])
            self.beginning = True

    def _park(self, words: list[str]) -> None:
        with self.cond:
            if words != ["COMMIT"]:
                self.beginning = False
            self.state = "parked"
            self.cond.notify_all()
            while not self.granted:
                self.cond.wait()
            self.granted = False
            self.statements.append(" ".join(words))

    def _run(self) -> None:
        with self.cond:
            self.state = "running"
        try:
            self.result = self.work()
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            with self.cond:
                self.state = "done"
                self.cond.notify_all()

    def grant(self) -> None:
        with self.cond:
            self.state = "running"  # now, not when the thread wakes: settle() waits for it
            self.granted = True
            self.cond.notify_all()


class Interleaving:
    """Plays a schedule of actor names; then lets every actor finish."""

    def __init__(self, engine_url: str, actors: list[Actor]) -> None:
        self.actors = {a.name: a for a in actors}
        self.url = engine_url
        self.trace: list[str] = []
        self._observer: Engine | None = None
        if engine_url.startswith("postgresql"):
            from cloud.db import make_engine

            self._observer = make_engine(engine_url, pool_size=1)

    def blocked(self, actor: Actor) -> bool:
        """The actor waits on the database for another actor's transaction."""
        if actor.state != "running":
            return False
        if self._observer is not None:
            if actor.pid is None:
                return False
            with self._observer.connect() as conn:
                wait = conn.execute(
                    text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": actor.pid},
                ).scalar()
                conn.rollback()
            return wait == "Lock"
        if not actor.beginning:
            return False
        database = self.url.split("///", 1)[1]
        beginners = [a for a in self.actors.values() if a.state == "running" and a.beginning]
        return len(writer_queue(database)._waiters) >= len(beginners)

    def settle(self, actor: Actor) -> None:
        """Wait until `actor` parks, ends, or waits on a lock."""
        deadline = time.monotonic() + SETTLE_S
        while True:
            with actor.cond:
                if actor.state in ("parked", "done"):
                    return
                actor.cond.wait(0.005)
            if self.blocked(actor):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{actor.name} hangs after {actor.statements[-3:]}")

    def step(self, actor: Actor) -> bool:
        """One statement of `actor` (its first step starts it); False if it cannot move."""
        if actor.state == "new":
            actor.thread.start()
        elif actor.state == "parked":
            actor.grant()
        else:
            return False
        self.trace.append(actor.name)
        self.settle(actor)
        return True

    def play(self, schedule: list[str]) -> None:
        try:
            for name in schedule:
                self.step(self.actors[name])
            self._finish()
        finally:
            for actor in self.actors.values():
                actor.detach()
            if self._observer is not None:
                self._observer.dispose()

    def _finish(self) -> None:
        deadline = time.monotonic() + SETTLE_S
        while any(a.state != "done" for a in self.actors.values()):
            moved = [self.step(a) for a in self.actors.values()]
            if any(moved):
                deadline = time.monotonic() + SETTLE_S
                continue
            for actor in self.actors.values():  # all wait: one will get its lock
                with actor.cond:
                    if actor.state == "running":
                        actor.cond.wait(0.005)
            if time.monotonic() > deadline:
                raise AssertionError(f"no actor can move: {self.trace[-10:]}")
