"""bthome-ble's own published test vectors, through the bridge's real BLE path.

The data file (tests/bridge/data/bthome_ble_upstream.json) holds the byte vectors and the
expected values of bthome-ble's `tests/test_parser_v2.py` and `tests/test_v2_encryption.py`
(its header names the commit). Every frame must give the same measurements here as there.
Where the bridge deliberately decides otherwise about a frame (its replay policy), the
vector names the rule, and docs/devices.md must describe it.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge.bthome import Decoded, DropReason, FrameDecoder, parse_header
from firmware_bridge.events import DeviceRole, DeviceSignal, PairedDevice
from firmware_bridge.roles import PRESS_ACTIONS
from firmware_bridge.service import DeviceBridge
from firmware_bridge.simulate import service_data
from tests.bridge.conftest import Clock, Collector

DATA = json.loads((Path(__file__).parent / "data" / "bthome_ble_upstream.json").read_text())
FRAMES: list[dict[str, Any]] = DATA["frames"]
SEQUENCES: list[dict[str, Any]] = DATA["sequences"]
DEVICES_DOC = (Path(__file__).parents[2] / "docs" / "devices.md").read_text()
# The rules by which the bridge deliberately differs from bthome-ble (docs/devices.md).
POLICY_RULES = {"plain_repeat_window_10s", "counter_wrap_needs_repairing"}
T0 = datetime(2024, 3, 1, 22, 26, 35, tzinfo=UTC)  # bthome-ble's ADVERTISEMENT_TIME


def _plain(value: Any) -> Any:
    """The data file writes upstream's datetime / bytes values as tagged JSON."""
    if isinstance(value, dict) and "datetime" in value:
        return value["datetime"]
    if isinstance(value, dict) and "bytes" in value:
        return value["bytes"]
    return value


def _bridge(vector: dict[str, Any], tmp_path: Path, clock: Clock, sink: Collector):
    device = PairedDevice(
        name="dev",
        transport="ble",
        address=vector["address"],
        bindkey=vector["bindkey"],
        role=DeviceRole.GENERIC,
    )
    return DeviceBridge([device], sink=sink, state_dir=tmp_path, clock=clock, ble_enabled=False)


def _outcome(before: dict[str, int], after: dict[str, int]) -> str:
    grown = Counter(after)
    grown.subtract(before)
    if grown["ble_accepted"]:
        return "accepted"
    dropped = [k.removeprefix("ble_dropped_") for k, n in grown.items() if n > 0 and "drop" in k]
    assert len(dropped) == 1, (before, after)
    return dropped[0]


@pytest.mark.parametrize("vector", FRAMES, ids=[v["name"] for v in FRAMES])
def test_upstream_frame_gives_the_same_measurements(
    vector: dict[str, Any], tmp_path: Path, clock: Clock, collector: Collector
) -> None:
    expect = vector["expect"]
    readings = {k: _plain(v) for k, v in expect["readings"].items()}
    # A frame with only a packet id is still a sign of life: accepted, nothing to read.
    measured = bool(readings or expect["states"] or expect["events"]) or (
        expect["packet_id"] is not None
    )
    frame = bytes.fromhex(vector["hex"])
    header = parse_header(frame)
    assert not isinstance(header, DropReason)
    key = bytes.fromhex(vector["bindkey"]) if vector["bindkey"] else None
    decoded = FrameDecoder(key).decode(vector["address"], frame, header)
    if not measured:
        # Upstream reads nothing from it (unknown object id, wrong key, bad event): so do we.
        assert isinstance(decoded, DropReason), decoded
    else:
        assert isinstance(decoded, Decoded), decoded
        assert decoded.readings == readings
        assert decoded.states == expect["states"]
        assert dict(decoded.events) == expect["events"]  # event properties are not used
        assert decoded.packet_id == expect["packet_id"]

    # The same frame through DeviceBridge.feed_ble_advertisement (bleak's entry).
    bridge = _bridge(vector, tmp_path, clock, collector)
    bridge.feed_ble_advertisement(vector["address"], service_data(frame))
    counters = bridge.status()["counters"]
    assert counters.get("ble_accepted", 0) == int(measured), counters
    if measured:
        latest = bridge.latest("dev")
        assert {k: latest[k] for k in readings} == readings
        assert {k: latest[k] for k in expect["states"]} == expect["states"]
        presses = sorted(v for v in expect["events"].values() if v in PRESS_ACTIONS)
        activity = [e.data["kind"] for e in collector.events if e.signal is DeviceSignal.ACTIVITY]
        assert sorted(k for k in activity if k in PRESS_ACTIONS) == presses


def test_every_upstream_assertion_is_here() -> None:
    # 85 SensorUpdate assertions of test_parser_v2.py + the 2 examples of test_v2_encryption.py
    assert len(FRAMES) == 87
    assert DATA["source"]["commit"] == "d55bd3aea0808b37ce5fbd8b0a2e2063c15836bf"


def test_timestamp_object_keeps_the_frame() -> None:
    # bthome-ble's test_bthome_timestamp: a well-formed frame, nothing the roles read.
    (vector,) = [v for v in FRAMES if v["name"] == "test_bthome_timestamp"]
    frame = bytes.fromhex(vector["hex"])
    decoded = FrameDecoder(None).decode(vector["address"], frame, parse_header(frame))
    assert isinstance(decoded, Decoded)
    assert decoded.readings == {"timestamp": "2023-05-14T19:41:17+00:00"}


@pytest.mark.parametrize("sequence", SEQUENCES, ids=[s["name"] for s in SEQUENCES])
def test_upstream_sequences_follow_our_policy(
    sequence: dict[str, Any], tmp_path: Path, clock: Clock, collector: Collector
) -> None:
    bridge = _bridge(sequence, tmp_path, clock, collector)
    for step in sequence["steps"]:
        if step.get("repair"):
            bridge.reset_replay_state("dev")  # re-pairing after a counter restart
            continue
        clock.now = T0 + timedelta(seconds=step["t"])
        before = dict(bridge.status()["counters"])
        bridge.feed_ble_advertisement(sequence["address"], service_data(bytes.fromhex(step["hex"])))
        outcome = _outcome(before, bridge.status()["counters"])
        assert outcome == step["ours"], step
        rule = step.get("rule")
        if rule is None:
            assert (outcome == "accepted") == (step["upstream"] == "accepted"), step
        else:
            assert rule in POLICY_RULES and f"`{rule}`" in DEVICES_DOC, rule
            assert (outcome == "accepted") != (step["upstream"] == "accepted"), step
        if "readings" in step:
            latest = bridge.latest("dev")
            assert {k: latest[k] for k in step["readings"]} == step["readings"]
