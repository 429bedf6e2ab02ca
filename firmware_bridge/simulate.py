"""Build BTHome v2 advertisements (plain and AES-CCM encrypted) the way a device would.

Used by tests, the demo and `pair` replay: the bridge has no radio here, so recorded or
generated frames go through the same `DeviceBridge.feed_ble_advertisement` entry as bleak's.
Object encodings (length, factor, sign) come from bthome-ble's own table, so a frame built
here means exactly what the decoder will read.
"""

from __future__ import annotations

from collections.abc import Sequence

from bthome_ble.const import MEAS_TYPES
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

BTHOME_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"
UUID16_LE = b"\xd2\xfc"

FLAG_ENCRYPTED = 0x01
FLAG_MAC_INCLUDED = 0x02
FLAG_TRIGGER_BASED = 0x04
VERSION_SHIFT = 5

# A few object ids by name, for readable tests and demo scripts.
PACKET_ID = 0x00
BATTERY = 0x01
TEMPERATURE = 0x02
HUMIDITY = 0x03
ILLUMINANCE = 0x05
VOLTAGE = 0x0C
OPENING = 0x11
DOOR = 0x1A
MOTION = 0x21
OCCUPANCY = 0x23
PRESENCE = 0x25
WINDOW = 0x2D
BUTTON = 0x3A
TEMPERATURE_COARSE = 0x45  # 0.1 C resolution

BUTTON_PRESS = 0x01
BUTTON_DOUBLE = 0x02
BUTTON_TRIPLE = 0x03
BUTTON_LONG = 0x04

ObjectValue = int | float | bytes


def encode_object(object_id: int, value: ObjectValue) -> bytes:
    """One object: id byte + value, scaled and sized as bthome-ble's table says."""
    if isinstance(value, bytes):
        return bytes([object_id]) + value
    meas = MEAS_TYPES[object_id]
    signed = meas.data_format == "signed_integer"
    raw = round(value / meas.factor)
    return bytes([object_id]) + int(raw).to_bytes(meas.data_length, "little", signed=signed)


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", "").replace("-", ""))


def build_frame(
    objects: Sequence[tuple[int, ObjectValue]],
    *,
    packet_id: int | None = None,
    bindkey: bytes | str | None = None,
    counter: int = 1,
    mac: str = "A4:C1:38:00:00:01",
    include_mac: bool = False,
    trigger_based: bool = False,
    version: int = 2,
) -> bytes:
    """The service data a BTHome v2 device puts under UUID 0xFCD2.

    `mac` must be the address the receiver sees (it is part of the AES nonce) unless
    `include_mac` puts it in the frame. Objects are sorted by id, as the spec asks.
    """
    items = sorted(objects, key=lambda item: item[0])
    if packet_id is not None:
        items = [(PACKET_ID, packet_id), *items]
    payload = b"".join(encode_object(oid, value) for oid, value in items)
    adv_info = version << VERSION_SHIFT
    adv_info |= FLAG_MAC_INCLUDED if include_mac else 0
    adv_info |= FLAG_TRIGGER_BASED if trigger_based else 0
    adv_info |= FLAG_ENCRYPTED if bindkey is not None else 0
    header = bytes([adv_info]) + (mac_bytes(mac)[::-1] if include_mac else b"")
    if bindkey is None:
        return header + payload
    key = bytes.fromhex(bindkey) if isinstance(bindkey, str) else bindkey
    count = counter.to_bytes(4, "little")
    nonce = mac_bytes(mac) + UUID16_LE + bytes([adv_info]) + count
    sealed = AESCCM(key, tag_length=4).encrypt(nonce, payload, None)
    return header + sealed[:-4] + count + sealed[-4:]


def service_data(frame: bytes) -> dict[str, bytes]:
    """What bleak's AdvertisementData.service_data holds for this frame."""
    return {BTHOME_UUID: frame}
