"""Events are made here and committed to the outbox before anything else happens (the ack).

A write that fails (disk full, I/O error) keeps the event in memory and retries it: an
event is never dropped and a failing disk never crashes a loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from gateway.config import GatewaySettings
from gateway.logging_setup import log_event
from gateway.outbox import Outbox, OutboxWriteError
from gateway.ports import Clock, Payload
from mimamori_rules.outcomes import immediate_cause
from mimamori_wire.v1 import Event, EventKind, OutboxAlarm

log = logging.getLogger(__name__)

RETRY_UNSTORED_S = 10.0


class Recorder:
    def __init__(self, settings: GatewaySettings, counters: Counter[str], now: Clock) -> None:
        self.settings = settings
        self.counters = counters
        self.now = now
        self.outbox: Outbox | None = None
        self.unstored: list[Event] = []
        self.on_help: Callable[[], None] = lambda: None  # cut the uplink's backoff short

    async def open(
        self,
        loop: asyncio.AbstractEventLoop,
        on_alarm: Callable[[OutboxAlarm], None],
        on_commit: Callable[[], None],
    ) -> Outbox:
        """Open the outbox; its writer thread's alarm and commit calls come back into `loop`."""
        settings = self.settings

        def alarm(raised: bool, depth: int, capacity: int) -> None:
            if raised:
                report = OutboxAlarm(depth=depth, capacity=capacity)
                loop.call_soon_threadsafe(on_alarm, report)

        def committed() -> None:
            loop.call_soon_threadsafe(on_commit)

        max_mb = settings.outbox_max_mb
        self.outbox = Outbox(
            settings.data_dir / "outbox.sqlite3",
            capacity=settings.outbox_capacity,
            on_alarm=alarm,
            on_commit=committed,
            max_db_bytes=int(max_mb * 1024 * 1024) if max_mb else None,
        )
        await asyncio.to_thread(self.outbox.open)
        return self.outbox

    async def emit(
        self, kind: EventKind, payload: Payload, occurred_at: datetime | None = None
    ) -> Event | None:
        """Make an event and store it durably; returns it once committed (the ack)."""
        assert self.outbox is not None, "open() the gateway first"
        now = self.now()
        event = Event.create(
            household_id=self.settings.household_id,
            gateway_id=self.settings.gateway_id,
            kind=kind,
            payload=payload,
            occurred_at=occurred_at or now,
            recorded_at=now,
        )
        try:
            await self.outbox.put(event)
        except OutboxWriteError as exc:
            # Disk full or I/O error: keep it in memory and retry; report, never crash.
            self.counters["outbox_write_errors"] += 1
            self.unstored.append(event)
            log_event(
                log,
                "outbox.write_failed",
                logging.ERROR,
                event_id=event.id,
                kind=kind.value,
                error=str(exc)[:300],
            )
            return None
        self.counters[f"emitted.{kind.value}"] += 1
        cause = immediate_cause(kind.value, event.payload)
        if cause is not None:  # what the cloud acts on at once: traceable from here on
            log_event(
                log, "outbox.urgent_enqueued", event_id=event.id, kind=kind.value, cause=cause
            )
        if kind == EventKind.HELP_REQUESTED:
            self.on_help()  # help must not wait
        return event

    async def retry_unstored_loop(self) -> None:
        while True:
            await asyncio.sleep(RETRY_UNSTORED_S)
            await self.retry_unstored()

    async def retry_unstored(self) -> None:
        if not self.unstored or self.outbox is None:
            return
        batch, self.unstored = self.unstored, []
        try:
            await self.outbox.put_many(batch)
        except OutboxWriteError:
            self.unstored = batch + self.unstored
            self.counters["outbox_retry_failed"] += 1
