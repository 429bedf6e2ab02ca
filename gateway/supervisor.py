"""Keep each service loop running: a crashed loop is logged, counted and restarted.

Restarts back off (1 s, 2 s, 4 s ... at most 60 s) so a loop that dies at once does not spin,
and the backoff starts again from 1 s after a loop ran for a minute without crashing. Every
restart is counted as `loop_crash.<name>` in the daemon's counters (status, heartbeat and
the `mimamori_gateway_daemon` metric).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from gateway.logging_setup import log_event

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
STABLE_AFTER_S = 60.0  # a loop that ran this long before crashing starts the backoff afresh

LoopBody = Callable[[], Coroutine[Any, Any, Any]]


def restart_delay(previous_s: float | None, ran_s: float) -> float:
    """The pause before the next restart, from the last pause and how long the loop ran."""
    if previous_s is None or ran_s >= STABLE_AFTER_S:
        return FIRST_BACKOFF_S
    return min(MAX_BACKOFF_S, previous_s * 2)


async def supervise(
    name: str,
    body: LoopBody,
    counters: Counter[str],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Run `body` until it returns; restart it after each crash (never lets it kill us)."""
    delay: float | None = None
    while True:
        began = monotonic()
        try:
            await body()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            delay = restart_delay(delay, monotonic() - began)
            counters[f"loop_crash.{name}"] += 1
            log_event(
                log,
                "loop.crashed",
                logging.ERROR,
                exc_info=True,
                loop=name,
                crashes=counters[f"loop_crash.{name}"],
                restart_in_s=delay,
            )
            await sleep(delay)
            log_event(log, "loop.restarted", loop=name)


class Supervisor:
    """The daemon's service loops as supervised tasks."""

    def __init__(self, counters: Counter[str]) -> None:
        self.counters = counters
        self.tasks: list[asyncio.Task[Any]] = []

    def start(self, name: str, body: LoopBody) -> None:
        self.tasks.append(asyncio.create_task(supervise(name, body, self.counters), name=name))

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """A one-off job (e.g. an event made from another thread's callback), awaited on stop."""
        self.tasks.append(asyncio.create_task(work))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):  # stopping anyway
                await task
        self.tasks.clear()
