"""DeviceBridge: BLE scanner + MQTT link + silence watchdog, feeding one DeviceEventSink.

Threads: `feed_ble_advertisement` runs on the asyncio loop (bleak's callback) or the caller's
thread (replay); Zigbee2MQTT messages arrive on paho's network thread. Device state is
guarded by one lock; the sink is called outside it, from whichever of those threads
produced the event, so the sink must be thread-safe and must not block (events.py).
A sink that raises is counted (`sink_errors`) and logged; it never reaches bleak or paho.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from firmware_bridge.bthome import (
    CounterStore,
    DropReason,
    FrameDecoder,
    ReplayGuard,
    bthome_frame,
    parse_header,
)
from firmware_bridge.events import DeviceEvent, DeviceEventSink, DeviceSignal, PairedDevice
from firmware_bridge.hermes import HermesSatellite
from firmware_bridge.mqtt import (
    CHECKIN_TEXT_KEY,
    BadPayload,
    MqttLink,
    MqttSettings,
    checkin_text,
    classify_z2m_topic,
    discovery_messages,
    parse_availability,
    parse_z2m_state,
)
from firmware_bridge.roles import MOTION_STATES, DeviceState, Observation
from mimamori_wire import DeviceHealth

log = logging.getLogger(__name__)

COUNTER_FILE = "ble_counters.json"
# Lazily persisted counter high-water marks are flushed at least this often (SD-card wear:
# periodic temperature frames need no fsync each; frames that made an event are flushed
# at once, so a reboot cannot replay a button press or a motion frame).
COUNTER_FLUSH_S = 60.0


class Scanner(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


ScannerFactory = Callable[[Callable[[Any, Any], None], str], Scanner]
AdapterProbe = Callable[[], str | None]


def bleak_scanner(callback: Callable[[Any, Any], None], mode: str) -> Scanner:
    """A bleak scanner; passive mode only listens (less radio time, needs BlueZ patterns)."""
    from bleak import BleakScanner
    from bleak.args.bluez import OrPattern
    from bleak.assigned_numbers import AdvertisementDataType

    if mode == "passive":
        pattern = OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, b"\xd2\xfc")
        return BleakScanner(callback, scanning_mode="passive", bluez={"or_patterns": [pattern]})
    return BleakScanner(callback, scanning_mode="active")


def linux_adapter_probe() -> str | None:
    """None while an HCI adapter exists; a reason once it is gone (USB dongle pulled)."""
    root = Path("/sys/class/bluetooth")
    if not sys.platform.startswith("linux") or not root.exists():
        return None  # cannot tell here; bleak errors will tell instead
    return None if any(root.glob("hci*")) else "adapter lost (no hci device)"


def _is_no_adapter(exc: BaseException) -> bool:
    if isinstance(exc, FileNotFoundError | PermissionError):
        return True  # no D-Bus socket (FACTS.md)
    with contextlib.suppress(ImportError):
        from bleak.exc import BleakDBusError, BleakError

        return isinstance(exc, BleakDBusError | BleakError)
    return False


def _bindkey(device: PairedDevice) -> bytes | None:
    """The AES key from pairing; a malformed one is a configuration error, said clearly."""
    if not device.bindkey:
        return None
    try:
        key = bytes.fromhex(device.bindkey)
    except ValueError:
        key = b""
    if len(key) != 16:
        raise ValueError(f"device {device.name!r}: bindkey must be 32 hex characters")
    return key


def _button_actions(events: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """("button", "long_press") -> "long_press"; multi-button devices say "button_2"."""
    return tuple(kind for key, kind in events if key.startswith("button"))


def _describe_no_adapter(exc: BaseException) -> str:
    """A sentence for `doctor`, not just an errno."""
    if isinstance(exc, FileNotFoundError):
        return "no D-Bus system bus (dbus not running, or no access from this container)"
    if isinstance(exc, PermissionError):
        return f"no permission to use D-Bus/BlueZ ({exc})"
    name = type(exc).__name__
    if name == "BleakDBusError":
        return f"BlueZ (bluetoothd) not available: {exc}"
    return f"{name}: {exc}"


class DeviceBridge:
    """All paired devices -> one DeviceEventSink.

    `await start()` never raises for a missing Bluetooth adapter: status()["ble"] says
    "no_adapter: <reason>" and the scanner is retried every `ble_retry_s`. The sink is called
    from the asyncio thread (BLE, watchdog) and from paho's network thread (Zigbee2MQTT):
    it must be thread-safe and must not block. `scanner_factory` and `adapter_probe` replace
    the radio in tests; everything else is the production path.
    """

    def __init__(
        self,
        devices: list[PairedDevice],
        *,
        sink: DeviceEventSink,
        state_dir: Path,
        mqtt: MqttSettings | None = None,
        ble_enabled: bool = True,
        clock: Callable[[], datetime] | None = None,
        scanner_factory: ScannerFactory = bleak_scanner,
        adapter_probe: AdapterProbe = linux_adapter_probe,
        ble_retry_s: float = 30.0,
        watchdog_interval_s: float = 30.0,
    ) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sink = sink
        self._lock = threading.RLock()
        self.counters: Counter[str] = Counter()
        started = self._clock()
        self.devices = {d.name: d for d in devices}
        self._states = {d.name: DeviceState(d, started) for d in devices}
        self._by_address = {
            d.address.upper(): d for d in devices if d.transport == "ble" and d.address
        }
        self._by_mqtt_name = {d.mqtt_name or d.name: d for d in devices if d.transport == "mqtt"}
        self._decoders = {
            d.name: FrameDecoder(_bindkey(d)) for d in devices if d.transport == "ble"
        }
        self._store = CounterStore(Path(state_dir) / COUNTER_FILE)
        self._guard = ReplayGuard(self._store)
        self._last_flush = started
        self._ble_enabled = ble_enabled
        self._ble_status = "no_adapter: scanner not started" if ble_enabled else "disabled"
        self.ble_mode: str | None = None  # "passive" or "active" while scanning
        self._scanner_factory = scanner_factory
        self._adapter_probe = adapter_probe
        self._ble_retry_s = ble_retry_s
        self._watchdog_interval_s = watchdog_interval_s
        self._tasks: list[asyncio.Task] = []
        self._checkin_state: dict | None = None
        self._last_action: dict[str, str] = {}
        self.mqtt_settings = mqtt
        self.link: MqttLink | None = None
        if mqtt is not None:
            self.link = MqttLink(mqtt, on_error=self._count, on_connect=self._announce)
            # "#": friendly names may contain "/" ("hall/motion"); routed by the paired names.
            self.link.route(f"{mqtt.base_topic}/#", self._on_z2m_message)
            # Subscriptions of versions before "#" routing, still in a persistent session.
            self.link.retire(f"{mqtt.base_topic}/+", f"{mqtt.base_topic}/+/availability")

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._ble_enabled:
            self._tasks.append(asyncio.create_task(self._ble_loop(), name="bridge-ble"))
        if self.link is not None:
            self.link.start()
        self._tasks.append(asyncio.create_task(self._watchdog_loop(), name="bridge-watchdog"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.link is not None:
            await asyncio.to_thread(self.link.stop)
        with self._lock:
            self._store.save()

    # --- reporting ------------------------------------------------------------------------------

    def status(self) -> dict:
        if self.link is None:
            mqtt = "disabled"
        else:
            mqtt = "connected" if self.link.connected.is_set() else "disconnected"
        with self._lock:
            counters = dict(self.counters)
        return {
            "ble": self._ble_status,
            "ble_mode": self.ble_mode,
            "mqtt": mqtt,
            "counters": counters,
        }

    def health(self) -> list[DeviceHealth]:
        with self._lock:
            return [
                DeviceHealth(
                    device=s.device.name,
                    role=str(s.device.role),
                    room=s.device.room,
                    battery_pct=s.battery_pct,
                    last_seen_at=s.last_seen,
                    silent=s.silent,
                )
                for s in self._states.values()
            ]

    def reset_replay_state(self, device: str) -> None:
        """Forget a device's encryption counter (re-pairing with a fresh key and counter)."""
        with self._lock:
            self._store.forget(device)
            self._store.save()

    # --- BLE ------------------------------------------------------------------------------------

    def feed_ble_advertisement(
        self,
        address: str,
        service_data: dict[str, bytes],
        rssi: int | None = None,
        name: str | None = None,
    ) -> None:
        """The single entry for BLE frames (bleak callback, tests, demo replay). Never raises."""
        try:
            events = self._process_ble(address, service_data, rssi, name)
        except Exception:
            log.exception("BLE frame from %r crashed the decoder path", address)
            self._count("ble_internal_error")
            return
        self._emit(events)

    def _drop(self, reason: DropReason | str, address: object, frame: bytes | None) -> list:
        self._count(f"ble_dropped_{reason}")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("BLE frame dropped (%s) from %r: %s", reason, address, frame and frame.hex())
        return []

    def _process_ble(
        self, address: str, service_data: dict[str, bytes], rssi: int | None, name: str | None
    ) -> list[DeviceEvent]:
        self._count("ble_frames")
        frame = bthome_frame(service_data) if isinstance(service_data, dict) else None
        if frame is None or not isinstance(address, str):
            return self._drop(DropReason.NOT_BTHOME, address, None)
        header = parse_header(frame)
        if isinstance(header, DropReason):
            return self._drop(header, address, frame)
        device = self._by_address.get(address.upper())
        if device is None and header.mac is not None:
            device = self._by_address.get(header.mac)  # devices with random private addresses
        if device is None:
            return self._drop(DropReason.UNKNOWN_DEVICE, address, frame)
        now = self._clock()
        timestamp = now.timestamp()
        with self._lock:
            verdict = self._guard.precheck_counter(device.name, header.counter)
            if verdict is None and self._guard.is_repeat(device.name, frame, timestamp):
                verdict = DropReason.DUPLICATE
            if verdict is not None:
                return self._drop(verdict, address, frame)
            decoded = self._decoders[device.name].decode(address, frame, header, name=name)
            if isinstance(decoded, DropReason):
                return self._drop(decoded, address, frame)
            verdict = self._guard.accept(device.name, decoded, timestamp, frame)
            if verdict is not None:
                return self._drop(verdict, address, frame)
            readings = decoded.readings if rssi is None else {**decoded.readings, "rssi": rssi}
            actions = _button_actions(decoded.events) if decoded.events else ()
            obs = Observation(at=now, readings=readings, states=decoded.states, actions=actions)
            events = self._states[device.name].observe(obs)
            self.counters["ble_accepted"] += 1
            self._persist_counter(decoded.counter is not None, events, now)
            state = self._ha_state(device.name, actions)
        self._publish_state(device.name, state)
        return events

    def _persist_counter(self, encrypted: bool, events: list[DeviceEvent], now: datetime) -> None:
        meaningful = any(e.signal is not DeviceSignal.READING for e in events)
        due = (now - self._last_flush).total_seconds() >= COUNTER_FLUSH_S
        if encrypted and (meaningful or due):
            self._flush_counters(now)

    def _flush_counters(self, now: datetime) -> None:
        try:
            self._store.save()
        except OSError:
            log.exception("cannot persist BLE counters")
            self.counters["counter_store_errors"] += 1
        self._last_flush = now

    async def _ble_loop(self) -> None:
        while True:
            try:
                scanner = await self._start_scanner()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not _is_no_adapter(exc):
                    log.warning("BLE scanner failed to start: %r", exc)
                self._ble_status = f"no_adapter: {_describe_no_adapter(exc)}"
                self.ble_mode = None
                self._count("ble_adapter_retries")
                await asyncio.sleep(self._ble_retry_s)
                continue
            try:
                reason = await self._watch_adapter()
                self._ble_status, self.ble_mode = f"no_adapter: {reason}", None
                log.warning("BLE %s; retrying every %.0f s", reason, self._ble_retry_s)
            finally:
                with contextlib.suppress(Exception):
                    await scanner.stop()

    async def _start_scanner(self) -> Scanner:
        try:
            scanner = self._scanner_factory(self._on_bleak, "passive")
            await scanner.start()
            self._ble_status, self.ble_mode = "ok", "passive"
            return scanner
        except Exception as exc:
            if isinstance(exc, FileNotFoundError):
                raise  # no D-Bus at all: active mode cannot work either
            log.info("passive BLE scanning unavailable (%r); using active scanning", exc)
        scanner = self._scanner_factory(self._on_bleak, "active")
        await scanner.start()
        self._ble_status, self.ble_mode = "ok", "active"
        return scanner

    async def _watch_adapter(self) -> str:
        while True:
            await asyncio.sleep(self._ble_retry_s)
            reason = self._adapter_probe()
            if reason:
                return reason

    def _on_bleak(self, device: Any, adv: Any) -> None:
        self.feed_ble_advertisement(
            getattr(device, "address", ""),
            dict(getattr(adv, "service_data", {}) or {}),
            getattr(adv, "rssi", None),
            getattr(adv, "local_name", None),
        )

    # --- MQTT (paho network thread) ------------------------------------------------------------

    def _on_z2m_message(self, topic: str, payload: bytes) -> None:
        self._count("mqtt_messages")
        assert self.mqtt_settings is not None
        kind, name = classify_z2m_topic(self.mqtt_settings.base_topic, topic, self._by_mqtt_name)
        if not payload and kind in ("state", "availability"):
            kind = "ignored"  # a retained message cleared (device renamed or removed)
        if kind == "state":
            self._on_z2m_state(self._by_mqtt_name[name], topic, payload)
        elif kind == "availability":
            self._on_z2m_availability(self._by_mqtt_name[name], payload)
        elif kind == "ignored":
            self._count("mqtt_ignored")
        else:
            self._count("mqtt_unknown_device")
            log.debug("MQTT message from unpaired device %r dropped", name)

    def _on_z2m_state(self, device: PairedDevice, topic: str, payload: bytes) -> None:
        try:
            obs = parse_z2m_state(payload, self._clock(), device.options.get("action_map"))
        except BadPayload as exc:
            self._count(str(exc))
            log.debug("MQTT payload dropped (%s) on %s: %r", exc, topic, payload[:200])
            return
        for raw in obs.unknown_actions:
            # A pressed button that does nothing is a bug someone must see.
            self._count("mqtt_unknown_action")
            log.warning(
                "device %r sent action %r that no rule knows; counted as activity only "
                "(map it with the device's action_map option)",
                device.name,
                raw,
            )
        with self._lock:
            events = self._states[device.name].observe(obs)
            self.counters["mqtt_accepted"] += 1
        self._emit(events)

    def _on_z2m_availability(self, device: PairedDevice, payload: bytes) -> None:
        try:
            online = parse_availability(payload)
        except BadPayload as exc:
            self._count(str(exc))
            return
        now = self._clock()
        with self._lock:
            state = self._states[device.name]
            if online and state.silent:
                events = state.observe(Observation(at=now, source="mqtt"))
            elif not online and not state.silent:
                events = [state.mark_silent(now, reason="zigbee2mqtt_offline")]
            else:
                events = []
        self._emit(events)

    def _announce(self) -> None:
        """On every (re)connect: retained HA discovery configs and the last check-in state."""
        assert self.link is not None and self.mqtt_settings is not None
        for topic, config in discovery_messages(self.mqtt_settings, list(self.devices.values())):
            self.link.publish_json(topic, config, retain=True)
        if self._checkin_state is not None:
            self.publish_checkin_state(self._checkin_state)

    def publish_checkin_state(self, state: dict) -> None:
        """Today's check-in for Home Assistant: the gateway's fields plus the sentence HA
        shows (`text`, see mqtt.checkin_text), retained."""
        self._checkin_state = {**state, CHECKIN_TEXT_KEY: checkin_text(state)}
        if self.link is None or self.mqtt_settings is None:
            return
        topic = self.mqtt_settings.state_topic("checkin_today")
        self.link.publish_json(topic, self._checkin_state, retain=True)

    def _ha_state(self, device: str, actions: Iterable[str]) -> dict[str, Any] | None:
        for action in actions:
            self._last_action[device] = action
        return None if self.link is None else self._state_doc(device)

    def latest(self, device: str) -> dict[str, Any]:
        """What the bridge knows of a device now: the JSON it publishes as its state."""
        with self._lock:
            return self._state_doc(device)

    def _state_doc(self, device: str) -> dict[str, Any]:
        s = self._states[device]
        state: dict[str, Any] = {k: v for k, v in s.last_readings.items() if k != "rssi"}
        state.update(s.last_states)
        state["motion"] = any(s.last_states.get(k) for k in MOTION_STATES)
        state["last_action"] = self._last_action.get(device)
        return state

    def _publish_state(self, device: str, state: dict[str, Any] | None) -> None:
        if state is not None and self.link is not None and self.mqtt_settings is not None:
            self.link.publish_json(self.mqtt_settings.state_topic(device), state, retain=True)

    # --- watchdog ---------------------------------------------------------------------------------

    def run_watchdog_once(self) -> list[DeviceEvent]:
        """Silence check + lazy counter flush; the timer calls this, tests may too."""
        now = self._clock()
        with self._lock:
            events = [e for s in self._states.values() for e in s.check_silence(now)]
            self._flush_counters(now)
        self._emit(events)
        return events

    async def _watchdog_loop(self) -> None:
        while True:
            await asyncio.sleep(self._watchdog_interval_s)
            try:
                self.run_watchdog_once()
            except Exception:
                log.exception("watchdog tick failed")
                self._count("watchdog_errors")

    # --- plumbing --------------------------------------------------------------------------------

    def _count(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    def _emit(self, events: list[DeviceEvent]) -> None:
        for event in events:
            try:
                self._sink(event)
            except Exception:
                log.exception("device event sink failed for %s", event)
                self._count("sink_errors")
                continue
            self._count("events_emitted")

    # --- satellites -----------------------------------------------------------------------------

    def hermes_satellite(self, site_id: str) -> HermesSatellite:
        """A Hermes audio-server endpoint for one satellite; call inside the running loop."""
        if self.link is None:
            raise RuntimeError("Hermes satellites need MQTT settings")
        return HermesSatellite(self.link, site_id)
