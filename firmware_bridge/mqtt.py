"""MQTT: Zigbee2MQTT ingest, Home Assistant discovery, and the paho-mqtt 2.x link.

Pure parts (Zigbee2MQTT payload parsing, discovery documents) are plain functions; `MqttLink`
is the only thing that talks to the broker. paho runs its network loop in its own thread:
every handler registered with `MqttLink.route` is called from that thread.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from firmware_bridge.events import DeviceRole, PairedDevice
from firmware_bridge.roles import IGNORE, Observation, z2m_action

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


def parse_z2m_state(
    payload: bytes, at: datetime, action_map: Mapping[str, str] | None = None
) -> Observation:
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
    unknown: tuple[str, ...] = ()
    if state.action:
        action = z2m_action(state.action, action_map)
        if action is None:
            unknown = (state.action,)
        elif action != IGNORE:
            actions = (action,)
    return Observation(
        at=at,
        readings=readings,
        states=states,
        actions=actions,
        source="mqtt",
        unknown_actions=unknown,
    )


class Z2MTopic(NamedTuple):
    """What a message under the Zigbee2MQTT base topic is, and for which paired name."""

    kind: str  # "state", "availability", "ignored" (bridge/, set, get, action) or "unknown"
    name: str  # the friendly name (may contain "/"), or the topic rest when unknown


_Z2M_COMMAND_SUFFIXES = ("set", "get")  # requests to Zigbee2MQTT, not device reports


def classify_z2m_topic(base_topic: str, topic: str, known: Container[str]) -> Z2MTopic:
    """Route `<base>/<friendly name>[/suffix]` by the paired names (names may contain "/").

    The longest paired name that the topic starts with wins, so `hall/motion/availability`
    is the availability of `hall/motion`, not the state of `hall/motion/availability`.
    """
    rest = topic[len(base_topic) + 1 :]
    if rest in known:
        return Z2MTopic("state", rest)
    parts = rest.split("/")
    for cut in range(len(parts) - 1, 0, -1):
        name = "/".join(parts[:cut])
        if name not in known:
            continue
        suffix = parts[cut:]
        if suffix == ["availability"]:
            return Z2MTopic("availability", name)
        if suffix[0] in _Z2M_COMMAND_SUFFIXES or suffix == ["action"]:
            # "<name>/action" repeats the "action" field of the state message we already use
            return Z2MTopic("ignored", name)
    if parts[0] == "bridge":
        return Z2MTopic("ignored", rest)  # Zigbee2MQTT's own state, devices, logs, requests
    return Z2MTopic("unknown", rest)


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


@dataclass(frozen=True)
class Entity:
    """One Home Assistant entity read from a device's state JSON."""

    component: str  # "sensor" or "binary_sensor"
    key: str  # the key in the state JSON
    device_class: str | None = None
    unit: str | None = None
    state_class: str | None = None  # "measurement": HA keeps long-term statistics


_TEMPERATURE = Entity("sensor", "temperature", "temperature", "°C", "measurement")
_HUMIDITY = Entity("sensor", "humidity", "humidity", "%", "measurement")
_BATTERY = Entity("sensor", "battery", "battery", "%", "measurement")
_ROLE_ENTITIES: dict[DeviceRole, list[Entity]] = {
    DeviceRole.MOTION: [Entity("binary_sensor", "motion", "motion")],
    DeviceRole.CONTACT: [Entity("binary_sensor", "opening", "opening")],
    DeviceRole.HELP_BUTTON: [Entity("sensor", "last_action")],
    DeviceRole.THERMOMETER: [_TEMPERATURE, _HUMIDITY],
    DeviceRole.GENERIC: [],
}

# HA compares the rendered template, as a string, with payload_on / payload_off. A key the
# state does not hold yet renders "" (HA ignores an empty result: the entity stays unknown).
BINARY_ON, BINARY_OFF = "ON", "OFF"


def sensor_template(key: str) -> str:
    """A reading that a device's frames have not carried yet renders "" (HA keeps the entity
    as it was) instead of an undefined-variable warning on every message."""
    return f"{{% if value_json.{key} is defined %}}{{{{ value_json.{key} }}}}{{% endif %}}"


def binary_template(key: str) -> str:
    return (
        f"{{% if value_json.{key} is defined %}}"
        f"{{{{ '{BINARY_ON}' if value_json.{key} else '{BINARY_OFF}' }}}}{{% endif %}}"
    )


def _device_block(settings: MqttSettings) -> dict[str, Any]:
    return {
        "identifiers": [f"mimamori_{settings.node_id}"],
        "name": "見守りゲートウェイ",
        "manufacturer": "Mimamori",
        "model": "gateway",
    }


