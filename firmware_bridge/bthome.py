"""BTHome v2 decoding (a thin layer over bthome-ble) and the replay / duplicate policy.

Pure: no radio, no clock of its own, no threads. The one side effect is `CounterStore.save`,
a small JSON file written atomically (temp file + fsync + rename), so a power cut leaves the
old or the new file and an encrypted frame seen before a reboot is still rejected after it.

bthome-ble is built for Home Assistant: it keeps in-memory duplicate and counter checks
(forgotten on restart, counter restarts below 100 accepted) and it accumulates entity values
across updates, so a battery-only frame would still report the previous frame's
`motion: True`. `_OneFrameParser` starts every frame from a clean slate: what a Decoded says
is what that frame said, and there is one replay policy, ours (`ReplayGuard`), persisted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from bthome_ble import BTHomeBluetoothDeviceData
from habluetooth import BluetoothServiceInfoBleak

from firmware_bridge.simulate import (
    BTHOME_UUID,
    FLAG_ENCRYPTED,
    FLAG_MAC_INCLUDED,
    FLAG_TRIGGER_BASED,
    VERSION_SHIFT,
)

log = logging.getLogger(__name__)
# bthome-ble logs a WARNING for every frame that fails to decrypt or has objects out of order;
# a neighbour's garbage would flood the journal (and the SD card). We count every drop and
# debug-log it ourselves, so only its errors pass.
logging.getLogger("bthome_ble.parser").setLevel(logging.ERROR)

# Legacy advertising carries at most 31 bytes in all; extended advertising allows more, but
# no BTHome device we know sends over 64 bytes of service data. Larger is garbage or abuse.
MAX_SERVICE_DATA = 64
ENCRYPTION_OVERHEAD = 8  # counter (4) + MIC (4)
MAC_LEN = 6


class DropReason(StrEnum):
    """Why a frame was not used. Each is a counter in DeviceBridge.status()."""

    NOT_BTHOME = "not_bthome"
    UNKNOWN_DEVICE = "unknown_device"
    TRUNCATED = "truncated"
    OVERSIZE = "oversize"
    WRONG_VERSION = "wrong_version"
    NO_KEY = "encrypted_without_key"
    WRONG_KEY = "wrong_key"  # MIC check failed: wrong bindkey or corrupted frame
    DOWNGRADE = "downgrade"  # plaintext from a device paired with a key
    REPLAY = "replay"  # encryption counter went backwards
    DUPLICATE = "duplicate"  # same frame again (same counter, or same packet id)
    MALFORMED = "malformed"  # header fine, no object readable


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one accepted BTHome frame said."""

    address: str  # the device's MAC (from the frame if included, else the radio's)
    encrypted: bool
    trigger_based: bool
    packet_id: int | None
    counter: int | None  # AES-CCM counter (encrypted frames only)
    readings: dict[str, float | int | str] = field(default_factory=dict)  # temperature, ...
    states: dict[str, bool] = field(default_factory=dict)  # motion, opening, door, ...
    events: tuple[tuple[str, str], ...] = ()  # (("button", "long_press"),)


@dataclass(frozen=True, slots=True)
class Header:
    adv_info: int
    encrypted: bool
    mac_included: bool
    trigger_based: bool
    version: int
    mac: str | None
    counter: int | None


def parse_header(frame: bytes) -> Header | DropReason:
    """Check the adv-info byte and the lengths before any decryption work."""
    if len(frame) < 2:
        return DropReason.TRUNCATED
    if len(frame) > MAX_SERVICE_DATA:
        return DropReason.OVERSIZE
    adv_info = frame[0]
    version = (adv_info >> VERSION_SHIFT) & 0x7
    if version != 2:
        return DropReason.WRONG_VERSION
    encrypted = bool(adv_info & FLAG_ENCRYPTED)
    mac_included = bool(adv_info & FLAG_MAC_INCLUDED)
    minimum = 1 + (MAC_LEN if mac_included else 0) + 1 + (ENCRYPTION_OVERHEAD if encrypted else 0)
    if len(frame) < minimum:
        return DropReason.TRUNCATED
    mac = frame[6:0:-1].hex(":").upper() if mac_included else None  # little-endian
    counter = int.from_bytes(frame[-8:-4], "little") if encrypted else None
    return Header(
        adv_info=adv_info,
        encrypted=encrypted,
        mac_included=mac_included,
        trigger_based=bool(adv_info & FLAG_TRIGGER_BASED),
        version=version,
        mac=mac,
        counter=counter,
    )


