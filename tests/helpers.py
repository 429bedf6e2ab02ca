"""Small helpers for tests; the service launchers live in mimamori_dev.services."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from mimamori_dev.services import free_port, wait_for_port

__all__ = ["free_port", "wait_for_port", "wait_until", "wait_until_async"]


def wait_until(condition: Callable[[], object], timeout: float = 30.0, what: str = "") -> None:
    """Poll `condition` until it is true; fail after `timeout` seconds (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {what or condition}")
        time.sleep(0.02)


async def wait_until_async(
    condition: Callable[[], object], timeout: float = 30.0, what: str = ""
) -> None:
    """`wait_until` inside an event loop: yields to the loop between polls."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {what or condition}")
        await asyncio.sleep(0.01)


def wait_for_fresh_worker_passes(database_url: str, workers: int, timeout: float = 60.0) -> None:
    """Wait until `workers` live worker processes have each completed, in every watched loop,
    a whole pass begun after this call (passes + 2: the pass running now may have started
    before). Whatever they would still do, such as a wrong extra step or mail, is done then."""
    from sqlalchemy import select

    from cloud.db import make_engine, make_sessionmaker
    from cloud.models.workers import WATCH_LOOPS, WorkerPass

    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)

    def passes() -> dict[tuple[str, str], int]:
        with sessions() as session:
            return {(p.worker_id, p.loop): p.passes for p in session.scalars(select(WorkerPass))}

    start = passes()

    def fresh_everywhere() -> bool:
        now = passes()
        fresh = {key for key, n in now.items() if n >= start.get(key, 0) + 2}
        return all(sum(1 for _, loop in fresh if loop == name) >= workers for name in WATCH_LOOPS)

    try:
        wait_until(fresh_everywhere, timeout, f"{workers} workers each finish a fresh pass")
    finally:
        engine.dispose()
