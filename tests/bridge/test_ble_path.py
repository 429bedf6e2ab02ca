"""The BLE frame path end to end (feed_ble_advertisement -> sink): policy and bad input."""

from __future__ import annotations

import json

import pytest

from firmware_bridge.events import DeviceSignal, PairedDevice
from firmware_bridge.simulate import (
    BATTERY,
    BUTTON,
    BUTTON_LONG,
    BUTTON_PRESS,
    BUTTON_TRIPLE,
    DOOR,
    MOTION,
    TEMPERATURE,
    build_frame,
    service_data,
)
from mimamori_wire import EnvironmentAlert
from tests.bridge.conftest import BINDKEY, MAC_BUTTON, MAC_DOOR, MAC_MOTION, MAC_THERMO


def press(bridge, kind: int, counter: int, packet_id: int = 1) -> None:
    frame = build_frame(
        [(BUTTON, kind)], packet_id=packet_id, bindkey=BINDKEY, counter=counter, mac=MAC_BUTTON
    )
    bridge.feed_ble_advertisement(MAC_BUTTON, service_data(frame), rssi=-70)


def test_button_single_is_fine_and_long_or_triple_is_help(make_bridge, collector) -> None:
    bridge = make_bridge()
    press(bridge, BUTTON_PRESS, counter=10)
    press(bridge, BUTTON_LONG, counter=11)
    press(bridge, BUTTON_TRIPLE, counter=12)
    assert collector.signals("help-button") == [
        DeviceSignal.CHECKIN_FINE,
        DeviceSignal.HELP,
        DeviceSignal.HELP,
    ]
    first = collector.events[0]
    assert first.room == "寝室" and first.at.tzinfo is not None
    assert bridge.status()["counters"]["ble_accepted"] == 3


def test_second_button_of_a_multi_button_device_counts(make_bridge, collector) -> None:
    # Wall switches send one button object per key: bthome-ble names them button_1, button_2.
    bridge = make_bridge()
    frame = build_frame(
        [(BUTTON, 0), (BUTTON, BUTTON_LONG)], bindkey=BINDKEY, counter=20, mac=MAC_BUTTON
    )
    bridge.feed_ble_advertisement(MAC_BUTTON, service_data(frame))
    assert collector.signals("help-button") == [DeviceSignal.HELP]


def test_replayed_frame_is_rejected_after_a_restart(make_bridge, collector) -> None:
    frame = build_frame([(BUTTON, BUTTON_LONG)], bindkey=BINDKEY, counter=500, mac=MAC_BUTTON)
    first = make_bridge()
    first.feed_ble_advertisement(MAC_BUTTON, service_data(frame))
    assert collector.signals() == [DeviceSignal.HELP]
    # No stop(): a crash right after the press. The counter was flushed with the event.
    second = make_bridge()
    second.feed_ble_advertisement(MAC_BUTTON, service_data(frame))
    older = build_frame([(BUTTON, BUTTON_LONG)], bindkey=BINDKEY, counter=499, mac=MAC_BUTTON)
    second.feed_ble_advertisement(MAC_BUTTON, service_data(older))
    assert collector.signals() == [DeviceSignal.HELP]
    counters = second.status()["counters"]
    assert counters["ble_dropped_duplicate"] == 1
    assert counters["ble_dropped_replay"] == 1
    # ...while a genuinely new frame still gets through.
    press(second, BUTTON_PRESS, counter=501)
    assert collector.signals() == [DeviceSignal.HELP, DeviceSignal.CHECKIN_FINE]


def test_counter_file_is_json_written_atomically(make_bridge, tmp_path) -> None:
    bridge = make_bridge()
    press(bridge, BUTTON_PRESS, counter=77)
    state = json.loads((tmp_path / "state" / "ble_counters.json").read_text())
    assert state["counters"] == {"help-button": 77}
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["ble_counters.json"]


def test_corrupt_counter_file_starts_empty_instead_of_crashing(make_bridge, tmp_path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "ble_counters.json").write_text("{not json")
    bridge = make_bridge()
    press(bridge, BUTTON_PRESS, counter=1)
    assert bridge.status()["counters"]["ble_accepted"] == 1


def test_reset_replay_state_after_repairing(make_bridge, collector) -> None:
    bridge = make_bridge()
    press(bridge, BUTTON_PRESS, counter=900)
    bridge.reset_replay_state("help-button")
    press(bridge, BUTTON_PRESS, counter=1)  # new key/battery: counter starts over
    assert collector.signals() == [DeviceSignal.CHECKIN_FINE, DeviceSignal.CHECKIN_FINE]


