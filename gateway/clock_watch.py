"""Clock trust as a service: report kernel, cloud-Date and jump signals as events.

The signals themselves are in gateway/clock.py; this keeps what was last reported, so each
offset is reported once, and remembers the kernel's sync state for every report.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Literal

from gateway.clock import SKEW_THRESHOLD_S, JumpDetector, skew_from_date_header
from gateway.logging_setup import log_event
from gateway.ports import Home, Monotonic
from mimamori_wire.v1 import ClockSkew, EventKind

log = logging.getLogger(__name__)


class ClockWatch:
    def __init__(
        self, home: Home, kernel_clock: Callable[[], bool | None], monotonic: Monotonic
    ) -> None:
        self.home = home
        self.kernel_clock = kernel_clock
        self.monotonic = monotonic  # injected with `now`, so simulated time is not a "jump"
        self.jumps = JumpDetector()
        self.kernel_synced: bool | None = None
        self._last_skew_reported: float | None = None

    async def observe_jump(self) -> float | None:
        """A wall-clock jump since the last look (reported), or None."""
        now = self.home.now()
        jump = self.jumps.observe(wall=now.timestamp(), mono=self.monotonic())
        if jump is not None:
            self.home.counters["clock_jumps"] += 1
            log_event(log, "clock.jumped", logging.WARNING, jump_s=round(jump, 3))
            await self._report(round(jump, 3), "jump", self.kernel_synced)
        return jump

    def skew_from_cloud(self, header: str | None) -> ClockSkew | None:
        """The cloud's Date header says our clock is off: the report to make, once per offset."""
        skew = skew_from_date_header(header, self.home.now())
        if skew is None or abs(skew) < SKEW_THRESHOLD_S:
            return None
        last = self._last_skew_reported
        if last is not None and abs(last - skew) < SKEW_THRESHOLD_S:
            return None  # already reported this offset
        self._last_skew_reported = skew
        self.home.counters["clock_skew_reports"] += 1
        log_event(log, "clock.skew", logging.WARNING, skew_s=round(skew, 3), source="cloud_date")
        return ClockSkew(
            skew_s=round(skew, 3), source="cloud_date", synchronized=self.kernel_synced
        )

    async def check_kernel(self, *, at_start: bool = False) -> None:
        """Report the kernel clock going unsynchronised (at start: if it is)."""
        synced = self.kernel_clock() if at_start else await asyncio.to_thread(self.kernel_clock)
        became_unsynced = synced is False and (at_start or synced != self.kernel_synced)
        self.kernel_synced = synced
        if became_unsynced:
            log_event(log, "clock.unsynchronized", logging.WARNING)
            await self._report(0.0, "kernel", False)

    async def _report(
        self, skew_s: float, source: Literal["jump", "kernel"], synced: bool | None
    ) -> None:
        payload = ClockSkew(skew_s=skew_s, source=source, synchronized=synced)
        await self.home.emit(EventKind.GATEWAY_CLOCK_SKEW, payload)
