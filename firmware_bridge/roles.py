"""What a device's readings mean for the resident, by the role set at pairing. Pure.

Both transports end here: a decoded BTHome frame and a Zigbee2MQTT state message become an
`Observation`, and a `DeviceState` (one per paired device) turns observations into
DeviceEvents. The silence watchdog lives here too, driven by the service's timer.

Options (PairedDevice.options), all optional:
  help_button:  fine_actions ["press"], help_actions ["long_press", "triple_press", "hold_press"]
  any button:   action_map {"<Zigbee2MQTT action>": "<event name>" | "ignore"}, e.g.
                {"single_right": "long_press"} makes the right key of a two-key switch the help key
  thermometer:  heat_c 28.0, heat_span_s 1800, cold_c 18.0, cold_span_s 3600, hysteresis_c 1.0,
                reading_every_s 600
  any role:     battery_low_pct 20
Defaults: 28 C follows the Japanese Ministry of the Environment's heat-stroke guidance for
rooms; 18 C is the WHO minimum indoor temperature for older people.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from firmware_bridge.events import DeviceEvent, DeviceRole, DeviceSignal, PairedDevice

PRESS_ACTIONS = frozenset(
    {
        "press",
        "double_press",
        "triple_press",
        "quadruple_press",
        "many_press",
        "long_press",
        "long_double_press",
        "long_triple_press",
        "hold_press",
    }
)
MOTION_STATES = ("motion", "occupancy", "presence", "moving")
CONTACT_STATES = ("opening", "door", "window", "garage_door")

# Zigbee2MQTT action names (they vary by vendor) -> BTHome event names. Keys of multi-key
# devices carry a suffix or prefix (Aqara "single_left", "double_both"; Tuya "1_single"):
# `z2m_action` strips it, so every key acts alike unless the device's `action_map` says more.
Z2M_ACTIONS = {
    "single": "press",
    "click": "press",
    "press": "press",
    "on": "press",  # IKEA E1743 / Styrbar keys
    "off": "press",
    "double": "double_press",
    "triple": "triple_press",
    "quadruple": "quadruple_press",
    "many": "many_press",
    "long": "long_press",
    "hold": "hold_press",
    "long_press": "long_press",
}
# End-of-gesture messages that follow an action already counted (hold ... release).
Z2M_FOLLOW_UPS = frozenset({"release", "hold_release", "long_release", "brightness_stop"})
IGNORE = "ignore"


def z2m_action(raw: str, action_map: Mapping[str, str] | None = None) -> str | None:
    """A Zigbee2MQTT action as a BTHome event name, "ignore", or None when unknown.

    The device's own `action_map` wins (a value that is no event name counts as unknown,
    so a typo there is seen); then the vendor names above, also with a key name around
    them ("single_left", "left_single", "1_double", "button_2_hold").
    """
    if action_map and raw in action_map:
        mapped = str(action_map[raw])
        return mapped if mapped in PRESS_ACTIONS or mapped == IGNORE else None
    if raw in Z2M_ACTIONS:
        return Z2M_ACTIONS[raw]
    if raw in Z2M_FOLLOW_UPS:
        return IGNORE
    parts = raw.split("_")
    if len(parts) < 2:
        return None
    for word in (parts[0], parts[-1]):
        if word in Z2M_ACTIONS:
            return Z2M_ACTIONS[word]
        if word in Z2M_FOLLOW_UPS:
            return IGNORE
    return None


DEFAULT_FINE_ACTIONS = ("press",)
DEFAULT_HELP_ACTIONS = ("long_press", "triple_press", "hold_press")


@dataclass(frozen=True, slots=True)
class Observation:
    """One message from a device, transport-neutral."""

    at: datetime
    readings: Mapping[str, float | int | str] = field(default_factory=dict)
    states: Mapping[str, bool] = field(default_factory=dict)  # opening True = open
    actions: tuple[str, ...] = ()  # BTHome event names: press, long_press, ...
    source: str = "ble"
    unknown_actions: tuple[str, ...] = ()  # pressed, but no name we know: still a sign of life


def _float_option(options: Mapping[str, Any], key: str, default: float) -> float:
    value = options.get(key, default)
    return float(value) if isinstance(value, int | float) else default


@dataclass
class _Span:
    """A condition that must hold continuously for a span before it alerts, once."""

    since: datetime | None = None
    alerted: bool = False

    def update(self, holds: bool, rearm: bool, at: datetime, span_s: float) -> bool:
        if not holds:
            self.since = None
            if rearm:
                self.alerted = False
            return False
        if self.since is None:
            self.since = at
        if self.alerted or (at - self.since).total_seconds() < span_s:
            return False
        self.alerted = True
        return True


class DeviceState:
    """The per-device memory the role rules need: last states, spans, silence."""

    def __init__(self, device: PairedDevice, started_at: datetime) -> None:
        self.device = device
        self.options = device.options
        # Thresholds read once: observe() runs for every frame (tens of thousands a second).
        opts = self.options
        self.battery_low_pct = _float_option(opts, "battery_low_pct", 20)
        self.heat_c = _float_option(opts, "heat_c", 28.0)
        self.cold_c = _float_option(opts, "cold_c", 18.0)
        self.hysteresis_c = _float_option(opts, "hysteresis_c", 1.0)
        self.heat_span_s = _float_option(opts, "heat_span_s", 1800)
        self.cold_span_s = _float_option(opts, "cold_span_s", 3600)
        self.reading_every = timedelta(seconds=_float_option(opts, "reading_every_s", 600))
        self.started_at = started_at
        self.last_seen: datetime | None = None
        self.silent = False
        self.battery_pct: int | None = None
        self.battery_alerted = False
        self.last_readings: dict[str, float | int | str] = {}
        self.last_states: dict[str, bool] = {}
        self._last_reading_event: datetime | None = None
        self._heat = _Span()
        self._cold = _Span()

    # --- building events ----------------------------------------------------------------

    def _event(self, signal: DeviceSignal, at: datetime, **data: Any) -> DeviceEvent:
        return DeviceEvent(
            device=self.device.name,
            role=self.device.role,
            signal=signal,
            at=at,
            room=self.device.room,
            data=data,
        )

    # --- observations ---------------------------------------------------------------------

    def observe(self, obs: Observation) -> list[DeviceEvent]:
        events: list[DeviceEvent] = []
        if self.silent:
            self.silent = False
            events.append(self._event(DeviceSignal.BACK, obs.at, last_seen_at=self._seen_iso()))
        self.last_seen = obs.at
        events += self._battery(obs)
        role = self.device.role
        if role is DeviceRole.HELP_BUTTON:
            events += self._button(obs)
        elif role is DeviceRole.THERMOMETER:
            events += self._thermometer(obs)
        elif role is DeviceRole.MOTION:
            events += self._motion(obs)
        elif role is DeviceRole.CONTACT:
            events += self._contact(obs)
        else:
            events += self._motion(obs) + self._contact(obs) + self._any_press(obs)
        self.last_readings.update(obs.readings)
        self.last_states.update(obs.states)
        return events

    def _seen_iso(self) -> str | None:
        return self.last_seen.isoformat() if self.last_seen else None

    def _battery(self, obs: Observation) -> list[DeviceEvent]:
        value = obs.readings.get("battery")
        if not isinstance(value, int | float) or not 0 <= value <= 100:
            return []
        self.battery_pct = int(value)
        threshold = self.battery_low_pct
        if value >= threshold + 10:
            self.battery_alerted = False  # replaced: alert again next time it runs low
        if value >= threshold or self.battery_alerted:
            return []
        self.battery_alerted = True
        return [self._event(DeviceSignal.BATTERY_LOW, obs.at, battery_pct=int(value))]

    def _button(self, obs: Observation) -> list[DeviceEvent]:
        fine = self.options.get("fine_actions", DEFAULT_FINE_ACTIONS)
        help_ = self.options.get("help_actions", DEFAULT_HELP_ACTIONS)
        events = []
        for action in obs.actions:
            if action in help_:
                events.append(self._event(DeviceSignal.HELP, obs.at, action=action))
            elif action in fine:
                events.append(self._event(DeviceSignal.CHECKIN_FINE, obs.at, action=action))
            elif action in PRESS_ACTIONS:
                # An unmapped press is still a sign of life.
                events.append(self._event(DeviceSignal.ACTIVITY, obs.at, kind=action))
        return events + self._unknown_presses(obs)

    def _any_press(self, obs: Observation) -> list[DeviceEvent]:
        return [
            self._event(DeviceSignal.ACTIVITY, obs.at, kind=a)
            for a in obs.actions
            if a in PRESS_ACTIONS
        ] + self._unknown_presses(obs)

    def _unknown_presses(self, obs: Observation) -> list[DeviceEvent]:
        # Someone pressed something: a sign of life even if we cannot name the gesture.
        return [
            self._event(DeviceSignal.ACTIVITY, obs.at, kind="unknown_action", action=raw)
            for raw in obs.unknown_actions
        ]

    def _motion(self, obs: Observation) -> list[DeviceEvent]:
        for key in MOTION_STATES:
            if obs.states.get(key):
                return [self._event(DeviceSignal.ACTIVITY, obs.at, kind="motion", sensor=key)]
        return []

    def _contact(self, obs: Observation) -> list[DeviceEvent]:
        # Contact sensors repeat their state periodically; only a change is activity.
        events = []
        for key in CONTACT_STATES:
            if key not in obs.states:
                continue
            is_open = obs.states[key]
            previous = self.last_states.get(key)
            if previous is not None and previous != is_open:
                kind = "opened" if is_open else "closed"
                events.append(self._event(DeviceSignal.ACTIVITY, obs.at, kind=kind, sensor=key))
        return events

    def _thermometer(self, obs: Observation) -> list[DeviceEvent]:
        temp = obs.readings.get("temperature")
        if not isinstance(temp, int | float):
            return []
        humidity = obs.readings.get("humidity")
        heat_c, cold_c, hyst = self.heat_c, self.cold_c, self.hysteresis_c
        events = []
        detail = {"temperature_c": float(temp)}
        if isinstance(humidity, int | float):
            detail["humidity_pct"] = float(humidity)
        heat_span = self.heat_span_s
        if self._heat.update(temp >= heat_c, temp < heat_c - hyst, obs.at, heat_span):
            events.append(self._environment("heat", obs.at, heat_c, heat_span, detail))
        cold_span = self.cold_span_s
        if self._cold.update(temp <= cold_c, temp > cold_c + hyst, obs.at, cold_span):
            events.append(self._environment("cold", obs.at, cold_c, cold_span, detail))
        events += self._reading(obs, detail)
        return events

    def _environment(
        self, condition: str, at: datetime, threshold: float, span: float, detail: dict[str, Any]
    ) -> DeviceEvent:
        return self._event(
            DeviceSignal.ENVIRONMENT,
            at,
            condition=condition,
            threshold_c=threshold,
            duration_s=int(span),
            **detail,
        )

    def _reading(self, obs: Observation, detail: dict[str, Any]) -> list[DeviceEvent]:
        every = self.reading_every
        last = self._last_reading_event
        if last is not None and obs.at - last < every:
            return []
        self._last_reading_event = obs.at
        return [self._event(DeviceSignal.READING, obs.at, **detail)]

    # --- silence --------------------------------------------------------------------------

    def check_silence(self, now: datetime) -> list[DeviceEvent]:
        """Called by the watchdog timer: SILENT once when no frame came for silent_after_s."""
        if self.silent:
            return []
        reference = self.last_seen or self.started_at
        if (now - reference).total_seconds() < self.device.silent_after_s:
            return []
        return [self.mark_silent(now, reason="no_frames")]

    def mark_silent(self, now: datetime, *, reason: str) -> DeviceEvent:
        self.silent = True
        return self._event(
            DeviceSignal.SILENT,
            now,
            reason=reason,
            last_seen_at=self._seen_iso(),
            silent_after_s=self.device.silent_after_s,
        )