def test_plaintext_from_keyed_device_is_a_downgrade(make_bridge, collector) -> None:
    bridge = make_bridge()
    plain = build_frame([(BUTTON, BUTTON_LONG)], packet_id=3, mac=MAC_BUTTON)
    bridge.feed_ble_advertisement(MAC_BUTTON, service_data(plain))
    assert collector.events == []
    assert bridge.status()["counters"]["ble_dropped_downgrade"] == 1


def test_wrong_key_and_missing_key(make_bridge, collector) -> None:
    bridge = make_bridge()
    wrong = build_frame([(BUTTON, BUTTON_LONG)], bindkey=bytes(16), counter=5, mac=MAC_BUTTON)
    bridge.feed_ble_advertisement(MAC_BUTTON, service_data(wrong))
    # The motion sensor was paired without a key but now sends encrypted frames.
    enc = build_frame([(MOTION, 1)], bindkey=BINDKEY, counter=5, mac=MAC_MOTION)
    bridge.feed_ble_advertisement(MAC_MOTION, service_data(enc))
    counters = bridge.status()["counters"]
    assert collector.events == []
    assert counters["ble_dropped_wrong_key"] == 1
    assert counters["ble_dropped_encrypted_without_key"] == 1


def test_forged_high_counter_does_not_poison_the_replay_state(make_bridge, collector) -> None:
    bridge = make_bridge()
    forged = bytearray(
        build_frame([(BUTTON, BUTTON_LONG)], bindkey=BINDKEY, counter=10, mac=MAC_BUTTON)
    )
    forged[-8:-4] = (2**31).to_bytes(4, "little")  # attacker raises the counter, MIC fails
    bridge.feed_ble_advertisement(MAC_BUTTON, service_data(bytes(forged)))
    press(bridge, BUTTON_PRESS, counter=11)
    assert collector.signals() == [DeviceSignal.CHECKIN_FINE]


def test_duplicate_packet_id_from_plain_device(make_bridge, collector, clock) -> None:
    bridge = make_bridge()
    frame = build_frame([(MOTION, 1)], packet_id=40, mac=MAC_MOTION)
    for _ in range(3):  # devices repeat each advertisement
        bridge.feed_ble_advertisement(MAC_MOTION, service_data(frame))
    older = build_frame([(MOTION, 1)], packet_id=39, mac=MAC_MOTION)
    bridge.feed_ble_advertisement(MAC_MOTION, service_data(older))
    newer = build_frame([(MOTION, 1)], packet_id=41, mac=MAC_MOTION)
    bridge.feed_ble_advertisement(MAC_MOTION, service_data(newer))
    clock.advance(60)  # long after: the same id again is a new event (id wrapped)
    bridge.feed_ble_advertisement(MAC_MOTION, service_data(newer))
    assert collector.signals() == [DeviceSignal.ACTIVITY] * 3
    assert bridge.status()["counters"]["ble_dropped_duplicate"] == 3


def test_bad_input_is_counted_never_raised(make_bridge, collector) -> None:
    bridge = make_bridge()
    bad_inputs = [
        ("A4:C1:38:00:00:03", {"0000fcd2-0000-1000-8000-00805f9b34fb": b""}),
        ("A4:C1:38:00:00:03", {"0000fcd2-0000-1000-8000-00805f9b34fb": b"\x40" + bytes(200)}),
        ("A4:C1:38:00:00:03", {"0000fcd2-0000-1000-8000-00805f9b34fb": b"\x20\x01\x50"}),
        ("A4:C1:38:00:00:03", {"0000fcd2-0000-1000-8000-00805f9b34fb": b"\x40\x02\x01"}),
        ("A4:C1:38:00:00:03", {"0000fcd2-0000-1000-8000-00805f9b34fb": b"\x40\xfe\xff\x01"}),
        ("A4:C1:38:00:00:03", {"0000180f-0000-1000-8000-00805f9b34fb": b"\x40\x21\x01"}),
        ("A4:C1:38:00:00:03", {"0000fcd2-0000-1000-8000-00805f9b34fb": "not bytes"}),
        ("A4:C1:38:00:00:03", None),
        (None, {"0000fcd2-0000-1000-8000-00805f9b34fb": b"\x40\x21\x01"}),
        ("00:00:00:00:00:99", service_data(build_frame([(MOTION, 1)], packet_id=1))),
    ]
    for address, data in bad_inputs:
        bridge.feed_ble_advertisement(address, data)  # type: ignore[arg-type]
    counters = bridge.status()["counters"]
    assert collector.events == []
    assert counters["ble_frames"] == len(bad_inputs)
    dropped = sum(v for k, v in counters.items() if k.startswith("ble_dropped_"))
    assert dropped == len(bad_inputs)
    for reason in (
        "truncated",
        "oversize",
        "wrong_version",
        "not_bthome",
        "unknown_device",
        "malformed",
    ):
        assert counters.get(f"ble_dropped_{reason}", 0) >= 1, reason


