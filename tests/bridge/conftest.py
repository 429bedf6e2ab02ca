"""Bridge test helpers: paired devices, a collecting sink, a settable clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from firmware_bridge.events import DeviceEvent, DeviceRole, DeviceSignal, PairedDevice

BINDKEY = "231d39c1d7cc1ab1aee224cd096db932"
MAC_BUTTON = "54:48:E6:8F:80:A5"
MAC_THERMO = "A4:C1:38:00:00:02"
MAC_MOTION = "A4:C1:38:00:00:03"
MAC_DOOR = "A4:C1:38:00:00:04"


class Collector:
    """A thread-safe DeviceEventSink that remembers everything."""

    def __init__(self) -> None:
        self.events: list[DeviceEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: DeviceEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def signals(self, device: str | None = None) -> list[DeviceSignal]:
        return [e.signal for e in self.events if device is None or e.device == device]

    def wait_for(self, n: int, timeout: float = 10.0) -> list[DeviceEvent]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.events) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.events)} of {n} events: {self.events}")
                self._cond.wait(left)
            return list(self.events)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def paired_devices() -> list[PairedDevice]:
    return [
        PairedDevice(
            name="help-button",
            transport="ble",
            address=MAC_BUTTON,
            role=DeviceRole.HELP_BUTTON,
            room="寝室",
            bindkey=BINDKEY,
        ),
        PairedDevice(
            name="living-thermo",
            transport="ble",
            address=MAC_THERMO,
            role=DeviceRole.THERMOMETER,
            room="居間",
            silent_after_s=3600,
        ),
        PairedDevice(
            name="living-motion", transport="ble", address=MAC_MOTION, role=DeviceRole.MOTION
        ),
        PairedDevice(
            name="front-door",
            transport="ble",
            address=MAC_DOOR,
            role=DeviceRole.CONTACT,
            bindkey=BINDKEY,
        ),
        PairedDevice(
            name="kitchen-motion", transport="mqtt", mqtt_name="kitchen pir", role=DeviceRole.MOTION
        ),
        PairedDevice(
            name="toilet-door", transport="mqtt", mqtt_name="toilet_door", role=DeviceRole.CONTACT
        ),
        PairedDevice(
            name="zigbee-button",
            transport="mqtt",
            mqtt_name="button",
            role=DeviceRole.HELP_BUTTON,
            silent_after_s=600,
        ),
    ]


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_bridge(tmp_path, collector, clock) -> Callable[..., object]:
    from firmware_bridge.service import DeviceBridge

    def make(**kwargs):
        kwargs.setdefault("sink", collector)
        kwargs.setdefault("state_dir", tmp_path / "state")
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("ble_enabled", False)
        return DeviceBridge(kwargs.pop("devices", paired_devices()), **kwargs)

    return make