def bthome_frame(service_data: dict[str, bytes]) -> bytes | None:
    value = service_data.get(BTHOME_UUID)
    return value if isinstance(value, bytes | bytearray) else None


class _OneFrameParser(BTHomeBluetoothDeviceData):
    """bthome-ble's decoder and decryptor, with no memory from one frame to the next.

    The library reports every object it reads through `update_sensor`,
    `update_binary_sensor` and `fire_event` (sensor-state-data's interface for parsers);
    we collect them into plain dicts for this frame instead of building Home Assistant
    entities, device names and merged entity history, which is about a third of its time
    per frame. `_start_update` is the library's internal entry (the public `update()` adds
    only that HA bookkeeping). bthome-ble is pinned to a minor range in pyproject.toml and
    the byte-vector tests exercise every path relied on here.
    """

    def __init__(self, bindkey: bytes | None) -> None:
        super().__init__(bindkey)
        self.frame_values: dict[str, Any] = {}
        self.frame_states: dict[str, bool] = {}
        self.frame_events: list[tuple[str, str]] = []

    def parse_frame(self, info: BluetoothServiceInfoBleak) -> None:
        # History: ReplayGuard owns duplicate/replay policy (see the module docstring).
        self.last_service_info = None
        self.packet_id = None
        self.encryption_counter = 0.0
        self.decryption_failed = True
        self.frame_values.clear()
        self.frame_states.clear()
        self.frame_events.clear()
        self._start_update(info)

    def update_sensor(
        self, key: str, native_unit_of_measurement: Any, native_value: Any, **_: Any
    ) -> None:
        self.frame_values[key] = native_value

    def update_binary_sensor(self, key: str, native_value: bool | None, **_: Any) -> None:
        self.frame_states[key] = bool(native_value)

    def fire_event(self, key: str, event_type: str, **_: Any) -> None:
        self.frame_events.append((key, event_type))

    def _set_manufacture_name_type_and_title(self, bthome_data: Any) -> None:
        """Home Assistant device naming from the local name; our names come from pairing."""


class FrameDecoder:
    """Decodes frames of one paired device (one bindkey) with bthome-ble."""

    def __init__(self, bindkey: bytes | None) -> None:
        self.bindkey = bindkey
        self._parser = _OneFrameParser(bindkey)

    def decode(
        self, address: str, frame: bytes, header: Header, *, name: str | None = None
    ) -> Decoded | DropReason:
        if self.bindkey is not None and not header.encrypted:
            return DropReason.DOWNGRADE
        if self.bindkey is None and header.encrypted:
            return DropReason.NO_KEY
        parser = self._parser
        try:
            parser.parse_frame(_service_info(address, frame, name))
        except Exception as exc:  # a library bug must not take the scanner down
            log.debug("bthome-ble raised on %s: %r (%s)", address, exc, frame.hex())
            return DropReason.MALFORMED
        if header.encrypted and parser.decryption_failed:
            return DropReason.WRONG_KEY
        return _to_decoded(parser, header, address)


def _service_info(address: str, frame: bytes, name: str | None) -> BluetoothServiceInfoBleak:
    return BluetoothServiceInfoBleak(
        name=name or address,
        address=address,
        rssi=-60,  # unused by the decoder; the radio's RSSI is added by the service
        manufacturer_data={},
        service_data={BTHOME_UUID: bytes(frame)},
        service_uuids=[BTHOME_UUID],
        source="mimamori",
        device=None,
        advertisement=None,
        connectable=False,
        time=0.0,
        tx_power=None,
    )