def discovery_config(
    settings: MqttSettings,
    object_id: str,
    entity: Entity,
    *,
    name: str,
    state_id: str | None = None,
    value_template: str | None = None,
) -> tuple[str, dict[str, Any]]:
    state_topic = settings.state_topic(state_id or object_id)
    config: dict[str, Any] = {
        "name": name,
        "unique_id": f"mimamori_{settings.node_id}_{object_id}",
        "object_id": f"mimamori_{object_id}",
        "state_topic": state_topic,
        "value_template": value_template or sensor_template(entity.key),
        "json_attributes_topic": state_topic,
        "availability_topic": settings.availability_topic,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": _device_block(settings),
    }
    if entity.device_class:
        config["device_class"] = entity.device_class
    if entity.unit:
        config["unit_of_measurement"] = entity.unit
    if entity.state_class:
        config["state_class"] = entity.state_class
    if entity.component == "binary_sensor":
        config["payload_on"] = BINARY_ON
        config["payload_off"] = BINARY_OFF
        config["value_template"] = binary_template(entity.key)
    topic = f"{settings.discovery_prefix}/{entity.component}/{settings.node_id}/{object_id}/config"
    return topic, config


CHECKIN_OBJECT_ID = "checkin_today"
CHECKIN_TEXT_KEY = "text"  # the Japanese sentence HA shows; the other keys are attributes
_LAST_ACTION_TEMPLATE = "{{ value_json.last_action or 'none' }}"


def discovery_messages(
    settings: MqttSettings, devices: list[PairedDevice]
) -> list[tuple[str, dict[str, Any]]]:
    """Retained discovery configs: today's check-in state, and each BLE device's readings.

    Zigbee2MQTT devices are left out: Zigbee2MQTT publishes their discovery itself.
    """
    messages = [
        discovery_config(
            settings,
            CHECKIN_OBJECT_ID,
            Entity("sensor", CHECKIN_TEXT_KEY),
            name="今日の見守り確認",
        )
    ]
    for device in devices:
        if device.transport != "ble":
            continue
        for entity in [*_ROLE_ENTITIES.get(device.role, []), _BATTERY]:
            template = _LAST_ACTION_TEMPLATE if entity.key == "last_action" else None
            messages.append(
                discovery_config(
                    settings,
                    f"{device.name}_{entity.key}",
                    entity,
                    name=f"{device.name} {entity.key}",
                    state_id=device.name,
                    value_template=template,
                )
            )
    return messages


# --- today's check-in, as Home Assistant shows it ---------------------------------------------

HA_STATE_MAX = 255  # Home Assistant refuses longer states
_OUTCOME_TEXT = {
    "answered": "応答あり",
    "button": "ボタンで応答",
    "help": "助けを求めています",
    "callback": "電話がほしい",
    "trouble": "困りごとあり",
    "no_response": "応答なし",
    "paused": "お休み中（確認なし）",
}
_INTENT_TEXT = {
    "fine": "元気",
    "usual": "いつも通り",
    "unwell": "元気がない",
    "yes": "はい",
    "no": "いいえ",
}


def checkin_text(state: Mapping[str, Any]) -> str:
    """The sentence for the check-in sensor, from what the gateway publishes
    ({"slot", "slot_date", "outcome", "intent", "at"}), e.g. "11月27日 morning: 応答あり（元気）".
    The day is in it: the sensor keeps the last check-in, which after midnight is yesterday's."""
    outcome = str(state.get("outcome") or "")
    text = _OUTCOME_TEXT.get(outcome, outcome or "不明")
    intent = _INTENT_TEXT.get(str(state.get("intent") or ""))
    if intent and outcome == "answered":
        text = f"{text}（{intent}）"
    slot = state.get("slot")
    if slot:
        text = f"{slot}: {text}"
    try:
        day = date.fromisoformat(str(state.get("slot_date")))
    except ValueError:
        pass
    else:
        text = f"{day.month}月{day.day}日 {text}"
    return text[:HA_STATE_MAX]


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
        self._retired: list[str] = []
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
        client.on_unsubscribe = self._handle_unsubscribe
        return client

    def retire(self, *topic_filters: str) -> None:
        """Filters an older version subscribed in our persistent session. They are dropped on
        every connect: overlapping subscriptions would deliver each message twice (a button
        press counted twice)."""
        self._retired.extend(topic_filters)

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
            if self._retired:
                result, mid = client.unsubscribe(list(self._retired))
                if result == paho.MQTT_ERR_SUCCESS and mid is not None:
                    self._pending_subs.add(mid)
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

    def _handle_unsubscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        # "No subscription existed" is the usual answer for a retired filter: not an error.
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
