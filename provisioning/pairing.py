"""Pure pairing core: what the scan heard, per device, and the bindkey check.

Frames go through firmware_bridge.bthome (the gateway's own decoding path), so what the
installer sees here is exactly what the daemon will decode later.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from firmware_bridge.bthome import (
    Decoded,
    DropReason,
    FrameDecoder,
    Header,
    bthome_frame,
    parse_header,
)
from firmware_bridge.simulate import BTHOME_UUID
from provisioning.errors import ProvisionError

_BINDKEY_RE = re.compile(r"^[0-9a-fA-F]{32}$")
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Advertisement:
    address: str
    service_data: dict[str, bytes]
    rssi: int | None
    name: str | None


@dataclass
class Candidate:
    address: str
    name: str | None
    rssi: int | None
    encrypted: bool
    frame: bytes
    header: Header
    frames: int = 1
    reading: str = ""


@dataclass
class ScanSession:
    """Every BTHome device heard so far, in the order first heard."""

    candidates: dict[str, Candidate] = field(default_factory=dict)
    ignored: int = 0  # not BTHome, or a frame the decoder refused

    def observe(self, adv: Advertisement) -> Candidate | None:
        frame = bthome_frame(adv.service_data)
        if frame is None:
            self.ignored += 1
            return None
        header = parse_header(bytes(frame))
        if isinstance(header, DropReason):
            self.ignored += 1
            return None
        address = adv.address.upper()
        reading = ""
        if not header.encrypted:
            decoded = FrameDecoder(None).decode(address, bytes(frame), header, name=adv.name)
            if isinstance(decoded, DropReason):
                self.ignored += 1
                return None
            reading = describe(decoded)
        known = self.candidates.get(address)
        if known is None:
            known = Candidate(address, adv.name, adv.rssi, header.encrypted, bytes(frame), header)
            self.candidates[address] = known
        else:
            known.frames += 1
            known.frame, known.header, known.encrypted = bytes(frame), header, header.encrypted
            known.rssi = adv.rssi if adv.rssi is not None else known.rssi
            known.name = adv.name or known.name
        if reading:
            known.reading = reading
        return known

    def ordered(self) -> list[Candidate]:
        return list(self.candidates.values())

    def pick(self, choice: str) -> Candidate:
        """By 1-based number in the table or by address."""
        rows = self.ordered()
        text = choice.strip()
        if text.isdigit() and 1 <= int(text) <= len(rows):
            return rows[int(text) - 1]
        found = self.candidates.get(text.upper())
        if found is None:
            raise ProvisionError("bad_pick", value=choice)
        return found


def describe(decoded: Decoded) -> str:
    parts = [f"{k} {_fmt(v)}" for k, v in sorted(decoded.readings.items())]
    parts += [f"{k} {'on' if v else 'off'}" for k, v in sorted(decoded.states.items())]
    parts += [f"{k} {v}" for k, v in decoded.events]
    return ", ".join(parts)


def _fmt(value: float | int | str) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_bindkey(text: str) -> bytes:
    cleaned = text.strip().replace(" ", "").replace(":", "")
    if not _BINDKEY_RE.match(cleaned):
        raise ProvisionError("bindkey_format")
    return bytes.fromhex(cleaned)


def verify_bindkey(candidate: Candidate, bindkey: bytes | None) -> str:
    """Decode the device's latest frame with the key; return what it said, or raise."""
    if candidate.encrypted and bindkey is None:
        raise ProvisionError("bindkey_needed", address=candidate.address)
    if not candidate.encrypted and bindkey is not None:
        raise ProvisionError("bindkey_unneeded", address=candidate.address)
    decoded = FrameDecoder(bindkey).decode(
        candidate.address, candidate.frame, candidate.header, name=candidate.name
    )
    if decoded == DropReason.WRONG_KEY:
        raise ProvisionError("bindkey_wrong", address=candidate.address)
    if isinstance(decoded, DropReason):
        raise ProvisionError("no_frame_to_verify", address=candidate.address)
    candidate.reading = describe(decoded)
    return candidate.reading


def read_replay(path: Path) -> Iterator[tuple[Advertisement, float]]:
    """Recorded frames, one JSON object a line: address, service_data (hex), rssi, name.

    `service_data` is the BTHome frame as hex, or an object {uuid: hex} as bleak reports it.
    An optional `delay_s` paces the replay (seconds before this frame).
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ProvisionError("replay_missing", path=path) from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            yield _advertisement(record), float(record.get("delay_s", 0.0))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ProvisionError("replay_bad", line=number, path=path, error=exc) from None


def _advertisement(record: dict) -> Advertisement:
    raw = record["service_data"]
    if isinstance(raw, str):
        service_data = {BTHOME_UUID: bytes.fromhex(raw)}
    else:
        service_data = {str(k).lower(): bytes.fromhex(v) for k, v in raw.items()}
    rssi = record.get("rssi")
    return Advertisement(
        address=str(record["address"]),
        service_data=service_data,
        rssi=int(rssi) if rssi is not None else None,
        name=record.get("name"),
    )


def replay_record(adv: Advertisement, delay_s: float | None = None) -> dict:
    """One replay line for an advertisement (the inverse of read_replay)."""
    frame = bthome_frame(adv.service_data)
    only_bthome = frame is not None and len(adv.service_data) == 1
    record: dict = {
        "address": adv.address,
        "service_data": (
            bytes(frame).hex()
            if only_bthome
            else {uuid: bytes(v).hex() for uuid, v in adv.service_data.items()}
        ),
        "rssi": adv.rssi,
        "name": adv.name,
    }
    if delay_s is not None:
        record["delay_s"] = round(delay_s, 3)
    return record


class ReplayWriter:
    """Appends what the radio hears to a replay file (no-op without a path)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._handle = None
        self._last: float | None = None

    def __enter__(self) -> ReplayWriter:
        if self.path is not None:
            self._handle = open(self.path, "a", encoding="utf-8")
        return self

    def write(self, adv: Advertisement) -> None:
        if self._handle is None:
            return
        import time

        now = time.monotonic()
        delay = 0.0 if self._last is None else now - self._last
        self._last = now
        self._handle.write(json.dumps(replay_record(adv, delay), ensure_ascii=False) + "\n")

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
