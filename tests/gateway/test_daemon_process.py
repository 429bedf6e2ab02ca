"""`mimamori-gateway run` as a real process: real cloud (uvicorn), real mosquitto,
sd_notify on a real datagram socket, SIGTERM, and `mimamori-gateway status`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt

from firmware_bridge.events import DeviceRole, PairedDevice
from gateway.config import MqttSettings, save_config
from tests.gateway.conftest import Enrolled, enroll, make_settings

BIN = Path(sys.executable).parent / "mimamori-gateway"


def wait_until(predicate, timeout_s: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def kinds_at(cloud: Enrolled) -> list[str]:
    return [e["kind"] for e in cloud.stored_events()]


def publish(broker, topic: str, payload: dict) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def test_daemon_with_cloud_and_mosquitto(gateway_cloud, mosquitto_broker, tmp_path: Path) -> None:
    cloud = enroll(gateway_cloud)
    settings = make_settings(
        tmp_path,
        cloud_url=cloud.base_url,
        token=cloud.token,
        gateway_id=cloud.gateway_id,
        household_id=cloud.household_id,
        heartbeat_interval_s=1,
        mqtt=MqttSettings(host=mosquitto_broker.host, port=mosquitto_broker.port),
        devices=[
            PairedDevice(name="button", transport="mqtt", role=DeviceRole.HELP_BUTTON),
            PairedDevice(
                name="living-motion", transport="mqtt", role=DeviceRole.MOTION, room="living"
            ),
        ],
    )
    config = tmp_path / "gateway.json"
    save_config(settings, config)
    notify_path = tmp_path / "notify.sock"
    notify_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_sock.bind(str(notify_path))
    notify_sock.settimeout(20)
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "2000000"}
    env.pop("WATCHDOG_PID", None)
    log_path = tmp_path / "gateway.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(BIN), "run", "--config", str(config)], env=env, stdout=log, stderr=log
        )
    try:
        messages = []
        while "READY=1" not in messages:
            messages.append(notify_sock.recv(256).decode())
        while "WATCHDOG=1" not in messages:
            messages.append(notify_sock.recv(256).decode())

        wait_until(lambda: "gateway.started" in kinds_at(cloud), what="gateway.started")
        publish(mosquitto_broker, "zigbee2mqtt/button", {"action": "long", "battery": 80})
        wait_until(lambda: "help.requested" in kinds_at(cloud), what="help from the button")
        publish(mosquitto_broker, "zigbee2mqtt/living-motion", {"occupancy": True, "battery": 9})
        wait_until(lambda: "device.battery_low" in kinds_at(cloud), what="battery low")
        publish(mosquitto_broker, "zigbee2mqtt/living-motion", "garbage")  # type: ignore[arg-type]

        command_id = str(uuid.uuid4())
        conn = sqlite3.connect(cloud.db_path())
        conn.execute(
            "INSERT INTO commands (id, household_id, kind, payload, issued_at) VALUES (?,?,?,?,?)",
            (command_id, cloud.household_id, "reload_config", "{}", datetime.now(UTC).isoformat()),
        )
        conn.commit()
        conn.close()
        done = wait_until(
            lambda: [
                e
                for e in cloud.stored_events()
                if e["kind"] == "command.done" and e["payload"]["command_id"] == command_id
            ],
            what="command.done",
        )
        assert done[0]["payload"]["ok"] is True

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        while "STOPPING=1" not in messages:
            messages.append(notify_sock.recv(256).decode())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        notify_sock.close()
    help_event = next(e for e in cloud.stored_events() if e["kind"] == "help.requested")
    assert help_event["payload"]["source"] == "button"
    assert help_event["payload"]["device"] == "button"

    status = subprocess.run(
        [str(BIN), "status", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(status.stdout)
    assert info["daemon_running"] is False
    assert info["outbox_depth_now"] == 0
    assert {d["device"] for d in info["devices"]} == {"button", "living-motion"}
    assert info["uplink"]["events_sent"] >= 4
    # Clean SIGTERM: the next start will report previous_shutdown = clean.
    state = json.loads((settings.data_dir / "state.json").read_text())
    assert state["state"]["1"]["running"] is False
