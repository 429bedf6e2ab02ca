"""Thread lanes for gateway traffic (a bulkhead inside each API process).

Sync work runs in threads. Starlette's default pool (40 threads, first come first served) is
shared by every request, so at 09:00 a staff member's desk queued behind hundreds of
heartbeats, and a call for help behind them too. Gateway traffic on the fast path therefore
runs in lanes of its own:

- routine: heartbeats and ordinary batches, a few threads (enough to keep the database pool
  busy; more threads only fight over the GIL);
- urgent: any batch that may carry a call for help or an unwell answer. It never waits for
  the routine lane.

Everything else (the desk, the admin API, the family pages) keeps the default pool, which
gateway traffic no longer fills.
"""

from __future__ import annotations

from dataclasses import dataclass

from anyio import CapacityLimiter
from anyio.lowlevel import RunVar

from mimamori_wire import v1

# A byte test on the raw body, before parsing: a false positive only gives a batch priority.
URGENT_MARKERS = (
    f'"{v1.EventKind.HELP_REQUESTED.value}"'.encode(),
    f'"{v1.Intent.HELP.value}"'.encode(),
    f'"{v1.Intent.UNWELL.value}"'.encode(),
)

# One limiter per lane and event loop, as anyio keeps its own default pool: a limiter is bound
# to the loop that first used it (tests run one app under several loops).
_ROUTINE: RunVar[CapacityLimiter] = RunVar("mimamori_gateway_routine")
_URGENT: RunVar[CapacityLimiter] = RunVar("mimamori_gateway_urgent")


def is_urgent(raw: bytes) -> bool:
    return any(marker in raw for marker in URGENT_MARKERS)


def _limiter(var: RunVar[CapacityLimiter], threads: int) -> CapacityLimiter:
    try:
        return var.get()
    except LookupError:
        limiter = CapacityLimiter(threads)
        var.set(limiter)
        return limiter


@dataclass(frozen=True)
class GatewayLanes:
    routine_threads: int
    urgent_threads: int

    def routine(self) -> CapacityLimiter:
        return _limiter(_ROUTINE, self.routine_threads)

    def urgent(self) -> CapacityLimiter:
        return _limiter(_URGENT, self.urgent_threads)

    def for_body(self, raw: bytes) -> CapacityLimiter:
        """The lane of a request body (call from inside the event loop)."""
        return self.urgent() if is_urgent(raw) else self.routine()
