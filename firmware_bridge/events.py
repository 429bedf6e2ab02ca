"""The one small interface between devices and the gateway.

Every adapter (BLE, MQTT, satellites) turns what a device said into a DeviceEvent and
hands it to a DeviceEventSink. The sink may be called from any thread; it must not block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class DeviceRole(StrEnum):
    MOTION = "motion"  # room motion / occupancy
    CONTACT = "contact"  # door or window contact
    HELP_BUTTON = "help_button"  # single press = I'm fine, long/triple = help (configurable)
    THERMOMETER = "thermometer"  # temperature + humidity: heat-stroke and cold alerts
    GENERIC = "generic"


class DeviceSignal(StrEnum):
    ACTIVITY = "activity"  # motion seen, door opened/closed, any sign of life
    HELP = "help"  # help button long press / triple press
    CHECKIN_FINE = "checkin_fine"  # help button single press: "I'm fine"
    BATTERY_LOW = "battery_low"
    SILENT = "silent"  # no frames for the configured span
    BACK = "back"  # frames again after silent
    ENVIRONMENT = "environment"  # room too hot / too cold (data: condition, temperature_c, ...)
    READING = "reading"  # a plain measurement (temperature, humidity, battery), for status


class PairedDevice(BaseModel):
    """A device the installer paired; stored in the gateway config file."""

    name: str = Field(min_length=1, max_length=64, description="stable id, e.g. 'living-motion'")
    transport: str = Field(pattern="^(ble|mqtt)$")
    address: str | None = Field(default=None, description="BLE MAC address (ble only)")
    mqtt_name: str | None = Field(default=None, description="Zigbee2MQTT friendly name")
    role: DeviceRole = DeviceRole.GENERIC
    room: str | None = None
    bindkey: str | None = Field(default=None, description="BTHome AES key, 32 hex chars")
    silent_after_s: int = 6 * 3600
    options: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class DeviceEvent:
    device: str  # PairedDevice.name
    role: DeviceRole
    signal: DeviceSignal
    at: datetime  # aware, UTC
    room: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


DeviceEventSink = Callable[[DeviceEvent], None]
