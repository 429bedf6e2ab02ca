"""Real mosquitto: Zigbee2MQTT ingest, HA discovery (retained), reconnect after a restart."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware_bridge.events import DeviceSignal
from firmware_bridge.mqtt import MqttSettings
from firmware_bridge.simulate import HUMIDITY, TEMPERATURE, build_frame, service_data
from tests.bridge.conftest import MAC_THERMO
from tests.bridge.gateway_run import answer_morning_checkin


def client_for(broker) -> paho.Client:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def publish_all(broker, messages: list[tuple[str, bytes | str]]) -> None:
    client = client_for(broker)
    for topic, payload in messages:
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def retained(broker, topic_filter: str, expect: int, timeout: float = 10.0) -> dict[str, bytes]:
    """Subscribe fresh and collect retained messages (the way a new HA instance sees them)."""
    got: dict[str, bytes] = {}
    done = threading.Event()

    def on_message(client, userdata, msg):
        if msg.retain:
            got[msg.topic] = msg.payload
            if len(got) >= expect:
                done.set()

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"ha-{uuid.uuid4().hex}")
    client.on_message = on_message
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic_filter, qos=1)
    client.connect(broker.host, broker.port)
    client.loop_start()
    done.wait(timeout)
    client.loop_stop()
    client.disconnect()
    return got


def wait_until(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def settings_for(broker) -> MqttSettings:
    return MqttSettings(host=broker.host, port=broker.port, client_id=f"gw-{uuid.uuid4().hex}")


def test_zigbee2mqtt_ingest_and_bad_payloads(mosquitto_broker, make_bridge, collector) -> None:
    async def scenario() -> dict:
        bridge = make_bridge(mqtt=settings_for(mosquitto_broker))
        await bridge.start()
        try:
            await asyncio.to_thread(wait_until, bridge.link.subscribed.is_set)
            await asyncio.to_thread(
                publish_all,
                mosquitto_broker,
                [
                    ("zigbee2mqtt/kitchen pir", '{"occupancy": true, "battery": 15}'),
                    ("zigbee2mqtt/kitchen pir", '{"occupancy": false, "battery": 15}'),
                    ("zigbee2mqtt/toilet_door", '{"contact": true}'),
                    ("zigbee2mqtt/toilet_door", '{"contact": false, "linkquality": 80}'),
                    ("zigbee2mqtt/button", '{"action": "single"}'),
                    ("zigbee2mqtt/button", '{"action": "long"}'),
                    ("zigbee2mqtt/button/availability", '{"state": "offline"}'),
                    ("zigbee2mqtt/button/availability", "online"),
                    # bad input: each dropped and counted
                    ("zigbee2mqtt/kitchen pir", "not json"),
                    ("zigbee2mqtt/kitchen pir", '{"occupancy": "yes"}'),
                    ("zigbee2mqtt/kitchen pir", '{"battery": 400}'),
                    ("zigbee2mqtt/kitchen pir", "[1, 2]"),
                    ("zigbee2mqtt/kitchen pir", b"\xff\xfe"),
                    ("zigbee2mqtt/stranger", '{"occupancy": true}'),
                    ("zigbee2mqtt/button/availability", "maybe"),
                ],
            )
            await asyncio.to_thread(collector.wait_for, 7)
            await asyncio.to_thread(
                wait_until, lambda: bridge.status()["counters"].get("mqtt_messages", 0) >= 15
            )
            return bridge.status()
        finally:
            await bridge.stop()

    status = asyncio.run(scenario())
    by_device = {
        name: [e.signal for e in collector.events if e.device == name]
        for name in ("kitchen-motion", "toilet-door", "zigbee-button")
    }
    assert by_device["kitchen-motion"] == [DeviceSignal.BATTERY_LOW, DeviceSignal.ACTIVITY]
    assert by_device["toilet-door"] == [DeviceSignal.ACTIVITY]  # closed -> opened
    assert [e.data.get("kind") for e in collector.events if e.device == "toilet-door"] == ["opened"]
    assert by_device["zigbee-button"] == [
        DeviceSignal.CHECKIN_FINE,
        DeviceSignal.HELP,
        DeviceSignal.SILENT,
        DeviceSignal.BACK,
    ]
    counters = status["counters"]
    assert counters["mqtt_not_json"] == 2
    assert counters["mqtt_wrong_type"] == 2
    assert counters["mqtt_not_object"] == 1
    assert counters["mqtt_unknown_device"] == 1
    assert counters["mqtt_bad_availability"] == 1
    assert status["mqtt"] == "connected"


def test_home_assistant_discovery_is_retained(mosquitto_broker, make_bridge, tmp_path) -> None:
    settings = settings_for(mosquitto_broker)

    async def scenario() -> None:
        bridge = make_bridge(mqtt=settings)
        await bridge.start()
        await asyncio.to_thread(wait_until, bridge.link.subscribed.is_set)
        # The real daemon asks the 08:00 check-in and publishes the answer via the bridge.
        await answer_morning_checkin(tmp_path / "gateway", bridge)
        frame = build_frame([(TEMPERATURE, 24.5), (HUMIDITY, 61.0)], packet_id=1, mac=MAC_THERMO)
        bridge.feed_ble_advertisement(MAC_THERMO, service_data(frame))
        # Wait (bounded) until the broker holds every discovery config before the gateway goes.
        await asyncio.to_thread(retained, mosquitto_broker, "homeassistant/#", 10)
        await bridge.stop()

    asyncio.run(scenario())
    # The gateway is gone now; a Home Assistant starting later still sees everything.
    configs = retained(mosquitto_broker, "homeassistant/#", expect=10)
    assert len(configs) == 10  # check-in state + 9 readings of the 4 BLE devices
    checkin = json.loads(configs["homeassistant/sensor/mimamori/checkin_today/config"])
    assert checkin["availability_topic"] == "mimamori/mimamori/availability"
    assert checkin["state_topic"] == "mimamori/mimamori/checkin_today/state"
    thermo = json.loads(configs["homeassistant/sensor/mimamori/living-thermo_temperature/config"])
    assert thermo["device_class"] == "temperature" and thermo["unit_of_measurement"] == "°C"
    motion = json.loads(configs["homeassistant/binary_sensor/mimamori/living-motion_motion/config"])
    assert motion["device_class"] == "motion"
    assert not any("kitchen" in topic for topic in configs)  # Zigbee2MQTT announces its own
    assert "value_json.text" in checkin["value_template"]
    assert thermo["state_class"] == "measurement"
    state = retained(mosquitto_broker, "mimamori/mimamori/checkin_today/state", expect=1)
    published = json.loads(state["mimamori/mimamori/checkin_today/state"])
    assert published["outcome"] == "answered" and published["intent"] == "fine"
    assert published["slot"] == "morning" and published["slot_date"] == "2026-11-27"
    assert published["text"] == "11月27日 morning: 応答あり（元気）"
    thermo_state = retained(mosquitto_broker, "mimamori/mimamori/living-thermo/state", expect=1)
    reading = json.loads(thermo_state["mimamori/mimamori/living-thermo/state"])
    assert (reading["temperature"], reading["humidity"]) == (24.5, 61.0)
    availability = retained(mosquitto_broker, "mimamori/mimamori/availability", expect=1)
    assert availability["mimamori/mimamori/availability"] == b"offline"  # clean stop


def test_last_will_marks_gateway_offline_when_it_dies(mosquitto_broker, make_bridge) -> None:
    settings = settings_for(mosquitto_broker)
    settings.keepalive_s = 1

    async def scenario() -> None:
        bridge = make_bridge(mqtt=settings)
        await bridge.start()
        await asyncio.to_thread(wait_until, bridge.link.subscribed.is_set)
        assert retained(mosquitto_broker, settings.availability_topic, 1) == {
            settings.availability_topic: b"online"
        }
        # Simulate a crash: the network loop stops and the socket dies without DISCONNECT.
        bridge.link.client.loop_stop()
        bridge.link.client.socket().close()

    asyncio.run(scenario())
    wait_until(
        lambda: (
            retained(mosquitto_broker, settings.availability_topic, 1, timeout=1)
            == {settings.availability_topic: b"offline"}
        ),
        timeout=15,
    )


def test_reconnects_after_broker_restart(mosquitto_broker, make_bridge, collector) -> None:
    async def scenario() -> int:
        bridge = make_bridge(mqtt=settings_for(mosquitto_broker))
        await bridge.start()
        try:
            await asyncio.to_thread(wait_until, bridge.link.subscribed.is_set)
            await asyncio.to_thread(mosquitto_broker.restart)
            await asyncio.to_thread(wait_until, lambda: bridge.link.connect_count >= 2, 30)
            await asyncio.to_thread(
                publish_all, mosquitto_broker, [("zigbee2mqtt/kitchen pir", '{"occupancy": true}')]
            )
            await asyncio.to_thread(collector.wait_for, 1)
            return bridge.link.connect_count
        finally:
            await bridge.stop()

    assert asyncio.run(scenario()) >= 2
    assert collector.signals("kitchen-motion") == [DeviceSignal.ACTIVITY]


def test_messages_sent_while_the_gateway_is_down_arrive_after_restart(
    mosquitto_broker, make_bridge, collector
) -> None:
    """Persistent session (clean_start=False, session expiry): the broker keeps QoS 1
    messages for the gateway's client id while it is down; nothing is lost on a restart."""
    settings = settings_for(mosquitto_broker)

    async def run_once(expect_events: int) -> dict:
        bridge = make_bridge(mqtt=settings)
        await bridge.start()
        try:
            await asyncio.to_thread(wait_until, bridge.link.subscribed.is_set)
            if expect_events:
                await asyncio.to_thread(collector.wait_for, expect_events)
            return bridge.status()["counters"]
        finally:
            await bridge.stop()

    asyncio.run(run_once(0))  # creates the session, then the gateway goes away
    publish_all(
        mosquitto_broker,
        [
            ("zigbee2mqtt/kitchen pir", '{"occupancy": true}'),
            ("zigbee2mqtt/button", '{"action": "long"}'),
        ],
    )
    assert collector.events == []
    counters = asyncio.run(run_once(2))
    assert sorted(collector.signals()) == sorted([DeviceSignal.ACTIVITY, DeviceSignal.HELP])
    assert counters["mqtt_accepted"] == 2


