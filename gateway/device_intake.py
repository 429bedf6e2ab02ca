"""Device intake: what sensors and buttons said, from any thread, into events.

The bridge calls `sink` from its own threads; events queue into the loop here. A malformed
device event is counted and logged, never crashes the loop (gateway/devices validates).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from firmware_bridge.events import DeviceEvent
from gateway.activity import LifeSigns
from gateway.devices import (
    BadDeviceEvent,
    DeviceTable,
    immediate_events,
    is_activity,
    to_health,
    validate,
)
from gateway.logging_setup import log_event
from gateway.ports import Bridge, Home
from mimamori_wire.v1 import DeviceHealth, EventKind

log = logging.getLogger(__name__)


class DeviceIntake:
    def __init__(
        self,
        home: Home,
        life_signs: LifeSigns,
        bridge: Bridge | None,
        button_fine: Callable[[str], Awaitable[None]],
    ) -> None:
        self.home = home
        self.life_signs = life_signs
        self.bridge = bridge
        self.button_fine = button_fine
        self.table = DeviceTable()
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def sink(self, ev: DeviceEvent) -> None:
        """The DeviceEventSink: any thread, never blocks."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, ev)

    async def loop(self) -> None:
        while True:
            await self.handle(await self._queue.get())

    async def handle(self, raw: object) -> None:
        try:
            ev = validate(raw)
            events = immediate_events(ev)
        except BadDeviceEvent as exc:
            self.home.counters["bad_device_events"] += 1
            log_event(log, "device.event_ignored", logging.WARNING, error=str(exc)[:300])
            return
        self.table.observe(ev)
        if is_activity(ev):
            self.life_signs.add(ev.at, ev.room)
        for kind, payload in events:
            event = await self.home.emit(kind, payload)
            if kind == EventKind.HELP_REQUESTED:
                log_event(
                    log,
                    "help.pressed",
                    logging.WARNING,
                    device=ev.device,
                    event_id=event.id if event else None,
                )
        if ev.signal == "checkin_fine":
            await self.button_fine(ev.device)

    async def start_bridge(self) -> None:
        if self.bridge is None:
            return
        try:
            await self.bridge.start()
        except Exception as exc:  # no BLE adapter / broker down must not stop check-ins
            self.home.counters["bridge_start_failed"] += 1
            log_event(log, "bridge.start_failed", logging.ERROR, error=str(exc)[:300])

    async def stop_bridge(self) -> None:
        if self.bridge is not None:
            with contextlib.suppress(Exception):
                await self.bridge.stop()

    def health(self) -> list[DeviceHealth]:
        """Per-device health: the bridge's own view when it has one, else what we saw."""
        if self.bridge is not None:
            try:
                return to_health(self.bridge.health())
            except Exception as exc:
                self.home.counters["bad_bridge_health"] += 1
                log.warning("bridge health unusable: %s", exc)
        return self.table.health()
