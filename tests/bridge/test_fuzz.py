"""Property-based fuzz of the BLE frame path: random and mutated frames never crash it.

FUZZ_FRAMES (env) sets the number of frames. The default (5,000) keeps this test near 10 s;
FUZZ_FRAMES=100000 passed in 215 s on 2026-11-27 (one-frame decoder). bench/bridge.py also
pushes 100,000 random frames through the same path on every run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.simulate import BTHOME_UUID, build_frame
from tests.bridge.conftest import BINDKEY, MAC_BUTTON, MAC_DOOR, MAC_MOTION, MAC_THERMO

FUZZ_FRAMES = int(os.environ.get("FUZZ_FRAMES", "5000"))
ADDRESSES = [MAC_BUTTON, MAC_THERMO, MAC_MOTION, MAC_DOOR, "00:11:22:33:44:55"]
# Object ids bthome-ble knows (a sample) plus ones it does not.
OBJECT_IDS = [
    0x01,
    0x02,
    0x03,
    0x05,
    0x0C,
    0x11,
    0x1A,
    0x21,
    0x23,
    0x2D,
    0x3A,
    0x45,
    0x53,
    0x54,
    0x50,
    0xF0,
    0xF1,
    0x7F,
    0xFE,
]


@st.composite
def valid_then_mutated(draw) -> bytes:
    objects = draw(
        st.lists(
            st.tuples(st.sampled_from([0x01, 0x02, 0x03, 0x21, 0x1A, 0x3A]), st.integers(0, 4)),
            max_size=4,
        )
    )
    frame = build_frame(
        objects,
        packet_id=draw(st.one_of(st.none(), st.integers(0, 255))),
        bindkey=draw(st.sampled_from([None, BINDKEY, "00" * 16])),
        counter=draw(st.integers(0, 2**32 - 1)),
        mac=draw(st.sampled_from(ADDRESSES)),
        include_mac=draw(st.booleans()),
        trigger_based=draw(st.booleans()),
    )
    buf = bytearray(frame)
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["flip", "cut", "grow"]))
        if op == "flip" and buf:
            i = draw(st.integers(0, len(buf) - 1))
            buf[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut" and buf:
            del buf[draw(st.integers(0, len(buf) - 1)) :]
        else:
            buf += draw(st.binary(max_size=8))
    return bytes(buf)


@st.composite
def object_soup(draw) -> bytes:
    header = draw(st.sampled_from([0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x00, 0x20, 0xE0, 0xFF]))
    body = b"".join(
        bytes([draw(st.sampled_from(OBJECT_IDS))]) + draw(st.binary(max_size=5))
        for _ in range(draw(st.integers(0, 6)))
    )
    return bytes([header]) + body


frames = st.one_of(st.binary(max_size=100), valid_then_mutated(), object_soup())
service_datas = st.one_of(
    frames.map(lambda f: {BTHOME_UUID: f}),
    st.dictionaries(st.text(max_size=40), st.binary(max_size=40), max_size=3),
)


def test_random_frames_never_crash_the_frame_path(make_bridge, collector) -> None:
    bridge = make_bridge()

    @settings(
        max_examples=FUZZ_FRAMES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        address=st.sampled_from(ADDRESSES),
        data=service_datas,
        rssi=st.one_of(st.none(), st.integers(-120, 20)),
    )
    def feed(address: str, data: dict, rssi: int | None) -> None:
        bridge.feed_ble_advertisement(address, data, rssi=rssi)

    feed()
    counters = bridge.status()["counters"]
    assert counters.get("ble_internal_error", 0) == 0
    dropped = sum(v for k, v in counters.items() if k.startswith("ble_dropped_"))
    assert counters["ble_frames"] == dropped + counters.get("ble_accepted", 0)
    assert counters["ble_frames"] >= FUZZ_FRAMES
    # Every emitted event names a paired device: garbage never invents a device.
    assert {e.device for e in collector.events} <= {
        "help-button",
        "living-thermo",
        "living-motion",
        "front-door",
    }