def test_sink_failure_is_counted_and_does_not_escape(make_bridge) -> None:
    def broken_sink(event):
        raise RuntimeError("queue closed")

    bridge = make_bridge(sink=broken_sink)
    press(bridge, BUTTON_PRESS, counter=3)
    assert bridge.status()["counters"]["sink_errors"] == 1


def test_thermometer_heat_alert_and_health(make_bridge, collector, clock) -> None:
    bridge = make_bridge()
    for minute in range(0, 45, 5):
        frame = build_frame([(BATTERY, 55), (TEMPERATURE, 29.5)], packet_id=minute, mac=MAC_THERMO)
        bridge.feed_ble_advertisement(MAC_THERMO, service_data(frame))
        clock.advance(300)
    env = [e for e in collector.events if e.signal is DeviceSignal.ENVIRONMENT]
    assert len(env) == 1 and env[0].data["condition"] == "heat"
    assert env[0].data["temperature_c"] == 29.5
    # The data must fit the wire contract the gateway forwards it as.
    alert = EnvironmentAlert(sensor=env[0].device, **env[0].data)
    assert (alert.condition, alert.duration_s) == ("heat", 1800)
    health = {h.device: h for h in bridge.health()}
    assert health["living-thermo"].battery_pct == 55
    assert health["living-thermo"].last_seen_at is not None
    assert health["help-button"].last_seen_at is None


def test_battery_heartbeat_after_motion_is_not_activity(make_bridge, collector) -> None:
    bridge = make_bridge()
    for packet_id, objects in enumerate([[(MOTION, 1)], [(BATTERY, 90)], [(BATTERY, 90)]], 1):
        frame = build_frame(objects, packet_id=packet_id, mac=MAC_MOTION)
        bridge.feed_ble_advertisement(MAC_MOTION, service_data(frame))
    assert collector.signals("living-motion") == [DeviceSignal.ACTIVITY]
    assert bridge.status()["counters"]["ble_accepted"] == 3


def test_contact_change_is_activity_but_repeated_state_is_not(make_bridge, collector) -> None:
    bridge = make_bridge()
    for counter, is_open in enumerate([0, 0, 1, 1, 0], start=1):
        frame = build_frame([(DOOR, is_open)], bindkey=BINDKEY, counter=counter, mac=MAC_DOOR)
        bridge.feed_ble_advertisement(MAC_DOOR, service_data(frame))
    kinds = [e.data["kind"] for e in collector.events]
    assert kinds == ["opened", "closed"]


def test_silence_watchdog_and_back(make_bridge, collector, clock) -> None:
    bridge = make_bridge()
    frame = build_frame([(TEMPERATURE, 21.0)], packet_id=1, mac=MAC_THERMO)
    bridge.feed_ble_advertisement(MAC_THERMO, service_data(frame))
    clock.advance(3599)
    assert [e for e in bridge.run_watchdog_once() if e.device == "living-thermo"] == []
    clock.advance(2)
    silent = [e for e in bridge.run_watchdog_once() if e.device == "living-thermo"]
    assert [e.signal for e in silent] == [DeviceSignal.SILENT]
    assert [e for e in bridge.run_watchdog_once() if e.device == "living-thermo"] == []
    frame = build_frame([(TEMPERATURE, 21.0)], packet_id=2, mac=MAC_THERMO)
    bridge.feed_ble_advertisement(MAC_THERMO, service_data(frame))
    assert collector.signals("living-thermo")[-3:] == [
        DeviceSignal.SILENT,
        DeviceSignal.BACK,
        DeviceSignal.READING,
    ]
    assert {h.device: h.silent for h in bridge.health()}["living-thermo"] is False


def test_malformed_bindkey_is_a_clear_configuration_error(make_bridge) -> None:
    bad = PairedDevice(name="b", transport="ble", address="AA:AA:AA:AA:AA:AA", bindkey="xyz")
    with pytest.raises(ValueError, match="'b': bindkey must be 32 hex characters"):
        make_bridge(devices=[bad])