def _plain(value: Any) -> float | int | str:
    """Objects no role rule reads are kept as text (a frame is never dropped for them):
    timestamps as ISO 8601, raw bytes as hex."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    return str(value)


def _to_decoded(parser: _OneFrameParser, header: Header, address: str) -> Decoded | DropReason:
    values = parser.frame_values
    packet_id = values.get("packet_id")
    readings = {k: _plain(v) for k, v in values.items() if k != "packet_id"}
    events = tuple(parser.frame_events)
    states = parser.frame_states.copy()
    if not readings and not states and not events and packet_id is None:
        return DropReason.MALFORMED  # bthome-ble read no object at all
    return Decoded(
        address=header.mac or address.upper(),
        encrypted=header.encrypted,
        trigger_based=header.trigger_based,
        packet_id=None if packet_id is None else int(packet_id),
        counter=header.counter,
        readings=readings,
        states=states,
        events=events,
    )


# --- replay / duplicate policy ---------------------------------------------------------------


class CounterStore:
    """Highest accepted encryption counter per device, in a small JSON file.

    Written atomically. `save()` is cheap to call often: it writes only when dirty.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.counters: dict[str, int] = {}
        self.dirty = False
        self._load()

    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            # A torn file cannot happen with atomic writes; anything else is worth a warning,
            # and starting empty is the only option (replay protection restarts from here).
            log.warning("counter state %s unreadable (%s); starting empty", self.path, exc)
            return
        counters = raw.get("counters", {}) if isinstance(raw, dict) else {}
        self.counters = {str(k): int(v) for k, v in counters.items() if isinstance(v, int)}

    def get(self, device: str) -> int | None:
        return self.counters.get(device)

    def set(self, device: str, counter: int) -> None:
        self.counters[device] = counter
        self.dirty = True

    def forget(self, device: str) -> None:
        """After re-pairing (new key, counter restarted) the old high-water mark must go."""
        if self.counters.pop(device, None) is not None:
            self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        write_json_atomic(self.path, {"version": 1, "counters": self.counters})
        self.dirty = False


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


@dataclass
class _LastPacket:
    packet_id: int
    at: float
    frame: bytes


class ReplayGuard:
    """Decides whether an authentic frame is new.

    Encrypted: the AES-CCM counter must strictly increase (persisted, survives reboots);
    equal = the device repeating its advertisement (duplicate), lower = replay.
    Plain: devices repeat each advertisement a few times with the same packet id; a packet id
    that is not 1..63 ahead of the last one within `window_s` is a repeat (as bthome-ble
    does, but with a longer window because repeats arrive through slow scanners too).
    """

    def __init__(self, counters: CounterStore, *, window_s: float = 10.0) -> None:
        self.counters = counters
        self.window_s = window_s
        self._last_packet: dict[str, _LastPacket] = {}

    def is_repeat(self, device: str, frame: bytes, now: float) -> bool:
        """The very bytes of the last accepted plain frame again: skip decoding them.

        Devices send each advertisement several times; this keeps repeats cheap.
        """
        last = self._last_packet.get(device)
        return last is not None and last.frame == frame and now - last.at <= self.window_s

    def precheck_counter(self, device: str, counter: int | None) -> DropReason | None:
        """Cheap check before decryption; authoritative check is `accept` after the MIC."""
        last = self.counters.get(device)
        if counter is None or last is None:
            return None
        if counter == last:
            return DropReason.DUPLICATE
        return DropReason.REPLAY if counter < last else None

    def accept(
        self, device: str, decoded: Decoded, now: float, frame: bytes = b""
    ) -> DropReason | None:
        if decoded.counter is not None:
            verdict = self.precheck_counter(device, decoded.counter)
            if verdict is not None:
                return verdict
            self.counters.set(device, decoded.counter)
            return None
        if decoded.packet_id is None:
            return None
        last = self._last_packet.get(device)
        self._last_packet[device] = _LastPacket(decoded.packet_id, now, bytes(frame))
        if last is None or now - last.at > self.window_s:
            return None
        if 0 < (decoded.packet_id - last.packet_id) % 256 < 64:
            return None
        self._last_packet[device] = last  # keep the newer id as the reference
        return DropReason.DUPLICATE
