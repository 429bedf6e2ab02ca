"""The uploader: event batches from the outbox to the cloud, in order, deleted after a 200.

The HTTP client itself is gateway/cloud_client.py; a failed upload is retried with backoff.

One bad event never holds up the others (docs/gateway.md, "Poison events"): when the cloud
answers a batch with an error, the uploader splits it in the same cycle (help and unwell
answers first, each alone, then halves), so the good events go through and the bad one is
found. An event the cloud refuses by name (`rejected`), or that keeps failing alone while
other events get through, goes to the local quarantine (the outbox's `rejected` table):
kept on disk, counted in `status`, the heartbeat and /metrics, never deleted silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from gateway.cloud_client import CloudClient, CloudError, MalformedResponse
from gateway.logging_setup import log_event
from gateway.outbox import Outbox, PendingEvent
from mimamori_wire.v1 import (
    RETRYABLE_REJECT_REASONS,
    BatchResult,
    RejectedEvent,
    utcnow,
)

log = logging.getLogger(__name__)
LOGGED_IDS = 50  # event ids named in one log line (a batch may hold 500)


@dataclass
class Backoff:
    """Exponential backoff with full jitter (AWS architecture blog), capped."""

    base_s: float = 1.0
    max_s: float = 300.0
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        self.failures += 1
        ceiling = min(self.max_s, self.base_s * 2 ** min(self.failures - 1, 30))
        return self.rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0


@dataclass
class UplinkStats:
    batches_ok: int = 0
    events_sent: int = 0
    duplicates: int = 0
    rejected: int = 0
    failures: int = 0
    malformed: int = 0
    splits: int = 0  # batches the cloud refused, split to find the bad event
    quarantined: int = 0  # events moved to the quarantine by this process
    suspects: int = 0  # events now retried alone after failing alone
    deferred: int = 0  # events now held back (the cloud said: later, clock_skew)
    last_upload_at: datetime | None = None
    last_error: str | None = None
    next_retry_s: float | None = None


# Answers that say "the cloud is not there" (network, proxy, auth, throttling): retried with
# backoff as they are; splitting would not help. Any other error status is the cloud refusing
# this batch, and the batch is split to find out which event it refuses.
_UNREACHABLE_STATUS = frozenset({401, 408, 429, 502, 503, 504})
# A lone event refused with one of these is refused for what it is, not for the cloud's state.
_PERMANENT_STATUS = frozenset({400, 403, 404, 409, 410, 413, 415, 422})


def is_urgent(pending: PendingEvent) -> bool:
    """Help and unwell answers: sent alone first when a batch has to be split."""
    if pending.kind == "help.requested":
        return True
    if pending.kind not in ("checkin.answered", "safety_check.answered"):
        return False
    try:
        payload = json.loads(pending.body).get("payload") or {}
    except (ValueError, AttributeError):
        return False
    return payload.get("intent") in ("unwell", "help") or payload.get("status") == "needs_help"


@dataclass
class _Suspect:
    failures: int = 0  # failed alone this many times
    permanent: bool = False  # the last refusal was for the event itself (4xx)
    cloud_worked: bool = False  # another event got through since it first failed
    last_error: str = ""


@dataclass
class _Cycle:
    budget: int
    handled: int = 0
    refused: bool = False
    worked: bool = False
    probed: bool = False


class _Unreachable(Exception):
    pass


class Uploader:
    """Drains the outbox in order (priority, then insertion), deleting only after a 200."""

    def __init__(
        self,
        outbox: Outbox,
        client: CloudClient,
        batch_size: int = 500,
        backoff: Backoff | None = None,
        idle_wait_s: float = 30.0,
        max_body_bytes: int = 900_000,
        quarantine_after: int = 3,
        defer_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.outbox = outbox
        self.now = now  # the gateway's injected clock, for what the uploader stamps
        self.client = client
        self.batch_size = batch_size
        self.max_body_bytes = max_body_bytes  # the cloud refuses bodies over 1 MB (413)
        self.backoff = backoff or Backoff()
        self.idle_wait_s = idle_wait_s
        self.quarantine_after = quarantine_after
        self.max_alone_per_cycle = 8  # suspects retried alone per cycle (urgent ones always)
        self.defer_s = defer_s
        self.monotonic = monotonic
        self.stats = UplinkStats()
        self.suspects: dict[str, _Suspect] = {}
        self.deferred: dict[str, float] = {}  # id -> monotonic time to try again
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()

    def wake(self) -> None:
        """New events committed (may be called via loop.call_soon_threadsafe)."""
        self._wake.set()

    def urgent(self) -> None:
        """A help request: cut any backoff short and try now."""
        self._urgent.set()
        self._wake.set()

    async def run(self) -> None:
        while True:
            sent = await self.upload_once()
            if sent is None:
                delay = self.backoff.next_delay()
                self.stats.next_retry_s = delay
                await _wait_for(self._urgent, delay)
                self._urgent.clear()
            elif sent == 0:
                await _wait_for(self._wake, self.idle_wait_s)
                self._wake.clear()

    async def upload_once(self) -> int | None:
        """One upload cycle. Returns events handled, 0 when empty, None on failure.

        Urgent suspects go first (each alone), then the head of the queue as one batch
        (split within this cycle if the cloud refuses it), then the other suspects alone.
        """
        now = self.monotonic()
        self.deferred = {i: t for i, t in self.deferred.items() if t > now}
        skip = [*self.suspects, *self.deferred]
        rows = await asyncio.to_thread(self.outbox.peek, self.batch_size, skip)
        suspects = await asyncio.to_thread(self.outbox.find, list(self.suspects))
        if not rows and not suspects:
            self._forget_gone(set())
            return 0
        self._forget_gone({p.id for p in suspects})
        batch = self._fit(rows)
        urgent_suspects = [p for p in suspects if is_urgent(p)]
        other_suspects = [p for p in suspects if not is_urgent(p)][: self.max_alone_per_cycle]
        # Bounded work per cycle: a binary search for one bad event, urgent events alone.
        budget = 2 * math.ceil(math.log2(len(batch) + 1)) + 4 + sum(map(is_urgent, batch))
        cycle = _Cycle(budget=budget + len(urgent_suspects) + len(other_suspects))
        try:
            for p in urgent_suspects:
                await self._deliver([p], cycle)
            if batch:
                await self._deliver(batch, cycle)
            for p in other_suspects:
                await self._deliver([p], cycle)
        except _Unreachable:
            return None  # what was handled is settled; the rest waits for the backoff
        finally:
            self.stats.suspects = len(self.suspects)
            self.stats.deferred = len(self.deferred)
        if cycle.handled:
            self.backoff.reset()
            self.stats.next_retry_s = None
            return cycle.handled
        return None if cycle.refused or batch else 0

    async def _deliver(self, pending: list[PendingEvent], cycle: _Cycle) -> None:
        """POST these events; if the cloud refuses them, split and go on (same cycle)."""
        if cycle.budget <= 0:
            return
        cycle.budget -= 1
        try:
            result = await self.client.post_events(pending)
            done = self._settle(pending, result)
        except CloudError as exc:
            self.stats.failures += 1
            self.stats.malformed += isinstance(exc, MalformedResponse)
            self.stats.last_error = str(exc)
            log_event(
                log,
                "uplink.batch_refused",
                logging.WARNING,
                status=exc.status,
                error=str(exc)[:300],
                count=len(pending),
                event_ids=_ids(pending),
            )
            if isinstance(exc, MalformedResponse) or exc.status in (None, *_UNREACHABLE_STATUS):
                raise _Unreachable from None
            if exc.status == 413 and self.batch_size > 1:
                self.batch_size = max(1, min(self.batch_size, len(pending)) // 2)
            cycle.refused = True
            await self._check_cloud_works(cycle)
            await self._split(pending, exc, cycle)
            return
        await self._apply(done, result, cycle)

    async def _check_cloud_works(self, cycle: _Cycle) -> None:
        """Before blaming an event, ask the cloud something that involves no event (its
        config: authenticates against its database). If that fails too, the cloud is what is
        broken: wait and retry; nothing is split, no event becomes a suspect."""
        if cycle.probed or cycle.worked:
            return
        cycle.probed = True
        try:
            await self.client.get_config(None)
        except CloudError as exc:
            log_event(
                log, "uplink.cloud_down", logging.WARNING, status=exc.status, error=str(exc)[:300]
            )
            raise _Unreachable from None

    async def _split(self, pending: list[PendingEvent], exc: CloudError, cycle: _Cycle) -> None:
        if len(pending) == 1:
            await self._suspect(pending[0], exc, cycle)
            return
        self.stats.splits += 1
        urgent = [p for p in pending if is_urgent(p)]
        rest = [p for p in pending if not is_urgent(p)]
        log_event(
            log,
            "uplink.batch_split",
            status=exc.status,
            count=len(pending),
            urgent_ids=_ids(urgent),
        )
        for p in urgent:
            await self._deliver([p], cycle)
        middle = (len(rest) + 1) // 2
        for half in (rest[:middle], rest[middle:]):
            if half:
                await self._deliver(half, cycle)

    async def _suspect(self, pending: PendingEvent, exc: CloudError, cycle: _Cycle) -> None:
        """A lone event failed. After `quarantine_after` lone failures, quarantine it if the
        refusal was about the event (4xx) or other events got through meanwhile (so it is
        not the cloud that is broken); a cloud refusing everything quarantines nothing."""
        suspect = self.suspects.setdefault(pending.id, _Suspect())
        suspect.failures += 1
        suspect.permanent = exc.status in _PERMANENT_STATUS
        suspect.cloud_worked |= cycle.worked
        suspect.last_error = str(exc)[:300]
        if suspect.failures >= self.quarantine_after and (
            suspect.permanent or suspect.cloud_worked
        ):
            await self._quarantine([(pending, f"failed alone {suspect.failures} times: {exc}")])

    async def _apply(self, done: _Settled, result: BatchResult, cycle: _Cycle) -> None:
        await self.outbox.delete(done.stored)
        if done.rejected:
            await self._quarantine(done.rejected)
        for p in done.deferred:
            self.deferred[p.id] = self.monotonic() + self.defer_s
            self.suspects.pop(p.id, None)
        for p in done.stored:
            self.suspects.pop(p.id, None)
        if done.stored:
            cycle.worked = True
            for suspect in self.suspects.values():
                suspect.cloud_worked = True
        cycle.handled += len(done.stored) + len(done.rejected)
        log_event(
            log,
            "uplink.batch_sent",
            count=len(done.stored) + len(done.rejected) + len(done.deferred),
            accepted=len(result.accepted),
            duplicates=len(result.duplicates),
            rejected=len(done.rejected),
            deferred=len(done.deferred),
            event_ids=_ids(done.stored),
        )
        self.stats.batches_ok += 1
        self.stats.events_sent += len(done.stored)
        self.stats.duplicates += len(result.duplicates)
        self.stats.rejected += len(done.rejected)
        self.stats.last_upload_at = self.now()
        if done.missing:
            # The cloud did not mention some events: keep them and treat as a soft failure.
            self.stats.malformed += 1
            log_event(
                log,
                "uplink.events_omitted",
                logging.WARNING,
                count=len(done.missing),
                event_ids=done.missing[:LOGGED_IDS],
            )
            raise _Unreachable

    async def _quarantine(self, items: list[tuple[PendingEvent, str]]) -> None:
        for p, error in items:
            log_event(
                log,
                "uplink.event_quarantined",
                logging.ERROR,
                event_id=p.id,
                kind=p.kind,
                reason=error[:300],
            )
            self.suspects.pop(p.id, None)
        await self.outbox.reject(items, at=self.now())
        self.stats.quarantined += len(items)

    def _forget_gone(self, present: set[str]) -> None:
        """Suspects no longer in the outbox (stored by a resend, or quarantined)."""
        for event_id in [i for i in self.suspects if i not in present]:
            del self.suspects[event_id]

    def _fit(self, pending: list[PendingEvent]) -> list[PendingEvent]:
        """The longest head of the queue whose request body stays under the cloud's limit."""
        size = 16
        for i, p in enumerate(pending):
            size += len(p.body.encode("utf-8")) + 1
            if size > self.max_body_bytes and i > 0:
                return pending[:i]
        return pending

    def _settle(self, pending: list[PendingEvent], result: BatchResult) -> _Settled:
        by_id = {p.id: p for p in pending}
        stored = [by_id[i] for i in {*result.accepted, *result.duplicates} if i in by_id]
        rejected = []
        deferred = []
        for bad in result.rejected:
            if bad.id not in by_id:
                continue
            if bad.reason in RETRYABLE_REJECT_REASONS:
                _log_refusal("uplink.event_deferred", logging.WARNING, bad)
                deferred.append(by_id[bad.id])
            else:
                _log_refusal("uplink.event_rejected", logging.ERROR, bad)
                rejected.append((by_id[bad.id], f"{bad.reason}: {bad.error}"))
        known = {p.id for p in stored} | {p.id for p, _ in rejected} | {p.id for p in deferred}
        if not known:
            raise MalformedResponse("cloud response names none of the events sent")
        missing = [p.id for p in pending if p.id not in known]
        return _Settled(stored, rejected, deferred, missing)


@dataclass
class _Settled:
    stored: list[PendingEvent]
    rejected: list[tuple[PendingEvent, str]]
    deferred: list[PendingEvent]
    missing: list[str]


def _ids(pending: list[PendingEvent]) -> list[str]:
    return [p.id for p in pending[:LOGGED_IDS]]


def _log_refusal(name: str, level: int, bad: RejectedEvent) -> None:
    log_event(log, name, level, event_id=bad.id, reason=bad.reason, error=bad.error[:300])


async def _wait_for(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
