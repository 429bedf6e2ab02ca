"""Byte vectors: every object and flag we map, plain and encrypted, with expected values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware_bridge.bthome import Decoded, DropReason, FrameDecoder, parse_header
from firmware_bridge.simulate import build_frame, service_data
from tests.bridge.conftest import BINDKEY, MAC_BUTTON

VECTORS = json.loads((Path(__file__).parent / "data" / "bthome_vectors.json").read_text())[
    "vectors"
]


def _decoder(vector: dict) -> FrameDecoder:
    key = vector["bindkey"]
    return FrameDecoder(bytes.fromhex(key) if key else None)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_decodes_to_expected_values(vector: dict) -> None:
    frame = bytes.fromhex(vector["hex"])
    header = parse_header(frame)
    assert not isinstance(header, DropReason)
    decoded = _decoder(vector).decode(vector["address"], frame, header)
    assert isinstance(decoded, Decoded), decoded
    expect = vector["expect"]
    assert decoded.readings == expect["readings"]
    assert decoded.states == expect["states"]
    assert [list(e) for e in decoded.events] == expect["events"]
    assert decoded.packet_id == expect["packet_id"]
    assert decoded.counter == expect["counter"]
    assert decoded.encrypted is expect["encrypted"]
    assert decoded.trigger_based is expect["trigger_based"]
    assert decoded.address == vector["address"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_simulator_rebuilds_the_same_bytes(vector: dict) -> None:
    build = dict(vector["build"])
    objects = [tuple(o) for o in build.pop("objects")]
    frame = build_frame(objects, bindkey=vector["bindkey"], mac=vector["address"], **build)
    assert frame.hex() == vector["hex"]


def test_upstream_vector_matches_our_encryption() -> None:
    # From bthome-ble's own suite: proves our AES-CCM nonce/layout matches real devices.
    frame = build_frame(
        [(0x02, 25.06), (0x03, 50.55)], bindkey=BINDKEY, counter=0x33221100, mac=MAC_BUTTON
    )
    assert frame == bytes.fromhex("41a47266c95f730011223378237214")


def test_mac_included_frame_decrypts_although_radio_address_differs() -> None:
    frame = build_frame([(0x21, 1)], bindkey=BINDKEY, counter=7, mac=MAC_BUTTON, include_mac=True)
    decoded = FrameDecoder(bytes.fromhex(BINDKEY)).decode(
        "11:22:33:44:55:66", frame, parse_header(frame)
    )
    assert isinstance(decoded, Decoded)
    assert decoded.address == MAC_BUTTON and decoded.states == {"motion": True}


def test_encrypted_frame_with_wrong_address_fails_authentication() -> None:
    # The MAC is part of the nonce: a frame relayed under another address must not verify.
    frame = build_frame([(0x21, 1)], bindkey=BINDKEY, counter=7, mac=MAC_BUTTON)
    verdict = FrameDecoder(bytes.fromhex(BINDKEY)).decode(
        "11:22:33:44:55:66", frame, parse_header(frame)
    )
    assert verdict is DropReason.WRONG_KEY


def test_each_frame_reports_only_its_own_objects() -> None:
    # bthome-ble merges entity values across updates; a battery-only frame must not repeat
    # the previous frame's motion (a stale "motion" would hide a resident's inactivity).
    decoder = FrameDecoder(None)
    frames = [
        build_frame([(0x02, 21.5), (0x21, 1)], packet_id=1, mac=MAC_BUTTON),
        build_frame([(0x01, 80)], packet_id=2, mac=MAC_BUTTON),
        build_frame([(0x3A, 4)], packet_id=3, mac=MAC_BUTTON),
        build_frame([(0x01, 79)], packet_id=4, mac=MAC_BUTTON),
    ]
    decoded = [decoder.decode(MAC_BUTTON, f, parse_header(f)) for f in frames]
    assert all(isinstance(d, Decoded) for d in decoded), decoded
    assert [(d.readings, d.states, d.events) for d in decoded] == [
        ({"temperature": 21.5}, {"motion": True}, ()),
        ({"battery": 80}, {}, ()),
        ({}, {}, (("button", "long_press"),)),
        ({"battery": 79}, {}, ()),
    ]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", DropReason.TRUNCATED),
        (b"\x40", DropReason.TRUNCATED),
        (b"\x41\x01\x02\x03\x04\x05\x06\x07", DropReason.TRUNCATED),  # encrypted, no payload
        (b"\x42\x01\x02\x03\x04\x05", DropReason.TRUNCATED),  # MAC flag, MAC cut short
        (b"\x40" + bytes(80), DropReason.OVERSIZE),
        (b"\x20\x02\x10\x09", DropReason.WRONG_VERSION),  # version 1 bits
        (b"\x60\x02\x10\x09", DropReason.WRONG_VERSION),  # version 3
    ],
)
def test_header_rejections(frame: bytes, reason: DropReason) -> None:
    assert parse_header(frame) is reason


def test_service_data_uses_bthome_uuid() -> None:
    assert list(service_data(b"\x40")) == ["0000fcd2-0000-1000-8000-00805f9b34fb"]