def test_subscriptions_of_an_older_version_do_not_double_messages(
    mosquitto_broker, make_bridge, collector
) -> None:
    """An upgrade keeps the persistent session and its old `zigbee2mqtt/+` subscriptions;
    with them next to `zigbee2mqtt/#` every press would arrive twice."""
    settings = settings_for(mosquitto_broker)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    old = paho.Client(
        paho.CallbackAPIVersion.VERSION2, client_id=settings.client_id, protocol=paho.MQTTv5
    )
    old.connect(mosquitto_broker.host, mosquitto_broker.port, clean_start=False, properties=props)
    old.loop_start()
    subscribed = threading.Event()
    old.on_subscribe = lambda *args: subscribed.set()
    old.subscribe([("zigbee2mqtt/+", 1), ("zigbee2mqtt/+/availability", 1)])
    assert subscribed.wait(10)
    old.disconnect()
    old.loop_stop()

    async def scenario() -> dict:
        bridge = make_bridge(mqtt=settings)
        await bridge.start()
        try:
            await asyncio.to_thread(wait_until, bridge.link.subscribed.is_set)
            await asyncio.to_thread(
                publish_all, mosquitto_broker, [("zigbee2mqtt/button", '{"action": "long"}')]
            )
            await asyncio.to_thread(collector.wait_for, 1)
            # A second copy would be right behind the first; a marker message after it
            # proves the queue is drained.
            await asyncio.to_thread(
                publish_all, mosquitto_broker, [("zigbee2mqtt/kitchen pir", '{"occupancy": true}')]
            )
            await asyncio.to_thread(collector.wait_for, 2)
            return bridge.status()["counters"]
        finally:
            await bridge.stop()

    counters = asyncio.run(scenario())
    assert collector.signals() == [DeviceSignal.HELP, DeviceSignal.ACTIVITY]
    assert counters["mqtt_messages"] == 2
