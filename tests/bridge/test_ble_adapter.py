"""No Bluetooth adapter: a clear status, MQTT keeps working; adapter back -> scanning resumes.

This machine has no D-Bus and no radio, so the first test runs the real bleak path. The
second replaces only the radio (the scanner factory and the sysfs probe) to play
"adapter missing, then plugged in, then pulled out".
"""

from __future__ import annotations

import asyncio

from firmware_bridge.simulate import MOTION, build_frame, service_data
from tests.bridge.conftest import MAC_MOTION


def test_real_bleak_without_adapter_reports_no_adapter(make_bridge) -> None:
    async def scenario() -> dict:
        bridge = make_bridge(ble_enabled=True, ble_retry_s=0.05)
        await bridge.start()
        try:
            for _ in range(200):
                await asyncio.sleep(0.05)
                if bridge.status()["ble"].startswith("no_adapter") and (
                    bridge.status()["counters"].get("ble_adapter_retries", 0) >= 2
                ):
                    break
            return bridge.status()
        finally:
            await bridge.stop()

    status = asyncio.run(scenario())
    assert status["ble"].startswith("no_adapter: "), status
    assert status["counters"]["ble_adapter_retries"] >= 2  # it keeps trying by itself
    assert status["mqtt"] == "disabled"


class RadioScript:
    """The hardware edge: whether an adapter is there, and a scanner that emits one frame."""

    def __init__(self) -> None:
        self.present = False
        self.started: list[str] = []
        self.stopped = 0

    def factory(self, callback, mode):
        radio = self

        class Scanner:
            async def start(self) -> None:
                if not radio.present:
                    raise FileNotFoundError("[Errno 2] No such file: '/run/dbus/system_bus'")
                if mode == "passive":
                    raise RuntimeError("passive scanning needs BlueZ experimental features")
                radio.started.append(mode)
                frame = build_frame([(MOTION, 1)], packet_id=len(radio.started), mac=MAC_MOTION)
                adv = type(
                    "Adv",
                    (),
                    {"service_data": service_data(frame), "rssi": -50, "local_name": "motion"},
                )()
                callback(type("Dev", (), {"address": MAC_MOTION})(), adv)

            async def stop(self) -> None:
                radio.stopped += 1

        return Scanner()

    def probe(self) -> str | None:
        return None if self.present else "adapter lost (no hci device)"


def test_adapter_appears_disappears_and_returns(make_bridge, collector, clock) -> None:
    radio = RadioScript()

    async def wait_status(bridge, prefix: str) -> None:
        for _ in range(400):
            if bridge.status()["ble"].startswith(prefix):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(bridge.status())

    async def scenario() -> None:
        bridge = make_bridge(
            ble_enabled=True,
            ble_retry_s=0.02,
            scanner_factory=radio.factory,
            adapter_probe=radio.probe,
        )
        await bridge.start()
        try:
            await wait_status(bridge, "no_adapter")
            radio.present = True
            await wait_status(bridge, "ok")
            status = bridge.status()
            assert (status["ble"], status["ble_mode"]) == ("ok", "active")  # passive refused
            radio.present = False
            await wait_status(bridge, "no_adapter")
            assert radio.stopped == 1  # the dead scanner was shut down
            clock.advance(60)  # the next frame is a new packet, not a repeat
            radio.present = True
            await wait_status(bridge, "ok")
        finally:
            await bridge.stop()

    asyncio.run(scenario())
    assert radio.started == ["active", "active"]
    assert radio.stopped >= 1
    assert len(collector.events) == 2  # one motion frame per scanning session got through


def test_no_adapter_reasons_are_sentences_for_doctor() -> None:
    from bleak.exc import BleakDBusError

    from firmware_bridge.service import _describe_no_adapter, _is_no_adapter

    no_bluez = BleakDBusError(
        "org.freedesktop.DBus.Error.ServiceUnknown",
        ["The name org.bluez was not provided by any .service files"],
    )
    no_dbus = FileNotFoundError(2, "No such file or directory")
    assert _is_no_adapter(no_bluez) and _is_no_adapter(no_dbus)
    assert _describe_no_adapter(no_bluez).startswith("BlueZ (bluetoothd) not available: ")
    assert "org.bluez" in _describe_no_adapter(no_bluez)
    assert _describe_no_adapter(no_dbus).startswith("no D-Bus system bus")
