"""Zigbee2MQTT's own payloads and topics, replayed on a real mosquitto into the bridge.

The messages (tests/bridge/data/zigbee2mqtt_payloads.json) come from Zigbee2MQTT's test
suite (receive.test.ts, availability.test.ts) and device pages; friendly names contain "/"
("room/sensor", "hall/door") as Zigbee2MQTT allows. Each message lists the events the
device's role must give.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from firmware_bridge.events import DeviceRole, PairedDevice
from tests.bridge.gateway_run import SLOT_AT, gateway_with_bridge
from tests.bridge.test_mqtt_broker import publish_all, settings_for, wait_until
from tests.gateway.conftest import pending

DATA = json.loads((Path(__file__).parent / "data" / "zigbee2mqtt_payloads.json").read_text())
BASE = "zigbee2mqtt"


def _body(payload: Any) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload)


def _paired() -> list[PairedDevice]:
    return [
        PairedDevice(
            name=d["model"].lower(),
            transport="mqtt",
            mqtt_name=d["friendly_name"],
            role=DeviceRole(d["role"]),
            options=d["options"],
        )
        for d in DATA["devices"]
    ]


def _messages() -> list[tuple[str, str]]:
    out = []
    for device in DATA["devices"]:
        topic = f"{BASE}/{device['friendly_name']}"
        for message in device["messages"]:
            if "availability" in message:
                out.append((f"{topic}/availability", _body(message["availability"])))
            else:
                out.append((topic, _body(message["payload"])))
    out += [(f"{BASE}/{m['topic']}", _body(m["payload"])) for m in DATA["not_device_messages"]]
    return out


def _signature(event) -> list[Any]:
    kind = event.data.get("kind") if event.signal.value == "activity" else None
    if event.signal.value in ("checkin_fine", "help"):
        kind = event.data.get("action")
    return [event.signal.value, kind]


def test_zigbee2mqtt_messages_give_the_role_events(
    mosquitto_broker, make_bridge, collector, caplog
) -> None:
    messages = _messages()
    expected = {
        d["model"].lower(): [e for m in d["messages"] for e in m["expect"]] for d in DATA["devices"]
    }
    total = sum(len(v) for v in expected.values())

    async def scenario() -> dict:
        bridge = make_bridge(devices=_paired(), mqtt=settings_for(mosquitto_broker))
        await bridge.start()
        try:
            await asyncio.to_thread(wait_until, bridge.link.subscribed.is_set)
            await asyncio.to_thread(publish_all, mosquitto_broker, messages)
            await asyncio.to_thread(collector.wait_for, total)
            await asyncio.to_thread(
                wait_until,
                lambda: bridge.status()["counters"].get("mqtt_messages", 0) >= len(messages),
            )
            return bridge.status()["counters"]
        finally:
            await bridge.stop()

    with caplog.at_level(logging.WARNING, logger="firmware_bridge.service"):
        counters = asyncio.run(scenario())
    got = {name: [] for name in expected}
    for event in collector.events:
        got[event.device].append(_signature(event))
    assert got == expected
    unknown = sum(1 for d in DATA["devices"] for m in d["messages"] if m.get("unknown_action"))
    assert counters.get("mqtt_unknown_action", 0) == unknown == 1
    assert "'brightness_move_up' that no rule knows" in caplog.text
    assert counters.get("mqtt_ignored", 0) == len(DATA["not_device_messages"])
    assert counters.get("mqtt_unknown_device", 0) == 0
    assert counters["mqtt_messages"] == len(messages)


def test_room_sensor_and_a_nested_button_reach_the_gateway_daemon(
    mosquitto_broker, make_bridge, collector, tmp_path
) -> None:
    """End to end: Zigbee2MQTT topics with "/" -> mosquitto -> bridge -> the gateway daemon's
    device handling -> events in its outbox, as they would go to the cloud."""
    devices = [
        PairedDevice(
            name="room-sensor", transport="mqtt", mqtt_name="room/sensor", role=DeviceRole.MOTION
        ),
        PairedDevice(
            name="hall-button",
            transport="mqtt",
            mqtt_name="hall/button",
            role=DeviceRole.HELP_BUTTON,
        ),
    ]
    messages = [
        (f"{BASE}/room/sensor", '{"occupancy": true, "battery": 100, "illuminance": 381}'),
        (f"{BASE}/room/sensor/availability", '{"state": "offline"}'),
        (f"{BASE}/room/sensor/availability", "online"),
        (f"{BASE}/hall/button", '{"action": "single", "linkquality": 10}'),
        (f"{BASE}/hall/button", '{"action": "hold"}'),
    ]

    async def scenario() -> list[dict[str, Any]]:
        bridge = make_bridge(
            devices=devices, mqtt=settings_for(mosquitto_broker), clock=lambda: SLOT_AT
        )
        gateway = await gateway_with_bridge(tmp_path / "gateway", bridge, [])
        await bridge.start()
        try:
            await asyncio.to_thread(wait_until, bridge.link.subscribed.is_set)
            await asyncio.to_thread(publish_all, mosquitto_broker, messages)
            await asyncio.to_thread(collector.wait_for, 5)
            for event in list(collector.events):
                await gateway.handle_device_event(event)  # what the daemon's device loop does
            return pending(gateway)
        finally:
            await bridge.stop()
            await gateway.close()

    outbox = asyncio.run(scenario())
    by_kind = {e["kind"]: e["payload"] for e in outbox}
    assert by_kind["device.silent"]["device"] == "room-sensor"
    assert by_kind["device.back"]["device"] == "room-sensor"
    answered = by_kind["checkin.answered"]
    assert (answered["source"], answered["device"], answered["slot"]) == (
        "button",
        "hall-button",
        "morning",
    )
    assert "help.requested" in by_kind
