"""MQTT: Zigbee2MQTT ingest, Home Assistant discovery, and the paho-mqtt 2.x link.

Pure parts (Zigbee2MQTT payload parsing, discovery documents) are plain functions; `MqttLink`
is the only thing that talks to the broker. paho runs its network loop in its own thread:
every handler registered with `MqttLink.route` is called from that thread.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from firmware_bridge.events import DeviceRole, PairedDevice
from firmware_bridge.roles import Z2M_ACTIONS, Observation

log = logging.getLogger(__name__)

MAX_PAYLOAD = 64 * 1024  # a Zigbee2MQTT state is < 2 KiB; bigger is not a device message
SESSION_EXPIRY_S = 7 * 24 * 3600  # broker keeps our subscriptions and QoS 1 backlog a week


@dataclass
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    base_topic: str = "zigbee2mqtt"
    client_id: str = "mimamori-gateway"
    username: str | None = None
    password: str | None = None
    discovery_prefix: str = "homeassistant"
    node_id: str = "mimamori"
    keepalive_s: int = 30
    reconnect_min_s: int = 1
    reconnect_max_s: int = 60

    @property
    def availability_topic(self) -> str:
        return f"mimamori/{self.node_id}/availability"

    def state_topic(self, object_id: str) -> str:
        return f"mimamori/{self.node_id}/{object_id}/state"


# --- Zigbee2MQTT ------------------------------------------------------------------------------


class Z2MState(BaseModel):
    """The fields we use of a Zigbee2MQTT device state; others are allowed and ignored."""

    model_config = ConfigDict(extra="allow")
    occupancy: StrictBool | None = None
    contact: StrictBool | None = None  # Zigbee2MQTT: true = closed
    water_leak: StrictBool | None = None
    action: str | None = Field(default=None, max_length=64)
    # strict: a JSON true or "50" is not a battery level
    battery: float | None = Field(default=None, ge=0, le=100, strict=True)
    temperature: float | None = Field(default=None, ge=-60, le=100, strict=True)
    humidity: float | None = Field(default=None, ge=0, le=100, strict=True)


class BadPayload(ValueError):
    """A message we must drop; str(exc) is the counter name."""


def parse_z2m_state(payload: bytes, at: datetime) -> Observation:
    if len(payload) > MAX_PAYLOAD:
        raise BadPayload("mqtt_oversize")
    try:
        raw = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise BadPayload("mqtt_not_json") from None
    if not isinstance(raw, dict):
        raise BadPayload("mqtt_not_object")
    try:
        state = Z2MState.model_validate(raw)
    except ValidationError:
        raise BadPayload("mqtt_wrong_type") from None
    readings: dict[str, float] = {}
    for key in ("battery", "temperature", "humidity"):
        value = getattr(state, key)
        if value is not None:
            readings[key] = value
    states: dict[str, bool] = {}
    if state.occupancy is not None:
        states["occupancy"] = state.occupancy
    if state.contact is not None:
        states["opening"] = not state.contact
    actions: tuple[str, ...] = ()
    if state.action:
        actions = (Z2M_ACTIONS.get(state.action, state.action),)
    return Observation(at=at, readings=readings, states=states, actions=actions, source="mqtt")


def parse_availability(payload: bytes) -> bool:
    """Zigbee2MQTT availability: legacy 'online'/'offline' or JSON {"state": "online"}."""
    text = payload.decode("utf-8", errors="replace").strip()
    if text in ("online", "offline"):
        return text == "online"
    try:
        raw = json.loads(text)
    except ValueError:
        raise BadPayload("mqtt_bad_availability") from None
    if isinstance(raw, dict) and raw.get("state") in ("online", "offline"):
        return raw["state"] == "online"
    raise BadPayload("mqtt_bad_availability")


# --- Home Assistant discovery ------------------------------------------------------------------

# (component, reading key, device_class, unit) published per BLE device role.
_ROLE_ENTITIES: dict[DeviceRole, list[tuple[str, str, str | None, str | None]]] = {
    DeviceRole.MOTION: [("binary_sensor", "motion", "motion", None)],
    DeviceRole.CONTACT: [("binary_sensor", "opening", "opening", None)],
    DeviceRole.HELP_BUTTON: [("sensor", "last_action", None, None)],
    DeviceRole.THERMOMETER: [
        ("sensor", "temperature", "temperature", "°C"),
        ("sensor", "humidity", "humidity", "%"),
    ],
    DeviceRole.GENERIC: [],
}


def _device_block(settings: MqttSettings) -> dict[str, Any]:
    return {
        "identifiers": [f"mimamori_{settings.node_id}"],
        "name": "見守りゲートウェイ",
        "manufacturer": "Mimamori",
        "model": "gateway",
    }


def discovery_config(
    settings: MqttSettings,
    component: str,
    object_id: str,
    *,
    name: str,
    value_key: str,
    state_id: str | None = None,
    device_class: str | None = None,
    unit: str | None = None,
) -> tuple[str, dict[str, Any]]:
    state_topic = settings.state_topic(state_id or object_id)
    config: dict[str, Any] = {
        "name": name,
        "unique_id": f"mimamori_{settings.node_id}_{object_id}",
        "object_id": f"mimamori_{object_id}",
        "state_topic": state_topic,
        "value_template": f"{{{{ value_json.{value_key} }}}}",
        "json_attributes_topic": state_topic,
        "availability_topic": settings.availability_topic,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": _device_block(settings),
    }
    if device_class:
        config["device_class"] = device_class
    if unit:
        config["unit_of_measurement"] = unit
    if component == "binary_sensor":
        config["payload_on"] = True
        config["payload_off"] = False
        config["value_template"] = f"{{{{ value_json.{value_key} | tojson }}}}"
    topic = f"{settings.discovery_prefix}/{component}/{settings.node_id}/{object_id}/config"
    return topic, config


def discovery_messages(
    settings: MqttSettings, devices: list[PairedDevice]
) -> list[tuple[str, dict[str, Any]]]:
    """Retained discovery configs: today's check-in state, and each BLE device's readings.

    Zigbee2MQTT devices are left out: Zigbee2MQTT publishes their discovery itself.
    """
    messages = [
        discovery_config(
            settings, "sensor", "checkin_today", name="今日の見守り確認", value_key="state"
        )
    ]
    for device in devices:
        if device.transport != "ble":
            continue
        entities = [*_ROLE_ENTITIES.get(device.role, []), ("sensor", "battery", "battery", "%")]
        for component, key, device_class, unit in entities:
            messages.append(
                discovery_config(
                    settings,
                    component,
                    f"{device.name}_{key}",
                    name=f"{device.name} {key}",
                    value_key=key,
                    state_id=device.name,
                    device_class=device_class,
                    unit=unit,
                )
            )
    return messages


# --- the paho link ---------------------------------------------------------------------------

MessageHandler = Callable[[str, bytes], None]


class MqttLink:
    """One paho-mqtt 2.x client: persistent session, QoS 1, last will, backoff reconnect.

    Handlers run on paho's network thread and must not block. A handler that raises is
    logged and counted (`on_error`), never propagated into paho.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        on_error: Callable[[str], None] = lambda name: None,
        on_connect: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self._routes: list[tuple[str, MessageHandler]] = []
        self._on_error = on_error
        self._on_connect_hook = on_connect
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # connected and every route's SUBACK is in
        self._pending_subs: set[int] = set()
        self._subs_lock = threading.RLock()  # a SUBACK may beat subscribe()'s return
        self.connect_count = 0
        self.client = self._make_client()

    def _make_client(self) -> paho.Client:
        s = self.settings
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=paho.MQTTv5,
        )
        if s.username:
            client.username_pw_set(s.username, s.password)
        client.will_set(s.availability_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(s.reconnect_min_s, s.reconnect_max_s)
        client.max_queued_messages_set(0)  # never drop our own QoS 1 publishes while offline
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_subscribe = self._handle_subscribe
        return client

    def route(self, topic_filter: str, handler: MessageHandler) -> None:
        """Subscribe (now and on every reconnect) and send matching messages to handler."""
        self._routes.append((topic_filter, handler))
        # paho matches filters with one trie for all callbacks (cheaper than our own loop).
        self.client.message_callback_add(topic_filter, self._guarded(handler))
        if self.connected.is_set():
            self._subscribe(self.client, topic_filter)

    def _subscribe(self, client: paho.Client, topic_filter: str) -> None:
        with self._subs_lock:
            self.subscribed.clear()
            result, mid = client.subscribe(topic_filter, qos=1)
            if result == paho.MQTT_ERR_SUCCESS and mid is not None:
                self._pending_subs.add(mid)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()

    def stop(self) -> None:
        if self.connected.is_set():
            info = self.client.publish(
                self.settings.availability_topic, "offline", qos=1, retain=True
            )
            info.wait_for_publish(timeout=2)
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()

    def publish_json(self, topic: str, payload: Any, *, retain: bool = False) -> None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        self.client.publish(topic, body, qos=1, retain=retain)

    def publish_bytes(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain)

    # --- paho callbacks (network thread) ---------------------------------------------------

    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("MQTT connect refused: %s", reason_code)
            return
        self.connect_count += 1
        self.connected.set()
        with self._subs_lock:
            self._pending_subs.clear()
            for topic_filter, _ in self._routes:
                self._subscribe(client, topic_filter)
            if not self._pending_subs:
                self.subscribed.set()
        client.publish(self.settings.availability_topic, "online", qos=1, retain=True)
        try:
            self._on_connect_hook()
        except Exception:
            log.exception("MQTT on_connect hook failed")
            self._on_error("mqtt_hook_error")

    def _handle_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if any(code.is_failure for code in reason_codes):
            log.warning("MQTT subscription refused: %s", reason_codes)
            self._on_error("mqtt_subscribe_refused")
        with self._subs_lock:
            self._pending_subs.discard(mid)
            if not self._pending_subs:
                self.subscribed.set()

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        self.subscribed.clear()
        log.info("MQTT disconnected (%s); paho reconnects with backoff", reason_code)

    def _guarded(self, handler: MessageHandler) -> Callable[[Any, Any, paho.MQTTMessage], None]:
        def call(client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
            try:
                handler(message.topic, message.payload)
            except Exception:
                log.exception("MQTT handler for %s failed", message.topic)
                self._on_error("mqtt_handler_error")

        return call

    def _handle_message(self, client, userdata, message: paho.MQTTMessage) -> None:
        # Only messages no route matched land here (e.g. a stale subscription of our
        # persistent session from an older configuration).
        self._on_error("mqtt_unrouted")
