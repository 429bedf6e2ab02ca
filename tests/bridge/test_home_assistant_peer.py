"""Home Assistant's own code reads what the running bridge and gateway daemon publish.

A real Home Assistant 2024.1 core (its MQTT integration, discovery, template engine and
payload comparison; tests/bridge/peers/ha_peer.py in the separate .venv-peers made by
scripts/peers_venv.sh) connects to the same mosquitto as a running DeviceBridge. The test
drives the gateway daemon through a morning check-in and feeds BLE frames into the bridge,
then asserts the state Home Assistant itself shows for every entity the gateway announces.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge.simulate import (
    BATTERY,
    BUTTON,
    BUTTON_PRESS,
    HUMIDITY,
    MOTION,
    OPENING,
    TEMPERATURE,
    build_frame,
    service_data,
)
from tests.bridge.conftest import BINDKEY, MAC_BUTTON, MAC_DOOR, MAC_MOTION, MAC_THERMO
from tests.bridge.gateway_run import answer_morning_checkin
from tests.bridge.test_mqtt_broker import retained, settings_for, wait_until
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
PEERS_VENV = ROOT / ".venv-peers"
HA_PEER = Path(__file__).parent / "peers" / "ha_peer.py"
# Loggers whose warnings mean HA could not read something we publish.
READ_PROBLEMS = ("homeassistant.components.mqtt", "homeassistant.helpers.template")
HA_TIMEOUT_S = 30.0


@pytest.fixture(scope="session")
def ha_python() -> Path:
    """.venv-peers/bin/python with Home Assistant, made once (make test does it first)."""
    try:
        subprocess.run(
            [str(ROOT / "scripts" / "peers_venv.sh")],
            check=True,
            capture_output=True,
            text=True,
            timeout=1200,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        tail = (getattr(exc, "stderr", None) or str(exc))[-2000:]
        message = f"cannot create .venv-peers (Home Assistant 2024.1.6 from PyPI): {tail}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return PEERS_VENV / "bin" / "python"


class HomeAssistant:
    """The ha_peer.py process: its state-change lines, collected by a reader thread."""

    def __init__(self, python: Path, host: str, port: int, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self._stderr = (workdir / "home-assistant.stderr").open("w")
        self.proc = subprocess.Popen(
            [
                *(str(python), str(HA_PEER), "--host", host, "--port", str(port)),
                *("--http-port", str(free_port()), "--config-dir", str(workdir / "config")),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
        )
        self.ready = False
        self.states: dict[str, dict[str, Any]] = {}  # unique_id -> last state line
        self.logs: list[dict[str, Any]] = []
        self.validated: list[dict[str, Any]] | None = None
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            item = json.loads(line)
            with self._cond:
                if "ready" in item:
                    self.ready = True
                elif "log" in item:
                    self.logs.append(item)
                elif "validated" in item:
                    self.validated = item["validated"]
                elif item.get("unique_id"):
                    self.states[item["unique_id"]] = item
                self._cond.notify_all()

    def wait(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + HA_TIMEOUT_S
        with self._cond:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    shown = {k: v["state"] for k, v in self.states.items()}
                    raise AssertionError(f"Home Assistant never showed {what}: {shown}")
                self._cond.wait(min(left, 0.5))

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._cond:
            return dict(self.states)

    def state(self, unique_id: str) -> str | None:
        item = self.states.get(unique_id)
        return None if item is None else item["state"]

    def wait_state(self, object_id: str, expected: str) -> dict[str, Any]:
        unique_id = f"mimamori_mimamori_{object_id}"
        self.wait(lambda: self.state(unique_id) == expected, f"{object_id} = {expected!r}")
        return self.states[unique_id]

    def validate(self, messages: dict[str, bytes]) -> list[dict[str, Any]]:
        assert self.proc.stdin is not None
        self.validated = None
        pairs = [[topic, body.decode()] for topic, body in messages.items()]
        self.proc.stdin.write(json.dumps({"validate": pairs}) + "\n")
        self.proc.stdin.flush()
        self.wait(lambda: self.validated is not None, "its validation answer")
        assert self.validated is not None
        return self.validated

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


@pytest.fixture
def home_assistant(ha_python: Path, mosquitto_broker, tmp_path: Path) -> Iterator[HomeAssistant]:
    ha = HomeAssistant(ha_python, mosquitto_broker.host, mosquitto_broker.port, tmp_path / "ha")
    try:
        ha.wait(lambda: ha.ready, "its start")
        yield ha
    finally:
        ha.stop()


def _feed(bridge: Any, mac: str, objects: list, **build: Any) -> None:
    frame = build_frame(objects, mac=mac, **build)
    bridge.feed_ble_advertisement(mac, service_data(frame))


def test_home_assistant_shows_every_entity_the_gateway_publishes(
    home_assistant: HomeAssistant, mosquitto_broker, make_bridge, tmp_path: Path
) -> None:
    ha = home_assistant
    settings = settings_for(mosquitto_broker)

    async def scenario() -> tuple[dict[str, bytes], dict[str, dict[str, Any]]]:
        bridge = make_bridge(mqtt=settings)
        await bridge.start()
        try:
            await asyncio.to_thread(wait_until, bridge.link.subscribed.is_set)
            configs = await asyncio.to_thread(retained, mosquitto_broker, "homeassistant/#", 10)
            unique_ids = [json.loads(c)["unique_id"] for c in configs.values()]
            # Every announced entity exists and is available, with no state yet.
            await asyncio.to_thread(
                ha.wait,
                lambda: all(ha.state(u) == "unknown" for u in unique_ids),
                "all entities available",
            )
            await answer_morning_checkin(tmp_path / "gateway", bridge)  # the real daemon
            checkin = "11月27日 morning: 応答あり（元気）"
            await asyncio.to_thread(ha.wait_state, "checkin_today", checkin)
            _feed(bridge, MAC_MOTION, [(BATTERY, 90), (MOTION, 1)], packet_id=1)
            await asyncio.to_thread(ha.wait_state, "living-motion_motion", "on")
            _feed(bridge, MAC_MOTION, [(MOTION, 0)], packet_id=2)
            await asyncio.to_thread(ha.wait_state, "living-motion_motion", "off")
            _feed(bridge, MAC_DOOR, [(OPENING, 1)], bindkey=BINDKEY, counter=1)
            await asyncio.to_thread(ha.wait_state, "front-door_opening", "on")
            _feed(bridge, MAC_DOOR, [(BATTERY, 55), (OPENING, 0)], bindkey=BINDKEY, counter=2)
            await asyncio.to_thread(ha.wait_state, "front-door_opening", "off")
            _feed(bridge, MAC_THERMO, [(BATTERY, 70), (TEMPERATURE, 24.5), (HUMIDITY, 61.0)])
            await asyncio.to_thread(ha.wait_state, "living-thermo_temperature", "24.5")
            _feed(bridge, MAC_BUTTON, [(BATTERY, 80)], bindkey=BINDKEY, counter=4)
            await asyncio.to_thread(ha.wait_state, "help-button_last_action", "none")
            _feed(bridge, MAC_BUTTON, [(BUTTON, BUTTON_PRESS)], bindkey=BINDKEY, counter=5)
            await asyncio.to_thread(ha.wait_state, "help-button_last_action", "press")
            return configs, ha.snapshot()
        finally:
            await bridge.stop()

    configs, live = asyncio.run(scenario())  # live: what HA showed while the gateway ran

    # (a) every discovery document passes HA's own platform schema, as HA reads it.
    results = ha.validate(configs)
    assert [r for r in results if not r["ok"]] == []
    binary = [r["config"] for r in results if "/binary_sensor/" in r["topic"]]
    assert binary and all((c["payload_on"], c["payload_off"]) == ("ON", "OFF") for c in binary)

    # (b) the state HA shows for each entity, with units and statistics where HA expects them.
    def shown(object_id: str) -> dict[str, Any]:
        return live[f"mimamori_mimamori_{object_id}"]

    humidity = shown("living-thermo_humidity")
    assert float(humidity["state"]) == 61.0
    assert humidity["attributes"]["unit_of_measurement"] == "%"
    temperature = shown("living-thermo_temperature")["attributes"]
    assert temperature["unit_of_measurement"] == "°C"
    for object_id, level in [
        ("living-motion_battery", 90),
        ("front-door_battery", 55),
        ("living-thermo_battery", 70),
        ("help-button_battery", 80),
    ]:
        item = shown(object_id)
        assert float(item["state"]) == level, object_id
        assert item["attributes"]["device_class"] == "battery"
        assert item["attributes"]["state_class"] == "measurement"
    for object_id in ("living-thermo_temperature", "living-thermo_humidity"):
        assert shown(object_id)["attributes"]["state_class"] == "measurement"
    checkin = shown("checkin_today")["attributes"]
    assert (checkin["outcome"], checkin["intent"], checkin["slot_date"]) == (
        "answered",
        "fine",
        "2026-11-27",
    )
    # The gateway stopped cleanly: its availability says offline, HA shows every entity so.
    ha.wait(
        lambda: all(
            ha.state(json.loads(c)["unique_id"]) == "unavailable" for c in configs.values()
        ),
        "all entities unavailable after the gateway stopped",
    )
    problems = [log for log in ha.logs if log["logger"].startswith(READ_PROBLEMS)]
    assert problems == []
