"""Pure mapping of firmware_bridge DeviceEvents to wire events, plus a small health table.

Garbage (wrong types, naive timestamps, unknown signals, bad environment data) raises
BadDeviceEvent; the daemon counts and logs it and carries on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from firmware_bridge.events import DeviceEvent, DeviceRole, DeviceSignal
from mimamori_wire.v1 import (
    AnswerSource,
    DeviceHealth,
    DeviceStatus,
    EnvironmentAlert,
    EventKind,
    HelpRequested,
)


class BadDeviceEvent(ValueError):
    pass


def validate(ev: Any) -> DeviceEvent:
    if not isinstance(ev, DeviceEvent):
        raise BadDeviceEvent(f"not a DeviceEvent: {type(ev).__name__}")
    if not isinstance(ev.device, str) or not ev.device or len(ev.device) > 64:
        raise BadDeviceEvent(f"bad device name {ev.device!r}")
    if not isinstance(ev.at, datetime) or ev.at.tzinfo is None:
        raise BadDeviceEvent(f"{ev.device}: timestamp must be an aware datetime, got {ev.at!r}")
    try:
        DeviceSignal(ev.signal)
    except ValueError:
        raise BadDeviceEvent(f"{ev.device}: unknown signal {ev.signal!r}") from None
    if not isinstance(ev.data, dict):
        raise BadDeviceEvent(f"{ev.device}: data must be a dict")
    return ev


def _battery(data: dict[str, Any]) -> int | None:
    value = data.get("battery_pct", data.get("battery"))
    if isinstance(value, int | float) and 0 <= value <= 100:
        return int(value)
    return None


def _role(ev: DeviceEvent) -> str:
    return str(getattr(ev.role, "value", ev.role))


def is_activity(ev: DeviceEvent) -> bool:
    """Any sign of life, including button presses."""
    return ev.signal in (DeviceSignal.ACTIVITY, DeviceSignal.HELP, DeviceSignal.CHECKIN_FINE)


def immediate_events(ev: DeviceEvent) -> list[tuple[EventKind, BaseModel]]:
    """Wire events a device event causes at once (activity itself is only summarised)."""
    sig = DeviceSignal(ev.signal)
    status = {
        DeviceSignal.BATTERY_LOW: EventKind.DEVICE_BATTERY_LOW,
        DeviceSignal.SILENT: EventKind.DEVICE_SILENT,
        DeviceSignal.BACK: EventKind.DEVICE_BACK,
    }
    if sig == DeviceSignal.HELP:
        return [
            (EventKind.HELP_REQUESTED, HelpRequested(source=AnswerSource.BUTTON, device=ev.device))
        ]
    if sig in status:
        payload = DeviceStatus(
            device=ev.device, role=_role(ev), battery_pct=_battery(ev.data), last_seen_at=ev.at
        )
        return [(status[sig], payload)]
    if sig == DeviceSignal.ENVIRONMENT:
        try:
            alert = EnvironmentAlert(sensor=ev.device, **ev.data)
        except (ValidationError, TypeError) as exc:
            raise BadDeviceEvent(f"{ev.device}: bad environment data: {exc}") from None
        return [(EventKind.ENVIRONMENT_ALERT, alert)]
    return []


@dataclass
class DeviceTable:
    """Last-seen, battery and silence per device, for heartbeat and status."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def observe(self, ev: DeviceEvent) -> None:
        row = self.rows.setdefault(ev.device, {"device": ev.device})
        row["role"] = _role(ev)
        row["room"] = ev.room or row.get("room")
        row["last_seen_at"] = ev.at.astimezone(UTC).isoformat()
        battery = _battery(ev.data)
        if battery is not None:
            row["battery_pct"] = battery
        if ev.signal == DeviceSignal.SILENT:
            row["silent"] = True
        elif ev.signal != DeviceSignal.BATTERY_LOW:
            row["silent"] = False

    def health(self) -> list[DeviceHealth]:
        return [DeviceHealth.model_validate(r) for r in self.rows.values()]


def to_health(items: Any) -> list[DeviceHealth]:
    """Whatever the bridge's health() returns (models, dataclasses, dicts) -> wire rows."""
    out = []
    for item in items or []:
        if isinstance(item, BaseModel):
            data = item.model_dump(mode="json")
        elif isinstance(item, dict):
            data = item
        else:
            data = dict(getattr(item, "__dict__", {}))
        for key in ("role",):
            if isinstance(data.get(key), DeviceRole):
                data[key] = data[key].value
        out.append(DeviceHealth.model_validate(data))
    return out
